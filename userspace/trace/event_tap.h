// Hands the agent's records and TCP failure events to `redeye trace`
// sessions. Each session subscribes with a filter and gets a bounded queue:
// when its reader lags, new events are dropped and counted, the agent is
// never slowed down. With no subscriber, a record costs one atomic load.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/tcp_event.h"
#include "capture/connection_table.h"
#include "proc/process_table.h"
#include "trace/trace_filter.h"

namespace redeye::trace {

class Subscription {
 public:
  explicit Subscription(TraceFilter filter, size_t capacity = 4096)
      : filter_(std::move(filter)), capacity_(capacity) {}

  const TraceFilter& filter() const { return filter_; }
  // Called by the agent's thread; never blocks for long, drops when full.
  void push(TraceEvent event);
  // Called by the reader: up to max queued events, oldest first.
  std::vector<TraceEvent> drain(size_t max);
  // Events dropped since the last call.
  uint64_t take_dropped();

 private:
  const TraceFilter filter_;
  const size_t capacity_;
  std::mutex mutex_;
  std::deque<TraceEvent> queue_;
  uint64_t dropped_ = 0;
};

// The comm of live processes, read from /proc once per process.
class CommCache {
 public:
  std::string comm_of(uint32_t pid);

 private:
  static constexpr size_t kMax = 4096;
  std::unordered_map<uint32_t, std::string> comms_;
};

class EventTap : public capture::RecordConsumer, public agent::TcpEventSink {
 public:
  explicit EventTap(proc::ProcessTable& table) : table_(table) {}

  std::shared_ptr<Subscription> subscribe(TraceFilter filter);
  void unsubscribe(const std::shared_ptr<Subscription>& subscription);
  bool has_subscribers() const { return subscribers_.load(std::memory_order_relaxed) != 0; }
  // Some session wants TCP events: the kernel writes them only then.
  bool wants_tcp_events() const { return tcp_wanted_.load(std::memory_order_relaxed); }
  // Called (from the subscribing thread) when that changes, before
  // subscribe() returns: a session sees the events that follow it.
  void set_tcp_switch(std::function<void(bool)> on_change) { tcp_switch_ = std::move(on_change); }

  void on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) override;
  void on_tcp_event(const agent::TcpEvent& event) override;

 private:
  // The event with payload (SQL literals, URL query) and without.
  void publish(const TraceEvent& raw, const TraceEvent& masked);

  proc::ProcessTable& table_;
  CommCache comms_;
  void update_counts();  // with mutex_ held

  std::atomic<size_t> subscribers_{0};
  std::atomic<bool> tcp_wanted_{false};
  std::function<void(bool)> tcp_switch_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Subscription>> subscriptions_;
};

// CLOCK_MONOTONIC ns (the kernel's stamps) -> Unix epoch ns.
uint64_t monotonic_to_wall_ns(uint64_t monotonic_ns);

// A record as a trace event: `payload` keeps the SQL literals and the URL
// query, otherwise they are masked. nullopt for records trace does not show.
std::optional<TraceEvent> event_of(const capture::ConnectionInfo& conn, const protocols::Record& record,
                                   bool payload);

}  // namespace redeye::trace
