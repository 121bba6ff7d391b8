#include "proc/process_table.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace redeye::proc {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

// A session scope: neither a container nor a systemd service, so the name
// comes from rules, well-known servers or the executable.
constexpr std::string_view kSessionCgroup = "0::/user.slice/user-1000.slice/session-3.scope\n";

// Fixture tgids lie above PID_MAX_LIMIT (2^22), so none can be this test
// process's own pid, which the table treats specially.
constexpr uint32_t tg(uint32_t n) { return 5'000'000 + n; }

struct FakeProcess {
  uint32_t tgid;
  std::string comm;
  std::vector<std::string> argv;
  std::string exe;  // target of the exe link; empty: no link
  std::string cgroup = std::string(kSessionCgroup);
};

class ProcessTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "redeye_ptable_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void write_file(const fs::path& path, std::string_view content) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    ASSERT_TRUE(out.good()) << path;
  }

  void add(const FakeProcess& p) {
    const fs::path dir = root_ / std::to_string(p.tgid);
    fs::create_directories(dir);
    write_file(dir / "comm", p.comm + "\n");
    std::string cmdline;
    for (const auto& arg : p.argv) cmdline += arg + '\0';
    write_file(dir / "cmdline", cmdline);
    write_file(dir / "stat", std::to_string(p.tgid) + " (" + p.comm +
                                 ") S 1 1 1 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 98765 12345678 300\n");
    write_file(dir / "cgroup", p.cgroup);
    if (!p.exe.empty()) fs::create_symlink(p.exe, dir / "exe");
  }

  void remove(uint32_t tgid) { fs::remove_all(root_ / std::to_string(tgid)); }

  // Gives tgid a socket listening on port (via its own net/tcp view).
  void listen_on(uint32_t tgid, uint16_t port, uint64_t inode) {
    const fs::path dir = root_ / std::to_string(tgid);
    fs::create_directories(dir / "fd");
    fs::create_symlink("socket:[" + std::to_string(inode) + "]", dir / "fd" / "3");
    char local[32];
    std::snprintf(local, sizeof local, "0100007F:%04X", port);
    write_file(dir / "net" / "tcp",
               "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
               "   0: "s + local + " 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 " +
                   std::to_string(inode) + " 1 0000000000000000 100 0 0 10 0\n");
  }

  ProcessTable table(std::initializer_list<std::string_view> rule_texts = {}, size_t max_services = 500,
                     std::chrono::seconds retention = std::chrono::seconds(120)) {
    std::vector<ServiceRule> rules;
    for (auto text : rule_texts) rules.push_back(parse_service_rule(text));
    return ProcessTable(ProcFs(root_), ServiceResolver(std::move(rules)), max_services, retention);
  }

  static std::vector<uint32_t> sorted(std::vector<uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  fs::path root_;
};

const FakeProcess kNginx{tg(100), "nginx", {"nginx: master process /usr/sbin/nginx", "-g", "daemon off;"},
                         "/usr/sbin/nginx"};
const FakeProcess kPostgres{tg(200), "postgres", {"/usr/lib/postgresql/15/bin/postgres", "-D", "/var/lib/pg"},
                            "/usr/lib/postgresql/15/bin/postgres"};
const FakeProcess kJava{tg(300), "java", {"/usr/bin/java", "-Xmx1g", "-jar", "orders.jar"}, "/usr/bin/java"};

// ---- scan --------------------------------------------------------------------

TEST_F(ProcessTableTest, ScanResolvesWellKnownServers) {
  add(kNginx);
  add(kPostgres);
  add(kJava);
  auto t = table();
  t.scan();
  EXPECT_EQ(t.service_of(tg(100)), "nginx");
  EXPECT_EQ(t.service_of(tg(200)), "postgresql");
  EXPECT_EQ(t.service_of(tg(300)), "java");
  EXPECT_EQ(t.size(), 3u);
}

TEST_F(ProcessTableTest, ScanUsesSystemdUnitFromCgroup) {
  FakeProcess p{tg(110), "gunicorn", {"/usr/bin/python3", "/usr/bin/gunicorn", "app:wsgi"}, "/usr/bin/python3.11"};
  p.cgroup = "0::/system.slice/shop-api.service\n";
  add(p);
  auto t = table();
  t.scan();
  EXPECT_EQ(t.service_of(tg(110)), "shop-api");
}

