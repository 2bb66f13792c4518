"""The run table live: a notice to a visible value, a 1,000-run reprocess, readers vs writers.

Everything runs on the local job backend with SQLite in this script's throw-away data
folder (``_common.isolate``), with a one-variable context (``energy = 1.5 × run``) and
one empty data folder per run. Measured (issue 11 targets):

a. **notice → value**: ``rt.add_run(n)`` for 20 new runs, one at a time (2 s apart, as
   runs are minutes apart at a facility and the backend's spare worker is then ready),
   while a second handle on the table (an open dashboard's) polls every 20 ms:
   ``states([n])`` until the run shows ``queued`` (target ≤ 1 s), and ``changes(seq)``
   + ``table()`` until its ``energy`` value is there (target p95 ≤ 5 s). A dashboard
   polling at its own period P adds up to P on top. For comparison: a bare
   ``python -c pass``, a cold job worker's imports, and the context engine alone
   (``run_context`` of the same file for one run, i.e. its child process start and run).
b. **reprocess 1,000 runs**: ``rt.process(range(1, 1001))`` on a table of 1,000 runs with
   ``concurrent_jobs=15``: seconds until the call returns with all 1,000 runs queued
   (``states()``) and until the first 15 have a job (target ≤ 10 s). Nothing is waited
   for beyond that: ``rt.cancel()`` then stops them.
c. **readers vs writers**: 20 reader *processes* (one per dashboard user, each with its own
   connections, as the table's owner so their ``changes()`` also pump the queue) call
   ``changes()`` + ``table()`` once a second while 15 jobs at a time process the table's
   runs (the queue is refilled when it runs dry) for 120 s (``--quick``: 20 s). Every
   exception a reader gets is counted (``database is locked`` separately), and so are
   failed runs in ``rt.states()`` (target: no "database is locked" reaches anyone).

After each part the script cancels what is left and checks that no process of its data
folder (job workers, context processes, readers) is still alive; it kills any it finds,
by pid, and says so.

Run: ``.venv/bin/python bench/bench_runtable_live.py [--quick]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

READER = "--reader" in sys.argv
if READER:  # a reader process of part c: the parent's data folder, not a new one
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import ROOT

    FOLDER = os.environ["SHIFTDESK_DATA_DIR"]
else:
    from _common import ROOT, isolate

    FOLDER = isolate()
sys.path.insert(0, str(ROOT))

from _common import machine, median, percentile, print_table, ratio_line  # noqa: E402

CONTEXT = '''\
from damnit_ctx import Variable

@Variable(title="Energy", units="uJ")
def energy(run):
    """Pulse energy."""
    return 1.5 * run.number
'''
NOTICES = 20
NOTICE_GAP_S = 2.0
POLL_S = 0.02
REPROCESS_RUNS = 1000
CONCURRENT = 15
READERS = 20
#: of the readers, this many are the table's owner (an editor's dashboard: its changes()
#: also pumps the queue every 10 s); the others are read-only members
EDITOR_READERS = 5
#: targets of issue 11
VALUE_P95_TARGET_S = 5.0
QUEUED_TARGET_S = 1.0
REPROCESS_TARGET_S = 10.0


# -- helpers -----------------------------------------------------------------------------------
def data_template(runs: int) -> str:
    raw = Path(FOLDER) / "raw"
    for run in range(1, runs + 1):
        (raw / f"r{run:04d}").mkdir(parents=True, exist_ok=True)
    return str(raw / "r{run:04d}")


def spare_pids() -> set[int]:
    """The standby worker this process's local backend keeps (by design, not a leftover)."""
    from shiftdesk.jobs import backend

    pids = set()
    for instance in list(getattr(backend, "_instances", {}).values()):
        spare = getattr(instance, "_spare", None)
        if spare is not None and spare.poll() is None:
            pids.add(spare.pid)
    return pids


def our_processes() -> list[int]:
    """Pids of live processes started for this data folder (workers, context runs, readers),
    besides the local backend's spare worker."""
    found = []
    spare = spare_pids()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid() or int(entry) in spare:
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if f"SHIFTDESK_DATA_DIR={FOLDER}".encode() in env.split(b"\0") or FOLDER.encode() in cmd:
            found.append(int(entry))
    return found


def settle(label: str, wait_s: float = 60.0) -> str:
    """Wait until no process of this data folder is left; kill (by pid) what remains."""
    deadline = time.monotonic() + wait_s
    left = our_processes()
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = our_processes()
    if not left:
        return f"{label}: no worker or context process left (the backend's spare worker aside)"
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return f"{label}: {len(left)} process(es) still alive after {wait_s:.0f} s, killed: {left}"


