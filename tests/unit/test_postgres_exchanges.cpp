// PostgreSQL exchanges end to end: raw kernel-like messages (position, size,
// captured prefix, syscall times) through ConnectionTracker and DataStream
// into PostgresProtocolParser, and the Records that come out.
#include "conn/connection_tracker.h"
#include "conn/data_stream.h"
#include "protocols/postgres/pg_protocol.h"
#include "protocols/protocol.h"

#include <gtest/gtest.h>

#include "exchange_fixture.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redeye::protocols::postgres {
namespace {

using namespace std::string_view_literals;

using conn::ConnectionTracker;
using conn::DataStream;

constexpr Direction kSend = Direction::Send;
constexpr Direction kRecv = Direction::Recv;

// ---- message builders -------------------------------------------------------------------

std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string be32(uint32_t v) { return be16(static_cast<uint16_t>(v >> 16)) + be16(static_cast<uint16_t>(v)); }
std::string cstr(std::string_view s) { return std::string(s) + '\0'; }
std::string msg(char type, std::string_view body) {
  return std::string(1, type) + be32(static_cast<uint32_t>(body.size() + 4)) + std::string(body);
}

// Frontend.
std::string startup_message() {
  const std::string body = be32(196608) + cstr("user") + cstr("app") + cstr("database") + cstr("shop") + '\0';
  return be32(static_cast<uint32_t>(body.size() + 4)) + body;
}
std::string ssl_request() { return be32(8) + be32(80877103); }
std::string gssenc_request() { return be32(8) + be32(80877104); }
std::string cancel_request() { return be32(16) + be32(80877102) + be32(4242) + be32(777); }
std::string password(std::string_view secret) { return msg('p', cstr(secret)); }
std::string query(std::string_view text) { return msg('Q', cstr(text)); }
std::string parse(std::string_view name, std::string_view text, uint16_t params = 0) {
  std::string body = cstr(name) + cstr(text) + be16(params);
  for (uint16_t i = 0; i < params; ++i) body += be32(23);
  return msg('P', body);
}
std::string bind_portal(std::string_view portal, std::string_view statement, std::string_view value = {}) {
  std::string body = cstr(portal) + cstr(statement) + be16(0);
  if (value.empty()) {
    body += be16(0);
  } else {
    body += be16(1) + be32(static_cast<uint32_t>(value.size())) + std::string(value);
  }
  return msg('B', body + be16(0));
}
std::string describe(char target, std::string_view name) { return msg('D', std::string(1, target) + cstr(name)); }
std::string execute(std::string_view portal, uint32_t max_rows = 0) { return msg('E', cstr(portal) + be32(max_rows)); }
std::string close_target(char target, std::string_view name) { return msg('C', std::string(1, target) + cstr(name)); }
std::string sync() { return msg('S', ""); }
std::string flush() { return msg('H', ""); }
std::string terminate() { return msg('X', ""); }
std::string copy_data(size_t size) { return msg('d', std::string(size, 'r')); }
std::string copy_done() { return msg('c', ""); }
std::string copy_fail() { return msg('f', cstr("client gave up")); }
std::string function_call(uint32_t oid) { return msg('F', be32(oid) + be16(0) + be16(0) + be16(0)); }

// Backend.
std::string auth_md5() { return msg('R', be32(5) + "salt"); }
std::string auth_ok() { return msg('R', be32(0)); }
std::string parameter_status(std::string_view name, std::string_view value) {
  return msg('S', cstr(name) + cstr(value));
}
std::string backend_key() { return msg('K', be32(4242) + be32(777)); }
std::string ready(char status = 'I') { return msg('Z', std::string(1, status)); }
std::string row_description() {
  return msg('T', be16(1) + cstr("id") + be32(16384) + be16(1) + be32(23) + be16(4) + be32(0xffffffff) + be16(0));
}
std::string data_row(std::string_view value) {
  return msg('D', be16(1) + be32(static_cast<uint32_t>(value.size())) + std::string(value));
}
std::string command_complete(std::string_view tag) { return msg('C', cstr(tag)); }
std::string error_response(std::string_view code, std::string_view severity = "ERROR") {
  return msg('E', "S" + cstr(severity) + "V" + cstr(severity) + "C" + cstr(code) + "M" + cstr("it failed") +
                      "D" + cstr("details that are never read") + '\0');
}
std::string notice() { return msg('N', "S" + cstr("NOTICE") + "C" + cstr("00000") + "M" + cstr("fyi") + '\0'); }
std::string notification() { return msg('A', be32(99) + cstr("channel") + cstr("payload")); }
std::string parse_complete() { return msg('1', ""); }
std::string bind_complete() { return msg('2', ""); }
std::string close_complete() { return msg('3', ""); }
std::string no_data() { return msg('n', ""); }
std::string parameter_description() { return msg('t', be16(1) + be32(23)); }
std::string portal_suspended() { return msg('s', ""); }
std::string empty_query() { return msg('I', ""); }
std::string copy_in_response() { return msg('G', std::string(1, '\0') + be16(1) + be16(0)); }
std::string copy_out_response() { return msg('H', std::string(1, '\0') + be16(1) + be16(0)); }
std::string function_call_response() { return msg('V', be32(2) + "42"); }

// The backend's side of a successful startup, after authentication.
std::string startup_done() {
  return auth_ok() + parameter_status("server_version", "16.2") + parameter_status("TimeZone", "UTC") +
         backend_key() + ready();
}
// A SELECT's answer: rows, CommandComplete, ReadyForQuery.
std::string rows_answer(size_t rows) {
  std::string out = row_description();
  for (size_t i = 0; i < rows; ++i) out += data_row(std::to_string(i + 1));
  return out + command_complete("SELECT " + std::to_string(rows)) + ready();
}

// ---- the fixture --------------------------------------------------------------------------

struct CollectingSink : RecordSink {
  void on_record(const Record& record) override { records.push_back(record); }
  void on_request_started(Role) override { ++started; }
  void on_request_abandoned(Role, uint64_t count) override { abandoned += count; }
  std::vector<Record> records;
  uint64_t started = 0;
  uint64_t abandoned = 0;
};

// One traced connection speaking PostgreSQL, fed message by message.
class PgTest : public redeye::testing::ExchangeTest {
 protected:
  void open(Role role, PostgresParserOptions options = {}) {
    sink = CollectingSink{};
    open_connection(REDEYE_PROTO_POSTGRES, "postgresql", make_factory(options), sink, role);
  }

  // The frontend's messages: what a server receives, what a client sends.
  Direction frontend_direction() const { return client_side(); }
  Direction backend_direction() const { return server_side(); }
  void frontend(std::string_view bytes, MessageTime time, uint64_t size = 0) {
    message(frontend_direction(), bytes, time, size);
  }
  void backend(std::string_view bytes, MessageTime time, uint64_t size = 0) {
    message(backend_direction(), bytes, time, size);
  }

  const PostgresProtocolParser& parser() const { return parser_as<PostgresProtocolParser>(); }
  const PgStats& stats() const { return parser().stats(); }

  // Every request is recorded, given up or still pending; the in-flight
  // calls balance.
  void expect_balanced() const {
    const PgStats& s = stats();
    EXPECT_EQ(s.requests, (s.records - s.prepare_errors) + s.requests_unanswered + s.requests_skipped +
                              s.requests_evicted + parser().pending_requests());
    EXPECT_EQ(sink.started, sink.records.size() + sink.abandoned + parser().pending_requests());
    EXPECT_EQ(s.records, sink.records.size());
  }

  // The records as "OPERATION collection error_type" lines.
  std::vector<std::string> summaries() const {
    std::vector<std::string> out;
    for (const Record& r : sink.records)
      out.push_back(r.sql->operation + " " + r.sql->collection + " " + r.sql->error_type);
    return out;
  }

