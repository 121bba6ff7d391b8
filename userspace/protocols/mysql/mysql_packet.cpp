#include "protocols/mysql/mysql_packet.h"

#include <algorithm>

namespace redeye::protocols::mysql {
namespace {

uint8_t byte_at(std::string_view bytes, size_t offset) { return static_cast<uint8_t>(bytes[offset]); }

// Longest OK, EOF or ERR packet taken for one when looking for the end of a
// result set after lost bytes (OK packets carry an info string and session
// state changes, ERR packets a message).
constexpr uint32_t kMaxStatusPacket = 1024;
// Longest server version string of an initial handshake.
constexpr size_t kMaxServerVersion = 80;

// A byte a SQL statement can start with: printable ASCII or white space.
bool statement_start(uint8_t c) { return (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r'; }

// Size of one parameter value of the binary protocol, at the front of
// `bytes`; false when it does not fit.
bool binary_value_size(uint8_t type, std::string_view bytes, size_t& size) {
  switch (type) {
    case 0x06:  // NULL
      size = 0;
      return true;
    case 0x01:  // TINY
      size = 1;
      break;
    case 0x02:  // SHORT
    case 0x0d:  // YEAR
      size = 2;
      break;
    case 0x03:  // LONG
    case 0x09:  // INT24
    case 0x04:  // FLOAT
      size = 4;
      break;
    case 0x08:  // LONGLONG
    case 0x05:  // DOUBLE
      size = 8;
      break;
    case 0x07:  // TIMESTAMP
    case 0x0a:  // DATE
    case 0x0b:  // TIME
    case 0x0c:  // DATETIME
      if (bytes.empty()) return false;
      size = 1 + static_cast<size_t>(byte_at(bytes, 0));
      break;
    default: {  // strings, decimals, blobs, JSON...: a length-encoded string
      uint64_t length = 0;
      size_t prefix = 0;
      if (read_lenenc(bytes, length, prefix) != Lenenc::Ok || length > bytes.size()) return false;
      size = prefix + static_cast<size_t>(length);
      break;
    }
  }
  return size <= bytes.size();
}

// Whether the header and first payload bytes can start a response to a
// command: sequence id 1 and a first packet of some response.
bool plausible_response_start(const PacketHeader& header, std::string_view payload) {
  if (header.sequence != 1 || header.length == 0) return false;
  const uint32_t length = header.length;
  const uint8_t first = byte_at(payload, 0);
  switch (first) {
    case kOkHeader:
      return length >= 7 && length <= kMaxStatusPacket;
    case kErrHeader:
      return length >= 3 && length <= kMaxStatusPacket;
    case kEofHeader:
      return length < 9;
    case kLocalInfileHeader:
      return length <= 4096;
    case 0xfc:  // a column count of 251 or more
      return length == 3 || length == 4;
    default:
      // A column count, possibly followed by the metadata-follows byte.
      return first < 0xfb && (length == 1 || length == 2);
  }
}

}  // namespace

CommandInfo command_info(uint8_t command) {
  constexpr uint32_t kSmall = 64 * 1024;
  constexpr bool kRare = false;
  switch (command) {
    case kComQuit:
      return {true, ResponseKind::None, 1, 1};
    case kComInitDb:
      return {true, ResponseKind::Simple, 1, 1024};
    case kComQuery:
      return {true, ResponseKind::ResultSet, 1, kMaxPayload};
    case kComFieldList:
      return {true, ResponseKind::Rows, 2, kSmall, kRare};
    case kComCreateDb:
    case kComDropDb:
      return {true, ResponseKind::Simple, 2, 1024, kRare};
    case kComRefresh:
      return {true, ResponseKind::Simple, 2, 2, kRare};
    case kComShutdown:
      return {true, ResponseKind::Simple, 1, 2, kRare};
    case kComStatistics:
    case kComPing:
    case kComResetConnection:
      return {true, ResponseKind::Simple, 1, 1};
    case kComDebug:
      return {true, ResponseKind::Simple, 1, 1, kRare};
    case kComProcessInfo:
      return {true, ResponseKind::ResultSet, 1, 1, kRare};
    case kComProcessKill:
      return {true, ResponseKind::Simple, 5, 5, kRare};
    case kComChangeUser:
      return {true, ResponseKind::Auth, 2, kSmall};
    case kComBinlogDump:
    case kComBinlogDumpGtid:
      return {true, ResponseKind::Stream, 11, kSmall, kRare};
    case kComRegisterSlave:
      return {true, ResponseKind::Simple, 7, kSmall, kRare};
    case kComStmtPrepare:
      return {true, ResponseKind::Prepare, 1, kMaxPayload};
    case kComStmtExecute:
      return {true, ResponseKind::ResultSet, 10, kMaxPayload};
    case kComStmtSendLongData:
      return {true, ResponseKind::None, 7, kMaxPayload};
    case kComStmtClose:
      return {true, ResponseKind::None, 5, 5};
    case kComStmtReset:
      return {true, ResponseKind::Simple, 5, 5};
    case kComSetOption:
      return {true, ResponseKind::Simple, 3, 3};
    case kComStmtFetch:
      return {true, ResponseKind::Rows, 9, 9};
    case kComStmtBulkExecute:
      return {true, ResponseKind::ResultSet, 7, kMaxPayload};
    default:
      return {};
  }
}

bool read_header(std::string_view bytes, PacketHeader& header) {
  if (bytes.size() < kHeaderSize) return false;
  header.length = static_cast<uint32_t>(byte_at(bytes, 0)) | static_cast<uint32_t>(byte_at(bytes, 1)) << 8 |
                  static_cast<uint32_t>(byte_at(bytes, 2)) << 16;
  header.sequence = byte_at(bytes, 3);
  return true;
}

Lenenc read_lenenc(std::string_view bytes, uint64_t& value, size_t& size) {
  if (bytes.empty()) return Lenenc::Incomplete;
  const uint8_t first = byte_at(bytes, 0);
  if (first < 0xfb) {
    value = first;
    size = 1;
    return Lenenc::Ok;
  }
  switch (first) {
    case 0xfc:
      size = 3;
      break;
    case 0xfd:
      size = 4;
      break;
    case 0xfe:
      size = 9;
      break;
    default:  // 0xfb is NULL in a row, 0xff is no integer
      return Lenenc::Invalid;
  }
  if (bytes.size() < size) return Lenenc::Incomplete;
  value = 0;
  for (size_t i = size - 1; i >= 1; --i) value = value << 8 | byte_at(bytes, i);
  return Lenenc::Ok;
}

uint16_t read_u16(std::string_view bytes, size_t offset) {
  return static_cast<uint16_t>(byte_at(bytes, offset) | byte_at(bytes, offset + 1) << 8);
}

uint32_t read_u32(std::string_view bytes, size_t offset) {
  return static_cast<uint32_t>(read_u16(bytes, offset)) | static_cast<uint32_t>(read_u16(bytes, offset + 2)) << 16;
}

bool read_ok_status(std::string_view payload, uint16_t& status) {
  size_t pos = 1;
  for (int field = 0; field < 2; ++field) {  // affected rows, last insert id
    uint64_t value = 0;
    size_t size = 0;
    if (pos > payload.size() || read_lenenc(payload.substr(pos), value, size) != Lenenc::Ok) return false;
    pos += size;
  }
  if (pos + 2 > payload.size()) return false;
  status = read_u16(payload, pos);
  return true;
}

bool read_eof_status(std::string_view payload, uint16_t& status) {
  if (payload.size() < 5) return false;
  status = read_u16(payload, 3);
  return true;
}

bool read_end_status(std::string_view payload, uint32_t length, uint16_t& status) {
  return length < 7 ? read_eof_status(payload, status) : read_ok_status(payload, status);
}

uint16_t read_err_code(std::string_view payload) { return read_u16(payload, 1); }

bool is_greeting(std::string_view payload, uint32_t length) {
  // Version byte, a version of at least one character and its NUL,
  // connection id, scramble, filler, lower capability flags.
  if (length < 18 || payload.size() < 3 || byte_at(payload, 0) != kProtocolVersion10) return false;
  if (byte_at(payload, 1) < '0' || byte_at(payload, 1) > '9') return false;
  const size_t end = std::min(payload.size(), kMaxServerVersion + 2);
  for (size_t i = 2; i < end; ++i) {
    const uint8_t c = byte_at(payload, i);
    if (c == 0) return true;
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return false;
}

bool read_greeting_capabilities(std::string_view payload, uint32_t& capabilities) {
  const size_t nul = payload.find('\0', 1);
  if (nul == std::string_view::npos) return false;
  // Connection id (4), scramble part 1 (8), filler (1), then the lower flags;
  // character set (1) and status flags (2) come before the upper ones.
  const size_t lower = nul + 1 + 13;
  const size_t upper = lower + 5;
  if (lower + 2 > payload.size()) return false;
  capabilities = read_u16(payload, lower);
  if (upper + 2 <= payload.size()) capabilities |= static_cast<uint32_t>(read_u16(payload, upper)) << 16;
  return true;
}

bool plausible_command(const PacketHeader& header, std::string_view payload) {
  if (header.sequence != 0 || payload.empty()) return false;
  const uint8_t command = byte_at(payload, 0);
  const CommandInfo info = command_info(command);
  if (!info.known || !info.common || header.length < info.min_payload || header.length > info.max_payload)
    return false;
  if (command == kComQuery || command == kComStmtPrepare || command == kComInitDb) {
    if (header.length < 2) return false;
    if (payload.size() < 2) return true;
    const uint8_t first = byte_at(payload, 1);
    if (statement_start(first)) return true;
    // Query attributes: a small parameter count, then a parameter set count of 1.
    return command == kComQuery && first <= 8 && (payload.size() < 3 || byte_at(payload, 2) == 1);
  }
  return true;
}

std::string_view query_text(std::string_view after_command, bool query_attributes) {
  if (!query_attributes) return after_command;
  const std::string_view p = after_command;
  uint64_t count = 0;
  uint64_t sets = 0;
  size_t size = 0;
  if (read_lenenc(p, count, size) != Lenenc::Ok) return {};
  size_t pos = size;
  if (read_lenenc(p.substr(pos), sets, size) != Lenenc::Ok) return {};
  pos += size;
  if (count == 0) return p.substr(pos);
  // Parameters: NULL bitmap, the new-params-bound flag, (type, name) pairs,
  // then the values that are not NULL.
  constexpr uint64_t kMaxParameters = 64;
  if (count > kMaxParameters) return {};
  const size_t bitmap = pos;
  pos += static_cast<size_t>((count + 7) / 8);
  if (pos >= p.size() || byte_at(p, pos) != 1) return {};  // types not sent: values unreadable
  ++pos;
  const size_t types = pos;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t name = 0;
    if (pos + 2 > p.size() || read_lenenc(p.substr(pos + 2), name, size) != Lenenc::Ok) return {};
    pos += 2 + size;
    if (name > p.size() - pos) return {};
    pos += static_cast<size_t>(name);
  }
  size_t type_pos = types;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t type = byte_at(p, type_pos);
    uint64_t name = 0;
    read_lenenc(p.substr(type_pos + 2), name, size);  // checked above
    type_pos += 2 + size + static_cast<size_t>(name);
    if (byte_at(p, bitmap + i / 8) & (1u << (i % 8))) continue;  // NULL: no value
    size_t value = 0;
    if (!binary_value_size(type, p.substr(pos), value)) return {};
    pos += value;
  }
  return p.substr(pos);
}

bool looks_like_query_attributes(std::string_view after_command) {
  return after_command.size() >= 2 && byte_at(after_command, 0) <= 8 && byte_at(after_command, 1) == 1;
}

size_t find_response_start(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const size_t left = bytes.size() - i;
    if (left <= kHeaderSize) {
      // Cut by the end: plausible while what is there can be a header.
      if (left == kHeaderSize && byte_at(bytes, i + 3) != 1) continue;
      return i;
    }
    PacketHeader header;
    read_header(bytes.substr(i), header);
    if (plausible_response_start(header, bytes.substr(i + kHeaderSize))) return i;
  }
  return std::string_view::npos;
}

size_t find_result_end(std::string_view bytes) {
  for (size_t i = 0; i + kHeaderSize < bytes.size(); ++i) {
    PacketHeader header;
    read_header(bytes.substr(i), header);
    const size_t start = i + kHeaderSize;
    const uint32_t length = header.length;
    const size_t end = start + length;
    if (length == 0 || end > bytes.size()) continue;
    const std::string_view payload = bytes.substr(start, length);
    const uint8_t first = byte_at(payload, 0);
    if (first == kErrHeader) {
      if (length >= 9 && length <= kMaxStatusPacket && byte_at(payload, 3) == '#' && end == bytes.size()) return i;
      continue;
    }
    if (first != kEofHeader || !(length == 5 || (length >= 7 && length <= kMaxStatusPacket))) continue;
    uint16_t status = 0;
    if (!read_end_status(payload, length, status)) continue;
    if (end == bytes.size()) return i;
    if ((status & kServerMoreResultsExists) && end + kHeaderSize <= bytes.size() &&
        byte_at(bytes, end + 3) == static_cast<uint8_t>(header.sequence + 1))
      return i;
  }
  return std::string_view::npos;
}

size_t find_command(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const size_t left = bytes.size() - i;
    if (left <= kHeaderSize) {
      // Cut by the end: plausible while what is there can be a command header.
      if (left == kHeaderSize && byte_at(bytes, i + 3) != 0) continue;
      return i;
    }
    PacketHeader header;
    read_header(bytes.substr(i), header);
    if (plausible_command(header, bytes.substr(i + kHeaderSize, 3))) return i;
  }
  return std::string_view::npos;
}

}  // namespace redeye::protocols::mysql
