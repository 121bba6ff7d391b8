// redeye: eBPF node agent. `redeye run` is the daemon, `redeye check` tells
// whether this host can run it.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"

namespace {

constexpr const char* kUsage =
    "Usage: redeye <command> [OPTIONS]\n\n"
    "Commands:\n"
    "  run      run the agent: load the probes, serve Prometheus metrics\n"
    "  check    check that this kernel and these privileges can run the agent\n"
    "  trace    print requests, statements and TCP failures as they happen\n"
    "  top      live per-service table: rates, errors, latency, CPU, TCP\n"
    "  version  print the version\n\n"
    "'redeye <command> --help' describes each command's options.\n";

int usage_error(const std::string& message, const std::string& command) {
  std::fprintf(stderr, "redeye: error: %s (see 'redeye %s--help')\n", message.c_str(),
               command.empty() ? "" : (command + " ").c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command == "version" || command == "--version") {
    std::printf("redeye %s\n", REDEYE_VERSION);
    return 0;
  }
  try {
    if (command == "run") return redeye::cli::run_agent(redeye::cli::parse_run_options(args));
    if (command == "check") return redeye::cli::run_check(redeye::cli::parse_check_options(args));
    if (command == "trace") return redeye::cli::run_trace(redeye::cli::parse_trace_options(args));
    if (command == "top") return redeye::cli::run_top(redeye::cli::parse_top_options(args));
  } catch (const redeye::cli::UsageError& e) {
    return usage_error(e.what(), command);
  } catch (const redeye::cli::HelpRequested& h) {
    std::fputs(h.text.c_str(), stdout);
    return 0;
  }
  return usage_error("unknown command '" + command + "'", "");
}
