#!/usr/bin/env bash
# Installs what is missing, builds, and starts the agent with its defaults:
# every process on the host, metrics on 0.0.0.0:9435/metrics.
# Extra arguments go to `redeye run` (e.g. --listen 127.0.0.1:9435).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$REDEYE_ROOT/scripts/install-deps.sh"
redeye_mounts
redeye_build
exec "$REDEYE_BUILD/redeye" run "$@"
