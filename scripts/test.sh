#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), then run the whole suite: lint, format, types,
# unit/widget/PostgreSQL/browser/docs tests, and the notebooks. Every step runs even when
# an earlier one fails; the exit code is non-zero when any step failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
# The test domain (tests/plugins): the job kinds that exercise the job machinery and the
# smallest real domain; installed for the tests only and removed after them, so that a
# hub or demo served from this environment never adds its table to their databases.
.venv/bin/python -m pip install --quiet --no-deps -e tests/plugins/shiftdesk-testdomain
trap '.venv/bin/python -m pip uninstall --quiet --yes shiftdesk-testdomain' EXIT

if [ "${CI:-}" = "true" ]; then
    # In CI a missing service (PostgreSQL, browser) is an error, never a skip.
    export SHIFTDESK_TEST_REQUIRE_SERVICES=1
fi
export PYTHONUNBUFFERED=1
export PYTHONDONTWRITEBYTECODE=1

failed=()

step() {
    # step NAME OK_CODES... -- COMMAND...
    local name="$1"
    shift
    local ok=()
    while [ "$1" != "--" ]; do
        ok+=("$1")
        shift
    done
    shift
    printf '\n==> %s: %s\n' "$name" "$*"
    local rc=0
    "$@" || rc=$?
    local code
    for code in "${ok[@]}"; do
        if [ "$rc" -eq "$code" ]; then
            printf '==> %s: ok\n' "$name"
            return 0
        fi
    done
    printf '==> %s: FAILED (exit code %s)\n' "$name" "$rc"
    failed+=("$name")
}

step "ruff check" 0 -- .venv/bin/ruff check .
step "ruff format" 0 -- .venv/bin/ruff format --check .
step "mypy" 0 -- .venv/bin/mypy
# Exit code 5 ("no tests collected") is a failure here: the suite must never be empty.
step "pytest tests" 0 -- .venv/bin/python -m pytest -p no:cacheprovider tests

if [ -n "$(find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' -print -quit 2>/dev/null)" ]; then
    step "notebooks" 0 5 -- .venv/bin/python -m pytest -p no:cacheprovider \
        --nbval-lax --nbval-current-env notebooks
else
    printf '\n==> notebooks: skipped (no .ipynb files in notebooks/ yet)\n'
fi

echo
if [ "${#failed[@]}" -gt 0 ]; then
    joined="$(printf '%s, ' "${failed[@]}")"
    printf 'FAILED steps: %s\n' "${joined%, }"
    exit 1
fi
echo "All steps passed."
