#include "protocols/postgres/pg_stitcher.h"

#include <algorithm>
#include <utility>

#include "protocols/postgres/pg_messages.h"

namespace redeye::protocols::postgres {
namespace {

// FNV-1a, 64 bits: names are at most a few hundred bytes, collisions among
// a few hundred of them are not a concern.
constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

constexpr uint64_t fnv1a(std::string_view s) {
  uint64_t hash = kFnvOffset;
  for (const char c : s) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

constexpr uint64_t kUnnamedKey = fnv1a("");

// The statement of a Bind or Describe whose name was never seen parsed.
const StatementRef& unknown_statement() {
  static const StatementRef unknown = std::make_shared<const sql::SqlSummary>();
  return unknown;
}

}  // namespace

NameKey name_key(std::string_view name) { return fnv1a(name); }

// ---- NameCache -----------------------------------------------------------------

NameCache::NameCache(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

bool NameCache::put(uint64_t key, StatementRef statement) {
  if (key == kUnnamedKey) {
    unnamed_ = std::move(statement);
    return false;
  }
  if (const auto it = named_.find(key); it != named_.end()) {
    it->second = Entry{std::move(statement), ++clock_};
    return false;
  }
  bool evicted = false;
  if (named_.size() >= capacity_) {
    // A linear scan, only when a new name arrives at the cap.
    const auto oldest = std::min_element(named_.begin(), named_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    named_.erase(oldest);
    evicted = true;
  }
  named_.emplace(key, Entry{std::move(statement), ++clock_});
  return evicted;
}

StatementRef NameCache::find(uint64_t key) {
  if (key == kUnnamedKey) return unnamed_;
  const auto it = named_.find(key);
  if (it == named_.end()) return nullptr;
  it->second.last_used = ++clock_;
  return it->second.statement;
}

void NameCache::erase(uint64_t key) {
  if (key == kUnnamedKey) {
    unnamed_.reset();
  } else {
    named_.erase(key);
  }
}

void NameCache::clear() {
  unnamed_.reset();
  named_.clear();
}

// ---- PgStitcher ----------------------------------------------------------------

PgStitcher::PgStitcher(RecordSink& sink, Role role, PgStitcherOptions options)
    : sink_(sink),
      role_(role),
      max_pending_(std::max<size_t>(2, options.max_pending_messages)),
      statements_(options.max_statements),
      portals_(options.max_portals) {}

size_t PgStitcher::pending_requests() const {
  return static_cast<size_t>(
      std::count_if(pending_.begin(), pending_.end(), [](const Pending& p) { return is_request(p.kind); }));
}

StatementRef PgStitcher::lookup(NameCache& cache, NameKey key) {
  StatementRef found = key ? cache.find(*key) : nullptr;
  if (found) return found;
  ++stats_.unknown_statements;
  return unknown_statement();
}

void PgStitcher::on_startup(uint64_t start_ns) { admit(Pending{Kind::Startup, start_ns, nullptr, {}, 0}); }

void PgStitcher::on_query(uint64_t start_ns, sql::SqlSummary summary) {
  ++stats_.requests;
  admit(Pending{Kind::Query, start_ns, std::make_shared<const sql::SqlSummary>(std::move(summary)), {}, 0});
}

void PgStitcher::on_function_call(uint64_t start_ns) {
  ++stats_.requests;
  admit(Pending{Kind::FunctionCall, start_ns, nullptr, {}, 0});
}

void PgStitcher::on_parse(uint64_t start_ns, NameKey statement, sql::SqlSummary summary) {
  StatementRef parsed = std::make_shared<const sql::SqlSummary>(std::move(summary));
  // A Parse the server discards creates no statement.
  if (admit(Pending{Kind::Parse, start_ns, parsed, {}, 0}) == Admission::Discarded) return;
  if (statement && statements_.put(*statement, std::move(parsed))) ++stats_.statements_evicted;
}

void PgStitcher::on_bind(uint64_t start_ns, NameKey portal, NameKey statement) {
  StatementRef bound = lookup(statements_, statement);
  if (admit(Pending{Kind::Bind, start_ns, bound, {}, 0}) == Admission::Discarded) return;
  // Rebinding a name replaces what it ran, known or not.
  if (portal) portals_.put(*portal, std::move(bound));
}

void PgStitcher::on_describe(uint64_t start_ns, char target, NameKey name) {
  StatementRef described;
  if (target == 'S') {
    described = lookup(statements_, name);
  } else if (target == 'P') {
    described = lookup(portals_, name);
  }
  admit(Pending{Kind::Describe, start_ns, std::move(described), {}, 0});
}

void PgStitcher::on_close_target(uint64_t start_ns, char target, NameKey name) {
  if (admit(Pending{Kind::Close, start_ns, nullptr, {}, 0}) == Admission::Discarded || !name) return;
  if (target == 'S') {
    statements_.erase(*name);
  } else if (target == 'P') {
    portals_.erase(*name);
  }
}

void PgStitcher::on_execute(uint64_t start_ns, NameKey portal) {
  ++stats_.requests;
  admit(Pending{Kind::Execute, start_ns, lookup(portals_, portal), {}, 0});
}

void PgStitcher::on_sync(uint64_t start_ns) { admit(Pending{Kind::Sync, start_ns, nullptr, {}, 0}); }

void PgStitcher::on_copy_end() {
  // The COPY is the last request queued: nothing else may be sent during it.
  const auto owner = std::find_if(pending_.rbegin(), pending_.rend(), [](const Pending& p) {
    return p.kind == Kind::Query || p.kind == Kind::Execute;
  });
  if (owner == pending_.rend() || !owner->statement || owner->statement->operation != "COPY") return;
  const auto first = owner.base();  // right after the COPY
  pending_.erase(std::remove_if(first, pending_.end(), [](const Pending& p) { return p.kind == Kind::Sync; }),
                 pending_.end());
}

PgStitcher::Admission PgStitcher::admit(Pending message) {
  if (discard_until_sync_) {
    if (message.kind != Kind::Sync) {
      if (is_request(message.kind)) ++stats_.requests_skipped;
      return Admission::Discarded;
    }
    discard_until_sync_ = false;
  } else if (evicting_batch_) {
    // Its ReadyForQuery is already owed (evict_oldest_batch).
    if (is_request(message.kind)) ++stats_.requests_evicted;
    if (is_terminator(message.kind)) evicting_batch_ = false;
    return Admission::Untracked;
  }
  if (pending_.size() >= max_pending_) {
    evict_oldest_batch();
    if (evicting_batch_) return admit(std::move(message));
  }
  if (is_request(message.kind)) sink_.on_request_started(role_);
  pending_.push_back(std::move(message));
  return Admission::Queued;
}

void PgStitcher::evict_oldest_batch() {
  // A whole batch goes, so that its answers can be counted off by its one
  // ReadyForQuery; if its end is not queued yet, the rest of it is not
  // queued either.
  uint64_t requests = 0;
  bool terminated = false;
  while (!pending_.empty() && !terminated) {
    terminated = is_terminator(pending_.front().kind);
    if (is_request(pending_.front().kind)) ++requests;
    pending_.pop_front();
  }
  ++owed_ready_;
  evicting_batch_ = !terminated;
  abandon(requests, stats_.requests_evicted);
}

bool PgStitcher::answers_requests(char type) {
  switch (type) {
    case '1': case '2': case '3': case 'n': case 'T': case 'C': case 'I': case 's': case 'E': case 'Z':
      return true;
    default:
      return false;
  }
}

void PgStitcher::on_backend_message(char type, uint64_t first_ns, uint64_t end_ns,
                                    std::string_view sqlstate) {
  if (!answers_requests(type)) return;
  if (owed_ready_ > 0) {
    // Answers to an evicted batch, up to its ReadyForQuery.
    ++stats_.responses_of_evicted;
    if (type == 'Z') --owed_ready_;
    return;
  }
  if (pending_.empty()) {
    // The ReadyForQuery that ends the startup phase answers nothing.
    if (type == 'E') {
      ++stats_.errors_unattributed;
    } else if (type != 'Z') {
      ++stats_.responses_unmatched;
    }
    return;
  }
  const Pending& head = pending_.front();
  if (first_ns < head.start_ns) {
    // Sent before the head message was: the answer to something lost.
    ++stats_.responses_before_request;
    return;
  }
  switch (type) {
    case '1':
      complete_step(Kind::Parse);
      break;
    case '2':
      complete_step(Kind::Bind);
      break;
    case '3':
      complete_step(Kind::Close);
      break;
    case 'n':
      complete_step(Kind::Describe);
      break;
    case 'T':
      // Also the head of a simple query's rows.
      if (head.kind != Kind::Query) complete_step(Kind::Describe);
      break;
    case 'C':
    case 'I':
    case 's':
      if (head.kind == Kind::Execute) {
        emit(head, end_ns, {});
        pending_.pop_front();
      } else if (head.kind != Kind::Query || type == 's') {
        // A simple query's statements each complete; ReadyForQuery ends it.
        ++stats_.responses_unmatched;
      }
      break;
    case 'E':
      on_error(sqlstate, end_ns);
      break;
    case 'Z':
      on_ready(end_ns);
      break;
    default:
      break;
  }
}

void PgStitcher::complete_step(Kind expected) {
  if (pending_.front().kind != expected) {
    ++stats_.responses_unmatched;
    return;
  }
  pending_.pop_front();
}

void PgStitcher::on_error(std::string_view sqlstate, uint64_t end_ns) {
  const std::string_view error = is_sqlstate(sqlstate) ? sqlstate : kUnknownErrorType;
  Pending& head = pending_.front();
  switch (head.kind) {
    case Kind::Query:
    case Kind::FunctionCall:
      // The rest of a multi-statement query is not run; ReadyForQuery follows.
      if (head.error_type.empty()) {
        head.error_type.assign(error);
        head.error_end_ns = end_ns;
      }
      return;
    case Kind::Sync:
      // Raised while committing the batch's implicit transaction: its
      // Executes already have their records.
    case Kind::Startup:
      // Authentication failed, the database does not exist...
      ++stats_.errors_unattributed;
      return;
    case Kind::Execute:
      emit(head, end_ns, error);
      pending_.pop_front();
      skip_rest_of_batch();
      return;
    case Kind::Parse:
    case Kind::Bind:
    case Kind::Describe:
    case Kind::Close:
      break;
  }
  // A preparatory step failed: the batch's first Execute is what failed
  // from the application's point of view.
  const Pending failed = std::move(head);
  pending_.pop_front();
  const auto execute = std::find_if(pending_.begin(), pending_.end(), [](const Pending& p) {
    return p.kind == Kind::Execute || is_terminator(p.kind);
  });
  if (execute != pending_.end() && execute->kind == Kind::Execute) {
    emit(*execute, end_ns, error);
    pending_.erase(execute);
  } else {
    // Prepared on its own (Parse, Sync): the failure is a request of its own.
    ++stats_.prepare_errors;
    sink_.on_request_started(role_);
    emit(failed, end_ns, error);
  }
  skip_rest_of_batch();
}

void PgStitcher::skip_rest_of_batch() {
  uint64_t skipped = 0;
  while (!pending_.empty() && pending_.front().kind != Kind::Sync) {
    if (is_request(pending_.front().kind)) ++skipped;
    pending_.pop_front();
  }
  // The Sync is not here yet: what comes before it is discarded as it comes.
  if (pending_.empty()) discard_until_sync_ = true;
  abandon(skipped, stats_.requests_skipped);
}

void PgStitcher::on_ready(uint64_t end_ns) {
  const auto terminator = std::find_if(pending_.begin(), pending_.end(),
                                       [](const Pending& p) { return is_terminator(p.kind); });
  if (terminator == pending_.end()) {
    ++stats_.responses_unmatched;
    return;
  }
  // Whatever precedes it in its batch will get no other answer.
  uint64_t unanswered = 0;
  for (auto it = pending_.begin(); it != terminator; ++it) {
    if (is_request(it->kind)) ++unanswered;
  }
  const Pending done = std::move(*terminator);
  pending_.erase(pending_.begin(), terminator + 1);
  abandon(unanswered, stats_.requests_unanswered);
  if (done.kind == Kind::Query || done.kind == Kind::FunctionCall) emit(done, end_ns, done.error_type);
}

void PgStitcher::abandon(uint64_t count, uint64_t& counter) {
  if (count == 0) return;
  counter += count;
  sink_.on_request_abandoned(role_, count);
}

void PgStitcher::emit(const Pending& message, uint64_t end_ns, std::string_view error_type) {
  SqlDetails details;
  details.system.assign(kSystem);
  // As the MySQL parser spells them: the label values stay one set.
  if (message.kind == Kind::FunctionCall) {
    details.operation = "CALL";
  } else if (!message.statement || message.statement == unknown_statement()) {
    details.operation = "EXECUTE";  // a statement prepared before the capture started
  } else if (message.statement->operation.empty()) {
    details.operation = "OTHER";  // an empty query, a comment
  } else {
    details.operation = message.statement->operation;
    details.collection = message.statement->collection;
    details.statement = message.statement->text;
  }
  details.error_type.assign(error_type);

  Record record;
  record.protocol.assign(kSystem);
  record.role = role_;
  record.operation = details.operation;
  record.status.assign(error_type.empty() ? kSuccessState : error_type);
  record.error = !error_type.empty();
  record.request_ns = message.start_ns;
  record.response_ns = end_ns;
  record.sql = std::move(details);
  ++stats_.records;
  if (record.error) ++stats_.errors;
  sink_.on_record(record);
}

void PgStitcher::drop_pending() {
  uint64_t requests = 0;
  for (const Pending& p : pending_) {
    if (is_request(p.kind)) ++requests;
  }
  pending_.clear();
  // What is owed to whom is unknown from here on; answers to what was lost
  // are told apart by their time (on_backend_message).
  owed_ready_ = 0;
  evicting_batch_ = false;
  discard_until_sync_ = false;
  abandon(requests, stats_.requests_unanswered);
}

void PgStitcher::on_close() {
  if (!pending_.empty()) {
    const Pending& head = pending_.front();
    if ((head.kind == Kind::Query || head.kind == Kind::FunctionCall) && !head.error_type.empty()) {
      emit(head, head.error_end_ns, head.error_type);
      pending_.pop_front();
    }
  }
  drop_pending();
}

}  // namespace redeye::protocols::postgres
