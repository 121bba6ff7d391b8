#!/usr/bin/env python3
"""The agent beside a peer: a Node.js HTTP server under wrk keep-alive load
at saturation, in three configurations measured in the same run:

  (a) bare: node's own `http` module, one handler answering 200 "hello\\n"
      (scripts/bench/node_peer/server.js);
  (b) the same server with the OpenTelemetry JavaScript SDK, as the
      operators' plan proposes it (scripts/bench/node_peer/otel.js, loaded
      with `node --require`): @opentelemetry/sdk-node with
      @opentelemetry/instrumentation-http, metrics by
      @opentelemetry/exporter-prometheus on a port of its own, spans recorded
      for every request and dropped by the SDK's NoopSpanProcessor (no trace
      exporter);
  (c) the bare server of (a) under `redeye run` (default settings, started
      fresh before each round), whose count of the node service's requests is
      checked against wrk's.

Rounds interleave a b c a b c ..., so slow drifts of the machine hit the
three alike. Per round: wrk's requests/s, p50 and p99; the server's, wrk's
and the machine's CPU; in (b) the SDK's own request count, in (c) the
agent's count, lost events, CPU and peak RSS. The SDK's npm packages are
pinned in scripts/bench/node_peer/package-lock.json and installed by this
script (`npm ci`) into --npm-dir.

Run it through node_peer.sh. Python 3 standard library only.
"""
import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK_TCK, ROOT, Children, ForeignWatch, Session, add_common_args, all_cpu, finish,  # noqa: E402
                      fmt_lat, free_port, http_get, log, machine_info, machine_lines, main_guard, med,
                      metric_by_label, metric_sum, proc_cpu, run_wrk, status_kb, system_cpu, targets_comment,
                      targets_table, thread_cpu, top_others, wait_port)

SECTION = "node_peer"
HERE = os.path.dirname(os.path.abspath(__file__))
PEER_DIR = os.path.join(HERE, "node_peer")
NPM_FILES = ("package.json", "package-lock.json", ".npmrc", "otel.js")
KINDS = ("a", "b", "c")
NAMES = {"a": "(a) bare Node.js", "b": "(b) OpenTelemetry SDK", "c": "(c) redeye"}
TARGET_CPU_PER_10K = 0.05


# ------------------------------------------------------------------ set-up

def lock_digest():
    h = hashlib.sha256()
    for name in NPM_FILES:
        with open(os.path.join(PEER_DIR, name), "rb") as f:
            h.update(name.encode() + b"\0" + f.read() + b"\0")
    h.update(subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.encode())
    return h.hexdigest()


