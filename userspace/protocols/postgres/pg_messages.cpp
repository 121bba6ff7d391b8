#include "protocols/postgres/pg_messages.h"

#include <algorithm>

namespace redeye::protocols::postgres {
namespace {

constexpr uint32_t kUnbounded = kMaxMessageLength - 1;

constexpr TypeLimits at_least(uint32_t min) { return {min, kUnbounded}; }
constexpr TypeLimits exactly(uint32_t length) { return {length, length}; }

TypeLimits frontend_limits(char type) {
  switch (type) {
    case 'Q': return at_least(5);   // query\0
    case 'P': return at_least(8);   // name\0 query\0 int16
    case 'B': return at_least(12);  // portal\0 statement\0 int16 int16 int16
    case 'E': return at_least(9);   // portal\0 int32
    case 'D': return at_least(6);   // 'S'|'P' name\0
    case 'C': return at_least(6);   // 'S'|'P' name\0
    case 'S': return exactly(4);    // Sync
    case 'H': return exactly(4);    // Flush
    case 'F': return at_least(14);  // oid int16 int16 int16
    case 'X': return exactly(4);    // Terminate
    case 'd': return at_least(4);   // CopyData
    case 'c': return exactly(4);    // CopyDone
    case 'f': return at_least(5);   // CopyFail: message\0
    case 'p': return at_least(4);   // password, SASL, GSS responses
    default: return {};
  }
}

TypeLimits backend_limits(char type) {
  switch (type) {
    case 'R': return at_least(8);   // Authentication*
    case 'S': return at_least(6);   // ParameterStatus: name\0 value\0
    case 'K': return at_least(12);  // BackendKeyData
    case 'v': return at_least(12);  // NegotiateProtocolVersion
    case 'Z': return exactly(5);    // ReadyForQuery
    case 'T': return at_least(6);   // RowDescription
    case 'D': return at_least(6);   // DataRow
    case 'C': return at_least(5);   // CommandComplete: tag\0
    case 'I': return exactly(4);    // EmptyQueryResponse
    case 'E': return at_least(5);   // ErrorResponse
    case 'N': return at_least(5);   // NoticeResponse
    case 'A': return at_least(10);  // NotificationResponse
    case '1': return exactly(4);    // ParseComplete
    case '2': return exactly(4);    // BindComplete
    case '3': return exactly(4);    // CloseComplete
    case 'n': return exactly(4);    // NoData
    case 't': return at_least(6);   // ParameterDescription
    case 's': return exactly(4);    // PortalSuspended
    case 'G': return at_least(7);   // CopyInResponse
    case 'H': return at_least(7);   // CopyOutResponse
    case 'W': return at_least(7);   // CopyBothResponse
    case 'd': return at_least(4);   // CopyData
    case 'c': return exactly(4);    // CopyDone
    case 'V': return at_least(8);   // FunctionCallResponse
    default: return {};
  }
}

// Whether the length bytes present (fewer than 4) can still make a length
// under kMaxMessageLength.
bool length_prefix_fits(std::string_view length_bytes) {
  return length_bytes.empty() || static_cast<unsigned char>(length_bytes[0]) < (kMaxMessageLength >> 24);
}

}  // namespace

TypeLimits type_limits(char type, Sender sender) {
  switch (sender) {
    case Sender::Frontend:
      return frontend_limits(type);
    case Sender::Backend:
      return backend_limits(type);
    case Sender::Either:
      break;
  }
  const TypeLimits frontend = frontend_limits(type);
  const TypeLimits backend = backend_limits(type);
  if (frontend.min_length == 0) return backend;
  if (backend.min_length == 0) return frontend;
  return {std::min(frontend.min_length, backend.min_length),
          std::max(frontend.max_length, backend.max_length)};
}

bool is_frontend_only(char type) {
  return frontend_limits(type).min_length != 0 && backend_limits(type).min_length == 0;
}

bool is_backend_only(char type) {
  return backend_limits(type).min_length != 0 && frontend_limits(type).min_length == 0;
}

ParseResult parse_header(std::string_view bytes, Sender sender, Header& header) {
  if (bytes.empty()) return ParseResult::Incomplete;
  const TypeLimits limits = type_limits(bytes[0], sender);
  if (limits.min_length == 0) return ParseResult::Invalid;
  if (bytes.size() < kHeaderSize) {
    return length_prefix_fits(bytes.substr(1)) ? ParseResult::Incomplete : ParseResult::Invalid;
  }
  const uint32_t length = read_u32(bytes, 1);
  if (length < limits.min_length || length > limits.max_length) return ParseResult::Invalid;
  header.type = bytes[0];
  header.length = length;
  return ParseResult::Complete;
}

ParseResult parse_startup(std::string_view bytes, StartupPacket& packet) {
  // A length under 10000 has a zero high byte; typed messages never start with 0.
  if (bytes.empty()) return ParseResult::Incomplete;
  if (bytes[0] != '\0') return ParseResult::Invalid;
  if (bytes.size() < kStartupHeaderSize) {
    // The second length byte is 0 as well for any length under 65536.
    return bytes.size() < 2 || bytes[1] == '\0' ? ParseResult::Incomplete : ParseResult::Invalid;
  }
  const uint32_t length = read_u32(bytes, 0);
  const uint32_t code = read_u32(bytes, 4);
  StartupPacket found;
  found.length = length;
  if (code == kSslRequestCode || code == kGssEncRequestCode) {
    if (length != kStartupHeaderSize) return ParseResult::Invalid;
    found.kind = code == kSslRequestCode ? StartupKind::SslRequest : StartupKind::GssEncRequest;
  } else if (code == kCancelRequestCode) {
    // Process id and secret key; protocol 3.2 allows keys of up to 256 bytes.
    if (length < 16 || length > 12 + 256) return ParseResult::Invalid;
    found.kind = StartupKind::CancelRequest;
  } else if ((code >> 16) == (kProtocolVersion3 >> 16)) {
    if (length < kStartupHeaderSize + 1 || length > kMaxStartupLength) return ParseResult::Invalid;
    found.kind = StartupKind::Startup;
  } else {
    return ParseResult::Invalid;
  }
  packet = found;
  return ParseResult::Complete;
}

bool read_cstring(std::string_view bytes, size_t& pos, size_t max_size, std::string_view& out) {
  if (pos >= bytes.size()) return false;
  const std::string_view rest = bytes.substr(pos, max_size);
  const size_t nul = rest.find('\0');
  if (nul == std::string_view::npos) return false;
  out = rest.substr(0, nul);
  pos += nul + 1;
  return true;
}

bool is_sqlstate(std::string_view code) {
  if (code.size() != 5) return false;
  return std::all_of(code.begin(), code.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); });
}

