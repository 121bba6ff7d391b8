// Command-line and config-file options of each subcommand.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "metrics/http/http_options.h"
#include "proc/service_rules.h"
#include "util/log.h"

namespace redeye::cli {

// A bad flag, value or config file: one line for the user, exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// `--help` was asked for: print this text and exit 0.
struct HelpRequested {
  std::string text;
};

struct RunOptions {
  std::string listen = "0.0.0.0:9435";
  std::string basic_auth_file;  // USER:CRYPT-HASH lines guarding /metrics; empty = open
  int max_scrapes = 4;          // listener connections served at once; more get 503
  std::string tls_cert_file, tls_key_file;  // both: the listener speaks HTTPS only
  std::vector<proc::ServiceRule> service_rules;
  double interval_seconds = 1.0;       // kernel maps -> metrics
  double proc_interval_seconds = 5.0;  // /proc scan, PSI
  size_t max_services = 500;
  LogLevel log_level = LogLevel::Info;
  uint32_t capture_bytes = 2048;  // prefix of each socket message sent to the parsers
  std::string capture = "auto";   // auto | sockets | syscalls: which hooks feed the parsers
  metrics::http::HttpOptions http;
  // Unix socket for `redeye trace` and `redeye top`; "" = none.
  std::string control_socket = "/run/redeye/redeye.sock";  // cli/trace_options.h kDefaultControlSocket
  // Pod identity (proc/pod_identity.h): where the cgroup hierarchy is
  // mounted and where the kubelet writes pod logs.
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string pod_log_root = "/var/log/pods";
};

struct CheckOptions {
  LogLevel log_level = LogLevel::Warn;
  std::string capture = "auto";
};

// "auto" | "sockets" | "syscalls", validated; throws UsageError.
void validate_capture(const std::string& capture);

// Throw UsageError or HelpRequested.
RunOptions parse_run_options(const std::vector<std::string>& args);
CheckOptions parse_check_options(const std::vector<std::string>& args);

// "0.0.0.0:9435", "[::]:9435", "127.0.0.1:0": validated, throws UsageError.
void validate_listen_address(const std::string& listen);

}  // namespace redeye::cli
