"""The dashboards against real data: a real Prometheus (own port, own data
dir, 1 s scrapes) scrapes the real agent while the test drives nginx with
curl, PostgreSQL with pgbench and psql, RabbitMQ with pika, and makes the
rare events happen for real (a refused connect, resets, retransmits in a
network namespace, an OOM kill). Then every panel query of every dashboard
must return data, and every alert rule must evaluate without error."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import harness
from harness import Agent, rule, start_workload, wait_line, workload

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "db"))
sys.path.insert(0, os.path.join(HERE, "deploy"))
import dashboards  # noqa: E402
import servers  # noqa: E402
from test_http import Nginx  # noqa: E402

RULES = os.path.join(ROOT, "deploy", "prometheus", "redeye.rules.yml")
NETNS = f"redeye-e2e-{os.getpid()}"
PANEL_DEADLINE = 90
# Debian's python, which sees python3-pika (a python3 first on PATH may not).
SYSTEM_PYTHON = "/usr/bin/python3"  # seconds for every panel to have data once the load is done


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Prometheus:
    """/usr/bin/prometheus scraping one target every second, with the alert rules."""

    def __init__(self, target):
        harness.require_tool("prometheus")
        self.dir = tempfile.mkdtemp(prefix="redeye-prometheus-")
        self.port = harness.free_port()
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                    f"rule_files: [{json.dumps(RULES)}]\n"
                    "scrape_configs:\n"
                    "  - job_name: redeye\n"
                    f"    static_configs: [{{targets: ['{target}']}}]\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w+")
        self.proc = subprocess.Popen(["prometheus", f"--config.file={config}",
                                      f"--storage.tsdb.path={self.dir}/data",
                                      f"--web.listen-address=127.0.0.1:{self.port}",
                                      "--storage.tsdb.retention.time=1h"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self._get("/-/ready", raw=True) is not None, 30, "Prometheus ready")
        # The first scrape comes a few seconds after ready (target discovery
        # is batched): counts before it would be the series' first values.
        wait_until(lambda: self.query("up == 1"), 30, "Prometheus's first scrape of the agent")

    def _get(self, path, raw=False, **params):
        url = f"http://127.0.0.1:{self.port}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = r.read().decode()
        return body if raw else json.loads(body)["data"]

    def query(self, expr):
        return self._get("/api/v1/query", query=expr)["result"]

    def label_values(self, label, match):
        return self._get(f"/api/v1/label/{label}/values", **{"match[]": match})

    def rules(self):
        return [r for g in self._get("/api/v1/rules")["groups"] for r in g["rules"]]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RabbitMq:
    """rabbitmq-server as its own node: own name, ports, epmd, data and logs."""

    def __init__(self):
        server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not os.path.exists(server):
            harness.cannot_run("needs rabbitmq-server (scripts/install-deps.sh --with-tests installs it)")
        self.dir = tempfile.mkdtemp(prefix="redeye-rabbitmq-")
        self.port = harness.free_port()
        self.env = dict(os.environ, HOME=self.dir,
                        RABBITMQ_NODENAME=f"redeye-e2e-{os.getpid()}@localhost",
                        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_NODE_PORT=str(self.port),
                        RABBITMQ_DIST_PORT=str(harness.free_port()), ERL_EPMD_PORT=str(harness.free_port()),
                        RABBITMQ_MNESIA_BASE=f"{self.dir}/mnesia", RABBITMQ_LOG_BASE=f"{self.dir}/log",
                        RABBITMQ_PID_FILE=f"{self.dir}/rabbitmq.pid",
                        RABBITMQ_ENABLED_PLUGINS_FILE=f"{self.dir}/enabled_plugins",
                        RABBITMQ_CONFIG_FILE=f"{self.dir}/rabbitmq")
        with open(f"{self.dir}/enabled_plugins", "w") as f:
            f.write("[].\n")
        self.log = open(f"{self.dir}/server.out", "w+")
        self.proc = subprocess.Popen([server], env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_until(self._accepts, 90, "RabbitMQ accepting AMQP connections")

    def _accepts(self):
        if self.proc.poll() is not None:
            self.log.seek(0)
            raise AssertionError(f"rabbitmq-server exited with {self.proc.returncode}: {self.log.read()[-2000:]}")
        socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        code = ("import pika,sys; pika.BlockingConnection(pika.ConnectionParameters('127.0.0.1', int(sys.argv[1]), "
                "connection_attempts=1)).close()")
        return subprocess.run([SYSTEM_PYTHON, "-c", code, str(self.port)], capture_output=True,
                              timeout=30).returncode == 0

    def stop(self):
        # the whole session: the shell wrapper, beam.smp, and the epmd it started
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        subprocess.run(["epmd", "-kill"], env=self.env, capture_output=True, timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# A publisher and consumer with every outcome the dashboards show: confirms
# acked and nacked (a full reject-publish queue), a returned message, acks,
# rejects and nacks without requeue, and a connection refused by the broker.
AMQP_CLIENT = r"""
import sys, pika
port = int(sys.argv[1])
c = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, heartbeat=0))
ch = c.channel()
ch.confirm_delivery()
ch.queue_declare("orders")
ch.queue_declare("tiny", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
ch.queue_purge("tiny")
for i in range(30):
    ch.basic_publish("", "orders", b"order %d" % i)
nacked = 0
for i in range(3):
    try:
        ch.basic_publish("", "tiny", b"x")
    except pika.exceptions.NackError:
        nacked += 1
returned = 0
try:
    ch.basic_publish("", "no-such-queue", b"x", mandatory=True)
except pika.exceptions.UnroutableError:
    returned += 1
ch.basic_qos(prefetch_count=10)
n = 0
for method, props, body in ch.consume("orders", inactivity_timeout=5):
    if method is None:
        break
    n += 1
    if n % 10 == 0:
        ch.basic_reject(method.delivery_tag, requeue=False)
    elif n % 10 == 5:
        ch.basic_nack(method.delivery_tag, requeue=False)
    else:
        ch.basic_ack(method.delivery_tag)
    if n == 30:
        break
ch.cancel()
c.close()
refused = 0
try:
    pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port, virtual_host="no-such-vhost",
                                                      connection_attempts=1))
