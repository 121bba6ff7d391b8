// Pairs HTTP/1.x requests with their responses on one connection and emits
// a Record per exchange. HTTP/1.x answers requests in order (pipelined ones
// too), so pending requests form a FIFO; interim (1xx) responses are not
// answers. The frame-level parser (http_protocol.h) drives it.
#pragma once

#include "util/small_fifo.h"

#include <cstddef>
#include <cstdint>
#include <optional>

#include "protocols/protocol.h"

namespace redeye::protocols::http {

struct HttpStats {
  uint64_t requests = 0;             // request heads parsed
  uint64_t responses = 0;            // final response heads parsed, paired or not
  uint64_t interim_responses = 0;    // 1xx other than 101: not answers
  uint64_t records = 0;              // exchanges emitted
  uint64_t requests_unanswered = 0;  // given up without a record: lost or broken
                                     // response, gap in the response direction, close
  uint64_t requests_evicted = 0;     // oldest pending dropped over max_pending_requests
  uint64_t responses_unmatched = 0;  // final responses with no request to pair with
  uint64_t responses_of_evicted = 0; // final responses that answered an evicted request
};

// A request waiting for its response.
struct PendingRequest {
  uint64_t id = 0;        // given by the stitcher, increasing
  uint64_t start_ns = 0;  // becomes Record::request_ns
  HttpDetails details;    // the request's side of the details
};

class HttpStitcher {
 public:
  // `sink` outlives the stitcher. At least one request is kept pending.
  HttpStitcher(RecordSink& sink, Role role, size_t max_pending_requests);

  Role role() const { return role_; }
  void set_role(Role role) { role_ = role; }

  // A request head: it waits for its response. Over the cap the oldest
  // pending request is dropped; its response, when it comes, is recognised
  // by its place in the order and discarded. Returns the request's id.
  uint64_t add_request(uint64_t start_ns, HttpDetails details);
  // The same, the caller filling the new request's details in place (the
  // per-request path: no HttpDetails is built elsewhere and moved in). The
  // reference is valid until the next call that adds or removes a request.
  PendingRequest& start_request(uint64_t start_ns);
  // Adds body bytes to request `id` if it is still held (pending or being
  // answered); later bytes of an already recorded request are not counted.
  void add_request_body_bytes(uint64_t id, uint64_t bytes);
  // Whether request `id` still waits for its final response head.
  bool is_pending(uint64_t id) const;
  size_t pending() const { return pending_.size() - (answering_ ? 1 : 0); }

  // A final response head whose first byte was seen at `first_byte_ns`:
  // takes the oldest pending request. Returns nullptr when the response
  // answers an evicted request, when no request is pending, or when the
  // oldest started after the response did (the response then answers a
  // request that was lost).
  const PendingRequest* begin_response(int status, uint64_t first_byte_ns);
  // Whether a response is between its head and its end.
  bool answering() const { return answering_; }
  void add_response_body_bytes(uint64_t bytes);
  // The response being answered ended, its last byte seen at `end_ns`:
  // emits the record.
  void finish_response(uint64_t end_ns);
  // The response being answered will not complete.
  void abandon_response();
  // Gives up on every pending request (they can no longer be paired).
  void drop_pending();
  void count_interim_response() { ++stats_.interim_responses; }

  const HttpStats& stats() const { return stats_; }

 private:
  PendingRequest* held(uint64_t id);
  // Index in pending_ of the oldest request still waiting for its answer.
  size_t first_waiting() const { return answering_ ? 1 : 0; }

  RecordSink& sink_;
  Role role_;
  const size_t max_pending_;
  uint64_t next_id_ = 1;
  // Oldest first. While answering_, the front is the request being
  // answered: it stays in place (its details are moved once, into the
  // record), and the ids from first_waiting() on are contiguous.
  util::SmallFifo<PendingRequest> pending_;
  bool answering_ = false;
  uint64_t evicted_unanswered_ = 0;     // evicted requests whose response is still to come
  HttpStats stats_;
};

}  // namespace redeye::protocols::http
