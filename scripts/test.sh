#!/usr/bin/env bash
# The whole test suite: type-check every package, then every test file (unit and cross-service) with
# Node's test runner. Each test file starts its own nats-server on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
npx --no-install turbo run typecheck --output-logs=errors-only
# The benchmarks, the chaos harness and the deploy scripts are not workspaces, but they run the same code: check them too.
npx --no-install tsc -p bench
npx --no-install tsc -p chaos
npx --no-install tsc -p deploy
shopt -s nullglob
files=(contracts/test/*.test.ts shared/*/test/*.test.ts services/*/test/*.test.ts apps/*/test/*.test.ts test/*.test.ts)
# Every test (and hook) has a 10-minute bound: one that livelocks fails instead of sinking the run.
exec node --import tsx --test --test-concurrency=2 --test-timeout=600000 "${files[@]}"
