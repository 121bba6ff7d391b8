// MySQL/MariaDB exchanges end to end: raw kernel-like messages (position,
// size, captured prefix, syscall times) through ConnectionTracker and
// DataStream into MysqlProtocolParser, and the Records that come out.
#include "conn/connection_tracker.h"
#include "conn/data_stream.h"
#include "protocols/mysql/mysql_packet.h"
#include "protocols/mysql/mysql_protocol.h"
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

namespace redeye::protocols::mysql {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

using conn::ConnectionTracker;
using conn::DataStream;

struct CollectingSink : RecordSink {
  void on_record(const Record& record) override { records.push_back(record); }
  void on_request_started(Role) override { ++started; }
  void on_request_abandoned(Role, uint64_t count) override { abandoned += count; }
  std::vector<Record> records;
  uint64_t started = 0;
  uint64_t abandoned = 0;
};

constexpr Direction kSend = Direction::Send;
constexpr Direction kRecv = Direction::Recv;

// ---- packet builders ------------------------------------------------------------

constexpr uint16_t kAutocommit = 0x0002;
constexpr uint16_t kMoreResults = 0x0008;
constexpr uint16_t kCursorExists = 0x0040;

// What a MySQL 8 client and server announce (long password, found rows,
// long flag, connect with db, local files, 4.1 protocol, transactions,
// secure connection, multi statements and results, plugin auth, connect
// attributes, session tracking), without the flags tests vary.
constexpr uint32_t kBaseCapabilities = 0x00bfa28f;
constexpr uint32_t kServerCapabilities =
    kBaseCapabilities | kClientSsl | kClientCompress | kClientDeprecateEof | kClientQueryAttributes;
constexpr uint32_t kClassicClient = kBaseCapabilities;
constexpr uint32_t kDeprecateEofClient = kBaseCapabilities | kClientDeprecateEof;

std::string le(uint64_t value, size_t size) {
  std::string out;
  for (size_t i = 0; i < size; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
  return out;
}

std::string lenenc(uint64_t value) {
  if (value < 251) return std::string(1, static_cast<char>(value));
  if (value < (1u << 16)) return "\xfc" + le(value, 2);
  if (value < (1u << 24)) return "\xfd" + le(value, 3);
  return "\xfe" + le(value, 8);
}

std::string lenenc_string(std::string_view text) { return lenenc(text.size()) + std::string(text); }

std::string packet(uint8_t sequence, std::string_view payload) {
  return le(payload.size(), 3) + static_cast<char>(sequence) + std::string(payload);
}

std::string greeting(uint32_t capabilities = kServerCapabilities) {
  std::string p = "\x0a"s + "8.0.36" + '\0' + le(42, 4) + "abcdefgh" + '\0' + le(capabilities & 0xffff, 2) + '\xff' +
                  le(kAutocommit, 2) + le(capabilities >> 16, 2) + '\x15' + std::string(10, '\0') +
                  "ijklmnopqrst" + '\0' + "caching_sha2_password" + '\0';
  return packet(0, p);
}

std::string handshake_response(uint32_t capabilities) {
  std::string p = le(capabilities, 4) + le(16 * 1024 * 1024, 4) + '\xff' + std::string(23, '\0') + "app" + '\0' +
                  lenenc_string(std::string(32, 's')) + "shop" + '\0' + "caching_sha2_password" + '\0';
  return packet(1, p);
}

std::string ssl_request(uint32_t capabilities) {
  return packet(1, le(capabilities | kClientSsl, 4) + le(16 * 1024 * 1024, 4) + '\xff' + std::string(23, '\0'));
}

std::string ok(uint8_t sequence, uint16_t status = kAutocommit, uint64_t affected = 0, char header = '\x00',
               std::string_view info = {}) {
  return packet(sequence, header + lenenc(affected) + lenenc(0) + le(status, 2) + le(0, 2) + std::string(info));
}

std::string eof(uint8_t sequence, uint16_t status = kAutocommit) {
  return packet(sequence, "\xfe"s + le(0, 2) + le(status, 2));
}

std::string err(uint8_t sequence, uint16_t code, std::string_view state, std::string_view message) {
  return packet(sequence, "\xff"s + le(code, 2) + "#" + std::string(state) + std::string(message));
}

std::string command(uint8_t command_byte, std::string_view argument) {
  return packet(0, static_cast<char>(command_byte) + std::string(argument));
}
std::string query(std::string_view sql) { return command(kComQuery, sql); }
std::string prepare(std::string_view sql) { return command(kComStmtPrepare, sql); }
std::string execute(uint32_t id, uint8_t flags = 0) { return command(kComStmtExecute, le(id, 4) + char(flags) + le(1, 4)); }
std::string execute_with_param(uint32_t id, int64_t value) {
  // One LONGLONG parameter, types sent.
  return command(kComStmtExecute, le(id, 4) + '\x00' + le(1, 4) + '\x00' + '\x01' + "\x08\x00"s + le(value, 8));
}

std::string column_def(uint8_t sequence, std::string_view name, uint8_t type = 0xfd) {
  return packet(sequence, lenenc_string("def") + lenenc_string("shop") + lenenc_string("users") +
                              lenenc_string("users") + lenenc_string(name) + lenenc_string(name) + '\x0c' +
                              le(0xff, 2) + le(1024, 4) + static_cast<char>(type) + le(0, 2) + '\0' + le(0, 2));
}

std::string text_row(uint8_t sequence, const std::vector<std::string>& values) {
  std::string p;
  for (const std::string& value : values) p += lenenc_string(value);
  return packet(sequence, p);
}

// Binary row of (BIGINT id, VARCHAR name).
std::string binary_row(uint8_t sequence, int64_t id, std::string_view name) {
  return packet(sequence, "\x00\x00"s + le(static_cast<uint64_t>(id), 8) + lenenc_string(name));
}

// Sequence ids of one response, from 1.
struct Seq {
  uint8_t next = 1;
  uint8_t operator()() { return next++; }
};

// The end of a result set: EOF, or OK with header 0xFE under CLIENT_DEPRECATE_EOF.
std::string result_end(Seq& seq, bool deprecate_eof, uint16_t status = kAutocommit) {
  return deprecate_eof ? ok(seq(), status, 0, '\xfe') : eof(seq(), status);
}

std::string text_result(Seq& seq, const std::vector<std::string>& columns,
                        const std::vector<std::vector<std::string>>& rows, bool deprecate_eof,
                        uint16_t status = kAutocommit) {
  std::string out = packet(seq(), lenenc(columns.size()));
  for (const std::string& column : columns) out += column_def(seq(), column);
  if (!deprecate_eof) out += eof(seq());
  for (const auto& row : rows) out += text_row(seq(), row);
  return out + result_end(seq, deprecate_eof, status);
}

std::string binary_result(Seq& seq, const std::vector<std::pair<int64_t, std::string>>& rows, bool deprecate_eof) {
  std::string out = packet(seq(), lenenc(2)) + column_def(seq(), "id", 0x08) + column_def(seq(), "name");
  if (!deprecate_eof) out += eof(seq());
  for (const auto& [id, name] : rows) out += binary_row(seq(), id, name);
  return out + result_end(seq, deprecate_eof);
}

// COM_STMT_PREPARE_OK and its definitions.
std::string prepare_ok(uint32_t id, const std::vector<std::string>& params, const std::vector<std::string>& columns,
                       bool deprecate_eof) {
  Seq seq;
  std::string out = packet(seq(), "\x00"s + le(id, 4) + le(columns.size(), 2) + le(params.size(), 2) + '\0' + le(0, 2));
  for (const std::string& param : params) out += column_def(seq(), param);
  if (!params.empty() && !deprecate_eof) out += eof(seq());
  for (const std::string& column : columns) out += column_def(seq(), column);
  if (!columns.empty() && !deprecate_eof) out += eof(seq());
  return out;
}

const std::vector<std::vector<std::string>> kThreeUsers = {{"1", "ada"}, {"2", "grace"}, {"3", "linus"}};

// ---- the fixture ----------------------------------------------------------------

// One traced connection speaking MySQL, fed message by message.
class MysqlTest : public redeye::testing::ExchangeTest {
 protected:
  void open(Role role, MysqlParserOptions options = {}) {
    open_connection(REDEYE_PROTO_MYSQL, "mysql", make_factory(options), sink, role);
  }

  void from_client(std::string_view bytes, MessageTime time, uint64_t size = 0) {
    message(client_side(), bytes, time, size);
  }
  void from_server(std::string_view bytes, MessageTime time, uint64_t size = 0) {
    message(server_side(), bytes, time, size);
  }
  // Greeting, HandshakeResponse41 with `capabilities`, OK.
  void handshake(uint32_t capabilities) {
    from_server(greeting(), {1, 2});
    from_client(handshake_response(capabilities), {3, 4});
    from_server(ok(2), {5, 6});
  }

  const MysqlProtocolParser& parser() const { return parser_as<MysqlProtocolParser>(); }
  const MysqlStats& stats() const { return parser().stats(); }

  // Every byte either direction received was parsed or skipped, none lost.
  void expect_clean(Direction direction) const {
    const auto& s = stream(direction).stats();
    EXPECT_EQ(s.invalid_frames, 0u);
    EXPECT_EQ(s.gaps, 0u);
    EXPECT_EQ(s.bytes_discarded, 0u);
    EXPECT_EQ(stream(direction).buffered_bytes(), 0u);
    EXPECT_EQ(s.bytes_parsed + s.bytes_skipped, position(direction));
  }

  CollectingSink sink;
};

void expect_sql(const Record& r, std::string_view operation, std::string_view collection,
                std::string_view error_type = "") {
  EXPECT_EQ(r.protocol, "mysql");
  EXPECT_EQ(r.operation, operation);
  ASSERT_TRUE(r.sql.has_value());
  EXPECT_EQ(r.sql->system, "mysql");
  EXPECT_EQ(r.sql->operation, operation);
  EXPECT_EQ(r.sql->collection, collection);
  EXPECT_EQ(r.sql->error_type, error_type);
  EXPECT_EQ(r.error, !error_type.empty());
  EXPECT_EQ(r.status, error_type.empty() ? std::string("OK") : std::string(error_type));
  EXPECT_FALSE(r.http.has_value());
}

// ---- handshake and a query, both ends, both result set endings --------------------

using MysqlExchange = MysqlTest;

TEST_F(MysqlExchange, HandshakeThenSelectWithThreeRowsBothRolesAndBothEofStyles) {
  for (const Role role : {Role::Server, Role::Client}) {
    for (const bool deprecate_eof : {false, true}) {
      SCOPED_TRACE(std::string(role == Role::Server ? "server" : "client") +
                   (deprecate_eof ? ", CLIENT_DEPRECATE_EOF" : ", EOF packets"));
      sink = CollectingSink{};
      open(role);
      handshake(deprecate_eof ? kDeprecateEofClient : kClassicClient);
      EXPECT_EQ(sink.records.size(), 0u);
      EXPECT_TRUE(parser().in_command_phase());
      EXPECT_EQ(parser().deprecate_eof(), deprecate_eof);
      EXPECT_EQ(stats().handshakes, 1u);

      from_client(query("SELECT id, name FROM users WHERE id <= 3"), {1000, 1010});
      EXPECT_EQ(parser().pending_commands(), 1u);
      Seq seq;
      from_server(text_result(seq, {"id", "name"}, kThreeUsers, deprecate_eof), {2000, 2030});

      ASSERT_EQ(sink.records.size(), 1u);
      const Record& r = sink.records[0];
      expect_sql(r, "SELECT", "users");
      EXPECT_EQ(r.sql->statement, "SELECT id, name FROM users WHERE id <= 3");
      EXPECT_EQ(r.role, role);
      // A server's request starts when its read returned, a client's when its write began.
      EXPECT_EQ(r.request_ns, role == Role::Server ? 1010u : 1000u);
      EXPECT_EQ(r.response_ns, 2030u);
      EXPECT_EQ(stats().commands, 1u);
      EXPECT_EQ(stats().records, 1u);
      EXPECT_EQ(stats().requests_unanswered, 0u);
      EXPECT_EQ(stats().orphan_frames, 0u);
      EXPECT_EQ(parser().pending_commands(), 0u);
      EXPECT_EQ(sink.started, 1u);
      EXPECT_EQ(sink.abandoned, 0u);
      expect_clean(kSend);
      expect_clean(kRecv);
    }
  }
}

TEST_F(MysqlExchange, InsertAnsweredWithOk) {
  open(Role::Client);
  handshake(kDeprecateEofClient);
  sent(query("INSERT INTO orders (id, total) VALUES (1, 9.5), (2, 3)"), {100, 105});
  received(ok(1, kAutocommit, 2), {200, 220});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "INSERT", "orders");
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 220u);
  expect_clean(kRecv);
}

