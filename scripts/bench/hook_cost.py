#!/usr/bin/env python3
"""Per-hook cost of the redeye agent: nanoseconds it adds to each read and
write syscall on fds that carry no traced protocol.

A small C program (hook_loop.c, compiled with cc into the work directory)
runs tight loops of 1-byte write + read over an AF_UNIX socketpair, a
loopback TCP connection carrying bytes of no known protocol, a pipe, and a
file (pwrite + pread), plus a getppid loop (a syscall the agent never
looks at). Rounds alternate A (no agent) and B (a fresh `redeye run`),
A B A B ...; the figure is median(B) - median(A) per loop.

Run it through hook_cost.sh. Python 3 standard library only.
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (Session, add_common_args, finish, log, machine_info, machine_lines,  # noqa: E402
                      main_guard, targets_comment, targets_table)

SECTION = "hook_cost"
TARGET_NS = 100.0
MODES = ["unix", "tcp", "pipe", "file", "getpid"]
TARGETED = ["unix", "tcp", "pipe", "file"]  # getpid is for reference: not a read/write
LABELS = {"unix": "AF_UNIX socketpair, write + read", "tcp": "loopback TCP, unknown protocol, write + read",
          "pipe": "pipe, write + read", "file": "file, pwrite + pread", "getpid": "getppid (not traced)"}


def compile_helper(workdir):
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hook_loop.c")
    exe = os.path.join(workdir, "hook_loop")
    subprocess.run(["cc", "-O2", "-o", exe, src], check=True, timeout=120)
    return exe


def run_loops(exe, args, workdir, children):
    out = {}
    for mode in MODES:
        argv = [exe, mode, str(args.iterations)] + ([os.path.join(workdir, "hook_loop.dat")] if mode == "file" else [])
        p = children.start(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        o, e = p.communicate(timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"hook_loop {mode} failed: {e.strip()}")
        out[mode] = float(o.split()[1])
    return out


def summarize(rounds):
    s = {}
    for mode in MODES:
        a = [r["ns"][mode] for r in rounds if r["kind"] == "A"]
        b = [r["ns"][mode] for r in rounds if r["kind"] == "B"]
        pairs = [y - x for x, y in zip(a, b)]
        s[mode] = {"a": statistics.median(a), "b": statistics.median(b),
                   "added": statistics.median(b) - statistics.median(a),
                   "pair_min": min(pairs), "pair_max": max(pairs),
                   "a_spread": max(a) - min(a)}
    s["worst_mode"] = max(TARGETED, key=lambda m: s[m]["added"])
    s["met"] = s[s["worst_mode"]]["added"] <= TARGET_NS
    return s


def target_rows(s):
    w = s["worst_mode"]
    return [{"key": "hook_ns", "figure": "per-hook cost: ns added per read/write syscall on fds of no traced "
             "protocol (worst of socketpair, TCP, pipe, file)", "target": f"≤ {TARGET_NS:.0f} ns",
             "measured": f"{s[w]['added']:.0f} ns ({w})", "met": s["met"]}]


def reproduce_command(args):
    argv = ["scripts/bench/hook_cost.sh", "--rounds", str(args.rounds), "--iterations", str(args.iterations)]
    for a in args.agent_arg:
        argv += ["--agent-arg", a]
    return shlex.join(argv)


def section(args, s, info, cmd, rounds):
    rows = target_rows(s)
    lines = ["## Per-hook cost: read and write syscalls with and without the agent", "",
             "Written by `scripts/bench/hook_cost.sh`; rerun it to refresh this section.", "",
             *machine_lines(info, cmd),
             f"- Load: `hook_loop` (scripts/bench/hook_loop.c, `cc -O2`), {args.iterations:,} iterations of each "
             f"loop after a tenth as many untimed; {args.rounds} rounds without the agent (A) and {args.rounds} "
             "with it (B), interleaved A B A B; B = `redeye run` with default settings, started fresh before "
             "each B round", "",
             *targets_table(rows), targets_comment(rows), "",
             "| loop | ns per syscall, A | ns per syscall, B | added (median B - median A) | pairs | A spread |",
             "|---|---|---|---|---|---|"]
    for m in MODES:
        x = s[m]
        lines.append(f"| {LABELS[m]} | {x['a']:,.0f} | {x['b']:,.0f} | **{x['added']:,.0f}** | "
                     f"{x['pair_min']:,.0f} to {x['pair_max']:,.0f} | {x['a_spread']:,.0f} |")
    lines += ["", "How it is measured: each loop's wall time (CLOCK_MONOTONIC) divided by the number of "
              "syscalls it made (2 per iteration; 1 for getppid). The loop is one thread on an otherwise idle "
              "machine, so the wall time is its CPU time. The agent's BPF programs on the raw `sys_enter` / "
              "`sys_exit` tracepoints run inside every syscall of every process; for these fds they find "
              "no traced connection and return early, so the added time is the tracepoints' entry cost plus "
              "the early-return path. The getppid row shows the part paid by every syscall, traced or not. "
              "'Pairs' is the difference of each B round against the A round before it; 'A spread' "
              "(max - min of the A rounds) is the machine's noise."]
    return "\n".join(lines)


def parse_args():
    p = argparse.ArgumentParser(prog="hook_cost.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="rounds of each kind (default 3)")
    p.add_argument("--iterations", type=int, default=500000,
                   help="write+read iterations per loop and round (default 500000)")
    p.add_argument("--pause", type=float, default=2.0, help="idle seconds after the agent is ready (default 2)")
    add_common_args(p)
    args = p.parse_args()
    if args.rounds < 1 or args.iterations < 1:
        p.error("need --rounds >= 1 and --iterations >= 1")
    return args


def main():
    args = parse_args()
    budget = 2 * args.rounds * (len(MODES) * (args.iterations * 30e-6 + 5) + 90) + args.wait_others + 120
    rounds = []
    with Session(SECTION, args, budget) as sess:
        exe = compile_helper(sess.workdir)
        log(f"{args.rounds} x A + {args.rounds} x B rounds of {args.iterations:,} iterations per loop; "
            f"work dir {sess.workdir}")
        for n in range(1, args.rounds + 1):
            for kind in ("A", "B"):
                sess.wait_quiet()
                agent = None
                try:
                    if kind == "B":
                        agent = sess.agent(n)
                        agent.start()
                    time.sleep(args.pause)
                    ns = run_loops(exe, args, sess.workdir, sess.children)
                finally:
                    if agent:
                        agent.stop()
                rounds.append({"kind": kind, "round": n, "ns": ns})
                log(f"round {n} {kind}: " + ", ".join(f"{m} {v:.0f} ns" for m, v in ns.items()))
    s = summarize(rounds)
    info = machine_info(args)
    cmd = reproduce_command(args)
    print()
    print(f"{'loop':48} {'A ns':>8} {'B ns':>8} {'added':>8}  pairs")
    for m in MODES:
        x = s[m]
        print(f"{LABELS[m]:48} {x['a']:8.0f} {x['b']:8.0f} {x['added']:8.0f}  {x['pair_min']:.0f} .. {x['pair_max']:.0f}")
    print(f"target: at most {TARGET_NS:.0f} ns added per read/write syscall: "
          f"{'MET' if s['met'] else 'NOT MET'} (worst: {s['worst_mode']}, {s[s['worst_mode']]['added']:.0f} ns)")
    print(f"reproduce (as root, from the repository root): {cmd}")
    finish(args, SECTION, section(args, s, info, cmd, rounds), {"summary": s, "rounds": rounds, "machine": info})
    return 0


if __name__ == "__main__":
    main_guard("hook_cost", main)
