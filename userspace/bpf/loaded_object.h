// One BPF object (a bpftool skeleton) loaded and attached program by
// program, so that a hook the kernel refuses costs only that hook.
#pragma once

#include <bpf/libbpf.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace redeye::bpf {

// What happened to one program: the probe name is the tracepoint's name
// ("sched_switch", "tcp_retransmit_skb", "sys_exit_accept4").
struct ProbeStatus {
  std::string probe;
  std::string program;
  bool attached = false;
  std::string error;  // why not, when !attached
};

// Type-erased skeleton: how to open a fresh copy, and where its bpf_object is.
struct SkeletonOps {
  std::function<void*()> open;
  std::function<void(void*)> destroy;
  std::function<bpf_object*(void*)> object;
  std::function<bpf_object_skeleton*(void*)> skeleton;
  // Sets rodata (const volatile) settings between open and load.
  std::function<void(void*)> configure;
};

template <typename Skel>
SkeletonOps skeleton_ops(Skel* (*open)(), void (*destroy)(Skel*), std::function<void(Skel*)> configure = {}) {
  return SkeletonOps{
      [open] { return static_cast<void*>(open()); },
      [destroy](void* s) { destroy(static_cast<Skel*>(s)); },
      [](void* s) { return static_cast<Skel*>(s)->obj; },
      [](void* s) { return static_cast<Skel*>(s)->skeleton; },
      [configure](void* s) {
        if (configure) configure(static_cast<Skel*>(s));
      },
  };
}

class LoadedObject {
 public:
  // Opens, loads and attaches. Never throws for kernel refusals: they end
  // up in probes(). Programs named *_btf and *_raw are twins: the tp_btf set
  // is tried first and the raw_tp set loaded when the kernel refuses it.
  // `refuse_attach`: probe or program names whose attach is made to fail
  // as if the kernel refused it (fault injection for tests, see
  // parse_fault_injection).
  LoadedObject(std::string name, SkeletonOps ops, std::set<std::string> refuse_attach = {});
  ~LoadedObject();
  LoadedObject(const LoadedObject&) = delete;
  LoadedObject& operator=(const LoadedObject&) = delete;

  const std::string& name() const { return name_; }
  // Detaches every program (the destructor does it too).
  void detach();
  bool loaded() const { return skel_ != nullptr; }
  const std::string& load_error() const { return load_error_; }
  const std::vector<ProbeStatus>& probes() const { return probes_; }

  // Uprobe programs (section "uprobe"/"uretprobe" with no target) are not
  // attached at load: the caller names the library and function. Their
  // probe name is the program name; attached once any target worked.
  bool attach_uprobe(const std::string& program, const std::string& binary, const std::string& function,
                     bool retprobe, std::string& error);

  // Runs an attached BPF iterator program (section "iter/...") to its end.
  // False, with the reason, when it is not attached or the kernel fails it.
  bool run_iterator(const std::string& program, std::string& error) const;

  // -1 when not loaded or no such map.
  int map_fd(const char* map_name) const;
  bpf_map* map(const char* map_name) const;
  std::vector<bpf_map*> maps() const;

 private:
  using Names = std::vector<std::string>;
  // Loads a fresh copy with exactly `enabled` autoloaded; `refused` are
  // reported as probes that the kernel would not load.
  bool try_load(const Names& enabled, const Names& refused, std::string& error);
  // Kernels before 6.1 refuse maps without preallocation in tracing
  // programs; after a refusal every map is loaded preallocated.
  bool preallocate_maps_ = false;
  Names refused_alone(const Names& enabled);
  void* open_configured();
  void attach_all();

  std::string name_;
  SkeletonOps ops_;
  std::set<std::string> refuse_attach_;
  void* skel_ = nullptr;
  std::string load_error_;
  std::vector<ProbeStatus> probes_;
  std::vector<bpf_link*> links_;
  std::map<std::string, bpf_link*> link_of_program_;
};

// Test aid: REDEYE_FAULT_INJECT_PROBES=<object>:<probe>,... names probes
// whose attach fails as if the kernel refused it, so that the handling of a
// refused probe (probe_up 0, the reason logged, the others working) can be
// tested on a kernel that accepts everything. Returns, per object name, the
// probe (or program) names; malformed items are ignored.
std::map<std::string, std::set<std::string>> parse_fault_injection(const char* value);
constexpr const char* kFaultInjectionVariable = "REDEYE_FAULT_INJECT_PROBES";

// Captures libbpf's diagnostics so that a refusal can be reported with the
// kernel's reason rather than only an errno.
void install_libbpf_logger();
std::string take_libbpf_messages();

}  // namespace redeye::bpf
