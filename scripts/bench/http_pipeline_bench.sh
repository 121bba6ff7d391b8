#!/usr/bin/env bash
# The agent's userspace cost per HTTP request, measured without a kernel
# (see http_pipeline_bench.cpp): builds the benchmark against a build
# directory's redeye_core, then reports
#   - wall-clock nanoseconds per request (noisy on a busy machine), and
#   - with --callgrind, instructions per request: callgrind runs N and 2N
#     requests and the difference is divided by N, so set-up is left out.
#     Stable whatever the machine's load: compare builds with this.
# --dump prints the metrics after a fixed run (to diff two builds' values).
#
# usage: scripts/bench/http_pipeline_bench.sh BUILD_DIR [--callgrind] [--dump] [--requests N]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?usage: $0 BUILD_DIR [--callgrind] [--dump] [--requests N]}
shift
callgrind=0 dump=0 requests=200000
while [ $# -gt 0 ]; do
  case $1 in
    --callgrind) callgrind=1 ;;
    --dump) dump=1 ;;
    --requests) requests=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

lib=$build/libredeye_core.a
[ -f "$lib" ] || { echo "$lib not found: build $build first" >&2; exit 2; }
bin=$build/http_pipeline_bench
if [ ! -x "$bin" ] || [ "$lib" -nt "$bin" ] || [ "$here/http_pipeline_bench.cpp" -nt "$bin" ]; then
  ${CXX:-g++} -std=c++20 -O2 -g -DNDEBUG \
    -I"$root/userspace" -I"$root" -I"$root/bpf/include" -I"$build/bpfgen" \
    "$here/http_pipeline_bench.cpp" -o "$bin" \
    "$lib" -lprometheus-cpp-core -lbpf -lboost_program_options -lcrypt -lpthread
fi

if [ "$dump" = 1 ]; then
  "$bin" 7000 8 --dump
  exit 0
fi
"$bin" "$requests"
if [ "$callgrind" = 1 ]; then
  command -v valgrind >/dev/null || { echo "valgrind not installed" >&2; exit 2; }
  n=20000
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  instructions() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" "$bin" "$1" >/dev/null 2>"$out/log.$1"
    sed -n 's/^summary: //p' "$out/cg.$1"
  }
  one=$(instructions $n)
  two=$(instructions $((2 * n)))
  echo "callgrind: $(( (two - one) / n )) instructions per request ($n vs $((2 * n)) requests)"
fi
