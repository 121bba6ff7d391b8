// Frame-level HTTP/1.x parsing (protocols/http/http_parser.h): heads,
// chunk-size lines, trailers and the search for a message start.
#include "protocols/http/http_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace redeye::protocols::http {
namespace {

constexpr size_t npos = std::string_view::npos;

// Parses a whole head in one call.
ParseResult parse(std::string_view bytes, Head& head, HeadKind kind = HeadKind::Either,
                  std::string_view source_header = "") {
  HeadScan scan;
  return parse_head(bytes, kind, source_header, scan, head);
}

// ---- request and status lines --------------------------------------------------

TEST(HttpHeadStartLine, EveryMethodIsRecognised) {
  for (const std::string_view method : kMethods) {
    const std::string bytes = std::string(method) + " /x HTTP/1.1\r\n\r\n";
    Head head;
    ASSERT_EQ(parse(bytes, head), ParseResult::Complete) << method;
    EXPECT_TRUE(head.is_request);
    EXPECT_EQ(head.method, method);
    EXPECT_EQ(head.target, "/x");
    EXPECT_EQ(head.size, bytes.size());
  }
}

TEST(HttpHeadStartLine, RequestLineFields) {
  Head head;
  ASSERT_EQ(parse("POST /a/b?c=d HTTP/1.0\r\nHost: h\r\n\r\n", head), ParseResult::Complete);
  EXPECT_TRUE(head.is_request);
  EXPECT_EQ(head.method, "POST");
  EXPECT_EQ(head.target, "/a/b?c=d");
  EXPECT_EQ(head.minor_version, 0);
  EXPECT_EQ(head.host, "h");
  EXPECT_EQ(head.size, 35u);
}

TEST(HttpHeadStartLine, MalformedRequestLinesAreInvalid) {
  for (const std::string_view bytes : {
           "get / HTTP/1.1\r\n\r\n",      // methods are case-sensitive
           "FETCH / HTTP/1.1\r\n\r\n",    // unknown method
           "GET  / HTTP/1.1\r\n\r\n",     // two spaces
           "GET / HTTP/2.0\r\n\r\n",      // not HTTP/1.x
           "GET / HTTP/1.2\r\n\r\n",      // no such minor version
           "GET /\r\n\r\n",               // HTTP/0.9
           "GET / HTTP/1.1 x\r\n\r\n",    // trailing junk
           "GET /a b HTTP/1.1\r\n\r\n",   // space in the target
           "GET /\x01 HTTP/1.1\r\n\r\n",  // control in the target
       }) {
    Head head;
    EXPECT_EQ(parse(bytes, head), ParseResult::Invalid) << bytes;
  }
}

TEST(HttpHeadStartLine, StatusLineFields) {
  Head head;
  ASSERT_EQ(parse("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", head), ParseResult::Complete);
  EXPECT_FALSE(head.is_request);
  EXPECT_EQ(head.status, 404);
  EXPECT_EQ(head.minor_version, 1);
  EXPECT_TRUE(head.has_content_length);
  EXPECT_EQ(head.content_length, 9u);

  ASSERT_EQ(parse("HTTP/1.0 200\r\n\r\n", head), ParseResult::Complete);  // reason phrase optional
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.minor_version, 0);
  EXPECT_EQ(head.size, 16u);
}

TEST(HttpHeadStartLine, MalformedStatusLinesAreInvalid) {
  for (const std::string_view bytes : {
           "HTTP/1.1 20 OK\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1 099 X\r\n\r\n",
           "HTTP/1.1  200 OK\r\n\r\n",
           "HTTP/1.3 200 OK\r\n\r\n",
           "HTTP/2 200\r\n\r\n",
       }) {
    Head head;
    EXPECT_EQ(parse(bytes, head), ParseResult::Invalid) << bytes;
  }
}

TEST(HttpHeadStartLine, KindRestrictsWhatIsAccepted) {
  Head head;
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r\n", head, HeadKind::Request), ParseResult::Invalid);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n\r\n", head, HeadKind::Response), ParseResult::Invalid);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\n\r\n", head, HeadKind::Response), ParseResult::Complete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n\r\n", head, HeadKind::Request), ParseResult::Complete);
}

TEST(HttpHeadStartLine, GarbageIsInvalidBeforeALineEnds) {
  Head head;
  EXPECT_EQ(parse("\x16\x03\x01", head), ParseResult::Invalid);
  EXPECT_EQ(parse("GETX", head), ParseResult::Invalid);
  EXPECT_EQ(parse("HTTP/2", head), ParseResult::Invalid);
  // A prefix of a start is not judged yet.
  EXPECT_EQ(parse("GE", head), ParseResult::Incomplete);
  EXPECT_EQ(parse("HTTP/1", head), ParseResult::Incomplete);
  EXPECT_EQ(parse("H", head), ParseResult::Incomplete);
  // A complete but wrong start line is rejected before the head ends.
  EXPECT_EQ(parse("GET / HTTP/9.9\r\nHost: a\r\n", head), ParseResult::Invalid);
}