TEST_F(ProcessTableTest, CmdlineRuleWinsOverWellKnownServerAndExe) {
  add(kJava);
  FakeProcess edge = kNginx;
  edge.tgid = tg(101);
  edge.argv = {"/usr/sbin/nginx", "-c", "/etc/nginx/edge.conf"};
  add(kNginx);
  add(edge);
  auto t = table({"orders=cmdline:-jar orders.jar", "edge=cmdline:/etc/nginx/edge.conf"});
  t.scan();
  EXPECT_EQ(t.service_of(tg(300)), "orders");
  EXPECT_EQ(t.service_of(tg(101)), "edge");
  EXPECT_EQ(t.service_of(tg(100)), "nginx");  // the plain nginx matches no rule
}

TEST_F(ProcessTableTest, CmdlineArgumentsAreJoinedWithSpacesForRules) {
  // The rule pattern spans two NUL-separated arguments.
  add(kJava);
  auto t = table({"orders=cmdline:-Xmx1g -jar"});
  t.scan();
  EXPECT_EQ(t.service_of(tg(300)), "orders");
}

TEST_F(ProcessTableTest, ExeRuleGlobMatchesExeBasename) {
  add(kPostgres);
  auto t = table({"db=exe:post*"});
  t.scan();
  EXPECT_EQ(t.service_of(tg(200)), "db");
}

TEST_F(ProcessTableTest, AliveAndLiveTgids) {
  add(kNginx);
  add(kPostgres);
  auto t = table();
  EXPECT_TRUE(t.live_tgids().empty());
  EXPECT_FALSE(t.alive(tg(100)));
  t.scan();
  EXPECT_TRUE(t.alive(tg(100)));
  EXPECT_TRUE(t.alive(tg(200)));
  EXPECT_FALSE(t.alive(tg(300)));
  EXPECT_EQ(sorted(t.live_tgids()), (std::vector<uint32_t>{tg(100), tg(200)}));
  EXPECT_EQ(t.size(), 2u);
}

TEST_F(ProcessTableTest, ScanRetiresVanishedProcessesButRemembersTheirService) {
  add(kNginx);
  add(kPostgres);
  auto t = table();
  t.scan();
  remove(tg(200));
  t.scan();
  EXPECT_FALSE(t.alive(tg(200)));
  EXPECT_EQ(sorted(t.live_tgids()), (std::vector<uint32_t>{tg(100)}));
  EXPECT_EQ(t.service_of(tg(200)), "postgresql");
}

TEST_F(ProcessTableTest, ScanPicksUpNewProcesses) {
  add(kNginx);
  auto t = table();
  t.scan();
  add(kPostgres);
  t.scan();
  EXPECT_EQ(sorted(t.live_tgids()), (std::vector<uint32_t>{tg(100), tg(200)}));
  EXPECT_EQ(t.service_of(tg(200)), "postgresql");
}

TEST_F(ProcessTableTest, ScanIgnoresNonProcessEntries) {
  add(kNginx);
  fs::create_directories(root_ / "net");
  fs::create_directories(root_ / "sys");
  write_file(root_ / std::to_string(tg(42)), "not a directory");
  auto t = table();
  t.scan();
  EXPECT_EQ(t.live_tgids(), (std::vector<uint32_t>{tg(100)}));
}

// ---- service_of --------------------------------------------------------------

TEST_F(ProcessTableTest, ServiceOfTgidZeroIsUnknown) {
  add(kNginx);
  auto t = table();
  t.scan();
  EXPECT_EQ(t.service_of(0), "unknown");
  EXPECT_FALSE(t.alive(0));
}

TEST_F(ProcessTableTest, ServiceOfExitedProcessWithinRetention) {
  add(kNginx);
  auto t = table();
  t.scan();
  remove(tg(100));
  t.on_exit(tg(100), "nginx");
  EXPECT_FALSE(t.alive(tg(100)));
  EXPECT_TRUE(t.live_tgids().empty());
  EXPECT_EQ(t.service_of(tg(100)), "nginx");
  // A scan after the exit keeps the remembered name.
  t.scan();
  EXPECT_EQ(t.service_of(tg(100)), "nginx");
}

