"""PostgreSQL RED from the kernel against a real server: the agent's counts
per operation, at the postgres processes and at pgbench, equal what the
server itself counted (pg_stat_statements); errors carry their SQLSTATE;
a known sleep lands in its bucket."""
import collections
import os
import re
import sys
import time
import unittest

import harness
from harness import Agent

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "db"))
import servers  # noqa: E402

SERVER = "db_server_operation_duration_seconds"
CLIENT = "db_client_operation_duration_seconds"
KEYWORDS = {"END": "COMMIT", "ABORT": "ROLLBACK", "START": "BEGIN"}


def operation_of(sql):
    word = re.match(r"\s*(\w+)", sql).group(1).upper()
    return KEYWORDS.get(word, word)


def per_operation(m, name, **labels):
    out = collections.Counter()
    for l, v in m.select(name + "_count", **labels):
        out[l["db_operation_name"]] += int(v)
    return out


class PostgresRed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("pgbench")
        cls.pg = servers.Postgres()
        cls.pg.pgbench("-i", "-s", "1", "-q")
        cls.agent = Agent()
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.pg.stop()

    def server_truth(self):
        rows = self.pg.psql("SELECT calls, query FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'")
        truth = collections.Counter()
        for line in rows.stdout.splitlines():
            calls, query = line.split("|", 1)
            truth[operation_of(query)] += int(calls)
        return truth

    def run_pgbench(self, mode):
        self.pg.psql("SELECT pg_stat_statements_reset()")
        time.sleep(1)
        before = self.agent.metrics()
        server_before = per_operation(before, SERVER, service_name="postgresql", db_system_name="postgresql")
        client_before = per_operation(before, CLIENT, service_name="pgbench", db_system_name="postgresql")
        out = self.pg.pgbench("-n", "-M", mode, "-c", "2", "-t", "25")
        self.assertIn("number of transactions actually processed: 50/50", out)

        def server_delta(m):
            return per_operation(m, SERVER, service_name="postgresql", db_system_name="postgresql") - server_before

        def client_delta(m):
            return per_operation(m, CLIENT, service_name="pgbench", db_system_name="postgresql") - client_before

        # 7 statements per transaction at least; then wait until nothing moves
        self.agent.wait_for(lambda m: sum(client_delta(m).values()) >= 350, what=f"pgbench {mode} statements")
        m = self.agent.settle()
        # Read the server's counters only now: that query is not in m.
        # pg_stat_statements counts DML per execution; utility statements
        # (BEGIN/END) run through the extended protocol are counted once per
        # prepare, so those come from pgbench's transaction count instead.
        stats = self.server_truth()
        truth = collections.Counter({op: stats[op] for op in ("SELECT", "UPDATE", "INSERT")})
        truth["BEGIN"] = truth["COMMIT"] = 50
        self.assertEqual(truth["UPDATE"], 150, truth)  # 3 per TPC-B-like transaction
        print(f"measured ({mode}): server truth {dict(truth)} agent server {dict(server_delta(m))} "
              f"agent client {dict(client_delta(m))}", flush=True)
        if server_delta(m) != truth or client_delta(m) != truth:
            # where a miss went: another service name, or a loss counter
            for name in (SERVER + "_count", CLIENT + "_count", "redeye_events_lost_total"):
                for l, v in m.select(name):
                    print(f"  {name} {l} {v}", flush=True)
        self.assertEqual(server_delta(m), truth)
        self.assertEqual(client_delta(m), truth)
        address = f"127.0.0.1:{self.pg.port}"
        self.assertTrue(m.has(CLIENT + "_count", service_name="pgbench", server_address=address))

    def test_pgbench_simple_protocol(self):
        self.run_pgbench("simple")

    def test_pgbench_extended_protocol(self):
        self.run_pgbench("prepared")

    def test_missing_table_errors_carry_sqlstate(self):
        n = 9
        for _ in range(n):
            r = self.pg.psql("SELECT * FROM no_such_table", check=False)
            self.assertIn("does not exist", r.stderr)
        key = dict(db_system_name="postgresql", error_type="42P01")
        self.agent.wait_for(lambda m: m.value(SERVER + "_count", service_name="postgresql", **key) >= n
                            and m.value(CLIENT + "_count", service_name="psql", **key) >= n, what="42P01 errors")
        m = self.agent.settle()
        self.assertEqual(m.value(SERVER + "_count", service_name="postgresql", **key), n)
        self.assertEqual(m.value(CLIENT + "_count", service_name="psql", **key), n)
        self.assertEqual(m.value(SERVER + "_count", service_name="postgresql", db_operation_name="SELECT",
                                 db_collection_name="no_such_table", error_type="42P01"), n)

    def test_results_larger_than_the_capture_are_closed_by_their_tail(self):
        # ~100 KB answers: their CommandComplete/ReadyForQuery (or the
        # ErrorResponse) lie far past the 2 KiB prefix of the write or read.
        self.pg.psql("CREATE TABLE IF NOT EXISTS wide_rows AS "
                     "SELECT n, repeat('x', 200) AS v FROM generate_series(1, 500) n")
        ok, failing = 7, 4
        base = self.agent.metrics()
        sel = dict(db_system_name="postgresql", db_operation_name="SELECT", db_collection_name="wide_rows")
        before = {(s, e): base.value(metric + "_count", service_name=s, error_type=e, **sel)
                  for s, metric in (("postgresql", SERVER), ("psql", CLIENT)) for e in ("", "22012")}
        for _ in range(ok):
            out = self.pg.psql("SELECT v FROM wide_rows")
            self.assertEqual(len(out.stdout.splitlines()), 500)
        for _ in range(failing):
            r = self.pg.psql("SELECT v || (1 / (n - 400))::text FROM wide_rows ORDER BY n", check=False)
            self.assertIn("division by zero", r.stderr)

        def delta(m, service, error):
            metric = SERVER if service == "postgresql" else CLIENT
            return m.value(metric + "_count", service_name=service, error_type=error, **sel) - before[(service, error)]

        self.agent.wait_for(lambda m: all(delta(m, s, "") >= ok and delta(m, s, "22012") >= failing
                                          for s in ("postgresql", "psql")), what="large results")
        m = self.agent.settle()
        for service in ("postgresql", "psql"):
            print(f"measured: {service} large results ok {delta(m, service, '')} "
                  f"failed {delta(m, service, '22012')}", flush=True)
            self.assertEqual(delta(m, service, ""), ok)
            self.assertEqual(delta(m, service, "22012"), failing)

    def test_known_sleep_lands_in_its_bucket(self):
        n = 5
        base = self.agent.metrics()
        sel = dict(service_name="postgresql", db_system_name="postgresql", db_operation_name="SELECT",
                   db_collection_name="", error_type="")
        b_count = base.value(SERVER + "_count", **sel)
        b_sum = base.value(SERVER + "_sum", **sel)
        b_le01 = base.value(SERVER + "_bucket", le="0.1", **sel)
        b_le025 = base.value(SERVER + "_bucket", le="0.25", **sel)
        for _ in range(n):
            self.pg.psql("SELECT pg_sleep(0.2)")
        self.agent.wait_for(lambda m: m.value(SERVER + "_count", **sel) - b_count >= n, what="pg_sleep")
        m = self.agent.settle()
        self.assertEqual(m.value(SERVER + "_count", **sel) - b_count, n)
        self.assertEqual(m.value(SERVER + "_bucket", le="0.1", **sel) - b_le01, 0)
        self.assertEqual(m.value(SERVER + "_bucket", le="0.25", **sel) - b_le025, n)
        mean = (m.value(SERVER + "_sum", **sel) - b_sum) / n
        print(f"measured: pg_sleep(0.2) mean {mean:.4f}s over {n}", flush=True)
        self.assertAlmostEqual(mean, 0.2, delta=0.01)
        self.agent.assert_nothing_lost(self)


class PostgresEncrypted(unittest.TestCase):
    """An SSL session is counted as unparsed and skipped: no operation is
    made up from its bytes."""

    def test_ssl_sessions_are_counted_unparsed(self):
        harness.require_root()
        harness.require_tool("openssl")
        pg = servers.Postgres(ssl=True)
        self.addCleanup(pg.stop)
        with Agent() as agent:
            n = 3
            for _ in range(n):
                r = pg.psql("SELECT 1", sslmode="require")
                self.assertEqual(r.stdout.strip(), "1")
            key = dict(protocol="postgresql", reason="encrypted")
            # each session is seen at both ends: psql and the postgres backend
            m = agent.wait_for(lambda m: m.value("redeye_connections_unparsed_total", **key) >= 2 * n,
                               what="unparsed SSL sessions")
            m = agent.settle()
            self.assertEqual(m.value("redeye_connections_unparsed_total", **key), 2 * n)
            self.assertEqual(m.value(SERVER + "_count", service_name="postgresql"), 0)
            self.assertEqual(m.value(CLIENT + "_count", service_name="psql"), 0)


if __name__ == "__main__":
    harness.main()