def install_sdk(args, sess):
    """Installs the pinned packages (`npm ci`, from package-lock.json) into
    --npm-dir, unless the same lock file is installed there already; falls
    back to the work directory when --npm-dir cannot be written. Returns the
    directory (otel.js is in it, beside its node_modules)."""
    dest = args.npm_dir
    try:
        os.makedirs(dest, exist_ok=True)
        probe = os.path.join(dest, ".write-test")
        open(probe, "w").close()
        os.unlink(probe)
    except OSError as e:
        log(f"cannot write {dest} ({e}); installing the npm packages into the work directory instead")
        dest = os.path.join(sess.workdir, "node_peer")
        os.makedirs(dest, exist_ok=True)
    digest = lock_digest()
    stamp = os.path.join(dest, ".installed")
    try:
        with open(stamp) as f:
            if f.read().strip() == digest and os.path.isdir(os.path.join(dest, "node_modules", "@opentelemetry")):
                log(f"OpenTelemetry SDK packages already installed in {os.path.relpath(dest, ROOT)} (same lock file)")
                return dest
    except OSError:
        pass
    for name in NPM_FILES:
        shutil.copy2(os.path.join(PEER_DIR, name), os.path.join(dest, name))
    shutil.rmtree(os.path.join(dest, "node_modules"), ignore_errors=True)
    if os.path.exists(stamp):
        os.unlink(stamp)
    log(f"npm ci (pinned OpenTelemetry SDK packages) into {os.path.relpath(dest, ROOT)}")
    t0 = time.monotonic()
    npm_log = os.path.join(sess.workdir, "npm.log")
    with open(npm_log, "w") as out:
        p = sess.children.start(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--omit=dev"],
                                cwd=dest, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            rc = p.wait(args.npm_timeout)
        except subprocess.TimeoutExpired:
            Children.stop(p, timeout=5)
            rc = "timeout"
    if rc != 0:
        with open(npm_log) as f:
            tail = "".join(f.readlines()[-15:])
        raise RuntimeError(f"npm ci in {dest} failed ({rc}):\n{tail}")
    with open(stamp, "w") as f:
        f.write(digest + "\n")
    log(f"npm ci done in {time.monotonic() - t0:.0f}s")
    return dest


def clean_env():
    """The environment for node: none of the caller's OTEL_* or NODE_*
    settings, so that (b) is the SDK as otel.js configures it."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("OTEL_") and k not in ("NODE_OPTIONS", "NODE_PATH")}


def start_node(sess, kind, npm_dir):
    """The server of configuration kind ('a' bare, 'b' with the SDK) on a free
    loopback port. Returns the Popen with .port (and .metrics_port for b)."""
    port = free_port()
    env = clean_env()
    argv = ["node"]
    if kind == "b":
        metrics_port = free_port()
        env["OTEL_PEER_METRICS_PORT"] = str(metrics_port)
        argv += ["--require", os.path.join(npm_dir, "otel.js")]
    argv += [os.path.join(PEER_DIR, "server.js"), str(port)]
    logf = open(os.path.join(sess.workdir, f"node-{kind}.log"), "w")
    p = sess.children.start(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    p.port = port
    p.kind = kind
    p.log_path = logf.name
    try:
        wait_port(port, p, 30, f"node server ({NAMES[kind]})")
        if kind == "b":
            p.metrics_port = metrics_port
            wait_port(metrics_port, p, 30, "the OpenTelemetry Prometheus exporter")
    except RuntimeError as e:
        with open(p.log_path) as f:
            raise RuntimeError(f"{e}:\n{f.read()[-2000:]}")
    log(f"node {NAMES[kind]}: pid {p.pid} on 127.0.0.1:{port}"
        + (f", SDK metrics on 127.0.0.1:{p.metrics_port}/metrics" if kind == "b" else ""))
    return p


def sdk_requests(server):
    """The SDK's own count of the requests it instrumented: the sum of its
    request-duration histogram's _count series (stable HTTP semantic
    conventions; the old http.server.duration name as a fallback)."""
    status, text = http_get(server.metrics_port, "/metrics", timeout=10)
    if status != 200:
        raise RuntimeError(f"the SDK's /metrics answered {status}")
    for name in ("http_server_request_duration_count", "http_server_request_duration_seconds_count",
                 "http_server_duration_count", "http_server_duration_milliseconds_count"):
        if any(line.startswith(name + "{") or line.startswith(name + " ") for line in text.splitlines()):
            return metric_sum(text, name)
    return 0.0


# ------------------------------------------------------------------ rounds

def run_round(args, sess, kind, n, server):
    r = {"kind": kind, "round": n}
    agent = None
    try:
        if kind == "c":
            agent = sess.agent(n)
            t0 = time.monotonic()
            agent.start()
            r["agent_ready_s"] = time.monotonic() - t0
            text = agent.metrics()
            base_count, base_lost = agent.service_requests(args.service, text), agent.lost(text)
        if kind == "b":
            base_sdk = sdk_requests(server)
        time.sleep(args.pause)
        own = frozenset([agent.proc.pid]) if agent else frozenset()
        nd0 = proc_cpu(server.pid)
        sys0 = system_cpu()
        if agent:
            ag0 = proc_cpu(agent.proc.pid)
            th0 = thread_cpu(agent.proc.pid)
        every0 = all_cpu()
        ru0 = os.times()
        with ForeignWatch(own) as watch:
            wrk, _ = run_wrk(args, server.port, args.duration, sess.children)
        ru1 = os.times()
        sys1 = system_cpu()
        nd1 = proc_cpu(server.pid)
        if agent:
            ag1 = proc_cpu(agent.proc.pid)
        r["top_others"] = top_others(every0, all_cpu(), {server.pid, os.getpid()} | set(own))
        r["foreign_agents"] = sorted(watch.seen.values())
        r.update(wrk)
        r["wrk_user_s"] = ru1.children_user - ru0.children_user
        r["wrk_sys_s"] = ru1.children_system - ru0.children_system
        r["node_user_s"] = nd1[0] - nd0[0]
        r["node_sys_s"] = nd1[1] - nd0[1]
        r["machine_busy_pct"] = 100.0 * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1])
        r["steal_pct"] = 100.0 * (sys1[3] - sys0[3]) / max(1, sys1[1] - sys0[1])
        ours = r["wrk_user_s"] + r["wrk_sys_s"] + r["node_user_s"] + r["node_sys_s"]
        if agent:
            ours += sum(ag1) - sum(ag0)
        # user+system CPU of every other process on the machine, in % of all CPUs
        r["others_pct"] = max(0.0, 100.0 * ((sys1[2] - sys0[2]) / CLK_TCK - ours)
                              / max(1e-9, (sys1[1] - sys0[1]) / CLK_TCK))
        if kind == "b":
            r["sdk_count"] = int(sdk_requests(server) - base_sdk)
        if agent:
            pid = agent.proc.pid
            text, r["settle_s"] = agent.settle(service=args.service)
            ag2 = proc_cpu(pid)
            th2 = thread_cpu(pid)
            r["agent_user_s"] = ag1[0] - ag0[0]
            r["agent_sys_s"] = ag1[1] - ag0[1]
            r["agent_cpu_s"] = r["agent_user_s"] + r["agent_sys_s"]
            r["agent_cpu_with_settle_s"] = sum(ag2) - sum(ag0)
            r["agent_threads_cpu_s"] = {k: round(v - th0.get(k, 0.0), 3) for k, v in th2.items()
                                        if v - th0.get(k, 0.0) > 0}
            r["agent_hwm_kb"] = status_kb(pid, "VmHWM")
            r["agent_count"] = int(agent.service_requests(args.service, text) - base_count)
            r["agent_lost"] = int(agent.lost(text) - base_lost)
            if r["agent_count"] == 0:
                # the wrong service name? say which services the agent did see
                seen = metric_by_label(text, "http_server_request_duration_seconds_count", "service_name")
                r["agent_services_seen"] = {k: int(v) for k, v in seen.items() if v}
            r["agent_exit"] = agent.stop()
            agent = None
        return r
    finally:
        if agent:
            agent.stop()


def disturbed(args, r):
    if r["foreign_agents"] and not args.allow_other_agents:
        return f"another agent ran during it ({r['foreign_agents'][0]})"
    if r["others_pct"] > args.max_others:
        return (f"other processes took {r['others_pct']:.0f} % of the CPUs ("
                + (", ".join(r["top_others"]) or "short-lived ones") + ")")
    return None


def round_message(r):
    msg = (f"round {r['round']} {NAMES[r['kind']]}: {r['rps']:.0f} req/s, p50 {fmt_lat(r['p50_s'])}, "
           f"p99 {fmt_lat(r['p99_s'])}, machine {r['machine_busy_pct']:.0f} % busy")
    if r["kind"] == "b":
        msg += f"; SDK counted {r['sdk_count']}/{r['requests']}"
    if r["kind"] == "c":
        msg += (f"; agent {r['agent_cpu_s']:.2f} CPU s, VmHWM {r['agent_hwm_kb'] / 1024:.1f} MiB, "
                f"counted {r['agent_count']}/{r['requests']}, lost {r['agent_lost']}, "
                f"ready in {r['agent_ready_s']:.1f}s")
        if r.get("agent_services_seen") is not None:
            msg += f"; WARNING: nothing counted for service {r.get('service')!r}; the agent saw " + (
                ", ".join(f"{k} {v}" for k, v in r["agent_services_seen"].items()) or "no HTTP server at all")
    if r["others_pct"] > 5:
        msg += (f"; WARNING: other processes took {r['others_pct']:.0f} % of the CPUs ("
                + (", ".join(r["top_others"]) or "none seen") + ")")
    return msg


# ------------------------------------------------------------------ summary

def summarize(args, rounds):
    by = {k: [r for r in rounds if r["kind"] == k] for k in KINDS}
    s = {"kinds": {}}
    for k in KINDS:
        rs = by[k]
        req = sum(r["requests"] for r in rs)
        x = {"rps": med(rs, "rps"), "p50_s": med(rs, "p50_s"), "p99_s": med(rs, "p99_s"),
             "requests": req,
             "rps_min": min(r["rps"] for r in rs), "rps_max": max(r["rps"] for r in rs),
             "node_user_us": 1e6 * sum(r["node_user_s"] for r in rs) / req,
             "node_sys_us": 1e6 * sum(r["node_sys_s"] for r in rs) / req,
             "wrk_us": 1e6 * sum(r["wrk_user_s"] + r["wrk_sys_s"] for r in rs) / req,
             "busy": med(rs, "machine_busy_pct"),
             "errors": sum(r["socket_errors"] + r["non_2xx"] for r in rs)}
        x["spread_pct"] = 100.0 * (x["rps_max"] - x["rps_min"]) / x["rps"]
        s["kinds"][k] = x
    a = s["kinds"]["a"]
    for k in ("b", "c"):
        x = s["kinds"][k]
        x["loss_pct"] = 100.0 * (1 - x["rps"] / a["rps"])
        pairs = [100.0 * (1 - rk["rps"] / ra["rps"]) for ra, rk in zip(by["a"], by[k])]
        x["pair_loss_min"], x["pair_loss_max"] = min(pairs), max(pairs)
        x["separated"] = max(r["rps"] for r in by[k]) < min(r["rps"] for r in by["a"])
        x["p99_pct"] = 100.0 * (x["p99_s"] / a["p99_s"] - 1) if a["p99_s"] else None
    b, c = s["kinds"]["b"], s["kinds"]["c"]
    b["sdk_counted"] = sum(r["sdk_count"] for r in by["b"])
    cr = by["c"]
    c["agent_cpu_per_10k"] = 1e4 * sum(r["agent_cpu_s"] for r in cr) / c["requests"]
    c["agent_cpu_with_settle_per_10k"] = 1e4 * sum(r["agent_cpu_with_settle_s"] for r in cr) / c["requests"]
    c["agent_cpu_us_per_req"] = 100 * c["agent_cpu_per_10k"]
    c["agent_core_pct"] = 100.0 * sum(r["agent_cpu_s"] for r in cr) / sum(r["elapsed_s"] for r in cr)
    c["agent_hwm_mib"] = max(r["agent_hwm_kb"] for r in cr) / 1024
    c["counted"] = sum(r["agent_count"] for r in cr)
    c["counted_pct"] = 100.0 * c["counted"] / c["requests"]
    c["lost"] = sum(r["agent_lost"] for r in cr)
    # wrk may stop with one request per connection answered but not read
    c["all_counted"] = (c["lost"] == 0 and all(
        r["requests"] <= r["agent_count"] <= r["requests"] + args.connections for r in cr))
    s["others_max_pct"] = max(r["others_pct"] for r in rounds)
    s["steal_max_pct"] = max(r["steal_pct"] for r in rounds)
    return s


def target_rows(args, s):
    b, c = s["kinds"]["b"], s["kinds"]["c"]
    return [
        {"key": "peer_node_loss",
         "figure": "peer: Node.js under wrk, throughput loss vs bare: OpenTelemetry SDK / redeye",
         "target": "(reported)", "measured": f"SDK {b['loss_pct']:.1f} % / redeye {c['loss_pct']:.1f} %",
         "met": None},
        {"key": "peer_node_counted", "figure": "peer: Node.js requests counted by the agent / sent by wrk",
         "target": "all", "measured": f"{c['counted_pct']:.2f} %, events lost {c['lost']:,}",
         "met": c["all_counted"]},
        {"key": "peer_node_cpu", "figure": "peer: agent CPU per 10k Node.js requests",
         "target": f"≤ {TARGET_CPU_PER_10K} s", "measured": f"{c['agent_cpu_per_10k']:.3f} s",
         "met": c["agent_cpu_per_10k"] <= TARGET_CPU_PER_10K},
    ]


def reproduce_command(args):
    argv = ["scripts/bench/node_peer.sh", "--rounds", str(args.rounds), "--duration", str(args.duration),
            "--threads", str(args.threads), "--connections", str(args.connections)]
    for a in args.agent_arg:
        argv += ["--agent-arg", a]
    return shlex.join(argv)


def versions(npm_dir):
    out = {"node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()}
    for pkg in ("sdk-node", "instrumentation-http", "exporter-prometheus", "sdk-trace-base"):
        try:
            with open(os.path.join(npm_dir, "node_modules", "@opentelemetry", pkg, "package.json")) as f:
                out[pkg] = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            out[pkg] = "?"
    return out


def print_summary(args, rounds, s, cmd):
    print()
    print("round config                     req/s      p50      p99  node µs/req  counted/sent        busy %  others %")
    for r in rounds:
        counted = (f"SDK {r['sdk_count']}/{r['requests']}" if r["kind"] == "b" else
                   f"agent {r['agent_count']}/{r['requests']}" if r["kind"] == "c" else "")
        node_us = 1e6 * (r["node_user_s"] + r["node_sys_s"]) / max(1, r["requests"])
        print(f"{r['round']:5} {NAMES[r['kind']]:24} {r['rps']:9.0f} {fmt_lat(r['p50_s']):>8} {fmt_lat(r['p99_s']):>8}"
              f"  {node_us:11.1f}  {counted:18}  {r['machine_busy_pct']:6.1f}  {r['others_pct']:8.1f}")
    print()
    print(f"{'':24} {'req/s':>9} {'loss vs (a)':>12} {'p50':>8} {'p99':>8} {'p99 vs (a)':>11}")
    for k in KINDS:
        x = s["kinds"][k]
        loss = f"{x['loss_pct']:.1f} %" if k != "a" else ""
        p99 = f"{x['p99_pct']:+.1f} %" if k != "a" and x.get("p99_pct") is not None else ""
        print(f"{NAMES[k]:24} {x['rps']:9.0f} {loss:>12} {fmt_lat(x['p50_s']):>8} {fmt_lat(x['p99_s']):>8} {p99:>11}")
    for k in ("b", "c"):
        x = s["kinds"][k]
        print(f"{NAMES[k]} loss pairs {x['pair_loss_min']:.1f} .. {x['pair_loss_max']:.1f} %; "
              + ("every round slower than every (a) round" if x["separated"] else "its rounds overlap (a)'s"))
    print(f"(a) rounds spread {s['kinds']['a']['spread_pct']:.1f} %")
    b, c = s["kinds"]["b"], s["kinds"]["c"]
    print(f"SDK counted          {b['sdk_counted']} of {b['requests']} (its own http.server.request.duration count)")
    print(f"agent counted        {c['counted']} of {c['requests']} ({c['counted_pct']:.2f} %), events lost {c['lost']} "
          f"(service_name=\"{args.service}\")")
    print(f"agent CPU            {c['agent_cpu_per_10k']:.3f} s per 10k requests during load "
          f"({c['agent_cpu_us_per_req']:.2f} µs per request, {c['agent_core_pct']:.0f} % of one core); "
          f"{c['agent_cpu_with_settle_per_10k']:.3f} s with the drain; peak RSS {c['agent_hwm_mib']:.1f} MiB")
    print("node CPU per request " + "   ".join(
        f"{k} {s['kinds'][k]['node_user_us']:.1f} + {s['kinds'][k]['node_sys_us']:.1f} µs" for k in KINDS)
        + "  (user + sys)")
    print(f"other processes at most {s['others_max_pct']:.1f} %, steal at most {s['steal_max_pct']:.1f} % of the "
          "CPUs in a round")
    errors = sum(s["kinds"][k]["errors"] for k in KINDS)
    if errors:
        print(f"wrk errors           {errors} (socket errors + non-2xx)")
    for row in target_rows(args, s):
        met = {True: "MET", False: "NOT MET", None: "-"}[row["met"]]
        print(f"target {row['figure']}: {row['target']}: {met} ({row['measured']})")
    print(f"reproduce (as root, from the repository root): {cmd}")


METHOD = """\
How it is measured:

