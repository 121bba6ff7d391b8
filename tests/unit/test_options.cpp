#include "cli/options.h"

#include <civetweb.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

namespace redeye::cli {
namespace {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

// Runs parse_run_options, expecting a UsageError; returns its message.
std::string run_usage_error(const Args& args) {
  try {
    parse_run_options(args);
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected UsageError, got another exception: " << e.what();
    return {};
  } catch (const HelpRequested&) {
    ADD_FAILURE() << "expected UsageError, got HelpRequested";
    return {};
  }
  ADD_FAILURE() << "expected UsageError, parse succeeded";
  return {};
}

std::string check_usage_error(const Args& args) {
  try {
    parse_check_options(args);
  } catch (const UsageError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected UsageError, got another exception: " << e.what();
    return {};
  } catch (const HelpRequested&) {
    ADD_FAILURE() << "expected UsageError, got HelpRequested";
    return {};
  }
  ADD_FAILURE() << "expected UsageError, parse succeeded";
  return {};
}

std::string listen_error(const std::string& listen) {
  try {
    validate_listen_address(listen);
  } catch (const UsageError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected UsageError for listen '" << listen << "'";
  return {};
}

// A usage error is one line naming what was wrong.
void expect_one_line_naming(const std::string& message, const std::string& needle) {
  EXPECT_FALSE(message.empty());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find(needle), std::string::npos) << "'" << needle << "' not in: " << message;
}

// ---- defaults --------------------------------------------------------------

TEST(RunOptions, DefaultsWithNoArguments) {
  const RunOptions o = parse_run_options({});
  EXPECT_EQ(o.listen, "0.0.0.0:9435");
  EXPECT_EQ(o.interval_seconds, 1.0);
  EXPECT_EQ(o.proc_interval_seconds, 5.0);
  EXPECT_EQ(o.max_services, 500u);
  EXPECT_EQ(o.log_level, LogLevel::Info);
  EXPECT_TRUE(o.service_rules.empty());
}

TEST(CheckOptions, DefaultLogLevelIsWarn) {
  EXPECT_EQ(parse_check_options({}).log_level, LogLevel::Warn);
}

// ---- flags -----------------------------------------------------------------

TEST(RunOptions, EveryFlagIsApplied) {
  const RunOptions o = parse_run_options({"--listen", "127.0.0.1:9100", "--interval", "2.5", "--proc-interval",
                                          "10", "--max-services", "42", "--log-level", "debug", "--service",
                                          "web=exe:nginx", "--service", "orders=cmdline:-jar orders.jar"});
  EXPECT_EQ(o.listen, "127.0.0.1:9100");
  EXPECT_EQ(o.interval_seconds, 2.5);
  EXPECT_EQ(o.proc_interval_seconds, 10.0);
  EXPECT_EQ(o.max_services, 42u);
  EXPECT_EQ(o.log_level, LogLevel::Debug);
  ASSERT_EQ(o.service_rules.size(), 2u);
  EXPECT_EQ(o.service_rules[0].service, "web");
  EXPECT_EQ(o.service_rules[0].kind, proc::ServiceRule::Kind::Exe);
  EXPECT_EQ(o.service_rules[0].pattern, "nginx");
  EXPECT_EQ(o.service_rules[1].service, "orders");
  EXPECT_EQ(o.service_rules[1].kind, proc::ServiceRule::Kind::Cmdline);
  EXPECT_EQ(o.service_rules[1].pattern, "-jar orders.jar");
}

TEST(RunOptions, EqualsSyntaxIsAccepted) {
  const RunOptions o = parse_run_options({"--listen=127.0.0.1:1", "--log-level=error"});
  EXPECT_EQ(o.listen, "127.0.0.1:1");
  EXPECT_EQ(o.log_level, LogLevel::Error);
}

TEST(RunOptions, Ipv6ListenFollowsTheHttpServerBuild) {
  // Debian's civetweb is built without IPv6: refuse it up front with a
  // clear message rather than fail at bind time.
  if (mg_check_feature(8)) {
    EXPECT_EQ(parse_run_options({"--listen", "[::1]:9435"}).listen, "[::1]:9435");
  } else {
    EXPECT_THROW(validate_listen_address("[::]:9435"), UsageError);
  }
  EXPECT_NO_THROW(validate_listen_address("127.0.0.1:0"));
  EXPECT_NO_THROW(validate_listen_address("0.0.0.0:65535"));
}

TEST(CheckOptions, LogLevelFlag) {
  EXPECT_EQ(parse_check_options({"--log-level", "debug"}).log_level, LogLevel::Debug);
}

// ---- --help ----------------------------------------------------------------

TEST(RunOptions, HelpMentionsEveryOption) {
  for (const char* flag : {"--help", "-h"}) {
    try {
      parse_run_options({flag});
      ADD_FAILURE() << flag << " did not throw HelpRequested";
    } catch (const HelpRequested& help) {
      EXPECT_NE(help.text.find("Usage: redeye run"), std::string::npos) << help.text;
      for (const char* option : {"--help", "--listen", "--config", "--service", "--interval", "--proc-interval",
                                 "--max-services", "--log-level"})
        EXPECT_NE(help.text.find(option), std::string::npos) << option << " missing from:\n" << help.text;
    }
  }
}

TEST(CheckOptions, HelpMentionsEveryOption) {
  try {
    parse_check_options({"--help"});
    ADD_FAILURE() << "--help did not throw HelpRequested";
  } catch (const HelpRequested& help) {
    EXPECT_NE(help.text.find("Usage: redeye check"), std::string::npos) << help.text;
    EXPECT_NE(help.text.find("--help"), std::string::npos) << help.text;
    EXPECT_NE(help.text.find("--log-level"), std::string::npos) << help.text;
  }
}

// ---- usage errors ------------------------------------------------------------

TEST(RunOptions, UnknownFlagIsUsageError) {
  expect_one_line_naming(run_usage_error({"--bogus-flag"}), "bogus-flag");
}

// `redeye run stray` and `--interval 5 10` are accepted today, the extra word
// silently dropped (no positional options are declared, and Boost's store()
// ignores unnamed tokens). Disabled: documents a product bug, see the report.
TEST(RunOptions, PositionalArgumentIsUsageError) {
  expect_one_line_naming(run_usage_error({"stray"}), "stray");
  expect_one_line_naming(run_usage_error({"--interval", "5", "10"}), "10");
}

TEST(RunOptions, MissingValueIsUsageError) {
  expect_one_line_naming(run_usage_error({"--listen"}), "listen");
  expect_one_line_naming(run_usage_error({"--interval"}), "interval");
}

TEST(RunOptions, NonNumericIntervalIsUsageError) {
  expect_one_line_naming(run_usage_error({"--interval", "fast"}), "interval");
}

TEST(RunOptions, ListenWithoutPortIsUsageError) {
  expect_one_line_naming(run_usage_error({"--listen", "127.0.0.1"}), "127.0.0.1");
  expect_one_line_naming(run_usage_error({"--listen", "127.0.0.1:"}), "127.0.0.1:");
}

TEST(RunOptions, ListenPortOutOfRangeIsUsageError) {
  expect_one_line_naming(run_usage_error({"--listen", "0.0.0.0:70000"}), "0.0.0.0:70000");
  expect_one_line_naming(run_usage_error({"--listen", "0.0.0.0:65536"}), "0.0.0.0:65536");
}

TEST(RunOptions, ListenHostNameIsUsageError) {
  expect_one_line_naming(run_usage_error({"--listen", "foo:9435"}), "foo:9435");
}

TEST(ValidateListenAddress, RejectsMalformedAddresses) {
  for (const std::string bad : {":9435", "9435", "1.2.3.4:-1", "1.2.3.4:12ab", "1.2.3.4:123456", "::1:9435",
                                "[::1]", "[]:9435", "[1.2.3.4]:80", "[::1:80", "256.0.0.1:80", "localhost:80"}) {
    const std::string message = listen_error(bad);
    expect_one_line_naming(message, "invalid --listen '" + bad + "'");
  }
}

TEST(RunOptions, ZeroIntervalIsUsageError) {
  const std::string message = run_usage_error({"--interval", "0"});
  expect_one_line_naming(message, "--interval");
  EXPECT_EQ(message.find("proc-interval"), std::string::npos) << message;
}

TEST(RunOptions, IntervalBoundsAreInclusive) {
  EXPECT_EQ(parse_run_options({"--interval", "0.05"}).interval_seconds, 0.05);
  EXPECT_EQ(parse_run_options({"--interval", "3600"}).interval_seconds, 3600.0);
  expect_one_line_naming(run_usage_error({"--interval", "3601"}), "--interval");
  expect_one_line_naming(run_usage_error({"--interval", "0.04"}), "--interval");
  expect_one_line_naming(run_usage_error({"--interval", "nan"}), "--interval");
}

TEST(RunOptions, ZeroProcIntervalIsUsageError) {
  expect_one_line_naming(run_usage_error({"--proc-interval", "0"}), "--proc-interval");
}

TEST(RunOptions, MaxServicesOutOfRangeIsUsageError) {
  expect_one_line_naming(run_usage_error({"--max-services", "0"}), "--max-services");
  expect_one_line_naming(run_usage_error({"--max-services", "100001"}), "--max-services");
  EXPECT_EQ(parse_run_options({"--max-services", "100000"}).max_services, 100000u);
  EXPECT_EQ(parse_run_options({"--max-services", "1"}).max_services, 1u);
}

TEST(RunOptions, BadLogLevelIsUsageError) {
  expect_one_line_naming(run_usage_error({"--log-level", "verbose"}), "verbose");
  expect_one_line_naming(run_usage_error({"--log-level", "verbose"}), "--log-level");
}

TEST(CheckOptions, BadLogLevelAndUnknownFlagAreUsageErrors) {
  expect_one_line_naming(check_usage_error({"--log-level", "loud"}), "loud");
  expect_one_line_naming(check_usage_error({"--listen", "0.0.0.0:1"}), "listen");
}

TEST(RunOptions, BadServiceRuleIsUsageError) {
  expect_one_line_naming(run_usage_error({"--service", "web"}), "'web'");
  expect_one_line_naming(run_usage_error({"--service", "web=regex:ngin.*"}), "web=regex:ngin.*");
  expect_one_line_naming(run_usage_error({"--service", "web=port:99999"}), "web=port:99999");
}

// ---- config file -------------------------------------------------------------

class RunOptionsConfigFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "redeye_options_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, ec);
    fs::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& content) {
    const fs::path path = dir_ / name;
    std::ofstream out(path);
    out << content;
    EXPECT_TRUE(out.good()) << path;
    return path.string();
  }

