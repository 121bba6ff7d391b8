// MySQL/MariaDB client/server protocol framing: packet headers,
// length-encoded integers, the command table, and the few fields of
// handshake and response packets the parser reads. Stateless functions over
// string_views; nothing is copied and nothing allocates.
//
// A packet is a 3-byte little-endian payload length, a 1-byte sequence id
// and the payload. A payload of exactly kMaxPayload bytes continues in the
// next packet (messages of 16 MiB and more).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace redeye::protocols::mysql {

inline constexpr size_t kHeaderSize = 4;
inline constexpr uint32_t kMaxPayload = 0xFFFFFF;

// Capability flags (initial handshake, HandshakeResponse41).
inline constexpr uint32_t kClientCompress = 0x00000020;
inline constexpr uint32_t kClientProtocol41 = 0x00000200;
inline constexpr uint32_t kClientSsl = 0x00000800;
inline constexpr uint32_t kClientDeprecateEof = 0x01000000;
inline constexpr uint32_t kClientZstdCompression = 0x04000000;
inline constexpr uint32_t kClientQueryAttributes = 0x08000000;

// Server status flags (OK and EOF packets).
inline constexpr uint16_t kServerMoreResultsExists = 0x0008;
inline constexpr uint16_t kServerCursorExists = 0x0040;

// First payload byte of response packets.
inline constexpr uint8_t kOkHeader = 0x00;
inline constexpr uint8_t kLocalInfileHeader = 0xFB;
inline constexpr uint8_t kEofHeader = 0xFE;
inline constexpr uint8_t kErrHeader = 0xFF;

// The protocol version byte that starts the server's initial handshake.
inline constexpr uint8_t kProtocolVersion10 = 10;
// Size of an SSLRequest payload (a HandshakeResponse41 cut after its filler).
inline constexpr uint32_t kSslRequestSize = 32;

// Command bytes: the first payload byte of a client packet with sequence id 0.
enum Command : uint8_t {
  kComQuit = 0x01,
  kComInitDb = 0x02,
  kComQuery = 0x03,
  kComFieldList = 0x04,
  kComCreateDb = 0x05,
  kComDropDb = 0x06,
  kComRefresh = 0x07,
  kComShutdown = 0x08,
  kComStatistics = 0x09,
  kComProcessInfo = 0x0a,
  kComProcessKill = 0x0c,
  kComDebug = 0x0d,
  kComPing = 0x0e,
  kComChangeUser = 0x11,
  kComBinlogDump = 0x12,
  kComRegisterSlave = 0x15,
  kComStmtPrepare = 0x16,
  kComStmtExecute = 0x17,
  kComStmtSendLongData = 0x18,
  kComStmtClose = 0x19,
  kComStmtReset = 0x1a,
  kComSetOption = 0x1b,
  kComStmtFetch = 0x1c,
  kComBinlogDumpGtid = 0x1e,
  kComResetConnection = 0x1f,
  kComStmtBulkExecute = 0xfa,  // MariaDB
};

// How the server answers a command.
enum class ResponseKind : uint8_t {
  None,       // no response (COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA)
  Simple,     // one packet: OK, ERR, EOF, or a string (COM_STATISTICS)
  ResultSet,  // OK, ERR, a LOCAL INFILE request, or result sets (COM_QUERY, COM_STMT_EXECUTE)
  Prepare,    // COM_STMT_PREPARE_OK and its definitions, or ERR
  Rows,       // rows or definitions up to EOF/OK, or ERR (COM_STMT_FETCH, COM_FIELD_LIST)
  Auth,       // an authentication exchange up to OK or ERR (COM_CHANGE_USER)
  Stream,     // the connection turns into a replication stream (COM_BINLOG_DUMP*)
};

struct CommandInfo {
  bool known = false;  // a command clients send (internal and obsolete ones are not)
  ResponseKind response = ResponseKind::Simple;
  uint32_t min_payload = 1;  // shortest valid payload, command byte included
  uint32_t max_payload = kMaxPayload;  // longest plausible payload
  // Sent by today's clients in the course of their work: only these are
  // looked for where the stream's framing is not known (deprecated and
  // administrative commands are parsed, not searched for).
  bool common = true;
};
CommandInfo command_info(uint8_t command);

struct PacketHeader {
  uint32_t length = 0;  // payload bytes
  uint8_t sequence = 0;
};
// False when `bytes` holds fewer than kHeaderSize bytes.
bool read_header(std::string_view bytes, PacketHeader& header);

enum class Lenenc { Ok, Incomplete, Invalid };
// A length-encoded integer at the front of `bytes`: its value and size.
Lenenc read_lenenc(std::string_view bytes, uint64_t& value, size_t& size);

uint16_t read_u16(std::string_view bytes, size_t offset);  // offset + 2 <= size
uint32_t read_u32(std::string_view bytes, size_t offset);  // offset + 4 <= size

// Status flags of an OK packet (header 0x00 or 0xFE: affected rows and last
// insert id as length-encoded integers, then the status). False when the
// payload is too short to hold them.
bool read_ok_status(std::string_view payload, uint16_t& status);
// Status flags of an EOF packet (0xFE, warnings, status). False when short.
bool read_eof_status(std::string_view payload, uint16_t& status);
// Status flags of a 0xFE packet that ends a result set: an EOF when its
// payload is shorter than an OK packet can be (7), an OK packet otherwise.
bool read_end_status(std::string_view payload, uint32_t length, uint16_t& status);
// The error code of an ERR packet (payload.size() >= 3).
uint16_t read_err_code(std::string_view payload);

// Whether `payload` (the first bytes of a packet of `length` payload bytes)
// starts a server's initial handshake (protocol version 10, a server version
// string). Needs the version's terminating NUL among the bytes.
bool is_greeting(std::string_view payload, uint32_t length);
// Capability flags of an initial handshake: the lower 16 bits, and the
// upper 16 when the bytes reach them. False when not even the lower are there.
bool read_greeting_capabilities(std::string_view payload, uint32_t& capabilities);

// Whether a packet with this header and these first payload bytes (at
// least one) is plausibly a client command: sequence id 0, a known and
// common command byte and a length that command can have. For text commands the first
// text byte, when present, must be able to start a statement.
bool plausible_command(const PacketHeader& header, std::string_view payload);

// The statement text of a COM_QUERY payload (after the command byte). With
// query attributes (CLIENT_QUERY_ATTRIBUTES) the text follows a parameter
// block, which is skipped; "" when it cannot be.
std::string_view query_text(std::string_view after_command, bool query_attributes);
// Whether a COM_QUERY payload (after the command byte) of a connection whose
// capabilities are unknown starts with a query-attributes parameter block:
// a small parameter count then a parameter set count of 1 (text starts with
// a printable byte or white space).
bool looks_like_query_attributes(std::string_view after_command);

// Offset of the first position in `bytes` where the first packet of a
// response to a command (sequence id 1: OK, ERR, EOF, LOCAL INFILE request,
// column count) plausibly starts, or npos. A plausible header cut by the end
// of `bytes` counts.
size_t find_response_start(std::string_view bytes);
// Offset of the first position in `bytes` where a packet that ends a result
// set (EOF, OK with header 0xFE, ERR) plausibly starts, or npos. Such a packet
// must end exactly where `bytes` ends (a server writes nothing after it until
// the next command), unless its status says more results follow and a packet
// with the next sequence id comes right after it.
size_t find_result_end(std::string_view bytes);
// Offset of the first position in `bytes` where a plausible command packet
// starts, or npos. A plausible header cut by the end of `bytes` counts.
size_t find_command(std::string_view bytes);

}  // namespace redeye::protocols::mysql