  CollectingSink sink;
};

using Lines = std::vector<std::string>;

// ---- simple query ---------------------------------------------------------------------------

using PgExchange = PgTest;

TEST_F(PgExchange, StartupWithSslRefusedThenSelectOfThreeRows) {
  open(Role::Server);
  received(ssl_request(), {100, 101});
  sent("N", {102, 103});
  received(startup_message(), {110, 111});
  sent(auth_md5(), {120, 121});
  received(password("md5secret"), {130, 131});
  sent(startup_done(), {140, 141});
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(parser().pending_requests(), 0u);

  received(query("SELECT id, name FROM public.users WHERE active"), {1000, 1010});
  EXPECT_EQ(parser().pending_requests(), 1u);
  sent(rows_answer(3), {2000, 2030});

  ASSERT_EQ(sink.records.size(), 1u);
  const Record& r = sink.records[0];
  EXPECT_EQ(r.protocol, "postgresql");
  EXPECT_EQ(r.role, Role::Server);
  EXPECT_EQ(r.operation, "SELECT");
  EXPECT_EQ(r.status, "00000");
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.request_ns, 1010u);   // the read returned
  EXPECT_EQ(r.response_ns, 2030u);  // the write of ReadyForQuery returned
  EXPECT_FALSE(r.http.has_value());
  ASSERT_TRUE(r.sql.has_value());
  EXPECT_EQ(r.sql->system, "postgresql");
  EXPECT_EQ(r.sql->operation, "SELECT");
  EXPECT_EQ(r.sql->collection, "public.users");
  EXPECT_EQ(r.sql->error_type, "");
  EXPECT_EQ(r.sql->statement, "SELECT id, name FROM public.users WHERE active");  // for trace only

  EXPECT_EQ(stats().startup_messages, 1u);
  EXPECT_EQ(stats().encryption_requests, 1u);
  EXPECT_FALSE(stats().encrypted);
  EXPECT_FALSE(parser().encrypted());
  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stats().records, 1u);
  EXPECT_EQ(stats().errors_unattributed, 0u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  EXPECT_EQ(parser().pending_requests(), 0u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kSend).stats().gaps, 0u);
  // The startup's ReadyForQuery, then T, 3 D, C, Z; 'N', 'R', 'S' and 'K' are ignored frames.
  EXPECT_EQ(stream(kSend).stats().frames, 7u);
  EXPECT_EQ(stream(kSend).stats().frames_ignored, 6u);
  EXPECT_EQ(stream(kSend).buffered_bytes(), 0u);
  EXPECT_EQ(sink.started, 1u);
  expect_balanced();
}

TEST_F(PgExchange, ClientTimesAreTheWriteStartAndTheReadOfReadyForQuery) {
  open(Role::Client);
  sent(startup_message(), {10, 11});
  received(startup_done(), {20, 21});
  sent(query("select * from orders"), {1000, 1010});
  const std::string answer = rows_answer(3);
  const size_t z = answer.size() - ready().size();
  received(answer.substr(0, z - 3), {2000, 2010});
  received(answer.substr(z - 3, 6), {3000, 3010});  // CommandComplete's end, half of ReadyForQuery
  EXPECT_EQ(sink.records.size(), 0u);
  received(answer.substr(z + 3), {4000, 4010});

  ASSERT_EQ(sink.records.size(), 1u);
  const Record& r = sink.records[0];
  EXPECT_EQ(r.role, Role::Client);
  EXPECT_EQ(r.request_ns, 1000u);   // the write began
  EXPECT_EQ(r.response_ns, 4010u);  // the read holding ReadyForQuery's last byte returned
  EXPECT_EQ(r.sql->collection, "orders");
  expect_balanced();
}

TEST_F(PgExchange, MissingTableIsAnErrorWithItsSqlstate) {
  open(Role::Client);
  sent(query("SELECT * FROM missing_table"), {100, 105});
  received(error_response("42P01"), {200, 205});
  EXPECT_EQ(sink.records.size(), 0u);  // ReadyForQuery closes it
  received(ready(), {300, 305});

  ASSERT_EQ(sink.records.size(), 1u);
  const Record& r = sink.records[0];
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.status, "42P01");
  EXPECT_EQ(r.operation, "SELECT");
  EXPECT_EQ(r.sql->collection, "missing_table");
  EXPECT_EQ(r.sql->error_type, "42P01");
  EXPECT_EQ(r.request_ns, 100u);
  EXPECT_EQ(r.response_ns, 305u);
  EXPECT_EQ(stats().errors, 1u);
  expect_balanced();
}

TEST_F(PgExchange, MultiStatementQueryIsOneRequestNamedByItsFirst) {
  open(Role::Server);
  received(query("BEGIN; UPDATE accounts SET b = 0; COMMIT"), {100, 101});
  sent(command_complete("BEGIN") + command_complete("UPDATE 3") + command_complete("COMMIT") + ready(),
       {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(summaries(), (Lines{"BEGIN  "}));
  EXPECT_EQ(stats().responses_unmatched, 0u);

  // The first error stops it; ReadyForQuery still ends it.
  received(query("SELECT 1; SELECT * FROM nope; SELECT 2"), {300, 301});
  sent(row_description() + data_row("1") + command_complete("SELECT 1") + error_response("42P01") + ready('E'),
       {400, 401});
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].sql->operation, "SELECT");
  EXPECT_EQ(sink.records[1].sql->error_type, "42P01");
  EXPECT_EQ(sink.records[1].response_ns, 401u);
  expect_balanced();
}

TEST_F(PgExchange, EmptyQueryAndNoticesAndAsyncMessages) {
  open(Role::Client);
  sent(query(""), {100, 101});
  received(empty_query() + ready(), {200, 201});
  sent(query("VACUUM big"), {300, 301});
  received(notice() + notification() + parameter_status("application_name", "x"), {400, 401});
  received(notice() + command_complete("VACUUM") + ready(), {500, 501});

  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].operation, "OTHER");
  EXPECT_EQ(sink.records[0].status, "00000");
  EXPECT_EQ(sink.records[1].operation, "VACUUM");
  EXPECT_EQ(sink.records[1].response_ns, 501u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  expect_balanced();
}

TEST_F(PgExchange, FunctionCallIsCall) {
  open(Role::Client);
  sent(function_call(1598), {100, 101});
  received(function_call_response() + ready(), {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "CALL");
  EXPECT_EQ(sink.records[0].sql->operation, "CALL");
  EXPECT_EQ(sink.records[0].sql->collection, "");
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 201u);
  expect_balanced();
}

TEST_F(PgExchange, TerminateAndCancelRecordNothing) {
  open(Role::Client);
  sent(cancel_request(), {10, 11});
  sent(terminate(), {20, 21});
  close();
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().cancel_requests, 1u);
  EXPECT_EQ(stats().requests, 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
}

TEST_F(PgExchange, FatalErrorBeforeTheCloseIsRecorded) {
  open(Role::Client);
  sent(query("SELECT pg_sleep(100)"), {100, 101});
  received(error_response("57P01", "FATAL"), {200, 201});
  close();
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].sql->error_type, "57P01");
  EXPECT_EQ(sink.records[0].response_ns, 201u);
  expect_balanced();
}

TEST_F(PgExchange, PendingRequestsAtCloseAreAbandoned) {
  open(Role::Server);
  received(query("SELECT 1") + query("SELECT 2"), {100, 101});
  sent(row_description(), {200, 201});
  close();
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().requests_unanswered, 2u);
  EXPECT_EQ(sink.abandoned, 2u);
  expect_balanced();
}

