#include "cli/options.h"

#include <arpa/inet.h>

#include <boost/program_options.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace po = boost::program_options;

namespace redeye::cli {
namespace {

std::string help_text(const char* usage, const po::options_description& desc) {
  std::ostringstream out;
  out << usage << "\n\n" << desc;
  return out.str();
}

void check_interval(const char* name, double v) {
  if (!std::isfinite(v) || v < 0.05 || v > 3600) {
    std::ostringstream shown;
    shown << v;  // as typed, not with six decimals
    throw UsageError(std::string("invalid --") + name + " " + shown.str() + ": expected seconds between 0.05 and 3600");
  }
}

LogLevel to_level(const std::string& text) {
  LogLevel level;
  if (!parse_log_level(text, level))
    throw UsageError("invalid --log-level '" + text + "': expected debug, info, warn or error");
  return level;
}

// Runs a Boost parse, turning its exceptions into one-line UsageErrors.
template <typename Fn>
void guarded(const std::string& where, Fn&& fn) {
  try {
    fn();
  } catch (const po::error& e) {
    throw UsageError(where + e.what());
  }
}

// No stray words, no abbreviated option names: a typo must not be silently
// taken for something else.
void strict_store(const std::vector<std::string>& args, const po::options_description& desc,
                  po::variables_map& vm) {
  po::options_description all;
  all.add(desc);
  all.add_options()("stray-words", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("stray-words", -1);
  po::store(po::command_line_parser(args)
                .options(all)
                .positional(positional)
                .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                .run(),
            vm);
  if (vm.count("stray-words"))
    throw UsageError("unexpected argument '" + vm["stray-words"].as<std::vector<std::string>>().front() + "'");
}

}  // namespace

void validate_listen_address(const std::string& listen) {
  const std::string expected = "invalid --listen '" + listen + "': expected ADDR:PORT, e.g. 0.0.0.0:9435 or [::1]:9435";
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) throw UsageError(expected);
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535)
    throw UsageError(expected);
  unsigned char buf[16];
  if (host.front() == '[' && host.back() == ']') {
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1) throw UsageError(expected);
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    throw UsageError(expected);
  }
}

RunOptions parse_run_options(const std::vector<std::string>& args) {
  RunOptions o;
  std::string config, log_level = "info";
  long long max_services = 0;
  std::vector<std::string> rules;
  po::options_description desc("Options");
  desc.add_options()
      ("help,h", "show this help")
      ("listen", po::value<std::string>(&o.listen)->default_value(o.listen),
       "ADDR:PORT of the metrics listener (/metrics, /healthz, /readyz)")
      ("config", po::value<std::string>(&config),
       "FILE with 'option = value' lines using the option names below (flags win over the file)")
      ("service", po::value<std::vector<std::string>>(&rules)->composing(),
       "NAME=KIND:PATTERN, repeatable: name processes; KIND is exe (glob on the executable), cmdline "
       "(substring), cgroup (substring) or port (a port the process listens on); first match wins")
      ("interval", po::value<double>(&o.interval_seconds)->default_value(o.interval_seconds),
       "seconds between collections of the kernel counters")
      ("proc-interval", po::value<double>(&o.proc_interval_seconds)->default_value(o.proc_interval_seconds),
       "seconds between /proc scans (CPU, memory, fds, PSI, service names)")
      ("max-services", po::value<long long>(&max_services)->default_value(static_cast<long long>(o.max_services)),
       "cap on distinct service_name values; later ones are reported as 'other'")
      ("log-level", po::value<std::string>(&log_level)->default_value(log_level), "debug, info, warn or error");

  po::variables_map vm;
  guarded("", [&] { strict_store(args, desc, vm); });
  if (vm.count("help")) throw HelpRequested{help_text("Usage: redeye run [OPTIONS]\n\nRuns the agent: "
                                                      "loads the probes and serves Prometheus metrics.", desc)};
  if (vm.count("config")) {
    const std::string file = vm["config"].as<std::string>();
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) throw UsageError("cannot read config file '" + file + "': it is a directory");
    std::ifstream in(file);
    if (!in) throw UsageError("cannot read config file '" + file + "': " + std::strerror(errno));
    guarded("config file '" + file + "': ", [&] { po::store(po::parse_config_file(in, desc), vm); });
  }
  guarded("", [&] { po::notify(vm); });

  validate_listen_address(o.listen);
  check_interval("interval", o.interval_seconds);
  check_interval("proc-interval", o.proc_interval_seconds);
  if (max_services < 1 || max_services > 100000)
    throw UsageError("invalid --max-services " + std::to_string(max_services) + ": expected 1 to 100000");
  o.max_services = static_cast<size_t>(max_services);
  o.log_level = to_level(log_level);
  for (const auto& r : rules) {
    try {
      o.service_rules.push_back(proc::parse_service_rule(r));
    } catch (const proc::RuleError& e) {
      throw UsageError(e.what());
    }
  }
  return o;
}

CheckOptions parse_check_options(const std::vector<std::string>& args) {
  CheckOptions o;
  std::string log_level = "warn";
  po::options_description desc("Options");
  desc.add_options()("help,h", "show this help")(
      "log-level", po::value<std::string>(&log_level)->default_value(log_level), "debug shows libbpf's log");
  po::variables_map vm;
  guarded("", [&] {
    strict_store(args, desc, vm);
    po::notify(vm);
  });
  if (vm.count("help"))
    throw HelpRequested{help_text(
        "Usage: redeye check [OPTIONS]\n\nChecks that this kernel and these privileges can run the agent: BTF, "
        "tracefs, capabilities, and whether each probe loads and attaches.\nExit status 0 when the agent can run, 1 "
        "otherwise.",
        desc)};
  o.log_level = to_level(log_level);
  return o;
}

}  // namespace redeye::cli
