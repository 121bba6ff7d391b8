"""`redeye trace` and `redeye top` driven as a user would, against real
servers: the Python HTTP server of tests/kernel/http (a 50 ms endpoint),
PostgreSQL, refused connects from the workload helper, and top inside a
tmux pane of 80x24. Every session runs twice: attached to a running agent
through its control socket, and standalone (no agent: the command loads the
probes itself)."""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import harness
from harness import Agent

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "db"))
import servers  # noqa: E402

TAG = "trace-top-" + secrets.token_hex(3)
SERVICE = "trace-py"
READY = re.compile(r"attached to agent at|probes loaded, tracing")
LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{6} (\S+)/(\d+)/(\S+) (\S+) (HTTP|SQL|TCP|AMQP) (.*)$")


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        r.read()


class Trace:
    """One `redeye trace` process: started, waited for until it traces,
    then read to its end."""

    def __init__(self, socket_path, *args):
        self.proc = subprocess.Popen([harness.ARGS.agent, "trace", *args, "--control-socket", socket_path],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            self.stderr.append(line)
            if READY.search(line):
                return
        self.proc.kill()
        raise AssertionError(f"trace never got ready: {''.join(self.stderr)}{self.proc.stderr.read()}")

    def finish(self, timeout=20):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError(f"trace did not exit within {timeout}s; printed: {out}")
        self.stderr.append(err)
        assert self.proc.returncode == 0, f"trace exited with {self.proc.returncode}: {''.join(self.stderr)}"
        return [l for l in out.splitlines() if l]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class TraceTop:
    """The sessions; the subclasses say how trace and top find the probes."""

    attached = None  # set by the subclasses

    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("tmux")
        harness.require_tool("curl")
        cls.dir = tempfile.mkdtemp(prefix="redeye-trace-")
        cls.http_port = harness.free_port()
        cls.http = subprocess.Popen([sys.executable, os.path.join(HERE, "http", "py_server.py"), str(cls.http_port),
                                     f"tag={TAG}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        cls.pg = None
        cls.agent = None
        try:
            harness.wait_line(cls.http, "listening")
            cls.pg = servers.Postgres()
            cls.socket = os.path.join(cls.dir, "run", "redeye.sock")
            if cls.attached:
                cls.agent = Agent("--control-socket", cls.socket, *harness.rule(SERVICE, TAG))
                cls.agent.start()
                mode = os.stat(cls.socket).st_mode & 0o777
                assert mode == 0o600, f"control socket mode {oct(mode)}"
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.agent:
            cls.agent.stop()
        if cls.pg:
            cls.pg.stop()
        cls.http.kill()
        cls.http.wait()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def trace(self, *args):
        t = Trace(self.socket, *args)
        self.addCleanup(t.kill)
        self.assertTrue(any(("attached" if self.attached else "no agent running") in l for l in t.stderr),
                        f"mode not announced: {t.stderr}")
        return t

    def test_http_limit_prints_the_three_requests(self):
        t = self.trace("http", "--limit", "3", "--pid", str(self.http.pid))
        for path in ("/orders/1?card=4111", "/sleep50", "/fail"):
            try:
                get(self.http_port, path)
            except urllib.error.HTTPError as e:
                self.assertEqual(e.code, 503)
        lines = t.finish()
        print(f"\n  [{'attached' if self.attached else 'standalone'}] " + "\n  ".join(lines))
        self.assertEqual(len(lines), 3, lines)
        got = []
        for line in lines:
            m = LINE.match(line)
            self.assertTrue(m, line)
            self.assertEqual(m.group(2), str(self.http.pid))
            self.assertEqual(m.group(5), "HTTP")
            role, method, path, status, duration = m.group(6).split(" ")
            self.assertEqual((role, method), ("server", "GET"), line)
            got.append((path, status, duration))
        self.assertEqual([(p, s) for p, s, _ in got], [("/orders/1", "200"), ("/sleep50", "200"), ("/fail", "503")])
        self.assertNotIn("card=4111", "\n".join(lines), "the query string is masked by default")
        slow = got[1][2]
        self.assertTrue(slow.endswith("ms") and float(slow[:-2]) >= 50, f"/sleep50 took {slow}")

    def test_min_duration_shows_only_the_slow_endpoint(self):
        t = self.trace("http", "--pid", str(self.http.pid), "--min-duration", "40ms", "--duration", "3")
        for path in ("/a", "/sleep50", "/b", "/c"):
            get(self.http_port, path)
        lines = t.finish()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn(" GET /sleep50 200 ", lines[0])

    def test_sql_statement_is_masked(self):
        alias = "redeye_" + TAG.replace("-", "_")
        secret = "s3cret-" + TAG
        t = self.trace("sql", "--duration", "4")
        self.pg.psql(f"SELECT '{secret}' AS {alias}, 42 + 1 FROM pg_class WHERE oid IN (1, 2, 3)")
        lines = [l for l in t.finish() if alias in l]
        print(f"\n  [{'attached' if self.attached else 'standalone'}] " + "\n  ".join(lines))
        expected = f'"SELECT ? AS {alias}, ? + ? FROM pg_class WHERE oid IN (?)"'
        server = [l for l in lines if " SQL server postgresql SELECT " in l]
        self.assertEqual(len(server), 1, lines)
        self.assertIn(expected + " ok ", server[0])
        self.assertTrue(LINE.match(server[0]).group(4).startswith("127.0.0.1:"), "the peer is psql")
        self.assertNotIn(secret, "\n".join(lines))

    def test_tcp_refused_connect_with_its_reason(self):
        port = harness.free_port()
        t = self.trace("tcp", "--duration", "3")
        harness.workload("refuse", port, 2, tag=TAG)
        lines = [l for l in t.finish() if f" 127.0.0.1:{port} " in l]
        self.assertEqual(len(lines), 2, lines)
        for line in lines:
            self.assertTrue(line.endswith(" TCP connect_failed refused"), line)
            self.assertEqual(LINE.match(line).group(1), SERVICE if self.attached else "redeye-workload", line)

    def test_top_shows_the_loaded_service_and_quits_on_q(self):
        server = f"redeye-test-{os.getpid()}-{TAG}"
        tmux = ["tmux", "-L", server]
        self.addCleanup(subprocess.run, [*tmux, "kill-server"], capture_output=True)
        subprocess.run([*tmux, "new-session", "-d", "-s", "top", "-x", "80", "-y", "24",
                        f"{harness.ARGS.agent} top --control-socket {self.socket} --sort rps"], check=True)
        stop = threading.Event()

        def load():
            # about 20 requests a second until the table has been read
            deadline = time.monotonic() + 40
            while not stop.is_set() and time.monotonic() < deadline:
                get(self.http_port, "/load")
                time.sleep(0.05)

        loader = threading.Thread(target=load)
        loader.start()
        self.addCleanup(loader.join)
        self.addCleanup(stop.set)
        name = SERVICE if self.attached else "python3"
        row, screen = None, ""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and row is None:
            time.sleep(0.5)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "top"], capture_output=True,
                                    text=True).stdout
            for line in screen.splitlines():
                fields = line.split()
                if len(fields) == 10 and fields[0].startswith(name) and float(fields[1]) > 0:
                    row = fields
        stop.set()
        print(f"\n  [{'attached' if self.attached else 'standalone'}]\n{screen}")
        self.assertIsNotNone(row, f"no row for {name} with requests:\n{screen}")
        lines = screen.rstrip("\n").split("\n")
        self.assertLessEqual(len(lines), 24)
        self.assertTrue(all(len(l) <= 80 for l in lines))
        self.assertIn("attached to agent at" if self.attached else "standalone", lines[0])
        self.assertIn("*RPS", lines[1])
        self.assertGreater(float(row[1]), 5, f"RPS of {row}")
        subprocess.run([*tmux, "send-keys", "-t", "top", "q"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run([*tmux, "has-session", "-t", "top"], capture_output=True).returncode != 0:
                break
            time.sleep(0.2)
        else:
            self.fail("top did not quit on q")


class Attached(TraceTop, unittest.TestCase):
    attached = True

    def test_show_payload_must_be_asked_for(self):
        secret = "visible-" + TAG
        t = self.trace("sql", "--duration", "3", "--show-payload", "--json")
        self.pg.psql(f"SELECT '{secret}' AS payload_check")
        lines = [l for l in t.finish() if "payload_check" in l]
        self.assertTrue(lines)
        self.assertIn(f"'{secret}'", lines[0])
        self.assertTrue(lines[0].startswith("{") and '"kind":"sql"' in lines[0], lines[0])

    def test_bad_request_gets_one_line_and_the_agent_keeps_running(self):
        import socket
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket)
            s.sendall(b"trace {\"kinds\":\"smtp\"}\n")
            self.assertEqual(s.recv(4096), b"error: invalid trace filter\n")
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(self.socket)
            s.sendall(b"metrics\n")
            body = b""
            while chunk := s.recv(65536):
                body += chunk
        self.assertIn(b"redeye_build_info", body)
        self.assertEqual(self.agent.get("/healthz")[0], 200)


class Standalone(TraceTop, unittest.TestCase):
    attached = False


if __name__ == "__main__":
    harness.main()