- **Server**: `scripts/bench/node_peer/server.js`, node's own `http`
  module, one process (one JavaScript thread), one handler that answers
  every request `200` with `hello\\n` (Content-Length set, keep-alive), on
  127.0.0.1. Configurations (a) and (c) run the same server process; (b) is
  a second process of the same file started with
  `node --require otel.js`.
- **(b) OpenTelemetry SDK** (`scripts/bench/node_peer/otel.js`): `NodeSDK`
  of `@opentelemetry/sdk-node` with `HttpInstrumentation` of
  `@opentelemetry/instrumentation-http` (default options: a server span per
  request with its attributes, the `http.server.request.duration`
  histogram, W3C trace-context and baggage propagators) and a
  `PrometheusExporter` of `@opentelemetry/exporter-prometheus` serving
  `/metrics` on a port of its own. No trace exporter: the SDK sets up a
  tracer provider only when it has a span processor, so it gets the SDK's
  `NoopSpanProcessor`; the default sampler (parent-based, always on) records
  every span and the processor drops it when it ends. This is the SDK's
  cheapest configuration that still traces every request: a real exporter
  (batch processor, serialisation, sending) costs more, so (b)'s loss is a
  lower bound for the plan. No log processor. The caller's `OTEL_*` and
  `NODE_OPTIONS` variables are not passed on. The SDK's `/metrics` is read
  before and after each (b) round, never during the load, and its count
  is checked against wrk's (row "requests counted").
