// PostgreSQL frontend/backend protocol (v3) framing: message headers, the
// untyped startup-phase packets, C strings and ErrorResponse fields, read
// from the front of a byte view. Stateless functions over string_views;
// nothing is copied and nothing allocates. Message bodies are looked at only
// as far as the caller asks: the rest is skipped by the stream.
//
// Every message but the startup-phase ones is a type byte and an int32
// big-endian length that counts itself but not the type byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace redeye::protocols::postgres {

// A length at or over this is not PostgreSQL (the server's own cap is 1 GiB).
inline constexpr uint32_t kMaxMessageLength = 1u << 30;
inline constexpr size_t kHeaderSize = 5;         // type byte + length
inline constexpr size_t kStartupHeaderSize = 8;  // length + protocol version or request code

// Request codes of the startup phase (where the protocol version goes).
inline constexpr uint32_t kProtocolVersion3 = 196608;  // 3.0; any 3.x is accepted
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
inline constexpr uint32_t kCancelRequestCode = 80877102;
// The server rejects longer startup packets (MAX_STARTUP_PACKET_LENGTH).
inline constexpr uint32_t kMaxStartupLength = 10000;

// Which end sends a message.
enum class Sender : uint8_t {
  Frontend,  // the client
  Backend,   // the server
  Either,    // not known yet (a connection older than the agent)
};

// The lengths a message type can have; min_length 0 = not a type of that sender.
struct TypeLimits {
  uint32_t min_length = 0;
  uint32_t max_length = 0;  // inclusive; kMaxMessageLength - 1 when unbounded
};

// Limits of `type` sent by `sender` (Either: what both allow, widest).
TypeLimits type_limits(char type, Sender sender);

// Types only a frontend (Q, P, B, F, X, f, p) or only a backend sends: one of
// them seen in a direction tells which end the traced process is.
bool is_frontend_only(char type);
bool is_backend_only(char type);

enum class ParseResult {
  Complete,    // the element is there; the out parameters are set
  Incomplete,  // a plausible start, the rest has not arrived
  Invalid,     // not PostgreSQL
};

struct Header {
  char type = 0;
  uint32_t length = 0;  // includes the 4 length bytes, not the type byte
  // Body bytes after the header.
  uint32_t body() const { return length - 4; }
};

// The typed message header at the front of `bytes`, checked against the
// limits of its type for `sender`. Invalid as soon as the bytes present
// rule the header out.
ParseResult parse_header(std::string_view bytes, Sender sender, Header& header);

enum class StartupKind : uint8_t { Startup, SslRequest, GssEncRequest, CancelRequest };

struct StartupPacket {
  StartupKind kind = StartupKind::Startup;
  uint32_t length = 0;  // the whole packet, length field included
};

// An untyped startup-phase packet at the front of `bytes` (its first byte is
// always 0: the high byte of a length under 10000).
ParseResult parse_startup(std::string_view bytes, StartupPacket& packet);

// The NUL-terminated string starting at `pos` in `bytes`, without its NUL,
// if it ends within `bytes` and within `max_size` bytes (NUL included);
// `pos` moves past the NUL. False otherwise (`pos` unchanged).
bool read_cstring(std::string_view bytes, size_t& pos, size_t max_size, std::string_view& out);

// Outcome of scanning an ErrorResponse body for its SQLSTATE ('C' field).
enum class ErrorScan {
  Found,     // `code` is the SQLSTATE; `used` = bytes through its NUL
  NotFound,  // the fields ended without a 'C' field; `used` = bytes through the terminator
  Partial,   // `bytes` ended first
};

// Scans the fields of an ErrorResponse (or NoticeResponse) body: a field type
// byte and a C string each, then a 0 byte.
ErrorScan scan_error_fields(std::string_view bytes, std::string_view& code, size_t& used);

// Whether `code` looks like a SQLSTATE: 5 digits or upper-case letters.
bool is_sqlstate(std::string_view code);

// Offset of the first position in `bytes` where a typed message of `sender`
// plausibly starts, or npos: a known type with a length its type allows and,
// when the bytes reach that far, another plausible type byte right after it.
// A header cut off by the end of `bytes` counts when what is there fits.
size_t find_message_start(std::string_view bytes, Sender sender);

// The first offset from which `bytes` read as a chain of whole messages to
// their very end, or a chain of at least three plausible headers that runs
// off the end. For the tail of a long message (see on_elided), which starts
// anywhere in a row and ends where the sender's write ended: row data
// rarely chains like that. npos when no offset does.
size_t find_message_chain(std::string_view bytes, Sender sender);

// Big-endian integers (the caller checks the size).
inline uint32_t read_u32(std::string_view bytes, size_t pos) {
  return (static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos])) << 24) |
         (static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos + 2])) << 8) |
         static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos + 3]));
}

}  // namespace redeye::protocols::postgres
