#!/usr/bin/env bash
# `npm run bench`: the benchmarks (bench/run.ts; its flags pass through). What they need beyond the
# lake's own set-up: wrk (Debian's package), the load tool for one event per HTTP request in the
# throughput section (bench/wrk.ts), installed when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: wrk not found; installing Debian's wrk package" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  # Without it the wrk run is reported as skipped, not the whole bench.
  { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 ||
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }; } ||
    echo "bench: wrk could not be installed; its run is left out" >&2
fi
exec node --import tsx bench/run.ts "$@"
