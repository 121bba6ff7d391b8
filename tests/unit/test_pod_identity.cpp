#include "proc/pod_identity.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "cli/options.h"
#include "proc/process_table.h"

namespace redeye::proc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kUid = "0f6a3e4e-5b1c-4d8e-9f21-3c2b1a0d9e8f";
const std::string kUidUnderscores = "0f6a3e4e_5b1c_4d8e_9f21_3c2b1a0d9e8f";
const std::string kId = "4f1d9b0e6c2a7d3e8b5f0a1c9e4d7b2a6f3c8e1d0b9a5f7c2e4d6b8a0c1e3f5d";
const std::string kId2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const std::string kStaticUid = "6f0a5c5e2c6f4c8a9d1e2f3a4b5c6d7e";  // a static pod's config hash

struct CgroupCase {
  std::string content;
  bool unified_at_root;
  std::string uid;  // empty: not a pod
  std::string container_id;
  std::string pod_dir;
};

TEST(PodCgroup, ParsesKubeletAndRuntimeNaming) {
  const CgroupCase cases[] = {
      // systemd driver, containerd, cgroup v2
      {"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscores +
           ".slice/cri-containerd-" + kId + ".scope\n",
       true, kUid, kId,
       "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscores + ".slice"},
      // Guaranteed QoS: no QoS slice
      {"0::/kubepods.slice/kubepods-pod" + kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope\n", true,
       kUid, kId, "kubepods.slice/kubepods-pod" + kUidUnderscores + ".slice"},
      // cgroupfs driver, containerd or Docker: the bare id
      {"0::/kubepods/besteffort/pod" + kUid + "/" + kId + "\n", true, kUid, kId,
       "kubepods/besteffort/pod" + kUid},
      {"0::/kubepods/pod" + kUid + "/" + kId + "\n", true, kUid, kId, "kubepods/pod" + kUid},
      // CRI-O, systemd driver; its conmon is not the container
      {"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores +
           ".slice/crio-" + kId + ".scope\n",
       true, kUid, kId, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores + ".slice"},
      {"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores +
           ".slice/crio-conmon-" + kId + ".scope\n",
       true, kUid, "", "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores + ".slice"},
      // Docker through cri-dockerd, systemd driver
      {"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscores + ".slice/docker-" +
           kId + ".scope\n",
       true, kUid, kId, "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidUnderscores + ".slice"},
      // kind: the kubelet's cgroup root is kubelet.slice
      {"0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
       "kubelet-kubepods-besteffort-pod" +
           kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope\n",
       true, kUid, kId,
       "kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" +
           kUidUnderscores + ".slice"},
      // cgroup v1: the controller's mount is part of the directory; the
      // v2 line, when present, is preferred
      {"12:memory:/kubepods/burstable/pod" + kUid + "/" + kId + "\n4:cpu,cpuacct:/kubepods/burstable/pod" + kUid +
           "/" + kId + "\n1:name=systemd:/kubepods/burstable/pod" + kUid + "/" + kId + "\n",
       true, kUid, kId, "memory/kubepods/burstable/pod" + kUid},
      {"9:name=systemd:/kubepods/burstable/pod" + kUid + "/" + kId + "\n0::/kubepods/burstable/pod" + kUid + "/" +
           kId + "\n",
       false, kUid, kId, "unified/kubepods/burstable/pod" + kUid},
      // seen from inside a cgroup namespace: no directory to check
      {"0::/../../kubepods-besteffort-pod" + kUidUnderscores + ".slice/cri-containerd-" + kId + ".scope\n", true,
       kUid, kId, ""},
      {"0::/../../besteffort/pod" + kUid + "/" + kId + "\n", true, kUid, kId, ""},
      // a process in the pod cgroup itself, and a static pod's hash uid
      {"0::/kubepods/besteffort/pod" + kUid + "\n", true, kUid, "", "kubepods/besteffort/pod" + kUid},
      {"0::/kubepods/burstable/pod" + kStaticUid + "/" + kId + "\n", true, kStaticUid, kId,
       "kubepods/burstable/pod" + kStaticUid},
      // below a prefix of the test's own
      {"0::/redeye-test-1/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores +
           ".slice/cri-containerd-" + kId + ".scope\n",
       true, kUid, kId,
       "redeye-test-1/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidUnderscores +
           ".slice"},
      // not pods
      {"0::/user.slice/user-1000.slice/session-3.scope\n", true, "", "", ""},
      {"0::/system.slice/docker-" + kId + ".scope\n", true, "", "", ""},
      {"0::/pod" + kUid + "/" + kId + "\n", true, "", "", ""},  // no kubepods ancestor
      {"0::/kubepods/besteffort/podnot-a-uid/" + kId + "\n", true, "", "", ""},
      {"0::/kubepods.slice/kubepods-besteffort.slice\n", true, "", "", ""},
      {"", true, "", "", ""},
      {"garbage without colons\n", true, "", "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.content);
    const auto got = pod_cgroup_from(c.content, c.unified_at_root);
    if (c.uid.empty()) {
      EXPECT_FALSE(got.has_value());
      continue;
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->pod_uid, c.uid);
    EXPECT_EQ(got->container_id, c.container_id);
    EXPECT_EQ(got->pod_cgroup_dir, fs::path(c.pod_dir));
  }
}

TEST(PodWorkload, DerivedFromThePodNameShape) {
  const std::pair<std::string, std::string> cases[] = {
      {"web-7c9f8d6b5-x2x4q", "web"},                       // Deployment
      {"payments-api-5d8f7b9c4d-qwz2k", "payments-api"},    // Deployment, dashed name
      {"coredns-5dd5756b68-7vhxz", "coredns"},
      {"nightly-report-28374920-8xk2p", "nightly-report"},  // CronJob's Job
      {"train-3-x2x4q", "train"},                           // indexed Job
      {"fluent-bit-x2k9p", "fluent-bit"},                   // DaemonSet
      {"backup-7tq2m", "backup"},                           // Job
      {"postgres-0", "postgres"},                           // StatefulSet
      {"kafka-broker-12", "kafka-broker"},
      {"my-app-abcdefgh-x2x4q", "my-app-abcdefgh"},  // vowels: not a template hash
      {"web-7c9f8d6b5-aeiou", "web-7c9f8d6b5-aeiou"},  // vowels: not a random suffix
      {"kube-apiserver-control-plane", "kube-apiserver-control-plane"},  // static pod
      {"nginx", "nginx"},
      {"web-007", "web-007"},  // ordinals have no leading zeros
      {"-x2x4q", "-x2x4q"},
      {"", ""},
  };
  for (const auto& [pod, workload] : cases) EXPECT_EQ(workload_from_pod_name(pod), workload) << pod;
}

TEST(PodLogDirectory, ContainersRootIsTheSiblingOfThePodsRoot) {
  EXPECT_EQ(PodIdentityResolver::containers_root_for("/var/log/pods"), fs::path("/var/log/containers"));
  EXPECT_EQ(PodIdentityResolver::containers_root_for("/var/log/pods/"), fs::path("/var/log/containers"));
  EXPECT_EQ(PodIdentityResolver::containers_root_for("/host/logs/pods"), fs::path("/host/logs/containers"));
}

// A node as the kubelet leaves it: /var/log/pods, /var/log/containers and
// a cgroup v2 tree, all under a temporary directory.
class FakeNode : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "redeye_pods_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    fs::create_directories(pods_root());
    fs::create_directories(root_ / "log" / "containers");
    fs::create_directories(cgroup_root());
    touch(cgroup_root() / "cgroup.controllers");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  fs::path pods_root() const { return root_ / "log" / "pods"; }
  fs::path cgroup_root() const { return root_ / "cgroup"; }
  static void touch(const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "";
  }

  fs::path add_pod(const std::string& ns, const std::string& pod, const std::string& uid,
                   std::initializer_list<std::string> containers) {
    const fs::path dir = pods_root() / (ns + "_" + pod + "_" + uid);
    for (const auto& c : containers) touch(dir / c / "0.log");
    return dir;
  }
  void add_link(const std::string& ns, const std::string& pod, const std::string& container, const std::string& id) {
    fs::create_symlink(pods_root() / "x" / container / "0.log",
                       root_ / "log" / "containers" / (pod + "_" + ns + "_" + container + "-" + id + ".log"));
  }
  // The pod's cgroup (systemd driver) with the container's scope in it.
  std::string add_cgroup(const std::string& uid, const std::string& id) {
    std::string uid_ = uid;
    std::replace(uid_.begin(), uid_.end(), '-', '_');
    const std::string path = "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid_ +
                             ".slice/cri-containerd-" + id + ".scope";
    fs::create_directories(cgroup_root() / path);
    return "0::/" + path + "\n";
  }

  fs::path root_;
};

TEST_F(FakeNode, NamesEachContainerOfAPodByItsLink) {
  add_pod("shop", "web-7c9f8d6b5-x2x4q", kUid, {"app", "envoy"});
  add_link("shop", "web-7c9f8d6b5-x2x4q", "app", kId);
  add_link("shop", "web-7c9f8d6b5-x2x4q", "envoy", kId2);
  add_link("other", "web-7c9f8d6b5-x2x4q", "app", std::string(64, 'f'));  // another namespace's pod
  PodIdentityResolver pods(cgroup_root(), pods_root(), 0ms);

  auto app = pods.resolve(add_cgroup(kUid, kId));
  ASSERT_TRUE(app.identity);
  EXPECT_TRUE(app.final);
  EXPECT_EQ(app.identity->namespace_name, "shop");
  EXPECT_EQ(app.identity->pod_name, "web-7c9f8d6b5-x2x4q");
  EXPECT_EQ(app.identity->container_name, "app");
  EXPECT_EQ(app.identity->workload, "web");

  auto envoy = pods.resolve(add_cgroup(kUid, kId2));
  ASSERT_TRUE(envoy.identity);
  EXPECT_EQ(envoy.identity->container_name, "envoy");

  // The sandbox ("pause") has no link: the pod is named, the container not.
  auto pause = pods.resolve(add_cgroup(kUid, std::string(64, 'c')));
  ASSERT_TRUE(pause.identity);
  EXPECT_TRUE(pause.final);
  EXPECT_EQ(pause.identity->pod_name, "web-7c9f8d6b5-x2x4q");
  EXPECT_EQ(pause.identity->container_name, "");
  EXPECT_EQ(pods.cached_pods(), 1u);
}

TEST_F(FakeNode, ALoneContainerIsNamedWithoutLinks) {
  add_pod("monitoring", "node-exporter-x2k9p", kUid, {"node-exporter"});
  PodIdentityResolver pods(cgroup_root(), pods_root(), 0ms);
  auto r = pods.resolve(add_cgroup(kUid, kId));
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->namespace_name, "monitoring");
  EXPECT_EQ(r.identity->container_name, "node-exporter");
  EXPECT_EQ(r.identity->workload, "node-exporter");
}

TEST_F(FakeNode, SeveralContainersWithoutLinksLeaveTheContainerUnnamed) {
  add_pod("shop", "db-0", kUid, {"postgres", "exporter"});
  PodIdentityResolver pods(cgroup_root(), pods_root(), 0ms);
  auto r = pods.resolve(add_cgroup(kUid, kId));
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->pod_name, "db-0");
  EXPECT_EQ(r.identity->workload, "db");
  EXPECT_EQ(r.identity->container_name, "");
}

TEST_F(FakeNode, DockerLogLinksNameTheContainer) {
  const fs::path dir = add_pod("default", "api-6d4f8b7c9d-m2n4p", kUid, {"main", "proxy"});
  fs::remove(dir / "main" / "0.log");
  fs::create_symlink("/var/lib/docker/containers/" + kId + "/" + kId + "-json.log", dir / "main" / "0.log");
  PodIdentityResolver pods(cgroup_root(), pods_root(), 0ms);
  auto r = pods.resolve(add_cgroup(kUid, kId));
  ASSERT_TRUE(r.identity);
  EXPECT_EQ(r.identity->container_name, "main");
  EXPECT_EQ(r.identity->workload, "api");
}

TEST_F(FakeNode, OutsideAPodThereIsNothingToLookUp) {
  PodIdentityResolver pods(cgroup_root(), pods_root(), 0ms);
  auto r = pods.resolve("0::/system.slice/nginx.service\n");
  EXPECT_FALSE(r.identity);
  EXPECT_TRUE(r.final);
}

TEST_F(FakeNode, UnknownPodsAreListedAgainAtABoundedRate) {
  add_pod("shop", "web-7c9f8d6b5-x2x4q", kUid, {"app"});
  PodIdentityResolver pods(cgroup_root(), pods_root(), std::chrono::hours(1));
  ASSERT_TRUE(pods.resolve(add_cgroup(kUid, kId)).identity);  // the first lookup lists

  // A pod that appears later is not seen until the next refresh is due:
  // not final, so the process table asks again.
  const std::string new_uid = "11111111-2222-4333-8444-555555555555";
  add_pod("shop", "worker-5f6d7c8b9d-k2l4m", new_uid, {"worker"});
  auto pending = pods.resolve(add_cgroup(new_uid, kId2));
  EXPECT_FALSE(pending.identity);
  EXPECT_FALSE(pending.final);
  // the known pod is still answered from the cache
  EXPECT_TRUE(pods.resolve(add_cgroup(kUid, kId)).identity);

  PodIdentityResolver eager(cgroup_root(), pods_root(), 0ms);
  auto found = eager.resolve(add_cgroup(new_uid, kId2));
  ASSERT_TRUE(found.identity);
  EXPECT_EQ(found.identity->workload, "worker");
}

TEST_F(FakeNode, PodsWhoseCgroupOrLogsAreGoneAreForgotten) {
  add_pod("shop", "web-7c9f8d6b5-x2x4q", kUid, {"app"});
  const std::string uid_b = "11111111-2222-4333-8444-555555555555";
  const fs::path logs_b = add_pod("shop", "batch-x2k9p", uid_b, {"job"});
  PodIdentityResolver pods(cgroup_root(), pods_root(), 0ms);
  ASSERT_TRUE(pods.resolve(add_cgroup(kUid, kId)).identity);
  ASSERT_TRUE(pods.resolve(add_cgroup(uid_b, kId2)).identity);
  EXPECT_EQ(pods.cached_pods(), 2u);

  // The kubelet removes pod A's cgroup (logs stay, as for a completed Job)
  // and pod B's logs.
  fs::remove_all(cgroup_root() / "kubepods.slice" / "kubepods-besteffort.slice" /
                 ("kubepods-besteffort-pod" + std::string("0f6a3e4e_5b1c_4d8e_9f21_3c2b1a0d9e8f") + ".slice"));
  fs::remove_all(logs_b);
  // A new pod triggers the refresh.
  const std::string uid_c = "99999999-8888-4777-8666-555555555555";
  add_pod("shop", "cache-0", uid_c, {"redis"});
  auto c = pods.resolve(add_cgroup(uid_c, std::string(64, 'e')));
  ASSERT_TRUE(c.identity);
  EXPECT_EQ(c.identity->workload, "cache");
  EXPECT_EQ(pods.cached_pods(), 1u);
}

TEST_F(FakeNode, MalformedPodDirectoriesAreIgnored) {
  fs::create_directories(pods_root() / "no-underscores");
  fs::create_directories(pods_root() / ("a_b_c_" + kUid));
  fs::create_directories(pods_root() / "ns_pod_not-a-uid");
  touch(pods_root() / ("ns_file_" + kUid));  // a file, not a directory
  PodLogDirectory logs(pods_root(), root_ / "log" / "containers");
  auto listed = logs.list_pods(100);
  ASSERT_EQ(listed.size(), 1u);  // only the file has the right name shape
  EXPECT_FALSE(logs.read_pod(listed.begin()->second, {}).has_value());
}

// The process table with a fake /proc whose processes sit in pod cgroups.
class PodProcessTable : public FakeNode {
 protected:
  void SetUp() override {
    FakeNode::SetUp();
    fs::create_directories(proc_root());
  }
  fs::path proc_root() const { return root_ / "proc"; }
  void add_process(uint32_t tgid, const std::string& comm, const std::string& cgroup) {
    const fs::path dir = proc_root() / std::to_string(tgid);
    fs::create_directories(dir);
    std::ofstream(dir / "comm") << comm << "\n";
    std::ofstream(dir / "cmdline") << comm << '\0';
    std::ofstream(dir / "stat") << tgid << " (" << comm
                                << ") S 1 1 1 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 98765 12345678 300\n";
    std::ofstream(dir / "cgroup") << cgroup;
  }
  ProcessTable table(std::vector<ServiceRule> rules, size_t max_services) {
    return ProcessTable(ProcFs(proc_root()), ServiceResolver(std::move(rules)), max_services, 120s,
                        PodIdentityResolver(cgroup_root(), pods_root(), 0ms));
  }
};

constexpr uint32_t tg(uint32_t n) { return 5'000'000 + n; }  // never this test's own pid

TEST_F(PodProcessTable, PodLabelsAndTheWorkloadAsService) {
  add_pod("shop", "web-7c9f8d6b5-x2x4q", kUid, {"app"});
  add_process(tg(1), "gunicorn", add_cgroup(kUid, kId));
  add_process(tg(2), "sshd", "0::/system.slice/ssh.service\n");
  auto t = table({}, 100);
  t.scan();
  EXPECT_EQ(t.labels_of(tg(1)), (ProcessLabels{"web", "shop", "web-7c9f8d6b5-x2x4q", "app"}));
  EXPECT_EQ(t.labels_of(tg(2)), (ProcessLabels{"ssh", "", "", ""}));
  EXPECT_EQ(t.service_of(tg(1)), "web");
}

TEST_F(PodProcessTable, ServiceRulesWinOverTheWorkload) {
  add_pod("shop", "web-7c9f8d6b5-x2x4q", kUid, {"app"});
  add_process(tg(1), "gunicorn", add_cgroup(kUid, kId));
  auto t = table({parse_service_rule("storefront=exe:gunicorn")}, 100);
  t.scan();
  EXPECT_EQ(t.labels_of(tg(1)), (ProcessLabels{"storefront", "shop", "web-7c9f8d6b5-x2x4q", "app"}));
}

TEST_F(PodProcessTable, APodNotYetLoggedIsNamedOnALaterScan) {
  add_process(tg(1), "gunicorn", add_cgroup(kUid, kId));
  auto t = table({}, 100);
  t.scan();
  // the container's short id, as for any container outside Kubernetes
  EXPECT_EQ(t.labels_of(tg(1)), (ProcessLabels{"container-" + kId.substr(0, 12), "", "", ""}));
  add_pod("shop", "web-7c9f8d6b5-x2x4q", kUid, {"app"});
  t.scan();
  EXPECT_EQ(t.labels_of(tg(1)), (ProcessLabels{"web", "shop", "web-7c9f8d6b5-x2x4q", "app"}));
}

TEST_F(PodProcessTable, TheServiceCapBoundsPodsToo) {
  const std::string uids[] = {"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002",
                              "00000000-0000-4000-8000-000000000003"};
  const std::string names[] = {"web-7c9f8d6b5-x2x4q", "web-7c9f8d6b5-b2c4d", "web-7c9f8d6b5-f5g6h"};
  for (int i = 0; i < 3; ++i) {
    add_pod("shop", names[i], uids[i], {"app"});
    add_process(tg(i + 1), "gunicorn", add_cgroup(uids[i], std::string(63, 'a') + char('1' + i)));
  }
  auto t = table({}, 2);
  for (uint32_t i = 1; i <= 3; ++i) t.labels_of(tg(i));  // in order: the first two are admitted
  EXPECT_EQ(t.labels_of(tg(1)).k8s_pod_name, names[0]);
  EXPECT_EQ(t.labels_of(tg(2)).k8s_pod_name, names[1]);
  EXPECT_EQ(t.labels_of(tg(3)), (ProcessLabels{"other", "", "", ""}));
  EXPECT_EQ(t.services(), 2u);
  EXPECT_EQ(t.services_overflowed(), 1u);
}

std::string pod_option_error(const std::vector<std::string>& args) {
  try {
    cli::parse_run_options(args);
  } catch (const cli::UsageError& e) {
    return e.what();
  }
  return "";
}

TEST_F(FakeNode, PodOptionsDefaultAndValidate) {
  const auto defaults = cli::parse_run_options({});
  EXPECT_EQ(defaults.cgroup_root, "/sys/fs/cgroup");
  EXPECT_EQ(defaults.pod_log_root, "/var/log/pods");
  const auto given = cli::parse_run_options({"--cgroup-root", cgroup_root().string(), "--pod-log-root=" + pods_root().string()});
  EXPECT_EQ(given.cgroup_root, cgroup_root().string());
  EXPECT_EQ(given.pod_log_root, pods_root().string());
  EXPECT_EQ(pod_option_error({"--pod-log-root", "var/log/pods"}),
            "invalid --pod-log-root 'var/log/pods': expected an absolute path");
  EXPECT_EQ(pod_option_error({"--cgroup-root", (root_ / "missing").string()}),
            "invalid --cgroup-root '" + (root_ / "missing").string() + "': not a directory");
  // in a config file as on the command line
  const fs::path config = root_ / "redeye.conf";
  std::ofstream(config) << "pod-log-root = " << (root_ / "nope").string() << "\n";
  EXPECT_EQ(pod_option_error({"--config", config.string()}),
            "invalid --pod-log-root '" + (root_ / "nope").string() + "': not a directory");
}

}  // namespace
}  // namespace redeye::proc
