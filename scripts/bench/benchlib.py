#!/usr/bin/env python3
"""Shared by the benchmarks in scripts/bench: the processes they start
(each in its own process group, listed for the shell wrapper's trap), the
nginx under test, the agent (start, scrape, settle, stop), CPU and memory
accounting from /proc, the quiet-machine guard, BPF program and map
accounting, load-generator output parsers, machine facts and the writer of
one section of docs/benchmarks.md.

Python 3 standard library only.
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLK_TCK = os.sysconf("SC_CLK_TCK")

NGINX_CONF = """\
worker_processes 2;
worker_rlimit_nofile {rlimit};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections {worker_connections}; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "hello\\n"; }}
  }}
}}
"""


class Interrupted(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------- processes

class Children:
    """Everything this script starts, each in its own process group; the
    groups are also listed in WORKDIR/pgids for the shell wrapper's trap."""

    def __init__(self, workdir):
        self.procs = []
        self.pgid_file = os.path.join(workdir, "pgids")

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.procs.append(p)
        with open(self.pgid_file, "a") as f:
            f.write(f"{p.pid}\n")
        return p

    @staticmethod
    def stop(p, timeout=10):
        """SIGTERM to the group, SIGKILL after timeout. Returns the exit code."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
        # workers left behind by a master that died
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return p.returncode

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                self.stop(p, timeout=5)
            except Exception as e:  # keep stopping the others
                print(f"warning: stopping pid {p.pid}: {e}", file=sys.stderr)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} not listening on 127.0.0.1:{port} after {timeout}s")


# -------------------------------------------------------------------- /proc

def proc_cpu(pid):
    """(utime, stime) in seconds of one process (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def group_cpu(pids):
    u = s = 0.0
    for pid in pids:
        try:
            a, b = proc_cpu(pid)
        except OSError:
            continue
        u += a
        s += b
    return u, s


def thread_cpu(pid):
    """{thread name: utime+stime seconds} summed by name."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def all_cpu():
    """{pid: (comm, utime+stime seconds)} of every process on the machine."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        out[int(d)] = (raw[raw.index("(") + 1:raw.rindex(")")], (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def top_others(before, after, exclude, n=3):
    """The processes outside `exclude` that took the most CPU between two
    all_cpu() snapshots (processes that came and went in between are not
    seen)."""
    gained = []
    for pid, (comm, cpu) in after.items():
        if pid in exclude:
            continue
        d = cpu - before.get(pid, (comm, 0.0))[1]
        if d >= 0.05:
            gained.append((d, f"{comm}[{pid}]"))
    return [f"{name} {d:.2f}s" for d, name in sorted(gained, reverse=True)[:n]]


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def system_cpu():
    """(busy, total, user+nice+system, steal) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])  # guest time is already in user
    idle = v[3] + v[4]
    return total - idle, total, v[0] + v[1] + v[2], v[7]


class ForeignWatch:
    """Samples, while the load runs, whether another 'redeye run' exists:
    its probes would trace this benchmark's nginx and wrk too."""

    def __init__(self, own):
        self.own = own
        self.seen = {}
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop_ev.is_set():
            for pid, cmd in other_agents(self.own):
                self.seen[pid] = cmd
            self.stop_ev.wait(0.5)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(5)


def other_agents(own=frozenset()):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) in own or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                comm = f.read().strip()
            if comm != "redeye":
                continue
            with open(f"/proc/{d}/cmdline") as f:
                args = f.read().split("\0")
        except OSError:
            continue
        if len(args) > 1 and args[1] == "run":
            out.append((int(d), " ".join(a for a in args if a)))
    return out


def fdinfo_ids(pid, field):
    """The values of `field:` (prog_id, map_id) over the fds the process holds."""
    ids = set()
    fdinfo = f"/proc/{pid}/fdinfo"
    prefix = field + ":"
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith(prefix):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def bpf_prog_ids(pid):
    """Ids of the BPF programs the process holds an fd of."""
    return fdinfo_ids(pid, "prog_id")