TEST_F(PgExchange, LongQueryIsSummarisedFromItsHeadAndTheRestSkipped) {
  open(Role::Client);
  // 100 KB of IN list: delivered whole (the capture may be larger in tests).
  std::string text = "SELECT * FROM big_table WHERE id IN (";
  while (text.size() < 100000) text += "12345,";
  text += "0)";
  const std::string q = query(text);
  sent(q, {100, 101});
  received(rows_answer(0), {200, 201});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].sql->collection, "big_table");
  EXPECT_EQ(stats().statements_truncated, 1u);
  EXPECT_EQ(stream(kSend).stats().bytes_parsed, 5u + kMaxStatementBytes);
  EXPECT_EQ(stream(kSend).stats().bytes_skipped, q.size() - 5 - kMaxStatementBytes);
  EXPECT_EQ(stream(kSend).buffered_bytes(), 0u);
  expect_balanced();
}

// ---- extended protocol ---------------------------------------------------------------------

using PgExtended = PgTest;

TEST_F(PgExtended, NamedStatementPreparedOnceExecutedThreeTimes) {
  open(Role::Client);
  sent(parse("upd", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", 2) +
           describe('S', "upd") + sync(),
       {100, 101});
  received(parse_complete() + parameter_description() + no_data() + ready(), {200, 201});
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(parser().statements(), 1u);

  for (uint64_t i = 1; i <= 3; ++i) {
    sent(bind_portal("", "upd", "42") + execute("") + sync(), {1000 * i, 1000 * i + 1});
    received(bind_complete() + command_complete("UPDATE 1") + ready(), {1000 * i + 500, 1000 * i + 501});
  }

  ASSERT_EQ(sink.records.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const Record& r = sink.records[i];
    EXPECT_EQ(r.operation, "UPDATE");
    EXPECT_EQ(r.sql->collection, "pgbench_accounts");
    EXPECT_EQ(r.status, "00000");
    EXPECT_EQ(r.request_ns, 1000 * (i + 1));
    EXPECT_EQ(r.response_ns, 1000 * (i + 1) + 501);
  }
  EXPECT_EQ(stats().requests, 3u);
  EXPECT_EQ(stats().unknown_statements, 0u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  EXPECT_EQ(parser().pending_messages(), 0u);
  expect_balanced();
}

TEST_F(PgExtended, PgbenchPreparedCountsEveryExecute) {
  open(Role::Server);
  // pgbench -M prepared: each statement parsed once, under its own name.
  const std::vector<std::pair<std::string, std::string>> script = {
      {"P0_1", "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2"},
      {"P0_2", "SELECT abalance FROM pgbench_accounts WHERE aid = $1"},
      {"P0_3", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, now())"},
  };
  for (const auto& [name, text] : script) {
    received(parse(name, text) + sync(), {10, 11});
    sent(parse_complete() + ready(), {12, 13});
  }
  for (uint64_t tx = 0; tx < 2; ++tx) {
    const uint64_t base = 1000 * (tx + 1);
    received(query("BEGIN"), {base, base + 1});
    sent(command_complete("BEGIN") + ready('T'), {base + 2, base + 3});
    for (uint64_t s = 0; s < script.size(); ++s) {
      const uint64_t t = base + 100 * (s + 1);
      received(bind_portal("", script[s].first, "7") + execute("") + sync(), {t, t + 1});
      sent(bind_complete() + (s == 1 ? data_row("0") : "") + command_complete("OK") + ready('T'), {t + 50, t + 51});
    }
    received(query("END"), {base + 900, base + 901});
    sent(command_complete("COMMIT") + ready(), {base + 902, base + 903});
  }

  const Lines one = {"BEGIN  ", "UPDATE pgbench_accounts ", "SELECT pgbench_accounts ", "INSERT pgbench_history ",
                     "COMMIT  "};
  Lines expected = one;
  expected.insert(expected.end(), one.begin(), one.end());
  EXPECT_EQ(summaries(), expected);
  ASSERT_EQ(sink.records.size(), 10u);
  EXPECT_EQ(sink.records[7].request_ns, 2201u);  // the second transaction's SELECT
  EXPECT_EQ(sink.records[7].response_ns, 2251u);
  EXPECT_EQ(stats().requests, 10u);
  expect_balanced();
}

TEST_F(PgExtended, PipelinedBatchGivesOneRecordPerExecute) {
  open(Role::Client);
  sent(parse("", "INSERT INTO a VALUES ($1)", 1) + bind_portal("", "", "1") + describe('P', "") + execute("") +
           parse("", "SELECT x FROM b") + bind_portal("", "") + describe('P', "") + execute("") +
           parse("", "DELETE FROM c") + bind_portal("", "") + describe('P', "") + execute("") + sync(),
       {100, 101});
  EXPECT_EQ(parser().pending_requests(), 3u);
  received(parse_complete() + bind_complete() + no_data() + command_complete("INSERT 0 1"), {200, 201});
  received(parse_complete() + bind_complete() + row_description() + data_row("x") + command_complete("SELECT 1"),
           {300, 301});
  received(parse_complete() + bind_complete() + no_data() + command_complete("DELETE 0"), {400, 401});
  ASSERT_EQ(sink.records.size(), 3u);  // each closed by its CommandComplete
  received(ready(), {500, 501});

  EXPECT_EQ(summaries(), (Lines{"INSERT a ", "SELECT b ", "DELETE c "}));
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(sink.records[i].request_ns, 100u);
    EXPECT_EQ(sink.records[i].response_ns, 201 + 100 * i);
  }
  EXPECT_EQ(parser().pending_messages(), 0u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  expect_balanced();
}

TEST_F(PgExtended, ErrorInTheMiddleOfABatchSkipsTheRestUntilSync) {
  open(Role::Client);
  sent(parse("", "INSERT INTO t VALUES (1)") + bind_portal("", "") + execute("") +
           parse("", "INSERT INTO t VALUES (1)") + bind_portal("", "") + execute("") +
           parse("", "UPDATE t SET v = 2") + bind_portal("", "") + execute("") + sync(),
       {100, 101});
  received(parse_complete() + bind_complete() + command_complete("INSERT 0 1"), {200, 201});
  received(parse_complete() + bind_complete() + error_response("23505"), {300, 301});
  received(ready('I'), {400, 401});

  EXPECT_EQ(summaries(), (Lines{"INSERT t ", "INSERT t 23505"}));
  EXPECT_EQ(sink.records[1].status, "23505");
  EXPECT_TRUE(sink.records[1].error);
  EXPECT_EQ(sink.records[1].response_ns, 301u);
  EXPECT_EQ(stats().requests, 3u);
  EXPECT_EQ(stats().requests_skipped, 1u);
  EXPECT_EQ(sink.abandoned, 1u);
  EXPECT_EQ(parser().pending_messages(), 0u);

  // The connection goes on normally.
  sent(query("SELECT 1"), {500, 501});
  received(rows_answer(1), {600, 601});
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[2].response_ns, 601u);
  expect_balanced();
}

TEST_F(PgExtended, ParseErrorGoesToTheExecuteOfItsBatch) {
  open(Role::Server);
  received(parse("", "SELEC oops FROM t") + bind_portal("", "") + execute("") + sync() +
               parse("", "SELECT 1") + bind_portal("", "") + execute("") + sync(),
           {100, 101});
  sent(error_response("42601") + ready(), {200, 201});
  sent(parse_complete() + bind_complete() + data_row("1") + command_complete("SELECT 1") + ready(), {300, 301});

  EXPECT_EQ(summaries(), (Lines{"OTHER  42601", "SELECT  "}));
  EXPECT_EQ(sink.records[0].response_ns, 201u);
  EXPECT_EQ(stats().prepare_errors, 0u);
  expect_balanced();
}

TEST_F(PgExtended, FailedPrepareAloneIsARecordOfItsOwn) {
  open(Role::Client);
  sent(parse("s1", "INSERT INTO nowhere VALUES ($1)", 1) + describe('S', "s1") + sync(), {100, 101});
  received(error_response("42P01") + ready(), {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(summaries(), (Lines{"INSERT nowhere 42P01"}));
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 201u);
  EXPECT_EQ(stats().prepare_errors, 1u);
  EXPECT_EQ(stats().requests, 0u);
  expect_balanced();
}

TEST_F(PgExtended, MessagesAfterAnErrorAreDiscardedUntilSync) {
  open(Role::Client);
  // Flush instead of Sync: the client sees the error before it syncs.
  sent(parse("", "DELETE FROM locked") + bind_portal("", "") + execute("") + flush(), {100, 101});
  received(parse_complete() + bind_complete() + error_response("55P03"), {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  // The server ignores these until the Sync: no records, no pairing.
  sent(bind_portal("", "") + execute("") + sync(), {300, 301});
  received(ready(), {400, 401});
  sent(parse("", "SELECT 2") + bind_portal("", "") + execute("") + sync(), {500, 501});
  received(parse_complete() + bind_complete() + data_row("2") + command_complete("SELECT 1") + ready(), {600, 601});

  EXPECT_EQ(summaries(), (Lines{"DELETE locked 55P03", "SELECT  "}));
  EXPECT_EQ(sink.records[1].request_ns, 500u);
  EXPECT_EQ(stats().requests_skipped, 1u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  expect_balanced();
}

TEST_F(PgExtended, PortalSuspendedEndsEachPartialExecute) {
  open(Role::Client);
  sent(parse("", "SELECT n FROM generate") + bind_portal("cur", "") + execute("cur", 2) + flush(), {100, 101});
  received(parse_complete() + bind_complete() + data_row("1") + data_row("2") + portal_suspended(), {200, 201});
  sent(execute("cur", 2) + sync(), {300, 301});
  received(data_row("3") + command_complete("SELECT 1") + ready(), {400, 401});

  EXPECT_EQ(summaries(), (Lines{"SELECT generate ", "SELECT generate "}));
  EXPECT_EQ(sink.records[0].response_ns, 201u);
  EXPECT_EQ(sink.records[1].request_ns, 300u);
  EXPECT_EQ(sink.records[1].response_ns, 401u);
  expect_balanced();
}

TEST_F(PgExtended, ClosedOrNeverSeenStatementsAreUnknown) {
  open(Role::Client);
  sent(parse("s", "SELECT * FROM kept") + sync(), {100, 101});
  received(parse_complete() + ready(), {150, 151});
  sent(close_target('S', "s") + sync(), {200, 201});
  received(close_complete() + ready(), {250, 251});
  EXPECT_EQ(parser().statements(), 0u);
  sent(bind_portal("", "s") + execute("") + sync(), {300, 301});
  received(bind_complete() + command_complete("SELECT 0") + ready(), {350, 351});
  // Prepared before the capture started.
  sent(bind_portal("p", "older") + execute("p") + sync(), {400, 401});
  received(bind_complete() + command_complete("SELECT 0") + ready(), {450, 451});

  EXPECT_EQ(summaries(), (Lines{"EXECUTE  ", "EXECUTE  "}));
  EXPECT_EQ(sink.records[1].status, "00000");
  EXPECT_EQ(stats().unknown_statements, 2u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  expect_balanced();
}

TEST_F(PgExtended, StatementNamesAreCappedLeastRecentlyUsedFirst) {
  PostgresParserOptions options;
  options.stitcher.max_statements = 2;
  open(Role::Client, options);
  sent(parse("a", "SELECT * FROM ta") + parse("b", "SELECT * FROM tb") + sync(), {100, 101});
  received(parse_complete() + parse_complete() + ready(), {110, 111});
  sent(bind_portal("", "a") + execute("") + sync(), {200, 201});  // a is now the most recent
  received(bind_complete() + command_complete("SELECT 0") + ready(), {210, 211});
  sent(parse("c", "SELECT * FROM tc") + sync(), {300, 301});
  received(parse_complete() + ready(), {310, 311});
  sent(bind_portal("", "a") + execute("") + bind_portal("", "b") + execute("") + bind_portal("", "c") + execute("") + sync(), {400, 401});
  received(bind_complete() + command_complete("SELECT 0") + bind_complete() + command_complete("SELECT 0") +
               bind_complete() + command_complete("SELECT 0") + ready(),
           {410, 411});

  EXPECT_EQ(summaries(), (Lines{"SELECT ta ", "SELECT ta ", "EXECUTE  ", "SELECT tc "}));
  EXPECT_EQ(stats().statements_evicted, 1u);
  EXPECT_EQ(parser().statements(), 2u);
  expect_balanced();
}

TEST_F(PgExtended, OldestBatchIsEvictedOverThePendingCapAndItsAnswersPassedOver) {
  PostgresParserOptions options;
  options.stitcher.max_pending_messages = 4;
  open(Role::Client, options);
  // Three 4-message batches in flight; only 4 messages are kept.
  for (uint64_t i = 0; i < 3; ++i) {
    const std::string table = "t" + std::to_string(i);
    sent(parse("", "SELECT * FROM " + table) + bind_portal("", "") + execute("") + sync(), {100 + i, 101 + i});
  }
  EXPECT_EQ(parser().pending_messages(), 4u);
  for (uint64_t i = 0; i < 3; ++i) {
    received(parse_complete() + bind_complete() + command_complete("SELECT 0") + ready(), {200 + 10 * i, 201 + 10 * i});
  }
  EXPECT_EQ(summaries(), (Lines{"SELECT t2 "}));
  EXPECT_EQ(sink.records[0].request_ns, 102u);
  EXPECT_EQ(sink.records[0].response_ns, 221u);
  EXPECT_EQ(stats().requests_evicted, 2u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  EXPECT_EQ(stats().responses_of_evicted, 8u);
  expect_balanced();
}

TEST_F(PgExtended, HugeBindParameterIsSkipped) {
  open(Role::Server);
  received(parse("ins", "INSERT INTO blobs (data) VALUES ($1)", 1) + sync(), {100, 101});
  sent(parse_complete() + ready(), {110, 111});
  const std::string big = bind_portal("", "ins", std::string(300000, 'b')) + execute("") + sync();
  received(big.substr(0, 4096), {200, 201}, big.size());  // the capture keeps 4 KiB
  EXPECT_EQ(parser().pending_requests(), 0u);  // the Execute was never captured
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);

  // Sent again in two writes: the Bind's parameter is skipped, not buffered.
  const std::string bound = bind_portal("", "ins", std::string(300000, 'b'));
  received(bound.substr(0, 4096), {300, 301}, bound.size());
  EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);
  received(execute("") + sync(), {302, 303});
  sent(bind_complete() + command_complete("INSERT 0 1") + ready(), {400, 401});
  EXPECT_EQ(summaries(), (Lines{"INSERT blobs "}));
  EXPECT_EQ(sink.records[0].request_ns, 303u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
  expect_balanced();
}

// ---- COPY --------------------------------------------------------------------------------------

using PgCopy = PgTest;

TEST_F(PgCopy, CopyFromStdinWithFiveCopyDataIsOneRequest) {
  open(Role::Server);
  received(query("COPY items (id, name) FROM STDIN"), {100, 101});
  sent(copy_in_response(), {200, 201});
  for (uint64_t i = 0; i < 5; ++i) received(copy_data(1000 + i), {300 + 10 * i, 301 + 10 * i});
  received(copy_done(), {400, 401});
  EXPECT_EQ(sink.records.size(), 0u);
  sent(command_complete("COPY 5"), {500, 501});
  sent(ready(), {600, 601});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(summaries(), (Lines{"COPY items "}));
  EXPECT_EQ(sink.records[0].request_ns, 101u);
  EXPECT_EQ(sink.records[0].response_ns, 601u);
  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 5 * 1000 + 10 + (query("COPY items (id, name) FROM STDIN").size() - 5) -
                                                     (query("COPY items (id, name) FROM STDIN").size() - 5));
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  expect_balanced();
}

TEST_F(PgCopy, CopyToStdoutAndCopyFail) {
  open(Role::Client);
  sent(query("COPY (SELECT * FROM t) TO STDOUT"), {100, 101});
  received(copy_out_response() + copy_data(500) + copy_data(500) + copy_done() + command_complete("COPY 2") + ready(),
           {200, 201});
  sent(query("COPY t FROM STDIN"), {300, 301});
  received(copy_in_response(), {400, 401});
  sent(copy_data(10) + copy_fail(), {500, 501});
  received(error_response("57014") + ready(), {600, 601});

  EXPECT_EQ(summaries(), (Lines{"COPY  ", "COPY t 57014"}));
  EXPECT_EQ(sink.records[1].response_ns, 601u);
  expect_balanced();
}

TEST_F(PgCopy, ExtendedCopyIgnoresTheSyncSentDuringCopyIn) {
  open(Role::Client);
  // The server ignores Sync during copy-in: only the one after CopyDone is answered.
  sent(parse("", "COPY t FROM STDIN") + bind_portal("", "") + execute("") + sync(), {100, 101});
  sent(copy_data(10) + copy_data(20) + copy_done() + sync(), {110, 111});
  received(parse_complete() + bind_complete() + copy_in_response(), {200, 201});
  received(command_complete("COPY 2"), {300, 301});
  received(ready(), {400, 401});
  sent(query("SELECT 1"), {500, 501});
  received(rows_answer(1), {600, 601});

  EXPECT_EQ(summaries(), (Lines{"COPY t ", "SELECT  "}));
  EXPECT_EQ(sink.records[0].response_ns, 301u);
  EXPECT_EQ(sink.records[1].request_ns, 500u);
  EXPECT_EQ(sink.records[1].response_ns, 601u);
  EXPECT_EQ(parser().pending_messages(), 0u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  expect_balanced();
}

TEST_F(PgCopy, ExtendedCopyFailSkipsToTheNextSync) {
  open(Role::Client);
  sent(parse("", "COPY t FROM STDIN") + bind_portal("", "") + execute("") + sync(), {100, 101});
  received(parse_complete() + bind_complete() + copy_in_response(), {200, 201});
  sent(copy_data(10) + copy_fail() + sync(), {300, 301});
  received(error_response("57014") + ready(), {400, 401});
  sent(query("SELECT 1"), {500, 501});
  received(rows_answer(1), {600, 601});

  EXPECT_EQ(summaries(), (Lines{"COPY t 57014", "SELECT  "}));
  EXPECT_EQ(parser().pending_messages(), 0u);
  expect_balanced();
}

// ---- large answers and bounded captures ---------------------------------------------------

using PgLarge = PgTest;

TEST_F(PgLarge, FiveMegabyteDataRowIn100MessagesWith64ByteCaptures) {
  open(Role::Client);
  sent(query("SELECT payload FROM blobs WHERE id = 1"), {100, 105});

  const std::string row = data_row(std::string(5 * 1024 * 1024, 'p'));
  const std::string head = row_description() + row;
  const size_t chunk = (head.size() + 99) / 100;
  for (size_t i = 0; i < 100; ++i) {
    const size_t start = i * chunk;
    const size_t size = std::min(chunk, head.size() - start);
    received(std::string_view(head).substr(start, 64), {1000 + 10 * i, 1005 + 10 * i}, size);
    EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);
  }
  EXPECT_EQ(sink.records.size(), 0u);
  const std::string tail = command_complete("SELECT 1") + ready();
  received(tail, {5000, 5005});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(summaries(), (Lines{"SELECT blobs "}));
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 5005u);
  const conn::DataStreamStats& s = stream(kRecv).stats();
  EXPECT_EQ(s.gaps, 0u);
  EXPECT_EQ(s.invalid_frames, 0u);
  EXPECT_EQ(s.bytes_missing, 0u);
  EXPECT_EQ(s.bytes_parsed, 4u * 5);  // four headers
  EXPECT_EQ(s.bytes_skipped, head.size() + tail.size() - 4 * 5);
  EXPECT_LE(stream(kRecv).timed_messages(), 2u);
  expect_balanced();
}

TEST_F(PgLarge, QueryCutByTheCaptureIsSummarisedFromItsHead) {
  open(Role::Client);
  std::string text = "INSERT INTO events (payload) VALUES ('";
  text += std::string(6000, 'e') + "')";
  const std::string q = query(text);
  sent(std::string_view(q).substr(0, 4096), {100, 105}, q.size());
  EXPECT_EQ(parser().pending_requests(), 1u);
  received(command_complete("INSERT 0 1") + ready(), {200, 205});

  EXPECT_EQ(summaries(), (Lines{"INSERT events "}));
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(stats().statements_cut_by_capture, 1u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
  EXPECT_EQ(stream(kSend).stats().gaps, 1u);  // for the stream, lost bytes all the same
  expect_balanced();
}

TEST_F(PgLarge, NamedParseCutByTheCaptureIsStillRemembered) {
  open(Role::Server);
  const std::string p = parse("big", "UPDATE wide SET c = $1 WHERE id IN (" + std::string(8000, '1') + ")", 1);
  const std::string batch = p + describe('S', "big") + sync();
  received(std::string_view(batch).substr(0, 4096), {100, 101}, batch.size());
  // The Describe and Sync were lost with the Parse's tail: nothing is pending.
  EXPECT_EQ(parser().pending_messages(), 0u);
  EXPECT_EQ(parser().statements(), 1u);
  sent(parse_complete() + parameter_description() + no_data() + ready(), {200, 201});

  received(bind_portal("", "big", "5") + execute("") + sync(), {300, 301});
  sent(bind_complete() + command_complete("UPDATE 1") + ready(), {400, 401});
  EXPECT_EQ(summaries(), (Lines{"UPDATE wide "}));
  EXPECT_EQ(stats().statements_cut_by_capture, 1u);
  expect_balanced();
}

// A result of 100 rows of 50 bytes, its end past the 2 KiB prefix.
std::string hundred_rows() {
  std::string answer = row_description();
  for (int i = 0; i < 100; ++i) answer += data_row(std::string(50, 'v'));
  return answer;
}

TEST_F(PgLarge, AnswerTailCapturedBesideThePrefixClosesTheRequestAtTheServer) {
  open(Role::Server);
  received(query("SELECT * FROM t"), {100, 101});
  const std::string answer = hundred_rows() + command_complete("SELECT 100") + ready();
  message_with_tail(kSend, answer, 2048, 256, {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(summaries(), (Lines{"SELECT t "}));
  EXPECT_EQ(sink.records[0].response_ns, 201u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);  // a tail is resynchronised, not rejected

  received(query("SELECT 1"), {300, 301});
  sent(rows_answer(1), {400, 401});
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].request_ns, 301u);
  expect_balanced();
}

TEST_F(PgLarge, AnswerTailAtTheClientSplitOverSeveralReads) {
  open(Role::Client);
  sent(query("SELECT * FROM t"), {100, 101});
  const std::string answer = hundred_rows() + command_complete("SELECT 100") + ready();
  // The client reads 3000 bytes, then the rest: each read has head and tail.
  const std::string first = answer.substr(0, 3000), second = answer.substr(3000);
  message_with_tail(kRecv, first, 2048, 256, {200, 201});
  EXPECT_EQ(sink.records.size(), 0u);
  message_with_tail(kRecv, second, 1024, 256, {300, 302});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 302u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
  expect_balanced();
}

TEST_F(PgLarge, ErrorInTheAnswerTailIsTheRequestsError) {
  open(Role::Server);
  received(query("SELECT * FROM t"), {100, 101});
  // Rows, then the query fails (e.g. division by zero on row 101).
  const std::string answer = hundred_rows() + error_response("22012") + ready();
  message_with_tail(kSend, answer, 2048, 256, {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(summaries(), (Lines{"SELECT t 22012"}));
  expect_balanced();
}

TEST_F(PgLarge, LongStatementWithTailKeepsThePairing) {
  open(Role::Client);
  std::string text = "INSERT INTO events (payload) VALUES ('";
  text += std::string(6000, 'e') + "')";
  const std::string q = query(text);
  message_with_tail(kSend, q, 2048, 256, {100, 105});
  EXPECT_EQ(parser().pending_requests(), 1u);
  received(command_complete("INSERT 0 1") + ready(), {200, 205});
  EXPECT_EQ(summaries(), (Lines{"INSERT events "}));
  EXPECT_EQ(stats().statements_cut_by_capture, 1u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
  expect_balanced();
}

TEST_F(PgLarge, TailOfAConnectionOlderThanTheAgentIsAGap) {
  open(Role::Unknown);
  const std::string answer = hundred_rows() + command_complete("SELECT 100") + ready();
  message_with_tail(kRecv, answer, 2048, 256, {200, 201});
  EXPECT_EQ(sink.records.size(), 0u);  // no request seen: nothing to close
  expect_balanced();
}

TEST_F(PgLarge, AnswerTailBeyondTheCaptureIsLost) {
  open(Role::Server);
  received(query("SELECT * FROM t"), {100, 101});
  std::string answer = row_description();
  for (int i = 0; i < 100; ++i) answer += data_row(std::string(50, 'v'));
  answer += command_complete("SELECT 100") + ready();
  sent(std::string_view(answer).substr(0, 4096), {200, 201}, answer.size());
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().requests_unanswered, 1u);
  EXPECT_EQ(stream(kSend).stats().gaps, 1u);

  received(query("SELECT 1"), {300, 301});
  sent(rows_answer(1), {400, 401});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].request_ns, 301u);
  expect_balanced();
}

// ---- splits and coalescing ------------------------------------------------------------------

// A whole server-side conversation: writes by either end, replayed with each
// write cut into pieces.
struct Write {
  bool frontend;
  std::string bytes;
};

std::vector<Write> conversation() {
  return {
      {true, ssl_request()},
      {false, "N"},
      {true, startup_message()},
      {false, startup_done()},
      {true, query("SELECT * FROM t")},
      {false, rows_answer(2)},
      {true, parse("s", "INSERT INTO logs VALUES ($1)", 1) + bind_portal("", "s", "x") + execute("") +
                 parse("", "DELETE FROM gone") + bind_portal("", "") + execute("") + sync()},
      {false, parse_complete() + bind_complete() + command_complete("INSERT 0 1") + parse_complete() +
                  bind_complete() + error_response("42P01") + ready()},
      {true, query("COPY items FROM STDIN")},
      {false, copy_in_response()},
      {true, copy_data(3) + copy_data(300) + copy_done()},
      {false, command_complete("COPY 2") + ready()},
      {true, terminate()},
  };
}

// Piece k of write w is timed {1000 w + 10 k, 1000 w + 10 k + 5}.
MessageTime piece_time(size_t write, size_t piece) {
  return {1000 * write + 10 * piece, 1000 * write + 10 * piece + 5};
}

// The piece of a write cut at `cuts` (sorted) that holds byte `offset`.
size_t piece_of(const std::vector<size_t>& cuts, size_t offset) {
  return static_cast<size_t>(std::upper_bound(cuts.begin(), cuts.end(), offset) - cuts.begin());
}

using PgSplit = PgTest;

class PgSplitReplay : public PgTest {
 protected:
  // Replays the conversation as a server, write `w` cut at cuts_of(w, size).
  template <typename Cuts>
  void replay(const std::vector<Write>& writes, Cuts&& cuts_of) {
    open(Role::Server);
    for (size_t w = 0; w < writes.size(); ++w) {
      const std::string& bytes = writes[w].bytes;
      const std::vector<size_t> cuts = cuts_of(w, bytes.size());
      size_t start = 0;
      for (size_t k = 0; k <= cuts.size(); ++k) {
        const size_t end = k < cuts.size() ? cuts[k] : bytes.size();
        const std::string_view piece = std::string_view(bytes).substr(start, end - start);
        if (writes[w].frontend) {
          received(piece, piece_time(w, k));
        } else {
          sent(piece, piece_time(w, k));
        }
        start = end;
      }
    }
    close();
  }

  // What the conversation must give, with the times its cuts imply.
  template <typename Cuts>
  void expect_conversation_records(const std::vector<Write>& writes, Cuts&& cuts_of) {
    ASSERT_EQ(summaries(), (Lines{"SELECT t ", "INSERT logs ", "DELETE gone 42P01", "COPY items "}));
    const auto end_time = [&](size_t w, size_t last_byte) {
      return piece_time(w, piece_of(cuts_of(w, writes[w].bytes.size()), last_byte)).exit_ns;
    };
    // A server's request starts when the read of its first byte returned.
    EXPECT_EQ(sink.records[0].request_ns, piece_time(4, 0).exit_ns);
    EXPECT_EQ(sink.records[0].response_ns, end_time(5, writes[5].bytes.size() - 1));
    EXPECT_EQ(sink.records[1].request_ns, piece_time(6, piece_of(cuts_of(6, writes[6].bytes.size()),
                                                                 (parse("s", "INSERT INTO logs VALUES ($1)", 1) +
                                                                  bind_portal("", "s", "x")).size()))
                                              .exit_ns);
    const size_t insert_end = (parse_complete() + bind_complete() + command_complete("INSERT 0 1")).size() - 1;
    EXPECT_EQ(sink.records[1].response_ns, end_time(7, insert_end));
    const size_t error_end = writes[7].bytes.size() - ready().size() - 1;
    EXPECT_EQ(sink.records[2].response_ns, end_time(7, error_end));
    EXPECT_EQ(sink.records[3].request_ns, piece_time(8, 0).exit_ns);
    EXPECT_EQ(sink.records[3].response_ns, end_time(11, writes[11].bytes.size() - 1));
    EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
    EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
    EXPECT_EQ(stats().responses_unmatched, 0u);
    EXPECT_EQ(stats().startup_messages, 1u);
    expect_balanced();
  }
};

TEST_F(PgSplitReplay, WholeWritesGiveTheReferenceRecords) {
  const auto writes = conversation();
  const auto no_cuts = [](size_t, size_t) { return std::vector<size_t>{}; };
  replay(writes, no_cuts);
  expect_conversation_records(writes, no_cuts);
}

TEST_F(PgSplitReplay, EveryWriteCutAtAwkwardOffsets) {
  const auto writes = conversation();
  // Inside a type byte and length, right after a header, mid-body, one byte short.
  const std::vector<std::vector<size_t>> patterns = {{1}, {2}, {4}, {5}, {6}, {1, 5}, {3, 7}, {2, 9, 13}};
  for (const auto& pattern : patterns) {
    for (const bool last_byte_apart : {false, true}) {
      const auto cuts_of = [&](size_t, size_t size) {
        std::vector<size_t> cuts;
        for (const size_t c : pattern)
          if (c < size && (cuts.empty() || c > cuts.back())) cuts.push_back(c);
        if (last_byte_apart && size > 1 && (cuts.empty() || cuts.back() < size - 1)) cuts.push_back(size - 1);
        return cuts;
      };
      SCOPED_TRACE(::testing::Message() << "pattern of " << pattern.size() << " starting " << pattern[0]
                                        << (last_byte_apart ? ", last byte apart" : ""));
      replay(writes, cuts_of);
      expect_conversation_records(writes, cuts_of);
      if (HasFailure()) return;
    }
  }
}

TEST_F(PgSplitReplay, EachWriteSplitInTwoAtEveryOffset) {
  const auto writes = conversation();
  for (size_t target = 0; target < writes.size(); ++target) {
    for (size_t cut = 1; cut < writes[target].bytes.size(); ++cut) {
      const auto cuts_of = [&](size_t w, size_t) {
        return w == target ? std::vector<size_t>{cut} : std::vector<size_t>{};
      };
      SCOPED_TRACE(::testing::Message() << "write " << target << " cut at " << cut);
      replay(writes, cuts_of);
      expect_conversation_records(writes, cuts_of);
      if (HasFailure()) return;
    }
  }
}

TEST_F(PgSplitReplay, BatchWritesSplitInThreeAtEveryPairOfOffsets) {
  const auto writes = conversation();
  for (const size_t target : {size_t{6}, size_t{7}}) {
    const size_t size = writes[target].bytes.size();
    for (size_t first = 1; first < size; first += 3) {
      for (size_t second = first + 1; second < size; second += 2) {
        const auto cuts_of = [&](size_t w, size_t) {
          return w == target ? std::vector<size_t>{first, second} : std::vector<size_t>{};
        };
        SCOPED_TRACE(::testing::Message() << "write " << target << " cut at " << first << ", " << second);
        replay(writes, cuts_of);
        expect_conversation_records(writes, cuts_of);
        if (HasFailure()) return;
      }
    }
  }
}

TEST_F(PgSplit, WholeConversationInOneAppendPerDirection) {
  open(Role::Client);
  sent(startup_message() + query("SELECT 1") + query("UPDATE x SET y = 1") + parse("", "DELETE FROM z") +
           bind_portal("", "") + execute("") + sync(),
       {100, 101});
  received(startup_done() + rows_answer(1) + command_complete("UPDATE 1") + ready() + parse_complete() +
               bind_complete() + command_complete("DELETE 1") + ready(),
           {200, 201});
  EXPECT_EQ(summaries(), (Lines{"SELECT  ", "UPDATE x ", "DELETE z "}));
  for (const Record& r : sink.records) {
    EXPECT_EQ(r.request_ns, 100u);
    EXPECT_EQ(r.response_ns, 201u);
  }
  expect_balanced();
}

TEST_F(PgSplit, ByteByByte) {
  open(Role::Client);
  const std::string request = query("SELECT * FROM bytes") + parse("n", "INSERT INTO b VALUES (1)") + bind_portal("", "n") +
                              execute("") + sync();
  const std::string answer = rows_answer(2) + parse_complete() + bind_complete() + error_response("23505") + ready();
  for (size_t i = 0; i < request.size(); ++i) sent(request.substr(i, 1), {100 + i, 100 + i});
  for (size_t i = 0; i < answer.size(); ++i) received(answer.substr(i, 1), {1000 + i, 1000 + i});
  EXPECT_EQ(summaries(), (Lines{"SELECT bytes ", "INSERT b 23505"}));
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 1000 + rows_answer(2).size() - 1);
  expect_balanced();
}

TEST_F(PgSplitReplay, RandomCutsCapturesAndLossesKeepTheCountsBalanced) {
  // Whatever the capture does, requests are recorded, given up or pending,
  // and nothing is buffered beyond one frame.
  const auto writes = conversation();
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  const auto next = [&seed](uint64_t bound) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return bound == 0 ? 0 : seed % bound;
  };
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    open(round % 3 == 0 ? Role::Unknown : Role::Server);
    for (size_t repeat = 0; repeat < 3; ++repeat) {
      for (size_t w = 0; w < writes.size(); ++w) {
        const std::string& bytes = writes[w].bytes;
        const Direction direction = writes[w].frontend ? kRecv : kSend;
        size_t start = 0;
        size_t piece = 0;
        while (start < bytes.size()) {
          const size_t size = 1 + next(bytes.size() - start);
          const MessageTime time = piece_time(10 * repeat + w, piece++);
          switch (next(8)) {
            case 0:
              lose(direction, size);  // never captured
              break;
            case 1:
              message(direction, std::string_view(bytes).substr(start, next(size)), time, size);  // prefix only
              break;
            default:
              message(direction, std::string_view(bytes).substr(start, size), time);
              break;
          }
          start += size;
        }
      }
    }
    EXPECT_LE(stream(kRecv).buffered_bytes(), 5 + kMaxStatementBytes + kMaxNameBytes);
    EXPECT_LE(stream(kSend).buffered_bytes(), 5 + kMaxErrorFieldBytes);
    close();
    expect_balanced();
    EXPECT_EQ(parser().pending_messages(), 0u);
    if (HasFailure()) return;
  }
}

TEST_F(PgSplitReplay, RandomBytesKeepTheCountsBalanced) {
  uint64_t seed = 12345;
  for (int round = 0; round < 50; ++round) {
    open(round % 2 ? Role::Client : Role::Unknown);
    for (int m = 0; m < 20; ++m) {
      std::string bytes(1 + (seed % 700), '\0');
      for (char& c : bytes) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        c = static_cast<char>(seed >> 56);
      }
      message(m % 2 ? kSend : kRecv, bytes, {static_cast<uint64_t>(m), static_cast<uint64_t>(m)});
    }
    close();
    expect_balanced();
  }
}

// ---- gaps and resynchronisation ---------------------------------------------------------------

using PgGaps = PgTest;

TEST_F(PgGaps, GapInsideADataRowIsAbsorbedByTheSkip) {
  open(Role::Client);
  sent(query("SELECT v FROM t"), {100, 101});
  const std::string row = data_row(std::string(1000, 'v'));
  received(row_description() + row.substr(0, 100), {200, 201});
  lose(kRecv, 500);
  received(row.substr(600) + command_complete("SELECT 1") + ready(), {300, 301});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].response_ns, 301u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
  expect_balanced();
}

