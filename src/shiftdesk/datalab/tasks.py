"""The job kind ``datalab.operation``: one operation of a data session, in a worker.

The spec is JSON: ``{"operation", "version", "inputs", "folder", "key"}`` (the inputs
as :func:`shiftdesk.datalab.operations.validate` returned them, file paths and all).
The task runs the operation into ``folder`` and returns::

    {"result": OperationResult.to_dict(relative_to=folder), "folder": ..., "key": ...,
     "hashes": {relative path: sha256}}

or ``{"cancelled": true}`` when it was asked to stop. Where its worker has the database
(the ``local`` and ``workers`` backends) the task also keeps the operation's own row up
to date, as the session's owner whose job it is: its progress while it runs, then how it
ended, result and all (:mod:`shiftdesk.datalab.state`), so that whoever reads the
session follows it without the owner's kernel. On every backend the owner's kernel
settles the operation from the job once it has ended, when the task did not.

A refused input raises :class:`~shiftdesk.datalab.OperationInputError`; before that it
logs one line ``datalab-input-error {"field": ..., "reason": ...}`` so that the session
can show the reason next to the field.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from shiftdesk.jobs.tasks import TaskContext

#: the job kind
JOB_KIND = "datalab.operation"
#: what a task logs before it re-raises an input error (the session reads it back)
INPUT_ERROR_TAG = "datalab-input-error "


def run_operation(spec: dict[str, Any], ctx: TaskContext) -> dict[str, Any]:
    """Run the operation a spec names (the job kind ``datalab.operation``)."""
    from shiftdesk.datalab import operations
    from shiftdesk.datalab.cache import file_sha256
    from shiftdesk.datalab.operations import OperationCancelled, OperationInputError
    from shiftdesk.datalab.state import OperationRow

    folder = Path(spec["folder"])
    row = OperationRow(spec, ctx)
    row.report(0.0, "running", force=True)
    try:
        op = operations.get(str(spec["operation"]))
        if op.version != spec["version"]:
            # the request was keyed for another version: running this one would store its
            # output under the wrong key
            raise OperationInputError(
                "operation",
                f"{op.name} is version {op.version} on this worker, but {spec['version']} "
                "was asked for; install the same shiftdesk version on the worker",
            )

        def progress(fraction: float, message: str) -> None:
            ctx.progress(fraction, message)
            row.report(fraction, message)

        result = op.run(spec["inputs"], folder, progress, ctx.cancelled)
    except OperationCancelled:
        shutil.rmtree(folder, ignore_errors=True)
        row.settle("cancelled", progress=row.fraction)
        return {"cancelled": True}
    except OperationInputError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        ctx.log(INPUT_ERROR_TAG + json.dumps({"field": exc.field, "reason": exc.reason}))
        # "" marks an input error about the inputs as a whole (no field)
        row.settle("failed", progress=row.fraction, error=exc.reason, error_field=exc.field or "")
        raise
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        # the reason the worker gives the job (see shiftdesk.jobs.worker)
        row.settle("failed", progress=row.fraction, error=f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    ctx.progress(1.0, "hashing the outputs")
    row.report(1.0, "hashing the outputs")
    outputs = {*result.files, *result.images}
    hashes = {str(p.relative_to(folder)): file_sha256(p) for p in sorted(outputs)}
    raw = {
        "result": json.loads(result.to_json(relative_to=folder)),
        "folder": str(folder),
        "key": spec.get("key"),
        "hashes": hashes,
    }
    settled = row.settle("done", raw=raw)
    if settled is not None and settled.status == "done" and row.database is not None:
        publish_outputs(row.database, settled.session_id)
    return raw


def publish_outputs(database: Any, session_id: int) -> int:
    """Send a shared session's new files to the hub's gate for its readers, from the job
    (which runs as the session's owner), when the job can reach the gate (a local worker
    on a hub; the job-worker service's workers cannot: the owner's server sends them
    when it sees the operation end). Never fails the job; returns how many were sent."""
    from shiftdesk.gate import get_gate

    gate = get_gate()
    if not gate.remote:
        return 0
    from shiftdesk.datalab.records import DataSessionRecord
    from shiftdesk.datalab.session import DataSession
    from shiftdesk.identity import Identity

    try:
        with database.session() as s:
            record = s.get(DataSessionRecord, session_id)
            if record is None or not record.shared_with:
                return 0
            s.expunge(record)
    except Exception:
        return 0
    session = DataSession(record, database, Identity(record.owner), gate)
    return session._publish_now("run")


def decode(value: dict[str, Any]) -> Any:
    """The :class:`~shiftdesk.datalab.OperationResult` of a finished job (``job.result()``);
    None for a run that was cancelled."""
    from shiftdesk.datalab.ops.base import OperationResult

    if value.get("cancelled"):
        return None
    return OperationResult.from_dict(value["result"], base=value["folder"])
