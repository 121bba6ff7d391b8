#!/usr/bin/env python3
"""Capacity of the redeye agent: the highest request rate it follows with
zero lost events, and what happens above it.

One agent (default settings) watches nginx while the offered rate steps
up: fixed rates by hey (keep-alive, WORKERS x QPS), then, for the step
`max`, wrk keep-alive at full speed. Per step: the rate achieved, the
agent's count of nginx's requests against the load generator's, the
increase of redeye_events_lost_total by stage and reason, the agent's RSS
and CPU, and its /healthz latency sampled during the load (is it still
responsive?).

Run it through capacity.sh. Python 3 standard library only.
"""
import argparse
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (Sampler, Session, add_common_args, bpf_map_memory, finish, fmt_lat, healthz_latency,  # noqa: E402
                      log, machine_info, machine_lines, main_guard, metric_by_label, proc_cpu, run_hey, run_wrk,
                      start_nginx, status_kb, system_cpu, targets_comment, targets_table)

SECTION = "capacity"
TARGET_RATE = 20000
TARGET_RSS_MIB = 64.0


def parse_steps(text):
    steps = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "max":
            steps.append("max")
        elif part.isdigit() and int(part) > 0:
            steps.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"step {part!r} is neither a rate nor 'max'")
    return steps


def hey_shape(rate):
    """Workers and requests/s per worker for an offered rate: enough workers
    that none has to go faster than a few hundred requests/s."""
    workers = max(10, min(400, rate // 200))
    return workers, max(1, round(rate / workers))


def lost_by_reason(agent, text):
    out = {}
    for line in text.splitlines():
        if line.startswith("redeye_events_lost_total{"):
            name, value = line.rsplit(" ", 1)
            out[name[len("redeye_events_lost_total"):]] = float(value)
    return out


def run_step(args, sess, nginx, agent, step):
    r = {"step": step}
    text = agent.metrics()
    base_count = agent.nginx_requests(text)
    base_lost = lost_by_reason(agent, text)
    ag0 = proc_cpu(agent.proc.pid)
    sys0 = system_cpu()
    with Sampler(lambda: healthz_latency(agent.port, timeout=5), 0.5) as hz:
        if step == "max":
            wrk = argparse.Namespace(threads=args.wrk_threads, connections=args.wrk_connections)
            x, _ = run_wrk(wrk, nginx.port, args.duration, sess.children)
            r["offered"] = None
            r["generator"] = f"wrk -t{args.wrk_threads} -c{args.wrk_connections}"
        else:
            c, q = hey_shape(step)
            x = run_hey(sess.children, nginx.port, c, q, args.duration, sess.workdir)
            r["offered"] = c * q
            r["generator"] = f"hey -c {c} -q {q}"
    sys1 = system_cpu()
    ag1 = proc_cpu(agent.proc.pid)
    r["rss_end_load_kb"] = status_kb(agent.proc.pid, "VmRSS")
    t0 = time.monotonic()
    text, r["settle_s"] = agent.settle(timeout=args.settle)
    r["settle_s"] = time.monotonic() - t0
    r["requests"], r["rps"] = x["requests"], x["rps"]
    r["errors"] = x.get("errors", 0) + x.get("socket_errors", 0) + x.get("non_2xx", 0)
    r["counted"] = int(agent.nginx_requests(text) - base_count)
    lost = lost_by_reason(agent, text)
    r["lost"] = {k: int(v - base_lost.get(k, 0)) for k, v in lost.items() if v - base_lost.get(k, 0) > 0}
    r["lost_total"] = sum(r["lost"].values())
    r["missing"] = max(0, r["requests"] - r["counted"])
    r["zero_loss"] = r["lost_total"] == 0 and r["missing"] == 0
    r["agent_cpu_s"] = sum(ag1) - sum(ag0)
    r["agent_core_pct"] = 100.0 * r["agent_cpu_s"] / max(1e-9, x["elapsed_s"])
    r["machine_busy_pct"] = 100.0 * (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1])
    r["agent_rss_kb"] = status_kb(agent.proc.pid, "VmRSS")
    r["agent_hwm_kb"] = status_kb(agent.proc.pid, "VmHWM")
    answered = [v for v in hz.values if v is not None]
    r["healthz_samples"], r["healthz_failed"] = len(hz.values), len(hz.values) - len(answered)
    r["healthz_max_s"] = max(answered) if answered else None
    r["healthz_median_s"] = sorted(answered)[len(answered) // 2] if answered else None
    r["ring_entries"] = metric_by_label(text, "redeye_bpf_map_entries", "map")
    return r


def summarize(rounds):
    s = {}
    ok = [r for r in rounds if r["zero_loss"]]
    s["best_zero_loss_rps"] = max((r["rps"] for r in ok), default=None)
    s["first_loss"] = next((r for r in rounds if not r["zero_loss"]), None)
    s["rss_max_mib"] = max(r["agent_hwm_kb"] for r in rounds) / 1024
    s["rss_first_mib"] = rounds[0]["agent_rss_kb"] / 1024
    s["rss_last_mib"] = rounds[-1]["agent_rss_kb"] / 1024
    hz = [r["healthz_max_s"] for r in rounds if r["healthz_max_s"] is not None]
    s["healthz_worst_s"] = max(hz) if hz else None
    s["healthz_failed"] = sum(r["healthz_failed"] for r in rounds)
    at = [r for r in rounds if r["offered"] == TARGET_RATE]
    s["at_target"] = at[0] if at else None
    return s


def target_rows(s):
    t = s["at_target"]
    if t is None:
        zero = {"measured": "not measured (no 20000 step)", "met": None}
    elif not t["zero_loss"]:
        zero = {"measured": f"{t['lost_total']:,} events lost, {t['missing']:,} requests not counted at "
                f"{t['rps']:,.0f} req/s", "met": False}
    elif t["rps"] < 0.95 * TARGET_RATE:
        zero = {"measured": f"0 lost, but the load reached only {t['rps']:,.0f} req/s", "met": None}
    else:
        zero = {"measured": f"0 lost at {t['rps']:,.0f} req/s", "met": True}
    best = "none" if s["best_zero_loss_rps"] is None else f"{s['best_zero_loss_rps']:,.0f} req/s"
    return [
        {"key": "capacity_20k", "figure": "capacity: lost events at 20k requests/s", "target": "0", **zero},
        {"key": "capacity_best", "figure": "capacity: highest rate with zero lost events", "target": "(reported)",
         "measured": best, "met": None},
        {"key": "capacity_rss", "figure": "capacity: agent peak RSS over all steps, up to saturation",
         "target": f"≤ {TARGET_RSS_MIB:.0f} MiB", "measured": f"{s['rss_max_mib']:.1f} MiB",
         "met": s["rss_max_mib"] <= TARGET_RSS_MIB},
        {"key": "capacity_responsive", "figure": "capacity: agent /healthz during load, worst",
         "target": "answers (≤ 1 s)", "measured": ("no answer" if s["healthz_worst_s"] is None else
                                                  fmt_lat(s["healthz_worst_s"]))
         + (f", {s['healthz_failed']} failed" if s["healthz_failed"] else ""),
         "met": s["healthz_worst_s"] is not None and s["healthz_worst_s"] <= 1.0 and not s["healthz_failed"]},
    ]


def reproduce_command(args):
    argv = ["scripts/bench/capacity.sh", "--steps", ",".join(str(x) for x in args.steps),
            "--duration", str(args.duration)]
    for a in args.agent_arg:
        argv += ["--agent-arg", a]
    return shlex.join(argv)


def fmt_lost(r):
    return ", ".join(f"{k} {v:,}" for k, v in r["lost"].items()) or "0"


def section(args, s, info, cmd, rounds):
    rows = target_rows(s)
    fl = s["first_loss"]
    lines = ["## Capacity: highest rate with zero lost events, and above it", "",
             "Written by `scripts/bench/capacity.sh`; rerun it to refresh this section.", "",
             *machine_lines(info, cmd),
             f"- Load: one agent (`redeye run`, default settings) for all steps; nginx as in the other sections; "
             f"each step {args.duration} s of hey at a fixed rate (keep-alive) or, for `max`, "
             f"`wrk -t{args.wrk_threads} -c{args.wrk_connections}` keep-alive at full speed", "",
             *targets_table(rows), targets_comment(rows), "",
             "| step | load | achieved | counted / sent | events lost | agent CPU, % of a core | agent RSS after "
             "/ peak | /healthz median / worst | machine busy |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rounds:
        step = "max" if r["step"] == "max" else f"{r['step']:,} req/s"
        hz = (f"{fmt_lat(r['healthz_median_s'])} / {fmt_lat(r['healthz_max_s'])}"
              + (f", {r['healthz_failed']} failed" if r["healthz_failed"] else ""))
        lines.append(f"| {step} | `{r['generator']}` | {r['rps']:,.0f} req/s | {r['counted']:,} / {r['requests']:,} | "
                     f"{fmt_lost(r)} | {r['agent_core_pct']:.0f} % | {r['agent_rss_kb'] / 1024:.1f} / "
                     f"{r['agent_hwm_kb'] / 1024:.1f} MiB | {hz} | {r['machine_busy_pct']:.0f} % |")
    lines += ["", ("Every step had zero lost events." if fl is None else
                   f"Loss starts at the step {fl['step']} ({fl['rps']:,.0f} req/s achieved): {fmt_lost(fl)}; "
                   f"{fl['missing']:,} requests not counted."),
              "", "How it is measured: counted is the increase of "
              "`http_server_request_duration_seconds_count{service_name=\"nginx\"}` once it has stopped moving "
              "after the step; sent is the load generator's count of completed requests; events lost is the "
              "increase of each `redeye_events_lost_total{stage,reason}` series. A step has zero loss when no "
              "event was lost and every request sent was counted. RSS is `VmRSS` after the step and `VmHWM` "
              "(peak since start) from `/proc/<pid>/status`: memory is bounded when it stops growing from step "
              "to step even above capacity. /healthz is fetched every 0.5 s during the load (5 s timeout); its "
              "latency shows whether the agent's listener still answers while the ring buffer is full."]
    return "\n".join(lines)


def parse_args():
    p = argparse.ArgumentParser(prog="capacity.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=parse_steps, default=parse_steps("5000,10000,20000,40000,max"),
                   help="offered rates in requests/s, comma separated, 'max' for wrk at full speed "
                        "(default 5000,10000,20000,40000,max)")
    p.add_argument("--duration", type=int, default=15, help="seconds of load per step (default 15)")
    p.add_argument("--settle", type=float, default=30, help="seconds at most to wait for the count to stop moving "
                   "after a step (default 30)")
    p.add_argument("--wrk-threads", type=int, default=2, help="wrk threads for the step max (default 2)")
    p.add_argument("--wrk-connections", type=int, default=32, help="wrk connections for the step max (default 32)")
    add_common_args(p)
    args = p.parse_args()
    if args.duration < 1:
        p.error("need --duration >= 1")
    return args


def main():
    args = parse_args()
    budget = len(args.steps) * (args.duration + args.settle + 60) + args.wait_others + 180
    rounds = []
    with Session(SECTION, args, budget) as sess:
        log(f"steps {args.steps}, {args.duration}s each; work dir {sess.workdir}")
        nginx = start_nginx(sess.children, sess.workdir, worker_connections=4096, rlimit=16384)
        sess.wait_quiet()
        agent = sess.agent(1)
        agent.start()
        try:
            time.sleep(2)
            for step in args.steps:
                r = run_step(args, sess, nginx, agent, step)
                rounds.append(r)
                log(f"step {step}: {r['rps']:.0f} req/s, counted {r['counted']}/{r['requests']}, lost "
                    f"{fmt_lost(r)}, agent {r['agent_core_pct']:.0f} % of a core, RSS {r['agent_rss_kb'] / 1024:.1f} "
                    f"MiB, /healthz worst {fmt_lat(r['healthz_max_s'])}")
                if agent.proc.poll() is not None:
                    raise RuntimeError(f"the agent exited with {agent.proc.returncode}:\n{agent.tail()}")
            mem = bpf_map_memory(agent.proc.pid)
        finally:
            agent.stop()
    s = summarize(rounds)
    s["bpf_map_bytes"] = mem[0] if mem else None
    info = machine_info(args)
    cmd = reproduce_command(args)
    print()
    for row in target_rows(s):
        met = {True: "MET", False: "NOT MET", None: "-"}[row["met"]]
        print(f"target {row['figure']}: {row['target']}: {met} ({row['measured']})")
    print(f"reproduce (as root, from the repository root): {cmd}")
    finish(args, SECTION, section(args, s, info, cmd, rounds), {"summary": s, "rounds": rounds, "machine": info})
    return 0


if __name__ == "__main__":
    main_guard("capacity", main)
