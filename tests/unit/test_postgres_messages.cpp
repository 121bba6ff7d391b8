// PostgreSQL wire framing (pg_messages.h) and the parser driven directly,
// frame by frame, without a stream.
#include "protocols/postgres/pg_messages.h"
#include "protocols/postgres/pg_protocol.h"
#include "protocols/postgres/pg_stitcher.h"
#include "protocols/protocol.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redeye::protocols::postgres {
namespace {

using namespace std::string_view_literals;

constexpr Direction kSend = Direction::Send;
constexpr Direction kRecv = Direction::Recv;
constexpr size_t npos = std::string_view::npos;

std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string be32(uint32_t v) { return be16(static_cast<uint16_t>(v >> 16)) + be16(static_cast<uint16_t>(v)); }
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }
std::string msg(char type, std::string_view body) {
  return std::string(1, type) + be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}
std::string error_body(std::string_view code) {
  return "S" + cstr("ERROR") + "V" + cstr("ERROR") + "C" + cstr(code) + "M" + cstr("relation does not exist") + '\0';
}

struct CollectingSink : RecordSink {
  void on_record(const Record& record) override { records.push_back(record); }
  std::vector<Record> records;
};

// ---- headers -------------------------------------------------------------------------

TEST(PgMessages, HeaderOfEachSenderIsCheckedAgainstItsType) {
  Header header;
  ASSERT_EQ(parse_header(msg('Q', cstr("SELECT 1")), Sender::Frontend, header), ParseResult::Complete);
  EXPECT_EQ(header.type, 'Q');
  EXPECT_EQ(header.length, 13u);
  EXPECT_EQ(header.body(), 9u);

  // 'Q' is not a backend message, 'Z' not a frontend one.
  EXPECT_EQ(parse_header(msg('Q', cstr("SELECT 1")), Sender::Backend, header), ParseResult::Invalid);
  EXPECT_EQ(parse_header(msg('Z', "I"), Sender::Frontend, header), ParseResult::Invalid);
  EXPECT_EQ(parse_header(msg('Z', "I"), Sender::Backend, header), ParseResult::Complete);
  EXPECT_EQ(parse_header(msg('Z', "I"), Sender::Either, header), ParseResult::Complete);

  // Fixed lengths: ReadyForQuery is 5, Sync 4.
  EXPECT_EQ(parse_header(msg('Z', "II"), Sender::Backend, header), ParseResult::Invalid);
  EXPECT_EQ(parse_header(msg('S', ""), Sender::Frontend, header), ParseResult::Complete);
  EXPECT_EQ(parse_header(msg('S', "x"), Sender::Frontend, header), ParseResult::Invalid);
  // ParameterStatus ('S' from the backend) has two strings.
  EXPECT_EQ(parse_header(msg('S', ""), Sender::Backend, header), ParseResult::Invalid);
  EXPECT_EQ(parse_header(msg('S', ""), Sender::Either, header), ParseResult::Complete);

  // Lengths under 4 or at 1 GiB and over are not PostgreSQL.
  EXPECT_EQ(parse_header("D\x00\x00\x00\x03"sv, Sender::Backend, header), ParseResult::Invalid);
  EXPECT_EQ(parse_header("D\x40\x00\x00\x00"sv, Sender::Backend, header), ParseResult::Invalid);
  ASSERT_EQ(parse_header("D\x3f\xff\xff\xff"sv, Sender::Backend, header), ParseResult::Complete);
  EXPECT_EQ(header.length, (1u << 30) - 1);
}

TEST(PgMessages, PartialHeaderIsIncompleteUnlessAlreadyImpossible) {
  Header header;
  EXPECT_EQ(parse_header("", Sender::Backend, header), ParseResult::Incomplete);
  EXPECT_EQ(parse_header("D", Sender::Backend, header), ParseResult::Incomplete);
  EXPECT_EQ(parse_header("D\x00\x00"sv, Sender::Backend, header), ParseResult::Incomplete);
  EXPECT_EQ(parse_header("D\x41"sv, Sender::Backend, header), ParseResult::Invalid);
  EXPECT_EQ(parse_header("x", Sender::Backend, header), ParseResult::Invalid);
  EXPECT_EQ(parse_header("\x16\x03\x01"sv, Sender::Either, header), ParseResult::Invalid);
}

TEST(PgMessages, OnlyOneEndSendsSomeTypes) {
  for (const char type : std::string_view("QPBFXfp")) {
    EXPECT_TRUE(is_frontend_only(type)) << type;
    EXPECT_FALSE(is_backend_only(type)) << type;
  }
  for (const char type : std::string_view("RKvZTINA123ntsGWV")) {
    EXPECT_TRUE(is_backend_only(type)) << type;
    EXPECT_FALSE(is_frontend_only(type)) << type;
  }
  for (const char type : std::string_view("DECSHdc")) {
    EXPECT_FALSE(is_frontend_only(type)) << type;
    EXPECT_FALSE(is_backend_only(type)) << type;
  }
}

