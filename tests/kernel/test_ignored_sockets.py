"""Sockets the agent leaves alone hold no connection state in the kernel:
UDP sockets, Unix datagram pairs, and TCP and Unix stream connections whose
first messages match no protocol. Each is marked in the socket itself
(sockets.ignored_socks) instead of taking an entry of sockets.conns, so a
node full of them cannot push traced connections out of that LRU map. While
all of them are open and busy, sockets.conns holds no more entries than
before them; an ignored TCP connection stays ignored when an HTTP request
follows its unknown bytes; and HTTP on a new connection opened next to them
is counted exactly at both ends."""
import os
import socket
import subprocess
import sys
import time
import unittest

import harness
from harness import Agent, rule

HERE = os.path.dirname(os.path.abspath(__file__))
PY_SERVER = os.path.join(HERE, "http", "py_server.py")
N_UDP = 200
N_STREAMS = 100  # TCP connections, and Unix stream pairs, each
MESSAGES = 6     # more than the 4 the kernel looks at before ignoring
ENTRY_TOLERANCE = 32  # other processes of the host may open a few connections meanwhile
REQUESTS = 9


def conns_entries(m):
    return m.value("redeye_bpf_map_entries", map="sockets.conns")


class IgnoredSockets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        tag = f"ignored{os.getpid()}"
        cls.server_name, cls.client_name = f"{tag}-server", f"{tag}-client"
        cls.agent = Agent(*rule(cls.server_name, cls.server_name), *rule(cls.client_name, cls.client_name))
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()

    def open_ignored(self):
        """The sockets to leave alone, each made busy; returns them (open)."""
        keep = []
        for _ in range(N_UDP):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            keep.append(u)
            for _ in range(MESSAGES):
                u.sendto(b"\x00\x01 not a protocol", u.getsockname())
                u.recv(64)
        for _ in range(N_STREAMS):
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            keep += [a, b]
            for _ in range(MESSAGES):
                a.send(b"\x00\x02 datagram")
                b.recv(64)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(N_STREAMS)
        keep.append(listener)
        for _ in range(N_STREAMS):
            c = socket.create_connection(listener.getsockname(), timeout=5)
            s, _ = listener.accept()
            keep += [c, s]
            for i in range(MESSAGES):
                c.sendall(b"\x17\xfe\x00%c opaque" % i)
                s.recv(64)
                s.sendall(b"\x99 opaque answer")
                c.recv(64)
        for _ in range(N_STREAMS):
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            keep += [a, b]
            for _ in range(MESSAGES):
                a.sendall(b"\x00\x03 stream")
                b.recv(64)
                b.sendall(b"\x00\x04 back")
                a.recv(64)
        return keep

    def test_ignored_sockets_take_no_connection_state_and_traced_ones_still_count(self):
        time.sleep(0.5)
        base = conns_entries(self.agent.settle())
        keep = self.open_ignored()
        try:
            # An HTTP request after the unknown bytes on an ignored TCP
            # connection: the connection stays ignored (its stream is not
            # parsed from the middle).
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            keep.append(listener)
            c = socket.create_connection(listener.getsockname(), timeout=5)
            s, _ = listener.accept()
            keep += [c, s]
            for _ in range(MESSAGES):
                c.sendall(b"\x17\xfe opaque")
                s.recv(64)
            c.sendall(b"GET /after-ignored HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(4096)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            c.recv(4096)

            busy = self.agent.settle()
            held = conns_entries(busy) - base
            print(f"measured: sockets.conns {base:.0f} before, +{held:.0f} with {N_UDP} UDP sockets, "
                  f"{N_STREAMS} Unix datagram pairs, {N_STREAMS} TCP connections and {N_STREAMS} Unix stream pairs "
                  f"left alone", flush=True)
            self.assertLessEqual(held, ENTRY_TOLERANCE, "ignored sockets hold entries of sockets.conns")
            self.assertEqual(busy.value("http_server_request_duration_seconds_count", http_route="/after-ignored"), 0)
            self.assertEqual(busy.value("http_client_request_duration_seconds_count", server_address="x"), 0)

            # Traced HTTP next to all of them, exact at both ends.
            port = harness.free_port()
            server = subprocess.Popen([sys.executable, PY_SERVER, str(port), f"tag={self.server_name}"],
                                      stdout=subprocess.PIPE, text=True)
            try:
                harness.wait_line(server, "listening")
                for _ in range(REQUESTS):
                    r = subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/next-to-ignored",
                                        "-H", f"X-Tag: tag={self.client_name}"], timeout=30)
                    self.assertEqual(r.returncode, 0)
            finally:
                server.terminate()
                server.wait(10)
            m = self.agent.wait_for(
                lambda m: m.value("http_server_request_duration_seconds_count", service_name=self.server_name) >= REQUESTS
                and m.value("http_client_request_duration_seconds_count", service_name=self.client_name) >= REQUESTS,
                what="the HTTP requests next to the ignored sockets")
            m = self.agent.settle()
            self.assertEqual(m.value("http_server_request_duration_seconds_count", service_name=self.server_name),
                             REQUESTS)
            self.assertEqual(m.value("http_client_request_duration_seconds_count", service_name=self.client_name),
                             REQUESTS)
        finally:
            for sock in keep:
                sock.close()


if __name__ == "__main__":
    harness.main()
