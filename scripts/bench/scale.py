#!/usr/bin/env python3
"""Scale of the redeye agent: 10 000 concurrent keep-alive connections and
1 000 processes; the agent's RSS and map entries must stay bounded, and no
connection may be evicted from its connection table.

One agent (default settings) watches nginx through four phases: idle, 10k
keep-alive connections held by one client process (one request on each
every --period seconds), 1 000 processes each holding one connection, and
idle again after each. Sampled every second: the agent's RSS, its
connection table (redeye_connections_tracked), its evictions
(redeye_events_lost_total{stage="userspace",reason="connection_evicted"}) and
the entries of every BPF hash map (redeye_bpf_map_entries) against their
capacity.

Run it through scale.sh. Python 3 standard library only.
"""
import argparse
import os
import shlex
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (Sampler, Session, add_common_args, bpf_map_memory, finish, log, machine_info,  # noqa: E402
                      machine_lines, main_guard, metric_by_label, metric_sum, start_nginx, status_kb,
                      targets_comment, targets_table)

SECTION = "scale"
TARGET_RSS_MIB = 64.0
TABLE_CAPACITY = 65536  # the userspace connection table's size (ConnectionTable::kDefaultMaxConnections)
SHOWN_MAPS = ["sockets.conns", "tcp.sk_owner", "tcp.tcp_stats"]


def snapshot(agent):
    text = agent.metrics()
    return {"t": time.monotonic(), "rss_kb": status_kb(agent.proc.pid, "VmRSS"),
            "tracked": metric_sum(text, "redeye_connections_tracked"),
            "maps": metric_by_label(text, "redeye_bpf_map_entries", "map"),
            "capacity": metric_by_label(text, "redeye_bpf_map_capacity", "map"),
            "counted": metric_sum(text, "http_server_request_duration_seconds_count", service_name="nginx"),
            "lost": metric_sum(text, "redeye_events_lost_total"),
            "evicted": metric_sum(text, "redeye_events_lost_total", stage="userspace", reason="connection_evicted")}


class LineReader:
    """Reads a child's stdout lines on a thread; wait_for(prefix) blocks
    until a line starting with prefix arrives (or timeout)."""

    def __init__(self, proc):
        self.proc, self.lines, self.cv = proc, [], threading.Condition()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        for line in self.proc.stdout:
            with self.cv:
                self.lines.append(line.strip())
                self.cv.notify_all()

    def wait_for(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for line in reversed(self.lines):
                    if line.startswith(prefix):
                        return line
                left = deadline - time.monotonic()
                if self.proc.poll() is not None and self.thread.is_alive():
                    self.cv.wait(0.2)  # the reader has yet to reach the end of the output
                    continue
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"no '{prefix}' from {self.proc.args[0]} within {timeout}s "
                                       f"(exit {self.proc.poll()}); last lines: {self.lines[-3:]}")
                self.cv.wait(min(left, 1))

    def last(self, prefix):
        with self.cv:
            return next((l for l in reversed(self.lines) if l.startswith(prefix)), None)


def phase(name, agent, samples, settle):
    """Waits settle seconds (the gauges are refreshed every --interval,
    process state every --proc-interval) and records one snapshot."""
    time.sleep(settle)
    snap = snapshot(agent)
    snap["phase"] = name
    snap["peak_rss_kb"] = max([s["rss_kb"] for s in samples if s] + [snap["rss_kb"]])
    snap["peak_maps"] = {}
    for s in [x for x in samples if x] + [snap]:
        for k, v in s["maps"].items():
            snap["peak_maps"][k] = max(snap["peak_maps"].get(k, 0), v)
    snap["peak_tracked"] = max([s["tracked"] for s in samples if s] + [snap["tracked"]])
    log(f"{name}: RSS {snap['rss_kb'] / 1024:.1f} MiB (peak {snap['peak_rss_kb'] / 1024:.1f}), tracked "
        f"{snap['tracked']:.0f} (peak {snap['peak_tracked']:.0f}), evicted {snap['evicted']:.0f}, "
        + ", ".join(f"{m} {snap['maps'].get(m, 0):.0f} (peak {snap['peak_maps'].get(m, 0):.0f})" for m in SHOWN_MAPS))
    return snap


