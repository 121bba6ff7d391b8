"""Shared by the kernel tests: start the real agent, scrape it, wait for
values, and run known workloads.

Every wait is bounded in time. Under CI=true a test that cannot run (not
root, a tool missing) fails; elsewhere it is skipped with the reason.
"""
import argparse
import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

ARGS = None  # set by main(): paths of the agent and the workload helper

IN_CI = os.environ.get("CI", "").lower() == "true"

# REDEYE_TEST_CAPTURE=syscalls runs a test on the fallback capture (raw
# syscall tracepoints, for kernels before 6.3), so that both paths are
# checked against the same ground truth (tests/CMakeLists.txt).
CAPTURE = os.environ.get("REDEYE_TEST_CAPTURE", "")


def cannot_run(reason):
    """A test that cannot run: a failure in CI, a skip elsewhere."""
    if IN_CI:
        raise AssertionError("kernel test cannot run in CI: " + reason)
    raise unittest.SkipTest(reason)


def require_root():
    if os.geteuid() != 0:
        cannot_run("needs root (BPF, tracefs, network namespaces)")


def require_tool(name):
    if shutil.which(name) is None:
        cannot_run(f"needs {name} (scripts/install-deps.sh --with-tests installs it)")


def fdinfo_fields(pid):
    """One dict of fdinfo fields ("prog_id", "link_id", "map_id", "tp_name",
    ...) per open fd of process `pid`; fds that close meanwhile are left out."""
    fddir = f"/proc/{pid}/fdinfo"
    out = []
    for fd in os.listdir(fddir):
        try:
            with open(os.path.join(fddir, fd)) as f:
                text = f.read()
        except OSError:
            continue
        fields = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        out.append(fields)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> list of (name, labels dict, value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise AssertionError(f"unparseable metrics line: {line!r}")
        labels = dict(_LABEL.findall(m.group(2) or ""))
        out.append((m.group(1), labels, float(m.group(3))))
    return out


class Metrics:
    def __init__(self, text):
        self.text = text
        self.samples = parse_metrics(text)

    def select(self, name, **labels):
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(x) for k, x in labels.items())]

    def value(self, name, **labels):
        """Sum of the matching series; 0 when none exists yet."""
        return sum(v for _, v in self.select(name, **labels))

    def has(self, name, **labels):
        return bool(self.select(name, **labels))


def counts_by(m, name, *keys, **labels):
    """Sum of the matching series of `name` per value of the label `keys`
    (a tuple of values when there are several); series at 0 are left out."""
    out = collections.Counter()
    for l, v in m.select(name, **labels):
        if v:
            out[l[keys[0]] if len(keys) == 1 else tuple(l[k] for k in keys)] += int(v)
    return out


def counter_delta(after, before):
    """after - before, keeping negative differences and dropping zeros."""
    out = collections.Counter(after)
    out.subtract(before)
    return collections.Counter({k: v for k, v in out.items() if v})


class Agent:
    """The real `redeye run`, on a free loopback port."""

    def __init__(self, *extra_args, interval="0.2", proc_interval="0.5"):
        self.port = free_port()
        self.args = [ARGS.agent, "run", "--listen", f"127.0.0.1:{self.port}",
                     "--interval", interval, "--proc-interval", proc_interval,
                     *(["--capture", CAPTURE] if CAPTURE else []), *extra_args]
        self.proc = None
        self.log_path = f"/tmp/redeye-test-agent-{self.port}.log"

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, ready_timeout=30):
        self.log = open(self.log_path, "w+")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited with {self.proc.returncode}: {self.output()}")
            try:
                if self.get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"agent not ready after {ready_timeout}s: {self.output()}")

    def stop(self, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, self._text(r.read())
        except urllib.error.HTTPError as e:
            return e.code, self._text(e.read())

    @staticmethod
    def _text(body):
        try:
            return body.decode()
        except UnicodeDecodeError as e:
            start = body.rfind(b"\n", 0, e.start) + 1
            raise AssertionError(f"the agent served invalid UTF-8: {body[start:e.end + 80]!r}") from None

    def metrics(self):
        status, body = self.get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return Metrics(body)

    def wait_for(self, predicate, timeout=20, what="condition"):
        """Polls /metrics until predicate(metrics) is true; returns them."""
        deadline = time.monotonic() + timeout
        m = None
        while time.monotonic() < deadline:
            m = self.metrics()
            if predicate(m):
                return m
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def settle(self):
        """Waits long enough for every pending kernel count to be collected."""
        time.sleep(1.0)
        return self.metrics()

    def assert_nothing_lost(self, test):
        m = self.metrics()
        lost = m.select("redeye_events_lost_total")
        test.assertTrue(lost, "redeye_events_lost_total is missing")
        for labels, v in lost:
            test.assertEqual(v, 0, f"events lost: {labels}")


def workload(*args, tag=None, timeout=120, check=True):
    """Runs the workload helper to completion; returns its stdout."""
    argv = [ARGS.workload, *map(str, args)]
    if tag:
        argv.append(f"tag={tag}")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"workload {args} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def start_workload(*args, tag=None, prefix=()):
    argv = [*prefix, ARGS.workload, *map(str, args)]
    if tag:
        argv.append(f"tag={tag}")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_line(proc, prefix, timeout=10):
    """Reads the workload's stdout until a line starting with prefix."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith(prefix):
            return line.strip()
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"workload never printed {prefix!r}: {proc.stderr.read() if proc.poll() is not None else ''}")


def rule(service, tag):
    return ["--service", f"{service}=cmdline:tag={tag}"]


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--agent", required=True)
    parser.add_argument("--workload", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0], "-v", *rest])
