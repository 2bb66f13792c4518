"""The first remote job of a session: submit → "running", warmed at server start vs cold.

A real sshd on loopback (``tests/_sshd.py``: needs root and openssh-server) and one ``ssh``
backend whose worker Python is this interpreter, with no ``env`` table: the worker picks
numba's cache folder itself (``~/.cache/numba`` of the worker account, which
``start_sshd`` has just emptied). The job is the bench_fit LM fit.

1. **First job on a fresh worker account**: the worker compiles refl1d's numba kernels
   into that folder. Shown for what a cold worker process is spared afterwards.
2. Then rounds of three *fresh sessions* each (no session key here or on the worker, a
   new backend instance as in a new kernel), in alternating order:

   * **cold**: nothing warmed; the submit connects, makes and installs the session key,
     reconnects with it and starts a worker process for the job.
   * **key ready**: another kernel of the user was warmed at server start
     (``warm_backends()``, then that kernel's backend closed): the key is made, this
     kernel has no connection and no spare (a notebook opened after the server started).
   * **warmed**: this kernel ran ``warm_backends()`` at server start (as the hub's warm
     kernels do) and its spare is ready; "warm-up" is how long that took.

   Each job: *submit → "running"* (the job row polled every 10 ms, as a dashboard sees
   it) and *submit → result*, with the fit's χ² beside the in-process fit's.

**RATIO ``first_remote_job_to_running_s``** = median submit → running of the warmed
sessions (target ≤ 2 s); the cold and key-ready medians are printed beside it.

Run: ``.venv/bin/python bench/bench_remote_first.py``.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from _common import isolate, machine, median, print_table

HERE = Path(__file__).resolve().parent
ROUNDS = 5
TARGET_S = 2.0
POLL_S = 0.01
MODES = ("cold", "key ready", "warmed")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def main() -> int:
    data = Path(isolate())
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    from tests._sshd import SSHDUnavailable, start_sshd

    from bench_fit import build_shiftdesk
    from bench_remote import write_settings
    from shiftdesk.identity import SYSTEM
    from shiftdesk.jobs import JobStatus, get_backend, shutdown_backends, store
    from shiftdesk.jobs.ssh import SSHBackend, end_session
    from shiftdesk.jobs.ssh_warm import warm_backends
    from shiftdesk.storage import get_database

    print(f"# bench_remote_first: {machine()}")
    try:
        server = start_sshd()
    except (SSHDUnavailable, OSError) as exc:
        print(f"no sshd, nothing measured: {exc}")
        return 1
    fp = build_shiftdesk()
    local_chi2 = fp.fit_now("lm").chi2
    db = get_database()

    def backend() -> SSHBackend:
        found = get_backend("remote", db)
        assert isinstance(found, SSHBackend)
        return found

    def spare_ready(ssh: SSHBackend, timeout: float = 300) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            spare = ssh._spare  # peeks at the backend: a benchmark may
            if spare is not None and spare.ready.is_set():
                return time.perf_counter() - t0
            time.sleep(0.02)
        raise TimeoutError("no warm spare within the timeout")

    def fresh_session() -> None:
        """Log out (key removed there and here), and forget the backend (a new kernel)."""
        shutdown_backends()
        end_session()
        shutdown_backends()

    def first_job() -> tuple[float, float, float]:
        """(submit → running, submit → result, chi2) of one fit as an SSH job."""
        t0 = time.perf_counter()
        job = fp.fit(method="lm", backend="remote")
        while True:
            status = JobStatus(store.read_job(job.id, db, SYSTEM).status)
            if status is JobStatus.RUNNING or status.finished:
                running = time.perf_counter() - t0
                break
            time.sleep(POLL_S)
        result = job.result(timeout=300)
        return running, time.perf_counter() - t0, result.chi2

    try:
        write_settings(
            data,
            {
                "remote": {
                    "type": "ssh",
                    "host": server.host,
                    "port": server.port,
                    "user": server.user,
                    "python": sys.executable,
                    "bootstrap_key": str(server.admin_key),
                    "known_hosts": str(server.known_hosts),
                }
            },
        )
        before = load()
        running, total, chi2 = first_job()
        spare_ready(backend())  # the spare that replaced the job's process
        spare = backend()._spare
        folder = spare.numba_cache if spare is not None else None
        print(
            f"\nfirst job on a fresh worker account (numba compiles into the worker's cache): "
            f"submit → running {running:.2f} s, → result {total:.2f} s, chi2 {chi2:.4f} "
            f"(load {before} → {load()})"
        )
        rows = []
        figures: dict[str, dict[str, list[float]]] = {
            m: {"running": [], "result": []} for m in MODES
        }
        chi2s = set()
        for rnd in range(ROUNDS):
            for mode in MODES if rnd % 2 == 0 else tuple(reversed(MODES)):
                fresh_session()
                warmup = ""
                if mode != "cold":
                    # the user's server starts: the hub's warm kernel runs warm_backends()
                    assert warm_backends(db) == ["remote"]
                    warmup = f"{spare_ready(backend()):.2f}"
                    if mode == "key ready":
                        shutdown_backends()  # that kernel is not the one submitting
                at = load()
                running, total, chi2 = first_job()
                figures[mode]["running"].append(running)
                figures[mode]["result"].append(total)
                chi2s.add(round(chi2, 6))
                rows.append(
                    (
                        str(rnd + 1),
                        mode,
                        warmup,
                        f"{running:.3f}",
                        f"{total:.3f}",
                        f"{chi2:.4f}",
                        at,
                    )
                )
        fresh_session()
        print(f"\n## first job of a fresh session, {ROUNDS} rounds (fit chi2 in process: "
              f"{local_chi2:.4f})")  # fmt: skip
        print_table(
            rows,
            ["round", "session", "warm-up s", "submit→running s", "submit→result s", "chi2",
             "load"],
        )  # fmt: skip
        print()
        for mode in MODES:
            f = figures[mode]
            print(
                f"{mode:>9}: submit → running median {median(f['running']):.3f} s "
                f"(range {min(f['running']):.3f}–{max(f['running']):.3f}), submit → result "
                f"median {median(f['result']):.3f} s"
            )
        print(f"numba cache on the worker: {folder}; fit chi2 remote {sorted(chi2s)} vs in "
              f"process {local_chi2:.4f}")  # fmt: skip
        warmed = median(figures["warmed"]["running"])
        cold = median(figures["cold"]["running"])
        key = median(figures["key ready"]["running"])
        print(
            f"\nfirst remote job to running: warmed at server start {warmed:.2f} s vs cold "
            f"{cold:.2f} s vs key made at server start, no spare {key:.2f} s "
            f"(target <= {TARGET_S:g} s; load at the end {load()})"
        )
        print(f"RATIO first_remote_job_to_running_s = {warmed:.2f} (target <= {TARGET_S:g})")
        return 0
    finally:
        shutdown_backends()
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
