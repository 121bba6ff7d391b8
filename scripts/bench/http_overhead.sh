#!/usr/bin/env bash
# HTTP overhead benchmark: nginx under wrk keep-alive load, rounds without
# the agent (A) and with it (B) interleaved A B A B ..., then a summary and
# the "HTTP overhead" section of docs/benchmarks.md.
#
#   sudo scripts/bench/http_overhead.sh [--rounds 3] [--duration 10] [--no-docs] [--bpf-stats] ...
#   scripts/bench/http_overhead.sh --help
#
# A benchmark, not a test: it asserts nothing and exits 0 when every round
# ran, whatever the figures. It installs nothing: nginx (Debian nginx-light),
# wrk, python3 and a built agent must already be there. Everything it starts
# is stopped on exit, and the whole run is bounded in time.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

for arg in "$@"; do
  if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
    exec python3 "$HERE/http_overhead.py" --help
  fi
done

missing=()
for tool in python3 nginx wrk; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "http_overhead: missing tool(s): ${missing[*]}" >&2
  echo "  install them first, e.g. 'apt-get install nginx-light wrk python3'" >&2
  echo "  (scripts/install-deps.sh --with-tests installs the test tools); this script installs nothing" >&2
  exit 1
fi
if ((EUID != 0)); then
  echo "http_overhead: must run as root (the agent loads BPF programs)" >&2
  exit 1
fi
if ! mountpoint -q /sys/kernel/tracing; then
  echo "http_overhead: tracefs is not mounted on /sys/kernel/tracing" >&2
  echo "  mount it first: mount -t tracefs tracefs /sys/kernel/tracing (scripts/run.sh does this)" >&2
  exit 1
fi

WORKDIR="$(mktemp -d /tmp/redeye-bench-http.XXXXXX)"
PY_PID=""

# Everything the Python side starts is in its own process group, listed in
# $WORKDIR/pgids. Python stops them itself; this trap is the safety net for
# when Python dies without cleaning up (SIGKILL, crash).
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n "$PY_PID" ]] && kill -0 "$PY_PID" 2>/dev/null; then
    kill -TERM "$PY_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PY_PID" 2>/dev/null || true
  fi
  if [[ -f "$WORKDIR/pgids" ]]; then
    while read -r pgid; do
      [[ "$pgid" =~ ^[0-9]+$ ]] || continue
      kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$WORKDIR/pgids"
  fi
  if [[ -f "$WORKDIR/bpf_stats_enabled.saved" ]]; then
    sysctl -q -w "kernel.bpf_stats_enabled=$(cat "$WORKDIR/bpf_stats_enabled.saved")" || true
  fi
  rm -rf "$WORKDIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

cd "$ROOT"
python3 "$HERE/http_overhead.py" --workdir "$WORKDIR" "$@" &
PY_PID=$!
wait "$PY_PID"
