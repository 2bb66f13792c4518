"""Fixtures for the headless widget tests: a started dashboard, no worker left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _shutdown_job_backends() -> Iterator[None]:
    """Stop the local backend's (spare) worker processes after every test."""
    yield
    from shiftdesk.jobs import shutdown_backends

    shutdown_backends()


@pytest.fixture
def dashboard():  # type: ignore[no-untyped-def]
    """The dashboard as a first-time user sees it: demo model on the demo data."""
    from shiftdesk_widgets import ReflectometryDashboard

    return ReflectometryDashboard.start()
