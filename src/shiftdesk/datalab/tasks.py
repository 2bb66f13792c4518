"""The job kind ``datalab.operation``: one operation of a data session, in a worker.

The spec is JSON: ``{"operation", "version", "inputs", "folder", "key"}`` (the inputs
as :func:`shiftdesk.datalab.operations.validate` returned them, file paths and all).
The task runs the operation into ``folder`` and returns::

    {"result": OperationResult.to_dict(relative_to=folder), "folder": ..., "key": ...,
     "hashes": {relative path: sha256}}

or ``{"cancelled": true}`` when it was asked to stop. The session settles the operation
from the job once it has ended (see :mod:`shiftdesk.datalab.session`); the task never
writes the session's tables, so it runs the same on every backend.

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

    folder = Path(spec["folder"])
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

        result = op.run(spec["inputs"], folder, progress, ctx.cancelled)
    except OperationCancelled:
        shutil.rmtree(folder, ignore_errors=True)
        return {"cancelled": True}
    except OperationInputError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        ctx.log(INPUT_ERROR_TAG + json.dumps({"field": exc.field, "reason": exc.reason}))
        raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    ctx.progress(1.0, "hashing the outputs")
    outputs = {*result.files, *result.images}
    hashes = {str(p.relative_to(folder)): file_sha256(p) for p in sorted(outputs)}
    return {
        "result": json.loads(result.to_json(relative_to=folder)),
        "folder": str(folder),
        "key": spec.get("key"),
        "hashes": hashes,
    }


def decode(value: dict[str, Any]) -> Any:
    """The :class:`~shiftdesk.datalab.OperationResult` of a finished job (``job.result()``);
    None for a run that was cancelled."""
    from shiftdesk.datalab.ops.base import OperationResult

    if value.get("cancelled"):
        return None
    return OperationResult.from_dict(value["result"], base=value["folder"])
