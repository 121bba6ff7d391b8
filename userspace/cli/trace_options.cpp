#include "cli/trace_options.h"

#include <boost/program_options.hpp>
#include <cmath>
#include <sstream>

#include "top/top_table.h"

namespace po = boost::program_options;

namespace redeye::cli {
namespace {

// Boost errors and stray words as one-line UsageErrors; at most
// `max_positional` leading words (the trace kind).
po::variables_map parse_strictly(const std::vector<std::string>& args, const po::options_description& desc,
                                 int max_positional) {
  po::options_description all;
  all.add(desc);
  all.add_options()("positional", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("positional", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args)
                  .options(all)
                  .positional(positional)
                  .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
                  .run(),
              vm);
    po::notify(vm);
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  if (vm.count("positional")) {
    const auto& words = vm["positional"].as<std::vector<std::string>>();
    if (static_cast<int>(words.size()) > max_positional)
      throw UsageError("unexpected argument '" + words[static_cast<size_t>(max_positional)] + "'");
  }
  return vm;
}

LogLevel level_of(const std::string& text) {
  LogLevel level;
  if (!parse_log_level(text, level))
    throw UsageError("invalid --log-level '" + text + "': expected debug, info, warn or error");
  return level;
}

void check_socket_path(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.size() > 107)
    throw UsageError("invalid --control-socket '" + path + "': expected an absolute path of at most 107 bytes");
}

std::string help(const char* usage, const po::options_description& desc) {
  std::ostringstream out;
  out << usage << "\n\n" << desc;
  return out.str();
}

}  // namespace

TraceOptions parse_trace_options(const std::vector<std::string>& args) {
  TraceOptions o;
  std::string min_duration, status, log_level = "warn";
  long long pid = -1, limit = 0;
  po::options_description desc("Options");
  desc.add_options()
      ("help,h", "show this help")
      ("pid", po::value<long long>(&pid), "only this process")
      ("service", po::value<std::string>(&o.filter.service), "only this service_name")
      ("min-duration", po::value<std::string>(&min_duration), "only exchanges at least this long: 40ms, 1s, 250us")
      ("status", po::value<std::string>(&status), "only HTTP responses with this status: 404, or a class: 5xx")
      ("errors", po::bool_switch(&o.filter.errors_only), "only errors (HTTP 5xx, SQL errors, TCP failures)")
      ("limit", po::value<long long>(&limit), "exit after printing N events")
      ("duration", po::value<double>(&o.duration_seconds), "exit after SECS seconds")
      ("json", po::bool_switch(&o.json), "one JSON object per line")
      ("show-payload", po::bool_switch(&o.filter.show_payload),
       "show SQL literals and URL query strings (masked by default)")
      ("control-socket", po::value<std::string>(&o.control_socket)->default_value(o.control_socket),
       "the agent's control socket; without an agent there the probes are loaded in-process")
      ("log-level", po::value<std::string>(&log_level)->default_value(log_level), "debug, info, warn or error");
  const auto vm = parse_strictly(args, desc, 1);
  if (vm.count("help"))
    throw HelpRequested{help("Usage: redeye trace [http|sql|amqp|tcp|all] [OPTIONS]\n\n"
                             "Prints one line per HTTP request, SQL statement, AMQP command or TCP failure "
                             "(refused or timed-out connect, reset, retransmit) as it happens. Attaches to the "
                             "running agent through its control socket, or loads the probes itself when none runs.",
                             desc)};
  if (vm.count("positional")) {
    const std::string kind = vm["positional"].as<std::vector<std::string>>().front();
    if (kind != "all") {
      if (!trace::trace_kinds().count(kind))
        throw UsageError("invalid trace kind '" + kind + "': expected http, sql, amqp, tcp or all");
      o.filter.kinds.insert(kind);
    }
  }
  if (vm.count("pid")) {
    if (pid < 1 || pid > 4194304) throw UsageError("invalid --pid " + std::to_string(pid) + ": expected a process id");
    o.filter.pid = static_cast<uint32_t>(pid);
  }
  try {
    if (vm.count("min-duration")) o.filter.min_duration_ns = trace::parse_duration_ns(min_duration);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--min-duration: ") + e.what());
  }
  try {
    if (vm.count("status")) o.filter.status = trace::parse_status(status);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--status: ") + e.what());
  }
  if (vm.count("limit")) {
    if (limit < 1) throw UsageError("invalid --limit " + std::to_string(limit) + ": expected 1 or more");
    o.limit = static_cast<uint64_t>(limit);
  }
  if (vm.count("duration") && (!std::isfinite(o.duration_seconds) || o.duration_seconds <= 0 ||
                               o.duration_seconds > 86400 * 7)) {
    std::ostringstream shown;
    shown << o.duration_seconds;
    throw UsageError("invalid --duration " + shown.str() + ": expected seconds, more than 0");
  }
  check_socket_path(o.control_socket);
  o.log_level = level_of(log_level);
  return o;
}

TopOptions parse_top_options(const std::vector<std::string>& args) {
  TopOptions o;
  std::string log_level = "warn";
  po::options_description desc("Options");
  desc.add_options()
      ("help,h", "show this help")
      ("sort", po::value<std::string>(&o.sort)->default_value(o.sort), top::sort_keys_help().c_str())
      ("refresh", po::value<double>(&o.refresh_seconds)->default_value(o.refresh_seconds), "seconds between refreshes")
      ("control-socket", po::value<std::string>(&o.control_socket)->default_value(o.control_socket),
       "the agent's control socket; without an agent there the probes are loaded in-process")
      ("log-level", po::value<std::string>(&log_level)->default_value(log_level), "debug, info, warn or error");
  const auto vm = parse_strictly(args, desc, 0);
  if (vm.count("help"))
    throw HelpRequested{help("Usage: redeye top [OPTIONS]\n\n"
                             "A live table per service: requests per second, errors, latency, in-flight requests, "
                             "CPU, run-queue and disk latency, TCP retransmits and resets. Keys: q quits, "
                             "the letters in the header (or left/right) choose the sort column.",
                             desc)};
  if (!top::column_of(o.sort)) throw UsageError("invalid --sort '" + o.sort + "': expected " + top::sort_keys_help());
  if (!std::isfinite(o.refresh_seconds) || o.refresh_seconds < 0.2 || o.refresh_seconds > 60)
    throw UsageError("invalid --refresh: expected seconds between 0.2 and 60");
  check_socket_path(o.control_socket);
  o.log_level = level_of(log_level);
  return o;
}

RunOptions standalone_run_options(LogLevel level, double proc_interval_seconds) {
  RunOptions o;
  o.log_level = level;
  o.proc_interval_seconds = proc_interval_seconds;
  return o;
}

}  // namespace redeye::cli
