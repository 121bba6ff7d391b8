#include "proc/service_resolver.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace redeye::proc {
namespace {

const std::string kDockerId = "3f4e5d6c7b8a99001122334455667788990011223344556677889900aabbccdd";

ProcessIdentity identity_with_cgroup(std::string cgroup) {
    ProcessIdentity identity;
    identity.comm = "app";
    identity.exe_name = "app-bin";
    identity.cgroup = std::move(cgroup);
    return identity;
}

std::vector<ServiceRule> rules(std::initializer_list<std::string_view> texts) {
    std::vector<ServiceRule> parsed;
    for (const auto text : texts) {
        parsed.push_back(parse_service_rule(text));
    }
    return parsed;
}

// --- configured rules -------------------------------------------------------

TEST(ServiceResolverRules, ExeRuleMatchesExecutableBasenameOrComm) {
    const ServiceResolver resolver(rules({"frontend=exe:node*"}));

    ProcessIdentity by_exe;
    by_exe.exe_name = "node18";
    by_exe.comm = "MainThread";
    ProcessIdentity by_comm;
    by_comm.exe_name = "bun";
    by_comm.comm = "node";
    ProcessIdentity neither;
    neither.exe_name = "deno";
    neither.comm = "deno";

    EXPECT_EQ(resolver.resolve(by_exe), "frontend");
    EXPECT_EQ(resolver.resolve(by_comm), "frontend");
    EXPECT_EQ(resolver.resolve(neither), "deno");
}

TEST(ServiceResolverRules, CmdlineRuleMatchesSubstring) {
    const ServiceResolver resolver(rules({"orders=cmdline:-jar orders.jar"}));

    ProcessIdentity java;
    java.exe_name = "java";
    java.cmdline = "/usr/bin/java -Xmx1g -jar orders.jar --port 9000";
    ProcessIdentity other_java;
    other_java.exe_name = "java";
    other_java.cmdline = "/usr/bin/java -jar billing.jar";

    EXPECT_EQ(resolver.resolve(java), "orders");
    EXPECT_EQ(resolver.resolve(other_java), "java");
}

TEST(ServiceResolverRules, CgroupRuleMatchesWithinASingleLine) {
    const ServiceResolver resolver(rules({"batch=cgroup:batch.slice", "split=cgroup:a\nb"}));

    const auto in_batch = identity_with_cgroup("0::/batch.slice/job-17.scope\n");
    const auto across_lines = identity_with_cgroup("1:cpu:/a\n0::/b\n");

    EXPECT_EQ(resolver.resolve(in_batch), "batch");
    EXPECT_EQ(resolver.resolve(across_lines), "app-bin");
}

TEST(ServiceResolverRules, PortRuleMatchesListeningPort) {
    const ServiceResolver resolver(rules({"metrics=port:9100"}));

    ProcessIdentity listener;
    listener.exe_name = "exporter";
    listener.listening_ports = {22, 9100};
    ProcessIdentity other;
    other.exe_name = "exporter";
    other.listening_ports = {9101};

    EXPECT_EQ(resolver.resolve(listener), "metrics");
    EXPECT_EQ(resolver.resolve(other), "exporter");
}

TEST(ServiceResolverRules, FirstMatchingRuleWins) {
    const ServiceResolver resolver(rules({"first=exe:python*", "second=cmdline:manage.py"}));

    ProcessIdentity django;
    django.exe_name = "python3.11";
    django.cmdline = "python3.11 manage.py runserver";
    ProcessIdentity gunicorn;
    gunicorn.exe_name = "gunicorn";
    gunicorn.cmdline = "gunicorn manage.py";

    EXPECT_EQ(resolver.resolve(django), "first");
    EXPECT_EQ(resolver.resolve(gunicorn), "second");
}

TEST(ServiceResolverRules, RuleBeatsContainerSystemdAndWellKnownServer) {
    const ServiceResolver resolver(rules({"primary-db=exe:postgres"}));

    auto identity = identity_with_cgroup("0::/system.slice/docker-" + kDockerId + ".scope\n");
    identity.exe_name = "postgres";

    EXPECT_EQ(resolver.resolve(identity), "primary-db");
}

TEST(ServiceResolverRules, NeedsPortsOnlyWithAPortRule) {
    EXPECT_FALSE(ServiceResolver({}).needs_ports());
    EXPECT_FALSE(ServiceResolver(rules({"a=exe:x", "b=cmdline:y", "c=cgroup:z"})).needs_ports());
    EXPECT_TRUE(ServiceResolver(rules({"a=exe:x", "b=port:443"})).needs_ports());
}

// --- cgroup: systemd units and containers -----------------------------------

TEST(ServiceResolverCgroup, SystemdUnitFromUnifiedHierarchy) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/system.slice/nginx-proxy.service\n")),
              "nginx-proxy");
}