except pika.exceptions.AMQPError:
    refused += 1
print(f"consumed {n} nacked {nacked} returned {returned} refused {refused}")
"""


class DashboardsEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        for tool in ("curl", "pgbench", "psql", "ip", "nft", "epmd"):
            harness.require_tool(tool)
        r = subprocess.run([SYSTEM_PYTHON, "-c", "import pika"], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            harness.cannot_run("needs python3-pika (scripts/install-deps.sh --with-tests): " + r.stderr.strip())
        cls.stack = []
        try:
            cls.agent = cls.started(Agent(*rule("amqp-app", "e2e-amqp"), *rule("e2e-oom", "e2e-oom"),
                                          *rule("e2e-refuser", "e2e-refuse"), *rule("e2e-rst", "e2e-rst"),
                                          *rule("e2e-sink", "e2e-sink"), *rule("e2e-source", "e2e-source"),
                                          interval="0.5", proc_interval="1"), Agent.stop, start=True)
            cls.prometheus = cls.started(Prometheus(f"127.0.0.1:{cls.agent.port}"), Prometheus.stop)
            cls.nginx = cls.started(Nginx(), Nginx.stop)
            cls.pg = cls.started(servers.Postgres(), servers.Postgres.stop)
            cls.rabbit = cls.started(RabbitMq(), RabbitMq.stop)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def started(cls, thing, stop, start=False):
        if start:
            thing.start()
        cls.stack.append((thing, stop))
        return thing

    @classmethod
    def tearDownClass(cls):
        while cls.stack:
            thing, stop = cls.stack.pop()
            stop(thing)

    # ---- load ----

    def drive_http(self):
        base = f"http://127.0.0.1:{self.nginx.port}"
        urls = [base + p for p in ("/", "/orders/1", "/orders/2", "/missing/a", "/error") for _ in range(10)]
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\n", *urls],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split().count("500"), 10)

    def drive_postgres(self):
        self.assertIn("processed: 40/40", self.pg.pgbench("-n", "-c", "2", "-t", "20"))
        r = self.pg.psql("SELECT * FROM no_such_table", check=False)
        self.assertIn("does not exist", r.stderr)

    def drive_amqp(self):
        r = subprocess.run([SYSTEM_PYTHON, "-c", AMQP_CLIENT, str(self.rabbit.port), "tag=e2e-amqp"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "consumed 30 nacked 2 returned 1 refused 1")

    def drive_tcp_errors(self):
        self.assertEqual(workload("refuse", harness.free_port(), 5, tag="e2e-refuse").strip(), "refused 5")
        port = harness.free_port()
        server = start_workload("serve", port, 1, tag="e2e-rst")
        wait_line(server, "listening")
        self.assertEqual(workload("linger-close", "127.0.0.1", port, tag="e2e-rst").strip(), "reset 1")
        self.assertEqual(server.wait(30), 0)
        server.stdout.close()
        server.stderr.close()

    def drive_retransmits(self):
        """A tenth of the packets dropped by nftables inside a namespace of our own."""
        subprocess.run(["ip", "netns", "add", NETNS], check=True)
        try:
            def ns(*argv, **kw):
                return subprocess.run(["ip", "netns", "exec", NETNS, *map(str, argv)], check=True,
                                      capture_output=True, text=True, **kw)
            ns("ip", "link", "set", "lo", "up")
            ns("nft", "-f", "-", input="table inet redeye_e2e {\n chain in {\n"
                                       "  type filter hook input priority 0; policy accept;\n"
                                       "  meta l4proto tcp numgen random mod 10 == 0 drop\n }\n}\n")
            sink = start_workload("sink", 7100, tag="e2e-sink", prefix=("ip", "netns", "exec", NETNS))
            wait_line(sink, "listening")
            ns(harness.ARGS.workload, "source", "127.0.0.1", 7100, 200_000, "tag=e2e-source", timeout=120)
            self.assertEqual(sink.wait(60), 0)
            sink.stdout.close()
            sink.stderr.close()
        finally:
            subprocess.run(["ip", "netns", "del", NETNS])

    def drive_oom_kill(self):
        memcg = "/sys/fs/cgroup/memory"
        if os.path.isdir(memcg):
            group, limit = os.path.join(memcg, f"redeye-e2e-{os.getpid()}"), "memory.limit_in_bytes"
        else:  # cgroup v2
            group, limit = f"/sys/fs/cgroup/redeye-e2e-{os.getpid()}", "memory.max"
        os.mkdir(group)
        try:
            with open(os.path.join(group, limit), "w") as f:
                f.write(str(64 << 20))
            script = f'echo $$ > {group}/cgroup.procs && exec "$0" alloc 512 tag=e2e-oom'
            r = subprocess.run(["sh", "-c", script, harness.ARGS.workload], capture_output=True, timeout=60)
            self.assertEqual(r.returncode, -9, "the allocation was not OOM-killed")
        finally:
            def empty():
                with open(os.path.join(group, "cgroup.procs")) as f:
                    return not f.read().strip()
            wait_until(empty, 10, "the memory group to empty")
            os.rmdir(group)

    def drive_disk(self):
        with tempfile.NamedTemporaryFile(dir="/var/tmp") as f:
            subprocess.run(["dd", "if=/dev/zero", f"of={f.name}", "bs=64k", "count=32", "oflag=direct"],
                           check=True, capture_output=True, timeout=60)

    # ---- checks ----

    def panel_values(self, board):
        """The values a viewer would get: All for multi-value variables, and
        for a single-value one each value its own query offers."""
        values = dashboards.default_values(board)
        choices = {}
        for name, var in dashboards.variables(board).items():
            if var["type"] == "query" and name not in values:
                selector, label = var["definition"][len("label_values("):-1].rsplit(", ", 1)
                choices[name] = self.prometheus.label_values(label, selector)
                self.assertTrue(choices[name], f"variable {name} offers no value")
        return values, choices

    def failing_panels(self):
        failing = []
        for name, board in dashboards.load().items():
            values, choices = self.panel_values(board)
            for title, expr in dashboards.queries(board):
                # a single-value variable: the panel has data for one of its values
                options = [dict(values)]
                for var, offered in choices.items():
                    if var in dashboards.used_variables(expr):
                        options = [dict(o, **{var: v}) for o in options for v in offered]
                if not any(self.prometheus.query(dashboards.substitute(expr, o)) for o in options):
                    failing.append(f"{name}: {title}")
        return failing

    def test_every_panel_has_data_and_every_rule_evaluates(self):
        started = time.monotonic()
        # Twice, a few scrapes apart: a counter is born with its first event,
        # so a single burst shows as series without any rate.
        self.pg.pgbench("-i", "-s", "1", "-q")
        for burst in range(2):
            self.drive_http()
            self.drive_postgres()
            self.drive_amqp()
            if burst == 0:
                time.sleep(3)
        self.drive_tcp_errors()
        self.drive_retransmits()
        self.drive_oom_kill()
        self.drive_disk()
        print(f"load driven in {time.monotonic() - started:.1f}s", file=sys.stderr)
        failing = []

        def all_have_data():
            failing[:] = self.failing_panels()
            return not failing

        try:
            wait_until(all_have_data, PANEL_DEADLINE, "every panel to have data")
            n = sum(len(list(dashboards.queries(b))) for b in dashboards.load().values())
            print(f"{n} panel queries of 3 dashboards all returned data "
                  f"{time.monotonic() - started:.1f}s after the load began", file=sys.stderr)
        except AssertionError:
            pass  # reported below, after the other checks
        # the traffic lights: 10 of nginx's 50 answers were 500s: red
        board = dashboards.load()["redeye-overview.json"]
        light = next(e for t, e in dashboards.queries(board) if t == "Service health")
        lights = {r["metric"]["service_name"]: float(r["value"][1]) for r in
                  self.prometheus.query(dashboards.substitute(light, dashboards.default_values(board)))}
        print(f"traffic lights: {lights}", file=sys.stderr)
        self.assertEqual(lights.get("nginx"), 2, lights)
        self.assertEqual(lights.get("postgresql"), 0, lights)
        # every alert rule evaluated against the real series without error
        rules = self.prometheus.rules()
        self.assertEqual(len(rules), 16)
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        self.assertEqual(bad, [], "rules that failed to evaluate")
        self.assertFalse(failing, "panels without data: " + "; ".join(failing))


if __name__ == "__main__":
    harness.main()
