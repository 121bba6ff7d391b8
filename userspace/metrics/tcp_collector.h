// TCP connection metrics per service and kernel drops per reason.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <string>
#include <unordered_map>

#include "bpf/loaded_object.h"
#include "metrics/collector.h"
#include "metrics/tgid_harvester.h"
#include "redeye/abi.h"

namespace redeye::metrics {

// enum skb_drop_reason value -> "NETFILTER_DROP", read from the kernel's BTF
// so the names follow the running kernel.
class DropReasonNames {
 public:
  DropReasonNames();
  std::string name(uint32_t reason) const;

 private:
  std::unordered_map<uint32_t, std::string> names_;
};

class TcpCollector : public Collector {
 public:
  TcpCollector(prometheus::Registry& registry, const bpf::LoadedObject& tcp, proc::ProcessTable& table);
  void collect() override;

 private:
  void apply(const proc::ProcessLabels& process, const redeye_tcp_stats& delta);
  // Accepted sockets nobody did I/O on yet get their owner from the fd
  // tables (tcp.bpf.c find_owners), while the kernel counts some.
  void find_owners();

  const bpf::LoadedObject& tcp_;
  int unowned_fd_;
  bool iterator_failed_ = false;
  proc::ProcessTable& table_;
  int drops_fd_;
  prometheus::Family<prometheus::Counter>& connections_;
  prometheus::Family<prometheus::Counter>& connect_failures_;
  prometheus::Family<prometheus::Gauge>& active_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& retransmits_;
  prometheus::Family<prometheus::Counter>& resets_;
  prometheus::Family<prometheus::Counter>& drops_;
  TgidHarvester<redeye_tcp_stats> harvester_;
  // ProcessLabels::key() -> opened - closed per direction, for the active gauge
  std::unordered_map<std::string, std::array<int64_t, REDEYE_DIR_MAX>> open_now_;
  std::unordered_map<uint32_t, uint64_t> last_drops_;
  DropReasonNames drop_names_;
};

}  // namespace redeye::metrics
