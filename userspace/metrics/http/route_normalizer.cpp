#include "metrics/http/route_normalizer.h"

#include <array>
#include <optional>
#include <utility>

#include "metrics/http/path_segments.h"

namespace redeye::metrics::http {

namespace {

constexpr std::string_view kIdPlaceholder = "{id}";
constexpr std::string_view kTruncationMarker = "/...";
constexpr size_t kAlwaysIdentifierBytes = 32;
constexpr size_t kMinHexIdBytes = 8;
constexpr size_t kMinTokenBytes = 16;
constexpr size_t kUuidBytes = 36;
// Extensions worth keeping are short words: json, html, xml, png, tar ...
constexpr size_t kMaxExtensionBytes = 8;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex_digit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_base64url(char c) { return is_digit(c) || is_letter(c) || c == '-' || c == '_'; }
bool is_number_separator(char c) { return c == '-' || c == '.' || c == '_' || c == ':'; }

// "123", "2024-01-05", "12:30:00", "1.2.3".
bool is_number(std::string_view s) {
  if (s.empty() || !is_digit(s.front())) return false;
  for (const char c : s) {
    if (!is_digit(c) && !is_number_separator(c)) return false;
  }
  return true;
}

bool is_uuid(std::string_view s) {
  if (s.size() != kUuidBytes) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? s[i] != '-' : !is_hex_digit(s[i])) return false;
  }
  return true;
}

// A digit is required so that words spelled in hex letters ("deadbeef",
// "accepted", "facade") stay words.
bool is_hex_id(std::string_view s) {
  if (s.size() < kMinHexIdBytes) return false;
  bool has_digit = false;
  for (const char c : s) {
    if (!is_hex_digit(c)) return false;
    has_digit = has_digit || is_digit(c);
  }
  return has_digit;
}

bool is_random_token(std::string_view s) {
  if (s.size() < kMinTokenBytes) return false;
  bool has_digit = false;
  bool has_letter = false;
  for (const char c : s) {
    if (!is_base64url(c)) return false;
    has_digit = has_digit || is_digit(c);
    has_letter = has_letter || is_letter(c);
  }
  return has_digit && has_letter;
}

// "name.ext" split at the last dot when ext is a short alphanumeric word
// with a letter in it (so "1.5" is not a file "1" with extension "5").
struct FileName {
  std::string_view stem;
  std::string_view extension;
};

std::optional<FileName> split_extension(std::string_view segment) {
  const size_t dot = segment.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  const std::string_view extension = segment.substr(dot + 1);
  if (extension.empty() || extension.size() > kMaxExtensionBytes) return std::nullopt;
  bool has_letter = false;
  for (const char c : extension) {
    if (!is_letter(c) && !is_digit(c)) return std::nullopt;
    has_letter = has_letter || is_letter(c);
  }
  if (!has_letter) return std::nullopt;
  return FileName{segment.substr(0, dot), extension};
}

void append_printable(std::string& out, std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte > 0x20 && byte < 0x7f ? c : '_';
  }
}

// The extension is looked at first so that "<uuid>.pdf", at 40 bytes an
// identifier as a whole, still keeps its ".pdf".
void append_normalized_segment(std::string& out, std::string_view segment) {
  // an address is an id whole: its ".com" is not a file extension
  if (segment.find_first_of("@=") != std::string_view::npos) {
    out += kIdPlaceholder;
  } else if (const auto file = split_extension(segment); file && looks_like_identifier(file->stem)) {
    out += kIdPlaceholder;
    out += '.';
    out += file->extension;
  } else if (looks_like_identifier(segment)) {
    out += kIdPlaceholder;
  } else {
    append_printable(out, segment);
  }
}

}  // namespace

bool looks_like_identifier(std::string_view segment) {
  if (segment.size() >= kAlwaysIdentifierBytes) return true;
  // e-mail addresses, user@host and key=value segments name a person or a
  // record, never a route
  if (segment.find_first_of("@=") != std::string_view::npos) return true;
  return is_number(segment) || is_uuid(segment) || is_hex_id(segment) || is_random_token(segment);
}

RouteNormalizer::RouteNormalizer(std::vector<RouteRule> rules) {
  for (RouteRule& rule : rules) {
    patterns_by_service_[rule.service].add(std::move(rule.pattern));
  }
}

std::string RouteNormalizer::normalize(std::string_view target) const {
  const std::string_view path = resource_path(target);
  std::string route;
  route.reserve(path.size() < kMaxRouteBytes ? path.size() + 1 : kMaxRouteBytes);

  // Where each kept segment ends in `route`, to cut back to a whole segment.
  std::array<size_t, kMaxRouteSegments> segment_ends{};
  size_t segment_count = 0;
  bool truncated = false;
  PathSegments segments(path);
  while (const auto segment = segments.next()) {
    if (segment_count == kMaxRouteSegments || route.size() > kMaxRouteBytes) {
      truncated = true;
      break;
    }
    route += '/';
    append_normalized_segment(route, *segment);
    segment_ends[segment_count++] = route.size();
  }
  if (!truncated && segment_count > 0 && path.back() == '/') route += '/';

  if (truncated || route.size() > kMaxRouteBytes) {
    while (segment_count > 0 && segment_ends[segment_count - 1] + kTruncationMarker.size() > kMaxRouteBytes) {
      --segment_count;
    }
    route.resize(segment_count > 0 ? segment_ends[segment_count - 1] : 0);
    route += kTruncationMarker;
  }
  if (route.empty()) route.push_back('/');
  return route;
}

std::string RouteNormalizer::route(std::string_view service, std::string_view path) const {
  const auto patterns = patterns_by_service_.find(service);
  if (patterns != patterns_by_service_.end()) {
    if (auto matched = patterns->second.match(path)) return std::move(*matched);
  }
  return normalize(path);
}

}  // namespace redeye::metrics::http