ErrorScan scan_error_fields(std::string_view bytes, std::string_view& code, size_t& used) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const char field = bytes[pos];
    if (field == '\0') {
      used = pos + 1;
      return ErrorScan::NotFound;
    }
    size_t value_pos = pos + 1;
    std::string_view value;
    if (!read_cstring(bytes, value_pos, std::string_view::npos, value)) return ErrorScan::Partial;
    if (field == 'C') {
      code = value;
      used = value_pos;
      return ErrorScan::Found;
    }
    pos = value_pos;
  }
  return ErrorScan::Partial;
}

size_t find_message_start(std::string_view bytes, Sender sender) {
  for (size_t i = 0; i < bytes.size(); ++i) {
    const std::string_view candidate = bytes.substr(i);
    Header header;
    switch (parse_header(candidate, sender, header)) {
      case ParseResult::Invalid:
        continue;
      case ParseResult::Incomplete:
        return i;
      case ParseResult::Complete:
        break;
    }
    // The message after this one, when its type byte is here, must be
    // plausible too: a lone type letter with a fitting length is common in
    // row data, two chained ones much less so.
    const uint64_t next = uint64_t{header.length} + 1;
    if (next < candidate.size()) {
      Header following;
      if (parse_header(candidate.substr(next), sender, following) == ParseResult::Invalid) continue;
    }
    return i;
  }
  return std::string_view::npos;
}

size_t find_message_chain(std::string_view bytes, Sender sender) {
  constexpr int kHeadersRunningOff = 3;
  for (size_t i = 0; i < bytes.size(); ++i) {
    size_t at = i;
    int headers = 0;
    bool accepted = false;
    while (true) {
      if (at == bytes.size()) {
        accepted = headers > 0;
        break;
      }
      Header header;
      const ParseResult result = parse_header(bytes.substr(at), sender, header);
      if (result == ParseResult::Invalid) break;
      ++headers;
      const uint64_t next = at + uint64_t{header.length} + 1;
      if (result == ParseResult::Incomplete || next > bytes.size()) {
        accepted = headers >= kHeadersRunningOff;
        break;
      }
      at = static_cast<size_t>(next);
    }
    if (accepted) return i;
  }
  return std::string_view::npos;
}

}  // namespace redeye::protocols::postgres