TEST_F(MysqlExchange, ErrorNumberIsTheErrorType) {
  open(Role::Server);
  handshake(kClassicClient);
  received(query("SELECT * FROM missing_table"), {100, 110});
  sent(err(1, 1146, "42S02", "Table 'shop.missing_table' doesn't exist"), {200, 210});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "SELECT", "missing_table", "1146");
  EXPECT_TRUE(sink.records[0].error);
  EXPECT_EQ(sink.records[0].status, "1146");
  EXPECT_EQ(stats().error_responses, 1u);
  EXPECT_EQ(sink.records[0].request_ns, 110u);
  EXPECT_EQ(sink.records[0].response_ns, 210u);
}

TEST_F(MysqlExchange, PrepareThreeExecutesWithBinaryRowsAndClose) {
  for (const bool deprecate_eof : {false, true}) {
    SCOPED_TRACE(deprecate_eof ? "CLIENT_DEPRECATE_EOF" : "EOF packets");
    sink = CollectingSink{};
    open(Role::Client);
    handshake(deprecate_eof ? kDeprecateEofClient : kClassicClient);

    sent(prepare("SELECT id, name FROM users WHERE id = ?"), {100, 101});
    received(prepare_ok(7, {"?"}, {"id", "name"}, deprecate_eof), {200, 202});
    ASSERT_EQ(sink.records.size(), 1u);
    expect_sql(sink.records[0], "PREPARE", "users");
    EXPECT_EQ(sink.records[0].response_ns, 202u);
    EXPECT_EQ(parser().prepared_statements(), 1u);

    for (uint64_t i = 1; i <= 3; ++i) {
      SCOPED_TRACE(i);
      sent(execute_with_param(7, static_cast<int64_t>(i)), {1000 * i, 1000 * i + 1});
      Seq seq;
      received(binary_result(seq, {{static_cast<int64_t>(i), "user" + std::to_string(i)}}, deprecate_eof),
               {1000 * i + 500, 1000 * i + 505});
      ASSERT_EQ(sink.records.size(), 1 + i);
      expect_sql(sink.records[i], "SELECT", "users");
      // an execute shows its prepared statement's text
      EXPECT_EQ(sink.records[i].sql->statement, "SELECT id, name FROM users WHERE id = ?");
      EXPECT_EQ(sink.records[i].request_ns, 1000 * i);
      EXPECT_EQ(sink.records[i].response_ns, 1000 * i + 505);
    }

    sent(command(kComStmtClose, le(7, 4)), {5000, 5001});
    EXPECT_EQ(parser().prepared_statements(), 0u);
    EXPECT_EQ(parser().pending_commands(), 0u);
    EXPECT_EQ(sink.records.size(), 4u);
    EXPECT_EQ(stats().commands, 5u);
    EXPECT_EQ(stats().statements_prepared, 1u);
    EXPECT_EQ(stats().statements_unknown, 0u);
    EXPECT_EQ(sink.started, 4u);  // the close waits for nothing

    // An execution after the close no longer knows the statement.
    sent(execute(7), {6000, 6001});
    received(err(1, 1243, "HY000", "Unknown prepared statement handler (7) given to mysqld_stmt_execute"),
             {6100, 6101});
    ASSERT_EQ(sink.records.size(), 5u);
    expect_sql(sink.records[4], "EXECUTE", "", "1243");
    EXPECT_EQ(stats().statements_unknown, 1u);
    expect_clean(kSend);
    expect_clean(kRecv);
  }
}

