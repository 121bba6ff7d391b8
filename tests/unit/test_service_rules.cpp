#include "proc/service_rules.h"

#include <gtest/gtest.h>

#include <string>

namespace redeye::proc {
namespace {

constexpr std::string_view kSyntaxHint =
    "expected NAME=KIND:PATTERN with KIND one of exe, cmdline, cgroup, port";

std::string error_message_for(std::string_view text) {
    try {
        parse_service_rule(text);
    } catch (const RuleError& error) {
        return error.what();
    }
    return "<no error>";
}

TEST(ParseServiceRule, ParsesExeRule) {
    const ServiceRule rule = parse_service_rule("web=exe:nginx*");

    EXPECT_EQ(rule.service, "web");
    EXPECT_EQ(rule.kind, ServiceRule::Kind::Exe);
    EXPECT_EQ(rule.pattern, "nginx*");
    EXPECT_EQ(rule.port, 0);
}

TEST(ParseServiceRule, ParsesCmdlineRuleKeepingColonsAndEqualsInPattern) {
    const ServiceRule rule = parse_service_rule("billing.api:v2=cmdline:--profile=prod:eu");

    EXPECT_EQ(rule.service, "billing.api:v2");
    EXPECT_EQ(rule.kind, ServiceRule::Kind::Cmdline);
    EXPECT_EQ(rule.pattern, "--profile=prod:eu");
    EXPECT_EQ(rule.port, 0);
}

TEST(ParseServiceRule, ParsesCgroupRule) {
    const ServiceRule rule = parse_service_rule("_batch-jobs=cgroup:/batch.slice/");

    EXPECT_EQ(rule.service, "_batch-jobs");
    EXPECT_EQ(rule.kind, ServiceRule::Kind::Cgroup);
    EXPECT_EQ(rule.pattern, "/batch.slice/");
}

TEST(ParseServiceRule, ParsesPortRule) {
    const ServiceRule low = parse_service_rule("api=port:1");
    const ServiceRule high = parse_service_rule("api=port:65535");

    EXPECT_EQ(low.kind, ServiceRule::Kind::Port);
    EXPECT_EQ(low.port, 1);
    EXPECT_EQ(low.pattern, "1");
    EXPECT_EQ(high.port, 65535);
}

TEST(ParseServiceRule, AcceptsNameOfMaximumLength) {
    const std::string name = "a" + std::string(63, 'b');
    EXPECT_EQ(parse_service_rule(name + "=exe:x").service, name);
}

TEST(ParseServiceRule, MissingStructureGivesSyntaxMessage) {
    EXPECT_EQ(error_message_for("x"), "invalid --service rule 'x': " + std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for("web=exe"),
              "invalid --service rule 'web=exe': " + std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for(""), "invalid --service rule '': " + std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for("web:exe=nginx"),
              "invalid --service rule 'web:exe=nginx': " + std::string(kSyntaxHint));
}

TEST(ParseServiceRule, InvalidNameIsReported) {
    EXPECT_EQ(error_message_for("=exe:nginx"),
              "invalid --service rule '=exe:nginx': service name '' must match "
              "[A-Za-z_][A-Za-z0-9_.:-]{0,63}; " + std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for("9web=exe:nginx"),
              "invalid --service rule '9web=exe:nginx': service name '9web' must match "
              "[A-Za-z_][A-Za-z0-9_.:-]{0,63}; " + std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for("my web=exe:nginx"),
              "invalid --service rule 'my web=exe:nginx': service name 'my web' must match "
              "[A-Za-z_][A-Za-z0-9_.:-]{0,63}; " + std::string(kSyntaxHint));
    EXPECT_THROW(parse_service_rule(std::string(65, 'a') + "=exe:x"), RuleError);
    EXPECT_THROW(parse_service_rule("web@1=exe:x"), RuleError);
}

TEST(ParseServiceRule, UnknownKindIsReported) {
    EXPECT_EQ(error_message_for("web=binary:nginx"),
              "invalid --service rule 'web=binary:nginx': unknown kind 'binary'; " +
                  std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for("web=EXE:nginx"),
              "invalid --service rule 'web=EXE:nginx': unknown kind 'EXE'; " +
                  std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for("web=:nginx"),
              "invalid --service rule 'web=:nginx': unknown kind ''; " + std::string(kSyntaxHint));
}

TEST(ParseServiceRule, EmptyPatternIsReported) {
    EXPECT_EQ(error_message_for("web=cmdline:"),
              "invalid --service rule 'web=cmdline:': empty pattern; " + std::string(kSyntaxHint));
}

TEST(ParseServiceRule, InvalidPortIsReported) {
    const std::string range_problem = "' must be a decimal number from 1 to 65535; ";
    EXPECT_EQ(error_message_for("api=port:0"),
              "invalid --service rule 'api=port:0': port '0" + range_problem +
                  std::string(kSyntaxHint));
    EXPECT_EQ(error_message_for("api=port:65536"),
              "invalid --service rule 'api=port:65536': port '65536" + range_problem +
                  std::string(kSyntaxHint));
    EXPECT_THROW(parse_service_rule("api=port:http"), RuleError);
    EXPECT_THROW(parse_service_rule("api=port:80x"), RuleError);
    EXPECT_THROW(parse_service_rule("api=port:-80"), RuleError);
    EXPECT_THROW(parse_service_rule("api=port:+80"), RuleError);
    EXPECT_THROW(parse_service_rule("api=port: 80"), RuleError);
    EXPECT_THROW(parse_service_rule("api=port:99999999999999999999"), RuleError);
}

TEST(ParseServiceRule, RuleErrorIsARuntimeError) {
    EXPECT_THROW(parse_service_rule("x"), std::runtime_error);
}

TEST(KindName, NamesEveryKind) {
    EXPECT_EQ(kind_name(ServiceRule::Kind::Exe), "exe");
    EXPECT_EQ(kind_name(ServiceRule::Kind::Cmdline), "cmdline");
    EXPECT_EQ(kind_name(ServiceRule::Kind::Cgroup), "cgroup");
    EXPECT_EQ(kind_name(ServiceRule::Kind::Port), "port");
}

TEST(GlobMatch, LiteralPatternMatchesOnlyTheWholeText) {
    EXPECT_TRUE(glob_match("nginx", "nginx"));
    EXPECT_FALSE(glob_match("nginx", "nginx2"));
    EXPECT_FALSE(glob_match("nginx", "ngin"));
    EXPECT_FALSE(glob_match("nginx", ""));
    EXPECT_TRUE(glob_match("", ""));
}

TEST(GlobMatch, StarMatchesAnyRun) {
    EXPECT_TRUE(glob_match("*", ""));
    EXPECT_TRUE(glob_match("*", "anything"));
    EXPECT_TRUE(glob_match("java*", "java"));
    EXPECT_TRUE(glob_match("java*", "java17"));
    EXPECT_TRUE(glob_match("*worker", "celery-worker"));
    EXPECT_TRUE(glob_match("a*b*c", "axxbyyc"));
    EXPECT_TRUE(glob_match("a*b", "abab"));
    EXPECT_TRUE(glob_match("**x", "yyx"));
    EXPECT_FALSE(glob_match("a*b*c", "axxbyy"));
    EXPECT_FALSE(glob_match("*worker", "worker2"));
}

TEST(GlobMatch, QuestionMarkMatchesExactlyOneCharacter) {
    EXPECT_TRUE(glob_match("php-fpm?", "php-fpm8"));
    EXPECT_FALSE(glob_match("php-fpm?", "php-fpm"));
    EXPECT_FALSE(glob_match("php-fpm?", "php-fpm81"));
    EXPECT_TRUE(glob_match("?*", "x"));
    EXPECT_FALSE(glob_match("?*", ""));
}

}  // namespace
}  // namespace redeye::proc
