#include "metrics/http/route_patterns.h"

#include <stdexcept>

#include "metrics/http/path_segments.h"

namespace redeye::metrics::http {

namespace {

// Same cap as a normalised route: the pattern text becomes the label value.
constexpr size_t kMaxPatternBytes = 256;
constexpr size_t kMaxServiceNameBytes = 64;

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// As sanitize_service_name in proc/service_resolver.h produces them, so a
// rule can name any service redeye can report.
bool is_service_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxServiceNameBytes) return false;
  for (const char c : name) {
    if (!is_name_char(c) && c != '.' && c != ':' && c != '@' && c != '-') return false;
  }
  return true;
}

bool is_placeholder(std::string_view segment) {
  if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}') return false;
  for (const char c : segment.substr(1, segment.size() - 2)) {
    if (!is_name_char(c)) return false;
  }
  return true;
}

[[noreturn]] void throw_pattern_error(std::string_view text, std::string_view problem) {
  std::string message = "route pattern '";
  message += text;
  message += "': ";
  message += problem;
  throw std::invalid_argument(message);
}

[[noreturn]] void throw_rule_error(std::string_view text, std::string_view problem) {
  std::string message = "invalid --http-route rule '";
  message += text;
  message += "': ";
  message += problem;
  message += "; expected SERVICE=PATTERN, e.g. checkout=/orders/{id}/items/{item}";
  throw std::invalid_argument(message);
}

}  // namespace

RoutePattern RoutePattern::parse(std::string_view text) {
  if (text.empty() || text.front() != '/') throw_pattern_error(text, "must start with '/'");
  if (text.size() > kMaxPatternBytes) throw_pattern_error(text, "longer than 256 bytes");
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      throw_pattern_error(text, "only printable ASCII without spaces is allowed");
    }
    if (c == '?' || c == '#')
      throw_pattern_error(text, "a pattern matches the path only, without '?' or '#'");
  }

  std::vector<Segment> segments;
  bool rest_seen = false;
  PathSegments parts(text);
  while (const auto part = parts.next()) {
    if (rest_seen) throw_pattern_error(text, "'**' must be the last segment");
    if (*part == "**") {
      rest_seen = true;
      segments.push_back({SegmentKind::AnyRest, {}});
    } else if (*part == "*" || is_placeholder(*part)) {
      segments.push_back({SegmentKind::AnyOne, {}});
    } else if (part->find_first_of("{}") != std::string_view::npos) {
      throw_pattern_error(text, "a placeholder is a whole segment '{name}' with name of [A-Za-z0-9_]");
    } else if (part->find('*') != std::string_view::npos) {
      throw_pattern_error(text, "'*' and '**' must be whole segments");
    } else {
      segments.push_back({SegmentKind::Literal, std::string(*part)});
    }
  }
  return RoutePattern(std::string(text), std::move(segments));
}

bool RoutePattern::matches(std::string_view path) const {
  PathSegments path_segments(resource_path(path));
  for (const Segment& segment : segments_) {
    if (segment.kind == SegmentKind::AnyRest) return true;
    const auto path_segment = path_segments.next();
    if (!path_segment) return false;
    if (segment.kind == SegmentKind::Literal && *path_segment != segment.literal) return false;
  }
  return !path_segments.next();
}

std::optional<std::string> RoutePatterns::match(std::string_view path) const {
  for (const RoutePattern& pattern : patterns_) {
    if (pattern.matches(path)) return pattern.text();
  }
  return std::nullopt;
}

RouteRule parse_route_rule(std::string_view text) {
  const size_t equals = text.find('=');
  if (equals == std::string_view::npos) throw_rule_error(text, "no '='");
  const std::string_view service = text.substr(0, equals);
  if (!is_service_name(service)) {
    throw_rule_error(text, "SERVICE must be 1-64 characters of [A-Za-z0-9_.:@-]");
  }
  try {
    return RouteRule{std::string(service), RoutePattern::parse(text.substr(equals + 1))};
  } catch (const std::invalid_argument& error) {
    throw_rule_error(text, error.what());
  }
}

}  // namespace redeye::metrics::http
