"""Remote and distributed fits: SSH backend overhead, and Dask speed-up with two workers.

1. SSH on loopback: a real sshd started here (``tests/_sshd.py``: needs root and
   openssh-server), a settings file with one ``ssh`` backend whose worker Python is this
   interpreter. After a first job (connection, session key, remote imports), each run
   fits the bench_fit problem in process and then as an SSH job (submitted once the warm
   remote spare is ready): *overhead = submit→result wall time − the paired in-process
   fit time*, median over runs. Target ≤ 1 s. A one-step ``test.sleep`` job shows the
   bare protocol cost. Since SSH jobs run detached (a runner forked from the spare
   writes its job folder; the kernel reads it over SFTP every 0.25 s and removes it),
   the overhead includes up to one poll interval plus the folder reads and removal.
2. Dask: 20 LM fits submitted at once to a ``LocalCluster`` with two single-threaded
   worker processes vs one, wall time until all 20 results are back (both clusters
   warmed first, rounds alternate). *Speed-up = one worker ÷ two workers*; target ≥ 1.7.

Run: ``.venv/bin/python bench/bench_remote.py``.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from _common import isolate, machine, median, print_table

HERE = Path(__file__).resolve().parent
SSH_RUNS = 5
IN_PROCESS_RUNS = 7
DASK_FITS = 20
DASK_ROUNDS = 2
SSH_TARGET_S = 1.0
DASK_TARGET = 1.7


def write_settings(folder: Path, tables: dict[str, dict[str, object]]) -> None:
    """A settings.toml in the (temporary) data folder with these backends."""
    lines = []
    for name, options in tables.items():
        lines.append(f"[backends.{name}]")
        for key, value in options.items():
            if isinstance(value, dict):
                inner = ", ".join(f'{k} = "{v}"' for k, v in value.items())
                lines.append(f"{key} = {{ {inner} }}")
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = repr(value)
            else:
                text = '"' + str(value) + '"'
            lines.append(f"{key} = {text}")
    (folder / "settings.toml").write_text("\n".join(lines) + "\n")


def bench_ssh(data: Path, fp, fit_s: float) -> float | None:  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(HERE.parent))
    from tests._sshd import SSHDUnavailable, start_sshd

    from shiftdesk.jobs import get_backend, submit_job
    from shiftdesk.jobs.ssh import SSHBackend, end_session
    from shiftdesk.storage import get_database

    try:
        server = start_sshd()
    except (SSHDUnavailable, OSError, PermissionError) as exc:
        print(f"SSH part skipped: {exc}")
        return None
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
                    # numba's cache in the account's home would be emptied with it
                    "env": {"NUMBA_CACHE_DIR": "/tmp/shiftdesk-bench-numba-sdworker"},
                }
            },
        )
        backend = get_backend("remote", get_database())
        assert isinstance(backend, SSHBackend)
        t0 = time.perf_counter()
        first = fp.fit(method="lm", backend="remote")
        first.result(timeout=120)
        cold = time.perf_counter() - t0

        def wait_spare() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                spare = backend._spare  # peeks at the backend: a benchmark may
                if spare is not None and spare.ready.is_set():
                    return
                time.sleep(0.05)

        rows = []
        overheads: list[float] = []
        walls: list[float] = []
        for run in range(SSH_RUNS):
            # pairs: the same fit in process, then as an SSH job, so load drifts cancel
            t0 = time.perf_counter()
            fp.fit_now("lm")
            local = time.perf_counter() - t0
            wait_spare()
            t0 = time.perf_counter()
            job = fp.fit(method="lm", backend="remote")
            result = job.result(timeout=60)
            wall = time.perf_counter() - t0
            walls.append(wall)
            overheads.append(wall - local)
            rows.append(
                (
                    f"fit {run + 1}",
                    f"{local:.3f}",
                    f"{wall:.3f}",
                    f"{job.runtime or 0:.3f}",
                    f"{wall - local:.3f}",
                    f"{result.chi2:.3f}",
                )
            )
        sleeps: list[float] = []
        for _ in range(3):
            wait_spare()
            t0 = time.perf_counter()
            submit_job("test.sleep", {"steps": 1, "delay": 0}, backend="remote").result(timeout=60)
            sleeps.append(time.perf_counter() - t0)
        print("\n## SSH backend on loopback (warm spare)")
        print_table(
            rows,
            ["run", "in process s", "submit→result s", "job runtime s", "overhead s", "chi2"],
        )
        overhead = median(overheads)
        print(
            f"first job (connect, session key, remote imports): {cold:.2f} s; "
            f"in-process fit (median of {IN_PROCESS_RUNS}) {fit_s * 1000:.0f} ms; median "
            f"submit→result {median(walls):.3f} s; "
            f"one-step test.sleep job {median(sleeps):.3f} s"
        )
        print(
            f"SSH overhead (median of submit→result − the paired in-process fit): {overhead:.3f} s"
        )
        end_session()
        return overhead
    finally:
        from shiftdesk.jobs import shutdown_backends

        shutdown_backends()
        server.stop()
        shutdown_backends()
        shutil.rmtree(server.folder, ignore_errors=True)


def bench_dask(data: Path, fp) -> float:  # type: ignore[no-untyped-def]
    from distributed import LocalCluster

    from shiftdesk.jobs import shutdown_backends

    clusters = {
        n: LocalCluster(
            n_workers=n,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=":0",
        )
        for n in (1, 2)
    }
    try:
        write_settings(
            data,
            {
                f"dask{n}": {"type": "dask", "address": c.scheduler_address}
                for n, c in clusters.items()
            },
        )
        for n in clusters:  # imports and numba caches on every worker
            for job in [fp.fit(method="lm", backend=f"dask{n}") for _ in range(2 * n)]:
                job.result(timeout=120)
        times: dict[int, list[float]] = {1: [], 2: []}
        for rnd in range(DASK_ROUNDS):
            for n in (1, 2) if rnd % 2 == 0 else (2, 1):
                t0 = time.perf_counter()
                jobs = [fp.fit(method="lm", backend=f"dask{n}") for _ in range(DASK_FITS)]
                for job in jobs:
                    job.wait(timeout=300, poll=0.2)  # the harness's own polling stays small
                    job.result()
                times[n].append(time.perf_counter() - t0)
        print(f"\n## Dask LocalCluster: {DASK_FITS} LM fits submitted at once")
        print_table(
            [
                (f"{n} worker{'s' if n > 1 else ''}", *(f"{t:.2f}" for t in times[n]))
                for n in (1, 2)
            ],
            ["cluster", *(f"round {i + 1} s" for i in range(DASK_ROUNDS))],
        )
        speedup = median(times[1]) / median(times[2])
        print(f"speed-up two workers vs one (median): {speedup:.2f}")
        return speedup
    finally:
        shutdown_backends()
        for cluster in clusters.values():
            cluster.close()


def main() -> None:
    data = Path(isolate())
    sys.path.insert(0, str(HERE))
    from bench_fit import build_shiftdesk

    print(f"# bench_remote: {machine()}")
    fp = build_shiftdesk()
    fp.fit_now("lm")  # warm-up (imports, numba)
    fits = []
    for _ in range(IN_PROCESS_RUNS):
        t0 = time.perf_counter()
        fp.fit_now("lm")
        fits.append(time.perf_counter() - t0)
    fit_s = median(fits)
    overhead = bench_ssh(data, fp, fit_s)
    speedup = bench_dask(data, fp)
    print()
    if overhead is not None:
        print(f"RATIO ssh_overhead_s = {overhead:.2f} (target <= {SSH_TARGET_S:g})")
    print(f"RATIO dask_speedup_2_vs_1_workers = {speedup:.2f} (target >= {DASK_TARGET:g})")


if __name__ == "__main__":
    main()
