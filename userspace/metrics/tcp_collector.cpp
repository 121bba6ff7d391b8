#include "metrics/tcp_collector.h"

#include "util/log.h"

#include <bpf/bpf.h>

#include <bpf/btf.h>
#include <linux/btf.h>

#include "bpf/map_reader.h"
#include "metrics/histogram_buckets.h"
#include "metrics/process_labels.h"

namespace redeye::metrics {
namespace {

const char* direction_name(int d) { return d == REDEYE_DIR_INBOUND ? "inbound" : "outbound"; }

const char* failure_name(int r) {
  switch (r) {
    case REDEYE_CONNFAIL_REFUSED: return "refused";
    case REDEYE_CONNFAIL_TIMEOUT: return "timeout";
    case REDEYE_CONNFAIL_UNREACHABLE: return "unreachable";
    default: return "other";
  }
}

}  // namespace

DropReasonNames::DropReasonNames() {
  btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return;
  int id = btf__find_by_name_kind(vmlinux, "skb_drop_reason", BTF_KIND_ENUM);
  if (id > 0) {
    const btf_type* t = btf__type_by_id(vmlinux, id);
    const struct btf_enum* e = btf_enum(t);
    constexpr std::string_view prefix = "SKB_DROP_REASON_";
    for (int i = 0; i < btf_vlen(t); ++i) {
      std::string n = btf__name_by_offset(vmlinux, e[i].name_off);
      if (n.rfind(prefix, 0) == 0) n = n.substr(prefix.size());
      names_[static_cast<uint32_t>(e[i].val)] = n;
    }
  }
  btf__free(vmlinux);
}

std::string DropReasonNames::name(uint32_t reason) const {
  auto it = names_.find(reason);
  return it != names_.end() ? it->second : "REASON_" + std::to_string(reason);
}

TcpCollector::TcpCollector(prometheus::Registry& registry, const bpf::LoadedObject& tcp,
                           proc::ProcessTable& table)
    : tcp_(tcp),
      unowned_fd_(tcp.map_fd("unowned_inbound")),
      table_(table),
      drops_fd_(tcp.map_fd("tcp_drops")),
      connections_(prometheus::BuildCounter()
                       .Name("redeye_tcp_connections_total")
                       .Help("TCP connections established: outbound when the service connected, inbound when it accepted")
                       .Register(registry)),
      connect_failures_(prometheus::BuildCounter()
                            .Name("redeye_tcp_connect_failures_total")
                            .Help("Outbound TCP connects that failed, by reason")
                            .Register(registry)),
      active_(prometheus::BuildGauge()
                  .Name("redeye_tcp_active_connections")
                  .Help("TCP connections of the service currently established (opened since the agent started)")
                  .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("redeye_tcp_connection_duration_seconds")
                    .Help("Time TCP connections stayed established")
                    .Register(registry)),
      retransmits_(prometheus::BuildCounter()
                       .Name("redeye_tcp_retransmits_total")
                       .Help("TCP segments retransmitted (as TcpRetransSegs counts them)")
                       .Register(registry)),
      resets_(prometheus::BuildCounter()
                  .Name("redeye_tcp_resets_total")
                  .Help("TCP resets sent and received on the service's connections")
                  .Register(registry)),
      drops_(prometheus::BuildCounter()
                 .Name("redeye_tcp_drops_total")
                 .Help("TCP packets the kernel dropped, by drop reason")
                 .Register(registry)),
      harvester_(tcp.map_fd("tcp_stats"), 65536) {}

void TcpCollector::apply(const proc::ProcessLabels& process, const redeye_tcp_stats& d) {
  auto& open = open_now_[process.key()];
  for (int dir = 0; dir < REDEYE_DIR_MAX; ++dir) {
    const prometheus::Labels labels = with_process(process, {{"direction", direction_name(dir)}});
    if (d.opened[dir]) connections_.Add(labels).Increment(static_cast<double>(d.opened[dir]));
    if (d.opened[dir] || d.closed[dir]) {
      open[dir] += static_cast<int64_t>(d.opened[dir]) - static_cast<int64_t>(d.closed[dir]);
      active_.Add(labels).Set(static_cast<double>(std::max<int64_t>(open[dir], 0)));
    }
    if (total_count(d.duration[dir]))
      duration_.Add(labels, duration_bounds())
          .ObserveMultiple(bucket_increments(d.duration[dir]), sum_seconds(d.duration[dir]));
  }
  for (int r = 0; r < REDEYE_CONNFAIL_MAX; ++r)
    if (d.connect_failures[r])
      connect_failures_.Add(with_process(process, {{"reason", failure_name(r)}}))
          .Increment(static_cast<double>(d.connect_failures[r]));
  if (d.retransmits) retransmits_.Add(with_process(process)).Increment(static_cast<double>(d.retransmits));
  if (d.resets_sent)
    resets_.Add(with_process(process, {{"direction", "sent"}})).Increment(static_cast<double>(d.resets_sent));
  if (d.resets_received)
    resets_.Add(with_process(process, {{"direction", "received"}}))
        .Increment(static_cast<double>(d.resets_received));
}

void TcpCollector::find_owners() {
  if (unowned_fd_ < 0 || iterator_failed_) return;
  const uint32_t key = 0;
  int64_t unowned = 0;
  if (bpf_map_lookup_elem(unowned_fd_, &key, &unowned) != 0 || unowned <= 0) return;
  std::string error;
  if (!tcp_.run_iterator("find_owners", error)) {
    // Accepted sockets still get their owner at their first I/O or close.
    log_warn("tcp: cannot look up the owners of accepted sockets: ", error);
    iterator_failed_ = true;
  }
}

void TcpCollector::collect() {
  find_owners();
  harvester_.harvest(table_, [&](const proc::ProcessLabels& p, const redeye_tcp_stats& d) { apply(p, d); });
  if (drops_fd_ >= 0) {
    bpf::for_each_entry<uint32_t, uint64_t>(drops_fd_, 512, [&](uint32_t reason, uint64_t now) {
      uint64_t& before = last_drops_[reason];
      if (now > before) drops_.Add({{"reason", drop_names_.name(reason)}}).Increment(static_cast<double>(now - before));
      before = now;
    });
  }
}

}  // namespace redeye::metrics