TEST_F(ProcessTableTest, ExitedServiceKeepsTheResolvedNameNotTheExitComm) {
  add(kJava);
  auto t = table({"orders=cmdline:orders.jar"});
  t.scan();
  remove(tg(300));
  t.on_exit(tg(300), "java");
  EXPECT_EQ(t.service_of(tg(300)), "orders");
}

TEST_F(ProcessTableTest, ExitedServiceIsForgottenAfterRetention) {
  add(kNginx);
  auto t = table({}, 500, std::chrono::seconds(0));
  t.scan();
  remove(tg(100));
  t.on_exit(tg(100), "nginx");
  t.scan();  // later than the exit, so past a zero retention
  EXPECT_EQ(t.service_of(tg(100)), "unknown");
}

TEST_F(ProcessTableTest, ServiceOfUnseenLiveProcessResolvesOnTheSpot) {
  auto t = table();
  t.scan();
  add(kPostgres);  // started after the scan
  EXPECT_FALSE(t.alive(tg(200)));
  EXPECT_EQ(t.service_of(tg(200)), "postgresql");
  EXPECT_TRUE(t.alive(tg(200)));
}

TEST_F(ProcessTableTest, ServiceOfNeverSeenMissingProcessIsUnknown) {
  auto t = table();
  t.scan();
  EXPECT_EQ(t.service_of(tg(4242)), "unknown");
  EXPECT_FALSE(t.alive(tg(4242)));
}

// ---- exec / exit events ----------------------------------------------------------

TEST_F(ProcessTableTest, ForkedChildGoneBeforeProcIsReadCarriesItsParentsService) {
  add(kJava);
  auto t = table({"orders=cmdline:orders.jar"});
  t.scan();
  // A child that serves one connection and exits: no /proc entry ever seen.
  t.on_fork(tg(301), tg(300), "java");
  EXPECT_TRUE(t.alive(tg(301)));
  EXPECT_EQ(t.service_of(tg(301)), "orders");
  t.on_exit(tg(301), "java");
  EXPECT_EQ(t.service_of(tg(301)), "orders");
}

TEST_F(ProcessTableTest, ForkOfAnUnknownParentReadsTheChild) {
  auto t = table();
  add(FakeProcess{tg(201), "postgres", kPostgres.argv, kPostgres.exe});
  t.on_fork(tg(201), tg(4243), "postgres");
  remove(tg(201));
  EXPECT_EQ(t.service_of(tg(201)), "postgresql");
}

TEST_F(ProcessTableTest, ForkReplacesAnExitedEntryForAReusedTgid) {
  add(kNginx);
  add(kPostgres);
  auto t = table();
  t.scan();
  remove(tg(100));
  t.on_exit(tg(100), "nginx");
  t.on_fork(tg(100), tg(200), "postgres");
  EXPECT_EQ(t.service_of(tg(100)), "postgresql");
}

TEST_F(ProcessTableTest, UnknownTgidIsLookedUpAfterCatchingUpOnQueuedEvents) {
  add(kPostgres);
  auto t = table();
  t.scan();
  int catch_ups = 0;
  // The fork event was queued before the data event that named the child.
  t.set_catch_up([&] {
    ++catch_ups;
    t.on_fork(tg(202), tg(200), "postgres");
  });
  EXPECT_EQ(t.service_of(tg(202)), "postgresql");
  EXPECT_EQ(catch_ups, 1);
  EXPECT_EQ(t.service_of(tg(200)), "postgresql");  // known: no catch-up
  EXPECT_EQ(catch_ups, 1);
}

TEST_F(ProcessTableTest, ForkedChildThatExecdIsNamedByItsQueuedExecNotItsParent) {
  add(kJava);
  auto t = table({"orders=cmdline:orders.jar"});
  t.scan();
  t.on_fork(tg(302), tg(300), "java");
  // It exec'd redis-server; that event is still queued when its data comes.
  add(FakeProcess{tg(302), "redis-server", {"redis-server", "*:6379"}, "/usr/bin/redis-server"});
  t.set_catch_up([&] { t.on_exec(tg(302), "redis-server", "redis-server *:6379"); });
  EXPECT_EQ(t.service_of(tg(302)), "redis");
}

