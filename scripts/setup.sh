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

# promtool (checks deploy/prometheus in test/observability.int.test.ts), from Debian's prometheus package.
# Only the one binary is unpacked into .tools/bin: installing the package would also start a Prometheus server.
if ! command -v promtool >/dev/null 2>&1 && [ ! -x .tools/bin/promtool ]; then
  echo "setup: promtool not found; unpacking it from Debian's prometheus package into .tools/bin" >&2
  tmp="$(mktemp -d)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1) || { $SUDO apt-get update -qq && (cd "$tmp" && apt-get download prometheus >/dev/null); }
  mkdir -p .tools/bin
  dpkg-deb --fsys-tarfile "$tmp"/prometheus_*.deb | tar -x -O ./usr/bin/promtool >.tools/bin/promtool
  chmod +x .tools/bin/promtool
  rm -rf "$tmp"
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

# The CLI and the services run compiled (apps/lake/src/build.ts, esbuild): rebuild only what a source
# change made stale (a second or two when something is; a stale bundle never runs either way).
node --import tsx apps/lake/src/build.ts --if-stale
