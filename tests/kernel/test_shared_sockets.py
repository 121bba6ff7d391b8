"""One TCP connection used through several file descriptors and processes:
its fd copied with dup, dup2 or dup3 and used through both fds (a request
written on one, its response read on the other), then through the copy
alone; handed to another process over a Unix socket (SCM_RIGHTS) and used
there; shared with a forked child. The agent counts exactly the requests
made, at nginx and at the client, per process: none invented, none lost,
and the client made one connection.

The clients are tests/kernel/http/fd_clients.py; nginx is this run's own
(named_servers.py), reached on loopback TCP."""
import collections
import json
import os
import subprocess
import sys
import time
import unittest

import harness
from harness import Agent, counts_by, counter_delta, rule

import named_servers

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS = os.path.join(HERE, "http", "fd_clients.py")
HTTP_SERVER = "http_server_request_duration_seconds_count"
HTTP_CLIENT = "http_client_request_duration_seconds_count"
NAMES = ("dupclient", "dup2client", "dup3client", "passparent", "passchild", "forkclient")





class SharedSockets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        cls.nginx = named_servers.Nginx()
        try:
            rules = [*cls.nginx.rule()]
            for name in NAMES:
                rules += rule(cls.svc(name), cls.svc(name))
            cls.agent = Agent(*rules)
            cls.agent.start()
        except Exception:
            cls.nginx.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.nginx.stop()

    @classmethod
    def svc(cls, name):
        return f"{name}_{cls.nginx.port}_"

    def run_clients(self, args, tag, clients):
        """Runs fd_clients.py; checks the counts the client processes read
        against nginx's access log, then the agent's at nginx and at each
        client service (`clients`: service -> the counts its processes read)."""
        log_before = self.nginx.log_counts()
        before = self.agent.metrics()
        server_before = counts_by(before, HTTP_SERVER, "http_response_status_code", service_name=self.nginx.service)
        client_before = {s: counts_by(before, HTTP_CLIENT, "http_response_status_code", service_name=s) for s in clients}
        every_before = counts_by(before, HTTP_CLIENT, "service_name")
        conns_before = {s: before.value("redeye_tcp_connections_total", service_name=s, direction="outbound")
                        for s in clients}
        r = subprocess.run([sys.executable, CLIENTS, *map(str, args), f"tag={tag}"], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        read = {"parent": collections.Counter(json.loads(lines[-1]))}
        for line in lines[:-1]:
            if line.startswith("child "):
                read["child"] = collections.Counter(json.loads(line[len("child "):]))
        made = sum(read.values(), collections.Counter())
        time.sleep(0.5)  # nginx logs after the response
        log = collections.Counter()
        for (status, _), n in counter_delta(self.nginx.log_counts(), log_before).items():
            log[status] += n
        self.assertEqual(log, made, "nginx's access log against what the clients read")
        expected = {s: read[who] for s, who in clients.items()}

        def server_delta(m):
            return counter_delta(counts_by(m, HTTP_SERVER, "http_response_status_code", service_name=self.nginx.service), server_before)

        def client_delta(m):
            return {s: counter_delta(counts_by(m, HTTP_CLIENT, "http_response_status_code", service_name=s), client_before[s]) for s in clients}

        try:
            self.agent.wait_for(lambda m: server_delta(m) == log and client_delta(m) == expected, timeout=20,
                                what="requests on the shared connection")
        except AssertionError:
            pass  # the comparisons below say what differs
        m = self.agent.settle()
        print(f"\n{args[0]}: clients read {dict(made)}, nginx logged {dict(log)}\n  agent at nginx "
              f"{dict(server_delta(m))}\n  agent at the clients {client_delta(m)}\n  every client service that "
              f"moved meanwhile (this host's other traffic included): {counts_by(m, HTTP_CLIENT, 'service_name') - every_before}",
              file=sys.stderr)
        self.assertEqual(server_delta(m), log, "server side")
        self.assertEqual(client_delta(m), expected, "client side")
        conns = {s: m.value("redeye_tcp_connections_total", service_name=s, direction="outbound") - conns_before[s]
                 for s in clients}
        self.assertEqual(sum(conns.values()), 1, f"one connection: {conns}")
        return made

    def test_dup_both_fds_then_the_copy(self):
        tag = self.svc("dupclient")
        made = self.run_clients(["dup", self.nginx.port, 12, 5], tag, {tag: "parent"})
        self.assertEqual(sum(made.values()), 17)

    def test_dup2_both_fds_then_the_copy(self):
        tag = self.svc("dup2client")
        made = self.run_clients(["dup2", self.nginx.port, 12, 5], tag, {tag: "parent"})
        self.assertEqual(sum(made.values()), 17)

    def test_dup3_both_fds_then_the_copy(self):
        tag = self.svc("dup3client")
        made = self.run_clients(["dup3", self.nginx.port, 12, 5], tag, {tag: "parent"})
        self.assertEqual(sum(made.values()), 17)

    def test_fd_passed_over_scm_rights(self):
        parent, child = self.svc("passparent"), self.svc("passchild")
        made = self.run_clients(["pass", self.nginx.port, 4, 7, 3, child], parent, {parent: "parent", child: "child"})
        self.assertEqual(sum(made.values()), 14)

    def test_connection_shared_with_a_forked_child(self):
        tag = self.svc("forkclient")
        made = self.run_clients(["fork", self.nginx.port, 4, 6, 3], tag, {tag: "parent"})
        self.assertEqual(sum(made.values()), 13)


if __name__ == "__main__":
    harness.main()