// ---- startup packets -------------------------------------------------------------------

TEST(PgMessages, StartupPackets) {
  StartupPacket packet;
  const std::string params = cstr("user") + cstr("app") + '\0';
  const std::string startup = be32(static_cast<uint32_t>(8 + params.size())) + be32(196608) + params;
  ASSERT_EQ(parse_startup(startup, packet), ParseResult::Complete);
  EXPECT_EQ(packet.kind, StartupKind::Startup);
  EXPECT_EQ(packet.length, startup.size());

  ASSERT_EQ(parse_startup(be32(8) + be32(80877103), packet), ParseResult::Complete);
  EXPECT_EQ(packet.kind, StartupKind::SslRequest);
  ASSERT_EQ(parse_startup(be32(8) + be32(80877104), packet), ParseResult::Complete);
  EXPECT_EQ(packet.kind, StartupKind::GssEncRequest);
  ASSERT_EQ(parse_startup(be32(16) + be32(80877102) + be32(42) + be32(7), packet), ParseResult::Complete);
  EXPECT_EQ(packet.kind, StartupKind::CancelRequest);
  // Protocol 3.2 is still 3.
  EXPECT_EQ(parse_startup(be32(20) + be32(196610) + std::string(12, 'x'), packet), ParseResult::Complete);

  EXPECT_EQ(parse_startup(be32(8).substr(0, 3), packet), ParseResult::Incomplete);
  EXPECT_EQ(parse_startup(be32(12) + be32(80877103), packet), ParseResult::Invalid);  // SSLRequest is 8
  EXPECT_EQ(parse_startup(be32(20) + be32(131072), packet), ParseResult::Invalid);     // protocol 2
  EXPECT_EQ(parse_startup(be32(20000) + be32(196608), packet), ParseResult::Invalid);  // over 10000
  EXPECT_EQ(parse_startup("Q\0\0\0"sv, packet), ParseResult::Invalid);
  EXPECT_EQ(parse_startup("\0\x01"sv, packet), ParseResult::Invalid);
}

// ---- strings and error fields -----------------------------------------------------------

TEST(PgMessages, CStringsAreBoundedAndMoveThePosition) {
  const std::string bytes = cstr("portal") + cstr("") + "tail";
  size_t pos = 0;
  std::string_view s;
  ASSERT_TRUE(read_cstring(bytes, pos, 256, s));
  EXPECT_EQ(s, "portal");
  EXPECT_EQ(pos, 7u);
  ASSERT_TRUE(read_cstring(bytes, pos, 256, s));
  EXPECT_EQ(s, "");
  EXPECT_EQ(pos, 8u);
  EXPECT_FALSE(read_cstring(bytes, pos, 256, s));  // "tail" has no NUL
  EXPECT_EQ(pos, 8u);
  size_t start = 0;
  EXPECT_FALSE(read_cstring(bytes, start, 6, s));  // "portal" and its NUL need 7
  EXPECT_TRUE(read_cstring(bytes, start, 7, s));
}

TEST(PgMessages, ErrorFieldsGiveTheSqlstate) {
  std::string_view code;
  size_t used = 0;
  const std::string body = error_body("42P01");
  ASSERT_EQ(scan_error_fields(body, code, used), ErrorScan::Found);
  EXPECT_EQ(code, "42P01");
  EXPECT_EQ(used, 7u + 7 + 7);  // "SERROR\0" "VERROR\0" "C42P01\0"

  EXPECT_EQ(scan_error_fields(body.substr(0, 18), code, used), ErrorScan::Partial);
  const std::string no_code = "S" + cstr("FATAL") + "M" + cstr("bye") + '\0';
  ASSERT_EQ(scan_error_fields(no_code, code, used), ErrorScan::NotFound);
  EXPECT_EQ(used, no_code.size());

  EXPECT_TRUE(is_sqlstate("42P01"));
  EXPECT_TRUE(is_sqlstate("00000"));
  EXPECT_FALSE(is_sqlstate("42p01"));
  EXPECT_FALSE(is_sqlstate("4201"));
  EXPECT_FALSE(is_sqlstate("42P01X"));
}

// ---- resynchronisation ----------------------------------------------------------------

