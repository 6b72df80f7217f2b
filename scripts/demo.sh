#!/usr/bin/env bash
# The demo: installs what is missing, starts nats-server and every service on a temp data dir, sends
# sample events (with retries and invalid records), and queries the committed version with DuckDB.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node apps/lake/bin/lake.js demo "$@"
