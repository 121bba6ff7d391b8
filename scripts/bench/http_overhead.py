#!/usr/bin/env python3
"""HTTP overhead of the redeye agent: nginx under wrk keep-alive load.

Rounds alternate A (no agent) and B (a fresh `redeye run` with default
settings), A B A B ..., so that slow drifts of the machine hit both sides
alike; with --compare-agent PATH a third kind, C (another agent binary, e.g.
the previous release), follows each B: A B C A B C ... Per round: wrk's requests/s, p50 and p99; nginx's, wrk's and the
whole machine's CPU; for B rounds also the agent's CPU, peak RSS and its
own count of nginx's requests against wrk's.

Run it through http_overhead.sh (checks tools and root, cleans up even when
this process is killed). Python 3 standard library only.
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (CLK_TCK, ROOT, Agent, Children, ForeignWatch, Interrupted, add_compare_args,  # noqa: E402
                      all_cpu, bpf_snapshot, check_compare_args, children_of, fmt_lat, group_cpu, log,
                      machine_info, med, proc_cpu, repo_path, run_wrk,
                      start_nginx, status_kb, system_cpu, targets_comment, targets_table, thread_cpu,
                      top_others, refresh_summary, wait_for_quiet, write_section)

TARGET_LOSS_PCT = 10.0  # issue 13: saturation throughput loss at most 10 %, every request counted
TARGET_AGENT_US_PER_REQ = 0.8  # issue 13: the agent's own CPU per request at saturation
TARGET_BPF_US_PER_REQ = 1.0  # issue 13: BPF run time per request, both ends traced (the --bpf-stats run)
TARGET_RSS_MIB = 64.0
SECTION = "http_overhead"
BPF_SECTION = "http_overhead_bpf"


def run_round(args, kind, n, nginx, children, workdir):
    r = {"kind": kind, "round": n}
    agent = None
    try:
        if kind == "B":
            agent = Agent(children, args.agent, args.agent_arg, workdir, n)
        elif kind == "C":
            agent = Agent(children, args.compare_binary, args.compare_agent_arg, workdir, f"C{n}")
        if agent:
            t0 = time.monotonic()
            agent.start()
            r["agent_ready_s"] = time.monotonic() - t0
            base_text = agent.metrics()
            base_count, base_lost = agent.nginx_requests(base_text), agent.lost(base_text)
        time.sleep(args.pause)
        own = frozenset([agent.proc.pid]) if agent else frozenset()
        nginx_pids = [nginx.pid] + children_of(nginx.pid)
        ng0 = group_cpu(nginx_pids)
        sys0 = system_cpu()
        if agent:
            ag0 = proc_cpu(agent.proc.pid)
            th0 = thread_cpu(agent.proc.pid)
            bpf0 = bpf_snapshot(agent.proc.pid) if args.bpf_stats else None
        every0 = all_cpu()
        ru0 = os.times()
        with ForeignWatch(own) as watch:
            wrk, out = run_wrk(args, nginx.port, args.duration, children)
        ru1 = os.times()
        sys1 = system_cpu()
        ng1 = group_cpu(nginx_pids)
        r["top_others"] = top_others(every0, all_cpu(), set(nginx_pids) | set(own) | {os.getpid()})
        r["foreign_agents"] = sorted(watch.seen.values())
        r.update(wrk)
        r["wrk_user_s"] = ru1.children_user - ru0.children_user
        r["wrk_sys_s"] = ru1.children_system - ru0.children_system
        r["nginx_user_s"] = ng1[0] - ng0[0]
        r["nginx_sys_s"] = ng1[1] - ng0[1]
        r["machine_busy_pct"] = 100.0 * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1])
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            r["bpf_stats_enabled"] = f.read().strip() == "1"
        r["steal_pct"] = 100.0 * (sys1[3] - sys0[3]) / max(1, sys1[1] - sys0[1])
        ours = r["wrk_user_s"] + r["wrk_sys_s"] + r["nginx_user_s"] + r["nginx_sys_s"]
        if agent:
            pid = agent.proc.pid
            ag1 = proc_cpu(pid)
            ours += sum(ag1) - sum(ag0)
        # user+system CPU of every other process on the machine, in % of all CPUs
        r["others_pct"] = max(0.0, 100.0 * ((sys1[2] - sys0[2]) / CLK_TCK - ours)
                              / max(1e-9, (sys1[1] - sys0[1]) / CLK_TCK))
        if agent:
            if args.bpf_stats:
                bpf1 = bpf_snapshot(pid)
                r["bpf"] = {str(i): {"name": bpf1[i][0], "run_cnt": bpf1[i][1] - bpf0.get(i, (0, 0, 0))[1],
                                     "run_time_ns": bpf1[i][2] - bpf0.get(i, (0, 0, 0))[2]} for i in bpf1}
            text, settle_s = agent.settle()
            ag2 = proc_cpu(pid)
            th2 = thread_cpu(pid)
            r["agent_user_s"] = ag1[0] - ag0[0]
            r["agent_sys_s"] = ag1[1] - ag0[1]
            r["agent_cpu_s"] = r["agent_user_s"] + r["agent_sys_s"]
            r["agent_cpu_with_settle_s"] = sum(ag2) - sum(ag0)
            r["settle_s"] = settle_s
            r["agent_threads_cpu_s"] = {k: round(v - th0.get(k, 0.0), 3) for k, v in th2.items()
                                        if v - th0.get(k, 0.0) > 0}
            r["agent_hwm_kb"] = status_kb(pid, "VmHWM")
            r["agent_rss_kb"] = status_kb(pid, "VmRSS")
            r["agent_count"] = int(agent.nginx_requests(text) - base_count)
            r["agent_lost"] = int(agent.lost(text) - base_lost)
            r["agent_exit"] = agent.stop()
            agent = None
        return r
    finally:
        if agent:
            agent.stop()




def summarize(args, rounds):
    a = [r for r in rounds if r["kind"] == "A"]
    b = [r for r in rounds if r["kind"] == "B"]
    s = {}
    s["rps_a"], s["rps_b"] = med(a, "rps"), med(b, "rps")
    s["ratio"] = s["rps_b"] / s["rps_a"]
    s["loss_pct"] = 100.0 * (1 - s["ratio"])
    pairs = [100.0 * (1 - rb["rps"] / ra["rps"]) for ra, rb in zip(a, b)]
    s["pair_loss_min"], s["pair_loss_max"] = min(pairs), max(pairs)
    s["separated"] = max(r["rps"] for r in b) < min(r["rps"] for r in a)
    s["a_spread_pct"] = 100.0 * (max(r["rps"] for r in a) - min(r["rps"] for r in a)) / s["rps_a"]
    for p in ("p50", "p99"):
        s[f"{p}_a"], s[f"{p}_b"] = med(a, f"{p}_s"), med(b, f"{p}_s")
    req_b = sum(r["requests"] for r in b)
    req_a = sum(r["requests"] for r in a)
    s["agent_cpu_s"] = sum(r["agent_cpu_s"] for r in b)
    s["agent_cpu_with_settle_s"] = sum(r["agent_cpu_with_settle_s"] for r in b)
    s["agent_cpu_per_10k"] = 1e4 * s["agent_cpu_s"] / req_b
    s["agent_user_per_10k"] = 1e4 * sum(r["agent_user_s"] for r in b) / req_b
    s["agent_sys_per_10k"] = 1e4 * sum(r["agent_sys_s"] for r in b) / req_b
    s["agent_cpu_with_settle_per_10k"] = 1e4 * s["agent_cpu_with_settle_s"] / req_b
    s["agent_cpu_pct_of_core"] = 100.0 * s["agent_cpu_s"] / sum(r["elapsed_s"] for r in b)
    s["agent_hwm_mib"] = max(r["agent_hwm_kb"] for r in b) / 1024
    s["counted"] = sum(r["agent_count"] for r in b)
    s["total"] = req_b
    s["counted_pct"] = 100.0 * s["counted"] / req_b
    s["lost"] = sum(r["agent_lost"] for r in b)
    for who in ("nginx", "wrk"):
        for mode in ("user", "sys"):
            s[f"{who}_{mode}_per_10k_a"] = 1e4 * sum(r[f"{who}_{mode}_s"] for r in a) / req_a
            s[f"{who}_{mode}_per_10k_b"] = 1e4 * sum(r[f"{who}_{mode}_s"] for r in b) / req_b
    s["cpu_us_per_req_a"] = 100 * sum(s[f"{w}_{m}_per_10k_a"] for w in ("nginx", "wrk") for m in ("user", "sys"))
    s["cpu_us_per_req_b"] = (100 * sum(s[f"{w}_{m}_per_10k_b"] for w in ("nginx", "wrk") for m in ("user", "sys"))
                             + 100 * s["agent_cpu_per_10k"])
    s["busy_a"], s["busy_b"] = med(a, "machine_busy_pct"), med(b, "machine_busy_pct")
    s["others_max_pct"] = max(r["others_pct"] for r in rounds)
    s["steal_max_pct"] = max(r["steal_pct"] for r in rounds)
    s["bpf_stats_rounds"] = sum(1 for r in rounds if r["bpf_stats_enabled"])
    s["errors"] = sum(r["socket_errors"] + r["non_2xx"] for r in rounds)
    s["agent_us_per_req"] = 100 * s["agent_cpu_per_10k"]
    s["target_met"] = s["loss_pct"] <= TARGET_LOSS_PCT
    threads = {}
    for r in b:
        for k, v in r["agent_threads_cpu_s"].items():
            threads[k] = threads.get(k, 0.0) + v
    s["agent_threads"] = dict(sorted(threads.items(), key=lambda kv: -kv[1]))
    if args.bpf_stats:
        progs = {}
        for r in b:
            for p in r["bpf"].values():
                e = progs.setdefault(p["name"], [0, 0])
                e[0] += p["run_cnt"]
                e[1] += p["run_time_ns"]
        s["bpf"] = sorted(((n, c, t) for n, (c, t) in progs.items() if c), key=lambda x: -x[2])
        s["bpf_ns_per_request"] = sum(t for _, _, t in s["bpf"]) / req_b
    c = [r for r in rounds if r["kind"] == "C"]
    s["c"] = side(args, a, c) if c else None
    return s


def side(args, a, x):
    """The figures of the rounds of one agent kind (x) against the A rounds:
    for C, the --compare-agent rounds (B's are the top-level keys of
    summarize(), kept as they were)."""
    req_a = sum(r["requests"] for r in a)
    req = sum(r["requests"] for r in x)
    o = {"rps": med(x, "rps"), "p50": med(x, "p50_s"), "p99": med(x, "p99_s")}
    o["loss_pct"] = 100.0 * (1 - o["rps"] / med(a, "rps"))
    pairs = [100.0 * (1 - rx["rps"] / ra["rps"]) for ra, rx in zip(a, x)]
    o["pair_loss_min"], o["pair_loss_max"] = min(pairs), max(pairs)
    o["agent_cpu_per_10k"] = 1e4 * sum(r["agent_cpu_s"] for r in x) / req
    o["agent_user_per_10k"] = 1e4 * sum(r["agent_user_s"] for r in x) / req
    o["agent_sys_per_10k"] = 1e4 * sum(r["agent_sys_s"] for r in x) / req
    o["agent_cpu_with_settle_per_10k"] = 1e4 * sum(r["agent_cpu_with_settle_s"] for r in x) / req
    o["agent_cpu_pct_of_core"] = 100.0 * sum(r["agent_cpu_s"] for r in x) / sum(r["elapsed_s"] for r in x)
    o["agent_us_per_req"] = 100 * o["agent_cpu_per_10k"]
    o["agent_hwm_mib"] = max(r["agent_hwm_kb"] for r in x) / 1024
    o["counted"] = sum(r["agent_count"] for r in x)
    o["total"] = req
    o["counted_pct"] = 100.0 * o["counted"] / req
    o["lost"] = sum(r["agent_lost"] for r in x)
    for who in ("nginx", "wrk"):
        for mode in ("user", "sys"):
            o[f"{who}_{mode}_per_10k"] = 1e4 * sum(r[f"{who}_{mode}_s"] for r in x) / req
    o["cpu_us_per_req"] = (100 * sum(o[f"{w}_{m}_per_10k"] for w in ("nginx", "wrk") for m in ("user", "sys"))
                           + o["agent_us_per_req"])
    o["busy"] = med(x, "machine_busy_pct")
    o["req_a"] = req_a
    if args.bpf_stats:
        progs = {}
        for r in x:
            for p in r["bpf"].values():
                e = progs.setdefault(p["name"], [0, 0])
                e[0] += p["run_cnt"]
                e[1] += p["run_time_ns"]
        o["bpf"] = sorted(((n, c, t) for n, (c, t) in progs.items() if c), key=lambda v: -v[2])
        o["bpf_ns_per_request"] = sum(t for _, _, t in o["bpf"]) / req
    return o


# ------------------------------------------------------------------ reports



def print_summary(args, rounds, s, cmd):
    print()
    print("round kind    req/s      p50      p99  agent cpu s  agent HWM MiB  counted/total  busy %  others %")
    for r in rounds:
        agent = (f"{r['agent_cpu_s']:11.2f}  {r['agent_hwm_kb'] / 1024:12.1f}  "
                 f"{r['agent_count']:>6}/{r['requests']:<6}") if r["kind"] != "A" else f"{'':11}  {'':12}  {'':13}"
        print(f"{r['round']:5} {r['kind']:>4} {r['rps']:9.0f} {fmt_lat(r['p50_s']):>8} {fmt_lat(r['p99_s']):>8}"
              f"  {agent}  {r['machine_busy_pct']:6.1f}  {r['others_pct']:8.1f}")
    print()
    print(f"throughput, median   A {s['rps_a']:.0f} req/s   B {s['rps_b']:.0f} req/s   "
          f"B/A {s['ratio']:.4f}   loss {s['loss_pct']:.1f} %  (pairs {s['pair_loss_min']:.1f} .. "
          f"{s['pair_loss_max']:.1f} %; A rounds spread {s['a_spread_pct']:.1f} %; "
          + ("every B round slower than every A round)" if s["separated"] else "A and B rounds overlap)"))
    print(f"p50, median          A {fmt_lat(s['p50_a'])}   B {fmt_lat(s['p50_b'])}")
    print(f"p99, median          A {fmt_lat(s['p99_a'])}   B {fmt_lat(s['p99_b'])}")
    print(f"agent CPU            {s['agent_us_per_req']:.2f} µs per request = "
          f"{s['agent_cpu_per_10k']:.3f} s per 10k requests during load "
          f"(user {s['agent_user_per_10k']:.3f} + sys {s['agent_sys_per_10k']:.3f}) "
          f"({s['agent_cpu_pct_of_core']:.0f} % of one core); {s['agent_cpu_with_settle_per_10k']:.3f} s "
          f"with the drain after the load")
    print(f"agent threads        " + ", ".join(f"{k} {v:.2f} s" for k, v in s["agent_threads"].items()))
    print(f"agent peak RSS       {s['agent_hwm_mib']:.1f} MiB (VmHWM)")
    print(f"requests counted     {s['counted']} of {s['total']} ({s['counted_pct']:.2f} %), "
          f"events lost {s['lost']}")
    print(f"nginx CPU / 10k req  A user {s['nginx_user_per_10k_a']:.3f} sys {s['nginx_sys_per_10k_a']:.3f}   "
          f"B user {s['nginx_user_per_10k_b']:.3f} sys {s['nginx_sys_per_10k_b']:.3f}  (seconds)")
    print(f"wrk CPU / 10k req    A user {s['wrk_user_per_10k_a']:.3f} sys {s['wrk_sys_per_10k_a']:.3f}   "
          f"B user {s['wrk_user_per_10k_b']:.3f} sys {s['wrk_sys_per_10k_b']:.3f}  (seconds)")
    print(f"CPU per request      A {s['cpu_us_per_req_a']:.1f} µs   B {s['cpu_us_per_req_b']:.1f} µs  "
          f"(nginx + wrk, + agent in B)")
    print(f"machine busy         A {s['busy_a']:.1f} %   B {s['busy_b']:.1f} %   (other processes at most "
          f"{s['others_max_pct']:.1f} %, steal at most {s['steal_max_pct']:.1f} % of the CPUs in a round)")
    if s["errors"]:
        print(f"wrk errors           {s['errors']} (socket errors + non-2xx)")
    if args.bpf_stats:
        print()
        print("BPF programs (kernel.bpf_stats_enabled=1), summed over the B rounds' load:")
        print(f"  {'program':24} {'run_cnt':>12} {'per req':>8} {'avg ns':>8} {'total ms':>9}")
        for name, cnt, ns in s["bpf"]:
            print(f"  {name:24} {cnt:12} {cnt / s['total']:8.2f} {ns / cnt:8.0f} {ns / 1e6:9.1f}")
        print(f"  BPF run time per request: {s['bpf_ns_per_request']:.0f} ns")
        if s["c"]:
            print(f"BPF programs of C ({args.compare_label}), summed over the C rounds' load:")
            for name, cnt, ns in s["c"]["bpf"]:
                print(f"  {name:24} {cnt:12} {cnt / s['c']['total']:8.2f} {ns / cnt:8.0f} {ns / 1e6:9.1f}")
            print(f"  BPF run time per request: {s['c']['bpf_ns_per_request']:.0f} ns")
    if s["bpf_stats_rounds"] and not args.bpf_stats:
        print(f"WARNING: kernel.bpf_stats_enabled was turned on by someone else in {s['bpf_stats_rounds']} "
              f"round(s): every BPF program run also paid for timing itself, so B is slower than it would be")
    c = s["c"]
    if c:
        print()
        print(f"C = {args.compare_label}")
        print(f"  throughput {c['rps']:.0f} req/s, loss {c['loss_pct']:.1f} % (pairs {c['pair_loss_min']:.1f} .. "
              f"{c['pair_loss_max']:.1f} %); p50 {fmt_lat(c['p50'])}, p99 {fmt_lat(c['p99'])}")
        print(f"  agent CPU {c['agent_us_per_req']:.2f} µs per request ({c['agent_cpu_per_10k']:.3f} s per 10k); "
              f"peak RSS {c['agent_hwm_mib']:.1f} MiB; counted {c['counted']} of {c['total']} "
              f"({c['counted_pct']:.2f} %), events lost {c['lost']}")
        print(f"  CPU per request {c['cpu_us_per_req']:.1f} µs (nginx + wrk + agent); nginx sys "
              f"{c['nginx_sys_per_10k']:.3f}, wrk sys {c['wrk_sys_per_10k']:.3f} s per 10k requests")
    print()
    for row in target_rows(s) + (bpf_target_rows(s) if args.bpf_stats else []):
        met = {True: "MET", False: "NOT MET", None: "-"}[row["met"]]
        print(f"target {row['figure']}: {row['target']}: {met} ({row['measured']})")
    print(f"reproduce (as root, from the repository root): {cmd}")


def target_rows(s):
    """This benchmark's rows of the summary table (see benchlib.targets_comment)."""
    all_counted = s["counted"] >= s["total"] and s["lost"] == 0
    return [
        {"key": "saturation_loss", "figure": "saturation: throughput loss (nginx + wrk keep-alive)",
         "target": f"≤ {TARGET_LOSS_PCT:.0f} %", "measured": f"{s['loss_pct']:.1f} %", "met": s["target_met"]},
        {"key": "saturation_counted", "figure": "saturation: requests counted by the agent / sent by wrk",
         "target": "all", "measured": f"{s['counted_pct']:.2f} %, events lost {s['lost']:,}", "met": all_counted},
        {"key": "saturation_cpu", "figure": "saturation: agent CPU per request (its own process, user + sys)",
         "target": f"≤ {TARGET_AGENT_US_PER_REQ:.1f} µs",
         "measured": f"{s['agent_us_per_req']:.2f} µs ({s['agent_cpu_per_10k']:.4f} s per 10k requests)",
         "met": s["agent_us_per_req"] <= TARGET_AGENT_US_PER_REQ},
        {"key": "saturation_rss", "figure": "saturation: agent peak RSS",
         "target": f"≤ {TARGET_RSS_MIB:.0f} MiB", "measured": f"{s['agent_hwm_mib']:.1f} MiB",
         "met": s["agent_hwm_mib"] <= TARGET_RSS_MIB},
    ]


