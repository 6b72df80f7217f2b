#!/usr/bin/env bash
# Installs what the lake needs on a fresh clone: npm dependencies (npm ci), nats-server and chromium
# (from Debian's packages when they are not already on the machine). Safe to run again: it skips what is done.
set -euo pipefail
cd "$(dirname "$0")/.."

have_nats() {
  command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || [ -x /usr/local/sbin/nats-server ]
}

if ! have_nats; then
  echo "setup: nats-server not found; installing Debian's nats-server package" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi

# Chromium (Debian's package) for the console's browser tests (test/console.e2e.test.ts), when missing.
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: /usr/bin/chromium not found; installing Debian's chromium package" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# npm ci when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