TEST_F(PgGaps, LostAnswerDropsThePendingRequestThenResyncs) {
  open(Role::Client);
  sent(query("SELECT a FROM t1"), {100, 101});
  const std::string row = data_row(std::string(200, 'x'));
  received(row_description() + row.substr(0, 20), {200, 201});
  lose(kRecv, row.size() - 20 + command_complete("SELECT 1").size());  // the rest of the row and the CommandComplete
  received(ready(), {210, 211});
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
  EXPECT_EQ(stats().requests_unanswered, 1u);
  EXPECT_EQ(parser().pending_requests(), 0u);
  EXPECT_EQ(sink.records.size(), 0u);

  sent(query("SELECT b FROM t2"), {300, 301});
  received(rows_answer(1), {400, 401});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(summaries(), (Lines{"SELECT t2 "}));
  EXPECT_EQ(sink.records[0].request_ns, 300u);
  EXPECT_EQ(sink.records[0].response_ns, 401u);
  EXPECT_EQ(sink.abandoned, 1u);
  expect_balanced();
}

TEST_F(PgGaps, GarbageBeforeValidMessagesIsSkipped) {
  open(Role::Client);
  sent(query("SELECT 1"), {100, 101});
  const std::string garbage = "\x01\x02\x03\x04\xff\xfe";
  received(garbage + rows_answer(1), {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 1u);
  EXPECT_EQ(stream(kRecv).stats().bytes_discarded, garbage.size());
  expect_balanced();
}

TEST_F(PgGaps, AnswerToALostRequestIsRecognisedByItsTime) {
  open(Role::Server);
  const std::string lost = query("SELECT * FROM lost");
  lose(kRecv, lost.size());
  // The next request is read before the answer to the lost one is seen.
  received(query("SELECT * FROM kept"), {300, 301});
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);  // the very first message sets the origin
  sent(rows_answer(1), {200, 202});
  sent(rows_answer(2), {400, 402});

  EXPECT_EQ(summaries(), (Lines{"SELECT kept "}));
  EXPECT_EQ(sink.records[0].request_ns, 301u);
  EXPECT_EQ(sink.records[0].response_ns, 402u);
  EXPECT_EQ(stats().responses_before_request, 3u);  // T, C, Z of the first answer
  expect_balanced();
}

