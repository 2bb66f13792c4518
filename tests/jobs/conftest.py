"""Job tests: a local backend per test, and no spare worker left behind afterwards.

The local backend normally keeps a spare worker that imports refl1d ahead of time. Every
test has its own database, hence its own backend, so that spare would never be warm:
the ``test.sleep`` jobs here run on a backend without one (a plain ``--job`` worker), and
tests that ask for the ``with_spare`` fixture get the default backend, spare included.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def with_spare() -> None:
    """Run this test on the default local backend, with its pre-started spare worker."""


@pytest.fixture(autouse=True)
def _shutdown_job_backends(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    from shiftdesk.jobs import LocalBackend, backend, shutdown_backends
    from shiftdesk.storage import Database

    if "with_spare" not in request.fixturenames:

        def without_spare(database: Database) -> LocalBackend:
            return LocalBackend(database, spare=False)

        monkeypatch.setitem(backend._factories, "local", without_spare)
    yield
    shutdown_backends()
