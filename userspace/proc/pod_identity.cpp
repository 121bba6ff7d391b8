#include "proc/pod_identity.h"

#include <algorithm>
#include <array>
#include <system_error>

namespace redeye::proc {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxPods = 4096;         // far above any node's pod limit (110 by default)
constexpr size_t kMaxLinks = 65536;       // /var/log/containers entries read per refresh
constexpr size_t kMaxContainersPerPod = 256;
constexpr size_t kFullContainerIdLength = 64;
constexpr size_t kMinContainerIdLength = 12;
// Kubernetes' utilrand alphabet: no vowels (no words), no 0, 1, 3 (no
// look-alikes). Pod and ReplicaSet suffixes are drawn from it.
constexpr std::string_view kSuffixAlphabet = "bcdfghjklmnpqrstvwxz2456789";
constexpr size_t kRandomSuffixLength = 5;
constexpr size_t kMaxTemplateHashLength = 10;  // a uint32 in decimal, each digit encoded
constexpr size_t kMinTemplateHashLength = 6;   // shorter hashes are too rare to risk words

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}
bool all_of(std::string_view s, bool (*pred)(char)) { return !s.empty() && std::all_of(s.begin(), s.end(), pred); }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_uid_char(char c) { return is_hex(c) || c == '-'; }
bool is_suffix_char(char c) { return kSuffixAlphabet.find(c) != std::string_view::npos; }

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    const size_t end = text.find(sep, pos);
    parts.push_back(text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    if (end == std::string_view::npos) return parts;
    pos = end + 1;
  }
}

// API uids are 36 characters with dashes; static pods use the 32 hex of
// their config hash.
bool is_pod_uid(std::string_view uid) {
  return (uid.size() == 32 || uid.size() == 36) && all_of(uid, is_uid_char);
}

// "pod<uid>" (cgroupfs driver) or "kubepods[-<qos>]-pod<uid_with_underscores>.slice"
// (systemd driver; also "kubelet-kubepods-..." under kind).
std::optional<std::string> pod_uid_of(std::string_view component, bool pod_ancestry_known) {
  constexpr std::string_view kSlice = ".slice";
  if (ends_with(component, kSlice) && component.find("kubepods") != std::string_view::npos) {
    const size_t at = component.rfind("-pod");
    if (at == std::string_view::npos) return std::nullopt;
    std::string uid(component.substr(at + 4, component.size() - at - 4 - kSlice.size()));
    std::replace(uid.begin(), uid.end(), '_', '-');
    if (is_pod_uid(uid)) return uid;
    return std::nullopt;
  }
  if (pod_ancestry_known && starts_with(component, "pod") && is_pod_uid(component.substr(3)))
    return std::string(component.substr(3));
  return std::nullopt;
}

// The container's cgroup, right below the pod's: "cri-containerd-<id>.scope",
// "crio-<id>.scope", "docker-<id>.scope" (systemd driver), "<id>" or
// "crio-<id>" (cgroupfs driver). CRI-O's "crio-conmon-<id>.scope" holds its
// monitor, not the container.
std::optional<std::string> container_id_of(std::string_view component) {
  if (ends_with(component, ".scope")) component.remove_suffix(6);
  if (starts_with(component, "crio-conmon-")) return std::nullopt;
  for (std::string_view prefix : {"cri-containerd-", "crio-", "docker-"}) {
    if (starts_with(component, prefix)) {
      const auto id = component.substr(prefix.size());
      if (id.size() >= kMinContainerIdLength && all_of(id, is_hex)) return std::string(id);
      return std::nullopt;
    }
  }
  if (component.size() == kFullContainerIdLength && all_of(component, is_hex)) return std::string(component);
  return std::nullopt;
}

// Where a hierarchy is mounted under the cgroup root: "" or "unified" for
// v2, the controller list for v1 ("memory", "systemd" for name=systemd).
fs::path hierarchy_dir(std::string_view hierarchy_id, std::string_view controllers, bool unified_at_root) {
  if (hierarchy_id == "0" && controllers.empty()) return unified_at_root ? fs::path() : fs::path("unified");
  if (starts_with(controllers, "name=")) controllers.remove_prefix(5);
  return fs::path(std::string(controllers));
}

