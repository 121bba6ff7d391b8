// redeye_disk_io_duration_seconds{device,operation}
// redeye_process_disk_io_bytes_total{service_name,operation}
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <filesystem>
#include <map>
#include <unordered_map>

#include "bpf/loaded_object.h"
#include "metrics/collector.h"
#include "metrics/tgid_harvester.h"
#include "redeye/abi.h"

namespace redeye::metrics {

// Kernel dev_t (major << 20 | minor) -> "vda", from /sys/dev/block.
class BlockDeviceNames {
 public:
  explicit BlockDeviceNames(std::filesystem::path sys_dev_block = "/sys/dev/block");
  std::string name(uint32_t dev);

 private:
  std::filesystem::path root_;
  std::unordered_map<uint32_t, std::string> cache_;
};

const char* disk_operation_name(uint32_t op);

class BlockCollector : public Collector {
 public:
  BlockCollector(prometheus::Registry& registry, const bpf::LoadedObject& block, proc::ProcessTable& table);
  void collect() override;

 private:
  proc::ProcessTable& table_;
  int disk_lat_fd_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& bytes_;
  TgidHarvester<redeye_proc_io> io_harvester_;
  std::map<std::pair<uint32_t, uint32_t>, redeye_hist> last_latency_;
  BlockDeviceNames devices_;
};

}  // namespace redeye::metrics
