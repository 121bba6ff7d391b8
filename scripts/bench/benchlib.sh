# Shared by the benchmark wrappers in scripts/bench: checks tools, root and
# tracefs, runs the Python side in a work directory, and on exit kills every
# process group the Python side listed (the safety net for when Python dies
# without cleaning up) and puts kernel.bpf_stats_enabled back.
#
#   source "$HERE/benchlib.sh"; bench_main NAME "TOOL ..." "$@"
# runs $HERE/NAME.py --workdir DIR "$@".

bench_main() {
  local name="$1" tools="$2"
  shift 2
  local here
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
      exec python3 "$here/$name.py" --help
    fi
  done
  local missing=() tool
  for tool in python3 $tools; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    echo "$name: missing tool(s): ${missing[*]}" >&2
    echo "  install them first (scripts/install-deps.sh --with-tests installs the test tools); this script installs nothing" >&2
    exit 1
  fi
  if ((EUID != 0)); then
    echo "$name: must run as root (the agent loads BPF programs)" >&2
    exit 1
  fi
  if ! mountpoint -q /sys/kernel/tracing; then
    echo "$name: tracefs is not mounted on /sys/kernel/tracing" >&2
    echo "  mount it first: mount -t tracefs tracefs /sys/kernel/tracing (scripts/run.sh does this)" >&2
    exit 1
  fi
  BENCH_WORKDIR="$(mktemp -d "/tmp/redeye-bench-$name.XXXXXX")"
  BENCH_PY_PID=""
  trap _bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
  cd "$here/../.."
  python3 "$here/$name.py" --workdir "$BENCH_WORKDIR" "$@" &
  BENCH_PY_PID=$!
  wait "$BENCH_PY_PID"
}

_bench_cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [[ -n "$BENCH_PY_PID" ]] && kill -0 "$BENCH_PY_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PY_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$BENCH_PY_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BENCH_PY_PID" 2>/dev/null || true
  fi
  if [[ -f "$BENCH_WORKDIR/pgids" ]]; then
    while read -r pgid; do
      [[ "$pgid" =~ ^[0-9]+$ ]] || continue
      kill -KILL -- "-$pgid" 2>/dev/null || true
    done <"$BENCH_WORKDIR/pgids"
  fi
  if [[ -f "$BENCH_WORKDIR/bpf_stats_enabled.saved" ]]; then
    sysctl -q -w "kernel.bpf_stats_enabled=$(cat "$BENCH_WORKDIR/bpf_stats_enabled.saved")" || true
  fi
  rm -rf "$BENCH_WORKDIR"
  exit "$rc"
}