- **(c) redeye**: `redeye run --listen 127.0.0.1:PORT` with default settings,
  started fresh before each (c) round and stopped after it, watching the
  bare server of (a). Counted is the increase of
  `http_server_request_duration_seconds_count{service_name="node"}`, read
  after it has been still for 1.5 s, against wrk's count; events lost is the
  increase of `redeye_events_lost_total`. The agent may count up to one
  request per connection more than wrk (answered while wrk shut down).
- **npm packages**: pinned in `scripts/bench/node_peer/package.json` and
  `package-lock.json` (no download addresses in it), installed by the
  script with `npm ci --ignore-scripts` into `build/bench-node-peer/` (or
  `--npm-dir`), reused while the lock file is unchanged.
- **Throughput**: wrk's `Requests/sec` for one round; median over the rounds
  of each configuration; loss = `1 - median(x) / median(a)`. "Pairs" is the
  loss of each round against the (a) round of the same triple; the (a)
  spread (`(max - min) / median`) is the machine's noise.
- **p50 / p99**: wrk's `--latency` distribution, median over the rounds.
- **node CPU per request**: `utime` and `stime` of the server process from
  `/proc/<pid>/stat` during the load, divided by wrk's count. In (b) the
  SDK's work is in the server's user time; in (c) the agent's BPF programs
  run inside the server's and wrk's syscalls and show as their system
  time.
