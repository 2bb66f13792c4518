"""Packaging rules: conda files match pyproject, the core imports without widget libraries."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VIEW_MODULES = ("ipywidgets", "bqplot", "traitlets", "IPython.display")
# Run inside JupyterHub (the spawner) and jupyter_server (the kernel manager): they are
# configured with traitlets by nature, and no kernel imports them.
IN_JUPYTER_PROCESSES = ("shiftdesk.hub._hubside", "shiftdesk.hub.warm_kernels")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pyproject_requirements(*extras: str) -> dict[str, Requirement]:
    """Dependencies of the core plus ``extras``, without references to shiftdesk itself."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    reqs = [Requirement(line) for line in lines]
    return {_normalize(r.name): r for r in reqs if _normalize(r.name) != "shiftdesk"}


def _conda_entries(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(conda packages, pip packages) of an environment.yml, as {normalized name: spec}."""
    env = yaml.safe_load(path.read_text())
    conda: dict[str, str] = {}
    pip: dict[str, str] = {}
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for spec in item.get("pip", []):
                if spec.startswith("-"):  # -e ., -r file, options
                    continue
                pip[_normalize(Requirement(spec).name)] = spec
        else:
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", item)
            assert match, f"{path}: cannot read conda spec {item!r}"
            conda[_normalize(match.group(0))] = item
    return conda, pip


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_environment_files_list_every_runtime_dependency(env_file: str) -> None:
    path = ROOT / env_file
    conda, pip = _conda_entries(path)
    env = yaml.safe_load(path.read_text())
    assert env["name"] == "shiftdesk"
    assert "conda-forge" in env["channels"]

    required = _pyproject_requirements("widgets", "dashboards", "postgres")
    missing = sorted(set(required) - set(conda) - set(pip))
    assert not missing, f"{env_file} lacks these pyproject dependencies: {missing}"
    assert "python" in conda and "pip" in conda

    # Exact pins are pip-only (not on conda-forge at that version) and must match exactly.
    for name, req in required.items():
        pins = [s for s in req.specifier if s.operator == "=="]
        if pins:
            assert name in pip, f"{env_file}: {name} is pinned in pyproject; put it under pip:"
            assert Requirement(pip[name]).specifier == req.specifier, (
                f"{env_file}: {pip[name]!r} does not match pyproject's {req}"
            )


def test_development_environment_has_test_and_docs_tools() -> None:
    conda, pip = _conda_entries(ROOT / "environment.yml")
    required = _pyproject_requirements("widgets", "dashboards", "postgres", "test", "docs")
    missing = sorted(set(required) - set(conda) - set(pip))
    assert not missing, f"environment.yml lacks these pyproject dependencies: {missing}"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert "-e .[all,test,docs]" in pip_section


def test_core_imports_without_any_widget_library() -> None:
    code = textwrap.dedent(
        f"""
        import sys

        BLOCKED = {VIEW_MODULES!r}
        for name in BLOCKED:
            sys.modules[name] = None  # any import of it now raises ImportError

        import importlib
        import pkgutil

        import shiftdesk

        # Every module of the core: daq, hub, gate and every domain included. Modules that
        # plug into Jupyter's own processes use Jupyter's configuration (traitlets).
        IN_JUPYTER = {IN_JUPYTER_PROCESSES!r}
        for info in pkgutil.walk_packages(shiftdesk.__path__, "shiftdesk."):
            if info.name in IN_JUPYTER or ".migrations." in info.name + ".":
                continue
            importlib.import_module(info.name)
        from shiftdesk.domains import all_domains, load_records

        all_domains()
        load_records()

        real = sorted(
            name
            for name, module in sys.modules.items()
            if module is not None
            and any(name == b or name.startswith(b + ".") for b in BLOCKED + ("shiftdesk_widgets",))
        )
        print("REAL VIEW MODULES:", real)
        sys.exit(1 if real else 0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, (
        "importing the shiftdesk core needed a widget library (or failed):\n"
        f"{result.stdout}\n{result.stderr}"
    )
    assert "REAL VIEW MODULES: []" in result.stdout


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_lint_bans_view_libraries_in_the_core() -> None:
    banned = PYPROJECT["tool"]["ruff"]["lint"]["flake8-tidy-imports"]["banned-api"]
    for name in (*VIEW_MODULES, "shiftdesk_widgets"):
        assert name in banned, f"[tool.ruff.lint.flake8-tidy-imports.banned-api] lacks {name}"

    clean = _ruff("check", "--no-cache", "--select", "TID251", "src")
    assert clean.returncode == 0, f"the core imports a view library:\n{clean.stdout}{clean.stderr}"

    source = (
        "import ipywidgets\nimport bqplot\nimport traitlets\nfrom IPython.display import HTML\n"
    )
    in_core = _ruff(
        "check", "--no-cache", "--select", "TID251", "--stdin-filename", "src/shiftdesk/x.py", "-",
        stdin=source,
    )  # fmt: skip
    assert in_core.returncode != 0
    assert in_core.stdout.count("TID251") == 4, in_core.stdout

    # The same imports are fine in the widget package (so the failure above is the ban).
    in_widgets = _ruff(
        "check", "--no-cache", "--select", "TID251", "--stdin-filename",
        "widgets/shiftdesk_widgets/x.py", "-",
        stdin=source,
    )  # fmt: skip
    assert in_widgets.returncode == 0, in_widgets.stdout + in_widgets.stderr


@pytest.mark.parametrize("path", ["src/shiftdesk/py.typed", "widgets/shiftdesk_widgets/py.typed"])
def test_packages_are_marked_typed(path: str) -> None:
    assert (ROOT / path).is_file()
