#!/usr/bin/env bash
# The whole test suite: type-check every package, lint, then every test file (unit, integration and
# cross-service) with Node's test runner. Each test file that needs a nats-server starts its own on a
# free port. Tests are named by level: *.unit.test.ts (no server, no process), *.int.test.ts (one
# package against real servers: nats-server, SQLite, DuckDB, an S3 server), *.e2e.test.ts (the lake's
# processes together).
#   bash scripts/test.sh          everything (what CI runs)
#   bash scripts/test.sh --unit   type-check, lint and the unit tests only (about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
unit_only=false
for arg in "$@"; do
  case "$arg" in
    --unit) unit_only=true ;;
    *) echo "usage: bash scripts/test.sh [--unit]" >&2; exit 2 ;;
  esac
done
bash scripts/setup.sh
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
npx --no-install turbo run typecheck --output-logs=errors-only
# The benchmarks, the chaos harness and the deploy scripts are not workspaces, but they run the same code: check them too.
npx --no-install tsc -p bench
npx --no-install tsc -p chaos
npx --no-install tsc -p deploy
# Layers (libraries never import services or apps/; services never import each other), floating
# promises, type-only imports, import order; then formatting.
npx --no-install eslint .
npx --no-install prettier --check --log-level warn "**/*.{ts,js,json}"
shopt -s nullglob
dirs=(contracts/test shared/*/test services/*/test apps/*/test test)
files=()
for d in "${dirs[@]}"; do
  if $unit_only; then files+=("$d"/*.unit.test.ts); else files+=("$d"/*.test.ts); fi
done
# Every test (and hook) has a 10-minute bound: one that livelocks fails instead of sinking the run.
exec node --import tsx --test --test-concurrency=2 --test-timeout=600000 "${files[@]}"
