#include "proc/service_rules.h"

#include <array>
#include <charconv>
#include <optional>

namespace redeye::proc {

namespace {

constexpr size_t kMaxServiceNameLength = 64;

[[noreturn]] void throw_rule_error(std::string_view text, std::string_view problem) {
    std::string message = "invalid --service rule '";
    message += text;
    message += "': ";
    if (!problem.empty()) {
        message += problem;
        message += "; ";
    }
    message += "expected NAME=KIND:PATTERN with KIND one of exe, cmdline, cgroup, port";
    throw RuleError(message);
}

bool is_ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

// [A-Za-z_][A-Za-z0-9_.:-]{0,63}
bool is_valid_service_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxServiceNameLength) {
        return false;
    }
    if (!is_ascii_letter(name[0]) && name[0] != '_') {
        return false;
    }
    for (const char c : name.substr(1)) {
        const bool allowed = is_ascii_letter(c) || is_ascii_digit(c) || c == '_' || c == '.' ||
                             c == ':' || c == '-';
        if (!allowed) {
            return false;
        }
    }
    return true;
}

std::optional<ServiceRule::Kind> parse_kind(std::string_view word) {
    constexpr std::array kKinds = {ServiceRule::Kind::Exe, ServiceRule::Kind::Cmdline,
                                   ServiceRule::Kind::Cgroup, ServiceRule::Kind::Port};
    for (const auto kind : kKinds) {
        if (kind_name(kind) == word) {
            return kind;
        }
    }
    return std::nullopt;
}

std::optional<uint16_t> parse_port(std::string_view digits) {
    unsigned value = 0;
    const char* last = digits.data() + digits.size();
    const auto [end, ec] = std::from_chars(digits.data(), last, value);
    if (digits.empty() || ec != std::errc{} || end != last || value < 1 || value > 65535) {
        return std::nullopt;
    }
    return static_cast<uint16_t>(value);
}

}  // namespace

std::string_view kind_name(ServiceRule::Kind kind) {
    switch (kind) {
        case ServiceRule::Kind::Exe:
            return "exe";
        case ServiceRule::Kind::Cmdline:
            return "cmdline";
        case ServiceRule::Kind::Cgroup:
            return "cgroup";
        case ServiceRule::Kind::Port:
            return "port";
    }
    return "unknown";
}

ServiceRule parse_service_rule(std::string_view text) {
    // NAME cannot contain '=', and KIND cannot contain ':', so splitting at the
    // first of each leaves PATTERN free to contain both.
    const size_t equals = text.find('=');
    const size_t colon =
        equals == std::string_view::npos ? std::string_view::npos : text.find(':', equals + 1);
    if (colon == std::string_view::npos) {
        throw_rule_error(text, "");
    }
    const std::string_view name = text.substr(0, equals);
    const std::string_view kind_word = text.substr(equals + 1, colon - equals - 1);
    const std::string_view pattern = text.substr(colon + 1);

    if (!is_valid_service_name(name)) {
        throw_rule_error(text, "service name '" + std::string(name) +
                                   "' must match [A-Za-z_][A-Za-z0-9_.:-]{0,63}");
    }
    const auto kind = parse_kind(kind_word);
    if (!kind) {
        throw_rule_error(text, "unknown kind '" + std::string(kind_word) + "'");
    }
    if (pattern.empty()) {
        throw_rule_error(text, "empty pattern");
    }

    ServiceRule rule;
    rule.service = std::string(name);
    rule.kind = *kind;
    rule.pattern = std::string(pattern);
    if (*kind == ServiceRule::Kind::Port) {
        const auto port = parse_port(pattern);
        if (!port) {
            throw_rule_error(text, "port '" + std::string(pattern) +
                                       "' must be a decimal number from 1 to 65535");
        }
        rule.port = *port;
    }
    return rule;
}

bool glob_match(std::string_view pattern, std::string_view text) {
    // Greedy scan remembering only the most recent '*': on a mismatch, let that
    // star absorb one more character. Linear in practice, no recursion.
    size_t p = 0;
    size_t t = 0;
    std::optional<size_t> star_pattern_pos;
    size_t star_text_pos = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star_pattern_pos = p++;
            star_text_pos = t;
        } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
            ++p;
            ++t;
        } else if (star_pattern_pos) {
            p = *star_pattern_pos + 1;
            t = ++star_text_pos;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') {
        ++p;
    }
    return p == pattern.size();
}

}  // namespace redeye::proc