TEST(ServiceResolverCgroup, SystemdUnitFromV1NameSystemdLine) {
    const ServiceResolver resolver({});
    const auto identity = identity_with_cgroup(
        "12:memory:/something/else.service\n"
        "3:cpu,cpuacct:/system.slice/cron.service\n"
        "1:name=systemd:/system.slice/sshd.service\n");

    EXPECT_EQ(resolver.resolve(identity), "sshd");
}

TEST(ServiceResolverCgroup, SystemdUnitIgnoresOtherV1Controllers) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("4:memory:/system.slice/cron.service\n")),
              "app-bin");
}

TEST(ServiceResolverCgroup, SystemdUnitTakesLastServiceUnderUserManager) {
    const ServiceResolver resolver({});
    const auto identity = identity_with_cgroup(
        "0::/user.slice/user-1000.slice/user@1000.service/app.slice/"
        "syncthing.service\n");

    EXPECT_EQ(resolver.resolve(identity), "syncthing");
}

TEST(ServiceResolverCgroup, SystemdUserManagerAloneIsNotAUnit) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup(
                  "0::/user.slice/user-1000.slice/user@1000.service/init.scope\n")),
              "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup(
                  "0::/user.slice/user-1000.slice/user@1000.service\n")),
              "app-bin");
}

TEST(ServiceResolverCgroup, NothingUnderInitScopeCounts) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/init.scope\n")), "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/init.scope/fake.service\n")), "app-bin");
}

TEST(ServiceResolverCgroup, TemplateInstanceKeepsAtSign) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/system.slice/system-getty.slice/"
                                                    "getty@tty1.service\n")),
              "getty@tty1");
}

TEST(ServiceResolverCgroup, BareServiceSuffixIsNotAUnit) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/system.slice/.service\n")), "app-bin");
}

TEST(ServiceResolverCgroup, DockerScopeBecomesContainerService) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/system.slice/docker-" + kDockerId +
                                                    ".scope\n")),
              "container-3f4e5d6c7b8a");
}

TEST(ServiceResolverCgroup, DockerCgroupfsPathBecomesContainerService) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("12:pids:/docker/" + kDockerId + "\n")),
              "container-3f4e5d6c7b8a");
}

TEST(ServiceResolverCgroup, KubernetesAndPodmanScopesBecomeContainerServices) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup(
                  "0::/kubepods.slice/kubepods-burstable.slice/"
                  "kubepods-burstable-pod1234.slice/cri-containerd-"
                  "aabbccddeeff00112233.scope\n")),
              "container-aabbccddeeff");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup(
                  "0::/kubepods.slice/crio-0123456789abcdef.scope\n")),
              "container-0123456789ab");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup(
                  "0::/machine.slice/libpod-fedcba9876543210fedc.scope/container\n")),
              "container-fedcba987654");
}

TEST(ServiceResolverCgroup, MalformedContainerIdsAreNotContainers) {
    const ServiceResolver resolver({});
    // Too short, not hex, wrong docker length, missing .scope, conmon helper.
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/crio-0123abc.scope\n")), "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/crio-0123456789abcdefgh.scope\n")),
              "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/docker-0123456789ab.scope\n")),
              "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/libpod-0123456789abcdef\n")), "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/libpod-conmon-0123456789abcdef.scope\n")),
              "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0::/docker/0123456789ab\n")), "app-bin");
}

TEST(ServiceResolverCgroup, ContainerWinsOverSystemdUnit) {
    const ServiceResolver resolver({});
    const auto identity = identity_with_cgroup(
        "1:name=systemd:/system.slice/containerd.service/docker-" + kDockerId + ".scope\n" +
        "0::/system.slice/containerd.service\n");

    EXPECT_EQ(resolver.resolve(identity), "container-3f4e5d6c7b8a");
}

TEST(ServiceResolverCgroup, CgroupBeatsWellKnownServer) {
    const ServiceResolver resolver({});
    auto identity = identity_with_cgroup("0::/system.slice/postgresql@15-main.service\n");
    identity.exe_name = "postgres";

    EXPECT_EQ(resolver.resolve(identity), "postgresql@15-main");
}