def bpf_target_rows(s):
    """The --bpf-stats run's row of the summary table."""
    us = s["bpf_ns_per_request"] / 1000
    return [{"key": "bpf_per_request", "figure": "saturation: BPF run time per request, all programs, both ends "
             "traced (`kernel.bpf_stats_enabled`, an upper bound)", "target": f"≤ {TARGET_BPF_US_PER_REQ:.1f} µs",
             "measured": f"{us:.2f} µs", "met": us <= TARGET_BPF_US_PER_REQ}]


def main_table(args, s, info, cmd, rounds):
    verdict = ("**met**" if s["target_met"] else "**not met**")
    targets = target_rows(s)
    lines = [
        "## HTTP overhead: nginx under wrk",
        "",
        "Written by `scripts/bench/http_overhead.sh`; rerun it to refresh this section.",
        "",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['mem_gib']:.0f} GiB, kernel {info['kernel']}; "
        f"nginx {info['nginx']}, wrk {info['wrk']}; load average {info['loadavg']} before the run",
        f"- Date: {info['date']}; agent `{info['agent']}` built {info['agent_built']} (userspace compiled with "
        f"{info['build_type']}), HEAD {info['commit']}",
        f"- Command (as root, from the repository root): `{cmd}`",
        f"- Load: `wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency` keep-alive "
        f"against nginx (2 workers, `return 200 \"hello\\n\"`, no access log) on 127.0.0.1; "
        f"{args.rounds} rounds without the agent (A) and {args.rounds} with it (B), interleaved A B A B; "
        f"B = `redeye run --listen 127.0.0.1:PORT`"
        + (" " + " ".join(args.agent_arg) if args.agent_arg else "")
        + " (default settings), started fresh before each B round and stopped after it",
        *([f"- Compared: {args.rounds} rounds C of another agent, `{args.compare_label}`, started fresh after "
           "each B round (A B C A B C); its figures are in the last column and decide no target"]
          if s["c"] else []),
        *([f"- Note: `kernel.bpf_stats_enabled` was turned on by someone else during {s['bpf_stats_rounds']} of "
            f"the {len(rounds)} rounds, so each BPF program run also paid for timing itself (two clock reads): "
            f"B is a little slower than it would be otherwise."] if s["bpf_stats_rounds"] and not args.bpf_stats
          else []),
        "",
        f"Target: at most {TARGET_LOSS_PCT:.0f} % throughput loss with every request counted, and at most "
        f"{TARGET_AGENT_US_PER_REQ:.1f} µs of the agent's CPU per request. Result: {s['loss_pct']:.1f} % loss, "
        f"target {verdict}.",
        "",
        *targets_table(targets),
        targets_comment(targets),
        "",
        *figure_table(s),
        "",
        "Rounds:",
        "",
        "| round | kind | req/s | p50 | p99 | agent CPU s | agent VmHWM | counted / sent |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        if r["kind"] != "A":
            extra = (f"{r['agent_cpu_s']:.2f} | {r['agent_hwm_kb'] / 1024:.1f} MiB | "
                     f"{r['agent_count']:,} / {r['requests']:,}")
        else:
            extra = " | | "
        lines.append(f"| {r['round']} | {r['kind']} | {r['rps']:,.0f} | {fmt_lat(r['p50_s'])} | "
                     f"{fmt_lat(r['p99_s'])} | {extra} |")
    if s["agent_threads"]:
        lines += ["", "Agent CPU by thread over the B rounds (load and drain): "
                  + ", ".join(f"`{k}` {v:.2f} s" for k, v in s["agent_threads"].items()) + "."]
    lines += ["", EXPLANATION]
    return "\n".join(lines)