TEST_F(MysqlExchange, PingInitDbAndOtherCommands) {
  open(Role::Server);
  handshake(kDeprecateEofClient);
  received(command(kComPing, ""), {100, 101});
  sent(ok(1), {110, 111});
  received(command(kComInitDb, "inventory"), {200, 201});
  sent(ok(1), {210, 211});
  received(command(kComStatistics, ""), {300, 301});
  sent(packet(1, "Uptime: 5  Threads: 1  Questions: 9"), {310, 311});
  received(command(kComSetOption, le(1, 2)), {400, 401});
  sent(eof(1), {410, 411});
  received(command(kComResetConnection, ""), {500, 501});
  sent(ok(1), {510, 511});

  ASSERT_EQ(sink.records.size(), 5u);
  expect_sql(sink.records[0], "PING", "");
  EXPECT_EQ(sink.records[0].request_ns, 101u);
  EXPECT_EQ(sink.records[0].response_ns, 111u);
  expect_sql(sink.records[1], "USE", "");
  expect_sql(sink.records[2], "OTHER", "");
  EXPECT_EQ(sink.records[2].response_ns, 311u);
  expect_sql(sink.records[3], "OTHER", "");
  expect_sql(sink.records[4], "OTHER", "");
  EXPECT_EQ(sink.records[4].response_ns, 511u);
  expect_clean(kSend);
  expect_clean(kRecv);
}

TEST_F(MysqlExchange, QuitGetsNoRecordAndLeavesNothingPending) {
  open(Role::Client);
  handshake(kClassicClient);
  sent(command(kComQuit, ""), {100, 101});
  close();
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().commands, 1u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
  EXPECT_EQ(sink.started, 0u);
}

TEST_F(MysqlExchange, CallWithSeveralResultSetsIsOneRecordEndingWithTheLastPacket) {
  for (const bool deprecate_eof : {false, true}) {
    SCOPED_TRACE(deprecate_eof ? "CLIENT_DEPRECATE_EOF" : "EOF packets");
    sink = CollectingSink{};
    open(Role::Server);
    handshake(deprecate_eof ? kDeprecateEofClient : kClassicClient);
    received(query("CALL report_orders(2024)"), {100, 110});

    Seq seq;
    const std::string first = text_result(seq, {"month", "total"}, {{"1", "10"}, {"2", "20"}}, deprecate_eof,
                                          kAutocommit | kMoreResults);
    const std::string second = text_result(seq, {"customer"}, {{"ada"}}, deprecate_eof, kAutocommit | kMoreResults);
    const std::string last = ok(seq(), kAutocommit);
    sent(first, {200, 201});
    EXPECT_EQ(sink.records.size(), 0u);
    sent(second, {300, 301});
    EXPECT_EQ(sink.records.size(), 0u);
    sent(last, {400, 402});

    ASSERT_EQ(sink.records.size(), 1u);
    expect_sql(sink.records[0], "CALL", "");
    EXPECT_EQ(sink.records[0].request_ns, 110u);
    EXPECT_EQ(sink.records[0].response_ns, 402u);

    // The connection goes on.
    received(query("SELECT 1"), {500, 510});
    Seq next;
    sent(text_result(next, {"1"}, {{"1"}}, deprecate_eof), {600, 601});
    ASSERT_EQ(sink.records.size(), 2u);
    EXPECT_EQ(sink.records[1].response_ns, 601u);
    expect_clean(kSend);
  }
}

TEST_F(MysqlExchange, MultiStatementQueryWithOkAndResultSet) {
  open(Role::Client);
  handshake(kDeprecateEofClient);
  sent(query("UPDATE stock SET n = n - 1 WHERE id = 4; SELECT n FROM stock WHERE id = 4"), {100, 101});
  Seq seq;
  const std::string update = ok(seq(), kAutocommit | kMoreResults, 1);
  received(update + text_result(seq, {"n"}, {{"41"}}, true), {200, 203});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "UPDATE", "stock");
  EXPECT_EQ(sink.records[0].response_ns, 203u);
}

// ---- framing: large rows, splits, several packets per message ---------------------

using MysqlFraming = MysqlTest;

// The bytes of a long stream, most of them never held in memory: real bytes
// where the parser looks, filler elsewhere.
class VirtualStream {
 public:
  void bytes(std::string data) {
    size_ += data.size();
    parts_.push_back({size_ - data.size(), std::move(data), 0});
  }
  void filler(uint64_t count) {
    parts_.push_back({size_, std::string(), count});
    size_ += count;
  }
  uint64_t size() const { return size_; }
  // `count` bytes from `position` ('x' for filler).
  std::string slice(uint64_t position, uint64_t count) const {
    std::string out;
    for (const Part& part : parts_) {
      const uint64_t part_size = part.data.empty() ? part.filler : part.data.size();
      const uint64_t begin = std::max(position, part.start);
      const uint64_t end = std::min(position + count, part.start + part_size);
      if (begin >= end) continue;
      if (part.data.empty()) {
        out.append(end - begin, 'x');
      } else {
        out.append(part.data, begin - part.start, end - begin);
      }
    }
    return out;
  }

 private:
  struct Part {
    uint64_t start;
    std::string data;
    uint64_t filler;
  };
  std::vector<Part> parts_;
  uint64_t size_ = 0;
};

// A 20 MiB value: its row is one packet of 16 MiB - 1 and a continuation.
constexpr uint64_t kBigValue = 20 * 1024 * 1024;
constexpr uint64_t kBigRow = 9 + kBigValue;  // a 0xFE length-encoded string
constexpr uint64_t kSecondPart = kBigRow - kMaxPayload;

// SELECT of one 20 MiB value: column count, definition, EOF, the row in two
// packets, EOF. `row_start` and `second_start` get the stream offsets of
// the two row packets.
VirtualStream big_row_response(uint64_t& row_start, uint64_t& second_start) {
  VirtualStream stream;
  stream.bytes(packet(1, "\x01") + column_def(2, "payload", 0xfb) + eof(3));
  row_start = stream.size();
  stream.bytes(le(kMaxPayload, 3) + '\x04' + lenenc(kBigValue));
  stream.filler(kMaxPayload - 9);
  second_start = stream.size();
  stream.bytes(le(kSecondPart, 3) + '\x05');
  stream.filler(kSecondPart);
  stream.bytes(eof(6));
  return stream;
}

