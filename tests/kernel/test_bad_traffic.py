"""Bad traffic to real servers while the agent runs: random bytes, truncated
and oversized messages, lengths that contradict the bytes, sent to nginx,
PostgreSQL and RabbitMQ between real requests. The agent stays up, counts no request that
did not happen (ground truth: nginx's access log, the clients' own counts),
and counts the HTTP and PostgreSQL streams whose bytes the parsers rejected
in redeye_connections_unparsed_total{reason="invalid"}."""
import collections
import os
import subprocess
import sys
import time
import unittest

import harness
from harness import Agent, rule
from db.servers import Postgres
from test_http import Nginx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "amqp"))
import broker  # noqa: E402
BAD_CLIENT = os.path.join(HERE, "faults", "bad_client.py")

N_EACH = 5
N_REAL = 12

# Streams the kernel tags (they start like the protocol) and whose bytes the
# parser must reject: each one is counted once per traced end (server and
# the bad client).
HTTP_REJECTED = ("negative-length", "valid-then-garbage")
HTTP_OTHER = ("random", "truncated", "oversized-head", "short-body")
PG_REJECTED = ("pg-huge-length",)
PG_OTHER = ("pg-random", "pg-truncated-startup")

AMQP_REJECTED = ("amqp-bad-frame-end", "amqp-huge-frame")
AMQP_OTHER = ("amqp-random",)
AMQP_CLIENTS = os.path.join(HERE, "amqp", "clients.py")

SERVER = "db_server_operation_duration_seconds"
CLIENT = "db_client_operation_duration_seconds"


def unparsed(m, protocol):
    return m.value("redeye_connections_unparsed_total", protocol=protocol, reason="invalid")