def figure_table(s):
    c = s["c"]
    rows = [
        ("throughput, median of rounds", f"{s['rps_a']:,.0f} req/s", f"{s['rps_b']:,.0f} req/s",
         c and f"{c['rps']:,.0f} req/s"),
        ("throughput vs A (loss)", "", f"{s['ratio']:.3f} ({s['loss_pct']:.1f} % loss; pairs "
         f"{s['pair_loss_min']:.1f} to {s['pair_loss_max']:.1f} %)",
         c and f"{c['loss_pct']:.1f} % loss; pairs {c['pair_loss_min']:.1f} to {c['pair_loss_max']:.1f} %"),
        ("throughput spread of the A rounds (noise)", f"{s['a_spread_pct']:.1f} %",
         "every B round is slower than every A round" if s["separated"] else "A and B rounds overlap", c and ""),
        ("p50 latency, median of rounds", fmt_lat(s["p50_a"]), fmt_lat(s["p50_b"]), c and fmt_lat(c["p50"])),
        ("p99 latency, median of rounds", fmt_lat(s["p99_a"]), fmt_lat(s["p99_b"]), c and fmt_lat(c["p99"])),
        ("agent CPU per request", "", f"{s['agent_us_per_req']:.2f} µs during load ({s['agent_cpu_per_10k']:.3f} s "
         f"per 10k requests: user {s['agent_user_per_10k']:.3f} + sys {s['agent_sys_per_10k']:.3f}; "
         f"{s['agent_cpu_pct_of_core']:.0f} % of one core); {s['agent_cpu_with_settle_per_10k']:.3f} s per 10k "
         "with the drain after it",
         c and f"{c['agent_us_per_req']:.2f} µs ({c['agent_cpu_per_10k']:.3f} s per 10k; "
         f"{c['agent_cpu_pct_of_core']:.0f} % of one core); {c['agent_cpu_with_settle_per_10k']:.3f} s per 10k "
         "with the drain"),
        ("agent peak RSS (VmHWM)", "", f"{s['agent_hwm_mib']:.1f} MiB", c and f"{c['agent_hwm_mib']:.1f} MiB"),
        ("requests counted by the agent / sent by wrk", "", f"{s['counted']:,} / {s['total']:,} "
         f"({s['counted_pct']:.2f} %); events lost {s['lost']}",
         c and f"{c['counted']:,} / {c['total']:,} ({c['counted_pct']:.2f} %); events lost {c['lost']}"),
        ("nginx CPU per 10k requests, user + sys", f"{s['nginx_user_per_10k_a']:.3f} + "
         f"{s['nginx_sys_per_10k_a']:.3f} s", f"{s['nginx_user_per_10k_b']:.3f} + {s['nginx_sys_per_10k_b']:.3f} s",
         c and f"{c['nginx_user_per_10k']:.3f} + {c['nginx_sys_per_10k']:.3f} s"),
        ("wrk CPU per 10k requests, user + sys", f"{s['wrk_user_per_10k_a']:.3f} + {s['wrk_sys_per_10k_a']:.3f} s",
         f"{s['wrk_user_per_10k_b']:.3f} + {s['wrk_sys_per_10k_b']:.3f} s",
         c and f"{c['wrk_user_per_10k']:.3f} + {c['wrk_sys_per_10k']:.3f} s"),
        ("CPU per request, nginx + wrk (+ the agent's in B" + (" and C)" if c else ")"),
         f"{s['cpu_us_per_req_a']:.1f} µs",
         f"{s['cpu_us_per_req_b']:.1f} µs", c and f"{c['cpu_us_per_req']:.1f} µs"),
        ("machine CPU busy, median", f"{s['busy_a']:.0f} %", f"{s['busy_b']:.0f} %", c and f"{c['busy']:.0f} %"),
        ("CPU taken by other processes / stolen by the host, worst round",
         f"{s['others_max_pct']:.1f} % / {s['steal_max_pct']:.1f} %", "", c and ""),
    ]
    lines = ["| figure | without agent (A) | with agent (B) |" + (" other agent (C) |" if c else ""),
             "|---|---|---|" + ("---|" if c else "")]
    for name, va, vb, vc in rows:
        lines.append(f"| {name} | {va} | {vb} |" + (f" {vc} |" if c else ""))
    return lines


