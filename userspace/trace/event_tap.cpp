#include "trace/event_tap.h"

#include <time.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "protocols/sql/sql_mask.h"

namespace redeye::trace {
namespace {

uint64_t clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

const char* role_name(protocols::Role role) {
  switch (role) {
    case protocols::Role::Server: return "server";
    case protocols::Role::Client: return "client";
    default: return "";
  }
}

}  // namespace

uint64_t monotonic_to_wall_ns(uint64_t monotonic_ns) {
  const uint64_t wall = clock_ns(CLOCK_REALTIME), mono = clock_ns(CLOCK_MONOTONIC);
  return monotonic_ns + (wall - mono);
}

void Subscription::push(TraceEvent event) {
  std::lock_guard lock(mutex_);
  if (queue_.size() >= capacity_) {
    ++dropped_;
    return;
  }
  queue_.push_back(std::move(event));
}

std::vector<TraceEvent> Subscription::drain(size_t max) {
  std::lock_guard lock(mutex_);
  const size_t n = std::min(max, queue_.size());
  std::vector<TraceEvent> out(std::make_move_iterator(queue_.begin()),
                              std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  return out;
}

uint64_t Subscription::take_dropped() {
  std::lock_guard lock(mutex_);
  return std::exchange(dropped_, 0);
}

std::string CommCache::comm_of(uint32_t pid) {
  if (auto it = comms_.find(pid); it != comms_.end()) return it->second;
  std::string comm;
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::getline(in, comm);
  if (comms_.size() >= kMax) comms_.clear();  // pids are reused: forget all now and then
  if (!comm.empty()) comms_[pid] = comm;
  return comm;
}

std::optional<TraceEvent> event_of(const capture::ConnectionInfo& conn, const protocols::Record& record,
                                   bool payload) {
  TraceEvent e;
  e.time_ns = monotonic_to_wall_ns(record.request_ns);
  e.pid = conn.tgid;
  e.peer = conn.peer;
  e.role = role_name(record.role);
  e.error = record.error;
  e.duration_ns = record.response_ns > record.request_ns ? record.response_ns - record.request_ns : 0;
  if (record.http) {
    const auto& h = *record.http;
    e.kind = "http";
    e.operation = h.method;
    e.target = h.path;
    if (payload && !h.query.empty()) e.target += "?" + h.query;
    e.status = h.status ? std::to_string(h.status) : "";
  } else if (record.sql) {
    const auto& s = *record.sql;
    e.kind = "sql";
    e.operation = s.system + " " + s.operation;
    e.target = payload ? s.statement : protocols::sql::mask_sql(s.statement);
    e.status = s.error_type;
  } else if (record.amqp) {
    const auto& a = *record.amqp;
    e.kind = "amqp";
    e.operation = record.operation;
    if (!a.exchange.empty() || a.event == protocols::AmqpEvent::Published)
      e.target = "exchange=" + (a.exchange.empty() ? std::string("(default)") : a.exchange);
    if (!a.queue.empty()) e.target += (e.target.empty() ? "" : " ") + ("queue=" + a.queue);
    if (a.count > 1) e.target += (e.target.empty() ? "" : " ") + ("messages=" + std::to_string(a.count));
    // a reply code when there is one, else the outcome unless it is the operation itself ("ack")
    e.status = !record.status.empty() ? record.status : a.outcome != record.operation ? a.outcome : "";
  } else {
    return std::nullopt;
  }
  return e;
}

std::shared_ptr<Subscription> EventTap::subscribe(TraceFilter filter) {
  auto s = std::make_shared<Subscription>(std::move(filter));
  std::lock_guard lock(mutex_);
  subscriptions_.push_back(s);
  update_counts();
  return s;
}

void EventTap::unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  std::lock_guard lock(mutex_);
  subscriptions_.erase(std::remove(subscriptions_.begin(), subscriptions_.end(), subscription),
                       subscriptions_.end());
  update_counts();
}

void EventTap::update_counts() {
  subscribers_ = subscriptions_.size();
  const bool wanted = std::any_of(subscriptions_.begin(), subscriptions_.end(), [](const auto& s) {
    return s->filter().kinds.empty() || s->filter().kinds.count("tcp");
  });
  if (wanted != tcp_wanted_.exchange(wanted) && tcp_switch_) tcp_switch_(wanted);
}

void EventTap::publish(const TraceEvent& raw, const TraceEvent& masked) {
  std::lock_guard lock(mutex_);
  for (auto& s : subscriptions_) {
    const TraceEvent& e = s->filter().show_payload ? raw : masked;
    if (s->filter().matches(e)) s->push(e);
  }
}

void EventTap::on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) {
  if (!has_subscribers()) return;
  auto masked = event_of(conn, record, false);
  if (!masked) return;
  masked->service = table_.service_of(conn.tgid);
  masked->comm = comms_.comm_of(conn.tgid);
  auto raw = event_of(conn, record, true);
  raw->service = masked->service;
  raw->comm = masked->comm;
  publish(*raw, *masked);
}

void EventTap::on_tcp_event(const agent::TcpEvent& event) {
  if (!has_subscribers()) return;
  TraceEvent e;
  e.time_ns = monotonic_to_wall_ns(event.time_ns);
  e.pid = event.tgid;
  e.service = table_.service_of(event.tgid);
  e.comm = event.tgid ? comms_.comm_of(event.tgid) : "";
  e.peer = event.peer;
  e.kind = "tcp";
  e.operation = event.event;
  e.target = event.reason;
  e.error = true;
  publish(e, e);
}

}  // namespace redeye::trace