TEST_F(ProcessTableTest, ScanLeavesAnExitedZombieToItsExitEvent) {
  add(kJava);
  auto t = table({"orders=cmdline:orders.jar"});
  t.scan();
  t.on_fork(tg(303), tg(300), "java");
  t.on_exit(tg(303), "java");
  // Not reaped yet: listed, with its comm and no command line.
  add(FakeProcess{tg(303), "java", {}, ""});
  t.scan();
  EXPECT_FALSE(t.alive(tg(303)));
  EXPECT_EQ(t.service_of(tg(303)), "orders");
}

TEST_F(ProcessTableTest, ForkOverridesAnEntryReadFromTheChildAsAZombie) {
  add(kJava);
  auto t = table({"orders=cmdline:orders.jar"});
  t.scan();
  add(FakeProcess{tg(304), "java", {}, ""});  // the child, exited, seen before its fork event
  EXPECT_EQ(t.service_of(tg(304)), "java");
  t.on_fork(tg(304), tg(300), "java");
  EXPECT_EQ(t.service_of(tg(304)), "orders");
}

TEST_F(ProcessTableTest, OnExecWithMissingProcDirUsesArgsForCmdlineRules) {
  auto t = table({"worker=cmdline:manage.py rqworker"});
  t.on_exec(tg(500), "python3", "/usr/bin/python3 manage.py rqworker high");
  EXPECT_TRUE(t.alive(tg(500)));
  EXPECT_EQ(t.service_of(tg(500)), "worker");
  // Exiting keeps the name.
  t.on_exit(tg(500), "python3");
  EXPECT_FALSE(t.alive(tg(500)));
  EXPECT_EQ(t.service_of(tg(500)), "worker");
}

TEST_F(ProcessTableTest, OnExecWithMissingProcDirAndNoMatchingRuleUsesComm) {
  auto t = table({"worker=cmdline:manage.py rqworker"});
  t.on_exec(tg(501), "python3", "/usr/bin/python3 manage.py runserver");
  EXPECT_EQ(t.service_of(tg(501)), "python3");
  t.on_exec(tg(502), "redis-server", "");
  EXPECT_EQ(t.service_of(tg(502)), "redis");
}

TEST_F(ProcessTableTest, OnExecPrefersProcOverEventArgs) {
  add(kJava);
  auto t = table({"orders=cmdline:orders.jar", "billing=cmdline:billing.jar"});
  t.on_exec(tg(300), "java", "/usr/bin/java -jar billing.jar");
  EXPECT_EQ(t.service_of(tg(300)), "orders");
}

TEST_F(ProcessTableTest, OnExecReplacesAnExitedEntryForAReusedTgid) {
  add(kNginx);
  auto t = table();
  t.scan();
  remove(tg(100));
  t.on_exit(tg(100), "nginx");
  ASSERT_EQ(t.service_of(tg(100)), "nginx");
  FakeProcess reused = kPostgres;
  reused.tgid = tg(100);
  add(reused);
  t.on_exec(tg(100), "postgres");
  EXPECT_TRUE(t.alive(tg(100)));
  EXPECT_EQ(t.service_of(tg(100)), "postgresql");
}

TEST_F(ProcessTableTest, OnExecOfLiveProcessReResolves) {
  // A shell that execs the real program keeps its tgid.
  FakeProcess shell{tg(600), "sh", {"/bin/sh", "-c", "exec redis-server"}, "/usr/bin/dash"};
  add(shell);
  auto t = table();
  t.scan();
  ASSERT_EQ(t.service_of(tg(600)), "dash");
  remove(tg(600));
  add(FakeProcess{tg(600), "redis-server", {"redis-server", "*:6379"}, "/usr/bin/redis-server"});
  t.on_exec(tg(600), "redis-server");
  EXPECT_EQ(t.service_of(tg(600)), "redis");
}

TEST_F(ProcessTableTest, OnExitOfNeverSeenTgidUsesComm) {
  auto t = table();
  t.on_exit(tg(700), "redis-server");
  EXPECT_EQ(t.service_of(tg(700)), "redis");
  t.on_exit(tg(701), "my job");
  EXPECT_EQ(t.service_of(tg(701)), "my_job");
  t.on_exit(tg(702), "");
  EXPECT_EQ(t.service_of(tg(702)), "unknown");
  EXPECT_FALSE(t.alive(tg(700)));
  EXPECT_TRUE(t.live_tgids().empty());
}

