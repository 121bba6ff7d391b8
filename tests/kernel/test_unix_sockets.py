"""Request metrics over Unix stream sockets (AF_UNIX), between real servers
and real clients: PostgreSQL queried by psql over its socket file and over
an abstract socket, MariaDB by pymysql over its socket, nginx and a Python
server by curl --unix-socket / --abstract-unix-socket. The agent's counts at
the server's service and at the client's equal what the server counted
itself (pg_stat_statements, SHOW GLOBAL STATUS, the access log, the Python
server's own count), and a database client's `server_address` is the socket
it connected to (the path, or `@name` for an abstract socket).

Every server and client carries a name of this run (named_servers.py, tag=
rules), so other PostgreSQL, MariaDB or nginx traffic on the host is never
counted in. A PostgreSQL case over TCP runs alongside as a control: it
tells a capture that misses Unix sockets from a broken ground truth."""
import collections
import json
import os
import re
import subprocess
import sys
import time
import unittest

import harness
from harness import Agent, counts_by, counter_delta, rule

import named_servers

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"  # the interpreter python3-pymysql is installed for
SERVER = "db_server_operation_duration_seconds_count"
CLIENT = "db_client_operation_duration_seconds_count"
HTTP_SERVER = "http_server_request_duration_seconds_count"
HTTP_CLIENT = "http_client_request_duration_seconds_count"

# 7 distinct statements, each run a distinct number of times: (sql, times)
PG_PLAN = [
    ("SELECT count(*) FROM items", 3),
    ("INSERT INTO items (name) VALUES ('a')", 4),
    ("UPDATE items SET name = 'b' WHERE id = 1", 2),
    ("DELETE FROM items WHERE id = 1000000", 1),
    ("SELECT id FROM orders WHERE id < 10", 5),
    ("INSERT INTO orders (qty) VALUES (1)", 6),
    ("SELECT 1", 7),
]
KEYWORDS = {"END": "COMMIT", "ABORT": "ROLLBACK", "START": "BEGIN"}


def op_table(sql):
    """(operation, first table) the way the agent labels a statement."""
    word = re.match(r"\s*(\w+)", sql).group(1).upper()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", sql, re.IGNORECASE)
    return KEYWORDS.get(word, word), table.group(1) if table else ""


def db_counts(m, name, **labels):
    out = collections.Counter()
    for l, v in m.select(name, **labels):
        if v:
            out[(l["db_operation_name"], l["db_collection_name"], l["error_type"])] += int(v)
    return out