TEST_F(MysqlFraming, TwentyMegabyteRowInTwoPacketsWithCapturedPrefixesOf128Bytes) {
  uint64_t row_start = 0;
  uint64_t second_start = 0;
  const VirtualStream response = big_row_response(row_start, second_start);
  ASSERT_EQ(second_start - row_start, 4 + kMaxPayload);
  ASSERT_EQ(response.size(), second_start + 4 + kSecondPart + 9);

  open(Role::Client);
  handshake(kClassicClient);
  sent(query("SELECT payload FROM blobs WHERE id = 1"), {100, 101});

  // As libmysqlclient reads it: 16 KiB through its buffer, the rest of the
  // packet directly in 1 MiB reads, the next header through the buffer again.
  std::vector<uint64_t> ends;
  for (const uint64_t packet_end : {second_start, response.size() - 9}) {
    const uint64_t start = ends.empty() ? 0 : ends.back();
    ends.push_back(start + 16384);
    while (ends.back() < packet_end) ends.push_back(std::min(ends.back() + (1 << 20), packet_end));
  }
  ends.push_back(response.size());

  uint64_t at = 0;
  uint64_t time = 1000;
  for (size_t i = 0; i < ends.size(); ++i) {
    const uint64_t size = ends[i] - at;
    received(response.slice(at, std::min<uint64_t>(size, 128)), {time, time + 5}, size);
    EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);
    EXPECT_LE(stream(kRecv).timed_messages(), 2u);
    EXPECT_EQ(sink.records.size(), i + 1 == ends.size() ? 1u : 0u) << "message " << i;
    at = ends[i];
    time += 100;
  }

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "SELECT", "blobs");
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, time - 100 + 5);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
  EXPECT_EQ(stream(kRecv).stats().bytes_missing, 0u);
  EXPECT_GT(stream(kRecv).stats().bytes_skipped, kBigRow - 20);
  expect_clean(kRecv);

  // The connection goes on after the row.
  sent(query("SELECT 1"), {9000, 9001});
  Seq seq;
  received(text_result(seq, {"1"}, {{"1"}}, false), {9100, 9102});
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].response_ns, 9102u);
}

TEST_F(MysqlFraming, TwentyMegabyteRowWhoseSecondHeaderWasNotCapturedEndsWithItsEof) {
  uint64_t row_start = 0;
  uint64_t second_start = 0;
  const VirtualStream response = big_row_response(row_start, second_start);
  open(Role::Server);
  handshake(kClassicClient);
  received(query("SELECT payload FROM blobs WHERE id = 1"), {100, 101});

  // A server writing 3 MiB at a time: the second packet's header sits in an
  // uncaptured middle; the final EOF is written on its own.
  uint64_t at = 0;
  uint64_t time = 1000;
  while (at < response.size() - 9) {
    const uint64_t size = std::min<uint64_t>(3 << 20, response.size() - 9 - at);
    sent(response.slice(at, std::min<uint64_t>(size, 128)), {time, time + 7}, size);
    at += size;
    time += 100;
  }
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_GE(stream(kSend).stats().gaps, 1u);
  sent(response.slice(at, 9), {time, time + 7});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "SELECT", "blobs");
  EXPECT_EQ(sink.records[0].request_ns, 101u);
  EXPECT_EQ(sink.records[0].response_ns, time + 7);
  EXPECT_EQ(stats().ends_inferred, 0u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(MysqlFraming, EveryThreeWaySplitOfAResultSetGivesTheSameRecord) {
  Seq seq;
  const std::string response = text_result(seq, {"id", "name"}, kThreeUsers, false);
  for (size_t first = 0; first <= response.size(); ++first) {
    for (size_t second = first; second <= response.size(); ++second) {
      SCOPED_TRACE("split at " + std::to_string(first) + "," + std::to_string(second));
      sink = CollectingSink{};
      open(Role::Client);
      handshake(kClassicClient);
      sent(query("SELECT id, name FROM users"), {10, 11});
      const std::string_view all = response;
      const std::string_view parts[] = {all.substr(0, first), all.substr(first, second - first), all.substr(second)};
      uint64_t last_exit = 0;
      for (uint64_t i = 0; i < 3; ++i) {
        if (parts[i].empty()) continue;
        received(parts[i], {100 * (i + 1), 100 * (i + 1) + 1});
        last_exit = 100 * (i + 1) + 1;
      }
      ASSERT_EQ(sink.records.size(), 1u);
      expect_sql(sink.records[0], "SELECT", "users");
      EXPECT_EQ(sink.records[0].request_ns, 10u);
      EXPECT_EQ(sink.records[0].response_ns, last_exit);
      expect_clean(kRecv);
    }
  }
}

// Every way of cutting two commands and their answers into three messages
// per direction: each command starts with the message holding its first byte,
// each answer ends with the message holding its last byte.
TEST_F(MysqlFraming, EveryThreeWaySplitOfPipelinedPrepareAndExecute) {
  // MariaDB pipelines them, the execution naming "the statement just prepared".
  const std::string requests = prepare("SELECT name FROM users WHERE id = ?") + execute_with_param(0xffffffff, 3);
  const size_t second_command = prepare("SELECT name FROM users WHERE id = ?").size();
  Seq seq;
  const std::string prepared = prepare_ok(3, {"?"}, {"name"}, true);
  const std::string responses = prepared + binary_result(seq, {{3, "linus"}}, true);
  for (size_t first = 0; first <= requests.size(); first += 3) {
    for (size_t second = first; second <= requests.size(); second += 3) {
      for (const size_t cut : {size_t{0}, size_t{5}, prepared.size() - 1, prepared.size(), prepared.size() + 9}) {
        SCOPED_TRACE("split at " + std::to_string(first) + "," + std::to_string(second) + "; answers at " +
                     std::to_string(cut));
        sink = CollectingSink{};
        open(Role::Server);
        handshake(kDeprecateEofClient);
        const std::string_view all = requests;
        const std::string_view parts[] = {all.substr(0, first), all.substr(first, second - first),
                                          all.substr(second)};
        for (uint64_t i = 0; i < 3; ++i) {
          if (!parts[i].empty()) received(parts[i], {100 * (i + 1), 100 * (i + 1) + 1});
        }
        EXPECT_EQ(parser().pending_commands(), 2u);
        const std::string_view answers = responses;
        if (cut > 0) sent(answers.substr(0, cut), {1000, 1001});
        sent(answers.substr(cut), {2000, 2002});

        ASSERT_EQ(sink.records.size(), 2u);
        const uint64_t prepare_message = first > 0 ? 1 : second > 0 ? 2 : 3;
        const uint64_t execute_message = second_command < first ? 1 : second_command < second ? 2 : 3;
        EXPECT_EQ(sink.records[0].request_ns, 100 * prepare_message + 1);
        EXPECT_EQ(sink.records[1].request_ns, 100 * execute_message + 1);
        expect_sql(sink.records[0], "PREPARE", "users");
        expect_sql(sink.records[1], "SELECT", "users");
        EXPECT_EQ(sink.records[0].response_ns, cut >= prepared.size() ? 1001u : 2002u);
        EXPECT_EQ(sink.records[1].response_ns, 2002u);
        expect_clean(kRecv);
        expect_clean(kSend);
      }
    }
  }
}

// A whole conversation, one message per step; then again with one message
// cut in two at every offset, for every message. The records are the same,
// and an answer cut in two ends with the message holding its last byte.
TEST_F(MysqlFraming, EveryTwoWaySplitOfEveryMessageOfAConversation) {
  struct Step {
    bool client;
    std::string bytes;
    int record = -1;  // index of the record this step's message ends
  };
  struct Expected {
    const char* operation;
    const char* collection;
    const char* error_type;
  };
  const Expected expected[] = {{"SELECT", "users", ""}, {"PREPARE", "users", ""}, {"SELECT", "users", ""},
                               {"INSERT", "orders", ""}, {"CALL", "", ""}, {"SELECT", "missing", "1146"},
                               {"PING", "", ""}};
  for (const bool deprecate_eof : {false, true}) {
    Seq select;
    Seq execute_seq;
    Seq call;
    const std::string call_answer =
        text_result(call, {"a"}, {{"1"}}, deprecate_eof, kAutocommit | kMoreResults) +
        text_result(call, {"b", "c"}, {{"2", "3"}, {"4", "5"}}, deprecate_eof, kAutocommit | kMoreResults) +
        ok(call());
    const std::vector<Step> steps = {
        {false, greeting()},
        {true, handshake_response(deprecate_eof ? kDeprecateEofClient : kClassicClient)},
        {false, ok(2)},
        {true, query("SELECT id, name FROM users")},
        {false, text_result(select, {"id", "name"}, kThreeUsers, deprecate_eof), 0},
        {true, prepare("SELECT id, name FROM users WHERE id = ?")},
        {false, prepare_ok(1, {"?"}, {"id", "name"}, deprecate_eof), 1},
        {true, execute_with_param(1, 2)},
        {false, binary_result(execute_seq, {{2, "grace"}}, deprecate_eof), 2},
        {true, query("INSERT INTO orders VALUES (1)")},
        {false, ok(1, kAutocommit, 1), 3},
        {true, query("CALL p()")},
        {false, call_answer, 4},
        {true, query("SELECT * FROM missing")},
        {false, err(1, 1146, "42S02", "Table 'shop.missing' doesn't exist"), 5},
        {true, command(kComPing, "")},
        {false, ok(1), 6},
        {true, command(kComStmtClose, le(1, 4))},
    };
    for (const Role role : {Role::Server, Role::Client}) {
      for (size_t cut_step = 0; cut_step <= steps.size(); ++cut_step) {
        const size_t cut_size = cut_step < steps.size() ? steps[cut_step].bytes.size() : 2;
        for (size_t cut = 1; cut < cut_size; ++cut) {
          SCOPED_TRACE(std::string(role == Role::Server ? "server" : "client") +
                       (deprecate_eof ? ", CLIENT_DEPRECATE_EOF" : "") + ", message " + std::to_string(cut_step) +
                       " cut at " + std::to_string(cut));
          sink = CollectingSink{};
          open(role);
          for (size_t i = 0; i < steps.size(); ++i) {
            const std::string_view bytes = steps[i].bytes;
            const MessageTime time{100 * i, 100 * i + 1};
            const MessageTime later{100 * i + 50, 100 * i + 51};
            auto deliver = [&](std::string_view part, MessageTime t) {
              if (steps[i].client) {
                from_client(part, t);
              } else {
                from_server(part, t);
              }
            };
            if (i == cut_step) {
              deliver(bytes.substr(0, cut), time);
              deliver(bytes.substr(cut), later);
            } else {
              deliver(bytes, time);
            }
          }
          ASSERT_EQ(sink.records.size(), std::size(expected));
          for (size_t i = 0; i < steps.size(); ++i) {
            if (steps[i].record < 0) continue;
            const Record& r = sink.records[steps[i].record];
            const Expected& e = expected[steps[i].record];
            expect_sql(r, e.operation, e.collection, e.error_type);
            EXPECT_EQ(r.role, role);
            // The command is the step before; its first byte is always in its first part.
            EXPECT_EQ(r.request_ns, 100 * (i - 1) + (role == Role::Server ? 1 : 0));
            EXPECT_EQ(r.response_ns, 100 * i + (i == cut_step ? 51 : 1));
          }
          EXPECT_EQ(parser().prepared_statements(), 0u);
          EXPECT_EQ(parser().pending_commands(), 0u);
          EXPECT_EQ(stats().requests_unanswered, 0u);
          expect_clean(kSend);
          expect_clean(kRecv);
        }
      }
    }
  }
}

TEST_F(MysqlFraming, SeveralExchangesInFewMessagesAndPacketsCutAtAwkwardPlaces) {
  open(Role::Client);
  // The handshake itself cut mid-header and mid-payload.
  const std::string hello = greeting();
  received(hello.substr(0, 2), {1, 1});
  received(hello.substr(2, 20), {2, 2});
  received(hello.substr(22), {3, 3});
  const std::string response = handshake_response(kDeprecateEofClient);
  sent(response.substr(0, 3), {4, 4});
  sent(response.substr(3), {5, 5});
  received(ok(2), {6, 6});
  ASSERT_TRUE(parser().in_command_phase());
  EXPECT_EQ(parser().deprecate_eof(), true);

  // One command cut after its header, its answer cut after each header byte.
  const std::string insert = query("INSERT INTO log (msg) VALUES ('a')");
  sent(insert.substr(0, 4), {100, 100});
  sent(insert.substr(4), {101, 102});
  const std::string answer = ok(1, kAutocommit, 1);
  for (size_t i = 0; i < answer.size(); ++i) received(answer.substr(i, 1), {200 + i, 200 + i});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 200 + answer.size() - 1);

  // Two commands in one message; their answers in one message that ends
  // inside the second one's header, its end in the next.
  sent(query("DELETE FROM log WHERE id = 1") + query("DELETE FROM log WHERE id = 2"), {300, 301});
  const std::string two = ok(1, kAutocommit, 1) + ok(1, kAutocommit, 1);
  received(std::string_view(two).substr(0, 14), {400, 401});
  EXPECT_EQ(sink.records.size(), 2u);
  received(std::string_view(two).substr(14), {600, 601});
  ASSERT_EQ(sink.records.size(), 3u);
  expect_sql(sink.records[1], "DELETE", "log");
  EXPECT_EQ(sink.records[1].response_ns, 401u);
  expect_sql(sink.records[2], "DELETE", "log");
  EXPECT_EQ(sink.records[2].request_ns, 300u);
  EXPECT_EQ(sink.records[2].response_ns, 601u);
  expect_clean(kSend);
  expect_clean(kRecv);
}

