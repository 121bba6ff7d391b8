#include "protocols/postgres/pg_protocol.h"

#include <algorithm>
#include <utility>

namespace redeye::protocols::postgres {
namespace {

enum class NameRead { Complete, Incomplete, Unreadable };

// `count` NUL-terminated names from `offset` of a body of `body` bytes, of
// which `available` are here. Incomplete while a name may still end within
// kMaxNameBytes; Unreadable (all keys nullopt) when one cannot. `used`: bytes
// through the last NUL.
NameRead read_names(std::string_view available, uint32_t body, size_t offset, size_t count,
                    NameKey* keys, size_t& used) {
  size_t pos = offset;
  for (size_t i = 0; i < count; ++i) {
    std::string_view name;
    if (read_cstring(available, pos, kMaxNameBytes, name)) {
      keys[i] = name_key(name);
      continue;
    }
    if (available.size() < std::min<size_t>(body, pos + kMaxNameBytes)) return NameRead::Incomplete;
    for (size_t k = 0; k < count; ++k) keys[k] = std::nullopt;
    used = 0;
    return NameRead::Unreadable;
  }
  used = pos;
  return NameRead::Complete;
}

// Backend messages of the session rather than of an exchange.
bool is_session_message(char type) {
  switch (type) {
    case 'R': case 'S': case 'K': case 'v': case 'N': case 'A':
      return true;
    default:
      return false;
  }
}

}  // namespace

PostgresProtocolParser::PostgresProtocolParser(RecordSink& sink, Role role, PostgresParserOptions options)
    : stitcher_(sink, role, options.stitcher) {}

Direction PostgresProtocolParser::frontend_direction() const {
  return role() == Role::Server ? Direction::Recv : Direction::Send;
}

Sender PostgresProtocolParser::sender_of(Direction direction) const {
  if (role() == Role::Unknown) return Sender::Either;
  return direction == frontend_direction() ? Sender::Frontend : Sender::Backend;
}

void PostgresProtocolParser::infer_role(Direction direction, char type) {
  const bool sent = direction == Direction::Send;
  if (is_frontend_only(type)) {
    stitcher_.set_role(sent ? Role::Client : Role::Server);
  } else if (is_backend_only(type)) {
    stitcher_.set_role(sent ? Role::Server : Role::Client);
  }
}

uint64_t PostgresProtocolParser::request_start(MessageTime time) const {
  return role() == Role::Server ? time.exit_ns : time.enter_ns;
}

uint64_t PostgresProtocolParser::answer_start(MessageTime time) const {
  // Comparable with request_start: a server writes after its read returned,
  // a client's read returns after its write began.
  return role() == Role::Server ? time.enter_ns : time.exit_ns;
}

ParseState PostgresProtocolParser::parse_frame(Direction direction, std::string_view bytes,
                                               const FrameClock& clock, size_t& consumed) {
  Side& current = side(direction);
  current.skip = 0;
  current.after_elision = false;  // the stream resynchronised before this call
  if (current.phase == Phase::Encrypted) {
    // Taken as a one-byte frame so that the rest can be skipped.
    consumed = 1;
    current.skip = kSkipUntilClose;
    return ParseState::Ignored;
  }
  Sender sender = sender_of(direction);
  if (sender == Sender::Frontend) tentative_ = Tentative{};
  if (sender != Sender::Backend && bytes.front() == '\0')
    return parse_startup_frame(direction, current, bytes, clock, consumed);
  if (sender == Sender::Backend && awaiting_encryption_answer_) {
    awaiting_encryption_answer_ = false;
    const char answer = bytes.front();
    if (answer == 'N' || answer == 'S' || answer == 'G') {
      consumed = 1;
      if (answer != 'N') {
        start_encrypted();
        current.skip = kSkipUntilClose;
      }
      return ParseState::Ignored;
    }
    // A server that does not know the request answers with an ErrorResponse.
  }

  Header header;
  switch (parse_header(bytes, sender, header)) {
    case ParseResult::Incomplete:
      return ParseState::NeedsMoreData;
    case ParseResult::Invalid:
      return ParseState::Invalid;
    case ParseResult::Complete:
      break;
  }
  if (sender == Sender::Either) {
    infer_role(direction, header.type);
    if (role() == Role::Unknown) {
      // A type both ends send: framed, not understood.
      consumed = kHeaderSize;
      current.skip = header.body();
      return ParseState::Ignored;
    }
    sender = sender_of(direction);
    if (parse_header(bytes, sender, header) != ParseResult::Complete) return ParseState::Invalid;
  }
  return sender == Sender::Frontend ? parse_frontend(current, header, bytes, clock, consumed)
                                    : parse_backend(current, header, bytes, clock, consumed);
}

ParseState PostgresProtocolParser::parse_startup_frame(Direction direction, Side& current,
                                                       std::string_view bytes, const FrameClock& clock,
                                                       size_t& consumed) {
  StartupPacket packet;
  switch (parse_startup(bytes, packet)) {
    case ParseResult::Incomplete:
      return ParseState::NeedsMoreData;
    case ParseResult::Invalid:
      return ParseState::Invalid;
    case ParseResult::Complete:
      break;
  }
  // Only a frontend sends these.
  if (role() == Role::Unknown)
    stitcher_.set_role(direction == Direction::Send ? Role::Client : Role::Server);
  PgStats& stats = stitcher_.mutable_stats();
  switch (packet.kind) {
    case StartupKind::Startup:
      ++stats.startup_messages;
      stitcher_.on_startup(request_start(clock.at(0)));
      break;
    case StartupKind::SslRequest:
    case StartupKind::GssEncRequest:
      ++stats.encryption_requests;
      awaiting_encryption_answer_ = true;
      break;
    case StartupKind::CancelRequest:
      ++stats.cancel_requests;
      break;
  }
  // Parameters (user, database...) and cancel keys are not needed.
  consumed = kStartupHeaderSize;
  current.skip = packet.length - kStartupHeaderSize;
  return ParseState::Ignored;
}

ParseState PostgresProtocolParser::parse_frontend(Side& current, const Header& header,
                                                  std::string_view bytes, const FrameClock& clock,
                                                  size_t& consumed) {
  const uint32_t body = header.body();
  const std::string_view available = bytes.substr(kHeaderSize, body);
  const uint64_t start_ns = request_start(clock.at(0));
  size_t used = 0;  // body bytes taken into the frame; the rest is skipped
  NameKey keys[2];
  NameRead names = NameRead::Complete;
  ParseState state = ParseState::Success;

  switch (header.type) {
    case 'Q':
      state = read_statement(header, available, 0, start_ns, std::nullopt, used);
      break;
    case 'P':
      names = read_names(available, body, 0, 1, keys, used);
      if (names == NameRead::Complete) {
        state = read_statement(header, available, used, start_ns, keys[0], used);
      } else if (names == NameRead::Unreadable) {
        // Where the text starts is unknown: a statement that is not tracked.
        stitcher_.on_parse(start_ns, std::nullopt, {});
      }
      break;
    case 'B':
      names = read_names(available, body, 0, 2, keys, used);
      if (names != NameRead::Incomplete) stitcher_.on_bind(start_ns, keys[0], keys[1]);
      break;
    case 'E':
      names = read_names(available, body, 0, 1, keys, used);
      if (names != NameRead::Incomplete) stitcher_.on_execute(start_ns, keys[0]);
      break;
    case 'D':
    case 'C': {
      if (available.empty()) return ParseState::NeedsMoreData;
      const char target = available.front();
      names = read_names(available, body, 1, 1, keys, used);
      if (names == NameRead::Incomplete) break;
      if (header.type == 'D') {
        stitcher_.on_describe(start_ns, target, keys[0]);
      } else {
        stitcher_.on_close_target(start_ns, target, keys[0]);
      }
      break;
    }
    case 'S':
      stitcher_.on_sync(start_ns);
      break;
    case 'F':
      stitcher_.on_function_call(start_ns);
      break;
    case 'c':
    case 'f':
      stitcher_.on_copy_end();
      state = ParseState::Ignored;
      break;
    default:
      // Flush, Terminate, CopyData, password/SASL/GSS responses: nothing
      // to pair.
      state = ParseState::Ignored;
      break;
  }
  if (names == NameRead::Incomplete || state == ParseState::NeedsMoreData) return ParseState::NeedsMoreData;
  consumed = kHeaderSize + used;
  current.skip = body - used;
  return state;
}

ParseState PostgresProtocolParser::read_statement(const Header& header, std::string_view available,
                                                  size_t text_start, uint64_t start_ns, NameKey statement,
                                                  size_t& used) {
  const size_t text_room = header.body() - text_start;  // text, NUL and what follows
  // The text and its NUL, at most kMaxStatementBytes of text.
  const size_t limit = std::min(text_room, kMaxStatementBytes + 1);
  const std::string_view head = available.substr(text_start, limit);
  std::string_view text = head;
  const size_t nul = head.find('\0');
  if (nul != std::string_view::npos) {
    text = head.substr(0, nul);
    used = text_start + nul + 1;
  } else if (head.size() == limit) {
    // Longer than the cap (or, malformed, without its NUL): the head will do.
    text = head.substr(0, std::min(head.size(), kMaxStatementBytes));
    used = text_start + text.size();
    if (text_room > kMaxStatementBytes) ++stitcher_.mutable_stats().statements_truncated;
  } else {
    // Still arriving. Should the capture end here, the head is what there is.
    tentative_.active = true;
    tentative_.type = header.type;
    tentative_.frame_size = uint64_t{header.length} + 1;
    tentative_.start_ns = start_ns;
    tentative_.statement = statement;
    tentative_.summary = sql::summarize_sql(head);
    return ParseState::NeedsMoreData;
  }
  commit_statement(header.type, start_ns, statement, sql::summarize_sql(text));
  return ParseState::Success;
}

void PostgresProtocolParser::commit_statement(char type, uint64_t start_ns, NameKey statement,
                                              sql::SqlSummary summary) {
  if (type == 'Q') {
    stitcher_.on_query(start_ns, std::move(summary));
  } else {
    stitcher_.on_parse(start_ns, statement, std::move(summary));
  }
}

ParseState PostgresProtocolParser::parse_backend(Side& current, const Header& header,
                                                 std::string_view bytes, const FrameClock& clock,
                                                 size_t& consumed) {
  const uint32_t body = header.body();
  const std::string_view available = bytes.substr(kHeaderSize, body);
  size_t used = 0;
  std::string_view sqlstate;
  if (header.type == 'E') {
    // Servers send the SQLSTATE third, after severities: within a few bytes.
    const size_t limit = std::min<size_t>(body, kMaxErrorFieldBytes);
    switch (scan_error_fields(available.substr(0, limit), sqlstate, used)) {
      case ErrorScan::Found:
      case ErrorScan::NotFound:
        break;
      case ErrorScan::Partial:
        if (available.size() < limit) return ParseState::NeedsMoreData;
        sqlstate = {};
        used = limit;
        break;
    }
  }
  consumed = kHeaderSize + used;
  current.skip = body - used;
  if (is_session_message(header.type)) return ParseState::Ignored;
  if (!PgStitcher::answers_requests(header.type)) return ParseState::Success;

  const uint64_t first_ns = answer_start(clock.at(0));
  if (current.skip == 0) {
    stitcher_.on_backend_message(header.type, first_ns, clock.at(consumed - 1).exit_ns, sqlstate);
  } else {
    // Its last byte is the skipped body's: see on_body_end.
    current.deferred = true;
    current.deferred_type = header.type;
    current.deferred_first_ns = first_ns;
    current.deferred_sqlstate.assign(sqlstate);
  }
  return ParseState::Success;
}

void PostgresProtocolParser::start_encrypted() {
  stitcher_.mutable_stats().encrypted = true;
  for (Side& s : sides_) s.phase = Phase::Encrypted;
  tentative_ = Tentative{};
}

size_t PostgresProtocolParser::find_frame_boundary(Direction direction, std::string_view bytes) const {
  const Side& current = sides_[direction_index(direction)];
  if (current.phase == Phase::Encrypted) return bytes.empty() ? std::string_view::npos : 0;
  if (current.after_elision) return find_message_chain(bytes, sender_of(direction));
  return find_message_start(bytes, sender_of(direction));
}

void PostgresProtocolParser::on_elided(Direction direction, uint64_t missing_bytes) {
  if (role() == Role::Unknown) {
    on_gap(direction, missing_bytes);
    return;
  }
  // Only the middle of one message is missing (rows of a result, the end of
  // a long statement or of a Bind): requests and answers still pair up.
  Side& current = side(direction);
  const Phase phase = current.phase;
  current = Side{};
  current.phase = phase;
  current.after_elision = true;
  if (direction == frontend_direction()) {
    if (tentative_.active) {
      ++stitcher_.mutable_stats().statements_cut_by_capture;
      commit_statement(tentative_.type, tentative_.start_ns, tentative_.statement, std::move(tentative_.summary));
    }
    tentative_ = Tentative{};
  }
}

void PostgresProtocolParser::on_gap(Direction direction, uint64_t missing_bytes) {
  Side& current = side(direction);
  const Phase phase = current.phase;
  current = Side{};
  current.phase = phase;

  bool beyond_statement = true;
  if (tentative_.active && role() != Role::Unknown && direction == frontend_direction()) {
    // The capture kept the head of a Query or Parse and lost its tail:
    // record it from the head. When exactly its tail went missing, nothing
    // else was lost.
    if (missing_bytes >= tentative_.frame_size) {
      ++stitcher_.mutable_stats().statements_cut_by_capture;
      commit_statement(tentative_.type, tentative_.start_ns, tentative_.statement,
                       std::move(tentative_.summary));
    }
    beyond_statement = missing_bytes != tentative_.frame_size;
  }
  tentative_ = Tentative{};
  // Which answer goes with which request can no longer be told.
  if (beyond_statement) stitcher_.drop_pending();
}

size_t PostgresProtocolParser::body_bytes_to_skip(Direction direction) const {
  return static_cast<size_t>(sides_[direction_index(direction)].skip);
}

void PostgresProtocolParser::on_body_end(Direction direction, MessageTime last) {
  Side& current = side(direction);
  if (!current.deferred) return;
  current.deferred = false;
  stitcher_.on_backend_message(current.deferred_type, current.deferred_first_ns, last.exit_ns,
                               current.deferred_sqlstate);
}

void PostgresProtocolParser::on_close() {
  stitcher_.on_close();
  for (Side& s : sides_) s = Side{};
  tentative_ = Tentative{};
  awaiting_encryption_answer_ = false;
}

ProtocolRegistry::Factory make_factory(PostgresParserOptions options) {
  return [options](RecordSink& sink, Role role) -> std::unique_ptr<ProtocolParser> {
    return std::make_unique<PostgresProtocolParser>(sink, role, options);
  };
}

}  // namespace redeye::protocols::postgres
