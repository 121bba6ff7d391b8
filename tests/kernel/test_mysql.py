"""MySQL/MariaDB RED from the kernel against a real MariaDB: a known mix of
plain queries, server-side prepared statements and failing queries gives
exact counts and error codes, at mariadbd (server) and at the client."""
import collections
import json
import os
import subprocess
import sys
import unittest

import harness
from harness import Agent, rule

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "db"))
import servers  # noqa: E402

SERVER = "db_server_operation_duration_seconds_count"
CLIENT = "db_client_operation_duration_seconds_count"
NODE_DIR = os.path.join(HERE, "db", "node")


def ensure_mysql2():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "mysql2")):
        harness.require_tool("npm")
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", NODE_DIR], capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            harness.cannot_run("npm ci for the MySQL test client failed: " + r.stderr[-500:])


def counts(m, name, **labels):
    out = collections.Counter()
    for l, v in m.select(name, db_system_name="mysql", **labels):
        out[(l["db_operation_name"], l["error_type"])] += int(v)
    return out


class MysqlRed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("node")
        ensure_mysql2()
        cls.db = servers.MariaDB()
        cls.agent = Agent(*rule("shop-client", "shop-client"))
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.db.stop()

    def test_known_mix_of_plain_prepared_and_failing(self):
        plain, prepared, failing = 11, 7, 4
        out = subprocess.run(["node", os.path.join(NODE_DIR, "mysql_client.js"), str(self.db.port), str(plain),
                              str(prepared), str(failing), "tag=shop-client"],
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        done = json.loads(out.stdout)
        expected = collections.Counter({
            ("INSERT", ""): done["insert"] + done["execute_insert"],
            ("SELECT", ""): done["select"] + done["execute_select"],
            ("PREPARE", ""): done["prepares"],
            ("SELECT", "1146"): done["errors"],
        })
        total = sum(expected.values())
        self.agent.wait_for(lambda m: sum(counts(m, CLIENT, service_name="shop-client").values()) >= total
                            and sum(counts(m, SERVER, service_name="mysql").values()) >= total,
                            what="MySQL commands on both sides")
        m = self.agent.settle()
        client = counts(m, CLIENT, service_name="shop-client")
        server = counts(m, SERVER, service_name="mysql")
        print(f"measured: client did {done}; agent client {dict(client)}; agent server {dict(server)}", flush=True)
        # the connection's own setup commands (none with mysql2) would show here as extra operations
        self.assertEqual(client, expected)
        self.assertEqual(server, expected)
        self.assertTrue(m.has(CLIENT, service_name="shop-client", server_address=f"127.0.0.1:{self.db.port}"))
        self.assertEqual(m.value(SERVER, service_name="mysql", db_collection_name="no_such_table",
                                 error_type="1146"), failing)
        self.agent.assert_nothing_lost(self)


if __name__ == "__main__":
    harness.main()
