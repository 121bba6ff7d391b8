#!/usr/bin/env bash
# The whole benchmark suite (targets of issue 13), one after the other, then the
# summary of docs/benchmarks.md (scripts/bench/report.py):
#   1. hook_cost     ns added per syscall (ignored TCP and Unix sockets, pipe, file, getppid)
#   2. fixed_rate    nginx at 1k and 10k req/s by hey: p50/p99, agent CPU, RSS, BPF map memory
#   3. http_overhead saturation (nginx + wrk), then once more with --bpf-stats (cost per BPF program)
#   4. capacity      highest rate with zero lost events, and above it
#   5. scale         10k keep-alive connections and 1k processes
#   6. node_peer     a Node.js server under wrk: bare, with the OpenTelemetry SDK, under the agent
#                    (installs its pinned npm packages into build/bench-node-peer the first time)
# About 16 minutes on the 2-core development machine when it is idle.
#
#   sudo scripts/bench/run_all.sh [--agent PATH] [--compare-agent PATH] [--quick] [--no-docs] [--busy-ok]
#                                 [--only NAME,...]
#
# --compare-agent PATH  another agent binary (e.g. the previous release): hook_cost and
#            http_overhead add rounds C with it, interleaved A B C, reported in an extra column
# --compare-agent-arg ARG  an argument for the C rounds' 'redeye run' (repeatable), e.g.
#            --compare-agent build/redeye --compare-agent-arg=--capture --compare-agent-arg=syscalls
# --quick    a few seconds per benchmark: checks that the suite works; the figures mean nothing
#            (implies --no-docs unless --docs-anyway is given)
# --no-docs  print only; leave docs/benchmarks.md alone
# --busy-ok  do not wait for an idle machine or for other agents to end, leave
#            kernel.bpf_stats_enabled alone and skip the --bpf-stats run (for trial runs
#            beside other work)
# --only     run only these benchmarks (comma separated names from the list above)
# A benchmark that fails is reported and the others still run; the exit code is
# then 1.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
agent=() compare=() quick=0 docs=1 docs_anyway=0 busy=0 only=""
while (($#)); do
  case "$1" in
    --agent) agent=(--agent "$2"); shift 2 ;;
    --compare-agent) compare+=(--compare-agent "$2"); shift 2 ;;
    --compare-agent-arg) compare+=("--compare-agent-arg=$2"); shift 2 ;;
    --compare-agent-arg=*) compare+=("$1"); shift ;;
    --quick) quick=1; shift ;;
    --no-docs) docs=0; shift ;;
    --docs-anyway) docs_anyway=1; shift ;;
    --busy-ok) busy=1; shift ;;
    --only) only=",$2,"; shift 2 ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_all: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if ((quick && !docs_anyway)); then docs=0; fi

common=("${agent[@]}")
((docs)) || common+=(--no-docs)
((busy)) && common+=(--allow-other-agents --max-others 100 --wait-others 5 --leave-bpf-stats)
# waiting for a quiet machine: at most 10 minutes per benchmark
((busy)) || common+=(--wait-others 600)

if ((quick)); then
  hook=(--rounds 1 --iterations 50000 --pause 1)
  fixed=(--rounds 1 --duration 3)
  sat=(--rounds 1 --duration 3 --warmup 1)
  satbpf=(--rounds 1 --duration 3 --warmup 0 --bpf-stats)
  cap=(--steps 2000,20000,max --duration 3 --settle 10)
  scale=(--connections 2000 --processes 200 --hold 3 --settle 4)
  node=(--rounds 1 --duration 3 --warmup 1)
else
  hook=(--rounds 3 --iterations 500000)
  fixed=(--rounds 3 --duration 15)
  sat=(--rounds 3 --duration 10)
  satbpf=(--rounds 1 --duration 10 --bpf-stats)
  cap=(--steps 5000,10000,20000,40000,max --duration 15)
  scale=(--connections 10000 --processes 1000 --hold 20)
  node=(--rounds 3 --duration 10)
fi

failed=()
run() {
  local name="$1"; shift
  if [[ -n "$only" && "$only" != *",$name,"* ]]; then return; fi
  local t0=$SECONDS
  echo
  echo "=== $name: $*"
  if "$@"; then
    echo "=== $name: done in $((SECONDS - t0)) s"
  else
    echo "=== $name: FAILED (exit $?) after $((SECONDS - t0)) s" >&2
    failed+=("$name")
  fi
}

start=$SECONDS
run hook_cost "$HERE/hook_cost.sh" "${hook[@]}" "${compare[@]}" "${common[@]}"
run fixed_rate "$HERE/fixed_rate.sh" "${fixed[@]}" "${common[@]}"
run http_overhead "$HERE/http_overhead.sh" "${sat[@]}" "${compare[@]}" "${common[@]}"
# --bpf-stats turns kernel.bpf_stats_enabled on for its run: not beside other work
((busy)) || run http_overhead_bpf "$HERE/http_overhead.sh" "${satbpf[@]}" "${compare[@]}" "${common[@]}"
run capacity "$HERE/capacity.sh" "${cap[@]}" "${common[@]}"
run scale "$HERE/scale.sh" "${scale[@]}" "${common[@]}"
run node_peer "$HERE/node_peer.sh" "${node[@]}" "${common[@]}"
if ((docs)); then
  python3 "$HERE/report.py" --docs "$ROOT/docs/benchmarks.md"
fi
echo
echo "suite: $((SECONDS - start)) s in all; reproduce: sudo scripts/bench/run_all.sh" \
  "$( ((quick)) && echo --quick)"
if ((${#failed[@]})); then
  echo "suite: failed: ${failed[*]}" >&2
  exit 1
fi
