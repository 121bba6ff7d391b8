// Pairs PostgreSQL requests with the backend messages that answer them on one
// connection and emits a Record (with SqlDetails) per request.
//
// The backend answers frontend messages strictly in order, so the stitcher
// keeps the frontend messages that expect an answer in a FIFO: a simple Query
// (answered up to its ReadyForQuery), a FunctionCall (likewise), the
// extended-protocol steps Parse, Bind, Describe, Execute, Close and Sync, and
// the StartupMessage (whose ReadyForQuery answers no request).
// Requests are Query, FunctionCall and each Execute; the other steps are
// kept so that errors can be placed and answers counted off.
//
// Errors: in a Query or FunctionCall the first ErrorResponse becomes the
// record's error, closed by ReadyForQuery. In the extended protocol an
// ErrorResponse answers the step at the head; the server then discards every
// frontend message up to the next Sync, so the Executes queued before it get
// no record (counted as skipped), and later messages until a Sync are not
// queued. An error on Parse/Bind/Describe/Close goes to the first Execute of
// its batch, or, when the batch has none (a statement prepared alone), to a
// record of its own.
//
// An answer whose first byte was seen before the head message's was answers
// something lost in a gap, and is passed over. Over max_pending_messages the
// oldest batch is dropped whole; its answers are passed over up to its
// ReadyForQuery.
//
// Statements and portals are remembered by a hash of their name, with the
// summary of their text (never the text): prepared once, executed many times.
//
// Record::operation (= SqlDetails::operation): the statement's first keyword
// (sql_summary.h); "OTHER" for an empty or unrecognised one; "EXECUTE" for a
// statement whose Parse was never seen; "CALL" for a FunctionCall.
// Record::status: the SQLSTATE, "00000" on success; SqlDetails::error_type:
// the SQLSTATE of an error ("_OTHER" when it has none), "" on success.
//
// Payload bytes are never logged.
#pragma once

#include "util/small_fifo.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "protocols/protocol.h"
#include "protocols/sql/sql_summary.h"

namespace redeye::protocols::postgres {

inline constexpr std::string_view kSystem = "postgresql";
// Record::status of a success (SQLSTATE successful_completion).
inline constexpr std::string_view kSuccessState = "00000";
// SqlDetails::error_type of an ErrorResponse without a usable SQLSTATE.
inline constexpr std::string_view kUnknownErrorType = "_OTHER";

struct PgStats {
  // Framing (PostgresProtocolParser).
  uint64_t startup_messages = 0;     // StartupMessage
  uint64_t encryption_requests = 0;  // SSLRequest, GSSENCRequest
  uint64_t cancel_requests = 0;      // CancelRequest
  bool encrypted = false;            // the server accepted SSL/GSS: the connection is not parsed
  uint64_t statements_truncated = 0; // text over kMaxStatementBytes: summarised from its head
  uint64_t statements_cut_by_capture = 0;  // text whose tail was never captured: summarised from its head

  // Requests: requests == (records - prepare_errors) + requests_unanswered
  //   + requests_skipped + requests_evicted + pending_requests().
  uint64_t requests = 0;             // Query, Execute and FunctionCall messages
  uint64_t records = 0;              // records emitted
  uint64_t errors = 0;               // records with an ErrorResponse
  uint64_t prepare_errors = 0;       // records of a failed Parse/Bind/Describe/Close without an Execute
  uint64_t requests_unanswered = 0;  // given up: gap, close, ReadyForQuery before their completion
  uint64_t requests_skipped = 0;     // discarded by the server after an error in their batch
  uint64_t requests_evicted = 0;     // dropped over max_pending_messages

  // Backend messages that answered nothing known.
  uint64_t responses_unmatched = 0;       // completion of a kind the head message does not expect
  uint64_t responses_before_request = 0;  // sent before the head message was: answers a lost one
  uint64_t responses_of_evicted = 0;      // answers to evicted messages, passed over
  uint64_t errors_unattributed = 0;       // ErrorResponse with no request to blame (startup, Sync)

  uint64_t statements_evicted = 0;   // least recently used names forgotten over the cap
  uint64_t unknown_statements = 0;   // Bind of a statement, Execute of a portal never seen
};

// Key of a statement or portal name: a 64-bit hash, so that names are not
// kept. std::nullopt: a name too long to read.
using NameKey = std::optional<uint64_t>;
NameKey name_key(std::string_view name);

// What a statement or portal runs: the summary of its text. Never null in a
// cache; an unknown statement has an empty summary.
using StatementRef = std::shared_ptr<const sql::SqlSummary>;

// Named statements or portals of one connection, least recently used first
// out over the capacity. The unnamed one ("") is kept apart, never evicted.
class NameCache {
 public:
  explicit NameCache(size_t capacity);
  // Returns true when another name was evicted to make room.
  bool put(uint64_t key, StatementRef statement);
  // nullptr when the name is not known.
  StatementRef find(uint64_t key);
  void erase(uint64_t key);
  void clear();
  size_t size() const { return named_.size() + (unnamed_ ? 1 : 0); }

