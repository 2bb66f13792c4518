#!/usr/bin/env bash
# Make this machine ready to run, test and demo shiftdesk. Safe to run again: every step
# is skipped when its result is already there.
#
#   - Debian packages: chromium (browser tests) and postgresql (PostgreSQL tests),
#     and openssh-server (SSH job backend and DAQ end-of-run tests), and nodejs/npm
#     (for the hub's proxy), installed with apt-get only when missing
#   - configurable-http-proxy (JupyterHub's proxy, from npm) in .hub-node/
#   - .venv with shiftdesk installed editable with all extras (reinstalled only when
#     pyproject.toml changed)
#   - numba's compile cache warmed, so the first fit in a notebook is not slow
#   - shiftdesk's own sources byte-compiled, so a kernel does not compile them each start
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' (or install it yourself and run again)"
    fi
}

# -- system packages ------------------------------------------------------------------------
usable_python() {
    "$1" -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

# As root the hub runs each user's server under that user's own account, so the
# interpreter behind .venv must be one every account can run: a Python installed under
# /root (pyenv) is not. Prefer the system's Python then.
others_can_run() {
    [ "$(id -u)" -ne 0 ] && return 0
    runuser -u nobody -- "$1" -c 'import sys' >/dev/null 2>&1
}

pick_python() {
    local candidate
    for candidate in /usr/bin/python3.13 /usr/bin/python3.12 /usr/bin/python3.11 \
        /usr/bin/python3 "$(command -v python3 || true)"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        usable_python "$candidate" && others_can_run "$candidate" && {
            echo "$candidate"
            return 0
        }
    done
    candidate="$(command -v python3 || true)"
    [ -n "$candidate" ] && usable_python "$candidate" && echo "$candidate"
}

have_python_venv() {
    [ -n "$(pick_python)" ]
}

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
# the hub demo keeps its simulated DAQ network to the service account with iptables
if [ "$(id -u)" -eq 0 ] && ! command -v iptables >/dev/null 2>&1 && [ ! -x /usr/sbin/iptables ]; then
    missing+=(iptables)
fi
if [ ! -x .venv/bin/python ] && ! have_python_venv; then
    missing+=(python3 python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]} and this is not a Debian/Ubuntu machine: install them yourself"
    say "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
    say "system packages present (chromium, postgresql, openssh-server, npm)"
fi

# -- a checkout every account can run -------------------------------------------------------
# As root the hub runs each user's server under that user's own account, and those
# accounts run this checkout (its .venv, src/ and notebooks/). A checkout below a private
# folder (e.g. /root) is out of their reach: give them passage only (o+x: no listing) on
# the folders above it, and read access to it.
if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null 2>&1 &&
    ! runuser -u nobody -- test -r "$PWD/pyproject.toml" 2>/dev/null; then
    say "letting other accounts reach this checkout (the hub runs users under their own accounts)"
    dir="$PWD"
    while [ "$dir" != "/" ]; do
        chmod o+x "$dir"
        dir="$(dirname "$dir")"
    done
    runuser -u nobody -- test -r "$PWD/pyproject.toml" 2>/dev/null || chmod -R o+rX "$PWD"
fi

# -- virtual environment --------------------------------------------------------------------
if [ -x .venv/bin/python ] && ! others_can_run .venv/bin/python; then
    # made before the hub ran users under their own accounts (e.g. with pyenv's Python)
    say "recreating .venv: its interpreter cannot be run by other accounts (needed by the hub)"
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    python="$(pick_python)"
    [ -n "$python" ] || die "python3 >= 3.11 with the venv module is needed"
    say "creating .venv with $("$python" --version) ($python)"
    "$python" -m venv .venv
    if ! others_can_run .venv/bin/python; then
        say "WARNING: other accounts cannot run $python; the hub's per-user accounts will not work"
    fi
fi

stamp=.venv/.shiftdesk-install-stamp
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    say "installing shiftdesk with extras all,test,docs into .venv (pyproject.toml changed)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[all,test,docs]"
    rm -f .venv/.shiftdesk-numba-stamp
    printf '%s\n' "$want" >"$stamp"
else
    say ".venv is up to date with pyproject.toml"
fi

# -- numba cache ----------------------------------------------------------------------------
numba_stamp=.venv/.shiftdesk-numba-stamp
if [ "$(cat "$numba_stamp" 2>/dev/null || true)" != "$want" ]; then
    say "warming numba's cache (compiles refl1d's kernels once, may take a minute)"
    .venv/bin/python -c "from refl1d.names import *" >/dev/null
    printf '%s\n' "$want" >"$numba_stamp"
fi

# -- bytecode of our own sources -------------------------------------------------------------
# pip byte-compiles what it installs, but not an editable install's sources, and with
# PYTHONDONTWRITEBYTECODE set (scripts/test.sh, many containers) Python never writes the
# cache itself: every kernel (each dashboard opened) compiled shiftdesk's ~300 modules
# again. Compiled here once (only changed files; readable by the hub's user accounts).
say "byte-compiling src/ and widgets/ (changed files only)"
(umask 022 && .venv/bin/python -m compileall -q -j 0 src widgets >/dev/null)
find src widgets -type d -name __pycache__ -exec chmod -R go+rX {} +

# -- JupyterHub's proxy ----------------------------------------------------------------------
# `shiftdesk hub` looks for it in .hub-node/ first, then on PATH.
chp=.hub-node/node_modules/.bin/configurable-http-proxy
if [ -x "$chp" ]; then
    say "configurable-http-proxy present ($chp)"
else
    say "installing configurable-http-proxy@5 from npm into .hub-node/"
    npm install --silent --no-fund --no-audit --prefix .hub-node configurable-http-proxy@5 ||
        die "npm could not install configurable-http-proxy (needed by 'shiftdesk hub')"
fi

say "ready"
