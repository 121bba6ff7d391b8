"""Processes forked for one piece of work and gone before the agent reads
/proc: a server that forks a child per connection (PostgreSQL's backends,
inetd, pre-fork servers) and a client that forks a child per request. Each
child sends its data and exits, and its parent reaps it at once, so by the
time the agent handles the child's data the child's /proc entry is usually
gone. The agent names each child by its parent (fork event), and counts every
request under the parent's service at both ends: none under another name.

The server is tests/kernel/http/forking_server.py; the client is the same
file's parent process forking plain socket clients (below)."""
import collections
import os
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import Agent, counts_by, counter_delta, rule

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "http", "forking_server.py")
HTTP_SERVER = "http_server_request_duration_seconds_count"
HTTP_CLIENT = "http_client_request_duration_seconds_count"
CONNECTIONS = 60

# A client that forks one child per request: the child connects, sends one
# request, reads the whole answer and exits; the parent waits for it.
CLIENT = r"""
import os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ok = 0
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /forked HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % port)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        os._exit(0 if data.startswith(b"HTTP/1.1 200") and data.endswith(b"forked\n") else 1)
    ok += os.waitpid(pid, 0)[1] == 0
print(f"answered {ok}", flush=True)
"""




class ForkedChildren(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        tag = f"forked{os.getpid()}"
        cls.server_name, cls.client_name = f"{tag}-server", f"{tag}-client"
        cls.agent = Agent(*rule(cls.server_name, cls.server_name), *rule(cls.client_name, cls.client_name))
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()

    def test_every_request_of_a_forked_child_is_counted_under_its_parents_service(self):
        before = self.agent.metrics()
        port_file = os.path.join(tempfile.mkdtemp(prefix="redeye-fork-"), "port")
        server = subprocess.Popen([sys.executable, SERVER, port_file, str(CONNECTIONS), f"tag={self.server_name}"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(port_file):
                self.assertIsNone(server.poll(), "the forking server exited before listening")
                self.assertLess(time.monotonic(), deadline, "the forking server did not listen within 10s")
                time.sleep(0.05)
            with open(port_file) as f:
                port = f.read()
            client = subprocess.run([sys.executable, "-c", CLIENT, port, str(CONNECTIONS), f"tag={self.client_name}"],
                                    capture_output=True, text=True, timeout=120)
            self.assertEqual(client.returncode, 0, client.stderr)
            out, _ = server.communicate(timeout=30)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        # Ground truth: the children's own exit statuses at both ends.
        self.assertEqual(client.stdout.strip(), f"answered {CONNECTIONS}")
        self.assertEqual(out.strip(), f"served {CONNECTIONS}")
        want_server = collections.Counter({self.server_name: CONNECTIONS})
        want_client = collections.Counter({self.client_name: CONNECTIONS})

        # Only this server's requests: the test's own scrapes of the agent
        # are HTTP too.
        server_labels = dict(http_route="/forked")
        client_labels = dict(server_address=f"127.0.0.1:{port}")

        def moved(m):
            return counter_delta(counts_by(m, HTTP_SERVER, "service_name", **server_labels), counts_by(before, HTTP_SERVER, "service_name", **server_labels)), \
                   counter_delta(counts_by(m, HTTP_CLIENT, "service_name", **client_labels), counts_by(before, HTTP_CLIENT, "service_name", **client_labels))

        self.agent.wait_for(lambda m: sum(moved(m)[0].values()) >= CONNECTIONS
                            and sum(moved(m)[1].values()) >= CONNECTIONS, what="the forked children's requests")
        server_seen, client_seen = moved(self.agent.settle())
        print(f"measured: server {dict(server_seen)} client {dict(client_seen)}", flush=True)
        self.assertEqual(server_seen, want_server)
        self.assertEqual(client_seen, want_client)


if __name__ == "__main__":
    harness.main()