TEST(PgMessages, MessageStartNeedsAPlausibleTypeLengthAndSuccessor) {
  const std::string ready = msg('Z', "I");
  const std::string complete = msg('C', cstr("SELECT 1"));
  EXPECT_EQ(find_message_start(ready, Sender::Backend), 0u);
  EXPECT_EQ(find_message_start("\x01\x02xx" + complete + ready, Sender::Backend), 4u);
  // 'Z' with a bad length, then 'D' whose successor would be a NUL.
  EXPECT_EQ(find_message_start(std::string("Z\0\0\0\x09" "D\0\0\0\x07zz"sv) + ready, Sender::Backend), 12u);
  EXPECT_EQ(find_message_start(std::string("Z\0\0\0\x09" "D\0\0\0\x06zz"sv) + ready, Sender::Backend), 5u);
  // A header cut off by the end still counts: the next message completes it.
  EXPECT_EQ(find_message_start("\x01\x01Z\0"sv, Sender::Backend), 2u);
  EXPECT_EQ(find_message_start("\x01\x01\x01", Sender::Backend), npos);
  EXPECT_EQ(find_message_start(ready, Sender::Frontend), npos);
  EXPECT_EQ(find_message_start(msg('S', ""), Sender::Frontend), 0u);
}

// ---- the parser, frame by frame -------------------------------------------------------