EXPLANATION = """\
What each figure is and how it is measured:

- **Throughput**: wrk's `Requests/sec` for one round. The table gives the
  median over the A rounds and over the B rounds; the loss is
  `1 - median(B) / median(A)`. "Pairs" is the loss of each B round against
  the A round just before it, to show how much the figure moves from pair
  to pair; the A spread is `(max - min) / median` of the A rounds, the noise
  of the machine with no agent at all. When the ranges of A and B rounds
  overlap, a loss of that size is not distinguishable from noise; when
  every B round is slower than every A round, it is.
- **p50 / p99 latency**: wrk's `--latency` distribution (time from sending a
  request to reading its response, per connection, closed loop), median
  over the rounds of each kind.
- **Agent CPU per request**: `utime + stime` of the agent process (all
  threads) from `/proc/<pid>/stat`, in `CLK_TCK` ticks, read just before wrk
  starts and just after it ends, summed over the B rounds and divided by
  wrk's request count (µs per request = 100 × seconds per 10k requests).
  "With the drain" extends the window to the moment
  the agent's count stopped moving, so events still in the ring buffer when
  wrk stops are paid for too. This is only the agent's **own** process: the
  BPF programs run in the context of the traced processes (nginx and wrk),
  inside their socket sends and receives, and their cost shows up as
  nginx's and wrk's system time, not here (the `--bpf-stats` section
  measures it).
- **% of one core**: the same agent CPU divided by the load's wall time.
- **Agent peak RSS**: `VmHWM` from `/proc/<pid>/status` at the end of each
  B round (after the drain); the largest over the rounds. BPF maps and the
  ring buffer are kernel memory and are not in it.
- **Requests counted / sent**: the increase, over the round, of the sum of
  every `http_server_request_duration_seconds_count{service_name="nginx"}`
  series on the agent's `/metrics`, read after the count has been still for
  1.5 s, against wrk's own count of completed requests (`N requests in`).
  The agent may count up to one request per connection more than wrk: a
  request nginx answered while wrk was shutting down. Events lost is the
  increase of `redeye_events_lost_total` (all stages and reasons).
- **nginx / wrk CPU per 10k requests**: `utime` and `stime` of the nginx
  master and workers (from `/proc`) and of wrk (its rusage), per 10k
  requests. The difference B - A in system time is where the in-kernel
  cost of the socket tracepoints and BPF programs lands.
- **CPU per request**: nginx's, wrk's and (in B) the agent's CPU time
  during the load, divided by wrk's request count. When the machine is
  saturated, throughput is roughly the CPUs divided by this figure, so its
  growth from A to B predicts most of the throughput loss.
- **Machine CPU busy**: `1 - (idle + iowait) / total` from `/proc/stat`
  during the load. Near 100 % means nginx, wrk and the agent compete for
  the CPUs, so every CPU second the agent takes is taken from the load.
- **CPU taken by other processes**: user + system time of the whole
  machine (`/proc/stat`) minus that of nginx, wrk and the agent, during the
  load of the worst round. It should be near 0; a large value means
  something else ran at the same time and the round's figures are not
  clean. Before each round the script waits until no other `redeye run`
  exists (its probes would trace nginx and wrk too) and the machine has
  been at most `--max-others` (10 %) busy for 2 s, and it runs a pair A B
  again when such an agent appeared during one of its rounds or other
  processes took more than that share of the CPUs. Steal is the `steal`
  column of `/proc/stat`: time the hypervisor gave this VM's CPUs to
  someone else.
- `kernel.bpf_stats_enabled` is kept off during the run (and put back as
  it was after): with it on, every BPF program run also times itself.
- wrk, nginx and the agent share the same CPUs (no pinning), as they would
  on a small node; the figures are for this machine only."""


