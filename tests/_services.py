"""What to do when a test needs an outside service (PostgreSQL, a browser) that is missing.

On a developer machine a missing service skips the test with a message saying what to
install. In CI (``CI=true``) or with ``SHIFTDESK_TEST_REQUIRE_SERVICES=1`` it fails the
test instead, so a broken CI image can never turn into a silently green run.

Import it from any test::

    from tests._services import service_missing
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def services_required() -> bool:
    """Whether missing services must fail the run (CI) instead of skipping tests."""
    return (
        os.environ.get("CI", "").strip().lower() == "true"
        or os.environ.get("SHIFTDESK_TEST_REQUIRE_SERVICES", "").strip() == "1"
    )


def service_missing(msg: str) -> NoReturn:
    """Skip the current test because a service is missing, or fail it in CI.

    Parameters
    ----------
    msg : str
        What is missing and how to get it, e.g. ``"PostgreSQL is not installed:
        run bash scripts/setup.sh"``.
    """
    if services_required():
        pytest.fail(
            f"{msg} (this fails instead of skipping because CI=true or "
            "SHIFTDESK_TEST_REQUIRE_SERVICES=1)",
            pytrace=False,
        )
    pytest.skip(msg)
