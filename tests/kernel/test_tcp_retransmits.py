"""Retransmits forced by an nftables rule that drops a share of the packets
inside a network namespace the test creates agree with that namespace's
TcpRetransSegs (nstat)."""
import os
import subprocess
import time
import unittest

import harness
from harness import Agent, rule

NETNS = f"redeye-rt-{os.getpid()}"
BYTES = 400_000  # ~400 segments of 1 KiB: tens of drops at 1 in 10

NFT_RULESET = """
table inet redeye_test {
  chain in {
    type filter hook input priority 0; policy accept;
    meta l4proto tcp numgen random mod 10 == 0 counter drop
  }
}
"""


def in_netns(*argv, **kw):
    return subprocess.run(["ip", "netns", "exec", NETNS, *map(str, argv)], check=True,
                          capture_output=True, text=True, **kw)


def retrans_segs():
    out = in_netns("nstat", "-asz", "TcpRetransSegs").stdout
    for line in out.splitlines():
        if line.startswith("TcpRetransSegs"):
            return int(line.split()[1])
    raise AssertionError(f"no TcpRetransSegs in nstat output: {out}")


class TcpRetransmits(unittest.TestCase):
    def setUp(self):
        harness.require_root()
        for tool in ("ip", "nft", "nstat"):
            harness.require_tool(tool)
        subprocess.run(["ip", "netns", "add", NETNS], check=True)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", NETNS])
        in_netns("ip", "link", "set", "lo", "up")
        in_netns("nft", "-f", "-", input=NFT_RULESET)

    def test_retransmits_match_nstat(self):
        with Agent(*rule("rt-sink", "rt-sink"), *rule("rt-source", "rt-source")) as agent:
            self.assertEqual(retrans_segs(), 0, "a fresh namespace has retransmitted nothing")
            port = 7100
            sink = harness.start_workload("sink", port, tag="rt-sink", prefix=("ip", "netns", "exec", NETNS))
            harness.wait_line(sink, "listening")
            out = in_netns(harness.ARGS.workload, "source", "127.0.0.1", port, BYTES, "tag=rt-source",
                           timeout=120).stdout
            self.assertEqual(out.strip(), f"sent {BYTES}")
            self.assertEqual(sink.wait(60), 0)

            def agent_total(m):
                return (m.value("redeye_tcp_retransmits_total", service_name="rt-sink")
                        + m.value("redeye_tcp_retransmits_total", service_name="rt-source"))

            # Orphaned sockets may still be retransmitting a FIN: wait until
            # the namespace's counter is stable, then compare.
            deadline = time.monotonic() + 60
            previous = -1
            while time.monotonic() < deadline:
                truth = retrans_segs()
                m = agent.settle()
                if truth == previous and agent_total(m) == truth:
                    break
                previous = truth
            truth = retrans_segs()
            m = agent.settle()
            print(f"measured: TcpRetransSegs={truth} agent={agent_total(m)} "
                  f"unknown={m.value('redeye_tcp_retransmits_total', service_name='unknown')} "
                  f"NETFILTER_DROP={m.value('redeye_tcp_drops_total', reason='NETFILTER_DROP')}", flush=True)
            self.assertGreater(truth, 0, "the drop rule forced no retransmit")
            self.assertEqual(agent_total(m), truth)
            self.assertEqual(m.value("redeye_tcp_retransmits_total", service_name="unknown"), 0)
            # the dropped packets are seen as kernel drops with their reason
            self.assertGreater(m.value("redeye_tcp_drops_total", reason="NETFILTER_DROP"), 0)
            agent.assert_nothing_lost(self)


if __name__ == "__main__":
    harness.main()
