#!/usr/bin/env bash
# Benchmark 'hook_cost' of the redeye agent (issue 9); see hook_cost.py --help and
# docs/benchmarks.md. A benchmark, not a test: it asserts nothing and exits 0
# when it ran, whatever the figures. Installs nothing; everything it starts is
# stopped on exit, and the run is bounded in time.
#
#   sudo scripts/bench/hook_cost.sh [OPTIONS]     (scripts/bench/hook_cost.sh --help)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/benchlib.sh"
bench_main hook_cost "cc" "$@"
