#!/usr/bin/env bash
# Benchmark 'fixed_rate' of the redeye agent (issue 9); see fixed_rate.py --help and
# docs/benchmarks.md. A benchmark, not a test: it asserts nothing and exits 0
# when it ran, whatever the figures. Installs nothing; everything it starts is
# stopped on exit, and the run is bounded in time.
#
#   sudo scripts/bench/fixed_rate.sh [OPTIONS]     (scripts/bench/fixed_rate.sh --help)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/benchlib.sh"
bench_main fixed_rate "nginx hey" "$@"
