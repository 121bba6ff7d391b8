#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: unit tests
# and kernel tests (the real agent against the real kernel; needs root).
# Under CI=true a kernel test that cannot run fails instead of skipping.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REDEYE_ROOT/scripts/install-deps.sh" --with-tests
redeye_mounts
redeye_build
cd "$REDEYE_BUILD"
ctest --output-on-failure --timeout 900 "$@"
# The userspace benchmark builds against redeye_core and runs a short while:
# a change to the event format that leaves it behind fails here, not at the
# next measurement.
"$REDEYE_ROOT/scripts/bench/http_pipeline_bench.sh" "$REDEYE_BUILD" --requests 2000
# The unit tests again under ASan+UBSan, then every fuzz target for a bounded
# time (one clang build shared by both, in build-sanitize/).
"$REDEYE_ROOT/scripts/sanitize.sh"
"$REDEYE_ROOT/scripts/fuzz.sh" "${REDEYE_FUZZ_SECONDS:-45}"