TEST_F(PgGaps, LostFrontendBytesDropThePendingRequests) {
  open(Role::Server);
  received(query("SELECT 1"), {100, 101});
  const std::string next = query("SELECT * FROM second") + query("SELECT * FROM third");
  received(next.substr(0, 10), {110, 111});
  lose(kRecv, next.size() - 10);
  received(query("SELECT * FROM fourth"), {300, 301});
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
  // The first was pending; the second, seen in part, was not a request yet.
  EXPECT_EQ(stats().requests_unanswered, 2u);
  EXPECT_EQ(stats().statements_cut_by_capture, 1u);

  sent(rows_answer(1), {200, 201});  // answers SELECT 1: sent before "fourth" was read
  sent(rows_answer(1), {210, 211});
  sent(rows_answer(1), {220, 221});
  sent(rows_answer(1), {400, 401});
  EXPECT_EQ(summaries(), (Lines{"SELECT fourth "}));
  EXPECT_EQ(sink.records[0].response_ns, 401u);
  expect_balanced();
}

TEST_F(PgGaps, OversizedFrameOverTheStreamCapIsDropped) {
  open(Role::Client);
  sent(query("SELECT 1"), {100, 101});
  // An ErrorResponse with 100 KB of fields before its SQLSTATE: searched
  // only in its first kMaxErrorFieldBytes.
  const std::string fields = "S" + cstr("ERROR") + "M" + cstr(std::string(100000, 'm')) + "C" + cstr("XX000") + '\0';
  received(msg('E', fields) + ready(), {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].sql->error_type, "_OTHER");
  EXPECT_EQ(sink.records[0].status, "_OTHER");
  EXPECT_EQ(stream(kRecv).stats().bytes_parsed, 5u + kMaxErrorFieldBytes + 5);
  expect_balanced();
}