def bpf_snapshot(pid):
    """{prog id: (name, run_cnt, run_time_ns)} for the agent's programs."""
    ids = bpf_prog_ids(pid)
    out = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    snap = {}
    for p in json.loads(out):
        if p.get("id") in ids:
            snap[p["id"]] = (p.get("name", "?"), p.get("run_cnt", 0), p.get("run_time_ns", 0))
    return snap


# ---------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"unknown wrk duration {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out):
    r = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", out, re.M)
    if not m:
        raise RuntimeError("wrk output has no 'requests in' line:\n" + out)
    r["requests"] = int(m.group(1))
    r["elapsed_s"] = parse_duration(m.group(2) + m.group(3))
    m = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    r["rps"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+(\S+)", out, re.M)
        r[f"p{pct}_s"] = parse_duration(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    return r


# -------------------------------------------------------------------- agent

def http_get(port, path, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_sum(text, name, **labels):
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = _SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        got = dict(_LABEL.findall(m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


class Agent:
    def __init__(self, children, binary, extra_args, workdir, n):
        self.children = children
        self.port = free_port()
        self.argv = [binary, "run", "--listen", f"127.0.0.1:{self.port}", *extra_args]
        self.log_path = os.path.join(workdir, f"agent-{n}.log")
        self.proc = None

    def start(self, timeout=60):
        with open(self.log_path, "w") as logf:
            self.proc = self.children.start(self.argv, stdout=logf, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if http_get(self.port, "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"agent not ready after {timeout}s:\n{self.tail()}")

    def metrics(self):
        status, body = http_get(self.port, "/metrics", timeout=10)
        if status != 200:
            raise RuntimeError(f"agent /metrics answered {status}")
        return body

    def service_requests(self, service, text=None):
        """The agent's count of requests served by one service (the sum of
        its http_server_request_duration_seconds_count series)."""
        return metric_sum(text or self.metrics(), "http_server_request_duration_seconds_count",
                          service_name=service)

    def nginx_requests(self, text=None):
        return self.service_requests("nginx", text)

    def lost(self, text=None):
        return metric_sum(text or self.metrics(), "redeye_events_lost_total")

    def settle(self, timeout=15.0, service="nginx"):
        """Waits until the agent's count of the service's requests stops
        moving: it collects every second and drains the ring buffer behind
        the load."""
        start = time.monotonic()
        last, same = None, 0
        while time.monotonic() - start < timeout:
            text = self.metrics()
            n = self.service_requests(service, text)
            same = same + 1 if n == last else 0
            last = n
            if same >= 3 and time.monotonic() - start >= 1.5:
                return text, time.monotonic() - start
            time.sleep(0.5)
        return text, time.monotonic() - start

    def tail(self, n=20):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        rc = Children.stop(self.proc, timeout=15)
        if rc not in (0, -signal.SIGTERM):
            log(f"warning: agent exited with {rc} on SIGTERM:\n{self.tail()}")
        return rc


# ------------------------------------------------------------------- rounds

def run_wrk(args, port, duration, children):
    argv = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s", "--latency",
            f"http://127.0.0.1:{port}/"]
    p = children.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                       text=True)
    timer = threading.Timer(duration + 30, lambda: Children.stop(p, timeout=2))
    timer.start()
    try:
        out, err = p.communicate()
    finally:
        timer.cancel()
    if p.returncode != 0:
        raise RuntimeError(f"wrk exited with {p.returncode}: {err.strip()}")
    return parse_wrk(out), out


def wait_for_quiet(args, limit):
    """Waits, at most limit seconds, until no other 'redeye run' exists (its
    probes would trace nginx and wrk in the A rounds too) and the machine
    is idle but for at most --max-others % of its CPUs over 2 s. Returns
    the seconds waited."""
    start = time.monotonic()
    said = set()
    while True:
        others = [] if args.allow_other_agents else other_agents()
        if not others:
            before, b0 = all_cpu(), system_cpu()
            time.sleep(2)
            after, b1 = all_cpu(), system_cpu()
            busy = 100.0 * (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
            if busy <= args.max_others:
                return time.monotonic() - start
            why = (f"the machine is {busy:.0f} % busy ("
                   + (", ".join(top_others(before, after, {os.getpid()})) or "short-lived processes") + ")")
            key = "busy"
        else:
            why = f"another redeye agent is running (pid {others[0][0]}: {others[0][1]})"
            key = others[0][0]
        if time.monotonic() - start >= limit:
            raise RuntimeError(f"gave up waiting for a quiet machine after {time.monotonic() - start:.0f}s: "
                               f"{why}; stop it, or see --wait-others, --max-others, --allow-other-agents")
        if key not in said:
            said.add(key)
            log(f"{why}; waiting (at most {max(0, limit - (time.monotonic() - start)):.0f}s more in all)")
        time.sleep(1)



def med(rounds, key):
    vals = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(vals) if vals else None



def fmt_lat(sec):
    if sec is None:
        return "?"
    return f"{sec * 1e6:.0f} µs" if sec < 1e-3 else f"{sec * 1e3:.2f} ms"


def build_type(agent):
    """The optimisation flags the agent's own sources were compiled with,
    from compile_commands.json beside the binary."""
    path = os.path.join(os.path.dirname(os.path.abspath(agent)), "compile_commands.json")
    try:
        with open(path) as f:
            for entry in json.load(f):
                if "/userspace/" in entry.get("file", ""):
                    cmd = entry.get("command") or " ".join(entry.get("arguments", []))
                    flags = sorted(set(re.findall(r"(?<!\S)-O\w*", cmd)))
                    return " ".join(flags) or "no -O flag"
    except (OSError, ValueError):
        pass
    return "unknown flags"


def machine_info(args):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 1024 / 1024
    try:
        nginx_v = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    except OSError:  # a benchmark without nginx (node_peer)
        nginx_v = "?"
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    wrk_v = (wrk_v.stdout + wrk_v.stderr).split()[1] if (wrk_v.stdout + wrk_v.stderr).split()[1:] else "?"
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "--",
                                "bpf", "userspace", "exporters", "cmake", "CMakeLists.txt"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        rev = rev + (" (with uncommitted changes to the agent's sources)" if dirty else "")
        head_time = int(subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%ct"], capture_output=True,
                                       text=True, timeout=10).stdout.strip() or 0)
        if args.agent_mtime < head_time:
            rev += ", but the binary is older than that commit: rebuild to measure it"
    except (OSError, ValueError, subprocess.TimeoutExpired):
        rev = "?"
    return {
        "nproc": os.cpu_count(),
        "kernel": os.uname().release,
        "cpu": cpu,
        "mem_gib": mem_gib,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nginx": nginx_v,
        "wrk": wrk_v,
        "commit": rev or "?",
        "loadavg": getattr(args, "loadavg", "?"),
        "agent": os.path.relpath(os.path.abspath(args.agent), ROOT),
        "agent_built": datetime.datetime.fromtimestamp(args.agent_mtime, datetime.timezone.utc)
                       .strftime("%Y-%m-%d %H:%M UTC"),
        "build_type": build_type(args.agent),
    }


def write_section(path, name, body):
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body}\n{end}\n"
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    else:
        text = ("# Benchmarks\n\nFigures measured on a real machine by the scripts in `scripts/bench/`. "
                "Each section is written by its script, between its markers; rerun the script to refresh "
                "it, and edit nothing between the markers by hand.\n\n")
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ------------------------------------------------- added for the whole suite

def start_nginx(children, workdir, worker_connections=1024, rlimit=4096):
    """nginx (2 workers, `return 200 "hello\\n"`, no access log) on a free
    loopback port, in its own directory under workdir. Returns the Popen
    with .port and .workers set."""
    ndir = os.path.join(workdir, "nginx")
    os.makedirs(ndir, exist_ok=True)
    port = free_port()
    with open(os.path.join(ndir, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=ndir, port=port, worker_connections=worker_connections, rlimit=rlimit))
    nginx = children.start(["nginx", "-c", os.path.join(ndir, "nginx.conf"), "-p", ndir],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(ndir, "stderr.log"), "w"),
                           stdin=subprocess.DEVNULL)
    nginx.port = port
    wait_port(port, nginx, 15, "nginx")
    nginx.workers = children_of(nginx.pid)
    log(f"nginx pid {nginx.pid} (workers {nginx.workers}) on 127.0.0.1:{port}")
    return nginx


def nginx_pids(nginx):
    return [nginx.pid] + children_of(nginx.pid)


def bpf_map_ids(pid):
    """Ids of the BPF maps the process holds an fd of."""
    return fdinfo_ids(pid, "map_id")


def bpf_map_memory(pid):
    """(bytes, number of maps) of kernel memory charged to the agent's BPF
    maps: the sum of `bytes_memlock` over the maps it holds (ring buffers
    included), from `bpftool map show --json`. None when bpftool is missing."""
    if shutil.which("bpftool") is None:
        return None
    ids = bpf_map_ids(pid)
    out = subprocess.run(["bpftool", "map", "show", "--json"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    total = n = 0
    for m in json.loads(out):
        if m.get("id") in ids:
            total += int(m.get("bytes_memlock", 0))
            n += 1
    return total, n


def metric_by_label(text, name, label):
    """{label value: sample value} of one metric."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = _SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        got = dict(_LABEL.findall(m.group(2) or ""))
        out[got.get(label, "")] = out.get(got.get(label, ""), 0.0) + float(m.group(3))
    return out


def healthz_latency(port, timeout=5):
    """Seconds for one GET /healthz of the agent, or None when it did not
    answer 200 within timeout."""
    t0 = time.monotonic()
    try:
        status, _ = http_get(port, "/healthz", timeout=timeout)
    except OSError:
        return None
    return time.monotonic() - t0 if status == 200 else None


class Sampler:
    """Calls fn() every period seconds on a thread while in the with block;
    the results are in .values (None results included)."""

    def __init__(self, fn, period):
        self.fn, self.period = fn, period
        self.values = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while not self.stop_ev.is_set():
            try:
                self.values.append(self.fn())
            except Exception:  # a failed sample is a None sample
                self.values.append(None)
            self.stop_ev.wait(self.period)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(15)


def percentile(sorted_vals, pct):
    """Linear interpolation between closest ranks; sorted_vals ascending."""
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def run_hey(children, port, workers, qps_per_worker, duration, workdir):
    """hey at a fixed rate: `workers` workers each sending at most
    `qps_per_worker` requests/s (keep-alive), for duration seconds. The
    per-request CSV (response times in seconds, 0.1 ms resolution) gives
    exact percentiles. Returns a dict; hey's own CPU is in rusage."""
    csv_path = os.path.join(workdir, "hey.csv")
    argv = ["hey", "-z", f"{duration}s", "-c", str(workers), "-q", str(qps_per_worker), "-o", "csv",
            f"http://127.0.0.1:{port}/"]
    ru0 = os.times()
    with open(csv_path, "w") as out:
        p = children.start(argv, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        timer = threading.Timer(duration + 60, lambda: Children.stop(p, timeout=2))
        timer.start()
        try:
            _, err = p.communicate()
        finally:
            timer.cancel()
    ru1 = os.times()
    if p.returncode != 0:
        raise RuntimeError(f"hey exited with {p.returncode}: {err.strip()}")
    lat, ok, bad, last_offset = [], 0, 0, 0.0
    with open(csv_path) as f:
        next(f, None)
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 8:
                continue
            if parts[6] == "200":
                ok += 1
                lat.append(float(parts[0]))
            else:
                bad += 1
            last_offset = max(last_offset, float(parts[7]))
    os.unlink(csv_path)
    lat.sort()
    elapsed = max(last_offset, 1e-9)
    return {"requests": ok, "errors": bad, "elapsed_s": elapsed, "rps": ok / elapsed,
            "offered_rps": workers * qps_per_worker,
            "p50_s": percentile(lat, 50), "p90_s": percentile(lat, 90), "p99_s": percentile(lat, 99),
            "max_s": lat[-1] if lat else None,
            "hey_user_s": ru1.children_user - ru0.children_user,
            "hey_sys_s": ru1.children_system - ru0.children_system}


def add_common_args(p, docs=True):
    p.add_argument("--agent", default=os.path.join(ROOT, "build", "redeye"),
                   help="agent binary (default build/redeye)")
    p.add_argument("--agent-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for 'redeye run', repeatable (default: none, default settings)")
    if docs:
        p.add_argument("--docs", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                       help="markdown file whose section is (re)written (default docs/benchmarks.md)")
        p.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    p.add_argument("--json", metavar="FILE", help="also write the raw figures to FILE")
    p.add_argument("--allow-other-agents", action="store_true",
                   help="run even when another 'redeye run' is running (its probes would trace this "
                        "benchmark's processes too)")
    p.add_argument("--wait-others", type=float, default=120,
                   help="seconds in all to wait for other 'redeye run' processes to end and the machine to "
                        "be idle (see --max-others) (default 120)")
    p.add_argument("--max-others", type=float, default=10,
                   help="a round starts only when the machine is at most this %% busy (default 10; 100 "
                        "never waits)")
    p.add_argument("--leave-bpf-stats", action="store_true",
                   help="leave kernel.bpf_stats_enabled as it is (by default it is turned off for the run and "
                        "restored after: with it on, every BPF program run also times itself)")
    p.add_argument("--workdir", help=argparse.SUPPRESS)


def add_compare_args(p):
    """--compare-agent / --compare-agent-arg: a third kind of round, C, with
    another agent binary (e.g. the previous release), interleaved with A and
    B (A B C A B C ...) so that a before/after comparison is made on the same
    machine at the same time."""
    p.add_argument("--compare-agent", metavar="PATH",
                   help="another agent binary (e.g. the previous release) for a third kind of round, C, "
                        "interleaved with A and B (A B C A B C ...); its figures are reported in an extra "
                        "column and decide no target")
    p.add_argument("--compare-agent-arg", action="append", metavar="ARG",
                   help="extra argument for the C rounds' 'redeye run', repeatable (default: the same as "
                        "--agent-arg); e.g. --compare-agent build/redeye --compare-agent-arg=--capture "
                        "--compare-agent-arg=syscalls compares the fallback capture with the default one")


def repo_path(path):
    """path relative to the repository root when it is inside it (for reproduce commands), else as given."""
    rel = os.path.relpath(os.path.abspath(path), ROOT)
    return path if rel.startswith("..") else rel


def check_compare_args(p, args):
    if args.compare_agent_arg is not None and not args.compare_agent:
        p.error("--compare-agent-arg needs --compare-agent")
    if args.compare_agent:
        if not os.access(args.compare_agent, os.X_OK):
            p.error(f"--compare-agent {args.compare_agent}: not an executable file")
        if args.compare_agent_arg is None:
            args.compare_agent_arg = list(args.agent_arg)
        built = datetime.datetime.fromtimestamp(os.path.getmtime(args.compare_agent), datetime.timezone.utc)
        label = os.path.relpath(os.path.abspath(args.compare_agent), ROOT)
        args.compare_label = (f"{label} run " + " ".join(args.compare_agent_arg) if args.compare_agent_arg
                              else f"{label} run").strip() + f" (built {built:%Y-%m-%d %H:%M UTC})"
    else:
        args.compare_label = None


class Session:
    """One benchmark run: a work directory, the children, signals turned
    into Interrupted, a hard time limit, a private copy of the agent binary
    (so that a rebuild of build/ during the run does not change what is
    measured) and kernel.bpf_stats_enabled off (restored after)."""

    def __init__(self, name, args, budget_s):
        self.name, self.args, self.budget = name, args, int(budget_s)
        self.own_workdir = args.workdir is None
        self.workdir = args.workdir or tempfile.mkdtemp(prefix=f"redeye-bench-{name}.")
        self.children = Children(self.workdir)
        self.saved_stats = None
        self.waited = 0.0

    def __enter__(self):
        def on_signal(signum, _frame):
            raise Interrupted(f"signal {signum}")

        def on_alarm(_signum, _frame):
            raise Interrupted(f"time limit of {self.budget}s")

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(self.budget)
        args = self.args
        if not os.access(args.agent, os.X_OK):
            raise RuntimeError(f"no agent binary at {args.agent}; build it: make -C build -j2")
        with open("/proc/loadavg") as f:
            args.loadavg = f.read().split()[0]
        args.agent_mtime = os.path.getmtime(args.agent)
        args.agent_original = args.agent
        self.binary = os.path.join(self.workdir, "redeye")
        shutil.copy2(args.agent, self.binary)
        self.compare_binary = None
        if getattr(args, "compare_agent", None):
            # its own directory: the process name stays "redeye" (other_agents() and the agent's own checks)
            os.makedirs(os.path.join(self.workdir, "compare"), exist_ok=True)
            self.compare_binary = os.path.join(self.workdir, "compare", "redeye")
            shutil.copy2(args.compare_agent, self.compare_binary)
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            current = f.read().strip()
        if current != "0" and self.args.leave_bpf_stats:
            log(f"kernel.bpf_stats_enabled is {current} (left as it is): the agent's BPF programs also time "
                "themselves, so its costs are overstated")
        elif current != "0":
            self.saved_stats = current
            with open(os.path.join(self.workdir, "bpf_stats_enabled.saved"), "w") as f:
                f.write(current)
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write("0")
            log(f"kernel.bpf_stats_enabled was {current}, set to 0 for this run (restored at the end)")
        return self

    def agent(self, n, extra=()):
        return Agent(self.children, self.binary, [*self.args.agent_arg, *extra], self.workdir, n)

    def compare_agent(self, n, extra=()):
        """The --compare-agent binary, for a C round."""
        return Agent(self.children, self.compare_binary, [*self.args.compare_agent_arg, *extra], self.workdir,
                     f"C{n}")

    def wait_quiet(self):
        self.waited += wait_for_quiet(self.args, self.args.wait_others - self.waited)

    def __exit__(self, *exc):
        signal.alarm(0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        self.children.stop_all()
        if self.saved_stats is not None:
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write(self.saved_stats)
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        return False


def targets_comment(rows):
    """The machine-readable rows a section contributes to the summary table
    at the top of docs/benchmarks.md (read by report.py): each
    {"key", "figure", "target", "measured", "met"} with met true, false or
    null (no target, or not decided by this run)."""
    return "<!-- targets: " + json.dumps(rows, ensure_ascii=False).replace("--", "\\u002d\\u002d") + " -->"


def targets_table(rows):
    lines = ["| figure | target | measured | met? |", "|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: "–"}[r["met"]]
        lines.append(f"| {r['figure']} | {r['target']} | {r['measured']} | {met} |")
    return lines


def machine_lines(info, cmd):
    return [f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['mem_gib']:.0f} GiB, kernel {info['kernel']}; "
            f"load average {info['loadavg']} before the run",
            f"- Date: {info['date']}; agent `{info['agent']}` built {info['agent_built']} (userspace compiled "
            f"with {info['build_type']}), HEAD {info['commit']}",
            f"- Command (as root, from the repository root): `{cmd}`"]


def finish(args, name, body, raw):
    """Writes the raw figures (--json) and the docs section (unless --no-docs)."""
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1, default=str)
    if not args.no_docs:
        write_section(args.docs, name, body)
        refresh_summary(args.docs)
        log(f"wrote section '{name}' of {os.path.relpath(args.docs, ROOT)} and its summary")


def refresh_summary(path):
    """Rebuilds the summary table at the top of the docs (report.py) from
    the rows of every section, so that one benchmark run alone keeps the
    document coherent."""
    import report  # here, not at the top: report imports this module
    report.rewrite(path)


def main_guard(name, main):
    """Runs main() and maps the usual failures to one line and an exit code."""
    try:
        sys.exit(main())
    except Interrupted as e:
        print(f"{name}: interrupted ({e})", file=sys.stderr)
        sys.exit(130)
    except RuntimeError as e:
        print(f"{name}: {e}", file=sys.stderr)
        sys.exit(1)