class UnixSockets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("psql")
        harness.require_tool("curl")
        if subprocess.run([PYTHON, "-c", "import pymysql"], capture_output=True).returncode != 0:
            harness.cannot_run("python3-pymysql is not installed (scripts/install-deps.sh --with-tests)")
        cls.servers = []
        try:
            cls.pg = cls.started(named_servers.Postgres)
            cls.pg.admin("CREATE TABLE items (id serial PRIMARY KEY, name text);"
                         "CREATE TABLE orders (id serial PRIMARY KEY, qty int);")
            cls.db = cls.started(named_servers.MariaDB)
            cls.db.admin("CREATE DATABASE shop; CREATE TABLE shop.items (id INT AUTO_INCREMENT PRIMARY KEY, "
                         "name VARCHAR(64)); CREATE USER 'redeye'@'127.0.0.1' IDENTIFIED BY 'redeye';"
                         "GRANT ALL ON *.* TO 'redeye'@'127.0.0.1';")
            cls.nginx = cls.started(named_servers.Nginx)
            cls.run_id = cls.pg.port
            rules = [*cls.pg.rule(), *cls.db.rule(), *cls.nginx.rule()]
            for name in ("psqlpath", "psqlabstract", "psqltcp", "pymysql", "pymysqltcp", "curlpath", "curltcp",
                         "curlabstract", "pyunixserver"):
                rules += rule(cls.svc(name), cls.svc(name))
            cls.agent = Agent(*rules)
            cls.agent.start()
        except Exception:
            for s in cls.servers:
                s.stop()
            raise

    @classmethod
    def started(cls, kind):
        server = kind()
        cls.servers.append(server)
        return server

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        for s in cls.servers:
            s.stop()

    @classmethod
    def svc(cls, name):
        """This run's name for a client (trailing "_": no name is a prefix
        of another in the cmdline rules)."""
        return f"{name}_{cls.run_id}_"

    def settled_equal(self, fn, want, what, timeout=30):
        """Waits until fn(metrics) reaches want (bounded), lets the agent
        settle, and returns the metrics then; the caller asserts equality."""
        try:
            self.agent.wait_for(lambda m: sum(fn(m).values()) >= sum(want.values()), timeout=timeout, what=what)
        except AssertionError:
            pass  # the equality below says what is missing
        return self.agent.settle()

    # PostgreSQL -----------------------------------------------------------

    def run_psql_plan(self, host, client, address):
        self.pg.admin("SELECT pg_stat_statements_reset()")
        time.sleep(1)  # the reset's own exchange is recorded before the baseline
        before = self.agent.metrics()
        server_before = db_counts(before, SERVER, service_name=self.pg.service, db_system_name="postgresql")
        client_before = db_counts(before, CLIENT, service_name=client, db_system_name="postgresql")
        expected = collections.Counter()
        for sql, times in PG_PLAN:
            self.pg.psql([sql] * times, host=host, tag=client)  # one session, `times` Query messages
            expected[(*op_table(sql), "")] += times

        def server_delta(m):
            return counter_delta(db_counts(m, SERVER, service_name=self.pg.service, db_system_name="postgresql"),
                         server_before)

        def client_delta(m):
            return counter_delta(db_counts(m, CLIENT, service_name=client, db_system_name="postgresql"), client_before)

        m = self.settled_equal(lambda m: client_delta(m) + server_delta(m), expected + expected,
                               f"psql statements over {host}")
        # The server's own count, read only now: that query is not in m.
        truth = collections.Counter()
        for query, calls in self.pg.statement_calls().items():
            if "pg_stat_statements_reset" not in query:
                truth[(*op_table(query), "")] += calls
        print(f"\nover {host}: pg_stat_statements {dict(truth)}\n  agent at {self.pg.service} "
              f"{dict(server_delta(m))}\n  agent at {client} {dict(client_delta(m))}", file=sys.stderr)
        self.assertEqual(truth, expected, "pg_stat_statements did not count what psql ran")
        self.assertEqual(server_delta(m), truth, "server side")
        self.assertEqual(client_delta(m), truth, "client side")
        addresses = {l["server_address"] for l, v in m.select(CLIENT, service_name=client) if v}
        self.assertEqual(addresses, {address})

    def test_postgres_over_its_socket_file(self):
        self.run_psql_plan(self.pg.dir, self.svc("psqlpath"), self.pg.socket_path)

    def test_postgres_over_an_abstract_socket(self):
        self.run_psql_plan("@" + self.pg.abstract, self.svc("psqlabstract"), self.pg.abstract_address)

    def test_postgres_over_tcp_control(self):
        # The same plan over loopback TCP: when this passes and the Unix
        # cases fail, the capture misses Unix sockets.
        self.run_psql_plan("127.0.0.1", self.svc("psqltcp"), f"127.0.0.1:{self.pg.port}")

    # MariaDB --------------------------------------------------------------

    def run_pymysql(self, target, client, address):
        com_before = self.db.com_counters()
        time.sleep(1)  # the status query's own exchange lands before the baseline
        before = self.agent.metrics()
        server_before = db_counts(before, SERVER, service_name=self.db.service, db_system_name="mysql")
        client_before = db_counts(before, CLIENT, service_name=client, db_system_name="mysql")
        r = subprocess.run([PYTHON, os.path.join(HERE, "db", "pymysql_client.py"), target,
                            "9", "6", "4", "3", "2", f"tag={client}"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        done = json.loads(r.stdout)
        self.assertEqual(done, {"select": 9, "insert": 6, "update": 4, "delete": 3, "errors": 2})
        expected = collections.Counter({("SELECT", "items", ""): 9, ("INSERT", "items", ""): 6,
                                        ("UPDATE", "items", ""): 4, ("DELETE", "items", ""): 3,
                                        ("SELECT", "no_such_table", "1146"): 2})

        def server_delta(m):
            return counter_delta(db_counts(m, SERVER, service_name=self.db.service, db_system_name="mysql"), server_before)

        def client_delta(m):
            return counter_delta(db_counts(m, CLIENT, service_name=client, db_system_name="mysql"), client_before)

        m = self.settled_equal(lambda m: client_delta(m) + server_delta(m), expected + expected,
                               f"pymysql statements over {target}")
        com_after = self.db.com_counters()
        com = {k: com_after[k] - com_before[k] for k in ("select", "insert", "update", "delete")}
        by_op = collections.Counter()
        for (op, _, _), n in expected.items():
            by_op[op.lower()] += n
        print(f"\nMariaDB Com_* deltas over {target}: {com}\n  agent at {self.db.service} {dict(server_delta(m))}\n"
              f"  agent at {client} {dict(client_delta(m))}", file=sys.stderr)
        # the server counted every statement the client ran (failing selects included)
        self.assertEqual(com, dict(by_op), "SHOW GLOBAL STATUS does not match what the client did")
        self.assertEqual(server_delta(m), expected, "server side")
        self.assertEqual(client_delta(m), expected, "client side")
        addresses = {l["server_address"] for l, v in m.select(CLIENT, service_name=client) if v}
        self.assertEqual(addresses, {address})

    def test_mariadb_over_its_socket(self):
        self.run_pymysql(self.db.socket, self.svc("pymysql"), self.db.socket)

    def test_mariadb_over_tcp_control(self):
        self.run_pymysql(f"127.0.0.1:{self.db.port}", self.svc("pymysqltcp"), f"127.0.0.1:{self.db.port}")

    # HTTP -----------------------------------------------------------------

    def curl(self, args, paths, client, base="http://unixhost"):
        """One curl process, the requests one after another on one
        keep-alive connection; returns the status of each. The header
        only carries the tag into curl's command line."""
        argv = ["curl", "-s", *args, "-H", f"X-Redeye-Run: tag={client}", "-w", "%{http_code}\\n"]
        for p in paths:
            argv += ["-o", "/dev/null", base + p]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split()

    def run_curl_nginx(self, args, base, client, address):
        log_before = self.nginx.log_counts()
        before = self.agent.metrics()
        server_before = counts_by(before, HTTP_SERVER, "http_response_status_code", service_name=self.nginx.service)
        client_before = counts_by(before, HTTP_CLIENT, "http_response_status_code", service_name=client)
        plan = ["/hello"] * 7 + ["/missing"] * 4 + ["/error"] * 3
        plan = plan[::2] + plan[1::2]
        statuses = self.curl(args, plan, client, base)  # one connection
        for p in ("/hello", "/missing"):  # and one connection per request
            statuses += self.curl(args, [p], client, base)
        made = collections.Counter(statuses)
        self.assertEqual(made, collections.Counter({"200": 8, "404": 5, "500": 3}))
        time.sleep(0.5)  # nginx writes its log line after the response
        log = collections.Counter()
        for (status, _), n in counter_delta(self.nginx.log_counts(), log_before).items():
            log[status] += n
        self.assertEqual(log, made, "nginx's access log")

        def server_delta(m):
            return counter_delta(counts_by(m, HTTP_SERVER, "http_response_status_code", service_name=self.nginx.service), server_before)

        def client_delta(m):
            return counter_delta(counts_by(m, HTTP_CLIENT, "http_response_status_code", service_name=client), client_before)

        m = self.settled_equal(lambda m: server_delta(m) + client_delta(m), made + made, f"HTTP over {args or 'TCP'}")
        print(f"\nnginx access log {dict(log)}\n  agent at {self.nginx.service} {dict(server_delta(m))}\n"
              f"  agent at {client} {dict(client_delta(m))}", file=sys.stderr)
        self.assertEqual(server_delta(m), log, "server side")
        self.assertEqual(client_delta(m), made, "client side")
        self.assertEqual(m.value(HTTP_SERVER, service_name=self.nginx.service, http_route="/missing",
                                 http_response_status_code="404") -
                         before.value(HTTP_SERVER, service_name=self.nginx.service, http_route="/missing",
                                      http_response_status_code="404"), 5)
        self.assertTrue(m.has(HTTP_CLIENT, service_name=client, server_address=address))

    def test_http_nginx_over_its_socket(self):
        self.run_curl_nginx(["--unix-socket", self.nginx.socket], "http://unixhost", self.svc("curlpath"), "unixhost")

    def test_http_nginx_over_tcp_control(self):
        address = f"127.0.0.1:{self.nginx.port}"
        self.run_curl_nginx([], "http://" + address, self.svc("curltcp"), address)

    def test_http_python_server_over_an_abstract_socket(self):
        server_svc, client = self.svc("pyunixserver"), self.svc("curlabstract")
        name = f"redeye-http-{self.run_id}"
        server = subprocess.Popen([sys.executable, os.path.join(HERE, "http", "unix_server.py"), "@" + name,
                                   f"tag={server_svc}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)

        def end():
            if server.poll() is None:
                server.kill()
            server.wait(10)
        self.addCleanup(end)
        self.assertEqual(harness.wait_line(server, "listening", timeout=10), "listening")
        plan = ["/status/200"] * 6 + ["/status/404"] * 3 + ["/status/503"] * 2
        statuses = self.curl(["--abstract-unix-socket", name], plan, client)
        statuses += self.curl(["--abstract-unix-socket", name], ["/status/201"], client)
        made = collections.Counter(statuses)
        self.assertEqual(made, collections.Counter({"200": 6, "404": 3, "503": 2, "201": 1}))
        out, _ = server.communicate(input="", timeout=10)  # its stdin closes: it prints its count
        truth = collections.Counter(json.loads(out.strip().splitlines()[-1]))
        self.assertEqual(truth, made, "the server's own count")

        m = self.settled_equal(lambda m: counts_by(m, HTTP_SERVER, "http_response_status_code", service_name=server_svc)
                               + counts_by(m, HTTP_CLIENT, "http_response_status_code", service_name=client), made + made,
                               "HTTP over the abstract socket")
        at_server = counts_by(m, HTTP_SERVER, "http_response_status_code", service_name=server_svc)
        at_client = counts_by(m, HTTP_CLIENT, "http_response_status_code", service_name=client)
        print(f"\npython server counted {dict(truth)}\n  agent at {server_svc} {dict(at_server)}\n"
              f"  agent at {client} {dict(at_client)}", file=sys.stderr)
        self.assertEqual(at_server, truth, "server side")
        self.assertEqual(at_client, made, "client side")


if __name__ == "__main__":
    harness.main()
