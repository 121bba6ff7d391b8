#include "proc/service_resolver.h"

#include <algorithm>
#include <array>
#include <utility>

namespace redeye::proc {

namespace {

constexpr size_t kMaxServiceNameBytes = 64;
constexpr size_t kShortContainerIdLength = 12;
constexpr size_t kFullContainerIdLength = 64;

std::vector<std::string_view> split_on(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find(separator, pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        parts.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return parts;
}

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

bool is_lower_hex(std::string_view text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// One line of /proc/<pid>/cgroup: "hierarchy-ID:controller-list:cgroup-path".
struct CgroupLine {
    std::string_view hierarchy_id;
    std::string_view controllers;
    std::vector<std::string_view> path_components;  // empty components dropped

    // cgroup v2 ("0::") or the v1 hierarchy systemd manages.
    bool is_systemd_view() const {
        if (hierarchy_id == "0" && controllers.empty()) {
            return true;
        }
        const auto names = split_on(controllers, ',');
        return std::find(names.begin(), names.end(), "name=systemd") != names.end();
    }
};

// The path may itself contain ':', so only the first two colons separate fields.
std::optional<CgroupLine> parse_cgroup_line(std::string_view line) {
    const size_t first_colon = line.find(':');
    if (first_colon == std::string_view::npos) {
        return std::nullopt;
    }
    const size_t second_colon = line.find(':', first_colon + 1);
    if (second_colon == std::string_view::npos) {
        return std::nullopt;
    }
    CgroupLine parsed;
    parsed.hierarchy_id = line.substr(0, first_colon);
    parsed.controllers = line.substr(first_colon + 1, second_colon - first_colon - 1);
    for (const std::string_view component : split_on(line.substr(second_colon + 1), '/')) {
        if (!component.empty()) {
            parsed.path_components.push_back(component);
        }
    }
    return parsed;
}

// "<prefix><hex>.scope" -> hex, for container runtimes that use systemd scopes.
std::optional<std::string_view> container_id_from_scope(std::string_view component) {
    struct ScopeFormat {
        std::string_view prefix;
        size_t min_id_length;
    };
    constexpr std::array kScopeFormats = {
        ScopeFormat{"docker-", kFullContainerIdLength},
        ScopeFormat{"cri-containerd-", kShortContainerIdLength},
        ScopeFormat{"crio-", kShortContainerIdLength},
        ScopeFormat{"libpod-", kShortContainerIdLength},
    };
    constexpr std::string_view kScopeSuffix = ".scope";
    if (!ends_with(component, kScopeSuffix)) {
        return std::nullopt;
    }
    for (const auto& format : kScopeFormats) {
        if (!starts_with(component, format.prefix)) {
            continue;
        }
        const std::string_view id = component.substr(
            format.prefix.size(), component.size() - format.prefix.size() - kScopeSuffix.size());
        const bool length_ok = format.min_id_length == kFullContainerIdLength
                                   ? id.size() == kFullContainerIdLength
                                   : id.size() >= format.min_id_length;
        if (length_ok && is_lower_hex(id)) {
            return id;
        }
    }
    return std::nullopt;
}

// user@UID.service is the per-user systemd manager, not a service the user
// would recognise; the units below it are the interesting ones.
bool is_user_manager_unit(std::string_view component) {
    constexpr std::string_view kPrefix = "user@";
    constexpr std::string_view kSuffix = ".service";
    if (!starts_with(component, kPrefix) || !ends_with(component, kSuffix) ||
        component.size() <= kPrefix.size() + kSuffix.size()) {
        return false;
    }
    const std::string_view uid =
        component.substr(kPrefix.size(), component.size() - kPrefix.size() - kSuffix.size());
    return std::all_of(uid.begin(), uid.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool rule_matches(const ServiceRule& rule, const ProcessIdentity& identity) {
    switch (rule.kind) {
        case ServiceRule::Kind::Exe:
            return (!identity.exe_name.empty() && glob_match(rule.pattern, identity.exe_name)) ||
                   (!identity.comm.empty() && glob_match(rule.pattern, identity.comm));
        case ServiceRule::Kind::Cmdline:
            return identity.cmdline.find(rule.pattern) != std::string::npos;
        case ServiceRule::Kind::Cgroup: {
            const auto lines = split_on(identity.cgroup, '\n');
            return std::any_of(lines.begin(), lines.end(), [&](std::string_view line) {
                return line.find(rule.pattern) != std::string_view::npos;
            });
        }
        case ServiceRule::Kind::Port: {
            const auto& ports = identity.listening_ports;
            return std::find(ports.begin(), ports.end(), rule.port) != ports.end();
        }
    }
    return false;
}

std::optional<std::string_view> well_known_server(const ProcessIdentity& identity) {
    struct KnownServer {
        std::string_view process_name;
        std::string_view service;
        std::string_view required_in_cmdline;  // empty: no requirement
    };
    // beam.smp is the Erlang VM in general; only the cmdline says it is RabbitMQ.
    constexpr std::array kKnownServers = {
        KnownServer{"postgres", "postgresql", ""}, KnownServer{"postmaster", "postgresql", ""},
        KnownServer{"mysqld", "mysql", ""},        KnownServer{"mariadbd", "mysql", ""},
        KnownServer{"beam.smp", "rabbitmq", "rabbit"},
        KnownServer{"nginx", "nginx", ""},         KnownServer{"redis-server", "redis", ""},
    };
    for (const auto& server : kKnownServers) {
        const bool name_matches =
            identity.exe_name == server.process_name || identity.comm == server.process_name;
        const bool cmdline_matches =
            identity.cmdline.find(server.required_in_cmdline) != std::string::npos;
        if (name_matches && cmdline_matches) {
            return server.service;
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> container_id_from_cgroup(std::string_view cgroup_content) {
    // Nested cgroups list the outer scope first; the innermost match is the
    // container the process actually runs in.
    std::optional<std::string_view> innermost;
    for (const std::string_view line : split_on(cgroup_content, '\n')) {
        const auto parsed = parse_cgroup_line(line);
        if (!parsed) {
            continue;
        }
        const auto& components = parsed->path_components;
        for (size_t i = 0; i < components.size(); ++i) {
            if (const auto id = container_id_from_scope(components[i])) {
                innermost = id;
            } else if (components[i] == "docker" && i + 1 < components.size() &&
                       components[i + 1].size() == kFullContainerIdLength &&
                       is_lower_hex(components[i + 1])) {
                innermost = components[i + 1];
            }
        }
        if (innermost) {
            break;  // every hierarchy describes the same process; first is enough
        }
    }
    if (!innermost) {
        return std::nullopt;
    }
    return std::string(*innermost);
}

std::optional<std::string> systemd_unit_from_cgroup(std::string_view cgroup_content) {
    constexpr std::string_view kServiceSuffix = ".service";
    for (const std::string_view line : split_on(cgroup_content, '\n')) {
        const auto parsed = parse_cgroup_line(line);
        if (!parsed || !parsed->is_systemd_view()) {
            continue;
        }
        std::optional<std::string_view> unit;
        for (const std::string_view component : parsed->path_components) {
            // init.scope holds a systemd manager itself; nothing below it is
            // a service of its own.
            if (component == "init.scope") {
                break;
            }
            if (ends_with(component, kServiceSuffix) && component.size() > kServiceSuffix.size() &&
                !is_user_manager_unit(component)) {
                unit = component.substr(0, component.size() - kServiceSuffix.size());
            }
        }
        if (unit) {
            return std::string(*unit);
        }
    }
    return std::nullopt;
}

std::string sanitize_service_name(std::string_view name) {
    std::string sanitized(name.substr(0, kMaxServiceNameBytes));
    for (char& c : sanitized) {
        const bool allowed = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' ||
                             c == '@' || c == '-';
        if (!allowed) {
            c = '_';
        }
    }
    return sanitized;
}

ServiceResolver::ServiceResolver(std::vector<ServiceRule> rules) : rules_(std::move(rules)) {}

bool ServiceResolver::needs_ports() const {
    return std::any_of(rules_.begin(), rules_.end(), [](const ServiceRule& rule) {
        return rule.kind == ServiceRule::Kind::Port;
    });
}

std::string ServiceResolver::resolve(const ProcessIdentity& identity) const {
    for (const auto& rule : rules_) {
        if (rule_matches(rule, identity)) {
            return sanitize_service_name(rule.service);
        }
    }
    if (!identity.k8s_workload.empty()) {
        return sanitize_service_name(identity.k8s_workload);
    }
    if (const auto container_id = container_id_from_cgroup(identity.cgroup)) {
        return sanitize_service_name("container-" +
                                     container_id->substr(0, kShortContainerIdLength));
    }
    if (const auto unit = systemd_unit_from_cgroup(identity.cgroup)) {
        return sanitize_service_name(*unit);
    }
    if (const auto server = well_known_server(identity)) {
        return std::string(*server);
    }
    if (!identity.exe_name.empty()) {
        return sanitize_service_name(identity.exe_name);
    }
    if (!identity.comm.empty()) {
        return sanitize_service_name(identity.comm);
    }
    return "unknown";
}

}  // namespace redeye::proc
