"""Deployment files: the Helm chart lints and renders with default and
non-default values, every rendered object is valid against the Kubernetes
(and prometheus-operator) schemas, the pod keeps least privilege, the plain
manifests are the rendered chart, the real agent accepts the chart's
configuration, the alert rules pass promtool and their unit tests, the
chart's rules are the same file, and every dashboard query is valid PromQL."""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "deploy"))
import dashboards  # noqa: E402
import deploytools  # noqa: E402

RULES = os.path.join(ROOT, "deploy", "prometheus", "redeye.rules.yml")
CHART_RULES = os.path.join(ROOT, "helm", "redeye", "files", "redeye.rules.yml")
RULE_TESTS = sorted(glob.glob(os.path.join(ROOT, "deploy", "prometheus", "tests", "*.yml")))
CAPABILITIES = ["BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"]
HOST_PATHS = {"/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/cgroup", "/proc", "/var/log/pods",
              "/var/log/containers"}

# Values far from the defaults: another port, rules, privileged mode,
# the operator's objects, other scheduling.
CUSTOM_VALUES = [
    "--set", "listenPort=9500",
    "--set", "serviceRules[0]=shop-api=port:8080", "--set", "serviceRules[1]=mes-api=exe:mes-server",
    "--set", "httpRoutes[0]=shop-api=/orders/{id}",
    "--set", "security.privileged=true",
    "--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.labels.release=kube-prometheus",
    "--set", "prometheusRule.enabled=true",
    "--set", "nodeSelector.role=factory",
    "--set", "tolerations[0].key=dedicated", "--set", "tolerations[0].operator=Equal",
    "--set", "tolerations[0].value=mes", "--set", "tolerations[0].effect=NoSchedule",
    "--set", "resources.limits.memory=1Gi",
    "--set", "podIdentity.enabled=false",
    "--set", "agent.logLevel=debug",
]


def objects(stream):
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(stream) if o}


def kind(objs, k):
    found = [o for (kk, _), o in objs.items() if kk == k]
    assert len(found) == 1, f"expected one {k}, found {len(found)}"
    return found[0]


def promtool(*args):
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120)


class DeployManifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_tool("npm")
        harness.require_tool("node")
        harness.require_tool("promtool")
        try:
            deploytools.install()
        except deploytools.ToolError as e:
            harness.cannot_run(str(e))
        cls.default = deploytools.render()
        cls.custom = deploytools.render(*CUSTOM_VALUES, release="mes", namespace="monitoring")

    # ---- the chart ----

    def test_chart_lints_strict(self):
        for values in ([], CUSTOM_VALUES):
            r = deploytools.helm("lint", "--strict", deploytools.CHART, *values, check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("0 chart(s) failed", r.stdout)

    def test_every_rendered_object_valid_against_schemas(self):
        for name, stream, kinds in (
                ("default", self.default, {"ServiceAccount", "ConfigMap", "Service", "DaemonSet"}),
                ("custom", self.custom, {"ServiceAccount", "ConfigMap", "Service", "DaemonSet", "ServiceMonitor",
                                         "PrometheusRule"})):
            ok, report = deploytools.validate(stream)
            self.assertTrue(ok, f"{name} values:\n{report}")
            self.assertEqual({k for k, _ in objects(stream)}, kinds, name)
            print(f"{name}: {report.count('valid ')} objects valid", file=sys.stderr)
        # the validator does reject what the API server would
        broken = self.default.replace("containerPort: 9435", 'containerPort: "metrics"')
        self.assertNotEqual(broken, self.default)
        ok, report = deploytools.validate(broken)
        self.assertFalse(ok)
        self.assertIn("containerPort must be integer", report)

    def test_daemonset_least_privilege(self):
        ds = kind(objects(self.default), "DaemonSet")
        pod = ds["spec"]["template"]["spec"]
        self.assertTrue(pod["hostPID"])
        self.assertFalse(pod.get("hostNetwork", False))
        self.assertFalse(pod["automountServiceAccountToken"])
        (c,) = pod["containers"]
        sc = c["securityContext"]
        self.assertFalse(sc["privileged"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"], "add": CAPABILITIES})
        # every host path is mounted read-only, and those the agent needs are there
        host = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
        self.assertEqual(set(host.values()), HOST_PATHS)
        for m in c["volumeMounts"]:
            if m["name"] == "run":
                # the control socket's directory: a small in-memory emptyDir
                run = next(v for v in pod["volumes"] if v["name"] == "run")
                self.assertEqual(run["emptyDir"]["medium"], "Memory", run)
                self.assertEqual(m["mountPath"], "/run/redeye")
                continue
            self.assertTrue(m["readOnly"], m)
        mounted = {m["name"] for m in c["volumeMounts"]}
        self.assertTrue(set(host) <= mounted)
        # the pod identity options point at the mounts
        conf = kind(objects(self.default), "ConfigMap")["data"]["redeye.conf"]
        mounts = {m["mountPath"]: host.get(m["name"]) for m in c["volumeMounts"]}
        self.assertEqual(mounts[re.search(r"^cgroup-root = (\S+)$", conf, re.M).group(1)], "/sys/fs/cgroup")
        self.assertEqual(mounts[re.search(r"^pod-log-root = (\S+)$", conf, re.M).group(1)], "/var/log/pods")
        # probes on the agent's endpoints, scheduling on every node, bounded resources
        self.assertEqual(c["livenessProbe"]["httpGet"], {"path": "/healthz", "port": "metrics"})
        self.assertEqual(c["readinessProbe"]["httpGet"], {"path": "/readyz", "port": "metrics"})
        self.assertIn({"operator": "Exists"}, pod["tolerations"])
        for k in ("cpu", "memory"):
            self.assertIn(k, c["resources"]["requests"])
            self.assertIn(k, c["resources"]["limits"])

    def test_https_capture_adds_sys_admin_only_when_chosen(self):
        (c,) = kind(objects(deploytools.render("--set", "capture.https=true")),
                    "DaemonSet")["spec"]["template"]["spec"]["containers"]
        self.assertEqual(c["securityContext"]["capabilities"], {"drop": ["ALL"], "add": CAPABILITIES + ["SYS_ADMIN"]})
        ok, report = deploytools.validate(deploytools.render("--set", "capture.https=true"))
        self.assertTrue(ok, report)

    def test_non_default_values(self):
        objs = objects(self.custom)
        ds = kind(objs, "DaemonSet")
        pod = ds["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        self.assertEqual(ds["metadata"]["name"], "mes-redeye")
        self.assertEqual(ds["metadata"]["namespace"], "monitoring")
        self.assertEqual(c["ports"], [{"name": "metrics", "containerPort": 9500, "protocol": "TCP"}])
        self.assertEqual(kind(objs, "Service")["spec"]["ports"][0]["port"], 9500)
        self.assertEqual(c["securityContext"]["privileged"], True)
        self.assertNotIn("capabilities", c["securityContext"])
        self.assertEqual(pod["nodeSelector"], {"kubernetes.io/os": "linux", "role": "factory"})
        self.assertEqual(pod["tolerations"], [{"key": "dedicated", "operator": "Equal", "value": "mes",
                                               "effect": "NoSchedule"}])
        self.assertEqual(c["resources"]["limits"]["memory"], "1Gi")
        self.assertNotIn("/var/log/pods", {v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v})
        conf = kind(objs, "ConfigMap")["data"]["redeye.conf"]
        for line in ("listen = 0.0.0.0:9500", "service = shop-api=port:8080", "service = mes-api=exe:mes-server",
                     "http-route = shop-api=/orders/{id}", "log-level = debug"):
            self.assertIn(line + "\n", conf)
        self.assertNotIn("cgroup-root", conf)
        sm = kind(objs, "ServiceMonitor")
        self.assertEqual(sm["metadata"]["labels"]["release"], "kube-prometheus")
        self.assertEqual(sm["spec"]["selector"]["matchLabels"], kind(objs, "Service")["spec"]["selector"])
        self.assertEqual(sm["spec"]["endpoints"][0]["port"], "metrics")
        # a new configuration rolls the pods
        default_ds = kind(objects(self.default), "DaemonSet")
        self.assertNotEqual(pod and ds["spec"]["template"]["metadata"]["annotations"]["checksum/config"],
                            default_ds["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    def test_crd_objects_structure(self):
        """The CRD schemas of the operator package are checked by validate.mjs;
        these are the links between the objects it cannot see."""
        objs = objects(self.custom)
        svc = kind(objs, "Service")
        self.assertEqual(svc["spec"]["clusterIP"], "None")
        self.assertEqual(svc["spec"]["ports"][0]["targetPort"], "metrics")
        self.assertEqual(svc["spec"]["selector"], kind(objs, "DaemonSet")["spec"]["selector"]["matchLabels"])
        sm = kind(objs, "ServiceMonitor")
        self.assertEqual(sm["spec"]["namespaceSelector"]["matchNames"], ["monitoring"])
        for k, v in sm["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(svc["metadata"]["labels"][k], v)

    def test_agent_accepts_the_chart_configuration(self):
        """The ConfigMap's redeye.conf, given to the real agent: it starts and
        gets ready. Addresses and host paths of the pod are replaced by flags
        (flags win over the file)."""
        harness.require_root()
        conf = kind(objects(self.custom), "ConfigMap")["data"]["redeye.conf"]
        conf_default = kind(objects(self.default), "ConfigMap")["data"]["redeye.conf"]
        with tempfile.TemporaryDirectory(prefix="redeye-chartconf-") as tmp:
            pods = os.path.join(tmp, "pods")
            os.mkdir(pods)
            for name, text in (("custom.conf", conf), ("default.conf", conf_default)):
                path = os.path.join(tmp, name)
                with open(path, "w") as f:
                    f.write(text)
                agent = harness.Agent("--config", path, "--cgroup-root", "/sys/fs/cgroup", "--pod-log-root", pods)
                try:
                    agent.start()
                    self.assertEqual(agent.get("/healthz")[0], 200)
                finally:
                    self.assertEqual(agent.stop(), 0, agent.output()[-2000:])

    def test_plain_manifests_are_the_rendered_chart(self):
        for name, text in deploytools.expected_manifests().items():
            with open(os.path.join(ROOT, "deploy", "kubernetes", name)) as f:
                self.assertEqual(f.read(), text, f"deploy/kubernetes/{name} is stale: run "
                                                 "python3 tests/kernel/deploy/deploytools.py write-manifests")
            ok, report = deploytools.validate(text)
            self.assertTrue(ok, report)

    def test_capabilities_documented_and_aligned(self):
        with open(os.path.join(ROOT, "docs", "deployment.md")) as f:
            doc = f.read()
        for cap in CAPABILITIES + ["SYS_RESOURCE"]:
            self.assertRegex(doc, rf"\| `CAP_{cap}` \|[^|\n]*\w[^|\n]*\|", f"CAP_{cap} has no reason in docs/deployment.md")
        with open(os.path.join(ROOT, "deploy", "systemd", "redeye.service")) as f:
            unit = f.read()
        for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
            caps = re.search(rf"^{key}=(.*)$", unit, re.M).group(1).split()
            self.assertEqual(caps, ["CAP_" + c for c in CAPABILITIES], key)

    def assert_promtool_ok(self, r):
        # promtool 2.42 reports lint failures (duplicate rules) with exit status 0
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("FAILED", r.stdout + r.stderr)

    # ---- Prometheus rules ----

    def test_chart_rules_are_the_prometheus_rules(self):
        with open(RULES, "rb") as a, open(CHART_RULES, "rb") as b:
            self.assertEqual(a.read(), b.read(), "helm/redeye/files/redeye.rules.yml differs from "
                                                 "deploy/prometheus/redeye.rules.yml: copy it")
        rendered = kind(objects(self.custom), "PrometheusRule")["spec"]
        with open(RULES) as f:
            self.assertEqual(rendered, yaml.safe_load(f))
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump(rendered, f)
            f.flush()
            r = promtool("check", "rules", f.name)
            self.assert_promtool_ok(r)

    def test_promtool_check_rules_and_config(self):
        r = promtool("check", "rules", RULES)
        self.assert_promtool_ok(r)
        r = promtool("check", "config", os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml"))
        self.assert_promtool_ok(r)
        print(r.stdout.strip().splitlines()[-1], file=sys.stderr)

    def test_promtool_rule_unit_tests(self):
        self.assertTrue(RULE_TESTS)
        r = promtool("test", "rules", *RULE_TESTS)
        self.assert_promtool_ok(r)
        self.assertEqual(r.stdout.count("SUCCESS"), len(RULE_TESTS), r.stdout)

    def test_every_alert_fires_in_a_unit_test(self):
        with open(RULES) as f:
            alerts = {rule["alert"] for g in yaml.safe_load(f)["groups"] for rule in g["rules"] if "alert" in rule}
        fired, quiet = set(), set()
        for path in RULE_TESTS:
            with open(path) as f:
                for test in yaml.safe_load(f)["tests"]:
                    for case in test.get("alert_rule_test", []):
                        (fired if case["exp_alerts"] else quiet).add(case["alertname"])
        self.assertEqual(alerts - fired, set(), "alerts never shown firing in deploy/prometheus/tests")
        self.assertEqual(fired - alerts, set(), "tests of alerts that do not exist")
        print(f"{len(alerts)} alerts, each fires in a unit test; {len(quiet)} also shown quiet", file=sys.stderr)

    def test_kubernetes_scrape_example_matches_the_chart(self):
        """Debian's promtool has no Kubernetes discovery: checked by structure."""
        with open(os.path.join(ROOT, "deploy", "prometheus", "scrape-kubernetes.yml")) as f:
            (job,) = yaml.safe_load(f)["scrape_configs"]
        self.assertEqual(job["kubernetes_sd_configs"][0]["role"], "pod")
        pod = kind(objects(self.default), "DaemonSet")["spec"]["template"]
        keeps = {r["source_labels"][0]: r["regex"] for r in job["relabel_configs"] if r.get("action") == "keep"}
        self.assertEqual(keeps["__meta_kubernetes_pod_label_app_kubernetes_io_name"],
                         pod["metadata"]["labels"]["app.kubernetes.io/name"])
        self.assertEqual(keeps["__meta_kubernetes_pod_container_port_name"],
                         pod["spec"]["containers"][0]["ports"][0]["name"])

    # ---- Grafana ----

    def test_dashboards_are_generated(self):
        sys.path.insert(0, dashboards.GRAFANA)
        import build_dashboards
        expected = build_dashboards.render()
        self.assertEqual(set(expected), set(dashboards.load()))
        for name, text in expected.items():
            with open(os.path.join(dashboards.GRAFANA, name)) as f:
                self.assertEqual(f.read(), text, f"deploy/grafana/{name} is stale: run "
                                                 "python3 deploy/grafana/build_dashboards.py")

    def test_every_dashboard_query_is_valid_promql(self):
        """Every panel query, and every variable query's selector, as a
        recording rule: promtool parses each one."""
        rules = []
        boards = dashboards.load()
        self.assertEqual(len(boards), 3)
        for name, board in boards.items():
            ids = [p["id"] for p in dashboards.panels(board)]
            self.assertEqual(len(ids), len(set(ids)), f"{name}: panel ids repeat")
            values = dashboards.default_values(board)
            for var in dashboards.variables(board).values():
                if var["type"] == "query":
                    values.setdefault(var["name"], "x")
                    m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["definition"])
                    self.assertTrue(m, var["definition"])
                    rules.append({"record": f"dashboard:variable_{len(rules)}", "expr": m.group(1)})
            for title, expr in dashboards.queries(board):
                self.assertTrue(dashboards.used_variables(expr) <= set(dashboards.variables(board))
                                | set(dashboards.BUILTINS), f"{name} {title}: unknown variable")
                rules.append({"record": f"dashboard:panel_{len(rules)}", "expr": dashboards.substitute(expr, values),
                              "labels": {"dashboard": name, "panel": title}})
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, f)
            f.flush()
            r = promtool("check", "rules", f.name)
        self.assert_promtool_ok(r)
        self.assertIn(f"SUCCESS: {len(rules)} rules found", r.stdout)
        print(f"{len(rules)} dashboard queries valid PromQL", file=sys.stderr)
        # and promtool does reject a broken one
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "x", "expr": "sum by (a (x)"}]}]}, f)
            f.flush()
            self.assertNotEqual(promtool("check", "rules", f.name).returncode, 0)


if __name__ == "__main__":
    harness.main()