std::optional<PodCgroup> pod_cgroup_from_line(std::string_view line, bool unified_at_root) {
  const size_t c1 = line.find(':');
  if (c1 == std::string_view::npos) return std::nullopt;
  const size_t c2 = line.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return std::nullopt;
  const auto id = line.substr(0, c1), controllers = line.substr(c1 + 1, c2 - c1 - 1);
  std::vector<std::string_view> parts;
  bool namespaced = false;  // "/../..": seen from inside a cgroup namespace
  bool kubepods_seen = false;
  for (auto part : split(line.substr(c2 + 1), '/')) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      namespaced = true;
      continue;
    }
    parts.push_back(part);
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    // Behind "..", the kubepods ancestors may be out of sight.
    auto uid = pod_uid_of(parts[i], kubepods_seen || namespaced);
    if (parts[i].find("kubepods") != std::string_view::npos) kubepods_seen = true;
    if (!uid) continue;
    PodCgroup out;
    out.pod_uid = std::move(*uid);
    if (i + 1 < parts.size()) out.container_id = container_id_of(parts[i + 1]).value_or("");
    if (!namespaced) {
      out.pod_cgroup_dir = hierarchy_dir(id, controllers, unified_at_root);
      for (size_t j = 0; j <= i; ++j) out.pod_cgroup_dir /= std::string(parts[j]);
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace

std::optional<PodCgroup> pod_cgroup_from(std::string_view cgroup_content, bool unified_at_root) {
  // Every hierarchy places the process in the same pod; the v2 line is
  // preferred (and on hybrid hosts it is the one systemd keeps complete).
  std::optional<PodCgroup> first_v1;
  for (auto line : split(cgroup_content, '\n')) {
    auto found = pod_cgroup_from_line(line, unified_at_root);
    if (!found) continue;
    if (starts_with(line, "0::")) return found;
    if (!first_v1) first_v1 = std::move(found);
  }
  return first_v1;
}

std::string workload_from_pod_name(std::string_view pod_name) {
  const auto parts = split(pod_name, '-');
  const size_t n = parts.size();
  auto head = [&](size_t drop) {
    // the name without its last `drop` segments
    size_t len = pod_name.size();
    for (size_t i = 0; i < drop; ++i) len -= parts[n - 1 - i].size() + 1;
    return std::string(pod_name.substr(0, len));
  };
  auto random_suffix = [](std::string_view s) { return s.size() == kRandomSuffixLength && all_of(s, is_suffix_char); };
  auto ordinal = [](std::string_view s) { return all_of(s, is_digit) && (s.size() == 1 || s[0] != '0'); };
  if (n >= 3 && random_suffix(parts[n - 1]) && !parts[n - 3].empty()) {
    const auto middle = parts[n - 2];
    // CronJob: <cronjob>-<scheduled minutes>-<random>; an indexed Job's
    // <job>-<index>-<random> has the same shape and the same answer.
    if (all_of(middle, is_digit)) return head(2);
    if (middle.size() >= kMinTemplateHashLength && middle.size() <= kMaxTemplateHashLength &&
        all_of(middle, is_suffix_char))
      return head(2);  // Deployment
  }
  if (n >= 2 && !parts[n - 2].empty()) {
    if (random_suffix(parts[n - 1])) return head(1);  // DaemonSet, Job, bare ReplicaSet
    if (ordinal(parts[n - 1])) return head(1);        // StatefulSet
  }
  return std::string(pod_name);
}

PodLogDirectory::PodLogDirectory(fs::path pods_root, fs::path containers_root)
    : pods_root_(std::move(pods_root)), containers_root_(std::move(containers_root)) {}

std::unordered_map<std::string, std::string> PodLogDirectory::list_pods(size_t max_pods) const {
  std::unordered_map<std::string, std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(pods_root_, ec), end; !ec && it != end && out.size() < max_pods;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // Namespaces and pod names are DNS labels/subdomains: no '_' inside.
    const auto parts = split(name, '_');
    if (parts.size() != 3 || parts[0].empty() || parts[1].empty() || !is_pod_uid(parts[2])) continue;
    out.emplace(std::string(parts[2]), name);
  }
  return out;
}

std::vector<std::string> PodLogDirectory::list_container_links(size_t max_links) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(containers_root_, ec), end; !ec && it != end && out.size() < max_links;
       it.increment(ec))
    out.push_back(it->path().filename().string());
  return out;
}

std::optional<PodLogInfo> PodLogDirectory::read_pod(const std::string& dir_name,
                                                    const std::vector<std::string>& links) const {
  const auto parts = split(dir_name, '_');
  if (parts.size() != 3) return std::nullopt;
  PodLogInfo info;
  info.namespace_name = parts[0];
  info.pod_name = parts[1];
  const fs::path dir = pods_root_ / dir_name;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end && info.containers.size() < kMaxContainersPerPod;
       it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) continue;
    const std::string container = it->path().filename().string();
    info.containers.push_back(container);
    // Docker (dockershim, cri-dockerd): <n>.log links to
    // /var/lib/docker/containers/<id>/<id>-json.log.
    std::error_code log_ec;
    for (fs::directory_iterator log(it->path(), log_ec), log_end; !log_ec && log != log_end; log.increment(log_ec)) {
      std::error_code link_ec;
      const fs::path target = fs::read_symlink(log->path(), link_ec);
      if (link_ec) continue;
      const std::string id = target.parent_path().filename().string();
      if (id.size() == kFullContainerIdLength && all_of(id, is_hex)) info.id_to_name.emplace(id, container);
    }
  }
  if (ec) return std::nullopt;  // the pod's directory went away
  std::sort(info.containers.begin(), info.containers.end());
  // <pod>_<namespace>_<container>-<id>.log
  const std::string prefix = info.pod_name + "_" + info.namespace_name + "_";
  for (const auto& link : links) {
    std::string_view rest(link);
    if (!starts_with(rest, prefix) || !ends_with(rest, ".log")) continue;
    rest = rest.substr(prefix.size(), rest.size() - prefix.size() - 4);
    const size_t dash = rest.rfind('-');
    if (dash == std::string_view::npos) continue;
    const auto id = rest.substr(dash + 1);
    if (id.size() < kMinContainerIdLength || !all_of(id, is_hex)) continue;
    info.id_to_name.emplace(std::string(id), std::string(rest.substr(0, dash)));
  }
  return info;
}

