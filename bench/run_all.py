"""Run every benchmark in its own process and print their RATIO lines.

Run: ``.venv/bin/python bench/run_all.py`` (``-v`` also shows each script's full output).
The exit code is 0 even when a ratio misses its target: these are measurements, not
tests. It is 1 only when a script fails or prints no RATIO line.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 300
#: scripts that need longer than TIMEOUT_S (script name -> seconds)
TIMEOUTS = {
    "bench_hub.py": 900,  # starts a hub, spawns servers, drives Chromium
    "bench_remote_first.py": 600,  # 16 fresh SSH sessions, numba compiling on a fresh account
    "bench_runtable_dashboard.py": 600,  # 3,000 × 100 import, two voila servers, Chromium
    "bench_runtable_live.py": 900,  # 20 notices, 1,000 queued runs, 2 min of readers vs jobs
}


def scripts() -> list[Path]:
    """``bench/bench_*.py``, in name order."""
    return sorted(HERE.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    # bench_remote runs the test domain's "test.sleep" jobs: install it for this run only
    # (as scripts/test.sh does), so that no hub or demo database gets its table.
    pip = [sys.executable, "-m", "pip", "--quiet"]
    plugin = HERE.parent / "tests" / "plugins" / "shiftdesk-testdomain"
    subprocess.run([*pip, "install", "--no-deps", "-e", str(plugin)], check=True)
    try:
        return _run_all(argv)
    finally:
        subprocess.run([*pip, "uninstall", "--yes", "shiftdesk-testdomain"], check=False)


def _run_all(argv: list[str]) -> int:
    verbose = "-v" in argv or "--verbose" in argv
    ratios: list[str] = []
    failed = False
    for script in scripts():
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, str(script)],
                capture_output=True,
                text=True,
                timeout=TIMEOUTS.get(script.name, TIMEOUT_S),
                cwd=HERE.parent,
            )
        except subprocess.TimeoutExpired:
            limit = TIMEOUTS.get(script.name, TIMEOUT_S)
            ratios.append(f"FAILED {script.name}: no result within {limit} s")
            failed = True
            continue
        elapsed = time.perf_counter() - t0
        if verbose:
            print(f"===== {script.name} ({elapsed:.0f} s) =====")
            print(proc.stdout, end="")
            if proc.returncode:
                print(proc.stderr, end="")
        found = [line for line in proc.stdout.splitlines() if line.startswith("RATIO ")]
        if proc.returncode or not found:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            ratios.append(f"FAILED {script.name} (exit {proc.returncode}): " + " | ".join(tail))
            failed = True
        else:
            ratios.extend(f"{line}   [{script.name}, {elapsed:.0f} s]" for line in found)
    if verbose:
        print("===== summary =====")
    for line in ratios:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
