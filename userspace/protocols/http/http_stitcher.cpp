#include "protocols/http/http_stitcher.h"

#include <algorithm>
#include <string>
#include <utility>

namespace redeye::protocols::http {

HttpStitcher::HttpStitcher(RecordSink& sink, Role role, size_t max_pending_requests)
    : sink_(sink), role_(role), max_pending_(std::max<size_t>(1, max_pending_requests)) {}

uint64_t HttpStitcher::add_request(uint64_t start_ns, HttpDetails details) {
  PendingRequest& request = start_request(start_ns);
  request.details = std::move(details);
  return request.id;
}

PendingRequest& HttpStitcher::start_request(uint64_t start_ns) {
  ++stats_.requests;
  if (pending() >= max_pending_) {
    if (answering_) pending_.erase(pending_.begin() + 1);
    else pending_.pop_front();
    ++stats_.requests_evicted;
    ++evicted_unanswered_;
    sink_.on_request_abandoned(role_, 1);
  }
  PendingRequest& request = pending_.emplace_back();
  request.id = next_id_++;
  request.start_ns = start_ns;
  sink_.on_request_started(role_);
  return request;
}

PendingRequest* HttpStitcher::held(uint64_t id) {
  if (answering_ && pending_.front().id == id) return &pending_.front();
  // Waiting ids are contiguous: only the oldest of them is ever removed.
  const size_t first = first_waiting();
  if (pending_.size() <= first || id < pending_[first].id || id > pending_.back().id) return nullptr;
  return &pending_[first + (id - pending_[first].id)];
}

void HttpStitcher::add_request_body_bytes(uint64_t id, uint64_t bytes) {
  if (PendingRequest* request = held(id)) request->details.request_body_bytes += bytes;
}

bool HttpStitcher::is_pending(uint64_t id) const {
  const size_t first = first_waiting();
  return pending_.size() > first && id >= pending_[first].id && id <= pending_.back().id;
}

const PendingRequest* HttpStitcher::begin_response(int status, uint64_t first_byte_ns) {
  ++stats_.responses;
  // A response in progress cannot be interrupted by another one; if the
  // framing says so anyway, the first is lost.
  abandon_response();
  if (evicted_unanswered_ > 0) {
    // Responses come in request order: this one is owed to an evicted request.
    --evicted_unanswered_;
    ++stats_.responses_of_evicted;
    return nullptr;
  }
  if (pending_.empty() || pending_.front().start_ns > first_byte_ns) {
    ++stats_.responses_unmatched;
    return nullptr;
  }
  answering_ = true;
  pending_.front().details.status = status;
  return &pending_.front();
}

void HttpStitcher::add_response_body_bytes(uint64_t bytes) {
  if (answering_) pending_.front().details.response_body_bytes += bytes;
}

void HttpStitcher::finish_response(uint64_t end_ns) {
  if (!answering_) return;
  PendingRequest& answered = pending_.front();
  Record record;
  record.protocol = "http";
  record.role = role_;
  record.operation = answered.details.method;
  record.status = std::to_string(answered.details.status);
  record.error = answered.details.status >= 500;
  record.request_ns = answered.start_ns;
  record.response_ns = end_ns;
  record.http = std::move(answered.details);
  answering_ = false;
  pending_.pop_front();
  ++stats_.records;
  sink_.on_record(record);
}

void HttpStitcher::abandon_response() {
  if (!answering_) return;
  answering_ = false;
  pending_.pop_front();
  ++stats_.requests_unanswered;
  sink_.on_request_abandoned(role_, 1);
}

void HttpStitcher::drop_pending() {
  const size_t waiting = pending();
  stats_.requests_unanswered += waiting;
  if (waiting) sink_.on_request_abandoned(role_, waiting);
  // the response in progress, if any, still ends its own request
  if (answering_) pending_.erase(pending_.begin() + 1, pending_.end());
  else pending_.clear();
  // Which responses are still owed is unknown as well.
  evicted_unanswered_ = 0;
}

}  // namespace redeye::protocols::http
