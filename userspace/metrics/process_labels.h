// The labels of a process (service_name, k8s_namespace_name, k8s_pod_name,
// k8s_container_name) merged with a series' own labels, so that every
// per-process series carries the same set and no collector spells it out.
#pragma once

#include <prometheus/labels.h>

#include "proc/process_table.h"

namespace redeye::metrics {

inline prometheus::Labels with_process(const proc::ProcessLabels& process, prometheus::Labels own = {}) {
  own.emplace("service_name", process.service_name);
  own.emplace("k8s_namespace_name", process.k8s_namespace_name);
  own.emplace("k8s_pod_name", process.k8s_pod_name);
  own.emplace("k8s_container_name", process.k8s_container_name);
  return own;
}

}  // namespace redeye::metrics
