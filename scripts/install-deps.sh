#!/usr/bin/env bash
# Installs what redeye needs to build and test, from Debian packages.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

BUILD_PACKAGES=(
  cmake make g++ pkg-config clang llvm
  libbpf-dev bpftool libelf-dev zlib1g-dev
  prometheus-cpp-dev libcivetweb-dev libboost-program-options-dev libssl-dev
  googletest libgtest-dev libgmock-dev
)
# Tools the kernel tests drive: workloads and ground truth.
TEST_PACKAGES=(
  python3 python3-yaml curl iproute2 nftables util-linux coreutils procps
  nginx-light wrk openssl nodejs python3-boto3
  postgresql postgresql-contrib mariadb-server mariadb-client
  rabbitmq-server python3-pika python3-pymysql
  prometheus tmux hey libcap2-bin unzip
  libclang-rt-14-dev
)

want=("${BUILD_PACKAGES[@]}")
if [[ "${1:-}" == "--with-tests" ]]; then
  want+=("${TEST_PACKAGES[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "redeye: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
  exit 1
fi

echo "redeye: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
