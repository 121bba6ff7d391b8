# Sourced by sanitize.sh and fuzz.sh: one clang build with AddressSanitizer,
# UndefinedBehaviorSanitizer and libFuzzer coverage (REDEYE_FUZZ=ON), in its
# own directory, shared by both scripts so that CI compiles the code once.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REDEYE_SANITIZE_BUILD="${REDEYE_SANITIZE_BUILD:-$REDEYE_ROOT/build-sanitize}"

# Any sanitizer report ends the process with an error; leaks are reports too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

redeye_sanitizer_build() {  # targets...
  local cc cxx
  cc="$(command -v clang-14 || command -v clang)"
  cxx="$(command -v clang++-14 || command -v clang++)"
  CC="$cc" CXX="$cxx" cmake -S "$REDEYE_ROOT" -B "$REDEYE_SANITIZE_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DREDEYE_FUZZ=ON >/dev/null
  cmake --build "$REDEYE_SANITIZE_BUILD" -j "$(nproc)" --target "$@"
}
