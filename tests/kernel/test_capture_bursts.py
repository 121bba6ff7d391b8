"""Bursts of protocol frames, many per read or write, counted exactly:

- RabbitMQ: 10 000 publishes sent as fast as pika goes (no confirms), then
  a consumer with prefetch 1000 that acks many deliveries per write (each
  with its own basic.ack, or one basic.ack multiple=True per pass). At the
  publisher, at the consumer and at the broker's own service, the agent's
  counts equal the broker's own counters (rabbitmq_prometheus).
- PostgreSQL: a pgbench script whose statements run in a pipeline
  (\\startpipeline ... \\endpipeline, 24 or 60 statements per round trip,
  with the extended protocol and with prepared statements): the
  agent's count per statement at pgbench and at the server equals
  pg_stat_statements.

Both need the capture to walk every frame of a read or write, not only the
first bytes of each (--capture-bytes): 1000 deliveries are one read of about
60 KB, a pipeline a write of several KB. Every name is this run's own: the
broker is named by its data dir, PostgreSQL through named_servers.py, the
clients by tag= rules."""
import collections
import json
import os
import re
import subprocess
import sys
import time
import unittest

import harness
from harness import Agent, counter_delta, rule

import named_servers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "amqp"))
import broker  # noqa: E402

CLIENTS = os.path.join(HERE, "amqp", "burst_clients.py")
PYTHON = "/usr/bin/python3"  # the interpreter python3-pika is installed for
N_MESSAGES = 10_000
PREFETCH = 1000

SENT = "messaging_client_sent_messages_total"
CONSUMED = "messaging_client_consumed_messages_total"
SETTLED = "messaging_client_settled_messages_total"