- **Agent CPU per 10k requests**: `utime + stime` of the agent process
  during the load (and "with the drain", until its count stopped moving),
  summed over the (c) rounds and divided by wrk's count.
- Before each round the script waits until no other `redeye run` exists and
  the machine is idle (`--max-others`); a triple (a) (b) (c) in which
  another agent appeared or other processes took more than that share of
  the CPUs is run again. wrk, node and the agent share the 2 CPUs (no
  pinning); node runs the JavaScript on one thread, so the server can use
  about one core, and wrk takes most of the other."""


def section(args, s, info, cmd, rounds, vers):
    rows = target_rows(args, s)
    a, b, c = (s["kinds"][k] for k in KINDS)
    lines = [
        "## Peer: Node.js HTTP server, bare, with the OpenTelemetry SDK, and under redeye", "",
        "Written by `scripts/bench/node_peer.sh`; rerun it to refresh this section.", "",
        *machine_lines(info, cmd),
        f"- Software: Node.js {vers['node']}; `@opentelemetry/sdk-node` {vers['sdk-node']}, "
        f"`@opentelemetry/instrumentation-http` {vers['instrumentation-http']}, "
        f"`@opentelemetry/exporter-prometheus` {vers['exporter-prometheus']} (`sdk-trace-base` "
        f"{vers['sdk-trace-base']}); wrk {info['wrk']}",
        f"- Load: `wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency` keep-alive against "
        f"the Node.js server on 127.0.0.1; {args.rounds} round{'s' if args.rounds > 1 else ''} of each configuration, interleaved (a) (b) (c) "
        "(a) (b) (c) ...", "",
        *targets_table(rows), targets_comment(rows), "",
        f"| figure | {NAMES['a']} | {NAMES['b']} | {NAMES['c']} |",
        "|---|---|---|---|",
        f"| throughput, median of rounds | {a['rps']:,.0f} req/s | {b['rps']:,.0f} req/s | {c['rps']:,.0f} req/s |",
        f"| throughput loss vs (a) | | **{b['loss_pct']:.1f} %** (pairs {b['pair_loss_min']:.1f} to "
        f"{b['pair_loss_max']:.1f} %) | **{c['loss_pct']:.1f} %** (pairs {c['pair_loss_min']:.1f} to "
        f"{c['pair_loss_max']:.1f} %) |",
        f"| throughput spread of the rounds | {a['spread_pct']:.1f} % | {b['spread_pct']:.1f} % | "
        f"{c['spread_pct']:.1f} % |",
        f"| p50 latency, median of rounds | {fmt_lat(a['p50_s'])} | {fmt_lat(b['p50_s'])} | {fmt_lat(c['p50_s'])} |",
        f"| p99 latency, median of rounds | {fmt_lat(a['p99_s'])} | {fmt_lat(b['p99_s'])} "
        f"({b['p99_pct']:+.1f} %) | {fmt_lat(c['p99_s'])} ({c['p99_pct']:+.1f} %) |",
        f"| node CPU per request, user + sys | {a['node_user_us']:.1f} + {a['node_sys_us']:.1f} µs | "
        f"{b['node_user_us']:.1f} + {b['node_sys_us']:.1f} µs | {c['node_user_us']:.1f} + {c['node_sys_us']:.1f} µs |",
        f"| wrk CPU per request | {a['wrk_us']:.1f} µs | {b['wrk_us']:.1f} µs | {c['wrk_us']:.1f} µs |",
        f"| agent CPU per request (per 10k) | | | {c['agent_cpu_us_per_req']:.2f} µs ({c['agent_cpu_per_10k']:.3f} s; "
        f"{c['agent_core_pct']:.0f} % of one core; {c['agent_cpu_with_settle_per_10k']:.3f} s with the drain) |",
        f"| agent peak RSS (VmHWM) | | | {c['agent_hwm_mib']:.1f} MiB |",
        f"| requests counted / sent by wrk | | SDK: {b['sdk_counted']:,} / {b['requests']:,} | agent: "
        f"{c['counted']:,} / {c['requests']:,} ({c['counted_pct']:.2f} %); events lost {c['lost']:,} |",
        f"| machine CPU busy, median | {a['busy']:.0f} % | {b['busy']:.0f} % | {c['busy']:.0f} % |",
        "", f"CPU taken by other processes at most {s['others_max_pct']:.1f} %, stolen by the host at most "
        f"{s['steal_max_pct']:.1f} % of the CPUs in a round.", "",
        "Rounds:", "",
        "| round | configuration | req/s | p50 | p99 | counted / sent |", "|---|---|---|---|---|---|"]
    for r in rounds:
        counted = (f"SDK {r['sdk_count']:,} / {r['requests']:,}" if r["kind"] == "b" else
                   f"agent {r['agent_count']:,} / {r['requests']:,}" if r["kind"] == "c" else "")
        lines.append(f"| {r['round']} | {NAMES[r['kind']]} | {r['rps']:,.0f} | {fmt_lat(r['p50_s'])} | "
                     f"{fmt_lat(r['p99_s'])} | {counted} |")
    lines += ["", METHOD]
    return "\n".join(lines)


# --------------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(prog="node_peer.sh", description=__doc__.split("\n\n")[0].replace("\n", " "))
    p.add_argument("--rounds", type=int, default=3, help="rounds of each configuration (default 3)")
    p.add_argument("--duration", type=int, default=10, help="seconds of wrk load per round (default 10)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=50, help="wrk keep-alive connections (default 50)")
    p.add_argument("--warmup", type=int, default=3,
                   help="seconds of unrecorded load on each server before round 1 (JIT warm-up; default 3)")
    p.add_argument("--pause", type=float, default=1.0, help="idle seconds before each round's load (default 1)")
    p.add_argument("--service", default="node",
                   help="service_name the agent gives the server (default node, the executable's name)")
    p.add_argument("--npm-dir", default=os.path.join(ROOT, "build", "bench-node-peer"),
                   help="where the pinned OpenTelemetry packages are installed (default build/bench-node-peer; "
                        "reused while the lock file is unchanged)")
    p.add_argument("--npm-timeout", type=float, default=300, help="seconds allowed for npm ci (default 300)")
    add_common_args(p)
    args = p.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.threads < 1 or args.connections < args.threads:
        p.error("need --rounds >= 1, --duration >= 1, --threads >= 1 and --connections >= --threads")
    return args


def main():
    args = parse_args()
    max_reruns = args.rounds + 2
    budget = (args.npm_timeout + 3 * args.warmup + 60
              + (args.rounds + max_reruns) * (3 * (args.duration + args.pause + 5) + 90)
              + args.wait_others + 120)
    rounds = []
    with Session(SECTION, args, budget) as sess:
        log(f"{args.rounds} rounds of (a) (b) (c), {args.duration}s each, wrk -t{args.threads} "
            f"-c{args.connections}; work dir {sess.workdir}")
        npm_dir = install_sdk(args, sess)
        servers = {"a": start_node(sess, "a", npm_dir), "b": start_node(sess, "b", npm_dir)}
        servers["c"] = servers["a"]
        if args.warmup:
            for k in ("a", "b"):
                log(f"warm-up {args.warmup}s: {NAMES[k]}")
                run_wrk(args, servers[k].port, args.warmup, sess.children)
        reruns, n = 0, 1
        while n <= args.rounds:
            triple, why = [], None
            for kind in KINDS:
                sess.wait_quiet()
                r = run_round(args, sess, kind, n, servers[kind])
                r["service"] = args.service
                why = disturbed(args, r)
                if why:
                    break
                triple.append(r)
            for k in ("a", "b"):
                if servers[k].poll() is not None:
                    raise RuntimeError(f"node {NAMES[k]} exited with {servers[k].returncode}")
            if why:
                reruns += 1
                if reruns > max_reruns:
                    raise RuntimeError(f"{reruns} rounds disturbed, giving up; the last: {why}")
                log(f"round {n} {NAMES[r['kind']]}: {why}; running round {n} (a) (b) (c) again")
                continue
            for r in triple:
                rounds.append(r)
                log(round_message(r))
            n += 1
        vers = versions(npm_dir)
    s = summarize(args, rounds)
    info = machine_info(args)
    cmd = reproduce_command(args)
    print_summary(args, rounds, s, cmd)
    finish(args, SECTION, section(args, s, info, cmd, rounds, vers),
           {"summary": s, "rounds": rounds, "machine": info, "versions": vers})
    return 0


if __name__ == "__main__":
    main_guard("node_peer", main)