TEST_F(MysqlFraming, FinalPacketWhoseTailComesLaterEndsWithIt) {
  open(Role::Client);
  handshake(kClassicClient);
  sent(query("SELECT * FROM users WHERE id = 1 FOR UPDATE NOWAIT"), {100, 101});
  const std::string refusal =
      err(1, 3572, "HY000", "Statement aborted because lock(s) could not be acquired immediately and NOWAIT is set.");
  received(refusal.substr(0, 20), {200, 202});
  EXPECT_EQ(sink.records.size(), 0u);
  received(refusal.substr(20), {300, 303});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "SELECT", "users", "3572");
  EXPECT_EQ(sink.records[0].response_ns, 303u);
  expect_clean(kRecv);
}

TEST_F(MysqlFraming, StatementLongerThanTheCaptureIsSummarisedFromItsHead) {
  open(Role::Client);
  handshake(kDeprecateEofClient);
  std::string sql = "INSERT INTO events (id, body) VALUES ";
  for (int i = 0; i < 500; ++i) sql += "(" + std::to_string(i) + ", 'some event body text'),";
  sql.back() = ';';
  const std::string bulk = query(sql);
  ASSERT_GT(bulk.size(), 10000u);
  sent(std::string_view(bulk).substr(0, 2048), {100, 101}, bulk.size());  // --capture-bytes 2048
  received(ok(1, kAutocommit, 500), {200, 202});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "INSERT", "events");
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 202u);
  EXPECT_EQ(stream(kSend).stats().gaps, 0u);
  EXPECT_EQ(stream(kSend).stats().bytes_parsed + stream(kSend).stats().bytes_skipped, position(kSend));
}

TEST_F(MysqlFraming, CommandOfSixteenMegabytesContinuesInTheNextPacket) {
  open(Role::Server);
  handshake(kClassicClient);
  // A 17 MiB INSERT: one full packet and a continuation, 4 KiB captured each write.
  const uint64_t total = 17 << 20;
  const std::string head = le(kMaxPayload, 3) + '\x00' + '\x03' + "INSERT INTO images (data) VALUES (x'";
  std::string first_capture = head + std::string(4096 - head.size(), 'a');
  received(first_capture, {100, 110}, 4 + kMaxPayload);
  const uint64_t rest = total + 1 - kMaxPayload;
  received(le(rest, 3) + '\x01' + std::string(100, 'a'), {120, 130}, 4 + rest);
  EXPECT_EQ(parser().pending_commands(), 1u);
  sent(ok(2, kAutocommit, 1), {200, 210});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "INSERT", "images");
  EXPECT_EQ(sink.records[0].request_ns, 110u);
  EXPECT_EQ(sink.records[0].response_ns, 210u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
}

