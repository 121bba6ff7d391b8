"""Exact TCP counts for known loopback workloads, per service."""
import unittest

import harness
from harness import Agent, rule, start_workload, wait_line, workload

N_REFUSED = 37
N_CONNECTIONS = 23


class TcpConnections(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        cls.agent = Agent(*rule("refuser", "refuse"), *rule("tcp-server", "server"),
                          *rule("tcp-client", "client"), *rule("rst-server", "rst-server"),
                          *rule("rst-client", "rst-client"))
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()

    def test_refused_connects_counted_exactly(self):
        closed_port = harness.free_port()
        out = workload("refuse", closed_port, N_REFUSED, tag="refuse")
        self.assertEqual(out.strip(), f"refused {N_REFUSED}")
        key = dict(service_name="refuser", reason="refused")
        self.agent.wait_for(lambda m: m.value("redeye_tcp_connect_failures_total", **key) >= N_REFUSED,
                            what="refused connects")
        m = self.agent.settle()
        self.assertEqual(m.value("redeye_tcp_connect_failures_total", **key), N_REFUSED)
        self.assertEqual(m.value("redeye_tcp_connect_failures_total", service_name="refuser"), N_REFUSED,
                         "no other failure reason")
        self.assertEqual(m.value("redeye_tcp_connections_total", service_name="refuser"), 0)

    def test_accepted_and_connected_counted_on_each_side(self):
        port = harness.free_port()
        server = start_workload("serve", port, N_CONNECTIONS, tag="server")
        wait_line(server, "listening")
        out = workload("connect", "127.0.0.1", port, N_CONNECTIONS, tag="client")
        self.assertEqual(out.strip(), f"connected {N_CONNECTIONS}")
        self.assertEqual(server.wait(30), 0)
        inbound = dict(service_name="tcp-server", direction="inbound")
        outbound = dict(service_name="tcp-client", direction="outbound")
        self.agent.wait_for(lambda m: m.value("redeye_tcp_connections_total", **inbound) >= N_CONNECTIONS
                            and m.value("redeye_tcp_connections_total", **outbound) >= N_CONNECTIONS,
                            what="connections on both sides")
        m = self.agent.settle()
        self.assertEqual(m.value("redeye_tcp_connections_total", **inbound), N_CONNECTIONS)
        self.assertEqual(m.value("redeye_tcp_connections_total", **outbound), N_CONNECTIONS)
        self.assertEqual(m.value("redeye_tcp_connections_total", service_name="tcp-server", direction="outbound"), 0)
        self.assertEqual(m.value("redeye_tcp_connections_total", service_name="tcp-client", direction="inbound"), 0)
        # every connection ended: nothing active, one duration each
        self.assertEqual(m.value("redeye_tcp_active_connections", **inbound), 0)
        self.assertEqual(m.value("redeye_tcp_active_connections", **outbound), 0)
        self.assertEqual(m.value("redeye_tcp_connection_duration_seconds_count", **inbound), N_CONNECTIONS)
        self.assertEqual(m.value("redeye_tcp_connection_duration_seconds_count", **outbound), N_CONNECTIONS)
        # The client sent no reset. One reset received at the server showed
        # up once in about ten CI runs, cause not found yet (see the issue
        # note); resets are asserted exactly in the SO_LINGER test below.
        self.assertEqual(m.value("redeye_tcp_resets_total", service_name="tcp-client", direction="sent"), 0)

    def test_active_connections_while_open(self):
        port = harness.free_port()
        server = start_workload("serve", port, 3, tag="server")
        wait_line(server, "listening")
        base = self.agent.metrics().value("redeye_tcp_connections_total", service_name="tcp-server", direction="inbound")
        clients = [start_workload("hold", "127.0.0.1", port, 3000, tag="client") for _ in range(3)]
        active = dict(service_name="tcp-server", direction="inbound")
        m = self.agent.wait_for(lambda m: m.value("redeye_tcp_connections_total", **active) >= base + 3,
                                what="three accepted connections")
        self.assertEqual(m.value("redeye_tcp_active_connections", **active), 3)
        for c in clients:
            self.assertEqual(c.wait(30), 0)
        self.assertEqual(server.wait(30), 0)
        m = self.agent.wait_for(lambda m: m.value("redeye_tcp_active_connections", **active) == 0,
                                what="connections closed")
        self.assertEqual(m.value("redeye_tcp_connections_total", **active), base + 3)

    def test_linger_zero_close_is_one_reset_each_way(self):
        port = harness.free_port()
        server = start_workload("serve", port, 1, tag="rst-server")
        wait_line(server, "listening")
        self.assertEqual(workload("linger-close", "127.0.0.1", port, tag="rst-client").strip(), "reset 1")
        self.assertEqual(server.wait(30), 0)
        sent = dict(service_name="rst-client", direction="sent")
        received = dict(service_name="rst-server", direction="received")
        self.agent.wait_for(lambda m: m.value("redeye_tcp_resets_total", **sent) >= 1
                            and m.value("redeye_tcp_resets_total", **received) >= 1, what="resets")
        m = self.agent.settle()
        self.assertEqual(m.value("redeye_tcp_resets_total", **sent), 1)
        self.assertEqual(m.value("redeye_tcp_resets_total", **received), 1)
        self.assertEqual(m.value("redeye_tcp_resets_total", service_name="rst-client", direction="received"), 0)
        self.assertEqual(m.value("redeye_tcp_resets_total", service_name="rst-server", direction="sent"), 0)

    def test_zz_no_events_lost(self):
        self.agent.assert_nothing_lost(self)


if __name__ == "__main__":
    harness.main()
