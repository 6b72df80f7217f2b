#!/usr/bin/env bash
# Regenerates the console's screenshots in docs/img (docs/console.md shows them): runs the browser test
# (test/console.e2e.test.ts), which saves a PNG of each view it checks when CONSOLE_SCREENSHOTS is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CONSOLE_SCREENSHOTS="$PWD/docs/img" node --import tsx --test --test-timeout=600000 test/console.e2e.test.ts
