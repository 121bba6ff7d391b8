// Which Kubernetes pod and container a process runs in, without asking the
// Kubernetes API: the process's cgroup names the pod uid and the container
// id (kubelet and the container runtime put both in the cgroup path), and
// the node's pod log directory (/var/log/pods, written by the kubelet)
// names the pod's namespace, name and containers.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace redeye::proc {

// What a process's cgroup says about its pod.
struct PodCgroup {
  std::string pod_uid;       // "d1c2...-...", dashes as the API writes it
  std::string container_id;  // full hex id; empty when the process sits in the pod cgroup itself
  // Where the pod's cgroup is, relative to the cgroup root (the mount
  // point of that hierarchy included, e.g. "unified/kubepods.slice/...").
  std::filesystem::path pod_cgroup_dir;
};

// Reads the content of /proc/<pid>/cgroup (cgroup v2 "0::/path" and v1
// "N:controllers:/path" lines), for the kubelet's cgroupfs and systemd
// drivers and the containerd, CRI-O and Docker container names. nullopt
// when no line places the process in a pod. `unified_at_root` says whether
// the cgroup root itself is the v2 mount (otherwise v2 is looked for at
// <root>/unified, the hybrid layout).
std::optional<PodCgroup> pod_cgroup_from(std::string_view cgroup_content, bool unified_at_root = true);

// The workload a pod belongs to, from the pod name's shape alone:
//   <deployment>-<pod-template-hash>-<5 random>  Deployment (through its ReplicaSet)
//   <cronjob>-<minutes>-<5 random>                Job created by a CronJob: the CronJob
//   <name>-<5 random>                             DaemonSet, Job (or a ReplicaSet of its own)
//   <statefulset>-<ordinal>                       StatefulSet
// anything else (a bare or static pod) is its own workload. The random
// parts use Kubernetes' suffix alphabet (no vowels, no 0, 1, 3), which is
// what tells "web-7c9f8d6b5-x2x4q" from a name that merely has dashes.
std::string workload_from_pod_name(std::string_view pod_name);

// One pod as its log directory shows it.
struct PodLogInfo {
  std::string namespace_name;
  std::string pod_name;
  std::vector<std::string> containers;            // sorted
  std::map<std::string, std::string> id_to_name;  // container id -> container name
};

// Reads <pods_root>/<namespace>_<pod>_<uid>/<container>/ directories and,
// to tell the containers of a pod apart, the kubelet's
// <containers_root>/<pod>_<namespace>_<container>-<id>.log links (and, for
// Docker, the <container>/<n>.log links whose target names the id).
class PodLogDirectory {
 public:
  PodLogDirectory(std::filesystem::path pods_root, std::filesystem::path containers_root);

  // uid -> directory name of every pod on the node (at most max_pods).
  std::unordered_map<std::string, std::string> list_pods(size_t max_pods) const;
  // Names in the containers directory (at most max_links); empty when
  // there is no such directory.
  std::vector<std::string> list_container_links(size_t max_links) const;
  // The pod whose directory is `dir_name` (as list_pods returned it).
  std::optional<PodLogInfo> read_pod(const std::string& dir_name, const std::vector<std::string>& links) const;

 private:
  std::filesystem::path pods_root_;
  std::filesystem::path containers_root_;
};

// The labels a process gets from its pod.
struct PodIdentity {
  std::string namespace_name;
  std::string pod_name;
  std::string container_name;
  std::string workload;
};

struct PodLookup {
  std::optional<PodIdentity> identity;  // nullopt: not in a pod, or a pod not known yet
  // false: ask again later (the pod, or this container, is not in the log
  // directory as last read, and reading it again was not yet allowed).
  bool final = true;
};

// cgroup content -> PodIdentity, caching each pod by uid. The pod log
// directory is listed again only when a uid or a container id turns up that
// the cache does not know, and then at most once per `min_refresh`, so a
// burst of new processes costs one listing. Pods are read when a process of
// theirs is first resolved; a refresh forgets pods whose log directory or
// whose cgroup (under cgroup_root) is gone, so the cache follows the pods on
// the node.
//
// A container the log directory cannot name (several containers and no
// containers link for this id: typically the pod's sandbox "pause"
// process) gets an empty container name; with a single container and no
// links at all for the pod, that container's name.
class PodIdentityResolver {
 public:
  using Clock = std::chrono::steady_clock;

  PodIdentityResolver(std::filesystem::path cgroup_root, std::filesystem::path pod_log_root,
                      std::chrono::milliseconds min_refresh = std::chrono::seconds(1));

  PodLookup resolve(std::string_view cgroup_content);

  size_t cached_pods() const { return pods_.size(); }

  // <pod_log_root>/../containers: /var/log/containers next to /var/log/pods.
  static std::filesystem::path containers_root_for(const std::filesystem::path& pod_log_root);

 private:
  struct CachedPod {
    PodLogInfo info;
    std::string workload;
    std::filesystem::path cgroup_dir;  // relative to cgroup_root_; empty: unknown
  };
  bool refresh_allowed(Clock::time_point now) const;
  void refresh(Clock::time_point now);
  CachedPod* load(const std::string& uid);
  static std::string container_name(const CachedPod& pod, const std::string& container_id);

  std::filesystem::path cgroup_root_;
  PodLogDirectory logs_;
  std::chrono::milliseconds min_refresh_;
  bool unified_at_root_;
  std::optional<Clock::time_point> last_refresh_;
  std::unordered_map<std::string, std::string> listing_;  // uid -> pod directory name
  std::vector<std::string> links_;                        // containers directory
  std::unordered_map<std::string, CachedPod> pods_;       // by uid
};

}  // namespace redeye::proc