// ---- encryption ---------------------------------------------------------------------------------

using PgStartup = PgTest;

TEST_F(PgStartup, SslAcceptedMakesTheConnectionUnparsed) {
  open(Role::Server);
  received(ssl_request(), {100, 101});
  sent("S", {110, 111});
  std::string client_hello = "\x16\x03\x01\x02\x00";
  client_hello += std::string(512, '\x42');
  received(client_hello, {120, 121});
  sent(std::string(3000, '\x17'), {130, 131});
  received(query("SELECT looks like a query but is ciphertext"), {140, 141});
  sent(rows_answer(1), {150, 151});
  close();

  EXPECT_TRUE(parser().encrypted());
  EXPECT_TRUE(stats().encrypted);
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().requests, 0u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kRecv).stats().frames, 0u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped,
            client_hello.size() - 1 + query("SELECT looks like a query but is ciphertext").size());
  EXPECT_EQ(sink.started, 0u);
}

TEST_F(PgStartup, GssEncryptionAcceptedIsUnparsedToo) {
  open(Role::Client);
  sent(gssenc_request(), {100, 101});
  received("G", {110, 111});
  sent(query("SELECT 1"), {120, 121});
  received(rows_answer(1), {130, 131});
  EXPECT_TRUE(parser().encrypted());
  EXPECT_EQ(sink.records.size(), 0u);
}