  fs::path dir_;
};

TEST_F(RunOptionsConfigFile, ListenAndServicesAreApplied) {
  const std::string file = write("redeye.conf",
                                 "# comment\n"
                                 "listen = 127.0.0.1:9999\n"
                                 "service = web=exe:nginx\n"
                                 "service = db=cgroup:postgresql.service\n"
                                 "interval = 2\n");
  const RunOptions o = parse_run_options({"--config", file});
  EXPECT_EQ(o.listen, "127.0.0.1:9999");
  EXPECT_EQ(o.interval_seconds, 2.0);
  EXPECT_EQ(o.proc_interval_seconds, 5.0);
  ASSERT_EQ(o.service_rules.size(), 2u);
  EXPECT_EQ(o.service_rules[0].service, "web");
  EXPECT_EQ(o.service_rules[0].kind, proc::ServiceRule::Kind::Exe);
  EXPECT_EQ(o.service_rules[0].pattern, "nginx");
  EXPECT_EQ(o.service_rules[1].service, "db");
  EXPECT_EQ(o.service_rules[1].kind, proc::ServiceRule::Kind::Cgroup);
  EXPECT_EQ(o.service_rules[1].pattern, "postgresql.service");
}

TEST_F(RunOptionsConfigFile, FlagsOverrideFileListen) {
  const std::string file = write("redeye.conf", "listen = 127.0.0.1:9999\n");
  EXPECT_EQ(parse_run_options({"--listen", "0.0.0.0:1234", "--config", file}).listen, "0.0.0.0:1234");
  EXPECT_EQ(parse_run_options({"--config", file, "--listen", "0.0.0.0:1234"}).listen, "0.0.0.0:1234");
}