TEST_F(ProcessTableTest, OnExitOfNeverSeenTgidAppliesExeRulesToComm) {
  auto t = table({"batch=exe:cron*"});
  t.on_exit(tg(710), "cronjob-42");
  EXPECT_EQ(t.service_of(tg(710)), "batch");
}

TEST_F(ProcessTableTest, OwnProcessIsRedeyeEvenWhenItsCommandLineMatchesARule) {
  // The agent's own command line contains every --service pattern.
  const auto self = static_cast<uint32_t>(getpid());
  auto t = table({"web=cmdline:nginx", "db=exe:redeye*"});
  t.on_exec(self, "redeye", "redeye run --service web=cmdline:nginx --service db=exe:redeye*");
  EXPECT_EQ(t.service_of(self), "redeye");
  EXPECT_TRUE(t.alive(self));
}

// ---- max_services cap -------------------------------------------------------------

TEST_F(ProcessTableTest, ServicesBeyondTheCapAreFoldedIntoOther) {
  add({tg(801), "alpha", {"alpha"}, "/opt/alpha"});
  add({tg(802), "beta", {"beta"}, "/opt/beta"});
  add({tg(803), "gamma", {"gamma"}, "/opt/gamma"});
  add({tg(804), "alpha", {"alpha", "--worker"}, "/opt/alpha"});
  add({tg(805), "delta", {"delta"}, "/opt/delta"});
  auto t = table({}, 2);
  t.scan();  // resolves in ascending tgid order
  EXPECT_EQ(t.service_of(tg(801)), "alpha");
  EXPECT_EQ(t.service_of(tg(802)), "beta");
  EXPECT_EQ(t.service_of(tg(803)), "other");
  EXPECT_EQ(t.service_of(tg(804)), "alpha");  // an admitted name stays available
  EXPECT_EQ(t.service_of(tg(805)), "other");
  EXPECT_EQ(t.services_overflowed(), 2u);
}

TEST_F(ProcessTableTest, CapAppliesToExecAndExitEvents) {
  auto t = table({}, 1);
  t.on_exec(tg(901), "first");
  t.on_exec(tg(902), "second");
  t.on_exit(tg(903), "third");
  EXPECT_EQ(t.service_of(tg(901)), "first");
  EXPECT_EQ(t.service_of(tg(902)), "other");
  EXPECT_EQ(t.service_of(tg(903)), "other");
  EXPECT_EQ(t.services_overflowed(), 2u);
}

TEST_F(ProcessTableTest, NoOverflowUnderTheCap) {
  add(kNginx);
  add(kPostgres);
  auto t = table({}, 2);
  t.scan();
  EXPECT_EQ(t.services_overflowed(), 0u);
  EXPECT_EQ(t.service_of(tg(100)), "nginx");
  EXPECT_EQ(t.service_of(tg(200)), "postgresql");
}

// ---- port rules -------------------------------------------------------------------

TEST_F(ProcessTableTest, PortRuleMatchesOnceTheProcessListens) {
  add(kJava);
  auto t = table({"orders=port:8080"});
  t.scan();
  EXPECT_EQ(t.service_of(tg(300)), "java");  // not listening yet
  listen_on(tg(300), 8080, 424242);
  t.scan();
  EXPECT_EQ(t.service_of(tg(300)), "orders");
}

TEST_F(ProcessTableTest, PortRuleIgnoresOtherPorts) {
  add(kJava);
  listen_on(tg(300), 9090, 4711);
  auto t = table({"orders=port:8080"});
  t.scan();
  EXPECT_EQ(t.service_of(tg(300)), "java");
}

// services_overflowed() counts "service names that hit the cap". With a port
// rule the table re-resolves non-final entries on every scan, and each
// re-resolution of the same over-the-cap process counts again. Disabled:
// documents a product bug (see the report); enable once fixed.
TEST_F(ProcessTableTest, OverflowIsNotRecountedOnEveryScan) {
  add({tg(801), "alpha", {"alpha"}, "/opt/alpha"});
  add({tg(802), "beta", {"beta"}, "/opt/beta"});
  auto t = table({"web=port:8080"}, 1);
  t.scan();
  ASSERT_EQ(t.service_of(tg(802)), "other");
  ASSERT_EQ(t.services_overflowed(), 1u);
  t.scan();
  t.scan();
  EXPECT_EQ(t.services_overflowed(), 1u);
}

}  // namespace
}  // namespace redeye::proc
