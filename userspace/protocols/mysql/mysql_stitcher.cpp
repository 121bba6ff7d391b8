#include "protocols/mysql/mysql_stitcher.h"

#include <algorithm>
#include <utility>

namespace redeye::protocols::mysql {

MysqlStitcher::MysqlStitcher(RecordSink& sink, Role role, size_t max_pending_commands, size_t max_statements)
    : sink_(sink),
      role_(role),
      max_pending_(std::max<size_t>(1, max_pending_commands)),
      max_statements_(std::max<size_t>(1, max_statements)) {}

bool MysqlStitcher::add_command(PendingCommand command) {
  const bool dropped = pending_.size() >= max_pending_;
  if (dropped) {
    const uint64_t count = pending_.size();
    pending_.clear();
    abandoned(count);
  }
  pending_.push_back(std::move(command));
  sink_.on_request_started(role_);
  return dropped;
}

void MysqlStitcher::finish_front(uint64_t end_ns, std::optional<uint16_t> error_code) {
  if (pending_.empty()) return;
  PendingCommand command = std::move(pending_.front());
  pending_.pop_front();
  emit(std::move(command), error_code, end_ns);
}

void MysqlStitcher::defer_front(std::optional<uint16_t> error_code) {
  if (pending_.empty()) return;
  // Only one final packet can be unfinished at a time; an older one that
  // never completed is given up.
  if (deferred_) {
    deferred_.reset();
    abandoned(1);
  }
  deferred_ = Finished{std::move(pending_.front()), error_code};
  pending_.pop_front();
}

void MysqlStitcher::finish_deferred(uint64_t end_ns) {
  if (!deferred_) return;
  Finished finished = std::move(*deferred_);
  deferred_.reset();
  emit(std::move(finished.command), finished.error_code, end_ns);
}

void MysqlStitcher::abandon_front() {
  if (pending_.empty()) return;
  pending_.pop_front();
  abandoned(1);
}

void MysqlStitcher::drop_pending() {
  uint64_t count = pending_.size();
  pending_.clear();
  if (deferred_) {
    deferred_.reset();
    ++count;
  }
  if (count > 0) abandoned(count);
}

void MysqlStitcher::remember_statement(uint32_t id, PreparedStatement statement) {
  auto it = statements_.find(id);
  if (it == statements_.end()) {
    if (statements_.size() >= max_statements_) {
      statements_.erase(statements_.begin());
      ++stats_.statements_evicted;
    }
    statements_.emplace(id, std::move(statement));
  } else {
    it->second = std::move(statement);
  }
}

const PreparedStatement* MysqlStitcher::statement(uint32_t id) const {
  const auto it = statements_.find(id);
  return it == statements_.end() ? nullptr : &it->second;
}

void MysqlStitcher::emit(PendingCommand command, std::optional<uint16_t> error_code, uint64_t end_ns) {
  Record record;
  record.protocol = "mysql";
  record.role = role_;
  record.operation = command.operation;
  record.error = error_code.has_value();
  const std::string error_type = error_code ? std::to_string(*error_code) : std::string();
  record.status = error_code ? error_type : std::string("OK");
  record.request_ns = command.start_ns;
  record.response_ns = end_ns;
  record.sql = SqlDetails{"mysql", std::move(command.operation), std::move(command.collection), error_type,
                          std::move(command.statement)};
  ++stats_.records;
  if (error_code) ++stats_.error_responses;
  sink_.on_record(record);
}

void MysqlStitcher::abandoned(uint64_t count) {
  stats_.requests_unanswered += count;
  sink_.on_request_abandoned(role_, count);
}

}  // namespace redeye::protocols::mysql
