// HTTP/1.x framing: message heads (request or status line and header
// fields), chunk-size lines and trailer sections, parsed from the front of a
// byte view. Stateless functions over string_views; nothing is copied and
// nothing allocates. Bodies are never looked at: the caller skips them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace redeye::protocols::http {

// Cap on a message head (start line through the empty line) and on a
// trailer section. Anything longer is not treated as HTTP.
inline constexpr size_t kMaxHeadBytes = 16 * 1024;
// Cap on a chunk-size line (size and chunk extensions).
inline constexpr size_t kMaxChunkLineBytes = 1024;

enum class ParseResult {
  Complete,    // the whole element is there; the out parameters are set
  Incomplete,  // a plausible start, the rest has not arrived
  Invalid,     // not HTTP/1.x
};

// Which kinds of message head are acceptable at this point of the stream.
enum class HeadKind { Request, Response, Either };

// What the stitcher and body framing need from one message head. The
// string_views point into the parsed bytes (method: into static storage).
struct Head {
  size_t size = 0;  // start line through the empty line that ends the head
  bool is_request = false;
  int minor_version = 1;  // HTTP/1.0 or HTTP/1.1

  // Requests.
  std::string_view method;  // one of kMethods
  std::string_view target;  // as sent, query included

  // Responses.
  int status = 0;

  // Framing.
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool chunked = false;               // the final transfer coding is chunked
  bool other_transfer_coding = false;  // Transfer-Encoding without chunked last
  bool connection_close = false;
  bool expect_continue = false;  // Expect: 100-continue

  // Request details.
  std::string_view host;
  bool aws_sigv4 = false;    // Authorization: AWS4-HMAC-SHA256 ...
  bool amz_headers = false;  // some x-amz-* header
  uint64_t decoded_content_length = 0;  // x-amz-decoded-content-length, 0 = absent
  bool has_source = false;   // the configured source header was present
  std::string_view source;
};

// Progress of parse_head through a head that has not fully arrived: lets
// the next call, on the same bytes and more, go on where this one stopped.
struct HeadScan {
  size_t line_start = 0;  // start of the first line not known to be complete
  size_t searched = 0;    // bytes already searched for a line end
};

// The request methods recognised at the start of a request line.
inline constexpr std::string_view kMethods[] = {"GET",    "HEAD",    "POST",    "PUT",  "DELETE",
                                                "PATCH",  "OPTIONS", "CONNECT", "TRACE"};

// Parses the message head at the front of `bytes`. `source_header` is the
// lower-case name of a header whose value to report ("" = none). `scan`
// carries work across calls on a growing head: default-constructed for a new
// head, updated on Incomplete so that the next call on the same bytes plus
// more does not search the old bytes again. A head that has not ended within
// kMaxHeadBytes is Invalid; so is one whose start line is complete and
// wrong, as early as that line is there.
ParseResult parse_head(std::string_view bytes, HeadKind kind, std::string_view source_header,
                       HeadScan& scan, Head& head);

// Parses a chunk-size line ("1a;name=value\r\n") at the front of `bytes`:
// `size` = the chunk's data length, `line_size` = the line's length.
ParseResult parse_chunk_size_line(std::string_view bytes, uint64_t& size, size_t& line_size);

// Parses the trailer section that follows the last ("0") chunk-size line:
// zero or more header fields and an empty line. `size` = its length.
ParseResult parse_trailer_section(std::string_view bytes, size_t& size);

// Offset of the first position in `bytes` where a message head of `kind`
// plausibly starts (a method and a space, or "HTTP/1."), or npos. A start
// cut off by the end of `bytes` counts, so it can be completed by the next
// message.
size_t find_message_start(std::string_view bytes, HeadKind kind);

// Whether `bytes` could begin a message head of `kind`: true when they are
// a prefix of, or start with, "METHOD " or "HTTP/1.".
bool may_start_message(std::string_view bytes, HeadKind kind);

// ASCII case-insensitive equality, for header names and tokens.
bool iequals(std::string_view a, std::string_view b);

}  // namespace redeye::protocols::http
