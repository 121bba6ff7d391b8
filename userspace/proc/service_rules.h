#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace redeye::proc {

// A user-configured mapping "processes matching X belong to service NAME",
// given on the command line as NAME=KIND:PATTERN.
struct ServiceRule {
    enum class Kind {
        Exe,      // glob (* and ?) matched against the executable basename or comm
        Cmdline,  // substring of the command line
        Cgroup,   // substring of any line of the cgroup file
        Port,     // the process listens on this TCP port
    };

    std::string service;
    Kind kind = Kind::Exe;
    std::string pattern;
    uint16_t port = 0;  // set only for Kind::Port
};

class RuleError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws RuleError with a message naming the rule text, the problem and the
// expected syntax.
ServiceRule parse_service_rule(std::string_view text);

// "exe", "cmdline", "cgroup" or "port".
std::string_view kind_name(ServiceRule::Kind kind);

// Whole-string match where '*' matches any run of characters and '?' exactly
// one character; every other character matches itself.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace redeye::proc