TEST_F(PgStartup, GssRefusedThenSslRefusedGoesOnInClear) {
  open(Role::Client);
  sent(gssenc_request(), {100, 101});
  received("N", {110, 111});
  sent(ssl_request(), {120, 121});
  received("N", {130, 131});
  sent(startup_message(), {140, 141});
  received(startup_done(), {150, 151});
  sent(query("SELECT 1"), {160, 161});
  // 'N' is a NoticeResponse once the answer has been read.
  received(notice() + rows_answer(1), {170, 171});
  EXPECT_FALSE(parser().encrypted());
  EXPECT_EQ(stats().encryption_requests, 2u);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
}

TEST_F(PgStartup, AuthenticationFailureIsNotARequest) {
  open(Role::Server);
  received(startup_message(), {100, 101});
  sent(auth_md5(), {110, 111});
  received(password("wrong"), {120, 121});
  sent(error_response("28P01", "FATAL"), {130, 131});
  close();
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().errors_unattributed, 1u);
  EXPECT_EQ(stats().requests, 0u);
}

// ---- roles ----------------------------------------------------------------------------------------

using PgRoles = PgTest;

TEST_F(PgRoles, UnknownRoleFromAQuerySent) {
  open(Role::Unknown);
  sent(query("DELETE FROM t"), {100, 101});
  EXPECT_EQ(parser().role(), Role::Client);
  received(command_complete("DELETE 0") + ready(), {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::Client);
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 201u);
}