TEST(PgDirect, DataRowHeadIsAFrameAndItsBodyIsSkipped) {
  CollectingSink sink;
  PostgresProtocolParser parser(sink, Role::Client);
  const FixedFrameClock query_clock({10, 11});
  const FixedFrameClock answer_clock({20, 21});
  size_t consumed = 0;

  const std::string query = msg('Q', cstr("SELECT v FROM kv"));
  EXPECT_EQ(parser.parse_frame(kSend, query.substr(0, 4), query_clock, consumed), ParseState::NeedsMoreData);
  EXPECT_EQ(parser.parse_frame(kSend, query.substr(0, 9), query_clock, consumed), ParseState::NeedsMoreData);
  ASSERT_EQ(parser.parse_frame(kSend, query + "next", query_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, query.size());
  EXPECT_EQ(parser.body_bytes_to_skip(kSend), 0u);
  EXPECT_EQ(parser.pending_requests(), 1u);

  // A 1 MB row: only its header is taken.
  const std::string row_head = "D" + be32(1 << 20);
  ASSERT_EQ(parser.parse_frame(kRecv, row_head, answer_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, 5u);
  EXPECT_EQ(parser.body_bytes_to_skip(kRecv), (1u << 20) - 4);
  parser.on_body_end(kRecv, {25, 26});

  // CommandComplete: its tag is skipped too; ReadyForQuery ends the request
  // when its body (the status byte) has passed.
  ASSERT_EQ(parser.parse_frame(kRecv, msg('C', cstr("SELECT 1")), answer_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, 5u);
  EXPECT_EQ(parser.body_bytes_to_skip(kRecv), 9u);
  parser.on_body_end(kRecv, {27, 28});
  ASSERT_EQ(parser.parse_frame(kRecv, msg('Z', "I"), answer_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, 5u);
  EXPECT_EQ(parser.body_bytes_to_skip(kRecv), 1u);
  EXPECT_EQ(sink.records.size(), 0u);
  parser.on_body_end(kRecv, {30, 31});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "SELECT");
  EXPECT_EQ(sink.records[0].sql->collection, "kv");
  EXPECT_EQ(sink.records[0].request_ns, 10u);
  EXPECT_EQ(sink.records[0].response_ns, 31u);

  EXPECT_EQ(parser.parse_frame(kRecv, "HTTP/1.1 200 OK\r\n", answer_clock, consumed), ParseState::Invalid);
  EXPECT_EQ(parser.parse_frame(kSend, msg('Z', "I"), query_clock, consumed), ParseState::Invalid);
  EXPECT_EQ(parser.find_frame_boundary(kRecv, "xx" + msg('Z', "I")), 2u);
  EXPECT_EQ(parser.find_frame_boundary(kSend, "xx" + msg('Z', "I")), npos);
}

TEST(PgDirect, ErrorResponseTakesFieldsUpToTheSqlstate) {
  CollectingSink sink;
  PostgresProtocolParser parser(sink, Role::Server);
  const FixedFrameClock query_clock({10, 11});
  const FixedFrameClock clock({15, 16});
  size_t consumed = 0;
  ASSERT_EQ(parser.parse_frame(kRecv, msg('Q', cstr("SELECT * FROM nope")), query_clock, consumed),
            ParseState::Success);

  const std::string error = msg('E', error_body("42P01"));
  EXPECT_EQ(parser.parse_frame(kSend, error.substr(0, 12), clock, consumed), ParseState::NeedsMoreData);
  ASSERT_EQ(parser.parse_frame(kSend, error, clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, 5u + 21);  // through "C42P01\0"
  EXPECT_EQ(parser.body_bytes_to_skip(kSend), error.size() - consumed);
  parser.on_body_end(kSend, {20, 21});
  ASSERT_EQ(parser.parse_frame(kSend, msg('Z', "I"), clock, consumed), ParseState::Success);
  parser.on_body_end(kSend, {30, 31});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_TRUE(sink.records[0].error);
  EXPECT_EQ(sink.records[0].status, "42P01");
  EXPECT_EQ(sink.records[0].sql->error_type, "42P01");
  EXPECT_EQ(sink.records[0].response_ns, 31u);
}

TEST(PgDirect, SessionMessagesAreIgnoredFrames) {
  CollectingSink sink;
  PostgresProtocolParser parser(sink, Role::Client);
  const FixedFrameClock clock({10, 11});
  size_t consumed = 0;
  EXPECT_EQ(parser.parse_frame(kRecv, msg('S', cstr("TimeZone") + cstr("UTC")), clock, consumed),
            ParseState::Ignored);
  EXPECT_EQ(parser.parse_frame(kRecv, msg('N', "S" + cstr("NOTICE") + '\0'), clock, consumed),
            ParseState::Ignored);
  EXPECT_EQ(parser.parse_frame(kRecv, msg('R', be32(0)), clock, consumed), ParseState::Ignored);
  EXPECT_EQ(parser.parse_frame(kSend, msg('p', cstr("secret")), clock, consumed), ParseState::Ignored);
  EXPECT_EQ(consumed, 5u);  // the password is never read
  EXPECT_EQ(parser.body_bytes_to_skip(kSend), 7u);
  EXPECT_EQ(parser.parse_frame(kSend, msg('X', ""), clock, consumed), ParseState::Ignored);
  EXPECT_EQ(sink.records.size(), 0u);
}

// ---- the name cache ---------------------------------------------------------------------

TEST(PgStatements, NameCacheEvictsTheLeastRecentlyUsed) {
  NameCache cache(2);
  auto summary = [](std::string op) {
    return std::make_shared<const sql::SqlSummary>(sql::SqlSummary{std::move(op), ""});
  };
  EXPECT_FALSE(cache.put(*name_key("a"), summary("SELECT")));
  EXPECT_FALSE(cache.put(*name_key("b"), summary("INSERT")));
  ASSERT_NE(cache.find(*name_key("a")), nullptr);  // a is now the most recent
  EXPECT_TRUE(cache.put(*name_key("c"), summary("UPDATE")));
  EXPECT_EQ(cache.find(*name_key("b")), nullptr);
  EXPECT_EQ(cache.find(*name_key("a"))->operation, "SELECT");
  EXPECT_EQ(cache.find(*name_key("c"))->operation, "UPDATE");

  // The unnamed statement is apart and never evicted.
  EXPECT_FALSE(cache.put(*name_key(""), summary("DELETE")));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache.put(*name_key("d"), summary("COPY")));
  EXPECT_EQ(cache.find(*name_key(""))->operation, "DELETE");
  cache.erase(*name_key(""));
  EXPECT_EQ(cache.find(*name_key("")), nullptr);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace redeye::protocols::postgres

namespace redeye::protocols::postgres {
namespace {

std::string chain_msg(char type, std::string_view body) {
  const uint32_t n = static_cast<uint32_t>(body.size() + 4);
  std::string out(1, type);
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((n >> shift) & 0xff);
  return out + std::string(body);
}

TEST(PgMessageChain, FindsTheMessagesThatRunToTheEndOfATail) {
  // The tail starts inside a row whose bytes look like a header or two.
  std::string rowish = std::string("vvD\0\0\0\x08vvvC", 11) + std::string(40, 'v');
  const std::string end = chain_msg('C', std::string("SELECT 100") + '\0') + chain_msg('Z', "I");
  const std::string tail = rowish + end;
  EXPECT_EQ(find_message_chain(tail, Sender::Backend), rowish.size());
}

TEST(PgMessageChain, ARunOfWholeRowsCutByTheEndNeedsThreeHeaders) {
  const std::string row = chain_msg('D', std::string(2, '\0') + std::string(20, 'x'));
  EXPECT_EQ(find_message_chain("xx" + row + row.substr(0, 10), Sender::Backend), std::string_view::npos);
  EXPECT_EQ(find_message_chain("xx" + row + row + row.substr(0, 10), Sender::Backend), 2u);
}

TEST(PgMessageChain, NothingPlausibleIsNpos) {
  EXPECT_EQ(find_message_chain(std::string(200, 'v'), Sender::Backend), std::string_view::npos);
  EXPECT_EQ(find_message_chain("", Sender::Backend), std::string_view::npos);
}

}  // namespace
}  // namespace redeye::protocols::postgres
