"""End of run on one data router: 1,000 GRAW files organised over loopback SSH.

A real OpenSSH server (``tests/_sshd.start_sshd()``, needs root to create its test
account) serves a router folder holding 1,000 small GRAW files named as GET names them
(``CoBo_AsAd<a>_<timestamp>_<nnnn>.graw``, 4 AsAds × 250 files), with a long ``sleep``
running as "dataRouter" in that folder so the working folder is found as on a real host.

Compared, alternating, over several rounds (the files are put back between rounds):

1. shiftdesk, the whole end of run as the dashboard does it: a fresh
   ``WorkerInterface`` connects (host key checked), ``find_data_router()`` (ps + /proc),
   ``organize_files(experiment, run, progress=...)`` (one SFTP session, one atomic
   rename per file, run folder listed afterwards to verify), ``is_clean()``;
2. raw baseline: one ``ssh`` command line doing
   ``cd router && mkdir -p exp/run_NNNN && mv -n -- *.graw exp/run_NNNN/``
   (OpenSSH client, connection included; no discovery, no verification, no progress).

Also shown: a repeated ``organize_files`` on the organised folder (moves nothing) and
the organise step alone on an open connection.

Prints ``RATIO end_of_run_1000_graw_vs_10s_budget`` (shiftdesk median ÷ 10 s) (target ≤ 1:
the issue's "≤ 10 s per router") and ``RATIO end_of_run_vs_ssh_mv`` (shiftdesk ÷ the
raw ``ssh mv``; information only: per-file renames with verification against one
``mv`` process, target ≤ 5).

Run: ``.venv/bin/python bench/bench_end_of_run.py`` (as root).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import isolate, machine, median, print_table, ratio_line

FILES = 1000
ASADS = 4
ROUNDS = 5
BUDGET_S = 10.0
RAW_TARGET = 5.0
EXPERIMENT = "e20009"


def graw_names() -> list[str]:
    per = FILES // ASADS
    return [
        f"CoBo_AsAd{a}_2026-11-21T12:00:00.000_{i:04d}.graw"
        for a in range(ASADS)
        for i in range(per)
    ]


def fill(server, folder: Path) -> None:  # type: ignore[no-untyped-def]
    """Put the 1,000 GRAW files (about 1 kB each) in the router folder, owned by the account."""
    for entry in folder.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
    payload = b"\0" * 1024
    for name in graw_names():
        (folder / name).write_bytes(payload)
    server.give(folder)


def own_authorized_keys(server) -> None:  # type: ignore[no-untyped-def]
    """Let this sshd read the admin key from its own folder, not the account's home.

    The test account is shared: a test session running meanwhile resets its home
    (``authorized_keys`` and every folder), which would break the benchmark half way.
    """
    keys = server.folder / "authorized_keys"
    keys.write_text(Path(f"{server.admin_key}.pub").read_text())
    keys.chmod(0o644)
    server.folder.chmod(0o711)  # sshd reads the file as the account
    config = server.folder / "sshd_config"
    config.write_text(
        config.read_text().replace(
            "AuthorizedKeysFile .ssh/authorized_keys", f"AuthorizedKeysFile {keys}"
        )
    )
    server.stop()
    server.start()


def main() -> int:
    isolate()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests._sshd import start_sshd

    from shiftdesk.daq.worker import WorkerInterface

    server = start_sshd()
    own_authorized_keys(server)
    router_proc = None
    folder: Path | None = None
    try:
        # not in the account's home: test runs of the sshd fixture empty that home
        folder = Path(tempfile.mkdtemp(prefix="shiftdesk-bench-router-"))
        server.give(folder)
        sleep = shutil.which("sleep") or "/bin/sleep"
        router_proc = subprocess.Popen(
            ["bash", "-c", 'exec -a dataRouter "$0" 3600', sleep],
            cwd=folder,
            user=server.uid,
            group=server.gid,
            extra_groups=[],
        )

        def shiftdesk_end_of_run(run: int) -> tuple[float, float]:
            steps: list[tuple[int, int]] = []
            t0 = time.perf_counter()
            with WorkerInterface(
                server.host,
                server.user,
                server.port,
                key_filename=server.admin_key,
                known_hosts=server.known_hosts,
            ) as worker:
                router = worker.find_data_router()
                t1 = time.perf_counter()
                result = worker.organize_files(
                    EXPERIMENT, run, router, progress=lambda d, t: steps.append((d, t))
                )
                organise = time.perf_counter() - t1
                clean = worker.is_clean(router)
            total = time.perf_counter() - t0
            assert clean and result.moved_count == FILES and steps[-1] == (FILES, FILES), (
                clean,
                result.moved_count,
                steps[-3:],
                result.left[:3],
            )
            return total, organise

        def raw_ssh_mv(run: int) -> float:
            dest = f"{EXPERIMENT}/run_{run:04d}"
            command = f"cd {shlex.quote(str(folder))} && mkdir -p {dest} && mv -n -- *.graw {dest}/"
            t0 = time.perf_counter()
            subprocess.run(
                [
                    "ssh",
                    "-i",
                    str(server.admin_key),
                    "-p",
                    str(server.port),
                    "-o",
                    f"UserKnownHostsFile={server.known_hosts}",
                    "-o",
                    "StrictHostKeyChecking=yes",
                    "-o",
                    "BatchMode=yes",
                    f"{server.user}@{server.host}",
                    command,
                ],
                check=True,
                stdin=subprocess.DEVNULL,
            )
            elapsed = time.perf_counter() - t0
            assert len(list((folder / dest).iterdir())) == FILES
            return elapsed

        shiftdesk_times: list[float] = []
        organise_times: list[float] = []
        raw_times: list[float] = []
        run = 0
        # one warm-up of each (imports, page cache), then alternating rounds
        for measured in [False] + [True] * ROUNDS:
            fill(server, folder)
            run += 1
            total, organise = shiftdesk_end_of_run(run)
            fill(server, folder)
            run += 1
            raw = raw_ssh_mv(run)
            if measured:
                shiftdesk_times.append(total)
                organise_times.append(organise)
                raw_times.append(raw)

        # a repeated pass on an organised folder moves nothing
        fill(server, folder)
        with WorkerInterface(
            server.host,
            server.user,
            server.port,
            key_filename=server.admin_key,
            known_hosts=server.known_hosts,
        ) as worker:
            worker.organize_files(EXPERIMENT, 999, str(folder))
            t0 = time.perf_counter()
            again = worker.organize_files(EXPERIMENT, 999, str(folder))
            repeat = time.perf_counter() - t0
        assert again.moved_count == 0 and again.in_destination == FILES

        print(machine())
        print(f"{FILES} GRAW files of 1 kB, loopback OpenSSH, {ROUNDS} rounds (median, max)")
        print_table(
            [
                [
                    "shiftdesk end of run (connect, find, organise, verify, clean?)",
                    f"{median(shiftdesk_times):.3f}",
                    f"{max(shiftdesk_times):.3f}",
                ],
                [
                    "  of which organize_files",
                    f"{median(organise_times):.3f}",
                    f"{max(organise_times):.3f}",
                ],
                [
                    "raw: ssh host 'mkdir -p ... && mv -n *.graw ...'",
                    f"{median(raw_times):.3f}",
                    f"{max(raw_times):.3f}",
                ],
                ["shiftdesk repeated organize_files (moves nothing)", f"{repeat:.3f}", ""],
            ],
            ["what", "median s", "max s"],
        )
        print(
            ratio_line("end_of_run_1000_graw_vs_10s_budget", median(shiftdesk_times) / BUDGET_S, 1)
        )
        print(
            ratio_line(
                "end_of_run_vs_ssh_mv", median(shiftdesk_times) / median(raw_times), RAW_TARGET
            )
        )
        return 0
    finally:
        if router_proc is not None:
            router_proc.kill()
            router_proc.wait(10)
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