PodIdentityResolver::PodIdentityResolver(fs::path cgroup_root, fs::path pod_log_root,
                                         std::chrono::milliseconds min_refresh)
    : cgroup_root_(std::move(cgroup_root)),
      logs_(pod_log_root, containers_root_for(pod_log_root)),
      min_refresh_(min_refresh) {
  std::error_code ec;
  unified_at_root_ = fs::exists(cgroup_root_ / "cgroup.controllers", ec);
}

fs::path PodIdentityResolver::containers_root_for(const fs::path& pod_log_root) {
  fs::path root = pod_log_root;
  if (!root.has_filename()) root = root.parent_path();  // "/var/log/pods/"
  return root.parent_path() / "containers";
}

bool PodIdentityResolver::refresh_allowed(Clock::time_point now) const {
  return !last_refresh_ || now - *last_refresh_ >= min_refresh_;
}

void PodIdentityResolver::refresh(Clock::time_point now) {
  last_refresh_ = now;
  listing_ = logs_.list_pods(kMaxPods);
  links_ = logs_.list_container_links(kMaxLinks);
  std::error_code ec;
  const bool cgroups_visible = fs::is_directory(cgroup_root_, ec);
  for (auto it = pods_.begin(); it != pods_.end();) {
    auto& [uid, pod] = *it;
    const bool listed = listing_.count(uid) != 0;
    // A pod whose cgroup is gone has no process left: forget it even while
    // the kubelet still keeps its logs (completed Jobs).
    std::error_code exists_ec;
    const bool cgroup_gone =
        cgroups_visible && !pod.cgroup_dir.empty() && !fs::exists(cgroup_root_ / pod.cgroup_dir, exists_ec);
    if (!listed || cgroup_gone) {
      it = pods_.erase(it);
      continue;
    }
    // Re-read: a pod gains containers (restarts, ephemeral containers).
    if (auto info = logs_.read_pod(listing_.at(uid), links_)) pod.info = std::move(*info);
    ++it;
  }
}

PodIdentityResolver::CachedPod* PodIdentityResolver::load(const std::string& uid) {
  auto listed = listing_.find(uid);
  if (listed == listing_.end() || pods_.size() >= kMaxPods) return nullptr;
  auto info = logs_.read_pod(listed->second, links_);
  if (!info) return nullptr;
  CachedPod pod;
  pod.workload = workload_from_pod_name(info->pod_name);
  pod.info = std::move(*info);
  return &pods_.insert_or_assign(uid, std::move(pod)).first->second;
}

std::string PodIdentityResolver::container_name(const CachedPod& pod, const std::string& container_id) {
  const auto& ids = pod.info.id_to_name;
  if (auto it = ids.find(container_id); it != ids.end()) return it->second;
  // No way to tell containers apart: only a lone container can be named.
  if (ids.empty() && pod.info.containers.size() == 1) return pod.info.containers.front();
  return "";
}

PodLookup PodIdentityResolver::resolve(std::string_view cgroup_content) {
  auto ref = pod_cgroup_from(cgroup_content, unified_at_root_);
  if (!ref) return {};
  const auto now = Clock::now();
  auto it = pods_.find(ref->pod_uid);
  CachedPod* pod = it == pods_.end() ? nullptr : &it->second;
  auto container_known = [&] {
    return ref->container_id.empty() || pod->info.id_to_name.count(ref->container_id) != 0;
  };
  bool final = true;
  if (!pod || !container_known()) {
    if (refresh_allowed(now)) {
      refresh(now);
      it = pods_.find(ref->pod_uid);
      pod = it == pods_.end() ? load(ref->pod_uid) : &it->second;
    } else if (!pod) {
      pod = load(ref->pod_uid);  // listed by an earlier refresh, not read yet
      final = pod && container_known();
    } else {
      final = false;  // a container newer than the last refresh
    }
  }
  if (!pod) return PodLookup{std::nullopt, false};
  if (!ref->pod_cgroup_dir.empty()) pod->cgroup_dir = ref->pod_cgroup_dir;
  PodIdentity id;
  id.namespace_name = pod->info.namespace_name;
  id.pod_name = pod->info.pod_name;
  id.container_name = container_name(*pod, ref->container_id);
  id.workload = pod->workload;
  return PodLookup{std::move(id), final};
}

}  // namespace redeye::proc
