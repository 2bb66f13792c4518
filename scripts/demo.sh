#!/usr/bin/env bash
# Set everything up, seed demo data and start the reflectometry dashboard with Voilà
# (http://127.0.0.1:8866; SQLite, local jobs). Extra arguments go to `shiftdesk demo`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
exec .venv/bin/shiftdesk demo "$@"
