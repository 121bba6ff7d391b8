// `redeye top`: the per-service table of top/top_table.h, refreshed on the
// terminal. The numbers come from the agent's Prometheus text, read through
// the control socket, or from an in-process pipeline when no agent runs.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

#include "agent/agent_core.h"
#include "cli/commands.h"
#include "cli/control_client.h"
#include "cli/shutdown_signals.h"
#include "cli/trace_options.h"
#include "top/top_table.h"
#include "util/log.h"

namespace redeye::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Raw keys without echo, the alternate screen, no cursor; all restored when
// it goes away. Does nothing to what is not a terminal.
class Terminal {
 public:
  Terminal() {
    raw_ = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0;
    if (raw_) {
      termios t = saved_;
      t.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
      t.c_cc[VMIN] = 0;
      t.c_cc[VTIME] = 0;
      tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
    screen_ = isatty(STDOUT_FILENO);
    if (screen_) std::fputs("\x1b[?1049h\x1b[?25l", stdout);
  }
  ~Terminal() {
    if (screen_) std::fputs("\x1b[?25h\x1b[?1049l", stdout);
    std::fflush(stdout);
    if (raw_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  std::pair<int, int> size() const {
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) return {ws.ws_col, ws.ws_row};
    return {80, 24};
  }
  void draw(const std::vector<std::string>& lines) {
    std::string frame = screen_ ? "\x1b[H" : "";
    for (const auto& l : lines) frame += l + (screen_ ? "\x1b[K\n" : "\n");
    if (screen_) frame += "\x1b[J";
    else frame += "\n";
    // the last line without its newline, so that a full screen does not scroll
    if (screen_ && frame.size() >= 4) frame.erase(frame.rfind('\n'), 1);
    std::fputs(frame.c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  bool raw_ = false, screen_ = false;
  termios saved_{};
};

// A key or an escape sequence (arrows) read from stdin, "" when none.
std::string read_key() {
  char buf[8];
  const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace

int run_top(const TopOptions& o) {
  set_log_level(o.log_level);
  ShutdownSignals signals;
  std::function<std::optional<std::string>()> fetch;
  std::string source;
  auto registry = std::make_shared<prometheus::Registry>();
  std::unique_ptr<agent::AgentCore> core;

  std::optional<std::string> first;
  {
    ControlConnection probe(o.control_socket, "metrics");
    if (probe.ok()) first = probe.read_all(5000);
  }
  if (first) {
    std::fprintf(stderr, "redeye: attached to agent at %s\n", o.control_socket.c_str());
    source = "attached to agent at " + o.control_socket;
    fetch = [path = o.control_socket]() -> std::optional<std::string> {
      ControlConnection c(path, "metrics");
      return c.ok() ? c.read_all(5000) : std::nullopt;
    };
  } else {
    std::fprintf(stderr, "redeye: no agent running at %s: loading probes\n", o.control_socket.c_str());
    if (!agent::host_can_run()) return 1;
    try {
      core = std::make_unique<agent::AgentCore>(standalone_run_options(o.log_level, o.refresh_seconds), *registry);
    } catch (const agent::StartError& e) {
      log_error(e.what());
      return 1;
    }
    core->prime();
    source = "standalone (no agent running)";
    fetch = [&registry]() -> std::optional<std::string> {
      return prometheus::TextSerializer().Serialize(registry->Collect());
    };
    first = fetch();
  }

  Terminal term;
  top::Column sort = *top::column_of(o.sort);
  top::Snapshot before = top::parse_snapshot(*first);
  auto before_at = Clock::now();
  top::Table table;
  const auto refresh = std::chrono::milliseconds(static_cast<int64_t>(o.refresh_seconds * 1000));
  auto next = before_at + refresh;
  std::string status = source + "  (collecting)";
  const auto redraw = [&] {
    const auto [w, h] = term.size();
    term.draw(top::render(table, sort, w, h, status));
  };
  redraw();
  bool quit = false;
  while (!quit && !signals.pending()) {
    if (core) core->step();  // reads the rings for up to 20 ms
    pollfd in{STDIN_FILENO, POLLIN, 0};
    if (poll(&in, 1, core ? 0 : 50) > 0) {
      const std::string key = read_key();
      if (key.empty() && (in.revents & POLLHUP)) break;  // no terminal any more
      if (key == "q" || key == "Q") {
        quit = true;
        break;
      }
      if (key == "\x1b[C") sort = top::next_column(sort, 1);
      else if (key == "\x1b[D") sort = top::next_column(sort, -1);
      else if (auto c = top::column_of(key)) sort = *c;
      if (!key.empty()) {
        top::sort_rows(table.rows, sort);
        redraw();
      }
    }
    if (Clock::now() < next) continue;
    const auto now = Clock::now();
    if (auto text = fetch()) {
      top::Snapshot after = top::parse_snapshot(*text);
      const double seconds = std::chrono::duration<double>(now - before_at).count();
      table = top::compute(before, after, seconds, sort);
      before = std::move(after);
      before_at = now;
      status = source;
    } else {
      status = source + "  (no answer from the agent)";
    }
    redraw();
    next = now + refresh;
  }
  if (core) core->detach();
  return 0;
}

}  // namespace redeye::cli
