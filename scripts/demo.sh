#!/usr/bin/env bash
# Set everything up, then start the demo.
#
#   bash scripts/demo.sh [PORT]      JupyterHub on http://127.0.0.1:PORT (default 8000, or
#                                    $PORT) with demo logins, simulated ECC servers and demo
#                                    data; it prints the URL and the logins when ready
#   bash scripts/demo.sh voila [reflectometry|daq|runtable|datalab|catalog]
#                                    standalone Voilà on http://127.0.0.1:8866 (or $PORT),
#                                    no logins
#
# Further arguments go to `shiftdesk hub --demo` (e.g. --state-dir DIR) or, after
# `voila`, to `shiftdesk demo` (e.g. --port 8867). Ctrl-C or SIGTERM stops everything.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=hub
port="${PORT:-8000}"
if [ "${1:-}" = voila ]; then
    mode=voila
    shift
elif [[ "${1:-}" =~ ^[0-9]+$ ]]; then
    port="$1"
    shift
fi

bash scripts/setup.sh

if [ "$mode" = voila ]; then
    exec .venv/bin/shiftdesk demo ${PORT:+--port "$PORT"} "$@"
fi
printf 'demo: starting the JupyterHub demo on http://127.0.0.1:%s/ (another port: %s)\n' \
    "$port" "bash scripts/demo.sh PORT"
exec .venv/bin/shiftdesk hub --demo --port "$port" "$@"
