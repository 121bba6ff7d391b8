#!/usr/bin/env bash
# Benchmark 'node_peer' (see node_peer.py --help and docs/benchmarks.md): a
# Node.js HTTP server under wrk keep-alive load, bare, instrumented with the
# OpenTelemetry JavaScript SDK, and bare under the redeye agent, rounds
# interleaved a b c a b c ... A benchmark, not a test: it asserts nothing and
# exits 0 when it ran, whatever the figures. It installs the pinned npm
# packages of scripts/bench/node_peer/ (package-lock.json) into a directory of
# its own (build/bench-node-peer by default, see --npm-dir) and nothing else;
# everything it starts is stopped on exit, and the run is bounded in time.
#
#   sudo scripts/bench/node_peer.sh [OPTIONS]     (scripts/bench/node_peer.sh --help)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/benchlib.sh"
bench_main node_peer "node npm wrk" "$@"
