"""Stop spare worker processes after every test so none leaks into the next one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _shutdown_job_backends() -> Iterator[None]:
    yield
    from shiftdesk.jobs import shutdown_backends

    shutdown_backends()
