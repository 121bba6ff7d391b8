# Shared by run.sh and test.sh: mounts and the build.
REDEYE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REDEYE_BUILD="${REDEYE_BUILD:-$REDEYE_ROOT/build}"

redeye_mounts() {
  if ! mountpoint -q /sys/kernel/tracing; then
    mount -t tracefs tracefs /sys/kernel/tracing
  fi
  if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
  fi
}

redeye_build() {
  cmake -S "$REDEYE_ROOT" -B "$REDEYE_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$REDEYE_BUILD" -j "$(nproc)"
}
