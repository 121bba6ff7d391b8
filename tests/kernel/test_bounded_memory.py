"""Bounded memory: thousands of HTTP connections to nginx opened and closed
in a loop leave the agent's RSS, its connection table and the sockets map
entries back at their baseline.

The loop runs for REDEYE_CHURN_SECONDS (default 120; the benchmark runs it
for minutes) and opens at least 10 000 connections. Tolerances:
  - RSS after the loop within +8 MiB of the RSS after the warm-up. A leak
    of 400 bytes per connection over the 20 000+ connections of the default
    run (two traced ends each) would exceed it.
  - sockets.conns, sockets.in_flight entries and the userspace connection
    table within +64 of their baseline (other processes of the host may
    hold a few connections open at the moment of either reading).
"""
import os
import subprocess
import sys
import time
import unittest

import harness
from harness import Agent, rule
from test_http import Nginx

DURATION_S = float(os.environ.get("REDEYE_CHURN_SECONDS", "120"))
MIN_CONNECTIONS = 10_000
ROUND = 2000  # connections per hey run
RSS_TOLERANCE = 8 * 1024 * 1024
ENTRY_TOLERANCE = 64


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class BoundedMemory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("hey")
        cls.agent = Agent(*rule("churn", "churn"))
        cls.agent.start()
        cls.nginx = Nginx()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.agent.stop()

    def churn(self, n):
        """n connections, one request each, closed after the response."""
        url = f"http://127.0.0.1:{self.nginx.port}/churn"
        # the header puts tag=churn on hey's command line, for the service rule
        r = subprocess.run(["hey", "-n", str(n), "-c", "4", "-q", "150", "-disable-keepalive", "-m", "GET",
                            "-H", "X-Churn: tag=churn", url], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"[200]\t{n} responses", r.stdout)

    def gauges(self):
        m = self.agent.metrics()
        return {
            "conns": m.value("redeye_bpf_map_entries", map="sockets.conns"),
            "in_flight": m.value("redeye_bpf_map_entries", map="sockets.in_flight"),
            "tracked": m.value("redeye_connections_tracked"),
            "sk_owner": m.value("redeye_bpf_map_entries", map="tcp.sk_owner"),
        }, m

    def test_connection_churn_returns_to_baseline(self):
        pid = self.agent.proc.pid
        self.churn(ROUND)  # warm-up: allocator pools, series, hash tables at their working size
        time.sleep(2)
        base, m = self.gauges()
        base_rss = rss_bytes(pid)
        # other nginx instances on the host count under the same service: this route is the loop's own
        churn = dict(service_name="nginx", http_route="/churn")
        base_requests = m.value("http_server_request_duration_seconds_count", **churn)
        before_log = self.nginx.log_counts()["200"]

        opened, peak_rss, peak, rss_by_round = 0, base_rss, dict(base), []
        start = time.monotonic()
        while (time.monotonic() - start < DURATION_S or opened < MIN_CONNECTIONS) and opened < 200_000:
            self.churn(ROUND)
            opened += ROUND
            rss_by_round.append(rss_bytes(pid))
            peak_rss = max(peak_rss, rss_by_round[-1])
            now, _ = self.gauges()
            peak = {k: max(peak[k], v) for k, v in now.items()}
        took = time.monotonic() - start
        time.sleep(3)  # closes read, one collection at least
        after, m = self.gauges()
        after_rss = rss_bytes(pid)
        served = self.nginx.log_counts()["200"] - before_log
        counted = m.value("http_server_request_duration_seconds_count", **churn) - base_requests
        print(f"\n  {opened} connections in {took:.0f} s; RSS {base_rss / 2**20:.1f} -> peak {peak_rss / 2**20:.1f}"
              f" -> {after_rss / 2**20:.1f} MiB; entries base/peak/after: "
              + ", ".join(f"{k} {base[k]:.0f}/{peak[k]:.0f}/{after[k]:.0f}" for k in base)
              + f"; RSS growth over the second half of the loop"
              f" {(rss_by_round[-1] - rss_by_round[len(rss_by_round) // 2]) / 2**20:.1f} MiB"
              + f"; nginx requests served {served}, counted {counted:.0f}", file=sys.stderr)

        self.assertGreaterEqual(opened, MIN_CONNECTIONS)
        self.assertEqual(served, opened)
        self.assertLessEqual(after_rss - base_rss, RSS_TOLERANCE, "agent RSS grew with the connections")
        for key in ("conns", "in_flight", "tracked"):
            self.assertLessEqual(after[key], base[key] + ENTRY_TOLERANCE, f"{key} did not return to its baseline")
        # the loop's requests were seen: the state above is not low for lack of capture
        self.assertGreaterEqual(counted, 0.99 * opened)
        self.assertLessEqual(counted, opened, "no request counted that nginx did not serve")
        self.assertIsNone(self.agent.proc.poll())


if __name__ == "__main__":
    harness.main()
