#include "metrics/block_collector.h"

#include <fstream>

#include "bpf/map_reader.h"
#include "metrics/histogram_buckets.h"
#include "metrics/process_labels.h"

namespace redeye::metrics {

BlockDeviceNames::BlockDeviceNames(std::filesystem::path root) : root_(std::move(root)) {}

std::string BlockDeviceNames::name(uint32_t dev) {
  if (auto it = cache_.find(dev); it != cache_.end()) return it->second;
  const uint32_t major = dev >> 20, minor = dev & ((1U << 20) - 1);
  std::string id = std::to_string(major) + ":" + std::to_string(minor);
  std::ifstream uevent(root_ / id / "uevent");
  for (std::string line; std::getline(uevent, line);) {
    if (line.rfind("DEVNAME=", 0) == 0) {
      std::string name = line.substr(8);
      if (cache_.size() < 4096) cache_.emplace(dev, name);
      return name;
    }
  }
  // No sysfs entry (yet, for a hot-plugged device): numbers, asked again later.
  return id;
}

const char* disk_operation_name(uint32_t op) {
  switch (op) {
    case REDEYE_DISK_READ: return "read";
    case REDEYE_DISK_WRITE: return "write";
    case REDEYE_DISK_FLUSH: return "flush";
    case REDEYE_DISK_DISCARD: return "discard";
    default: return "other";
  }
}

BlockCollector::BlockCollector(prometheus::Registry& registry, const bpf::LoadedObject& block,
                               proc::ProcessTable& table)
    : table_(table),
      disk_lat_fd_(block.map_fd("disk_lat")),
      latency_(prometheus::BuildHistogram()
                   .Name("redeye_disk_io_duration_seconds")
                   .Help("Block device request latency, issued to the driver until completed")
                   .Register(registry)),
      bytes_(prometheus::BuildCounter()
                 .Name("redeye_process_disk_io_bytes_total")
                 .Help("Bytes of block I/O submitted by the service's processes (direct and synchronous I/O; "
                       "buffered writes are submitted by kernel writeback threads)")
                 .Register(registry)),
      io_harvester_(block.map_fd("proc_io"), 65536) {}

void BlockCollector::collect() {
  if (disk_lat_fd_ >= 0) {
    bpf::for_each_entry<redeye_disk_key, redeye_hist>(
        disk_lat_fd_, 4096, [&](const redeye_disk_key& key, const redeye_hist& now) {
          redeye_hist& before = last_latency_[{key.dev, key.op}];
          redeye_hist delta{};
          bool any = false;
          for (int i = 0; i < REDEYE_LAT_SLOTS; ++i) {
            delta.slots[i] = now.slots[i] - before.slots[i];
            any |= delta.slots[i] != 0;
          }
          delta.sum_ns = now.sum_ns - before.sum_ns;
          before = now;
          if (!any) return;
          latency_.Add({{"device", devices_.name(key.dev)}, {"operation", disk_operation_name(key.op)}},
                       latency_bounds())
              .ObserveMultiple(bucket_increments(delta), sum_seconds(delta));
        });
  }
  io_harvester_.harvest(table_, [&](const proc::ProcessLabels& process, const redeye_proc_io& delta) {
    if (delta.bytes[0])
      bytes_.Add(with_process(process, {{"operation", "read"}})).Increment(static_cast<double>(delta.bytes[0]));
    if (delta.bytes[1])
      bytes_.Add(with_process(process, {{"operation", "write"}})).Increment(static_cast<double>(delta.bytes[1]));
  });
}

}  // namespace redeye::metrics