TEST_F(PgRoles, UnknownRoleFromAQueryReceived) {
  open(Role::Unknown);
  received(query("DELETE FROM t"), {100, 101});
  EXPECT_EQ(parser().role(), Role::Server);
  sent(command_complete("DELETE 0") + ready(), {200, 201});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::Server);
  EXPECT_EQ(sink.records[0].request_ns, 101u);
}

TEST_F(PgRoles, UnknownRoleFromAStartupReceived) {
  open(Role::Unknown);
  received(startup_message(), {100, 101});
  EXPECT_EQ(parser().role(), Role::Server);
}

TEST_F(PgRoles, AmbiguousMessagesWaitForOneOnlyAnEndSends) {
  open(Role::Unknown);
  // 'D' and 'C' are sent by both ends: framed, skipped, role still unknown.
  received(data_row(std::string(100, 'x')) + command_complete("SELECT 1"), {100, 101});
  EXPECT_EQ(parser().role(), Role::Unknown);
  EXPECT_EQ(stream(kRecv).stats().frames_ignored, 2u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 106u + 9);
  // ReadyForQuery only comes from a server: this process is the client.
  received(ready(), {110, 111});
  EXPECT_EQ(parser().role(), Role::Client);
  sent(query("SELECT * FROM t"), {200, 201});
  received(rows_answer(1), {300, 301});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::Client);
  EXPECT_EQ(sink.records[0].request_ns, 200u);
}

TEST_F(PgRoles, ClientAndServerSeeTheSameExchangeWithTheirOwnTimes) {
  for (const Role role : {Role::Client, Role::Server}) {
    SCOPED_TRACE(role == Role::Client ? "client" : "server");
    open(role);
    frontend(parse("", "SELECT * FROM t") + bind_portal("", "") + execute("") + sync(), {100, 110});
    backend(parse_complete() + bind_complete() + data_row("1"), {200, 210});
    backend(command_complete("SELECT 1") + ready(), {300, 310});
    ASSERT_EQ(sink.records.size(), 1u);
    EXPECT_EQ(sink.records[0].role, role);
    EXPECT_EQ(sink.records[0].request_ns, role == Role::Client ? 100u : 110u);
    EXPECT_EQ(sink.records[0].response_ns, 310u);
  }
}

// ---- registration -----------------------------------------------------------------------------------

TEST(PgBuiltin, RegisteredAsPostgresqlAndGetsTheTrackersRole) {
  ProtocolRegistry registry;
  register_builtin_protocols(registry);
  EXPECT_EQ(registry.name_of(REDEYE_PROTO_POSTGRES), "postgresql");

  CollectingSink sink;
  ConnectionTracker tracker(registry, sink);
  tracker.set_role(Role::Server);
  tracker.set_protocol(REDEYE_PROTO_POSTGRES);
  ASSERT_NE(tracker.parser(), nullptr);
  EXPECT_EQ(tracker.parser()->name(), "postgresql");
  EXPECT_EQ(static_cast<const PostgresProtocolParser&>(*tracker.parser()).role(), Role::Server);

  const std::string q = query("SELECT 1");
  const std::string a = rows_answer(1);
  tracker.on_data(kRecv, 0, q.size(), q, {10, 11});
  tracker.on_data(kSend, 0, a.size(), a, {20, 21});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].protocol, "postgresql");
}

}  // namespace
}  // namespace redeye::protocols::postgres