def bad(mode, port, n=N_EACH):
    out = subprocess.run([sys.executable, BAD_CLIENT, mode, str(port), str(n), "tag=badclient"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"bad_client {mode} failed: {out.stderr}")
    return out.stdout.strip()


class BadTraffic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("curl")
        cls.agent = Agent(*rule("badclient", "badclient"), *rule("goodcurl", "goodcurl"),
                          *rule("goodpsql", "goodpsql"), *rule("goodamqp", "goodamqp"))
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()

    def assert_agent_up(self):
        self.assertIsNone(self.agent.proc.poll(), f"the agent exited: {self.agent.output()}")
        self.assertEqual(self.agent.get("/healthz")[0], 200)

    def test_nginx_bad_streams_between_real_requests(self):
        nginx = Nginx()
        self.addCleanup(nginx.stop)
        before_log = nginx.log_counts()
        m0 = self.agent.metrics()
        base_unparsed = unparsed(m0, "http")
        base_nginx = m0.value("http_server_request_duration_seconds_count", service_name="nginx")
        url = f"http://127.0.0.1:{nginx.port}/real"
        real = 0
        for mode in HTTP_REJECTED + HTTP_OTHER:
            self.assertEqual(bad(mode, nginx.port), f"sent {N_EACH}")
            for _ in range(N_REAL // 6):
                subprocess.run(["curl", "-s", "-o", "/dev/null", "-A", "tag=goodcurl", url], check=True, timeout=10)
                real += 1
            self.assert_agent_up()
        time.sleep(1)  # nginx writes its log line after the response
        log = collections.Counter()
        with open(os.path.join(nginx.dir, "access.log")) as f:
            for line in f:
                status, method, uri = (line.split() + ["", "", ""])[:3]
                log[(status, uri)] += 1
        served = sum(n for (status, _), n in log.items() if status == "200")
        self.assertEqual(log[("200", "/real")], real)
        self.assertEqual(log[("200", "/valid-first")], N_EACH)
        # what nginx answered with an error: requests that never were
        refused = sum(n for (status, _), n in log.items() if status != "200")

        def nginx_count(m):
            return m.value("http_server_request_duration_seconds_count", service_name="nginx") - base_nginx

        self.agent.wait_for(lambda m: nginx_count(m) >= served, what="nginx requests")
        m = self.agent.wait_for(lambda m: unparsed(m, "http") - base_unparsed >= 2 * len(HTTP_REJECTED) * N_EACH,
                                what="unparsed HTTP streams")
        m = self.agent.settle()
        self.assertEqual(nginx_count(m), served, "nginx: exactly the well-formed requests")
        self.assertEqual(m.value("http_server_request_duration_seconds_count", service_name="nginx",
                                 http_route="/real"), real)
        self.assertEqual(m.value("http_server_request_duration_seconds_count", service_name="nginx",
                                 http_route="/valid-first"), N_EACH)
        # nginx answers a POST whose body never fully arrives (it does not
        # read it for `return 200`): a real request, in its log and counted
        self.assertEqual(m.value("http_server_request_duration_seconds_count", service_name="nginx",
                                 http_route="/short"), log[("200", "/short")])
        for route in ("/neg", "/truncated", "/big"):
            self.assertEqual(log[("200", route)], 0, route)
            self.assertEqual(m.value("http_server_request_duration_seconds_count", service_name="nginx",
                                     http_route=route), 0, route)
        # the bad client: only its well-formed requests (/valid-first, /short) made records
        bad_client = m.value("http_client_request_duration_seconds_count", service_name="badclient")
        self.assertLessEqual(bad_client, N_EACH + log[("200", "/short")])
        self.assertEqual(m.value("http_client_request_duration_seconds_count", service_name="goodcurl"), real)
        rejected = unparsed(m, "http") - base_unparsed
        self.assertGreaterEqual(rejected, 2 * len(HTTP_REJECTED) * N_EACH)
        self.assertEqual(m.value("http_server_active_requests", service_name="nginx"), 0)
        self.assert_agent_up()
        print(f"\n  nginx: {served} requests served and counted, {refused} answered with an error and not counted,"
              f" {rejected:.0f} streams unparsed (invalid), bad client's records {bad_client:.0f}", file=sys.stderr)

    def test_postgres_bad_streams_between_real_queries(self):
        pg = Postgres()
        self.addCleanup(pg.stop)
        m0 = self.agent.metrics()
        base_unparsed = unparsed(m0, "postgresql")
        base_server = m0.value(SERVER + "_count", service_name="postgresql", db_operation_name="SELECT")
        real = 0
        for mode in PG_REJECTED + PG_OTHER:
            self.assertEqual(bad(mode, pg.port), f"sent {N_EACH}")
            for _ in range(3):
                pg.psql("SELECT 1", tag="goodpsql")
                real += 1
            self.assert_agent_up()

        def counts(m):
            return (m.value(CLIENT + "_count", service_name="goodpsql"),
                    m.value(SERVER + "_count", service_name="postgresql", db_operation_name="SELECT") - base_server)

        self.agent.wait_for(lambda m: counts(m) >= (real, real), what="psql queries")
        self.agent.wait_for(lambda m: unparsed(m, "postgresql") - base_unparsed >= 2 * N_EACH,
                            what="unparsed PostgreSQL streams")
        m = self.agent.settle()
        self.assertEqual(counts(m), (real, real), "exactly the real queries, client and server side")
        self.assertEqual(m.value(CLIENT + "_count", service_name="badclient"), 0, "no operation from garbage")
        rejected = unparsed(m, "postgresql") - base_unparsed
        self.assertGreaterEqual(rejected, 2 * N_EACH)
        self.assertEqual(m.value("db_server_active_operations", service_name="postgresql"), 0)
        self.assert_agent_up()
        print(f"\n  postgres: {real} real queries counted on both sides, {rejected:.0f} streams unparsed (invalid)",
              file=sys.stderr)

    def test_rabbitmq_bad_frames_between_real_publishes(self):
        if subprocess.run(["/usr/bin/python3", "-c", "import pika"], capture_output=True).returncode != 0:
            harness.cannot_run("python3-pika is not installed (scripts/install-deps.sh --with-tests)")
        rabbit = broker.Rabbit()
        self.addCleanup(rabbit.stop)
        m0 = self.agent.metrics()
        base_unparsed = unparsed(m0, "amqp")
        truth0 = rabbit.prometheus()
        sent = dict(service_name="goodamqp", messaging_destination_name="amq.default")
        real = 0
        for mode in AMQP_REJECTED + AMQP_OTHER:
            self.assertEqual(bad(mode, rabbit.port), f"sent {N_EACH}")
            bodies = [f"{mode}-{i}" for i in range(4)]
            out = subprocess.run(["/usr/bin/python3", AMQP_CLIENTS, "publish", str(rabbit.port), "redeye-bad",
                                  *bodies, "tag=goodamqp"], capture_output=True, text=True, timeout=90)
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            real += len(bodies)
            self.assert_agent_up()
        self.agent.wait_for(lambda m: m.value("messaging_client_sent_messages_total", **sent) >= real,
                            what="real publishes")
        self.agent.wait_for(lambda m: unparsed(m, "amqp") - base_unparsed >= N_EACH * len(AMQP_REJECTED),
                            what="unparsed AMQP streams")
        m = self.agent.settle()
        truth1 = rabbit.prometheus()
        received = (truth1.value("rabbitmq_global_messages_received_total", protocol="amqp091")
                    - truth0.value("rabbitmq_global_messages_received_total", protocol="amqp091"))
        self.assertEqual(received, real, "the broker's own count of published messages")
        self.assertEqual(m.value("messaging_client_sent_messages_total", **sent), real, "exactly the real publishes")
        self.assertEqual(m.value("messaging_client_sent_messages_total", service_name="badclient"), 0,
                         "no message from garbage")
        rejected = unparsed(m, "amqp") - base_unparsed
        self.assertGreaterEqual(rejected, N_EACH * len(AMQP_REJECTED))
        self.assert_agent_up()
        print(f"\n  rabbitmq: {real} real publishes counted (broker: {received:.0f}), "
              f"{rejected:.0f} streams unparsed (invalid)", file=sys.stderr)


if __name__ == "__main__":
    harness.main()