TEST_F(MysqlFraming, QueryAttributesBeforeTheText) {
  open(Role::Client);
  handshake(kDeprecateEofClient | kClientQueryAttributes);
  // No attribute, then one (a trace id) before the text.
  sent(command(kComQuery, "\x00\x01"s + "SELECT * FROM carts"), {100, 101});
  received(ok(1), {110, 111});
  sent(command(kComQuery, "\x01\x01\x00\x01\xfd\x00"s + "\x05trace" + "\x06" "00-abc" + "UPDATE carts SET n = 2"),
       {200, 201});
  received(ok(1), {210, 211});

  ASSERT_EQ(sink.records.size(), 2u);
  expect_sql(sink.records[0], "SELECT", "carts");
  expect_sql(sink.records[1], "UPDATE", "carts");
}

// ---- statements ---------------------------------------------------------------------

using MysqlStatements = MysqlTest;

TEST_F(MysqlStatements, OverTheCapTheOldestStatementIsForgotten) {
  MysqlParserOptions options;
  options.max_prepared_statements = 2;
  open(Role::Client, options);
  handshake(kDeprecateEofClient);
  const char* tables[] = {"a", "b", "c"};
  for (uint32_t id = 1; id <= 3; ++id) {
    sent(prepare("DELETE FROM "s + tables[id - 1] + " WHERE id = ?"), {100 * id, 100 * id + 1});
    received(prepare_ok(id, {"?"}, {}, true), {100 * id + 50, 100 * id + 51});
  }
  EXPECT_EQ(parser().prepared_statements(), 2u);
  EXPECT_EQ(stats().statements_evicted, 1u);
  for (uint32_t id = 1; id <= 3; ++id) {
    sent(execute_with_param(id, 9), {1000 * id, 1000 * id + 1});
    received(ok(1, kAutocommit, 1), {1000 * id + 50, 1000 * id + 51});
  }
  ASSERT_EQ(sink.records.size(), 6u);
  expect_sql(sink.records[3], "EXECUTE", "");
  expect_sql(sink.records[4], "DELETE", "b");
  expect_sql(sink.records[5], "DELETE", "c");
  EXPECT_EQ(stats().statements_unknown, 1u);
}

TEST_F(MysqlStatements, PreparedStatementsOfAConnectionOlderThanTheAgentLearnTheEofStyle) {
  // No handshake seen: whether definitions end with an EOF is learnt.
  open(Role::Client);
  sent(prepare("INSERT INTO t (a, b) VALUES (?, ?)"), {100, 101});
  received(prepare_ok(1, {"?", "?"}, {}, false).substr(0, 4 + 12 + 2 * column_def(0, "?").size()), {200, 202});
  ASSERT_EQ(sink.records.size(), 1u);  // ends with its last definition while the style is unknown
  EXPECT_EQ(sink.records[0].response_ns, 202u);
  received(eof(4), {210, 212});  // the EOF after all
  EXPECT_EQ(parser().deprecate_eof(), false);
  EXPECT_EQ(stats().orphan_frames, 0u);

  sent(prepare("SELECT a FROM t WHERE b = ?"), {300, 301});
  received(prepare_ok(2, {"?"}, {"a"}, false), {400, 402});
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].response_ns, 402u);
  sent(execute_with_param(2, 1), {500, 501});
  Seq seq;
  received(binary_result(seq, {{1, "x"}}, false), {600, 602});
  ASSERT_EQ(sink.records.size(), 3u);
  expect_sql(sink.records[2], "SELECT", "t");
  EXPECT_EQ(sink.records[2].response_ns, 602u);
  expect_clean(kRecv);
}

TEST_F(MysqlStatements, CursorThenFetch) {
  open(Role::Client);
  handshake(kClassicClient);
  sent(prepare("SELECT id, name FROM users"), {100, 101});
  received(prepare_ok(5, {}, {"id", "name"}, false), {110, 111});
  sent(execute(5, 1 /* CURSOR_TYPE_READ_ONLY */), {200, 201});
  received(packet(1, "\x02") + column_def(2, "id", 0x08) + column_def(3, "name") + eof(4, kAutocommit | kCursorExists),
           {210, 211});
  ASSERT_EQ(sink.records.size(), 2u);
  expect_sql(sink.records[1], "SELECT", "users");
  EXPECT_EQ(sink.records[1].response_ns, 211u);

  sent(command(kComStmtFetch, le(5, 4) + le(100, 4)), {300, 301});
  received(binary_row(1, 1, "ada") + binary_row(2, 2, "grace") + eof(3, kAutocommit | kCursorExists | 0x80),
           {310, 311});
  ASSERT_EQ(sink.records.size(), 3u);
  expect_sql(sink.records[2], "OTHER", "");
  EXPECT_EQ(sink.records[2].response_ns, 311u);
  expect_clean(kRecv);
}

TEST_F(MysqlStatements, ChangeUserWithAnAuthSwitchForgetsStatements) {
  open(Role::Server);
  handshake(kDeprecateEofClient);
  received(prepare("SELECT 1"), {50, 51});
  sent(prepare_ok(1, {}, {"1"}, true), {60, 61});
  EXPECT_EQ(parser().prepared_statements(), 1u);

  received(command(kComChangeUser, "bob"s + '\0' + "\x14" + std::string(20, 'p') + "shop" + '\0'), {100, 101});
  sent(packet(1, "\xfe"s + "mysql_native_password" + '\0' + std::string(20, 'n') + '\0'), {110, 111});
  received(packet(2, std::string(20, 'r')), {120, 121});
  sent(ok(3), {130, 131});

  ASSERT_EQ(sink.records.size(), 2u);
  expect_sql(sink.records[1], "OTHER", "");
  EXPECT_EQ(sink.records[1].request_ns, 101u);
  EXPECT_EQ(sink.records[1].response_ns, 131u);
  EXPECT_EQ(parser().prepared_statements(), 0u);
  expect_clean(kRecv);
  expect_clean(kSend);
}

TEST_F(MysqlStatements, LocalInfileUploadIsPartOfTheCommand) {
  open(Role::Client);
  handshake(kDeprecateEofClient);
  sent(query("LOAD DATA LOCAL INFILE '/tmp/rows.csv' INTO TABLE imports"), {100, 101});
  received(packet(1, "\xfb/tmp/rows.csv"), {200, 201});
  // 300 packets of the file: their sequence ids wrap through 0, and the
  // contents look like commands.
  std::string file;
  uint8_t sequence = 2;
  for (int i = 0; i < 300; ++i) file += packet(sequence++, "\x03SELECT 1,2\n");
  file += packet(sequence++, "");
  sent(std::string_view(file).substr(0, 1000), {300, 301});
  sent(std::string_view(file).substr(1000), {310, 311});
  EXPECT_EQ(sink.records.size(), 0u);
  received(ok(sequence, kAutocommit, 300), {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "OTHER", "");
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 404u);
  EXPECT_EQ(stats().local_infile_requests, 1u);
  EXPECT_EQ(stats().commands, 1u);
  expect_clean(kSend);

  sent(query("SELECT COUNT(*) FROM imports"), {500, 501});
  Seq seq;
  received(text_result(seq, {"COUNT(*)"}, {{"300"}}, true), {600, 601});
  ASSERT_EQ(sink.records.size(), 2u);
  expect_sql(sink.records[1], "SELECT", "imports");
}

// ---- gaps, lost ends, resync ------------------------------------------------------

using MysqlGaps = MysqlTest;

