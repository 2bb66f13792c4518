"""Old name of the job-worker service and the ``workers`` backend (kept for imports).

``python -m shiftdesk.jobs.queue`` still runs the service. The service is
:mod:`shiftdesk.jobs.job_worker_service`, the backend :mod:`shiftdesk.jobs.workers_backend`.
"""

from __future__ import annotations

import sys

from shiftdesk.jobs.job_worker_service import (
    HEARTBEAT,
    MAX_ATTEMPTS,
    RESUMED,
    STALE,
    STOP_TIMEOUT,
    JobAccounts,
    JobWorkerService,
    main,
    requeue,
    serve,
    service_alive,
    status_path,
)
from shiftdesk.jobs.workers_backend import (
    BACKEND_NAME,
    ENV_VAR,
    WAITING,
    WorkersBackend,
    workers_configured,
)

__all__ = [
    "BACKEND_NAME",
    "ENV_VAR",
    "HEARTBEAT",
    "MAX_ATTEMPTS",
    "RESUMED",
    "STALE",
    "STOP_TIMEOUT",
    "WAITING",
    "JobAccounts",
    "JobWorkerService",
    "WorkersBackend",
    "main",
    "requeue",
    "serve",
    "service_alive",
    "status_path",
    "workers_configured",
]

if __name__ == "__main__":
    sys.exit(main())
