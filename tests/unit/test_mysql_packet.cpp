// MySQL framing helpers (protocols/mysql/mysql_packet.h) on raw bytes.
#include "protocols/mysql/mysql_packet.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace redeye::protocols::mysql {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

std::string le(uint64_t value, size_t size) {
  std::string out;
  for (size_t i = 0; i < size; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
  return out;
}

std::string packet(uint8_t sequence, std::string_view payload) {
  return le(payload.size(), 3) + static_cast<char>(sequence) + std::string(payload);
}

TEST(MysqlPacket, HeaderIsLittleEndianLengthAndSequence) {
  PacketHeader header;
  EXPECT_FALSE(read_header("\x01\x00\x00"sv, header));
  ASSERT_TRUE(read_header("\x2c\x01\x00\x07"sv, header));
  EXPECT_EQ(header.length, 300u);
  EXPECT_EQ(header.sequence, 7u);
  ASSERT_TRUE(read_header("\xff\xff\xff\x00"sv, header));
  EXPECT_EQ(header.length, kMaxPayload);
}

TEST(MysqlPacket, LengthEncodedIntegers) {
  uint64_t value = 0;
  size_t size = 0;
  EXPECT_EQ(read_lenenc("\xfa"sv, value, size), Lenenc::Ok);
  EXPECT_EQ(value, 250u);
  EXPECT_EQ(size, 1u);
  EXPECT_EQ(read_lenenc("\xfc\x34\x12"sv, value, size), Lenenc::Ok);
  EXPECT_EQ(value, 0x1234u);
  EXPECT_EQ(size, 3u);
  EXPECT_EQ(read_lenenc("\xfd\x56\x34\x12"sv, value, size), Lenenc::Ok);
  EXPECT_EQ(value, 0x123456u);
  EXPECT_EQ(size, 4u);
  EXPECT_EQ(read_lenenc("\xfe\x08\x07\x06\x05\x04\x03\x02\x01"sv, value, size), Lenenc::Ok);
  EXPECT_EQ(value, 0x0102030405060708u);
  EXPECT_EQ(size, 9u);
  EXPECT_EQ(read_lenenc("\xfe\x01\x02"sv, value, size), Lenenc::Incomplete);
  EXPECT_EQ(read_lenenc(""sv, value, size), Lenenc::Incomplete);
  EXPECT_EQ(read_lenenc("\xfb"sv, value, size), Lenenc::Invalid);
  EXPECT_EQ(read_lenenc("\xff"sv, value, size), Lenenc::Invalid);
}

TEST(MysqlPacket, OkEofAndErrFields) {
  uint16_t status = 0;
  // OK: 300 affected rows, insert id 5, status 0x0022.
  EXPECT_TRUE(read_ok_status("\x00\xfc\x2c\x01\x05\x22\x00\x00\x00"sv, status));
  EXPECT_EQ(status, 0x0022u);
  EXPECT_FALSE(read_ok_status("\x00\x00\x00\x22"sv, status));
  EXPECT_TRUE(read_eof_status("\xfe\x00\x00\x0a\x00"sv, status));
  EXPECT_EQ(status, 0x000au);
  // A 0xFE packet: 5 bytes is an EOF, 7 or more an OK.
  EXPECT_TRUE(read_end_status("\xfe\x01\x00\x08\x00"sv, 5, status));
  EXPECT_EQ(status, 0x0008u);
  EXPECT_TRUE(read_end_status("\xfe\x00\x00\x02\x00\x00\x00"sv, 7, status));
  EXPECT_EQ(status, 0x0002u);
  EXPECT_EQ(read_err_code("\xff\x7a\x04#42S02"sv), 1146u);
}

TEST(MysqlPacket, GreetingAndItsCapabilities) {
  std::string payload = "\x0a"s + "5.5.5-10.11.6-MariaDB" + '\0' + le(7, 4) + "12345678" + '\0' + le(0xf7fe, 2) +
                        '\x08' + le(2, 2) + le(0x81bf, 2) + '\x15' + std::string(10, '\0');
  EXPECT_TRUE(is_greeting(payload, static_cast<uint32_t>(payload.size())));
  uint32_t capabilities = 0;
  ASSERT_TRUE(read_greeting_capabilities(payload, capabilities));
  EXPECT_EQ(capabilities, 0x81bff7feu);
  // Cut before the upper flags: the lower ones only.
  ASSERT_TRUE(read_greeting_capabilities(std::string_view(payload).substr(0, 38), capabilities));
  EXPECT_EQ(capabilities, 0xf7feu);

  EXPECT_FALSE(is_greeting("\x0a"sv, 1));                              // COM_PROCESS_INFO's byte
  EXPECT_FALSE(is_greeting("\x0a" "8.0.3"sv, 80));                     // no NUL yet
  EXPECT_FALSE(is_greeting("\x09" "8.0.36\0abcdefghijkl"sv, 80));      // another protocol version
  EXPECT_FALSE(is_greeting("\x0a\x01\x02\x03\0abcdefghijkl"sv, 80));  // not a version string
}

TEST(MysqlPacket, CommandTable) {
  EXPECT_EQ(command_info(kComQuery).response, ResponseKind::ResultSet);
  EXPECT_EQ(command_info(kComStmtExecute).response, ResponseKind::ResultSet);
  EXPECT_EQ(command_info(kComStmtPrepare).response, ResponseKind::Prepare);
  EXPECT_EQ(command_info(kComStmtClose).response, ResponseKind::None);
  EXPECT_EQ(command_info(kComQuit).response, ResponseKind::None);
  EXPECT_EQ(command_info(kComPing).response, ResponseKind::Simple);
  EXPECT_EQ(command_info(kComStmtFetch).response, ResponseKind::Rows);
  EXPECT_EQ(command_info(kComChangeUser).response, ResponseKind::Auth);
  EXPECT_EQ(command_info(kComBinlogDump).response, ResponseKind::Stream);
  EXPECT_TRUE(command_info(kComStmtBulkExecute).known);
  EXPECT_FALSE(command_info(0x00).known);  // COM_SLEEP: internal
  EXPECT_FALSE(command_info(0x0b).known);  // COM_CONNECT: internal
  EXPECT_FALSE(command_info(0x20).known);
  EXPECT_FALSE(command_info(0x85).known);
}

TEST(MysqlPacket, PlausibleCommands) {
  PacketHeader header{17, 0};
  EXPECT_TRUE(plausible_command(header, "\x03SEL"sv));
  EXPECT_TRUE(plausible_command(header, "\x03 "sv));
  EXPECT_TRUE(plausible_command(header, "\x03\x00\x01"sv));  // query attributes, none set
  EXPECT_FALSE(plausible_command(header, "\x03\x01\x02"sv));
  EXPECT_FALSE(plausible_command(PacketHeader{17, 1}, "\x03SEL"sv));  // not sequence 0
  EXPECT_TRUE(plausible_command(PacketHeader{1, 0}, "\x0e"sv));        // COM_PING
  EXPECT_FALSE(plausible_command(PacketHeader{2, 0}, "\x0e"sv));       // COM_PING takes no argument
  EXPECT_TRUE(plausible_command(PacketHeader{5, 0}, "\x19\x01\x00"sv));  // COM_STMT_CLOSE
  EXPECT_FALSE(plausible_command(PacketHeader{9, 0}, "\x19\x01\x00"sv));
  EXPECT_FALSE(plausible_command(PacketHeader{1, 0}, "\x03"sv));  // COM_QUERY needs text
  EXPECT_FALSE(plausible_command(header, "\x42"sv));
  EXPECT_FALSE(plausible_command(PacketHeader{9, 0}, "\x05shop"sv));  // COM_CREATE_DB: deprecated
  EXPECT_TRUE(command_info(kComCreateDb).known);
}

TEST(MysqlPacket, QueryTextAfterQueryAttributes) {
  EXPECT_EQ(query_text("SELECT 1"sv, false), "SELECT 1");
  EXPECT_EQ(query_text("\x00\x01SELECT 1"sv, true), "SELECT 1");
  // Two parameters: one VARCHAR "trace" = "abc", one LONGLONG NULL.
  const std::string two = "\x02\x01"s + '\x02' /* NULL bitmap: the second */ + '\x01' + "\xfd\x00"s +
                          "\x05trace" + "\x08\x00"s + "\x02id" + "\x03" "abc" + "UPDATE t SET x = 1";
  EXPECT_EQ(query_text(two, true), "UPDATE t SET x = 1");
  // One DATETIME value (length-prefixed) and one LONG.
  const std::string dates = "\x02\x01"s + '\x00' + '\x01' + "\x0c\x00"s + "\x01" "d" + "\x03\x00"s + "\x01" "n" +
                            "\x04\xe8\x07\x01\x02" + "\x2a\x00\x00\x00"s + "DELETE FROM x";
  EXPECT_EQ(query_text(dates, true), "DELETE FROM x");
  // Types not sent (new-params-bound flag 0): the text cannot be found.
  EXPECT_EQ(query_text("\x01\x01\x00\x00SELECT"sv, true), "");
  EXPECT_EQ(query_text("\x01\x01\x00\x01\xfd"sv, true), "");  // cut

  EXPECT_TRUE(looks_like_query_attributes("\x00\x01SELECT 1"sv));
  EXPECT_FALSE(looks_like_query_attributes("SELECT 1"sv));
  EXPECT_FALSE(looks_like_query_attributes("\n\x01"sv));
}

TEST(MysqlPacket, FindCommandSkipsToASequenceZeroKnownCommand) {
  const std::string query = packet(0, "\x03SELECT 1");
  EXPECT_EQ(find_command(query), 0u);
  EXPECT_EQ(find_command("garbage\x01\x02" + query), 9u);
  EXPECT_EQ(find_command(packet(3, "\x03SELECT 1") + query), 13u);
  // A header cut by the end is a candidate while it can be a command's: a
  // complete one with sequence id 0, or any 1 to 3 bytes.
  EXPECT_EQ(find_command("\x42\x42\x42\x42\x42\x42\x42\x0d\x00"sv), 5u);
  EXPECT_EQ(find_command(std::string(40, 'x')), 37u);
  EXPECT_EQ(find_command(std::string(40, 'x') + "\x01\x00\x00\x42"s), 41u);
  // Deprecated commands are parsed in sequence, not searched for.
  EXPECT_EQ(find_command(std::string(40, 'x') + "\x01\x00\x00\x05"s), 41u);
}

TEST(MysqlPacket, FindResponseStartWantsSequenceOne) {
  const std::string ok = packet(1, "\x00\x00\x00\x02\x00\x00\x00"sv);
  EXPECT_EQ(find_response_start(ok), 0u);
  EXPECT_EQ(find_response_start("zzzzzz" + ok), 6u);
  EXPECT_EQ(find_response_start(packet(1, "\x02"sv)), 0u);  // two columns
  // Sequence id 2 is no first packet; only the cut tail remains a candidate.
  EXPECT_EQ(find_response_start(packet(2, "\x02"sv) + "yyyyy"), 7u);
  EXPECT_EQ(find_response_start(packet(2, "\x02"sv) + "yyyyyyy"), 9u);
  EXPECT_EQ(find_response_start(packet(1, "\xff\x7a\x04#42S02oops"sv)), 0u);
}

TEST(MysqlPacket, FindResultEndWantsTheLastPacketOfTheBytes) {
  const std::string eof = packet(9, "\xfe\x00\x00\x02\x00"sv);
  const std::string rows = packet(7, "\x03" "abc") + packet(8, "\x02" "de");
  EXPECT_EQ(find_result_end(rows + eof), rows.size());
  EXPECT_EQ(find_result_end("tail of a row" + eof), 13u);
  // Not at the end: a row could hold these bytes.
  EXPECT_EQ(find_result_end(eof + rows), std::string_view::npos);
  // Unless more results follow and the next packet continues the sequence.
  const std::string more = packet(9, "\xfe\x00\x00\x0a\x00"sv);
  EXPECT_EQ(find_result_end("xx" + more + packet(10, "\x01"sv)), 2u);
  EXPECT_EQ(find_result_end("xx" + more + packet(12, "\x01"sv)), std::string_view::npos);
  // OK with header 0xFE (CLIENT_DEPRECATE_EOF) and ERR.
  EXPECT_EQ(find_result_end("row" + packet(4, "\xfe\x00\x00\x02\x00\x00\x00"sv)), 3u);
  EXPECT_EQ(find_result_end("row" + packet(4, "\xff\x15\x05#70100Query execution was interrupted"sv)), 3u);
  EXPECT_EQ(find_result_end(std::string(100, 'x')), std::string_view::npos);
}

}  // namespace
}  // namespace redeye::protocols::mysql