def hold_connections(args, sess, nginx, agent):
    client = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scale_client.py")
    p = sess.children.start([sys.executable, client, str(nginx.port), str(args.connections), str(args.period)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    out = LineReader(p)
    with Sampler(lambda: snapshot(agent), 1.0) as smp:
        t0 = time.monotonic()
        out.wait_for("open", 120)
        open_s = time.monotonic() - t0
        log(f"{args.connections} connections open in {open_s:.1f}s; holding them {args.hold}s")
        time.sleep(args.hold)
        during = phase(f"{args.connections:,} connections", agent, smp.values, 0)
        p.stdin.close()
        closed = out.wait_for("closed", 60)
    p.wait(30)
    during["held"] = args.connections
    during["open_s"] = open_s
    during["client_requests"] = int(closed.split()[2])
    during["client_errors"] = int(closed.split()[4])
    return during


def hold_processes(args, sess, nginx, agent, exe):
    p = sess.children.start([exe, str(nginx.port), str(args.processes)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    out = LineReader(p)
    with Sampler(lambda: snapshot(agent), 1.0) as smp:
        t0 = time.monotonic()
        ready = int(out.wait_for("ready", 120).split()[1])
        log(f"{ready} processes ready in {time.monotonic() - t0:.1f}s; holding them {args.hold}s")
        time.sleep(args.hold)
        during = phase(f"{args.processes:,} processes", agent, smp.values, 0)
        p.stdin.close()
        out.wait_for("done", 60)
    p.wait(30)
    during["held"] = ready
    during["ready"] = ready
    return during


def target_rows(args, phases):
    peak = max(p["peak_rss_kb"] for p in phases) / 1024
    idle = phases[0]
    after = phases[-1]
    grown = {m: after["maps"].get(m, 0) - idle["maps"].get(m, 0) for m in SHOWN_MAPS}
    full = [m for p in phases for m, v in p["peak_maps"].items() if v >= p["capacity"].get(m, float("inf"))]
    full += ["connection table"] if any(p["peak_tracked"] >= TABLE_CAPACITY for p in phases) else []
    back = all(v <= 100 for v in grown.values()) and after["tracked"] <= idle["tracked"] + 100
    evicted = max(p["evicted"] for p in phases) - idle["evicted"]
    loads = [p for p in phases if "held" in p]
    # every connection held is in the table (both its ends are traced, so up to twice as many entries)
    short = [p for p in loads if p["peak_tracked"] < p["held"]]
    return [
        {"key": "scale_rss", "figure": f"scale: agent peak RSS with {args.connections:,} connections and {args.processes:,} "
         "processes",
         "target": f"≤ {TARGET_RSS_MIB:.0f} MiB", "measured": f"{peak:.1f} MiB", "met": peak <= TARGET_RSS_MIB},
        {"key": "scale_maps", "figure": "scale: map entries and connection table bounded (below capacity, back "
         "to the idle level after)", "target": "bounded",
         "measured": (f"full: {', '.join(sorted(set(full)))} (evictions); " if full else "none full; ")
         + "after vs idle " + ", ".join(f"{m} {v:+.0f}" for m, v in grown.items())
         + f", tracked {after['tracked'] - idle['tracked']:+.0f}",
         "met": back and not full},
        {"key": "scale_evictions", "figure": "scale: no connection evicted (`connection_evicted` does not rise) and "
         "`redeye_connections_tracked` reaches the connections held", "target": "0 evicted, tracked ≥ held",
         "measured": f"{evicted:,.0f} evicted; tracked (peak) / held: "
         + ", ".join(f"{p['peak_tracked']:,.0f} / {p['held']:,}" for p in loads),
         "met": evicted == 0 and not short},
    ]


def reproduce_command(args):
    argv = ["scripts/bench/scale.sh", "--connections", str(args.connections), "--processes", str(args.processes),
            "--hold", str(args.hold), "--period", str(args.period)]
    for a in args.agent_arg:
        argv.append(f"--agent-arg={a}")  # "=": a value may start with "-"
    return shlex.join(argv)


def section(args, phases, info, cmd, mem):
    rows = target_rows(args, phases)
    lines = ["## Scale: 10 000 keep-alive connections and 1 000 processes", "",
             "Written by `scripts/bench/scale.sh`; rerun it to refresh this section.", "",
             *machine_lines(info, cmd),
             f"- Load: one agent (`redeye run`, default settings); nginx (2 workers, worker_connections "
             f"{nginx_connections(args):,}); "
             f"{args.connections:,} keep-alive connections held by one client process "
             f"(scripts/bench/scale_client.py, one request on each every {args.period:g} s, so "
             f"{args.connections / args.period:,.0f} req/s), then {args.processes:,} processes "
             f"(scripts/bench/conn_procs.c) each holding one connection after one request; each held "
             f"{args.hold} s, then closed", "",
             *targets_table(rows), targets_comment(rows), "",
             f"| phase | agent RSS (peak) | connections tracked (peak) / {TABLE_CAPACITY:,} | evicted, in all | "
             + " | ".join(f"`{m}` (peak) / capacity" for m in SHOWN_MAPS) + " |",
             "|---|---|---|---|" + "---|" * len(SHOWN_MAPS)]
    for p in phases:
        lines.append(f"| {p['phase']} | {p['rss_kb'] / 1024:.1f} ({p['peak_rss_kb'] / 1024:.1f}) MiB | "
                     f"{p['tracked']:,.0f} ({p['peak_tracked']:,.0f}) | {p['evicted']:,.0f} | "
                     + " | ".join(f"{p['maps'].get(m, 0):,.0f} ({p['peak_maps'].get(m, 0):,.0f}) / "
                                  f"{p['capacity'].get(m, 0):,.0f}" for m in SHOWN_MAPS) + " |")
    conn = next((p for p in phases if "client_requests" in p), None)
    if conn:
        lines += ["", f"The client made {conn['client_requests']:,} requests ({conn['client_errors']} errors) "
                  f"and opened its {args.connections:,} connections in {conn['open_s']:.1f} s."]
    if mem:
        lines += ["", f"BPF map memory (bytes_memlock of the agent's maps) at the end: {mem[0] / 2**20:.1f} MiB "
                  f"in {mem[1]} maps: fixed by the maps' sizes, whatever the load."]
    lines += ["", "How it is measured: the phase rows are read at the end of each phase (the 'after' rows "
              f"{args.settle:g} s after the connections closed or the processes exited, so that the agent's "
              "per-interval clean-up has run); the peaks are over samples taken every second during the "
              "phase. RSS is `VmRSS` of the agent; connections tracked is `redeye_connections_tracked` (its "
              "userspace table of connections with a known protocol: both ends of a loopback connection are "
              "traced, so a held connection is up to two entries); evicted is "
              "`redeye_events_lost_total{stage=\"userspace\",reason=\"connection_evicted\"}` since the agent "
              "started (a traced connection the agent ended itself: its table was full, or the connection had "
              "been idle for 15 minutes); the map columns are `redeye_bpf_map_entries` and "
              "`redeye_bpf_map_capacity`. Bounded means no map reached its capacity and every count went back "
              "to near its idle level; no eviction means the evicted count did not rise and the table held "
              "at least as many connections as were open."]
    return "\n".join(lines)


def nginx_connections(args):
    return 2 * args.connections + 2 * args.processes + 1000


def parse_args():
    p = argparse.ArgumentParser(prog="scale.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=10000, help="keep-alive connections (default 10000)")
    p.add_argument("--processes", type=int, default=1000, help="processes with one connection each (default 1000)")
    p.add_argument("--hold", type=int, default=20, help="seconds each load is held once open (default 20)")
    p.add_argument("--period", type=float, default=5.0,
                   help="seconds between two requests on one connection (default 5)")
    p.add_argument("--settle", type=float, default=8.0,
                   help="seconds after a load ends before the 'after' reading (default 8)")
    add_common_args(p)
    args = p.parse_args()
    if args.connections < 1 or args.processes < 1 or args.hold < 1 or args.period <= 0:
        p.error("need --connections, --processes, --hold >= 1 and --period > 0")
    return args


def main():
    args = parse_args()
    budget = 2 * (args.hold + args.settle + 200) + args.wait_others + 180
    phases = []
    with Session(SECTION, args, budget) as sess:
        exe = os.path.join(sess.workdir, "conn_procs")
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                             "conn_procs.c")], check=True, timeout=120)
        need = nginx_connections(args)
        nginx = start_nginx(sess.children, sess.workdir, worker_connections=need, rlimit=2 * need)
        sess.wait_quiet()
        agent = sess.agent(1)
        agent.start()
        try:
            phases.append(phase("idle", agent, [], 3))
            phases.append(hold_connections(args, sess, nginx, agent))
            phases.append(phase("after the connections closed", agent, [], args.settle))
            phases.append(hold_processes(args, sess, nginx, agent, exe))
            phases.append(phase("after the processes exited", agent, [], args.settle))
            mem = bpf_map_memory(agent.proc.pid)
            if agent.proc.poll() is not None:
                raise RuntimeError(f"the agent exited with {agent.proc.returncode}:\n{agent.tail()}")
        finally:
            agent.stop()
    info = machine_info(args)
    cmd = reproduce_command(args)
    print()
    for row in target_rows(args, phases):
        met = {True: "MET", False: "NOT MET", None: "-"}[row["met"]]
        print(f"target {row['figure']}: {row['target']}: {met} ({row['measured']})")
    print(f"reproduce (as root, from the repository root): {cmd}")
    finish(args, SECTION, section(args, phases, info, cmd, mem), {"phases": phases, "machine": info})
    return 0


if __name__ == "__main__":
    main_guard("scale", main)
