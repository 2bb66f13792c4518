"""What the trust boundary costs: the same user actions with and without it, one run.

Starts the demo deployment twice, one after the other, on free loopback ports:

* **shared** — ``accounts.mode = "shared"``: every server as this account, SQLite, DAQ
  commands sent by the user's own kernel (the path before the boundary);
* **system** — per-user accounts, the hub's own PostgreSQL with a role per user
  (row-level security), DAQ changes through the gate service, which asks the hub who
  is calling at every action.

In each, ``alice`` and ``operator`` log in over HTTP and run timed code in a kernel of
their own server (the Jupyter API, as a notebook would; times measured inside the
kernel with ``perf_counter``, so the websocket is not counted):

* **fit submit** — ``job = problem.fit(method="lm")`` returning (local backend, spare
  worker warm; the job's row is stored, the worker handed it), and the whole fit to its
  result;
* **library** — ``Library().list_models()`` (identity, then a query of the user's rows);
* **DAQ action** — ``daq.set_next_run_number(n)`` by the operator (shared: checked and
  written by the kernel; system: sent to the gate, which asks the hub, checks, writes
  and audits);
* **DAQ command → state seen** — ``daq.describe()`` then ``undo()`` until the snapshot
  the kernel reads shows the new state (the simulated transition takes 0.3 s, and the
  hub's poller polls every second).

Prints medians per mode and ``RATIO`` lines: ``boundary_fit_submit_overhead_ms``
(system − shared, target ≤ 50), ``boundary_daq_action_ms`` (system, target ≤ 150, a
click's budget), ``boundary_daq_state_seen_p95_s`` (system, target ≤ 2) and
``boundary_library_list_ms`` (system, identity asked anew each time, target ≤ 20).

Run as root (per-user accounts need it): ``.venv/bin/python bench/bench_boundary.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    hub_state_folder,
    isolate,
    machine,
    median,
    percentile,
    print_table,
    ratio_line,
    running_hub,
)

FOLDER = isolate()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e._hubuser import HubUser  # noqa: E402

from shiftdesk.hub import load_settings, write_demo_settings  # noqa: E402
from shiftdesk.hub.config import free_port  # noqa: E402

ROUNDS = 15

SETUP_FIT = """
import time, json
from shiftdesk.jobs import get_backend
from shiftdesk.reflectometry.demo import demo_data, starting_problem
problem = starting_problem(demo_data())
problem.fit(method="lm").result(timeout=120)   # warm: imports, spare worker
"""
FIT = """
t0 = time.perf_counter(); job = problem.fit(method="lm"); t1 = time.perf_counter()
job.result(timeout=120); t2 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t0]))
"""
LIBRARY = """
import time, json
from shiftdesk.reflectometry.library import Library
Library().list_models()
out = []
for _ in range(ROUNDS):
    time.sleep(2.1)   # past the identity cache: each call asks who the user is
    t0 = time.perf_counter(); Library().list_models(); out.append(time.perf_counter() - t0)
print(json.dumps(out))
""".replace("ROUNDS", str(ROUNDS))
DAQ_SETUP = """
import time, json
from shiftdesk.daq import DAQSystem
daq = DAQSystem()
deadline = time.monotonic() + 30
while daq.snapshot().overall not in ("Idle", "Described"):
    assert time.monotonic() < deadline, daq.snapshot().overall
    time.sleep(0.2)
if daq.snapshot().overall == "Described":
    daq.undo().wait(30)
"""
DAQ_ACTION = """
out = []
n = daq.next_run_number
for _ in range(ROUNDS):
    t0 = time.perf_counter(); daq.set_next_run_number(n); out.append(time.perf_counter() - t0)
print(json.dumps(out))
""".replace("ROUNDS", str(ROUNDS))
DAQ_STATE = """
def until(state):
    deadline = time.monotonic() + 30
    while daq.snapshot().overall != state:
        assert time.monotonic() < deadline, daq.snapshot().overall
        time.sleep(0.02)
out = []
for _ in range(8):
    for command, state in ((daq.describe, "Described"), (daq.undo, "Idle")):
        t0 = time.perf_counter(); command(); until(state); out.append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def measure(mode: str) -> dict[str, list[float]]:
    """Start the demo in ``mode`` and time the actions."""
    state = hub_state_folder("bench-boundary")
    settings = load_settings(write_demo_settings(free_port(), state, accounts=mode == "system"))
    found: dict[str, list[float]] = {}
    with running_hub(settings, state) as hub:
        base = hub.url.rstrip("/")
        deadline = time.monotonic() + 60
        while "daq-simulator: experiment 'demo'" not in (state / "hub.log").read_text():
            if time.monotonic() > deadline:
                raise RuntimeError("no simulated ECC servers")
            time.sleep(0.3)
        alice = HubUser(base, "alice", "alice-demo").login()
        op = HubUser(base, "operator", "operator-demo").login()
        for user in (alice, op):
            user.start_server()
        kernel = alice.kernel()
        try:
            kernel.run(SETUP_FIT, timeout=300).ok()
            fits = [json.loads(kernel.run(FIT, 300).ok()) for _ in range(ROUNDS)]
            found["fit submit"] = [f[0] for f in fits]
            found["fit to result"] = [f[1] for f in fits]
            found["library list"] = json.loads(kernel.run(LIBRARY, 300).ok())
        finally:
            kernel.close()
        kernel = op.kernel()
        try:
            kernel.run(DAQ_SETUP, timeout=120).ok()
            found["DAQ action"] = json.loads(kernel.run(DAQ_ACTION, 120).ok())
            found["DAQ command -> state seen"] = json.loads(kernel.run(DAQ_STATE, 300).ok())
        finally:
            kernel.close()
    return found


def main() -> int:
    if os.geteuid() != 0:
        print("bench_boundary: per-user accounts need root; run it as root", file=sys.stderr)
        return 2
    print(machine())
    results = {mode: measure(mode) for mode in ("shared", "system")}
    rows = []
    for name in results["shared"]:
        shared, system = results["shared"][name], results["system"][name]
        rows.append(
            [
                name,
                f"{median(shared) * 1000:.1f}",
                f"{percentile(shared, 0.95) * 1000:.1f}",
                f"{median(system) * 1000:.1f}",
                f"{percentile(system, 0.95) * 1000:.1f}",
                f"{median(system) / median(shared):.2f}",
            ]
        )
    print_table(
        rows,
        ["action", "shared p50 ms", "shared p95 ms", "system p50 ms", "system p95 ms", "ratio"],
    )
    shared, system = results["shared"], results["system"]
    overhead = (median(system["fit submit"]) - median(shared["fit submit"])) * 1000
    print(ratio_line("boundary_fit_submit_overhead_ms", overhead, 50))
    print(ratio_line("boundary_daq_action_ms", median(system["DAQ action"]) * 1000, 150))
    seen = percentile(system["DAQ command -> state seen"], 0.95)
    print(ratio_line("boundary_daq_state_seen_p95_s", seen, 2))
    print(ratio_line("boundary_library_list_ms", median(system["library list"]) * 1000, 20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
