// The agent's control socket end to end, without BPF: a real unix socket,
// the real event tap fed with records, a real registry.
#include "agent/control_server.h"

#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/control_client.h"
#include "proc/process_table.h"
#include "trace/event_tap.h"

namespace redeye::agent {
namespace {

namespace fs = std::filesystem;

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("redeye-control-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    path_ = (dir_ / "sub" / "redeye.sock").string();
    prometheus::BuildCounter().Name("test_requests_total").Help("h").Register(*registry_).Add({}).Increment(3);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A record as the HTTP parser would hand it over.
  void feed(const std::string& path, int status) {
    capture::ConnectionInfo conn;
    conn.tgid = static_cast<uint32_t>(getpid());
    conn.peer = "127.0.0.1:1234";
    protocols::Record r;
    r.role = protocols::Role::Server;
    r.request_ns = 1000;
    r.response_ns = 2000;
    r.http = protocols::HttpDetails{};
    r.http->method = "GET";
    r.http->path = path;
    r.http->query = "secret=1";
    r.http->status = status;
    tap_.on_record(conn, r);
  }

  fs::path dir_;
  std::string path_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  proc::ProcessTable table_{proc::ProcFs(), proc::ServiceResolver({}), 10};
  trace::EventTap tap_{table_};
};

TEST_F(ControlServerTest, SocketIsRootOnlyAndRemovedOnExit) {
  {
    ControlServer server(path_, tap_, registry_);
    struct stat st{};
    ASSERT_EQ(stat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    // a second agent does not take over a live socket
    EXPECT_THROW(ControlServer(path_, tap_, registry_), ControlSocketError);
  }
  EXPECT_FALSE(fs::exists(path_));
}

TEST_F(ControlServerTest, StaleSocketIsReplacedOtherFilesAreNot) {
  fs::create_directories(fs::path(path_).parent_path());
  {
    // a socket whose agent died: bound, never listening
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    close(fd);
  }
  { ControlServer server(path_, tap_, registry_); }
  std::ofstream(path_) << "not a socket";
  EXPECT_THROW(ControlServer(path_, tap_, registry_), ControlSocketError);
}

TEST_F(ControlServerTest, MetricsRequestGetsThePrometheusText) {
  ControlServer server(path_, tap_, registry_);
  cli::ControlConnection c(path_, "metrics");
  ASSERT_TRUE(c.ok());
  const auto text = c.read_all(5000);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("test_requests_total 3"), std::string::npos) << *text;
}

TEST_F(ControlServerTest, TraceSessionGetsFilteredMaskedEventsUntilItLeaves) {
  ControlServer server(path_, tap_, registry_);
  EXPECT_FALSE(tap_.has_subscribers());
  trace::TraceFilter filter;
  filter.status = trace::parse_status("5xx");
  {
    cli::ControlConnection c(path_, "trace " + trace::to_json(filter));
    ASSERT_TRUE(c.ok());
    bool closed = false;
    ASSERT_EQ(c.read_line(5000, closed).value_or(""), "ok");
    EXPECT_TRUE(tap_.has_subscribers());
    feed("/fine", 200);
    feed("/broken", 503);
    const auto line = c.read_line(5000, closed);
    ASSERT_TRUE(line);
    const auto e = trace::event_from_json(*line);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->target, "/broken") << "masked: no query string";
    EXPECT_EQ(e->status, "503");
    EXPECT_EQ(e->pid, static_cast<uint32_t>(getpid()));
    EXPECT_FALSE(c.read_line(300, closed)) << "the 200 was filtered out";
  }
  // the agent notices the reader left and stops building events
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (tap_.has_subscribers() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(tap_.has_subscribers());
}

TEST_F(ControlServerTest, BadRequestsGetOneLine) {
  ControlServer server(path_, tap_, registry_);
  bool closed = false;
  cli::ControlConnection bad_filter(path_, "trace {\"kinds\":\"smtp\"}");
  EXPECT_EQ(bad_filter.read_line(5000, closed).value_or(""), "error: invalid trace filter");
  cli::ControlConnection unknown(path_, "dump everything");
  EXPECT_EQ(unknown.read_line(5000, closed).value_or("").rfind("error: unknown request", 0), 0u);
  EXPECT_FALSE(cli::ControlConnection((dir_ / "missing.sock").string(), "metrics").ok());
}

}  // namespace
}  // namespace redeye::agent
