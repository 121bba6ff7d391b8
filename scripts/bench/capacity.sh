#!/usr/bin/env bash
# Benchmark 'capacity' of the redeye agent (issue 9); see capacity.py --help and
# docs/benchmarks.md. A benchmark, not a test: it asserts nothing and exits 0
# when it ran, whatever the figures. Installs nothing; everything it starts is
# stopped on exit, and the run is bounded in time.
#
#   sudo scripts/bench/capacity.sh [OPTIONS]     (scripts/bench/capacity.sh --help)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/benchlib.sh"
bench_main capacity "nginx hey wrk" "$@"
