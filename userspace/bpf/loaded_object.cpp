#include "bpf/loaded_object.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <mutex>
#include <thread>

#include "util/log.h"

namespace redeye::bpf {
namespace {

struct LibbpfMessages {
  std::mutex mutex;
  std::string text;
};

LibbpfMessages& messages() {
  static LibbpfMessages m;
  return m;
}

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && log_level() != LogLevel::Debug) return 0;
  // Verifier logs arrive as one long message: size the buffer to it.
  va_list copy;
  va_copy(copy, args);
  const int needed = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string buf(needed > 0 ? static_cast<size_t>(needed) : 0, '\0');
  vsnprintf(buf.data(), buf.size() + 1, fmt, args);
  while (!buf.empty() && buf.back() == '\n') buf.pop_back();
  if (level == LIBBPF_DEBUG) {
    log_line(LogLevel::Debug, buf);
    return 0;
  }
  auto& m = messages();
  std::lock_guard lock(m.mutex);
  if (m.text.size() < 65536) m.text += buf + "\n";
  if (log_level() == LogLevel::Debug) log_line(LogLevel::Debug, buf);
  return 0;
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "tp_btf/sched_switch" -> "sched_switch"; "tracepoint/tcp/tcp_send_reset" -> "tcp_send_reset"
std::string probe_name(const char* section) {
  std::string s = section ? section : "";
  auto slash = s.rfind('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

bool is_manual_uprobe(const char* section) {
  const std::string s = section ? section : "";
  return s == "uprobe" || s == "uretprobe";
}

// The last meaningful line libbpf printed, trimmed: the reason to show.
std::string summarize(const std::string& messages, int err) {
  std::string reason;
  size_t end = messages.size();
  while (end > 0) {
    size_t start = messages.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = messages.substr(start, end - start);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line.find("libbpf:") != std::string::npos) {
      reason = line.substr(line.find("libbpf:") + 8);
      break;
    }
    end = start > 0 ? start - 1 : 0;
    if (start == 0) break;
  }
  std::string errtext = std::strerror(err < 0 ? -err : err);
  return reason.empty() ? errtext : reason + " (" + errtext + ")";
}

}  // namespace

void install_libbpf_logger() { libbpf_set_print(libbpf_print); }

std::string take_libbpf_messages() {
  auto& m = messages();
  std::lock_guard lock(m.mutex);
  std::string out;
  out.swap(m.text);
  return out;
}

std::map<std::string, std::set<std::string>> parse_fault_injection(const char* value) {
  std::map<std::string, std::set<std::string>> out;
  std::string_view rest = value ? value : "";
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == item.size()) continue;
    out[std::string(item.substr(0, colon))].insert(std::string(item.substr(colon + 1)));
  }
  return out;
}

LoadedObject::LoadedObject(std::string name, SkeletonOps ops, std::set<std::string> refuse_attach)
    : name_(std::move(name)), ops_(std::move(ops)), refuse_attach_(std::move(refuse_attach)) {
  Names all;
  {
    void* skel = ops_.open();
    if (!skel) {
      load_error_ = std::string("cannot open BPF object: ") + std::strerror(errno);
      return;
    }
    bpf_program* prog;
    bpf_object__for_each_program(prog, ops_.object(skel)) all.push_back(bpf_program__name(prog));
    ops_.destroy(skel);
  }
  auto has = [&](const std::string& n) { return std::find(all.begin(), all.end(), n) != all.end(); };

  // First choice: every program but the raw_tp twins.
  Names enabled, refused;
  for (const auto& n : all)
    if (!(ends_with(n, "_raw") && has(n.substr(0, n.size() - 4) + "_btf"))) enabled.push_back(n);

  std::string error;
  for (int attempt = 0; attempt < 3 && !skel_; ++attempt) {
    if (try_load(enabled, refused, error)) break;
    log_debug(name_, ": load failed: ", error);
    if (!preallocate_maps_) {
      preallocate_maps_ = true;
      if (try_load(enabled, refused, error)) break;
    }
    // Find the programs the kernel refuses on their own; a refused tp_btf
    // program is replaced by its raw_tp twin, anything else is dropped.
    Names bad = refused_alone(enabled);
    if (bad.empty()) break;  // refused as a whole (maps, BTF): nothing to drop
    Names next;
    for (const auto& n : enabled) {
      if (std::find(bad.begin(), bad.end(), n) == bad.end()) {
        next.push_back(n);
        continue;
      }
      std::string twin = ends_with(n, "_btf") ? n.substr(0, n.size() - 4) + "_raw" : "";
      if (!twin.empty() && has(twin)) next.push_back(twin);
      else refused.push_back(n);
    }
    enabled = next;
  }
  if (!skel_) {
    load_error_ = error;
    // Keep one entry per program so redeye_probe_up shows them at 0.
    void* skel = ops_.open();
    if (skel) {
      bpf_program* prog;
      bpf_object__for_each_program(prog, ops_.object(skel)) {
        std::string pname = bpf_program__name(prog);
        if (std::find(enabled.begin(), enabled.end(), pname) == enabled.end() &&
            std::find(refused.begin(), refused.end(), pname) == refused.end())
          continue;
        probes_.push_back({probe_name(bpf_program__section_name(prog)), pname, false, "object not loaded: " + error});
      }
      ops_.destroy(skel);
    }
    return;
  }
  attach_all();
}

LoadedObject::~LoadedObject() {
  detach();
  if (skel_) ops_.destroy(skel_);
}

void LoadedObject::detach() {
  // Each detach waits for an RCU grace period in the kernel (~100 ms):
  // one after the other, 50 of them would hold SIGTERM for seconds.
  // Waiters in parallel share grace periods.
  std::vector<std::thread> workers;
  workers.reserve(links_.size());
  for (auto* link : links_) workers.emplace_back([link] { bpf_link__destroy(link); });
  for (auto& w : workers) w.join();
  links_.clear();
  link_of_program_.clear();
  for (auto& status : probes_) status.attached = false;
}

