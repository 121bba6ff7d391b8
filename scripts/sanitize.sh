#!/usr/bin/env bash
# Builds the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (clang, -fno-sanitize-recover=all, see scripts/sanitizer-build.sh) and runs
# them: any report (memory error, leak, undefined behaviour) fails the run.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sanitizer-build.sh"

redeye_sanitizer_build redeye_unit_tests
"$REDEYE_SANITIZE_BUILD/tests/redeye_unit_tests" --gtest_brief=1 "$@"
echo "sanitize: unit tests passed under ASan+UBSan (no reports)"
