#include "protocols/mysql/mysql_protocol.h"

#include <algorithm>
#include <string>
#include <utility>

#include "protocols/sql/sql_summary.h"

namespace redeye::protocols::mysql {
namespace {

uint8_t byte_at(std::string_view bytes, size_t offset) { return static_cast<uint8_t>(bytes[offset]); }

Direction opposite(Direction direction) {
  return direction == Direction::Send ? Direction::Recv : Direction::Send;
}

// Payload bytes read of each kind of packet.
constexpr size_t kOkBytes = 1 + 9 + 9 + 2;   // header, affected rows, last insert id, status
constexpr size_t kEofBytes = 5;              // header, warnings, status
constexpr size_t kErrBytes = 3;              // header, error code
constexpr size_t kPrepareOkBytes = 9;        // header, statement id, columns, parameters
constexpr size_t kColumnCountBytes = 9 + 1;  // a length-encoded integer, metadata-follows byte
constexpr size_t kCapabilityBytes = 4;       // HandshakeResponse41: the capability flags
constexpr size_t kGreetingBytes = 160;       // through the capability flags
// Fewer bytes of a greeting cut by the capture hold no capability flags.
constexpr size_t kMinGreetingBytes = 60;
// Bytes of a packet starting with the protocol version 10 awaited before
// deciding it is no initial handshake (its version string did not end).
constexpr size_t kGreetingWait = 96;

// More columns than a result set can have (MySQL: 4096) means lost framing.
constexpr uint64_t kMaxColumns = 65535;
// MariaDB: COM_STMT_EXECUTE of the statement last prepared (sent pipelined
// right after its COM_STMT_PREPARE, before the id is known).
constexpr uint32_t kLastPreparedStatement = 0xffffffff;

enum class Greeting { Yes, No, Wait };

Greeting check_greeting(const PacketHeader& header, std::string_view payload) {
  if (header.sequence != 0 || header.length < 18) return Greeting::No;
  if (payload.empty()) return Greeting::Wait;
  if (byte_at(payload, 0) != kProtocolVersion10) return Greeting::No;
  if (is_greeting(payload, header.length)) return Greeting::Yes;
  return payload.size() < std::min<size_t>(header.length, kGreetingWait) ? Greeting::Wait : Greeting::No;
}

}  // namespace

MysqlProtocolParser::MysqlProtocolParser(RecordSink& sink, Role role, MysqlParserOptions options)
    : options_(options),
      stitcher_(sink, role, options_.max_pending_commands, options_.max_prepared_statements) {}

ParseState MysqlProtocolParser::parse_frame(Direction direction, std::string_view bytes,
                                            const FrameClock& clock, size_t& consumed) {
  Side& current = side(direction);
  current.skip = 0;
  if (phase_ == Phase::Unparsed) {
    // Taken as a one-byte frame so that the rest can be skipped.
    consumed = 1;
    current.skip = kSkipUntilClose;
    return ParseState::Ignored;
  }
  if (role() == Role::Unknown) return probe(direction, bytes, clock, consumed);
  switch (phase_) {
    case Phase::Start:
      return parse_start(direction, bytes, clock, consumed);
    case Phase::Greeted:
    case Phase::Authenticating:
      return parse_handshake(direction, bytes, clock, consumed);
    case Phase::Commands:
    case Phase::Unparsed:
      break;
  }
  return direction == request_direction() ? parse_request(bytes, clock, consumed)
                                          : parse_response(bytes, clock, consumed);
}

bool MysqlProtocolParser::take(Direction direction, std::string_view bytes, const PacketHeader& header,
                               size_t want, size_t min, std::string_view& payload, size_t& consumed) {
  const size_t length = header.length;
  want = std::min(want, length);
  min = std::min(min, want);
  const size_t have = std::min(bytes.size() - kHeaderSize, length);
  if (have < min) return false;
  const size_t taken = std::min(have, want);
  payload = bytes.substr(kHeaderSize, taken);
  consumed = kHeaderSize + taken;
  Side& current = side(direction);
  current.skip = length - taken;
  current.continuation = length == kMaxPayload;
  return true;
}

uint64_t MysqlProtocolParser::request_start(const FrameClock& clock) const {
  const MessageTime first = clock.at(0);
  return role() == Role::Server ? first.exit_ns : first.enter_ns;
}

// ---- connection phase -------------------------------------------------------------

ParseState MysqlProtocolParser::probe(Direction direction, std::string_view bytes, const FrameClock& clock,
                                      size_t& consumed) {
  PacketHeader header;
  if (!read_header(bytes, header)) return ParseState::NeedsMoreData;
  const std::string_view payload = bytes.substr(kHeaderSize);
  if (header.sequence == 0 && header.length > 0) {
    if (payload.empty()) return ParseState::NeedsMoreData;
    switch (check_greeting(header, payload)) {
      case Greeting::Wait:
        return ParseState::NeedsMoreData;
      case Greeting::Yes:
        // The server speaks first.
        stitcher_.set_role(direction == Direction::Send ? Role::Server : Role::Client);
        return parse_start(direction, bytes, clock, consumed);
      case Greeting::No:
        break;
    }
    if (plausible_command(header, payload.substr(0, 3))) {
      stitcher_.set_role(direction == Direction::Send ? Role::Client : Role::Server);
      phase_ = Phase::Commands;
      return parse_request(bytes, clock, consumed);
    }
  }
  // Nothing that tells the role: passed over whole.
  consumed = bytes.size();
  return ParseState::Ignored;
}

ParseState MysqlProtocolParser::parse_start(Direction direction, std::string_view bytes, const FrameClock& clock,
                                            size_t& consumed) {
  PacketHeader header;
  if (!read_header(bytes, header)) return ParseState::NeedsMoreData;
  const std::string_view payload = bytes.substr(kHeaderSize);
  if (header.length > 0 && payload.empty()) return ParseState::NeedsMoreData;
  std::string_view taken;
  if (direction == request_direction()) {
    if (header.length > 0 && plausible_command(header, payload.substr(0, 3))) {
      // Capture began after the handshake.
      phase_ = Phase::Commands;
      return parse_request(bytes, clock, consumed);
    }
    // A HandshakeResponse41 (or SSLRequest) whose greeting was not seen.
    if (header.sequence == 1 && header.length >= kSslRequestSize) {
      if (payload.size() < kCapabilityBytes) return ParseState::NeedsMoreData;
      if (read_u32(payload, 0) & kClientProtocol41) {
        take(direction, bytes, header, kCapabilityBytes, kCapabilityBytes, taken, consumed);
        handshake_response(read_u32(taken, 0), header.length, direction);
        return ParseState::Ignored;
      }
    }
  } else {
    switch (check_greeting(header, payload)) {
      case Greeting::Wait:
        return ParseState::NeedsMoreData;
      case Greeting::Yes: {
        if (!take(direction, bytes, header, kGreetingBytes, kMinGreetingBytes, taken, consumed))
          return ParseState::NeedsMoreData;
        uint32_t capabilities = 0;
        if (read_greeting_capabilities(taken, capabilities)) server_capabilities_ = capabilities;
        ++stitcher_.stats().handshakes;
        phase_ = Phase::Greeted;
        return ParseState::Ignored;
      }
      case Greeting::No:
        break;
    }
  }
  // Not the start of anything recognisable: passed over whole.
  consumed = bytes.size();
  return ParseState::Ignored;
}

ParseState MysqlProtocolParser::parse_handshake(Direction direction, std::string_view bytes,
                                                const FrameClock& clock, size_t& consumed) {
  PacketHeader header;
  if (!read_header(bytes, header)) return ParseState::NeedsMoreData;
  if (header.length > 0 && bytes.size() == kHeaderSize) return ParseState::NeedsMoreData;
  const std::string_view payload = bytes.substr(kHeaderSize);
  std::string_view taken;
  if (direction == request_direction()) {
    if (plausible_command(header, payload.substr(0, 3))) {
      // The end of the handshake went unseen; the client sends commands.
      phase_ = Phase::Commands;
      return parse_request(bytes, clock, consumed);
    }
    if (phase_ == Phase::Greeted && header.sequence > 0 && header.length >= kCapabilityBytes) {
      if (!take(direction, bytes, header, kCapabilityBytes, kCapabilityBytes, taken, consumed))
        return ParseState::NeedsMoreData;
      handshake_response(read_u32(taken, 0), header.length, direction);
      return ParseState::Ignored;
    }
    // Authentication data.
    take(direction, bytes, header, 0, 0, taken, consumed);
    return ParseState::Ignored;
  }
  take(direction, bytes, header, 1, 1, taken, consumed);
  // The OK that ends authentication; ERR, auth switch and more-data packets do not.
  if (phase_ == Phase::Authenticating && !taken.empty() && byte_at(taken, 0) == kOkHeader)
    phase_ = Phase::Commands;
  return ParseState::Ignored;
}

void MysqlProtocolParser::handshake_response(uint32_t capabilities, uint32_t length, Direction direction) {
  if (length == kSslRequestSize && (capabilities & kClientSsl)) {
    stop_parsing(Unparsed::Tls, direction);
    return;
  }
  client_capabilities_ = capabilities;
  const uint32_t agreed = capabilities & server_capabilities_.value_or(~0u);
  if (agreed & (kClientCompress | kClientZstdCompression)) {
    stop_parsing(Unparsed::Compressed, direction);
    return;
  }
  deprecate_eof_ = (agreed & kClientDeprecateEof) != 0;
  phase_ = Phase::Authenticating;
}

void MysqlProtocolParser::stop_parsing(Unparsed reason, Direction direction) {
  phase_ = Phase::Unparsed;
  unparsed_ = reason;
  stitcher_.drop_pending();
  reply_ = Reply::Idle;
  infile_data_ = false;
  // The rest of this direction, right after the current frame; the other
  // direction skips from its next frame on.
  Side& current = side(direction);
  current.skip = kSkipUntilClose;
  current.continuation = false;
}

bool MysqlProtocolParser::query_attributes(std::string_view after_command) const {
  if (client_capabilities_) {
    const uint32_t agreed = *client_capabilities_ & server_capabilities_.value_or(~0u);
    return (agreed & kClientQueryAttributes) != 0;
  }
  return looks_like_query_attributes(after_command);
}

// ---- client direction ---------------------------------------------------------------

ParseState MysqlProtocolParser::parse_request(std::string_view bytes, const FrameClock& clock, size_t& consumed) {
  const Direction direction = request_direction();
  Side& current = side(direction);
  PacketHeader header;
  if (!read_header(bytes, header)) return ParseState::NeedsMoreData;
  std::string_view taken;
  if (current.continuation || infile_data_) {
    // The rest of a command of 16 MiB or more, or a packet of the file a
    // LOCAL INFILE request asked for (an empty one ends the file).
    const bool file_packet = !current.continuation;
    take(direction, bytes, header, 0, 0, taken, consumed);
    if (file_packet && header.length == 0) infile_data_ = false;
    return ParseState::Success;
  }
  if (header.sequence != 0) {
    // Authentication data of a COM_CHANGE_USER; anything else is no command.
    if (reply_ != Reply::Auth) return ParseState::Invalid;
    take(direction, bytes, header, 0, 0, taken, consumed);
    return ParseState::Ignored;
  }
  if (header.length == 0) return ParseState::Invalid;
  if (bytes.size() == kHeaderSize) return ParseState::NeedsMoreData;
  const CommandInfo info = command_info(byte_at(bytes, kHeaderSize));
  if (!info.known || header.length < info.min_payload) return ParseState::Invalid;
  return on_command(header, bytes, clock, consumed);
}

ParseState MysqlProtocolParser::on_command(const PacketHeader& header, std::string_view bytes,
                                           const FrameClock& clock, size_t& consumed) {
  const Direction direction = request_direction();
  const uint8_t command = byte_at(bytes, kHeaderSize);
  PendingCommand pending;
  pending.command = command;
  pending.start_ns = request_start(clock);
  std::string_view payload;
  switch (command) {
    case kComQuery:
    case kComStmtPrepare: {
      // The statement's head is all summarize_sql needs; a text cut by the
      // end of the captured bytes is summarised as it is.
      if (!take(direction, bytes, header, 1 + kMaxStatementBytes, 1 + kMinStatementBytes, payload, consumed))
        return ParseState::NeedsMoreData;
      std::string_view text = payload.substr(1);
      if (command == kComQuery) text = query_text(text, query_attributes(text));
      sql::SqlSummary summary = sql::summarize_sql(text);
      std::string operation = summary.operation.empty() ? std::string("OTHER") : std::move(summary.operation);
      pending.collection = std::move(summary.collection);
      pending.statement = std::move(summary.text);
      if (command == kComQuery) {
        pending.operation = std::move(operation);
      } else {
        pending.operation = "PREPARE";
        last_prepared_ = PreparedStatement{operation, pending.collection, pending.statement};
        pending.statement_operation = std::move(operation);
      }
      break;
    }
    case kComStmtExecute:
    case kComStmtBulkExecute:
    case kComStmtSendLongData:
    case kComStmtClose:
    case kComStmtReset:
    case kComStmtFetch: {
      if (!take(direction, bytes, header, 5, 5, payload, consumed)) return ParseState::NeedsMoreData;
      const uint32_t id = read_u32(payload, 1);
      if (command == kComStmtClose) {
        stitcher_.forget_statement(id);
      } else if (command == kComStmtExecute || command == kComStmtBulkExecute) {
        const PreparedStatement* statement =
            id == kLastPreparedStatement && last_prepared_ ? &*last_prepared_ : stitcher_.statement(id);
        if (statement != nullptr) {
          pending.operation = statement->operation;
          pending.collection = statement->collection;
          pending.statement = statement->statement;
        } else {
          pending.operation = "EXECUTE";
          ++stitcher_.stats().statements_unknown;
        }
      } else {
        pending.operation = "OTHER";
      }
      break;
    }
    default:
      if (!take(direction, bytes, header, 1, 1, payload, consumed)) return ParseState::NeedsMoreData;
      pending.operation = command == kComPing ? "PING" : command == kComInitDb ? "USE" : "OTHER";
      break;
  }
  ++stitcher_.stats().commands;
  switch (command_info(command).response) {
    case ResponseKind::None:
      break;
    case ResponseKind::Stream:
      stop_parsing(Unparsed::Replication, direction);
      break;
    default:
      pend(std::move(pending));
      break;
  }
  return ParseState::Success;
}

void MysqlProtocolParser::pend(PendingCommand command) {
  if (reply_ == Reply::Lost) {
    // The protocol is half-duplex: a client sends a command once it has
    // read the whole previous response, whose end was lost.
    end_lost_front();
    // Pipelined commands behind it cannot be paired any more.
    while (stitcher_.front() != nullptr) stitcher_.abandon_front();
    reply_ = Reply::Idle;
  }
  if (stitcher_.add_command(std::move(command))) reply_ = Reply::Idle;  // all older ones given up
  if (reply_ == Reply::Idle) next_reply();
}

// ---- server direction ---------------------------------------------------------------

void MysqlProtocolParser::end_lost_front() {
  // The response ended with the last server-direction message seen, if its
  // first packet was parsed; otherwise nothing of it is known.
  const PendingCommand* front = stitcher_.front();
  if (front != nullptr && front->answered && last_response_ns_ != 0) {
    stitcher_.finish_front(last_response_ns_, std::nullopt);
    ++stitcher_.stats().ends_inferred;
  } else {
    stitcher_.abandon_front();
  }
}

void MysqlProtocolParser::next_reply() {
  reply_ = stitcher_.front() != nullptr ? Reply::First : Reply::Idle;
  remaining_ = 0;
  last_response_ns_ = 0;
}

ParseState MysqlProtocolParser::response_part(const FrameClock& clock, size_t consumed) {
  last_response_ns_ = clock.at(consumed - 1).exit_ns;
  return ParseState::Success;
}

ParseState MysqlProtocolParser::complete(const FrameClock& clock, size_t consumed,
                                         std::optional<uint16_t> error_code) {
  const Side& current = side(opposite(request_direction()));
  if (current.skip == 0) {
    stitcher_.finish_front(clock.at(consumed - 1).exit_ns, error_code);
  } else {
    // The final packet's last byte is in the skipped part: on_body_end times it.
    stitcher_.defer_front(error_code);
  }
  infile_data_ = false;
  next_reply();
  return ParseState::Success;
}

ParseState MysqlProtocolParser::end_of_result(const FrameClock& clock, size_t consumed, uint16_t status) {
  if (status & kServerMoreResultsExists) {
    // Another result set (or the final OK of a CALL) answers the same command.
    reply_ = Reply::First;
    return response_part(clock, consumed);
  }
  return complete(clock, consumed, std::nullopt);
}

ParseState MysqlProtocolParser::lose_sync(std::string_view bytes, const FrameClock& clock, size_t& consumed) {
  Side& current = side(opposite(request_direction()));
  current.skip = 0;
  current.continuation = false;
  reply_ = Reply::Lost;
  return parse_lost(bytes, clock, consumed);
}

ParseState MysqlProtocolParser::parse_response(std::string_view bytes, const FrameClock& clock, size_t& consumed) {
  const Direction direction = opposite(request_direction());
  Side& current = side(direction);
  PacketHeader header;
  if (reply_ == Reply::Idle) {
    // No command waits: an answer to one sent before capture began or lost.
    // It cannot be framed without knowing the command; passed over whole.
    bool trailing_eof = false;
    if (trailing_eof_sequence_ >= 0 && read_header(bytes, header) && bytes.size() > kHeaderSize) {
      trailing_eof = header.sequence == trailing_eof_sequence_ && header.length == kEofBytes &&
                     byte_at(bytes, kHeaderSize) == kEofHeader;
      if (trailing_eof) learn_deprecate_eof(false);
      trailing_eof_sequence_ = -1;
    }
    if (!trailing_eof) ++stitcher_.stats().orphan_frames;
    consumed = bytes.size();
    return ParseState::Ignored;
  }
  if (reply_ == Reply::Lost) return parse_lost(bytes, clock, consumed);
  if (!read_header(bytes, header)) return ParseState::NeedsMoreData;
  std::string_view payload;
  if (current.continuation) {
    take(direction, bytes, header, 0, 0, payload, consumed);
    return response_part(clock, consumed);
  }
  if (header.length == 0) return lose_sync(bytes, clock, consumed);
  if (bytes.size() == kHeaderSize) return ParseState::NeedsMoreData;
  const uint8_t first = byte_at(bytes, kHeaderSize);
  switch (reply_) {
    case Reply::First:
      return parse_first(header, bytes, clock, consumed);
    case Reply::ColumnDefs:
    case Reply::PrepareParams:
    case Reply::PrepareColumns:
      // Definitions are counted, not read.
      take(direction, bytes, header, 0, 0, payload, consumed);
      if (--remaining_ > 0) return response_part(clock, consumed);
      if (reply_ == Reply::ColumnDefs) {
        reply_ = Reply::AfterColumnDefs;
        return response_part(clock, consumed);
      }
      return after_prepare_defs(header, clock, consumed, reply_ == Reply::PrepareParams);
    case Reply::AfterColumnDefs:
      return parse_after_column_defs(header, bytes, clock, consumed);
    case Reply::Rows:
      return parse_row(header, bytes, clock, consumed);
    case Reply::PrepareParamsEof:
    case Reply::PrepareColumnsEof:
      if (first == kEofHeader && header.length < 9) {
        if (!take(direction, bytes, header, kEofBytes, kEofBytes, payload, consumed))
          return ParseState::NeedsMoreData;
        learn_deprecate_eof(false);
        if (reply_ == Reply::PrepareParamsEof && prepare_columns_ > 0) {
          reply_ = Reply::PrepareColumns;
          remaining_ = prepare_columns_;
          return response_part(clock, consumed);
        }
        return complete(clock, consumed, std::nullopt);
      }
      if (reply_ == Reply::PrepareParamsEof && !deprecate_eof_.has_value()) {
        // Capabilities unknown and no EOF: this is the first column definition.
        learn_deprecate_eof(true);
        reply_ = Reply::PrepareColumns;
        remaining_ = prepare_columns_;
        return parse_response(bytes, clock, consumed);
      }
      return lose_sync(bytes, clock, consumed);
    case Reply::InfileResult:
    case Reply::Auth:
      if (first == kOkHeader) {
        take(direction, bytes, header, 1, 1, payload, consumed);
        // A new user, or the same one reset: the server dropped its statements.
        if (reply_ == Reply::Auth) stitcher_.clear_statements();
        return complete(clock, consumed, std::nullopt);
      }
      if (first == kErrHeader) {
        if (!take(direction, bytes, header, kErrBytes, kErrBytes, payload, consumed))
          return ParseState::NeedsMoreData;
        return complete(clock, consumed, read_err_code(payload));
      }
      if (reply_ == Reply::Auth) {
        // Auth switch request, more authentication data.
        take(direction, bytes, header, 0, 0, payload, consumed);
        return response_part(clock, consumed);
      }
      return lose_sync(bytes, clock, consumed);
    case Reply::Idle:
    case Reply::Lost:
      break;
  }
  return lose_sync(bytes, clock, consumed);
}

ParseState MysqlProtocolParser::parse_first(const PacketHeader& header, std::string_view bytes,
                                            const FrameClock& clock, size_t& consumed) {
  const Direction direction = opposite(request_direction());
  PendingCommand& command = *stitcher_.front();
  const ResponseKind kind = command_info(command.command).response;
  const uint8_t first = byte_at(bytes, kHeaderSize);
  std::string_view payload;

  if (trailing_eof_sequence_ >= 0) {
    // The EOF that may follow the definitions of a COM_STMT_PREPARE_OK
    // already recorded (capabilities unknown).
    if (header.sequence == trailing_eof_sequence_ && first == kEofHeader && header.length == kEofBytes) {
      if (!take(direction, bytes, header, kEofBytes, kEofBytes, payload, consumed))
        return ParseState::NeedsMoreData;
      trailing_eof_sequence_ = -1;
      learn_deprecate_eof(false);
      return ParseState::Ignored;
    }
    trailing_eof_sequence_ = -1;
  }

  command.answered = true;
  if (kind == ResponseKind::Auth) {
    reply_ = Reply::Auth;
    return parse_response(bytes, clock, consumed);
  }
  if (first == kErrHeader) {
    if (!take(direction, bytes, header, kErrBytes, kErrBytes, payload, consumed)) return ParseState::NeedsMoreData;
    return complete(clock, consumed, read_err_code(payload));
  }
  if (first == kOkHeader && kind == ResponseKind::Prepare) {
    if (header.length < kPrepareOkBytes) return lose_sync(bytes, clock, consumed);
    if (!take(direction, bytes, header, kPrepareOkBytes, kPrepareOkBytes, payload, consumed))
      return ParseState::NeedsMoreData;
    const uint32_t id = read_u32(payload, 1);
    const uint16_t columns = read_u16(payload, 5);
    const uint16_t params = read_u16(payload, 7);
    stitcher_.remember_statement(id, PreparedStatement{command.statement_operation, command.collection, command.statement});
    ++stitcher_.stats().statements_prepared;
    prepare_columns_ = columns;
    if (params > 0) {
      reply_ = Reply::PrepareParams;
      remaining_ = params;
      return response_part(clock, consumed);
    }
    if (columns > 0) {
      reply_ = Reply::PrepareColumns;
      remaining_ = columns;
      return response_part(clock, consumed);
    }
    return complete(clock, consumed, std::nullopt);
  }
  if (first == kOkHeader) {
    if (!take(direction, bytes, header, kOkBytes, kOkBytes, payload, consumed)) return ParseState::NeedsMoreData;
    uint16_t status = 0;
    read_ok_status(payload, status);
    if (command.command == kComResetConnection) stitcher_.clear_statements();
    if (kind == ResponseKind::ResultSet) return end_of_result(clock, consumed, status);
    return complete(clock, consumed, std::nullopt);
  }
  if (first == kEofHeader && header.length < 9) {
    // COM_SET_OPTION, COM_DEBUG, COM_SHUTDOWN answer with an EOF.
    if (!take(direction, bytes, header, kEofBytes, kEofBytes, payload, consumed)) return ParseState::NeedsMoreData;
    return complete(clock, consumed, std::nullopt);
  }
  if (kind == ResponseKind::ResultSet) {
    if (first == kLocalInfileHeader) {
      // LOAD DATA LOCAL: the client sends the file, then the server answers.
      take(direction, bytes, header, 1, 1, payload, consumed);
      reply_ = Reply::InfileResult;
      infile_data_ = true;
      ++stitcher_.stats().local_infile_requests;
      return response_part(clock, consumed);
    }
    if (!take(direction, bytes, header, kColumnCountBytes, kColumnCountBytes, payload, consumed))
      return ParseState::NeedsMoreData;
    uint64_t count = 0;
    size_t size = 0;
    if (read_lenenc(payload, count, size) != Lenenc::Ok || count == 0 || count > kMaxColumns)
      return lose_sync(bytes, clock, consumed);
    // With optional result set metadata the count is followed by a byte
    // saying whether the definitions are sent.
    const bool definitions = payload.size() <= size || byte_at(payload, size) != 0;
    remaining_ = count;
    reply_ = definitions ? Reply::ColumnDefs : Reply::AfterColumnDefs;
    return response_part(clock, consumed);
  }
  if (kind == ResponseKind::Rows) {
    reply_ = Reply::Rows;
    return parse_row(header, bytes, clock, consumed);
  }
  // Any other single packet (COM_STATISTICS answers with a string).
  take(direction, bytes, header, 1, 1, payload, consumed);
  return complete(clock, consumed, std::nullopt);
}

ParseState MysqlProtocolParser::after_prepare_defs(const PacketHeader& header, const FrameClock& clock,
                                                   size_t consumed, bool params) {
  const bool more_columns = params && prepare_columns_ > 0;
  if (deprecate_eof_ == false) {
    reply_ = params ? Reply::PrepareParamsEof : Reply::PrepareColumnsEof;
    return response_part(clock, consumed);
  }
  if (more_columns) {
    // Without CLIENT_DEPRECATE_EOF an EOF comes first; unknown, either may.
    if (deprecate_eof_ == true) {
      reply_ = Reply::PrepareColumns;
      remaining_ = prepare_columns_;
    } else {
      reply_ = Reply::PrepareParamsEof;
    }
    return response_part(clock, consumed);
  }
  if (!deprecate_eof_.has_value()) {
    // Unknown capabilities: the response ends here, or with an EOF that is
    // then passed over.
    trailing_eof_sequence_ = static_cast<uint8_t>(header.sequence + 1);
  }
  return complete(clock, consumed, std::nullopt);
}

ParseState MysqlProtocolParser::parse_after_column_defs(const PacketHeader& header, std::string_view bytes,
                                                        const FrameClock& clock, size_t& consumed) {
  const uint8_t first = byte_at(bytes, kHeaderSize);
  if (first == kEofHeader && header.length < kMaxPayload) {
    const bool eof = deprecate_eof_ ? !*deprecate_eof_ : header.length == kEofBytes;
    if (eof) {
      std::string_view payload;
      if (!take(opposite(request_direction()), bytes, header, kEofBytes, kEofBytes, payload, consumed))
        return ParseState::NeedsMoreData;
      learn_deprecate_eof(false);
      uint16_t status = 0;
      read_eof_status(payload, status);
      // A cursor was opened (COM_STMT_EXECUTE): rows come with COM_STMT_FETCH.
      if (status & kServerCursorExists) return complete(clock, consumed, std::nullopt);
      reply_ = Reply::Rows;
      return response_part(clock, consumed);
    }
    learn_deprecate_eof(true);  // the OK ending a result set without rows
  } else if (first != kErrHeader) {
    learn_deprecate_eof(true);  // a row right after the definitions
  }
  reply_ = Reply::Rows;
  return parse_row(header, bytes, clock, consumed);
}

ParseState MysqlProtocolParser::parse_row(const PacketHeader& header, std::string_view bytes,
                                          const FrameClock& clock, size_t& consumed) {
  const Direction direction = opposite(request_direction());
  const uint8_t first = byte_at(bytes, kHeaderSize);
  std::string_view payload;
  // A row starting with 0xFE (a length-encoded string of 2^24 bytes or more)
  // fills a whole packet; anything shorter is the end of the result set.
  if (first == kEofHeader && header.length < kMaxPayload) {
    if (!take(direction, bytes, header, kOkBytes, kOkBytes, payload, consumed)) return ParseState::NeedsMoreData;
    uint16_t status = 0;
    read_end_status(payload, header.length, status);
    return end_of_result(clock, consumed, status);
  }
  if (first == kErrHeader) {
    if (!take(direction, bytes, header, kErrBytes, kErrBytes, payload, consumed)) return ParseState::NeedsMoreData;
    return complete(clock, consumed, read_err_code(payload));
  }
  // A text or binary row (or a definition answering COM_FIELD_LIST): skipped.
  take(direction, bytes, header, 1, 1, payload, consumed);
  return response_part(clock, consumed);
}

ParseState MysqlProtocolParser::parse_lost(std::string_view bytes, const FrameClock& clock, size_t& consumed) {
  // The end of the front command's response; or, when more commands wait,
  // the start of the next one's (the front's end having been lost).
  const size_t end = find_result_end(bytes);
  size_t next = std::string_view::npos;
  if (stitcher_.pending() > 1) {
    next = find_response_start(bytes);
    if (next != std::string_view::npos && bytes.size() - next <= kHeaderSize) next = std::string_view::npos;
  }
  if (next < end) {
    if (next == 0) {
      end_lost_front();
      next_reply();
      return parse_response(bytes, clock, consumed);
    }
  } else if (end == 0) {
    PacketHeader header;
    read_header(bytes, header);
    reply_ = Reply::Rows;
    return parse_row(header, bytes, clock, consumed);
  }
  // Passed over up to a candidate, or whole; the time still tells when the
  // response was last seen.
  consumed = std::min(std::min(next, end), bytes.size());
  last_response_ns_ = clock.at(consumed - 1).exit_ns;
  return ParseState::Ignored;
}

// ---- stream events ------------------------------------------------------------------

size_t MysqlProtocolParser::find_frame_boundary(Direction direction, std::string_view bytes) const {
  // Unparsed, role unknown, handshake: parse_frame takes whatever comes.
  if (phase_ != Phase::Commands || role() == Role::Unknown) return 0;
  if (direction == request_direction()) {
    // No command comes before the server answered a LOCAL INFILE upload.
    if (reply_ == Reply::InfileResult) return std::string_view::npos;
    return find_command(bytes);
  }
  // A response expected from its first packet; in all other states (no
  // command waits, or looking for the end after lost bytes) parse_frame
  // takes whatever comes.
  return reply_ == Reply::First ? find_response_start(bytes) : 0;
}

void MysqlProtocolParser::on_gap(Direction direction, uint64_t /*missing_bytes*/) {
  sides_[direction_index(direction)] = Side{};
  if (phase_ == Phase::Unparsed || role() == Role::Unknown) return;
  if (phase_ != Phase::Commands) {
    // The handshake cannot be followed any further: commands are looked for.
    phase_ = Phase::Commands;
    return;
  }
  if (direction == request_direction()) {
    // A command cut by the gap never made it into the queue; the ones before
    // it still get their responses, in order.
    infile_data_ = false;
    return;
  }
  trailing_eof_sequence_ = -1;
  if (reply_ != Reply::Idle) reply_ = Reply::Lost;
}

size_t MysqlProtocolParser::body_bytes_to_skip(Direction direction) const {
  return static_cast<size_t>(sides_[direction_index(direction)].skip);
}

void MysqlProtocolParser::on_body_end(Direction direction, MessageTime last) {
  if (phase_ != Phase::Commands || role() == Role::Unknown || direction == request_direction()) return;
  if (stitcher_.deferred()) {
    stitcher_.finish_deferred(last.exit_ns);
  } else if (reply_ != Reply::Idle) {
    last_response_ns_ = last.exit_ns;
  }
}

void MysqlProtocolParser::on_close() {
  stitcher_.drop_pending();
  reply_ = Reply::Idle;
  infile_data_ = false;
  sides_[0] = Side{};
  sides_[1] = Side{};
}

ProtocolRegistry::Factory make_factory(MysqlParserOptions options) {
  return [options](RecordSink& sink, Role role) -> std::unique_ptr<ProtocolParser> {
    return std::make_unique<MysqlProtocolParser>(sink, role, options);
  };
}

}  // namespace redeye::protocols::mysql