def bpf_table(args, s, info, cmd):
    rows = bpf_target_rows(s)
    lines = [
        "## HTTP overhead: cost of each BPF program",
        "",
        "Written by `scripts/bench/http_overhead.sh --bpf-stats`. With `kernel.bpf_stats_enabled=1` the kernel "
        "times every run of every BPF program (`run_cnt`, `run_time_ns` in `bpftool prog show`); the "
        "script reads them for the agent's programs (found through the agent's fds) before and after the "
        "load and sums the difference over the B rounds. The timing is not free (two clock reads per run, "
        "dear in a virtual machine): the averages are upper bounds, and this run's throughput is not the one "
        "in the table above.",
        "",
        f"- Machine: {info['nproc']} CPUs, kernel {info['kernel']}",
        f"- Date: {info['date']}; agent `{info['agent']}` built {info['agent_built']}, HEAD {info['commit']}",
        f"- Command: `{cmd}`",
        f"- Requests sent by wrk in the B rounds: {s['total']:,}; throughput loss in this run "
        f"{s['loss_pct']:.1f} % (with the timing overhead)",
        *([f"- Compared: rounds C of `{args.compare_label}`, interleaved A B C; its programs are in the second "
           "table"] if s["c"] else []),
        "",
        *targets_table(rows), targets_comment(rows),
        "",
    ]
    lines += prog_table(s["bpf"], s["total"])
    lines += ["", f"BPF run time per request, all programs: {s['bpf_ns_per_request']:,.0f} ns "
              f"(target ≤ {TARGET_BPF_US_PER_REQ * 1000:,.0f} ns)."]
    if s["c"]:
        lines += ["", f"Programs of the other agent (C, `{args.compare_label}`), "
                  f"{s['c']['total']:,} requests:", ""]
        lines += prog_table(s["c"]["bpf"], s["c"]["total"])
        lines += ["", f"BPF run time per request of C, all programs: {s['c']['bpf_ns_per_request']:,.0f} ns."]
    lines += ["", "Both ends of every request are traced (wrk's client socket and nginx's server socket), so "
              "each request runs the programs of both. The capture programs `sock_send` and `sock_recv` are on "
              "the socket tracepoints `sock:sock_send_length` and `sock:sock_recv_length`, not on the raw "
              "syscall tracepoints: they run only when a socket sends or receives (traced sockets, and "
              "untraced ones, which they find ignored with one map lookup), never for epoll_wait, pipes, "
              "files or any other syscall. `sock_destroy` runs once per TCP socket, when it is destroyed (a connection's end), "
              "`find_owners` (an iterator) only when an accepted socket's owner is looked for, and the "
              "`tcp`, `sched`, `block` and `proc` objects' programs on their own kernel events (TCP "
              "retransmits and states, scheduler switches and wake-ups, block I/O, process exec and exit), "
              "whether or not the load's processes are traced. The timing itself is included in each run's "
              "time; what the figure leaves out is the tracepoints' own dispatch, which shows only in the "
              "processes' system time."]
    return "\n".join(lines)