void* LoadedObject::open_configured() {
  void* skel = ops_.open();
  if (skel && ops_.configure) ops_.configure(skel);
  if (skel && preallocate_maps_) {
    bpf_map* m;
    bpf_object__for_each_map(m, ops_.object(skel)) {
      bpf_map__set_map_flags(m, bpf_map__map_flags(m) & ~static_cast<__u32>(BPF_F_NO_PREALLOC));
    }
  }
  return skel;
}

bool LoadedObject::try_load(const Names& enabled, const Names& refused, std::string& error) {
  void* skel = open_configured();
  if (!skel) {
    error = std::string("cannot open BPF object: ") + std::strerror(errno);
    return false;
  }
  auto contains = [](const Names& v, const std::string& n) { return std::find(v.begin(), v.end(), n) != v.end(); };
  probes_.clear();
  bpf_program* prog;
  bpf_object__for_each_program(prog, ops_.object(skel)) {
    std::string pname = bpf_program__name(prog);
    bool on = contains(enabled, pname);
    bpf_program__set_autoload(prog, on);
    if (on || contains(refused, pname)) {
      const char* section = bpf_program__section_name(prog);
      ProbeStatus status{is_manual_uprobe(section) ? pname : probe_name(section), pname, false, ""};
      if (!on) status.error = "refused by the kernel at load";
      else if (is_manual_uprobe(section)) status.error = "no library found to attach to";
      probes_.push_back(status);
    }
  }
  take_libbpf_messages();
  int err = bpf_object__load_skeleton(ops_.skeleton(skel));
  if (err) {
    error = summarize(take_libbpf_messages(), err);
    ops_.destroy(skel);
    probes_.clear();
    return false;
  }
  skel_ = skel;
  return true;
}

LoadedObject::Names LoadedObject::refused_alone(const Names& enabled) {
  // One load per program: bounded by the handful of programs per object.
  Names bad;
  for (const auto& candidate : enabled) {
    void* skel = open_configured();
    if (!skel) return {};
    bpf_program* prog;
    bpf_object__for_each_program(prog, ops_.object(skel)) {
      bpf_program__set_autoload(prog, candidate == bpf_program__name(prog));
    }
    take_libbpf_messages();
    if (bpf_object__load_skeleton(ops_.skeleton(skel)) != 0) bad.push_back(candidate);
    take_libbpf_messages();
    ops_.destroy(skel);
  }
  return bad;
}

void LoadedObject::attach_all() {
  for (auto& status : probes_) {
    if (!status.error.empty()) continue;  // refused, or a uprobe waiting for its library
    if (refuse_attach_.count(status.probe) || refuse_attach_.count(status.program)) {
      status.error = std::string("refused by fault injection (") + kFaultInjectionVariable + ")";
      continue;
    }
    bpf_program* prog = bpf_object__find_program_by_name(ops_.object(skel_), status.program.c_str());
    take_libbpf_messages();
    bpf_link* link = prog ? bpf_program__attach(prog) : nullptr;
    if (!link) {
      int err = errno;
      status.error = summarize(take_libbpf_messages(), err ? err : ENOENT);
      continue;
    }
    links_.push_back(link);
    link_of_program_[status.program] = link;
    status.attached = true;
  }
}

bool LoadedObject::run_iterator(const std::string& program, std::string& error) const {
  const auto it = link_of_program_.find(program);
  if (it == link_of_program_.end()) {
    error = program + " is not attached";
    return false;
  }
  const int fd = bpf_iter_create(bpf_link__fd(it->second));
  if (fd < 0) {
    error = std::string("bpf_iter_create: ") + std::strerror(errno);
    return false;
  }
  // The program prints nothing: reading to the end runs it over every item.
  char buf[256];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) {
  }
  if (n < 0) error = std::string("reading the iterator: ") + std::strerror(errno);
  close(fd);
  return n == 0;
}

bool LoadedObject::attach_uprobe(const std::string& program, const std::string& binary,
                                 const std::string& function, bool retprobe, std::string& error) {
  if (!skel_) {
    error = "object not loaded";
    return false;
  }
  bpf_program* prog = bpf_object__find_program_by_name(ops_.object(skel_), program.c_str());
  if (!prog) {
    error = "no program " + program;
    return false;
  }
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe, .func_name = function.c_str());
  take_libbpf_messages();
  bpf_link* link = bpf_program__attach_uprobe_opts(prog, -1 /* every process */, binary.c_str(), 0, &opts);
  if (!link) {
    int err = errno;
    error = summarize(take_libbpf_messages(), err ? err : ENOENT);
    return false;
  }
  links_.push_back(link);
  for (auto& status : probes_) {
    if (status.program == program) {
      status.attached = true;
      status.error.clear();
    }
  }
  return true;
}

int LoadedObject::map_fd(const char* map_name) const {
  bpf_map* m = map(map_name);
  return m ? bpf_map__fd(m) : -1;
}

bpf_map* LoadedObject::map(const char* map_name) const {
  if (!skel_) return nullptr;
  return bpf_object__find_map_by_name(ops_.object(skel_), map_name);
}

std::vector<bpf_map*> LoadedObject::maps() const {
  std::vector<bpf_map*> out;
  if (!skel_) return out;
  bpf_map* m;
  bpf_object__for_each_map(m, ops_.object(skel_)) {
    // .rodata/.bss of static zero values are internal
    if (bpf_map__is_internal(m)) continue;
    out.push_back(m);
  }
  return out;
}

}  // namespace redeye::bpf
