"""Faults: a traced process killed in the middle of a request, the agent
killed with SIGKILL and started again, SIGTERM within 2 s, and a probe
the kernel refuses (provoked with the REDEYE_FAULT_INJECT_PROBES test aid)
while the others keep working."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

import harness
from harness import Agent, rule, start_workload, wait_line, workload

SIGTERM_LIMIT_S = 2.0

# Reads one request, then sleeps: killed by the test while the request waits.
STUCK_SERVER = r"""
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("listening", flush=True)
c, _ = s.accept()
data = b""
while b"\r\n\r\n" not in data:
    chunk = c.recv(4096)
    if not chunk:
        sys.exit(1)
    data += chunk
print("request read", flush=True)
time.sleep(60)
"""


def bpf_ids(pid):
    """The BPF programs, links and maps the process holds open (its fdinfo)."""
    ids = {"prog": set(), "link": set(), "map": set()}
    for fields in harness.fdinfo_fields(pid):
        if "link_id" in fields:
            ids["link"].add(int(fields["link_id"]))
        elif "prog_id" in fields:
            ids["prog"].add(int(fields["prog_id"]))
        elif "map_id" in fields:
            ids["map"].add(int(fields["map_id"]))
    return ids


def bpftool_ids(kind):
    out = subprocess.run(["bpftool", kind, "show", "-j"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return {entry["id"] for entry in json.loads(out or "[]")}


def conns_entries_of(map_id, local_port):
    """Entries of the sockets.conns map of sockets bound to this local port
    (the value's local_port, from the map's BTF): keys are socket cookies,
    not processes."""
    out = subprocess.run(["bpftool", "map", "dump", "id", str(map_id), "-j"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    n = 0
    for entry in json.loads(out or "[]"):
        value = entry.get("formatted", entry).get("value")
        if not isinstance(value, dict):
            raise AssertionError(f"sockets.conns dumped without BTF: {entry}")
        if value.get("local_port") == local_port:
            n += 1
    return n


def map_id_named(pid, name):
    for map_id in bpf_ids(pid)["map"]:
        out = subprocess.run(["bpftool", "map", "show", "id", str(map_id), "-j"], capture_output=True, text=True,
                             timeout=10)
        if out.returncode == 0 and json.loads(out.stdout).get("name") == name:
            return map_id
    raise AssertionError(f"the agent holds no map named {name}")


class Faults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("bpftool")

    def agent(self, *args, env=None):
        agent = Agent(*args)
        saved = dict(os.environ)
        try:
            os.environ.update(env or {})
            agent.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.addCleanup(agent.stop)
        return agent

    def test_process_killed_mid_request_frees_its_state(self):
        agent = self.agent(*rule("stuck-server", "stuck-server"), *rule("stuck-client", "stuck-client"))
        port = harness.free_port()
        server = subprocess.Popen([sys.executable, "-c", STUCK_SERVER, str(port), "tag=stuck-server"],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(server.kill)
        self.assertEqual(server.stdout.readline().strip(), "listening")
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(client.close)
        client.sendall(b"GET /never-answered HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(server.stdout.readline().strip(), "request read")
        active = dict(service_name="stuck-server")
        agent.wait_for(lambda m: m.value("http_server_active_requests", **active) == 1,
                       what="the request in flight at the stuck server")
        conns = map_id_named(agent.proc.pid, "conns")
        self.assertGreaterEqual(conns_entries_of(conns, port), 1, "the server's socket is traced")

        server.kill()  # SIGKILL: no close() from the process, the kernel closes its fds
        server.wait(10)
        m = agent.wait_for(lambda m: m.value("http_server_active_requests", **active) == 0, timeout=10,
                           what="the in-flight gauge back to 0 after the kill")
        self.assertEqual(m.value("http_server_request_duration_seconds_count", service_name="stuck-server"), 0,
                         "no request counted for the killed server")
        deadline = time.monotonic() + 10
        while conns_entries_of(conns, port) and time.monotonic() < deadline:
            time.sleep(0.3)
        left = conns_entries_of(conns, port)
        self.assertEqual(left, 0, "the killed process's socket state is deleted (TCP_CLOSE)")
        client.close()
        m = agent.settle()
        self.assertEqual(m.value("http_server_request_duration_seconds_count", service_name="stuck-server"), 0)
        self.assertEqual(m.value("http_client_request_duration_seconds_count", service_name="stuck-client"), 0)
        print(f"\n  killed mid-request: in-flight 1 -> 0, conns entries of the process -> {left}", file=sys.stderr)

    def test_sigkill_leaves_nothing_attached_and_a_restart_resumes(self):
        agent = self.agent(*rule("kill-server", "kill-server"), *rule("kill-client", "kill-client"))
        held = bpf_ids(agent.proc.pid)
        self.assertGreaterEqual(len(held["link"]), 20, f"links held by the agent: {held}")
        agent.proc.kill()
        agent.proc.wait(10)
        # the kernel frees programs and links once their last fd is closed
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left_progs = held["prog"] & bpftool_ids("prog")
            left_links = held["link"] & bpftool_ids("link")
            if not left_progs and not left_links:
                break
            time.sleep(0.2)
        self.assertEqual(left_progs, set(), "programs of the killed agent still loaded")
        self.assertEqual(left_links, set(), "links of the killed agent still attached")
        pinned = [p for p in os.listdir("/sys/fs/bpf") if "redeye" in p] if os.path.isdir("/sys/fs/bpf") else []
        self.assertEqual(pinned, [], "nothing pinned")

        again = self.agent(*rule("kill-server", "kill-server"), *rule("kill-client", "kill-client"))
        port = harness.free_port()
        server = start_workload("serve", port, 9, tag="kill-server")
        self.addCleanup(server.kill)
        wait_line(server, "listening")
        workload("connect", "127.0.0.1", port, 9, tag="kill-client")
        server.wait(20)
        key = dict(service_name="kill-client", direction="outbound")
        again.wait_for(lambda m: m.value("redeye_tcp_connections_total", **key) >= 9, what="connections after restart")
        m = again.settle()
        self.assertEqual(m.value("redeye_tcp_connections_total", **key), 9)
        self.assertEqual(m.value("redeye_tcp_connections_total", service_name="kill-server", direction="inbound"), 9)
        print(f"\n  SIGKILL: {len(held['prog'])} programs and {len(held['link'])} links freed; restart counts 9/9",
              file=sys.stderr)

    def test_sigterm_ends_the_agent_within_two_seconds(self):
        agent = self.agent()
        # some traffic first, so the shutdown is not of an idle agent
        for _ in range(5):
            subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{agent.port}/metrics"], timeout=10)
        held = bpf_ids(agent.proc.pid)
        start = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        try:
            rc = agent.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - start
        print(f"\n  SIGTERM to exit: {took:.2f} s", file=sys.stderr)
        self.assertEqual(rc, 0, "exit status after SIGTERM")
        self.assertLess(took, SIGTERM_LIMIT_S, f"SIGTERM took {took:.2f} s")
        self.assertEqual(held["link"] & bpftool_ids("link"), set(), "links left after SIGTERM")
        self.assertIn("detaching and exiting", agent.output())

    def test_refused_probe_reported_and_the_others_work(self):
        refused = "tcp:tcp_retransmit_skb"
        agent = self.agent(*rule("refused-server", "refused-server"), *rule("refused-client", "refused-client"),
                           env={"REDEYE_FAULT_INJECT_PROBES": refused})
        m = agent.metrics()
        up = {labels["probe"]: v for labels, v in m.select("redeye_probe_up")}
        self.assertEqual(up.get(refused), 0, f"probe_up of the refused probe: {up.get(refused)}")
        others = {p: v for p, v in up.items() if p != refused and not p.startswith("sockets:ssl_")}
        self.assertGreaterEqual(len(others), 15, f"probes: {sorted(up)}")
        self.assertEqual([p for p, v in others.items() if v != 1], [], "every other probe is attached")
        log = agent.output()
        self.assertIn(f"probe {refused} not attached: refused by fault injection", log)
        # the object the refused probe belongs to still counts connections
        port = harness.free_port()
        server = start_workload("serve", port, 7, tag="refused-server")
        self.addCleanup(server.kill)
        wait_line(server, "listening")
        workload("connect", "127.0.0.1", port, 7, tag="refused-client")
        server.wait(20)
        key = dict(service_name="refused-client", direction="outbound")
        agent.wait_for(lambda m: m.value("redeye_tcp_connections_total", **key) >= 7, what="connections")
        m = agent.settle()
        self.assertEqual(m.value("redeye_tcp_connections_total", **key), 7)
        self.assertEqual(m.value("redeye_tcp_connections_total", service_name="refused-server",
                                 direction="inbound"), 7)
        self.assertEqual(agent.proc.poll(), None, "the agent keeps running")


if __name__ == "__main__":
    harness.main()
