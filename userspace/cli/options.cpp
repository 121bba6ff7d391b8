#include "cli/options.h"

#include "exporters/prometheus/basic_auth.h"
#include "exporters/prometheus/tls_credentials.h"
#include "metrics/http/route_patterns.h"
#include "redeye/abi.h"

#include <arpa/inet.h>
#include <civetweb.h>

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
  const std::string expected = "invalid --listen '" + listen + "': expected ADDR:PORT, e.g. 0.0.0.0:9435 or 127.0.0.1:9435";
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
    if (!mg_check_feature(8 /* IPv6 */))
      throw UsageError("invalid --listen '" + listen + "': this build's HTTP server has no IPv6; use 0.0.0.0:PORT");
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    throw UsageError(expected);
  }
}

RunOptions parse_run_options(const std::vector<std::string>& args) {
  RunOptions o;
  std::string config, log_level = "info", http_source;
  long long max_services = 0;
  std::vector<std::string> rules;
  po::options_description desc("Options");
  desc.add_options()
      ("help,h", "show this help")
      ("listen", po::value<std::string>(&o.listen)->default_value(o.listen),
       "ADDR:PORT of the metrics listener (/metrics, /healthz, /readyz); bound to that address only, "
       "e.g. 127.0.0.1:9435 for local scrapes")
      ("basic-auth-file", po::value<std::string>(&o.basic_auth_file),
       "FILE of USER:HASH lines (crypt hashes, e.g. from 'openssl passwd -6'): /metrics then needs HTTP Basic "
       "credentials; /healthz and /readyz stay open")
      ("tls-cert-file", po::value<std::string>(&o.tls_cert_file),
       "FILE: PEM certificate (then any intermediates) of the listener; with --tls-key-file the listener speaks "
       "HTTPS only")
      ("tls-key-file", po::value<std::string>(&o.tls_key_file),
       "FILE: the certificate's PEM private key, unencrypted")
      ("max-scrapes", po::value<int>(&o.max_scrapes)->default_value(o.max_scrapes),
       "connections the listener serves at once (slow ones included); a scrape over the cap gets 503 at once")
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
      ("log-level", po::value<std::string>(&log_level)->default_value(log_level), "debug, info, warn or error")
      ("capture-bytes", po::value<uint32_t>(&o.capture_bytes)->default_value(o.capture_bytes),
       "bytes of each socket message given to the protocol parsers (64-4095): headers, not bodies")
      ("capture", po::value<std::string>(&o.capture)->default_value(o.capture),
       "which hooks feed the parsers: sockets (sock:sock_send_length/sock_recv_length, Linux 6.3+), syscalls "
       "(raw sys_enter/sys_exit: every syscall of the node pays for them), or auto (sockets where the kernel "
       "has them)")
      ("http-source", po::value<std::string>(&http_source),
       "count HTTP requests per source: header:NAME (e.g. header:X-User-Id) or client-address")
      ("http-route", po::value<std::vector<std::string>>(&o.http.route_rules)->composing(),
       "SERVICE=PATTERN, repeatable: a route pattern such as /orders/{id}/items/{item}; unmatched paths have "
       "ids replaced by {id}")
      ("http-max-routes", po::value<size_t>(&o.http.max_routes_per_service)->default_value(o.http.max_routes_per_service),
       "distinct http_route values per service; more are reported as _other")
      ("s3-endpoint", po::value<std::vector<std::string>>(&o.http.s3_hosts)->composing(),
       "HOST[:PORT], repeatable: requests to it are S3 operations even without AWS signatures")
      ("control-socket", po::value<std::string>(&o.control_socket)->default_value(o.control_socket),
       "unix socket (mode 0600) where 'redeye trace' and 'redeye top' attach; empty: none")
      ("cgroup-root", po::value<std::string>(&o.cgroup_root)->default_value(o.cgroup_root),
       "DIR where the cgroup hierarchy is mounted (the host's, when the agent runs in a container)")
      ("pod-log-root", po::value<std::string>(&o.pod_log_root)->default_value(o.pod_log_root),
       "DIR of the kubelet's pod logs, read for pod namespace, pod and container names; "
       "container links are read from its sibling 'containers'");

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
  if (o.max_scrapes < 1 || o.max_scrapes > 64)
    throw UsageError("invalid --max-scrapes " + std::to_string(o.max_scrapes) + ": expected 1 to 64");
  if (vm.count("basic-auth-file")) {
    try {
      exporters::BasicAuth::load(o.basic_auth_file);
    } catch (const exporters::BasicAuthError& e) {
      throw UsageError(e.what());
    }
  }
  if (vm.count("tls-cert-file") != vm.count("tls-key-file") ||
      (vm.count("tls-cert-file") && (o.tls_cert_file.empty() || o.tls_key_file.empty())))
    throw UsageError("--tls-cert-file and --tls-key-file go together: give both for HTTPS, neither for HTTP");
  if (vm.count("tls-cert-file")) {
    try {
      exporters::check_tls_credentials({o.tls_cert_file, o.tls_key_file});
    } catch (const exporters::TlsError& e) {
      throw UsageError(e.what());
    }
  }
  check_interval("interval", o.interval_seconds);
  check_interval("proc-interval", o.proc_interval_seconds);
  if (max_services < 1 || max_services > 100000)
    throw UsageError("invalid --max-services " + std::to_string(max_services) + ": expected 1 to 100000");
  o.max_services = static_cast<size_t>(max_services);
  o.log_level = to_level(log_level);
  if (o.capture_bytes < 64 || o.capture_bytes >= REDEYE_CAPTURE_MAX)
    throw UsageError("invalid --capture-bytes " + std::to_string(o.capture_bytes) + ": expected 64 to 4095");
  validate_capture(o.capture);
  if (!http_source.empty()) {
    if (http_source == "client-address") {
      o.http.source_client_address = true;
    } else if (http_source.rfind("header:", 0) == 0 && http_source.size() > 7 &&
               http_source.find_first_of(" :\t", 7) == std::string::npos) {
      o.http.source_header = http_source.substr(7);
      for (auto& c : o.http.source_header) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      throw UsageError("invalid --http-source '" + http_source + "': expected header:NAME or client-address");
    }
  }
  for (const auto& [name, dir] : {std::pair<const char*, std::string&>{"cgroup-root", o.cgroup_root},
                                  std::pair<const char*, std::string&>{"pod-log-root", o.pod_log_root}}) {
    if (dir.empty() || dir.front() != '/')
      throw UsageError(std::string("invalid --") + name + " '" + dir + "': expected an absolute path");
    // The defaults may be missing (no Kubernetes here); a path given on
    // purpose must exist, or every pod would silently go unnamed.
    std::error_code ec;
    if (!vm[name].defaulted() && !std::filesystem::is_directory(dir, ec))
      throw UsageError(std::string("invalid --") + name + " '" + dir + "': not a directory");
  }
  if (!o.control_socket.empty() && (o.control_socket.front() != '/' || o.control_socket.size() > 107))
    throw UsageError("invalid --control-socket '" + o.control_socket +
                     "': expected an absolute path of at most 107 bytes, or empty");
  if (o.http.max_routes_per_service < 1 || o.http.max_routes_per_service > 10000)
    throw UsageError("invalid --http-max-routes " + std::to_string(o.http.max_routes_per_service) +
                     ": expected 1 to 10000");
  for (const auto& r : o.http.route_rules) {
    try {
      metrics::http::parse_route_rule(r);
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
  }
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
      "log-level", po::value<std::string>(&log_level)->default_value(log_level), "debug shows libbpf's log")(
      "capture", po::value<std::string>(&o.capture)->default_value(o.capture),
      "check this data capture: auto, sockets or syscalls (see redeye run --help)");
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
  validate_capture(o.capture);
  return o;
}

void validate_capture(const std::string& capture) {
  if (capture != "auto" && capture != "sockets" && capture != "syscalls")
    throw UsageError("invalid --capture '" + capture + "': expected auto, sockets or syscalls");
}

}  // namespace redeye::cli