// ---- header fields --------------------------------------------------------------

TEST(HttpHeadFields, NamesAreCaseInsensitiveAndValuesTrimmed) {
  Head head;
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nhOsT: \t example.com \r\nCONTENT-LENGTH:12\r\n"
                  "connection: Keep-Alive, CLOSE\r\neXpEcT: 100-Continue\r\n\r\n",
                  head),
            ParseResult::Complete);
  EXPECT_EQ(head.host, "example.com");
  EXPECT_TRUE(head.has_content_length);
  EXPECT_EQ(head.content_length, 12u);
  EXPECT_TRUE(head.connection_close);
  EXPECT_TRUE(head.expect_continue);
  EXPECT_FALSE(head.chunked);
}

TEST(HttpHeadFields, BareLineFeedsAreAccepted) {
  Head head;
  ASSERT_EQ(parse("GET / HTTP/1.1\nHost: a\n\n", head), ParseResult::Complete);
  EXPECT_EQ(head.host, "a");
  EXPECT_EQ(head.size, 24u);
}

TEST(HttpHeadFields, TransferEncodingChunkedMustBeLast) {
  Head head;
  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", head), ParseResult::Complete);
  EXPECT_TRUE(head.chunked);
  EXPECT_FALSE(head.other_transfer_coding);

  ASSERT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", head), ParseResult::Complete);
  EXPECT_FALSE(head.chunked);
  EXPECT_TRUE(head.other_transfer_coding);
}

TEST(HttpHeadFields, ContentLengthMustBeOneNumber) {
  Head head;
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", head),
            ParseResult::Complete);
  EXPECT_EQ(head.content_length, 5u);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", head),
            ParseResult::Invalid);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", head), ParseResult::Invalid);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", head), ParseResult::Invalid);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", head), ParseResult::Invalid);
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n", head),
            ParseResult::Invalid);
}

TEST(HttpHeadFields, MalformedFieldLinesAreInvalid) {
  Head head;
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nno colon here\r\n\r\n", head), ParseResult::Invalid);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\n: empty name\r\n\r\n", head), ParseResult::Invalid);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", head), ParseResult::Invalid);
  // An obs-fold continuation line is ignored, not an error.
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\nHost: h\r\n\r\n", head), ParseResult::Complete);
  EXPECT_EQ(head.host, "h");
}

TEST(HttpHeadFields, AwsAndSourceHeaders) {
  Head head;
  ASSERT_EQ(parse("PUT /b/k HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIA/20240101/eu/s3/aws4_request\r\n"
                  "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD\r\nX-Caller: billing\r\n\r\n",
                  head, HeadKind::Request, "x-caller"),
            ParseResult::Complete);
  EXPECT_TRUE(head.aws_sigv4);
  EXPECT_TRUE(head.amz_headers);
  EXPECT_TRUE(head.has_source);
  EXPECT_EQ(head.source, "billing");

  ASSERT_EQ(parse("GET / HTTP/1.1\r\nAuthorization: AWS AKIA:sig\r\nX-Amz: 1\r\n\r\n", head,
                  HeadKind::Request, "x-caller"),
            ParseResult::Complete);
  EXPECT_FALSE(head.aws_sigv4);   // SigV2
  EXPECT_FALSE(head.amz_headers);  // "x-amz" alone is not an x-amz-* header
  EXPECT_FALSE(head.has_source);
  EXPECT_EQ(head.source, "");
}

// ---- heads arriving in pieces ---------------------------------------------------

TEST(HttpHeadIncremental, EveryPrefixIsIncompleteAndTheWholeHeadCompletes) {
  const std::string_view bytes = "GET /p HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n";
  HeadScan scan;
  Head head;
  for (size_t n = 1; n < bytes.size(); ++n) {
    ASSERT_EQ(parse_head(bytes.substr(0, n), HeadKind::Request, "", scan, head), ParseResult::Incomplete)
        << n;
  }
  ASSERT_EQ(parse_head(bytes, HeadKind::Request, "", scan, head), ParseResult::Complete);
  EXPECT_EQ(head.size, bytes.size());
  EXPECT_EQ(head.host, "h");
  EXPECT_EQ(head.target, "/p");
}

