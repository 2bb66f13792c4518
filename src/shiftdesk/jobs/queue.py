"""Old name of the job-worker service, kept for settings files and scripts that use it.

``python -m shiftdesk.jobs.queue`` runs :mod:`shiftdesk.jobs.job_worker_service` (the
service); the ``workers`` backend is :mod:`shiftdesk.jobs.workers_backend`. Use those.
"""

from __future__ import annotations

import sys
import warnings

from shiftdesk.jobs.job_worker_service import main, service_alive

__all__ = ["main", "service_alive"]

warnings.warn(
    "shiftdesk.jobs.queue is now shiftdesk.jobs.job_worker_service (the service) and "
    "shiftdesk.jobs.workers_backend (the backend); this alias will go",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    sys.exit(main())
