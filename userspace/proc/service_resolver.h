#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proc/service_rules.h"

namespace redeye::proc {

// What is known about a process when deciding which service it belongs to.
// listening_ports may stay empty unless ServiceResolver::needs_ports().
struct ProcessIdentity {
    std::string comm;
    std::string exe_name;
    std::string cmdline;
    std::string cgroup;  // raw content of /proc/<tgid>/cgroup
    std::string k8s_workload;  // the pod's workload (pod_identity.h); empty outside Kubernetes
    std::vector<uint16_t> listening_ports;
};

// Names the service a process belongs to, in decreasing order of trust:
//   1. the first configured rule that matches (in the order given);
//   2. its Kubernetes workload (Deployment, StatefulSet, ... name);
//   3. its container ("container-<12 hex>") or else its systemd unit;
//   4. a well-known server recognised by exe or comm (postgresql, mysql, ...);
//   5. the executable basename, then comm, then "unknown".
// The result is always a sanitized name (see sanitize_service_name).
class ServiceResolver {
public:
    explicit ServiceResolver(std::vector<ServiceRule> rules);

    std::string resolve(const ProcessIdentity& identity) const;

    // True if some rule matches on ports, so callers only pay for scanning
    // sockets when it can change the answer.
    bool needs_ports() const;

private:
    std::vector<ServiceRule> rules_;
};

// Full hex id of the container the cgroup file places the process in
// (docker, containerd, CRI-O, podman), if any.
std::optional<std::string> container_id_from_cgroup(std::string_view cgroup_content);

// systemd service unit (without ".service") from the name=systemd or the
// unified ("0::") line, ignoring user@N.service and anything under init.scope.
std::optional<std::string> systemd_unit_from_cgroup(std::string_view cgroup_content);

// At most 64 bytes; characters outside [A-Za-z0-9_.:@-] become '_'.
std::string sanitize_service_name(std::string_view name);

}  // namespace redeye::proc
