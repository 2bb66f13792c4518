"""The end of a run, and the check before the next: the data routers' folders.

Run by the process that executes commands (see :mod:`shiftdesk.daq.execution`), through
a :class:`~shiftdesk.daq.routers.RouterAccess`:

* :func:`require_clean_routers` -- Start is refused while a router holds unsorted GRAW
  files (they belong to the previous run);
* :func:`organize` -- move every router's GRAW files into ``<experiment>/run_NNNN/``
  and, with backups, copy the config files the run used.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from shiftdesk.daq.commands import CommandWriter
from shiftdesk.daq.errors import DAQStateError
from shiftdesk.daq.records import DataRouterRecord, RunRecord
from shiftdesk.daq.routers import RouterAccess
from shiftdesk.daq.snapshot import RouterView, ServerView, now
from shiftdesk.storage import Database


def _router_rows(session: object, experiment_id: int) -> dict[str, DataRouterRecord]:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return {
        r.name: r
        for r in session.scalars(
            select(DataRouterRecord).where(DataRouterRecord.experiment_id == experiment_id)
        )
    }


def require_clean_routers(
    database: Database,
    experiment_id: int,
    access: RouterAccess,
    writer: CommandWriter,
    routers: list[RouterView],
) -> None:
    """Look into every router's folder; refuse (raise) while one holds unsorted files."""

    def check(router: RouterView) -> tuple[RouterView, list[str] | BaseException]:
        try:
            return router, access.unsorted_files(router)
        except Exception as exc:
            return router, exc

    writer.progress("checking the data routers for unsorted files")
    with ThreadPoolExecutor(max_workers=min(32, max(1, len(routers)))) as pool:
        results = list(pool.map(check, routers))
    problems = []
    with database.session() as session:
        rows = _router_rows(session, experiment_id)
        for router, result in results:
            row = rows.get(router.name)
            if isinstance(result, BaseException):
                problems.append(f"{router.name}: cannot check its folder ({result})")
                if row is not None:
                    row.online, row.error, row.checked_at = False, str(result), now()
                continue
            if result:
                problems.append(
                    f"{router.name} holds {len(result)} unsorted GRAW files (e.g. {result[0]})"
                )
            if row is not None:
                row.online, row.clean, row.error, row.checked_at = True, not result, None, now()
    if problems:
        raise DAQStateError(
            "Start refused: " + "; ".join(problems) + ". Organise the previous run's files "
            "first (organize_files(run_number)) or move them away"
        )


def _backup(
    access: RouterAccess,
    writer: CommandWriter,
    experiment: str,
    servers: list[ServerView],
    run_number: int,
) -> bool:
    """Copy each server's config files; True when every copy worked."""
    ok = True
    backup = access.backup_configs  # type: ignore[attr-defined]
    for server in servers:
        step = f"{server.name} configs"
        try:
            where = backup(server, experiment, run_number, server.config_files())
            writer.step(step, "done", f"copied to {where}")
        except Exception as exc:  # reported in the step; the files stay where they were
            writer.step(step, "failed", str(exc))
            ok = False
    return ok


def organize(
    database: Database,
    experiment_id: int,
    experiment: str,
    access: RouterAccess,
    writer: CommandWriter,
    routers: list[RouterView],
    run_number: int,
    backups: list[ServerView],
) -> str:
    """Move every router's GRAW files of the run into its folder (and back up configs).

    Routers turn clean when done; the run is marked organised when all are. Safe to
    repeat: a second pass moves nothing.

    Raises
    ------
    DAQStateError
        A router is left with files, or a config backup failed (see the steps).
    """

    def one(router: RouterView) -> tuple[int, bool] | BaseException:
        last = [0.0]

        def progress(done: int, total: int) -> object:
            # Throttled: a progress row per file would cost more than the move.
            if done == total or time.monotonic() - last[0] > 0.2:
                last[0] = time.monotonic()
                writer.step(router.name, "running", f"{done}/{total} files moved")
            return None

        try:
            writer.step(router.name, "running", "moving files")
            result = access.organize(router, experiment, run_number, progress)
        except Exception as exc:
            writer.step(router.name, "failed", str(exc))
            return exc
        writer.step(
            router.name,
            "done" if result[1] else "failed",
            f"{result[0]} files moved" + ("" if result[1] else "; files are left over"),
        )
        return result

    with ThreadPoolExecutor(max_workers=min(32, max(1, len(routers)))) as pool:
        results = list(pool.map(one, routers))
    with database.session() as session:
        rows = _router_rows(session, experiment_id)
        for router, result in zip(routers, results, strict=True):
            row = rows.get(router.name)
            if row is None:
                continue
            row.checked_at = now()
            if isinstance(result, BaseException):
                row.error = str(result)
            else:
                row.online, row.clean, row.error = True, result[1], None
        ok = all(not isinstance(r, BaseException) and r[1] for r in results)
        run = session.scalars(
            select(RunRecord).where(
                RunRecord.experiment_id == experiment_id,
                RunRecord.run_number == run_number,
            )
        ).first()
        if run is not None and ok:
            run.files_organized = True
    moved = sum(r[0] for r in results if not isinstance(r, BaseException))
    if backups and not _backup(access, writer, experiment, backups, run_number):
        raise DAQStateError(
            f"run {run_number}: {moved} files moved, but some config files could not be "
            "backed up (see the steps)"
        )
    if not ok:
        bad = [rt.name for rt, r in zip(routers, results, strict=True)
               if isinstance(r, BaseException) or not r[1]]  # fmt: skip
        raise DAQStateError(
            f"run {run_number}: {moved} files moved, but {', '.join(bad)} are not clean; "
            "run organize_files again once the problem is fixed (nothing is lost)"
        )
    return f"run {run_number}: {moved} files moved; routers clean"