TEST(ServiceResolverCgroup, MalformedCgroupContentFallsBack) {
    const ServiceResolver resolver({});
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("")), "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("garbage without colons\n")), "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup("0:/system.slice/x.service\n")), "app-bin");
    EXPECT_EQ(resolver.resolve(identity_with_cgroup(":::::\n\n\n")), "app-bin");
}

TEST(CgroupHelpers, ExtractFullContainerIdAndUnit) {
    EXPECT_EQ(container_id_from_cgroup("0::/system.slice/docker-" + kDockerId + ".scope\n"),
              std::optional<std::string>(kDockerId));
    EXPECT_EQ(container_id_from_cgroup("0::/system.slice/sshd.service\n"), std::nullopt);
    EXPECT_EQ(systemd_unit_from_cgroup("0::/system.slice/sshd.service\n"),
              std::optional<std::string>("sshd"));
    EXPECT_EQ(systemd_unit_from_cgroup("0::/\n"), std::nullopt);
}

// --- well-known servers and fallbacks ----------------------------------------

struct WellKnownCase {
    std::string exe_name;
    std::string comm;
    std::string cmdline;
    std::string expected;
};

TEST(ServiceResolverWellKnown, RecognisesServersByExeOrComm) {
    const std::vector<WellKnownCase> cases = {
        {"postgres", "postgres", "", "postgresql"},
        {"", "postmaster", "", "postgresql"},
        {"mysqld", "mysqld", "", "mysql"},
        {"mariadbd", "", "", "mysql"},
        {"beam.smp", "beam.smp", "erl -s rabbit boot", "rabbitmq"},
        {"", "beam.smp", "-- -root /usr/lib/erlang -rabbit plugins_dir", "rabbitmq"},
        {"beam.smp", "beam.smp", "erl -s ejabberd", "beam.smp"},
        {"nginx", "nginx", "nginx: worker process", "nginx"},
        {"redis-server", "redis-server", "", "redis"},
        {"", "redis-server", "", "redis"},
        {"postgres-exporter", "postgres_export", "", "postgres-exporter"},
    };
    const ServiceResolver resolver({});
    for (const auto& c : cases) {
        ProcessIdentity identity;
        identity.exe_name = c.exe_name;
        identity.comm = c.comm;
        identity.cmdline = c.cmdline;
        EXPECT_EQ(resolver.resolve(identity), c.expected) << c.exe_name << "/" << c.comm;
    }
}

TEST(ServiceResolverFallback, ExeThenCommThenUnknown) {
    const ServiceResolver resolver({});

    ProcessIdentity with_exe;
    with_exe.exe_name = "myapp";
    with_exe.comm = "worker-3";
    ProcessIdentity kernel_thread;
    kernel_thread.comm = "kworker/0:1";
    const ProcessIdentity nothing;

    EXPECT_EQ(resolver.resolve(with_exe), "myapp");
    EXPECT_EQ(resolver.resolve(kernel_thread), "kworker_0:1");
    EXPECT_EQ(resolver.resolve(nothing), "unknown");
}

// --- sanitizing --------------------------------------------------------------

TEST(SanitizeServiceName, ReplacesDisallowedCharacters) {
    EXPECT_EQ(sanitize_service_name("my app/v2 (beta)"), "my_app_v2__beta_");
    EXPECT_EQ(sanitize_service_name("ok_name-1.2:3@x"), "ok_name-1.2:3@x");
    EXPECT_EQ(sanitize_service_name("caf\xc3\xa9"), "caf__");
    EXPECT_EQ(sanitize_service_name(std::string("a\0b", 3)), "a_b");
    EXPECT_EQ(sanitize_service_name(""), "");
}

TEST(SanitizeServiceName, TruncatesTo64Bytes) {
    EXPECT_EQ(sanitize_service_name(std::string(100, 'x')), std::string(64, 'x'));
    EXPECT_EQ(sanitize_service_name(std::string(64, 'y')), std::string(64, 'y'));
}

TEST(ServiceResolverSanitizing, ResolvedNamesAreSanitized) {
    const ServiceResolver resolver({});

    ProcessIdentity spaced;
    spaced.exe_name = "my server (deleted copy)";
    ProcessIdentity long_name;
    long_name.exe_name = std::string(80, 'n');
    const auto escaped_unit = identity_with_cgroup("0::/system.slice/foo\\x2dbar.service\n");

    EXPECT_EQ(resolver.resolve(spaced), "my_server__deleted_copy_");
    EXPECT_EQ(resolver.resolve(long_name), std::string(64, 'n'));
    EXPECT_EQ(resolver.resolve(escaped_unit), "foo_x2dbar");
}

}  // namespace
}  // namespace redeye::proc
