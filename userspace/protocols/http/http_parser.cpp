#include "protocols/http/http_parser.h"

#include <algorithm>
#include <cstring>

namespace redeye::protocols::http {
namespace {

constexpr std::string_view kStatusStart = "HTTP/1.";

// "METHOD " for each of kMethods.
constexpr std::string_view kMethodStarts[] = {"GET ",   "HEAD ",    "POST ",    "PUT ",  "DELETE ",
                                              "PATCH ", "OPTIONS ", "CONNECT ", "TRACE "};
static_assert(std::size(kMethodStarts) == std::size(kMethods));

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// tchar of RFC 9110 5.6.2: the characters a header name is made of.
constexpr bool token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Per byte, every header name byte of every message: tables instead of branches.
struct ByteTables {
  bool token[256] = {};
  char lower[256] = {};
  constexpr ByteTables() {
    for (int i = 0; i < 256; ++i) {
      const char c = static_cast<char>(i);
      token[i] = token_char(c);
      lower[i] = ascii_lower(c);
    }
  }
};
constexpr ByteTables kBytes;

bool is_token_char(char c) { return kBytes.token[static_cast<unsigned char>(c)]; }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// A line without its line ending (CRLF, or a bare LF).
std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Whether header name `name` (token characters only, as parse_field has
// checked) is `lower` (a lower-case literal of letters, digits and '-'),
// ignoring case. Setting bit 0x20 lowers a letter and leaves digits and '-'
// alone, and no other token character becomes one of those: so the bytes
// are compared eight at a time. Every field of every head comes here.
bool name_is(std::string_view name, std::string_view lower) {
  const size_t n = name.size();
  if (n != lower.size()) return false;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t a = 0, b = 0;
    std::memcpy(&a, name.data() + i, 8);
    std::memcpy(&b, lower.data() + i, 8);
    if ((a | 0x2020202020202020ULL) != b) return false;
  }
  for (; i < n; ++i) {
    if ((name[i] | 0x20) != lower[i]) return false;
  }
  return true;
}

// name_is for the first lower.size() bytes of `name`.
bool name_starts_with(std::string_view name, std::string_view lower) {
  return name.size() >= lower.size() && name_is(name.substr(0, lower.size()), lower);
}

// Whether `bytes` and `start` agree on their common length; `complete` when
// all of `start` is there.
bool prefix_matches(std::string_view bytes, std::string_view start, bool& complete) {
  const size_t n = std::min(bytes.size(), start.size());
  if (bytes.substr(0, n) != start.substr(0, n)) return false;
  complete = n == start.size();
  return true;
}

bool parse_version_digit(char c, int& minor) {
  if (c != '0' && c != '1') return false;
  minor = c - '0';
  return true;
}

// "HTTP/1.1 200 OK" (reason optional).
bool parse_status_line(std::string_view line, Head& head) {
  if (line.size() < 12 || line.substr(0, kStatusStart.size()) != kStatusStart) return false;
  if (!parse_version_digit(line[7], head.minor_version) || line[8] != ' ') return false;
  if (!is_digit(line[9]) || !is_digit(line[10]) || !is_digit(line[11])) return false;
  if (line.size() > 12 && line[12] != ' ') return false;
  head.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (head.status < 100) return false;
  head.is_request = false;
  return true;
}

// "GET /path?query HTTP/1.1".
bool parse_request_line(std::string_view line, Head& head) {
  size_t method_index = std::size(kMethodStarts);
  for (size_t i = 0; i < std::size(kMethodStarts); ++i) {
    if (line.starts_with(kMethodStarts[i])) {
      method_index = i;
      break;
    }
  }
  if (method_index == std::size(kMethodStarts)) return false;
  line.remove_prefix(kMethodStarts[method_index].size());

  constexpr std::string_view kVersion = " HTTP/1.";
  if (line.size() < kVersion.size() + 2) return false;
  const std::string_view version = line.substr(line.size() - kVersion.size() - 1);
  if (version.substr(0, kVersion.size()) != kVersion) return false;
  if (!parse_version_digit(version.back(), head.minor_version)) return false;
  const std::string_view target = line.substr(0, line.size() - version.size());
  if (target.empty()) return false;
  for (const char c : target) {
    // Spaces, controls and DEL never appear in a request target.
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  head.is_request = true;
  head.method = kMethods[method_index];
  head.target = target;
  return true;
}

bool parse_start_line(std::string_view line, HeadKind kind, Head& head) {
  line = without_cr(line);
  if (kind != HeadKind::Request && line.starts_with(kStatusStart)) return parse_status_line(line, head);
  if (kind != HeadKind::Response) return parse_request_line(line, head);
  return false;
}

bool parse_content_length(std::string_view value, uint64_t& length) {
  // 18 digits cannot overflow and are far beyond any real body.
  if (value.empty() || value.size() > 18) return false;
  uint64_t v = 0;
  for (const char c : value) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  length = v;
  return true;
}

// Calls `f` on each trimmed, non-empty element of a comma-separated list.
template <typename F>
void for_each_list_element(std::string_view list, F&& f) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view element = trim_ows(list.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// One "name: value" line of the head. Most fields of a head are none of
// those looked at (Date, Server, Content-Type...): they cost the name check
// and one switch, their value is not even trimmed.
bool parse_field(std::string_view line, std::string_view source_header, Head& head) {
  // The name is token characters up to the colon (':' is not one of them).
  size_t colon = 0;
  while (colon < line.size() && is_token_char(line[colon])) ++colon;
  if (colon == 0 || colon == line.size() || line[colon] != ':') return false;
  const std::string_view name = line.substr(0, colon);
  const auto value = [&line, colon] { return trim_ows(line.substr(colon + 1)); };

  if (!source_header.empty() && !head.has_source && iequals(name, source_header)) {
    head.has_source = true;
    head.source = value();
  }
  if (name.size() > 6 && (name[0] == 'x' || name[0] == 'X') && name_starts_with(name, "x-amz-")) {
    // S3 signs its payloads with this header; other AWS services do not.
    if (name_is(name, "x-amz-content-sha256")) head.amz_headers = true;
    // aws-chunked uploads: the object's size, without the chunk framing.
    if (name_is(name, "x-amz-decoded-content-length")) {
      uint64_t length = 0;
      if (parse_content_length(value(), length)) head.decoded_content_length = length;
    }
    return true;
  }
  switch (name.size()) {
    case 4:
      if (head.host.empty() && name_is(name, "host")) head.host = value();
      break;
    case 6:
      if (name_is(name, "expect") && iequals(value(), "100-continue")) head.expect_continue = true;
      break;
    case 10:
      if (name_is(name, "connection")) {
        for_each_list_element(value(), [&head](std::string_view option) {
          if (iequals(option, "close")) head.connection_close = true;
        });
      }
      break;
    case 13:
      // SigV4 for S3 only: the credential scope names the service.
      if (name_is(name, "authorization")) {
        const std::string_view v = value();
        if (v.starts_with("AWS4-HMAC-SHA256") && v.find("/s3/aws4_request") != std::string_view::npos)
          head.aws_sigv4 = true;
      }
      break;
    case 14:
      if (name_is(name, "content-length")) {
        uint64_t length = 0;
        if (!parse_content_length(value(), length)) return false;
        // Two different lengths: no way to tell where the body ends.
        if (head.has_content_length && head.content_length != length) return false;
        head.has_content_length = true;
        head.content_length = length;
      }
      break;
    case 17:
      if (name_is(name, "transfer-encoding")) {
        std::string_view last;
        for_each_list_element(value(), [&last](std::string_view coding) { last = coding; });
        head.chunked = iequals(last, "chunked");
        head.other_transfer_coding = !head.chunked;
      }
      break;
    default:
      break;
  }
  return true;
}

// Whether the line [start, newline) is empty (the end of a head).
bool is_empty_line(std::string_view bytes, size_t start, size_t newline) {
  return newline == start || (newline == start + 1 && bytes[start] == '\r');
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (kBytes.lower[static_cast<unsigned char>(a[i])] != kBytes.lower[static_cast<unsigned char>(b[i])]) return false;
  }
  return true;
}

bool may_start_message(std::string_view bytes, HeadKind kind) {
  bool complete = false;
  if (kind != HeadKind::Request && prefix_matches(bytes, kStatusStart, complete)) return true;
  if (kind != HeadKind::Response) {
    for (const std::string_view start : kMethodStarts) {
      if (prefix_matches(bytes, start, complete)) return true;
    }
  }
  return false;
}

size_t find_message_start(std::string_view bytes, HeadKind kind) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    switch (bytes[i]) {
      case 'H':  // HEAD, HTTP/1.
        break;
      case 'G': case 'P': case 'D': case 'O': case 'C': case 'T':
        if (kind == HeadKind::Response) continue;
        break;
      default:
        continue;
    }
    if (may_start_message(bytes.substr(i), kind)) return i;
  }
  return std::string_view::npos;
}

ParseResult parse_head(std::string_view bytes, HeadKind kind, std::string_view source_header,
                       HeadScan& scan, Head& head) {
  // Reject at once what cannot be HTTP, so garbage is never buffered.
  if (!may_start_message(bytes, kind)) return ParseResult::Invalid;

  // Find the empty line that ends the head, line by line, from where the
  // previous call on these bytes stopped. A head searched from its start
  // (the common case: whole heads per message) has its lines parsed as they
  // are found, so its bytes are walked once; a field that fails makes the
  // head Invalid only once the head is complete, as below.
  const bool from_start = scan.line_start == 0 && scan.searched == 0;
  if (from_start) head = Head{};
  bool fields_valid = true;
  size_t end = std::string_view::npos;
  size_t line_start = scan.line_start;
  size_t search_from = std::max(scan.searched, line_start);
  for (;;) {
    const size_t newline = bytes.find('\n', search_from);
    if (newline == std::string_view::npos) break;
    if (line_start == 0) {
      // The start line just became complete: judge it now rather than
      // buffering up to a whole head of garbage.
      Head start;
      if (!parse_start_line(bytes.substr(0, newline), kind, from_start ? head : start)) return ParseResult::Invalid;
    } else if (is_empty_line(bytes, line_start, newline)) {
      end = newline + 1;
      break;
    } else if (from_start && fields_valid) {
      const std::string_view line = without_cr(bytes.substr(line_start, newline - line_start));
      // obs-fold continuations are not needed: ignored
      if (!is_ows(line.front())) fields_valid = parse_field(line, source_header, head);
    }
    line_start = newline + 1;
    search_from = line_start;
    if (line_start > kMaxHeadBytes) return ParseResult::Invalid;
  }
  if (end == std::string_view::npos) {
    if (bytes.size() > kMaxHeadBytes) return ParseResult::Invalid;
    scan.line_start = line_start;
    scan.searched = bytes.size();
    return ParseResult::Incomplete;
  }
  if (end > kMaxHeadBytes) return ParseResult::Invalid;
  if (from_start) {
    if (!fields_valid) return ParseResult::Invalid;
    head.size = end;
    return ParseResult::Complete;
  }

  head = Head{};
  size_t newline = bytes.find('\n');
  if (!parse_start_line(bytes.substr(0, newline), kind, head)) return ParseResult::Invalid;
  for (size_t pos = newline + 1; pos < end; pos = newline + 1) {
    newline = bytes.find('\n', pos);
    const std::string_view line = without_cr(bytes.substr(pos, newline - pos));
    if (line.empty()) break;
    if (is_ows(line.front())) continue;  // obs-fold continuation: not needed, ignored
    if (!parse_field(line, source_header, head)) return ParseResult::Invalid;
  }
  head.size = end;
  return ParseResult::Complete;
}

ParseResult parse_chunk_size_line(std::string_view bytes, uint64_t& size, size_t& line_size) {
  uint64_t value = 0;
  size_t i = 0;
  for (; i < bytes.size(); ++i) {
    const int digit = hex_value(bytes[i]);
    if (digit < 0) break;
    // 15 hex digits is 2^60 bytes: beyond that it is not a real chunk.
    if (i == 15) return ParseResult::Invalid;
    value = value * 16 + static_cast<uint64_t>(digit);
  }
  if (i == bytes.size()) return ParseResult::Incomplete;
  if (i == 0) return ParseResult::Invalid;
  const char next = bytes[i];
  if (next != '\r' && next != '\n' && next != ';' && !is_ows(next)) return ParseResult::Invalid;

  const size_t newline = bytes.find('\n', i);
  if (newline == std::string_view::npos)
    return bytes.size() >= kMaxChunkLineBytes ? ParseResult::Invalid : ParseResult::Incomplete;
  if (newline >= kMaxChunkLineBytes) return ParseResult::Invalid;
  if (next == '\r' && newline != i + 1) return ParseResult::Invalid;
  size = value;
  line_size = newline + 1;
  return ParseResult::Complete;
}

ParseResult parse_trailer_section(std::string_view bytes, size_t& size) {
  size_t pos = 0;
  for (;;) {
    const size_t newline = bytes.find('\n', pos);
    if (newline == std::string_view::npos)
      return bytes.size() > kMaxHeadBytes ? ParseResult::Invalid : ParseResult::Incomplete;
    const std::string_view line = without_cr(bytes.substr(pos, newline - pos));
    pos = newline + 1;
    if (pos > kMaxHeadBytes) return ParseResult::Invalid;
    if (line.empty()) {
      size = pos;
      return ParseResult::Complete;
    }
    if (is_ows(line.front())) continue;
    const size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return ParseResult::Invalid;
  }
}

}  // namespace redeye::protocols::http