TEST_F(RunOptionsConfigFile, ServicesFromFlagsAndFileAreCombined) {
  const std::string file = write("redeye.conf",
                                 "service = web=exe:nginx\n"
                                 "service = db=port:5432\n");
  const RunOptions o = parse_run_options({"--service", "api=cmdline:api-server", "--config", file});
  ASSERT_EQ(o.service_rules.size(), 3u);
  // Command-line rules come first: the first match wins, and flags win.
  EXPECT_EQ(o.service_rules[0].service, "api");
  EXPECT_EQ(o.service_rules[1].service, "web");
  EXPECT_EQ(o.service_rules[2].service, "db");
  EXPECT_EQ(o.service_rules[2].kind, proc::ServiceRule::Kind::Port);
  EXPECT_EQ(o.service_rules[2].port, 5432);
}

TEST_F(RunOptionsConfigFile, UnknownKeyNamesTheFile) {
  const std::string file = write("typo.conf", "listen = 127.0.0.1:9999\nlisten_address = 1.2.3.4:5\n");
  const std::string message = run_usage_error({"--config", file});
  expect_one_line_naming(message, file);
  EXPECT_NE(message.find("listen_address"), std::string::npos) << message;
}

TEST_F(RunOptionsConfigFile, BadValueInFileIsUsageError) {
  const std::string file = write("bad.conf", "listen = foo\n");
  expect_one_line_naming(run_usage_error({"--config", file}), "foo");
}