def timed_command(command: list[str], repeat: int = 5) -> float:
    """Median wall time of a command (s)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ))
        times.append(time.perf_counter() - t0)
    return median(times)


# -- peers -------------------------------------------------------------------------------------
def peers(template: str) -> dict[str, float]:
    """Raw costs a run's processing is made of."""
    from shiftdesk.runtable.context.engine import run_context

    out = {
        "python -c pass": timed_command([sys.executable, "-c", "pass"]),
        "cold worker imports (shiftdesk.jobs.worker + runtable.processing)": timed_command(
            [sys.executable, "-c", "import shiftdesk.jobs.worker, shiftdesk.runtable.processing"]
        ),
    }
    work = Path(FOLDER) / "engine"
    work.mkdir()
    context = work / "context.py"
    context.write_text(CONTEXT)
    times = []
    for i in range(5):
        t0 = time.perf_counter()
        outcome = run_context(
            context, run=1, run_path=template.format(run=1), proposal="peer",
            fragment=work / f"f{i}.h5", timeout=60,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
        assert outcome.cells["energy"].number == 1.5, outcome
    out["context engine alone: run_context, one variable"] = median(times)
    return out


# -- a: notice -> value ------------------------------------------------------------------------
def notices(template: str) -> dict[str, list[float]]:
    from shiftdesk.runtable import RunTable

    rt = RunTable.create("live", data=template, context=CONTEXT, concurrent_jobs=CONCURRENT)
    view = RunTable.open("live")  # the dashboard's own handle
    found: dict[str, list[float]] = {
        "add_run returns": [], "queued visible": [], "running visible": [],
        "value visible (changes + table)": [],
    }  # fmt: skip
    for i, run in enumerate(range(1, NOTICES + 2)):  # the first is a warm-up
        time.sleep(NOTICE_GAP_S if i else 4.0)  # the spare worker imports meanwhile
        seq = view.seq
        marks: dict[str, float] = {}
        done = threading.Event()

        def watch(
            run: int = run, seq: int = seq, marks: dict[str, float] = marks,
            done: threading.Event = done,
        ) -> None:  # fmt: skip
            deadline = time.perf_counter() + 60
            while time.perf_counter() < deadline:
                state = view.states([run]).get(run)
                now = time.perf_counter()
                if state is not None and state.status in ("queued", "running", "done"):
                    marks.setdefault("queued visible", now)
                if state is not None and state.status in ("running", "done"):
                    marks.setdefault("running visible", now)
                changes = view.changes(seq)
                if run in changes.runs:
                    seq = changes.seq
                    frame = view.table()
                    if run in frame.index and frame.loc[run, "energy"] == 1.5 * run:
                        marks["value visible (changes + table)"] = time.perf_counter()
                        break
                time.sleep(POLL_S)
            done.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t0 = time.perf_counter()
        rt.add_run(run)
        marks["add_run returns"] = time.perf_counter()
        done.wait(70)
        if i == 0:
            continue
        for name, out in found.items():
            out.append(marks[name] - t0 if name in marks else float("nan"))
    states = rt.states()
    bad = {r: s for r, s in states.items() if s.status != "done"}
    if bad:
        print(f"  runs not done after part a: {bad}")
    return found


# -- b: reprocess 1,000 runs -------------------------------------------------------------------
def reprocess(template: str) -> dict[str, float]:
    from shiftdesk.runtable import RunTable

    rt = RunTable.create("reprocess", data=template, context=CONTEXT, concurrent_jobs=CONCURRENT)
    rt.add_runs(range(1, REPROCESS_RUNS + 1), process=False)
    t0 = time.perf_counter()
    handles = rt.process(range(1, REPROCESS_RUNS + 1))
    returned = time.perf_counter() - t0
    states = rt.states()
    waiting = sum(1 for s in states.values() if s.status in ("queued", "running", "done"))
    all_queued = time.perf_counter() - t0
    with_job = sum(1 for s in states.values() if s.job)
    out = {
        "process() returns": returned,
        "all 1,000 queued in states()": all_queued if waiting == REPROCESS_RUNS else float("nan"),
        "runs holding a job then": float(with_job),
        "handles returned": float(len(handles)),
    }
    cancelled = rt.cancel()
    out["runs cancelled"] = float(len(cancelled))
    print(" ", settle("after part b"))
    final = rt.states()
    out["runs done before cancel"] = float(sum(1 for s in final.values() if s.status == "done"))
    out["runs failed"] = float(sum(1 for s in final.values() if s.status == "failed"))
    return out


# -- c: readers vs writers ---------------------------------------------------------------------
def reader_main(name: str, seconds: float, who: str) -> int:
    """One reader process: changes() + table() at 1 Hz; prints a JSON summary."""
    from shiftdesk.identity import Identity
    from shiftdesk.runtable import RunTable

    rt = RunTable.open(name, identity=Identity(who) if who else None)
    seq = rt.seq
    rt.table()
    print("ready", flush=True)
    sys.stdin.readline()  # the parent says go
    calls, errors, locked, late, times = 0, [], 0, 0, []
    parts: dict[str, list[float]] = {"changes": [], "changes with pump": [], "table": []}
    start = time.monotonic()
    tick = start
    while time.monotonic() - start < seconds:
        t0 = time.perf_counter()
        try:
            pumped = rt._pumped
            changes = rt.changes(seq)
            t1 = time.perf_counter()
            parts["changes" if rt._pumped == pumped else "changes with pump"].append(t1 - t0)
            seq = changes.seq
            rt.table()
            parts["table"].append(time.perf_counter() - t1)
        except Exception as exc:  # every error a reader gets is the figure
            text = f"{type(exc).__name__}: {exc}"
            errors.append(text[:300])
            locked += "database is locked" in text
        calls += 1
        times.append(time.perf_counter() - t0)
        tick += 1.0
        pause = tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            late += 1
            tick = time.monotonic()
    print(json.dumps({"calls": calls, "errors": errors, "locked": locked, "late": late,
                      "median": median(times), "p95": percentile(times, 0.95),
                      "max": max(times), "parts": parts}), flush=True)  # fmt: skip
    return 0


def readers_vs_writers(template: str, seconds: float) -> dict[str, Any]:
    from shiftdesk.runtable import RunTable

    rt = RunTable.create("busy", data=template, context=CONTEXT, concurrent_jobs=CONCURRENT,
                         members="*")  # fmt: skip
    rt.add_runs(range(1, REPROCESS_RUNS + 1), process=False)
    rt.process(range(1, REPROCESS_RUNS + 1), start=False)  # queued; the window starts them
    procs = []
    for i in range(READERS):
        who = "" if i < EDITOR_READERS else f"viewer{i}"
        command = [sys.executable, __file__, "--reader", "busy", str(seconds), who]
        pipe = subprocess.PIPE
        procs.append(subprocess.Popen(command, stdin=pipe, stdout=pipe, text=True, env=None))
    t0 = time.perf_counter()
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.strip() == "ready", line
    print(f"  {READERS} reader processes ready in {time.perf_counter() - t0:.1f} s")
    seq0 = rt.seq
    start = time.monotonic()
    rt.pump()  # the 15 jobs start; each finishing job starts the next
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    refills = 0
    while time.monotonic() - start < seconds:
        time.sleep(1.0)
        states = rt.states()
        if sum(1 for s in states.values() if s.status in ("queued",)) < CONCURRENT:
            rt.process(range(1, REPROCESS_RUNS + 1))  # the queue ran dry: again
            refills += 1
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        results.append(json.loads(out.strip().splitlines()[-1]))
    window = time.monotonic() - start
    writes = rt.seq - seq0
    rt.cancel()
    print(" ", settle("after part c"))
    states = rt.states()
    failed = {r: s.message for r, s in states.items() if s.status == "failed"}
    from shiftdesk.jobs.job import list_jobs

    jobs = [
        j
        for j in list_jobs(kind="runtable.process", limit=100_000)
        if j.title.startswith("busy run ")
    ]
    job_errors = [j.error for j in jobs if j.error and "cancel" not in str(j.error).lower()]
    # runs whose processing met "database is locked" (in the run's state or its job's error)
    locked_runs = {r for r, m in failed.items() if "locked" in str(m)} | {
        int(j.title.split()[-1]) for j in jobs if "locked" in str(j.error or "")
    }
    tails = []
    for run in sorted(locked_runs)[:2]:  # where it happened: the end of the job's log
        lines = rt.log(run).strip().splitlines()
        tails.append(f"run {run}: " + "\n    ".join(lines[-14:]))
    errors = [e for r in results for e in r["errors"]]
    parts: dict[str, list[float]] = {}
    for i, r in enumerate(results):
        group = "editor" if i < EDITOR_READERS else "viewer"
        for key, values in r["parts"].items():
            parts.setdefault(f"{group}: {key}", []).extend(values)
    return {
        "parts": parts,
        "window_s": window,
        "reader_calls": sum(r["calls"] for r in results),
        "reader_errors": errors,
        "reader_locked": sum(r["locked"] for r in results),
        "reader_late": sum(r["late"] for r in results),
        "reader_median": median([r["median"] for r in results]),
        "reader_p95": max(r["p95"] for r in results),
        "reader_max": max(r["max"] for r in results),
        "runs_done": sum(1 for s in states.values() if s.status == "done"),
        "jobs": len(jobs),
        "failed": failed,
        "job_errors": job_errors,
        "locked_in_jobs": len(locked_runs),
        "locked_logs": tails,
        "writes": writes,
        "refills": refills,
    }


# -- main --------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="readers vs writers for 20 s")
    args = parser.parse_args()
    window = 20.0 if args.quick else 120.0
    from shiftdesk.jobs import shutdown_backends

    print(f"# bench_runtable_live: {machine()}")
    template = data_template(REPROCESS_RUNS)
    try:
        raw = peers(template)
        print("\nraw costs (median of 5):")
        print_table([(k, f"{v:.3f}") for k, v in raw.items()], ["what", "s"])

        print(f"\na. notice -> value: {NOTICES} runs, one-variable context, dashboard polls "
              f"every {POLL_S * 1000:.0f} ms")  # fmt: skip
        found = notices(template)
        engine = raw["context engine alone: run_context, one variable"]
        rows = [
            (name, f"{median(v):.3f}", f"{percentile(v, 0.95):.3f}", f"{max(v):.3f}",
             f"{median(v) / engine:.2f}")
            for name, v in found.items()
        ]  # fmt: skip
        print_table(rows, ["after rt.add_run(n)", "median s", "p95 s", "max s", "÷ engine"])
        print(" ", settle("after part a"))

        print(f"\nb. rt.process() of {REPROCESS_RUNS} runs, concurrent_jobs={CONCURRENT}")
        rep = reprocess(template)
        timed = ("process() returns", "all 1,000 queued in states()")
        print_table([(f"{k} (s)" if k in timed else k, f"{v:.3f}" if k in timed else f"{v:g}")
                     for k, v in rep.items()], ["", "value"])  # fmt: skip

        print(f"\nc. {READERS} reader processes at 1 Hz vs {CONCURRENT} writing jobs, "
              f"{window:.0f} s")  # fmt: skip
        rw = readers_vs_writers(template, window)
        rows2 = [
            ("reader refreshes (changes + table)", rw["reader_calls"]),
            ("  errors reaching a reader", len(rw["reader_errors"])),
            ("  of them 'database is locked'", rw["reader_locked"]),
            ("  refreshes longer than 1 s (late ticks)", rw["reader_late"]),
            ("  refresh median / worst p95 / max s",
             f"{rw['reader_median']:.3f} / {rw['reader_p95']:.3f} / {rw['reader_max']:.3f}"),
            ("runs processed (done) in the window", rw["runs_done"]),
            ("jobs started", rw["jobs"]),
            ("table writes (change numbers)", rw["writes"]),
            ("queue refills (it ran dry)", rw["refills"]),
            ("runs failed", len(rw["failed"])),
            ("job errors (besides cancel)", len(rw["job_errors"])),
            ("runs that met 'database is locked'", rw["locked_in_jobs"]),
        ]  # fmt: skip
        print_table(rows2, ["", "value"])
        print()
        print_table(
            [(k, len(v), f"{median(v):.3f}", f"{percentile(v, 0.95):.3f}", f"{max(v):.3f}")
             for k, v in sorted(rw["parts"].items()) if v],
            ["reader call", "calls", "median s", "p95 s", "max s"],
        )  # fmt: skip
        for text in sorted(set(rw["reader_errors"]))[:5]:
            print(f"  reader error: {text}")
        for text in sorted(set(map(str, [*rw["failed"].values(), *rw["job_errors"]])))[:5]:
            print(f"  job error: {text}")
        for text in rw["locked_logs"]:
            print(f"  log of a locked run, {text}")
    finally:
        shutdown_backends()
        print(" ", settle("at the end", wait_s=30))

    print(f"\nmachine after the run: {machine()}")
    value = found["value visible (changes + table)"]
    queued = found["queued visible"]
    print(ratio_line("runtable_notice_to_value_p95_s", percentile(value, 0.95),
                     VALUE_P95_TARGET_S))  # fmt: skip
    print(ratio_line("runtable_notice_to_queued_max_s", max(queued), QUEUED_TARGET_S))
    print(ratio_line("runtable_reprocess_1000_queued_s", rep["all 1,000 queued in states()"],
                     REPROCESS_TARGET_S))  # fmt: skip
    print(ratio_line("runtable_readers_errors", len(rw["reader_errors"]) + rw["locked_in_jobs"],
                     0))  # fmt: skip
    return 0


if __name__ == "__main__":
    if READER:
        sys.exit(reader_main(sys.argv[2], float(sys.argv[3]), sys.argv[4]))
    sys.exit(main())
