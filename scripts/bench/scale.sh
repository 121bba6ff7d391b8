#!/usr/bin/env bash
# Benchmark 'scale' of the redeye agent (issue 9); see scale.py --help and
# docs/benchmarks.md. A benchmark, not a test: it asserts nothing and exits 0
# when it ran, whatever the figures. Installs nothing; everything it starts is
# stopped on exit, and the run is bounded in time.
#
#   sudo scripts/bench/scale.sh [OPTIONS]     (scripts/bench/scale.sh --help)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/benchlib.sh"
bench_main scale "nginx cc" "$@"