TEST_F(RunOptionsConfigFile, BadServiceRuleInFileIsUsageError) {
  const std::string file = write("bad.conf", "service = web=bogus:x\n");
  expect_one_line_naming(run_usage_error({"--config", file}), "web=bogus:x");
}

TEST_F(RunOptionsConfigFile, MissingFileIsUsageError) {
  const std::string missing = (dir_ / "missing.conf").string();
  expect_one_line_naming(run_usage_error({"--config", missing}), missing);
}

TEST_F(RunOptionsConfigFile, PathThroughAFileIsUsageError) {
  // Fails to open even for root (ENOTDIR), which a chmod 000 file would not.
  const std::string file = write("plain.conf", "listen = 127.0.0.1:9999\n");
  const std::string below = file + "/redeye.conf";
  const std::string message = run_usage_error({"--config", below});
  expect_one_line_naming(message, below);
  EXPECT_NE(message.find("cannot read config file"), std::string::npos) << message;
}

TEST_F(RunOptionsConfigFile, LineWithoutEqualsIsUsageError) {
  const std::string file = write("noeq.conf", "listen 127.0.0.1:9999\n");
  expect_one_line_naming(run_usage_error({"--config", file}), file);
}

TEST_F(RunOptionsConfigFile, FlagsOverrideFileScalarsButNotOthers) {
  const std::string file = write("redeye.conf",
                                 "interval = 2\n"
                                 "proc-interval = 7\n"
                                 "max-services = 9\n"
                                 "log-level = error\n");
  const RunOptions o = parse_run_options({"--config", file, "--interval", "3", "--log-level", "debug"});
  EXPECT_EQ(o.interval_seconds, 3.0);
  EXPECT_EQ(o.proc_interval_seconds, 7.0);
  EXPECT_EQ(o.max_services, 9u);
  EXPECT_EQ(o.log_level, LogLevel::Debug);
}

// `--config /etc/redeye` (a directory) opens as an ifstream, reads as empty
// and is silently accepted with nothing applied. Disabled: documents a
// product bug, see the report.
TEST_F(RunOptionsConfigFile, DirectoryAsConfigIsUsageError) {
  const std::string message = run_usage_error({"--config", dir_.string()});
  expect_one_line_naming(message, dir_.string());
}

}  // namespace
}  // namespace redeye::cli