 private:
  struct Entry {
    StatementRef statement;
    uint64_t last_used = 0;
  };
  const size_t capacity_;
  StatementRef unnamed_;
  std::unordered_map<uint64_t, Entry> named_;
  uint64_t clock_ = 0;
};

struct PgStitcherOptions {
  // Frontend messages waiting for their answer; over it the oldest batch
  // (up to its Sync) is dropped and its answers are passed over.
  // JDBC batches sync every ~256 statements of 4 messages each.
  size_t max_pending_messages = 4096;
  size_t max_statements = 256;  // named prepared statements remembered
  size_t max_portals = 64;      // named portals remembered
};

class PgStitcher {
 public:
  // `sink` outlives the stitcher.
  PgStitcher(RecordSink& sink, Role role, PgStitcherOptions options = {});

  Role role() const { return role_; }
  void set_role(Role role) { role_ = role; }

  // Frontend messages, in stream order. `start_ns` is when the message's
  // first byte was seen.
  // A StartupMessage: answered by authentication and a ReadyForQuery that
  // answer no request.
  void on_startup(uint64_t start_ns);
  void on_query(uint64_t start_ns, sql::SqlSummary summary);
  void on_function_call(uint64_t start_ns);
  void on_parse(uint64_t start_ns, NameKey statement, sql::SqlSummary summary);
  void on_bind(uint64_t start_ns, NameKey portal, NameKey statement);
  // `target` 'S' (statement) or 'P' (portal); anything else: unknown.
  void on_describe(uint64_t start_ns, char target, NameKey name);
  void on_close_target(uint64_t start_ns, char target, NameKey name);
  void on_execute(uint64_t start_ns, NameKey portal);
  void on_sync(uint64_t start_ns);
  // CopyDone or CopyFail: the copy-in of a COPY ... FROM STDIN is over. The
  // server ignored any Sync sent during it: no ReadyForQuery answers those.
  void on_copy_end();

  // A backend message that may answer a pending frontend message: '1', '2',
  // '3', 'n', 'T', 'C', 'I', 's', 'E', 'Z' (others are ignored). `first_ns`:
  // when its first byte was seen (comparable with start_ns); `end_ns`: its
  // last. `sqlstate`: the 'C' field of an ErrorResponse, "" if none.
  void on_backend_message(char type, uint64_t first_ns, uint64_t end_ns, std::string_view sqlstate);

  // Whether on_backend_message has a use for messages of `type`.
  static bool answers_requests(char type);

  // Bytes were lost: gives up on every pending message.
  void drop_pending();
  // The connection closed. A Query that already failed (a FATAL error
  // before the close) is recorded; the rest is given up.
  void on_close();

  // Requests (Query, Execute, FunctionCall) waiting for their answer.
  size_t pending_requests() const;
  // Frontend messages of any kind waiting for their answer.
  size_t pending_messages() const { return pending_.size(); }
  size_t statements() const { return statements_.size(); }
  size_t portals() const { return portals_.size(); }

  const PgStats& stats() const { return stats_; }
  // For the framing counters, kept by the parser.
  PgStats& mutable_stats() { return stats_; }

 private:
  enum class Kind : uint8_t { Startup, Query, FunctionCall, Parse, Bind, Describe, Execute, Close, Sync };
  struct Pending {
    Kind kind = Kind::Sync;
    uint64_t start_ns = 0;
    StatementRef statement;    // what it runs or names; null for Sync, Close, FunctionCall
    std::string error_type;    // Query, FunctionCall: the first error of the answer
    uint64_t error_end_ns = 0; // when that error ended
  };
  enum class Admission { Queued, Untracked, Discarded };

  static bool is_request(Kind kind) {
    return kind == Kind::Query || kind == Kind::FunctionCall || kind == Kind::Execute;
  }
  // Messages answered by a ReadyForQuery.
  static bool is_terminator(Kind kind) {
    return kind == Kind::Query || kind == Kind::FunctionCall || kind == Kind::Sync || kind == Kind::Startup;
  }

  // Queues a frontend message unless the server discards it (after an
  // error) or its batch is being evicted.
  Admission admit(Pending message);
  void evict_oldest_batch();
  StatementRef lookup(NameCache& cache, NameKey key);

  void complete_step(Kind expected);
  void on_error(std::string_view sqlstate, uint64_t end_ns);
  void on_ready(uint64_t end_ns);
  // The server discards the rest of the failed batch, up to its Sync.
  void skip_rest_of_batch();
  void abandon(uint64_t count, uint64_t& counter);
  void emit(const Pending& message, uint64_t end_ns, std::string_view error_type);

  RecordSink& sink_;
  Role role_;
  const size_t max_pending_;
  util::SmallFifo<Pending> pending_;
  NameCache statements_;
  NameCache portals_;
  uint64_t owed_ready_ = 0;          // ReadyForQuery still owed to evicted batches
  bool evicting_batch_ = false;      // the rest of an evicted batch is not queued, to its Sync
  bool discard_until_sync_ = false;  // the server discards frontend messages until a Sync
  PgStats stats_;
};

}  // namespace redeye::protocols::postgres
