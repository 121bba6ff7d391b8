#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) and runs each for a bounded time,
# starting from its committed seed corpus (tests/fuzz/corpus/<target>).
# Fails on any crash, sanitizer report, leak, timeout or out-of-memory; the
# input that caused it is kept in the work directory printed at the end.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60, all)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/sanitizer-build.sh"

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || (( seconds < 1 )); then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]" >&2
  exit 2
fi
targets=("$@")
if (( ${#targets[@]} == 0 )); then
  for source in "$REDEYE_ROOT"/tests/fuzz/fuzz_*.cpp; do
    name="$(basename "$source" .cpp)"
    targets+=("${name#fuzz_}")
  done
fi

redeye_sanitizer_build "${targets[@]/#/fuzz_}"

work="$(mktemp -d /tmp/redeye-fuzz.XXXXXX)"
failed=()
printf '%-10s %10s %8s %8s %s\n' target runs exec/s corpus result
for t in "${targets[@]}"; do
  seeds="$REDEYE_ROOT/tests/fuzz/corpus/$t"
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  [[ -d "$seeds" ]] || { echo "no seed corpus $seeds" >&2; exit 1; }
  # New inputs go to the work corpus; the committed seeds stay as they are.
  rc=0
  "$REDEYE_SANITIZE_BUILD/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" \
    "$work/$t/corpus" "$seeds" >"$work/$t/log" 2>&1 || rc=$?
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log")"
  speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$t/log")"
  corpus="$(find "$work/$t/corpus" "$seeds" -type f | wc -l)"
  if (( rc != 0 )) || ls "$work/$t/artifacts/"* >/dev/null 2>&1; then
    failed+=("$t")
    printf '%-10s %10s %8s %8s %s\n' "$t" "${runs:-?}" "${speed:-?}" "$corpus" "FAILED (exit $rc)"
    grep -m 20 -E 'ERROR|runtime error|SUMMARY|deadly signal|Test unit written' "$work/$t/log" >&2 || true
  else
    printf '%-10s %10s %8s %8s %s\n' "$t" "$runs" "$speed" "$corpus" ok
  fi
done
if (( ${#failed[@]} > 0 )); then
  echo "fuzz: FAILED: ${failed[*]}; logs and crashing inputs in $work" >&2
  exit 1
fi
rm -rf "$work"
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