def prog_table(progs, total):
    lines = ["| program | runs | runs per request | average ns per run | total ms | ns per request |",
             "|---|---|---|---|---|---|"]
    for name, cnt, ns in progs:
        lines.append(f"| `{name}` | {cnt:,} | {cnt / total:.2f} | {ns / cnt:,.0f} | {ns / 1e6:,.1f} | "
                     f"{ns / total:,.0f} |")
    return lines



# --------------------------------------------------------------------- main

def parse_args():
    p = argparse.ArgumentParser(
        prog="http_overhead.sh",
        description="Throughput, latency, CPU and memory overhead of the redeye agent on nginx under "
                    "wrk keep-alive load, rounds interleaved A (no agent) B (agent) A B ...")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each kind (default 3, at least 1)")
    p.add_argument("--duration", type=int, default=10, help="seconds of wrk load per round (default 10)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=32, help="wrk keep-alive connections (default 32)")
    p.add_argument("--warmup", type=int, default=3, help="seconds of unrecorded load before round 1 (default 3)")
    p.add_argument("--pause", type=float, default=1.0, help="idle seconds before each round's load (default 1)")
    p.add_argument("--agent", default=os.path.join(ROOT, "build", "redeye"),
                   help="agent binary (default build/redeye)")
    p.add_argument("--agent-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for 'redeye run', repeatable (default: none, default settings)")
    p.add_argument("--docs", default=os.path.join(ROOT, "docs", "benchmarks.md"),
                   help="markdown file whose section is (re)written (default docs/benchmarks.md)")
    p.add_argument("--no-docs", action="store_true", help="print only; leave the docs alone")
    p.add_argument("--json", metavar="FILE", help="also write every round's raw figures to FILE")
    p.add_argument("--bpf-stats", action="store_true",
                   help="turn kernel.bpf_stats_enabled on during the run (without it the script turns it "
                        "off; either way it is restored after) and report each BPF program's run count and "
                        "average run time; writes its own docs section, not the main one (the timing costs "
                        "throughput)")
    p.add_argument("--allow-other-agents", action="store_true",
                   help="run even when another 'redeye run' is running (its probes would trace the A "
                        "rounds too)")
    p.add_argument("--wait-others", type=float, default=120,
                   help="seconds in all to wait, before rounds, for other 'redeye run' processes to end and the "
                        "machine to be idle (see --max-others) (default 120)")
    p.add_argument("--max-others", type=float, default=10,
                   help="a round starts only when the machine is at most this %% busy, and one during which "
                        "other processes took more than this %% of the CPUs is run again, with its pair "
                        "(default 10; 100 keeps every round)")
    p.add_argument("--leave-bpf-stats", action="store_true",
                   help="leave kernel.bpf_stats_enabled as it is (for a trial run while someone else measures "
                        "with it on; the figures are then not clean)")
    add_compare_args(p)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.threads < 1 or args.connections < args.threads:
        p.error("need --rounds >= 1, --duration >= 1, --threads >= 1 and --connections >= --threads")
    check_compare_args(p, args)
    return args


def reproduce_command(args):
    argv = ["scripts/bench/http_overhead.sh", "--rounds", str(args.rounds), "--duration", str(args.duration),
            "--threads", str(args.threads), "--connections", str(args.connections)]
    for a in args.agent_arg:
        argv.append(f"--agent-arg={a}")  # "=": a value may start with "-"
    if args.bpf_stats:
        argv.append("--bpf-stats")
    if args.compare_agent:
        argv += ["--compare-agent", repo_path(args.compare_agent)]
        for a in args.compare_agent_arg:
            argv.append(f"--compare-agent-arg={a}")
    return shlex.join(argv)


def main():
    args = parse_args()
    own_workdir = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="redeye-bench-http.")
    children = Children(workdir)

    def on_signal(signum, _frame):
        raise Interrupted(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    # a hard bound on the whole run: load, agent start-ups, drains, slack
    kinds = ("A", "B", "C") if args.compare_agent else ("A", "B")
    max_reruns = 2 * args.rounds + 2
    budget = int(args.warmup + (args.rounds + max_reruns) * (len(kinds) * (args.duration + args.pause + 30))
                 + args.wait_others + 60)

    def on_alarm(_signum, _frame):
        raise Interrupted(f"time limit of {budget}s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(budget)

    if not os.access(args.agent, os.X_OK):
        sys.exit(f"http_overhead: no agent binary at {args.agent}; build it: make -C build -j2")
    if args.bpf_stats and subprocess.run(["which", "bpftool"], capture_output=True).returncode != 0:
        sys.exit("http_overhead: --bpf-stats needs bpftool (Debian package bpftool)")

    est = int(args.warmup + len(kinds) * args.rounds * (args.duration + args.pause + 2) + args.rounds * 4)
    log(f"{args.rounds} x " + " + ".join(kinds) + f" rounds of {args.duration}s, about {est}s "
        f"(hard limit {budget}s); work dir {workdir}" + (f"; C = {args.compare_label}" if args.compare_agent else ""))
    with open("/proc/loadavg") as f:
        args.loadavg = f.read().split()[0]
    saved_stats = None
    nginx = None
    rounds = []
    try:
        # every B round runs the same binary, even if build/ is rebuilt meanwhile
        binary = os.path.join(workdir, "redeye")
        args.agent_mtime = os.path.getmtime(args.agent)
        shutil.copy2(args.agent, binary)
        agent_binary, args.agent = args.agent, binary
        args.compare_binary = None
        if args.compare_agent:
            # its own directory: the process name stays "redeye"
            os.makedirs(os.path.join(workdir, "compare"), exist_ok=True)
            args.compare_binary = os.path.join(workdir, "compare", "redeye")
            shutil.copy2(args.compare_agent, args.compare_binary)
        # BPF run-time statistics cost every program run two clock reads:
        # on only for --bpf-stats, off otherwise, restored afterwards
        want = "1" if args.bpf_stats else "0"
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            current = f.read().strip()
        if current != want and args.leave_bpf_stats:
            log(f"kernel.bpf_stats_enabled is {current}, left as it is (--leave-bpf-stats)")
        elif current != want:
            saved_stats = current
            with open(os.path.join(workdir, "bpf_stats_enabled.saved"), "w") as f:
                f.write(saved_stats)
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write(want)
            log(f"kernel.bpf_stats_enabled was {saved_stats}, set to {want} for this run (restored at the end)")
        nginx = start_nginx(children, workdir)
        if args.warmup:
            log(f"warm-up {args.warmup}s")
            run_wrk(args, nginx.port, args.warmup, children)
        waited, reruns = 0.0, 0
        n = 1
        while n <= args.rounds:
            pair = []
            for kind in kinds:
                waited += wait_for_quiet(args, args.wait_others - waited)
                r = run_round(args, kind, n, nginx, children, workdir)
                why = None
                if r["foreign_agents"] and not args.allow_other_agents:
                    why = f"another agent ran during it ({r['foreign_agents'][0]})"
                elif r["others_pct"] > args.max_others:
                    why = (f"other processes took {r['others_pct']:.0f} % of the CPUs ("
                           + (", ".join(r["top_others"]) or "short-lived ones") + ")")
                if why:
                    break
                pair.append(r)
            if len(pair) < len(kinds):
                reruns += 1
                if reruns > max_reruns:
                    raise RuntimeError(f"{reruns} rounds disturbed, giving up; the last: {why}")
                log(f"round {n} {r['kind']}: {why}; running the rounds " + " ".join(kinds)
                    + f" of round {n} again")
                continue
            for r in pair:
                rounds.append(r)
                msg = (f"round {n} {r['kind']}: {r['rps']:.0f} req/s, p50 {fmt_lat(r['p50_s'])}, "
                       f"p99 {fmt_lat(r['p99_s'])}, machine {r['machine_busy_pct']:.0f} % busy")
                if r["kind"] != "A":
                    msg += (f"; agent {r['agent_cpu_s']:.2f} CPU s, VmHWM {r['agent_hwm_kb'] / 1024:.1f} MiB, "
                            f"counted {r['agent_count']}/{r['requests']}, ready in {r['agent_ready_s']:.1f}s")
                if r["others_pct"] > 5:
                    msg += (f"; WARNING: other processes took {r['others_pct']:.0f} % of the CPUs ("
                            + (", ".join(r["top_others"]) or "none seen") + ")")
                log(msg)
                if nginx.poll() is not None:
                    raise RuntimeError(f"nginx exited with {nginx.returncode}")
            n += 1
        signal.alarm(0)
    except Interrupted as e:
        log(f"interrupted ({e}); stopping everything")
        return 130
    finally:
        signal.alarm(0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # let the clean-up finish
        children.stop_all()
        if saved_stats is not None:
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write(saved_stats)
            with open("/proc/sys/kernel/bpf_stats_enabled") as f:
                log(f"kernel.bpf_stats_enabled restored to {f.read().strip()}")
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    args.agent = agent_binary

    s = summarize(args, rounds)
    info = machine_info(args)
    cmd = reproduce_command(args)
    print_summary(args, rounds, s, cmd)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "machine": info, "summary": s, "rounds": rounds}, f, indent=1)
    if not args.no_docs:
        if args.bpf_stats:
            write_section(args.docs, BPF_SECTION, bpf_table(args, s, info, cmd))
        else:
            write_section(args.docs, SECTION, main_table(args, s, info, cmd, rounds))
        refresh_summary(args.docs)  # the summary table at the top (report.py)
        log(f"wrote {os.path.relpath(args.docs, ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Interrupted as e:
        print(f"http_overhead: interrupted ({e})", file=sys.stderr)
        sys.exit(130)
    except RuntimeError as e:
        print(f"http_overhead: {e}", file=sys.stderr)
        sys.exit(1)
