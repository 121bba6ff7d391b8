#include "metrics/self_collector.h"

#include "bpf/map_reader.h"
#include "redeye/abi.h"

namespace redeye::metrics {
namespace {

const char* stage_name(LostStage s) {
  switch (s) {
    case LostStage::Kernel: return "kernel";
    case LostStage::Userspace: return "userspace";
    default: return "parser";
  }
}

const char* kernel_reason_name(uint32_t r) {
  switch (r) {
    case REDEYE_LOST_RINGBUF_FULL: return "ringbuf_full";
    case REDEYE_LOST_MAP_FULL: return "map_full";
    default: return "frame_limit";
  }
}

}  // namespace

SelfCollector::SelfCollector(prometheus::Registry& registry, const bpf::ProbeSet& probes,
                             std::string kernel_release)
    : probes_(probes),
      lost_(prometheus::BuildCounter()
                .Name("redeye_events_lost_total")
                .Help("Events dropped before they reached a metric, by where and why")
                .Register(registry)),
      map_entries_(prometheus::BuildGauge()
                       .Name("redeye_bpf_map_entries")
                       .Help("Entries currently in each BPF hash map")
                       .Register(registry)),
      map_capacity_(prometheus::BuildGauge()
                        .Name("redeye_bpf_map_capacity")
                        .Help("Maximum entries of each BPF map")
                        .Register(registry)),
      probe_up_(prometheus::BuildGauge()
                    .Name("redeye_probe_up")
                    .Help("1 when the probe (object:tracepoint) is attached, 0 when the kernel refused it")
                    .Register(registry)),
      service_names_(prometheus::BuildGauge()
                         .Name("redeye_service_names")
                         .Help("Distinct service_name values: in_use, and overflowed (refused by --max-services, "
                               "reported as \"other\")")
                         .Register(registry)),
      unparsed_(prometheus::BuildCounter()
                    .Name("redeye_connections_unparsed_total")
                    .Help("Connections of a known protocol the parsers skipped on purpose (encrypted, compressed, "
                          "replication streams) or whose bytes they rejected (invalid)")
                    .Register(registry)),
      tracked_connections_(prometheus::BuildGauge()
                               .Name("redeye_connections_tracked")
                               .Help("Connections the agent follows in userspace now (its connection table)")
                               .Register(registry)
                               .Add({})) {
  prometheus::BuildGauge()
      .Name("redeye_build_info")
      .Help("Version of the agent and release of the kernel it runs on")
      .Register(registry)
      .Add({{"version", REDEYE_VERSION}, {"kernel", std::move(kernel_release)}})
      .Set(1);
  prometheus::BuildGauge()
      .Name("redeye_capture_info")
      .Help("Which hooks feed the protocol parsers (mode: socket_tracepoints, syscalls or none) and why")
      .Register(registry)
      .Add({{"mode", probes.capture().mode}, {"reason", probes.capture().reason}})
      .Set(1);
  for (uint32_t r = 0; r < REDEYE_LOST_MAX; ++r)
    lost_.Add({{"stage", "kernel"}, {"reason", kernel_reason_name(r)}});
  lost_.Add({{"stage", "userspace"}, {"reason", "connection_evicted"}});
  for (const char* reason : {"gap", "invalid", "buffer_overflow"}) lost_.Add({{"stage", "parser"}, {"reason", reason}});
  update_probes();
}

void SelfCollector::update_probes() {
  // uprobes attach later, when their library is found
  for (const auto* object : probes_.all())
    for (const auto& p : object->probes())
      probe_up_.Add({{"probe", object->name() + ":" + p.probe}}).Set(p.attached ? 1 : 0);
}

void SelfCollector::add_lost(LostStage stage, const std::string& reason, uint64_t n) {
  lost_.Add({{"stage", stage_name(stage)}, {"reason", reason}}).Increment(static_cast<double>(n));
}

void SelfCollector::set_userspace_losses(uint64_t stream_gaps, uint64_t invalid_frames, uint64_t buffer_overflows,
                                         uint64_t connections_evicted) {
  const std::pair<const char*, uint64_t> parser[] = {
      {"gap", stream_gaps}, {"invalid", invalid_frames}, {"buffer_overflow", buffer_overflows}};
  for (const auto& [reason, now] : parser) {
    uint64_t& before = last_userspace_lost_[reason];
    if (now > before) add_lost(LostStage::Parser, reason, now - before);
    before = now;
  }
  uint64_t& before = last_userspace_lost_["connection_evicted"];
  if (connections_evicted > before) add_lost(LostStage::Userspace, "connection_evicted", connections_evicted - before);
  before = connections_evicted;
}

void SelfCollector::set_unparsed(const std::map<std::string, uint64_t>& totals) {
  for (const auto& [key, now] : totals) {
    uint64_t& before = last_unparsed_[key];
    if (now <= before) continue;
    const auto slash = key.find('/');
    unparsed_.Add({{"protocol", key.substr(0, slash)}, {"reason", key.substr(slash + 1)}})
        .Increment(static_cast<double>(now - before));
    before = now;
  }
}

void SelfCollector::set_tracked_connections(size_t n) { tracked_connections_.Set(static_cast<double>(n)); }

void SelfCollector::set_service_names(size_t in_use, size_t overflowed) {
  service_names_.Add({{"state", "in_use"}}).Set(static_cast<double>(in_use));
  service_names_.Add({{"state", "overflowed"}}).Set(static_cast<double>(overflowed));
}

void SelfCollector::collect() {
  update_probes();
  std::map<uint32_t, uint64_t> totals;
  for (const auto* object : probes_.all()) {
    const int fd = object->map_fd("lost");
    for (uint32_t r = 0; r < REDEYE_LOST_MAX; ++r) totals[r] += bpf::percpu_sum(fd, r);
    for (bpf_map* m : object->maps()) {
      const std::string name = object->name() + "." + bpf_map__name(m);
      const auto type = bpf_map__type(m);
      // Socket-local storage lives in each socket: no capacity to fill.
      if (type == BPF_MAP_TYPE_SK_STORAGE) continue;
      map_capacity_.Add({{"map", name}}).Set(bpf_map__max_entries(m));
      if (type == BPF_MAP_TYPE_HASH || type == BPF_MAP_TYPE_LRU_HASH)
        map_entries_.Add({{"map", name}}).Set(static_cast<double>(bpf::count_entries(m)));
    }
  }
  for (const auto& [r, now] : totals) {
    uint64_t& before = last_kernel_lost_[r];
    if (now > before) add_lost(LostStage::Kernel, kernel_reason_name(r), now - before);
    before = now;
  }
}

}  // namespace redeye::metrics
