"""The documentation builds without a single warning (as CI and Read the Docs build it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_sphinx_builds_the_docs_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(ROOT / "docs"),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, (
        f"sphinx-build failed (exit code {result.returncode}):\n{result.stdout}\n{result.stderr}"
    )
    html = tmp_path / "html"
    for page in ("index", "getting_started", "dashboards", "jobs", "api"):
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"
    api = (html / "api.html").read_text()
    for name in ("shiftdesk.reflectometry.FitProblem", "shiftdesk.jobs.Job", "Database"):
        assert name in api, f"the API page does not document {name}"