TEST(HttpHeadIncremental, HeadBeyondTheCapIsInvalid) {
  const std::string start = "GET / HTTP/1.1\r\nX-Big: ";
  const std::string at_cap = start + std::string(kMaxHeadBytes - start.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(at_cap.size(), kMaxHeadBytes);
  Head head;
  EXPECT_EQ(parse(at_cap, head), ParseResult::Complete);
  EXPECT_EQ(head.size, kMaxHeadBytes);

  const std::string over_cap = start + std::string(kMaxHeadBytes - start.size() - 3, 'a') + "\r\n\r\n";
  EXPECT_EQ(parse(over_cap, head), ParseResult::Invalid);
  // Still unfinished past the cap: no use waiting for more.
  EXPECT_EQ(parse(start + std::string(kMaxHeadBytes, 'a'), head), ParseResult::Invalid);
  EXPECT_EQ(parse(start + std::string(kMaxHeadBytes - start.size(), 'a'), head), ParseResult::Incomplete);
}

// ---- chunked framing --------------------------------------------------------------

TEST(HttpChunkLine, SizesExtensionsAndLineLength) {
  uint64_t size = 0;
  size_t line = 0;
  ASSERT_EQ(parse_chunk_size_line("1a\r\nxyz", size, line), ParseResult::Complete);
  EXPECT_EQ(size, 26u);
  EXPECT_EQ(line, 4u);
  ASSERT_EQ(parse_chunk_size_line("FFff;name=\"v\"\r\n", size, line), ParseResult::Complete);
  EXPECT_EQ(size, 65535u);
  EXPECT_EQ(line, 15u);
  ASSERT_EQ(parse_chunk_size_line("0\n", size, line), ParseResult::Complete);
  EXPECT_EQ(size, 0u);
  EXPECT_EQ(line, 2u);
  ASSERT_EQ(parse_chunk_size_line("5 ;x\r\n", size, line), ParseResult::Complete);
  EXPECT_EQ(size, 5u);
  EXPECT_EQ(line, 6u);
}

TEST(HttpChunkLine, PiecesAndErrors) {
  uint64_t size = 0;
  size_t line = 0;
  EXPECT_EQ(parse_chunk_size_line("", size, line), ParseResult::Incomplete);
  EXPECT_EQ(parse_chunk_size_line("1a", size, line), ParseResult::Incomplete);
  EXPECT_EQ(parse_chunk_size_line("1a\r", size, line), ParseResult::Incomplete);
  EXPECT_EQ(parse_chunk_size_line("1a;ext", size, line), ParseResult::Incomplete);
  EXPECT_EQ(parse_chunk_size_line("\r\n", size, line), ParseResult::Invalid);
  EXPECT_EQ(parse_chunk_size_line("xyz\r\n", size, line), ParseResult::Invalid);
  EXPECT_EQ(parse_chunk_size_line("1g\r\n", size, line), ParseResult::Invalid);
  EXPECT_EQ(parse_chunk_size_line("1\rx\n", size, line), ParseResult::Invalid);
  EXPECT_EQ(parse_chunk_size_line("1000000000000000\r\n", size, line), ParseResult::Invalid);
  EXPECT_EQ(parse_chunk_size_line("1;" + std::string(kMaxChunkLineBytes, 'x'), size, line),
            ParseResult::Invalid);
}

TEST(HttpChunkTrailers, EmptyOrWithFields) {
  size_t size = 0;
  ASSERT_EQ(parse_trailer_section("\r\nnext", size), ParseResult::Complete);
  EXPECT_EQ(size, 2u);
  ASSERT_EQ(parse_trailer_section("X-Sum: 1\r\nX-B: 2\r\n\r\n", size), ParseResult::Complete);
  EXPECT_EQ(size, 20u);
  EXPECT_EQ(parse_trailer_section("X-Sum: 1\r\n", size), ParseResult::Incomplete);
  EXPECT_EQ(parse_trailer_section("X-Sum: 1\r\n\r", size), ParseResult::Incomplete);
  EXPECT_EQ(parse_trailer_section("garbage\r\n\r\n", size), ParseResult::Invalid);
}

// ---- finding a message start -------------------------------------------------------

TEST(HttpBoundary, FindsRequestsAndResponsesByKind) {
  const std::string_view bytes = "xx HTTP/1.1 200 OK\r\nyy GET / HTTP/1.1\r\n";
  EXPECT_EQ(find_message_start(bytes, HeadKind::Response), 3u);
  EXPECT_EQ(find_message_start(bytes, HeadKind::Request), 23u);
  EXPECT_EQ(find_message_start(bytes, HeadKind::Either), 3u);
  EXPECT_EQ(find_message_start("no message here", HeadKind::Either), npos);
  EXPECT_EQ(find_message_start("GETTING / HTTP/1.1", HeadKind::Request), npos);
  EXPECT_EQ(find_message_start("xDELETE /a", HeadKind::Request), 1u);
}

TEST(HttpBoundary, AStartCutOffAtTheEndCounts) {
  EXPECT_EQ(find_message_start("body bytes...PO", HeadKind::Request), 13u);
  EXPECT_EQ(find_message_start("body bytes...HTTP/", HeadKind::Response), 13u);
  EXPECT_EQ(find_message_start("body bytes...HTTP/", HeadKind::Request), npos);
  EXPECT_TRUE(may_start_message("OPTIONS", HeadKind::Request));
  EXPECT_FALSE(may_start_message("OPTIONS", HeadKind::Response));
  EXPECT_TRUE(may_start_message("", HeadKind::Request));
}

TEST(HttpBoundary, IequalsIsAsciiCaseInsensitive) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("Content-Length", "content-lengt"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_TRUE(iequals("", ""));
}

}  // namespace
}  // namespace redeye::protocols::http