def client(*args, tag, timeout=300):
    r = subprocess.run([PYTHON, CLIENTS, *map(str, args), f"tag={tag}"], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"client {args} failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def lost(m):
    return {f"{l['stage']}/{l['reason']}": v for l, v in m.select("redeye_events_lost_total") if v}


class AmqpBursts(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        if subprocess.run([PYTHON, "-c", "import pika"], capture_output=True).returncode != 0:
            harness.cannot_run("python3-pika is not installed (scripts/install-deps.sh --with-tests)")
        cls.rabbit = broker.Rabbit()
        cls.broker_service = f"amqpbroker_{cls.rabbit.port}_"
        rules = [arg for s in ("burstpub", "burstcons", "packedpub", "multicons")
                 for arg in rule(cls.svc(s), cls.svc(s))]
        cls.agent = Agent(*rules, "--service", f"{cls.broker_service}=cmdline:{cls.rabbit.dir}")
        try:
            cls.agent.start()
        except Exception:
            cls.rabbit.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.rabbit.stop()

    @classmethod
    def svc(cls, name):
        return f"{name}_{cls.rabbit.port}_"

    def figures(self, m, pub, cons, queue):
        """What the agent counted at the publisher, the consumer and the broker."""
        b = dict(service_name=self.broker_service)
        return {
            "publisher sent": m.value(SENT, service_name=pub, messaging_destination_name="amq.default"),
            "consumer delivered": m.value(CONSUMED, service_name=cons, messaging_source_name=queue,
                                          operation="deliver"),
            "consumer acked": m.value(SETTLED, service_name=cons, messaging_source_name=queue, outcome="ack",
                                      requeue="false"),
            "broker received": m.value(SENT, messaging_destination_name="amq.default", **b),
            "broker delivered": m.value(CONSUMED, messaging_source_name=queue, **b),
            "broker acked": m.value(SETTLED, messaging_source_name=queue, outcome="ack", **b),
        }

    def run_burst(self, pub, cons, queue, publish_mode, ack_mode):
        truth_before = self.rabbit.prometheus()
        before = self.agent.metrics()
        base = self.figures(before, pub, cons, queue)
        started = time.monotonic()
        self.assertEqual(client("publish", self.rabbit.port, queue, N_MESSAGES, publish_mode, tag=pub),
                         {"published": N_MESSAGES})
        published = time.monotonic()
        done = client("consume", self.rabbit.port, queue, N_MESSAGES, PREFETCH, ack_mode, tag=cons)
        print(f"\npublished {N_MESSAGES} ({publish_mode}) in {published - started:.1f}s, consumed in "
              f"{time.monotonic() - published:.1f}s: {done}", file=sys.stderr)
        self.assertEqual(done["acked"], N_MESSAGES)
        # the workload really is bursty: many acks (or deliveries) per write
        self.assertGreaterEqual(done["largest_pass"], 100, "the consumer never took deliveries in bulk")
        truth_after = self.rabbit.prometheus()

        def counted(m):
            now = self.figures(m, pub, cons, queue)
            return {k: now[k] - base[k] for k in now}

        want = {k: N_MESSAGES for k in base}
        try:
            self.agent.wait_for(lambda m: counted(m) == want, timeout=30, what="burst counts")
        except AssertionError:
            pass  # the comparison below says what is missing
        m = self.agent.settle()
        at_agent = counted(m)

        def broker_delta(name):
            return (truth_after.value(f"rabbitmq_global_messages_{name}_total", protocol="amqp091")
                    - truth_before.value(f"rabbitmq_global_messages_{name}_total", protocol="amqp091"))
        truth = {"received": broker_delta("received"), "routed": broker_delta("routed"),
                 "delivered": broker_delta("delivered_consume_manual_ack"),
                 "acknowledged": broker_delta("acknowledged")}
        print(f"broker's own counters: {truth}\nagent: {at_agent}\nevents lost so far: {lost(m)}", file=sys.stderr)
        self.assertEqual(truth, {k: N_MESSAGES for k in truth}, "the broker's own counters")
        self.assertEqual(at_agent, {
            "publisher sent": truth["received"], "consumer delivered": truth["delivered"],
            "consumer acked": truth["acknowledged"], "broker received": truth["received"],
            "broker delivered": truth["delivered"], "broker acked": truth["acknowledged"]})
        self.assertEqual(m.value("messaging_client_unacked_messages", service_name=cons,
                                 messaging_source_name=queue), 0)

    def test_10000_publishes_then_acks_many_per_write(self):
        self.run_burst(self.svc("burstpub"), self.svc("burstcons"), "redeye-burst", "plain", "single")

    def test_packed_publishes_then_multiple_acks(self):
        self.run_burst(self.svc("packedpub"), self.svc("multicons"), "redeye-burst-packed", "packed", "multiple")


# Six statements, each a few times in one pipeline: 24 or 60 per round trip.
PIPELINE_STATEMENTS = [
    "SELECT abalance FROM pgbench_accounts WHERE aid = :aid;",
    "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;",
    "UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;",
    "UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);",
    "SELECT tbalance FROM pgbench_tellers WHERE tid = :tid;",
]


def pipeline_script(repeats):
    return ("\\set aid random(1, 100000)\n\\set bid 1\n\\set tid random(1, 10)\n"
            "\\set delta random(-5000, 5000)\n\\startpipeline\n"
            + "".join(s + "\n" for s in PIPELINE_STATEMENTS) * repeats + "\\endpipeline\n")
CLIENTS_N, TRANSACTIONS = 2, 50
DB_SERVER = "db_server_operation_duration_seconds_count"
DB_CLIENT = "db_client_operation_duration_seconds_count"


def op_table(sql):
    word = re.match(r"\s*(\w+)", sql).group(1).upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", sql, re.IGNORECASE)
    return word, table.group(1) if table else ""


def db_counts(m, name, **labels):
    out = collections.Counter()
    for l, v in m.select(name, db_system_name="postgresql", **labels):
        if v:
            out[(l["db_operation_name"], l["db_collection_name"], l["error_type"])] += int(v)
    return out



class PgbenchPipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("pgbench")
        cls.pg = named_servers.Postgres()
        try:
            cls.pg.pgbench("-i", "-s", "1", "-q")
            cls.client = f"pgpipeline_{cls.pg.port}_"
            cls.agent = Agent(*cls.pg.rule(), *rule(cls.client, cls.client))
            cls.agent.start()
        except Exception:
            cls.pg.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.pg.stop()

    def test_pipelined_statements_counted_one_by_one(self):
        self.run_pipeline("extended", 4)

    def test_pipelined_prepared_statements_counted_one_by_one(self):
        # -M prepared: pgbench prepares every statement of the script inside
        # the first pipeline of each client, then sends Bind/Execute only:
        # 60 of those make a write of several KB
        self.run_pipeline("prepared", 10)

    def run_pipeline(self, mode, repeats):
        script = os.path.join(self.pg.dir, "pipeline.sql")
        with open(script, "w") as f:
            f.write(pipeline_script(repeats))
        os.chmod(script, 0o644)
        self.pg.admin("SELECT pg_stat_statements_reset()")
        time.sleep(1)  # the reset's exchange is recorded before the baseline
        before = self.agent.metrics()
        server_before = db_counts(before, DB_SERVER, service_name=self.pg.service)
        client_before = db_counts(before, DB_CLIENT, service_name=self.client)
        out = self.pg.pgbench("-n", "-M", mode, "-c", CLIENTS_N, "-t", TRANSACTIONS, "-f", script,
                              tag=self.client)
        total = CLIENTS_N * TRANSACTIONS
        self.assertIn(f"number of transactions actually processed: {total}/{total}", out)
        expected = collections.Counter()
        for s in PIPELINE_STATEMENTS:
            expected[(*op_table(s), "")] += repeats * total

        def server_delta(m):
            return counter_delta(db_counts(m, DB_SERVER, service_name=self.pg.service), server_before)

        def client_delta(m):
            return counter_delta(db_counts(m, DB_CLIENT, service_name=self.client), client_before)

        want = sum(expected.values())
        try:
            self.agent.wait_for(lambda m: sum(server_delta(m).values()) >= want
                                and sum(client_delta(m).values()) >= want, timeout=30, what="pipelined statements")
        except AssertionError:
            pass  # the comparison below says what is missing
        m = self.agent.settle()
        truth = collections.Counter()
        for query, calls in self.pg.statement_calls().items():
            if "pg_stat_statements_reset" not in query:
                truth[(*op_table(query), "")] += calls
        print(f"\n-M {mode}: pg_stat_statements {dict(truth)}\nagent at {self.pg.service} {dict(server_delta(m))}\n"
              f"agent at {self.client} {dict(client_delta(m))}\nevents lost so far: {lost(m)}", file=sys.stderr)
        self.assertEqual(truth, expected, "pg_stat_statements did not count what the script ran")
        self.assertEqual(server_delta(m), truth, "server side")
        self.assertEqual(client_delta(m), truth, "client side")


if __name__ == "__main__":
    harness.main()