TEST_F(MysqlGaps, CommandCutByAGapIsDroppedAndTheNextOneParsed) {
  open(Role::Server);
  handshake(kClassicClient);
  const std::string lost = query("SELECT * FROM accounts WHERE owner = 'somebody'");
  received(std::string_view(lost).substr(0, 10), {100, 101});
  lose(kRecv, lost.size() - 10);
  sent(err(1, 1054, "42S22", "Unknown column"), {200, 202});  // its answer: nothing waits for it
  const std::string garbage = "\x17\x03\x03\x00\x20garbage"s;
  received(garbage + query("SELECT * FROM accounts"), {300, 303});
  Seq seq;
  sent(text_result(seq, {"id"}, {{"1"}}, false), {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "SELECT", "accounts");
  EXPECT_EQ(sink.records[0].request_ns, 303u);
  EXPECT_EQ(sink.records[0].response_ns, 404u);
  EXPECT_EQ(stats().orphan_frames, 1u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
  EXPECT_EQ(stream(kRecv).stats().bytes_discarded, 10u + garbage.size());
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(MysqlGaps, GapInsideRowsResyncsOnTheEofAtTheEnd) {
  open(Role::Client);
  handshake(kClassicClient);
  sent(query("SELECT id, name FROM users"), {100, 101});
  Seq seq;
  const std::string response = text_result(seq, {"id", "name"}, kThreeUsers, false);
  const size_t cut = response.size() - 20;  // inside the third row; 8 bytes before it, in the second
  received(std::string_view(response).substr(0, cut - 8), {200, 202});
  lose(kRecv, 8);
  received(std::string_view(response).substr(cut), {300, 303});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "SELECT", "users");
  EXPECT_EQ(sink.records[0].response_ns, 303u);
  EXPECT_EQ(stats().ends_inferred, 0u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
}

TEST_F(MysqlGaps, ManyRowsInWritesLongerThanTheCapture) {
  for (const bool eof_captured : {true, false}) {
    SCOPED_TRACE(eof_captured ? "the last write is captured whole" : "the EOF is beyond the capture");
    sink = CollectingSink{};
    open(Role::Server);
    handshake(kClassicClient);
    received(query("SELECT id, body FROM posts"), {100, 101});
    // The server's 16 KiB net buffer: full writes, then the rest with the EOF.
    std::vector<std::vector<std::string>> rows;
    const int count = eof_captured ? 80 : 100;
    for (int i = 0; i < count; ++i) rows.push_back({std::to_string(i), std::string(200, 'b')});
    Seq seq;
    const std::string response = text_result(seq, {"id", "body"}, rows, false);
    ASSERT_EQ(response.size() - 16384 < 2048, eof_captured);
    sent(std::string_view(response).substr(0, 2048), {200, 201}, 16384);
    const std::string_view rest = std::string_view(response).substr(16384);
    sent(rest.substr(0, 2048), {300, 302}, rest.size());
    EXPECT_EQ(sink.records.size(), eof_captured ? 1u : 0u);
    EXPECT_EQ(stream(kSend).stats().gaps, eof_captured ? 1u : 2u);

    // The next command: the previous answer must have been read whole.
    received(query("SELECT 1"), {400, 401});
    ASSERT_EQ(sink.records.size(), 1u);
    expect_sql(sink.records[0], "SELECT", "posts");
    EXPECT_EQ(sink.records[0].request_ns, 101u);
    EXPECT_EQ(sink.records[0].response_ns, 302u);
    EXPECT_EQ(stats().ends_inferred, eof_captured ? 0u : 1u);

    Seq next;
    sent(text_result(next, {"1"}, {{"1"}}, false), {500, 505});
    ASSERT_EQ(sink.records.size(), 2u);
    EXPECT_EQ(sink.records[1].request_ns, 401u);
    EXPECT_EQ(sink.records[1].response_ns, 505u);
    EXPECT_EQ(stats().requests_unanswered, 0u);
  }
}

TEST_F(MysqlGaps, AnswerLostFromItsStartIsGivenUp) {
  open(Role::Client);
  handshake(kClassicClient);
  sent(query("UPDATE a SET x = 1"), {100, 101});
  lose(kRecv, ok(1, kAutocommit, 1).size());
  sent(query("UPDATE b SET x = 1"), {200, 201});
  received(ok(1, kAutocommit, 1), {300, 303});

  ASSERT_EQ(sink.records.size(), 1u);
  expect_sql(sink.records[0], "UPDATE", "b");
  EXPECT_EQ(sink.records[0].request_ns, 200u);
  EXPECT_EQ(sink.records[0].response_ns, 303u);
  EXPECT_EQ(stats().requests_unanswered, 1u);
  EXPECT_EQ(sink.abandoned, 1u);
  EXPECT_EQ(stats().ends_inferred, 0u);
}

TEST_F(MysqlGaps, CommandsWithoutAnswerAtCloseAreCountedNotRecorded) {
  open(Role::Client);
  handshake(kClassicClient);
  sent(query("SELECT SLEEP(100)"), {100, 101});
  Seq seq;
  received(text_result(seq, {"SLEEP(100)"}, {}, false).substr(0, 20), {200, 201});  // cut mid-definition
  close();
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().requests_unanswered, 1u);
  EXPECT_EQ(sink.started, 1u);
  EXPECT_EQ(sink.abandoned, 1u);
}

// ---- connection phase: TLS, compression, replication, roles ---------------------------

using MysqlConnection = MysqlTest;

TEST_F(MysqlConnection, SslRequestLeavesTheConnectionUnparsed) {
  open(Role::Server);
  sent(greeting(), {1, 2});
  received(ssl_request(kDeprecateEofClient), {3, 4});
  EXPECT_EQ(parser().unparsed(), Unparsed::Tls);
  // TLS records, some bytes of which look like MySQL.
  received("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv, {5, 6}, 517);
  sent("\x16\x03\x03\x00\x7a\x02\x00\x00\x76"sv, {7, 8}, 4000);
  received(query("SELECT 1"), {9, 10});
  sent(ok(1), {11, 12});
  close();

  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().commands, 0u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
  // The SSLRequest after its capability flags, then everything.
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, ssl_request(0).size() - 8 + 517u + query("SELECT 1").size());
}

TEST_F(MysqlConnection, CompressionAndReplicationLeaveTheConnectionUnparsed) {
  open(Role::Client);
  received(greeting(), {1, 2});
  sent(handshake_response(kClassicClient | kClientCompress), {3, 4});
  EXPECT_EQ(parser().unparsed(), Unparsed::Compressed);

  open(Role::Client);
  handshake(kClassicClient);
  sent(command(kComBinlogDump, le(4, 4) + le(0, 2) + le(2, 4) + "binlog.000001"), {100, 101});
  EXPECT_EQ(parser().unparsed(), Unparsed::Replication);
  received(packet(1, "\x00"s + std::string(50, 'e')), {200, 201}, 100000);
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(MysqlConnection, UnknownRoleIsInferredFromTheGreetingOrTheFirstCommand) {
  struct Case {
    const char* name;
    bool greeting;
    Direction first;
    Role expected;
  };
  for (const Case& c : {Case{"greeting sent", true, kSend, Role::Server}, Case{"greeting received", true, kRecv, Role::Client},
                        Case{"command received", false, kRecv, Role::Server},
                        Case{"command sent", false, kSend, Role::Client}}) {
    SCOPED_TRACE(c.name);
    sink = CollectingSink{};
    open(Role::Unknown);
    EXPECT_EQ(parser().role(), Role::Unknown);
    const Direction server = c.greeting ? c.first : (c.first == kSend ? kRecv : kSend);
    const Direction client = server == kSend ? kRecv : kSend;
    // Orphan bytes first, from the server: they say nothing.
    message(server, ok(5), {1, 2});
    EXPECT_EQ(parser().role(), Role::Unknown);
    if (c.greeting) {
      message(server, greeting(), {10, 11});
      EXPECT_EQ(parser().role(), c.expected);
      message(client, handshake_response(kDeprecateEofClient), {12, 13});
      message(server, ok(2), {14, 15});
    }
    message(client, query("SELECT * FROM t"), {100, 110});
    EXPECT_EQ(parser().role(), c.expected);
    message(server, err(1, 1146, "42S02", "no t"), {200, 220});

    ASSERT_EQ(sink.records.size(), 1u);
    expect_sql(sink.records[0], "SELECT", "t", "1146");
    EXPECT_EQ(sink.records[0].role, c.expected);
    EXPECT_EQ(sink.records[0].request_ns, c.expected == Role::Server ? 110u : 100u);
    EXPECT_EQ(sink.records[0].response_ns, 220u);
  }
}

TEST_F(MysqlConnection, KnownRoleTakesCommandsOnlyFromTheClientSide) {
  open(Role::Client);
  handshake(kClassicClient);
  // A server never sends commands; a client never answers.
  received(query("SELECT 1"), {100, 101});
  EXPECT_EQ(parser().pending_commands(), 0u);
  EXPECT_EQ(stats().commands, 0u);
  EXPECT_EQ(stats().orphan_frames, 1u);
}

TEST_F(MysqlConnection, CaptureStartingAfterTheHandshake) {
  open(Role::Server);
  // The tail of an answer, then commands.
  sent(eof(9), {1, 2});
  received(query("BEGIN"), {100, 110});
  sent(ok(1, kAutocommit | 0x0001), {120, 130});
  received(query("COMMIT"), {200, 210});
  sent(ok(1), {220, 230});

  ASSERT_EQ(sink.records.size(), 2u);
  expect_sql(sink.records[0], "BEGIN", "");
  expect_sql(sink.records[1], "COMMIT", "");
  EXPECT_EQ(sink.records[1].request_ns, 210u);
  EXPECT_EQ(sink.records[1].response_ns, 230u);
  EXPECT_EQ(parser().deprecate_eof(), std::nullopt);
}

// ---- robustness -------------------------------------------------------------------------

// Mutated conversations, cut at random places with random losses, and
// plain garbage: no crash, nothing buffered beyond the frame sizes the
// parser needs, every record well formed.
TEST_F(MysqlConnection, RandomlyDamagedConversationsStayBounded) {
  uint64_t state = 0x9e3779b97f4a7c15u;
  auto next = [&state](uint64_t bound) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return bound == 0 ? 0 : state % bound;
  };
  Seq select;
  Seq execute_seq;
  Seq call;
  const std::vector<std::pair<bool, std::string>> script = {
      {false, greeting()},
      {true, handshake_response(kClassicClient)},
      {false, ok(2)},
      {true, query("SELECT id, name FROM users")},
      {false, text_result(select, {"id", "name"}, kThreeUsers, false)},
      {true, prepare("SELECT id FROM users WHERE id = ?")},
      {false, prepare_ok(1, {"?"}, {"id"}, false)},
      {true, execute_with_param(1, 1) + execute_with_param(1, 2)},
      {false, binary_result(execute_seq, {{1, "a"}}, false) + ok(1)},
      {true, query("CALL p()")},
      {false, text_result(call, {"a"}, {{"1"}}, false, kAutocommit | kMoreResults) + ok(call())},
      {true, command(kComPing, "")},
      {false, err(1, 1146, "42S02", "x")},
  };
  for (int round = 0; round < 3000; ++round) {
    SCOPED_TRACE(round);
    sink = CollectingSink{};
    const Role roles[] = {Role::Server, Role::Client, Role::Unknown};
    open(roles[round % 3]);
    for (const auto& [from_client_side, original] : script) {
      std::string bytes = original;
      if (round % 4 == 3) {
        for (char& c : bytes) c = static_cast<char>(next(256));  // garbage
      } else if (next(3) == 0 && !bytes.empty()) {
        bytes[next(bytes.size())] = static_cast<char>(next(256));  // one damaged byte
      }
      const Direction direction = (from_client_side == (roles[round % 3] != Role::Server)) ? kSend : kRecv;
      size_t at = 0;
      while (at < bytes.size()) {
        const size_t part = 1 + next(bytes.size() - at);
        const uint64_t size = part + (next(8) == 0 ? next(64) : 0);  // an uncaptured tail, sometimes
        if (next(16) == 0) lose(direction, 1 + next(16));
        message(direction, std::string_view(bytes).substr(at, part), {10 * at, 10 * at + 1}, size);
        at += part;
        ASSERT_LE(stream(direction).buffered_bytes(), 4 + MysqlProtocolParser::kMaxStatementBytes + 1);
      }
    }
    close();
    for (const Record& r : sink.records) {
      ASSERT_TRUE(r.sql.has_value());
      EXPECT_FALSE(r.operation.empty());
      EXPECT_EQ(r.error, !r.sql->error_type.empty());
    }
    EXPECT_EQ(sink.started, sink.records.size() + sink.abandoned);
    EXPECT_EQ(stats().records + stats().requests_unanswered, sink.started);
  }
}

// ---- direct use and registration ----------------------------------------------------

TEST(MysqlDirect, ParseFrameTakesHeadsAndAsksToSkipTheRest) {
  CollectingSink sink;
  MysqlProtocolParser parser(sink, Role::Client);
  const FixedFrameClock request_clock({10, 11});
  const FixedFrameClock response_clock({20, 21});
  size_t consumed = 0;

  const std::string select = query("SELECT * FROM t");
  EXPECT_EQ(parser.parse_frame(kSend, std::string_view(select).substr(0, 3), request_clock, consumed),
            ParseState::NeedsMoreData);
  ASSERT_EQ(parser.parse_frame(kSend, select, request_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, select.size());
  EXPECT_EQ(parser.body_bytes_to_skip(kSend), 0u);
  EXPECT_TRUE(parser.in_command_phase());

  // A row: header and first byte taken, the rest skipped.
  ASSERT_EQ(parser.parse_frame(kRecv, packet(1, "\x01"), response_clock, consumed), ParseState::Success);
  ASSERT_EQ(parser.parse_frame(kRecv, column_def(2, "a"), response_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, 4u);
  EXPECT_EQ(parser.body_bytes_to_skip(kRecv), column_def(2, "a").size() - 4);
  ASSERT_EQ(parser.parse_frame(kRecv, eof(3), response_clock, consumed), ParseState::Success);
  ASSERT_EQ(parser.parse_frame(kRecv, text_row(4, {"hello"}), response_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, 5u);
  EXPECT_EQ(parser.body_bytes_to_skip(kRecv), 5u);
  parser.on_body_end(kRecv, {30, 31});
  ASSERT_EQ(parser.parse_frame(kRecv, eof(5), response_clock, consumed), ParseState::Success);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].request_ns, 10u);
  EXPECT_EQ(sink.records[0].response_ns, 21u);

  EXPECT_EQ(parser.parse_frame(kSend, packet(3, "\x03SELECT 1"), request_clock, consumed), ParseState::Invalid);
  EXPECT_EQ(parser.parse_frame(kSend, packet(0, "\x42xyz"), request_clock, consumed), ParseState::Invalid);
  EXPECT_EQ(parser.find_frame_boundary(kSend, "xx" + query("SELECT 1")), 2u);
  EXPECT_EQ(parser.find_frame_boundary(kRecv, "anything"), 0u);  // nothing waits: taken as it comes
}

TEST(MysqlBuiltin, RegisteredAsMysqlAndGetsTheTrackersRole) {
  ProtocolRegistry registry;
  register_builtin_protocols(registry);
  EXPECT_EQ(registry.name_of(REDEYE_PROTO_MYSQL), "mysql");

  CollectingSink sink;
  ConnectionTracker tracker(registry, sink);
  tracker.set_role(Role::Server);
  tracker.set_protocol(REDEYE_PROTO_MYSQL);
  ASSERT_NE(tracker.parser(), nullptr);
  EXPECT_EQ(tracker.parser()->name(), "mysql");
  EXPECT_EQ(static_cast<const MysqlProtocolParser&>(*tracker.parser()).role(), Role::Server);

  const std::string ping = command(kComPing, "");
  tracker.on_data(kRecv, 0, ping.size(), ping, {10, 11});
  const std::string pong = ok(1);
  tracker.on_data(kSend, 0, pong.size(), pong, {20, 21});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "PING");
  EXPECT_EQ(sink.records[0].request_ns, 11u);
  EXPECT_EQ(sink.records[0].response_ns, 21u);
}

}  // namespace
}  // namespace redeye::protocols::mysql
