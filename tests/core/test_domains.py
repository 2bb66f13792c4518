"""The domain seam: declarations found by entry point, and nothing shared names a domain."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from shiftdesk import domains
from shiftdesk.domains import Domain, all_domains, domain_of, get_domain
from shiftdesk.errors import NotFound, SchemaTooNewError
from shiftdesk.gate import LocalGate
from shiftdesk.identity import Identity
from shiftdesk.jobs.tasks import TaskKind, get_kind
from shiftdesk.storage import Database

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "src" / "shiftdesk"
WIDGETS = ROOT / "widgets" / "shiftdesk_widgets"
DOMAIN_PACKAGES = ("daq", "reflectometry")

# The shared machinery: none of it may import a domain (a domain plugs in, it is not
# written into these). The CLI, the hub and its services are wiring that starts domains'
# services and dashboards and is not part of this rule yet (see the note).
SHARED = [
    CORE / "domains.py",
    CORE / "_views.py",
    CORE / "display.py",
    CORE / "identity.py",
    CORE / "audit.py",
    *sorted((CORE / "storage").glob("*.py")),
    *sorted((CORE / "jobs").rglob("*.py")),
    *sorted((CORE / "gate").glob("*.py")),
    WIDGETS / "__init__.py",
    WIDGETS / "registry.py",
    WIDGETS / "jobs.py",
    WIDGETS / "jobs_panel.py",
]


def _imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("path", SHARED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_shared_module_imports_a_domain(path: Path) -> None:
    assert path.exists(), f"{path} moved: update SHARED"
    domain_modules = [
        name
        for name in _imported_modules(path)
        for package in DOMAIN_PACKAGES
        if name in (f"shiftdesk.{package}", f"shiftdesk_widgets.{package}")
        or name.startswith((f"shiftdesk.{package}.", f"shiftdesk_widgets.{package}."))
    ]
    assert domain_modules == [], f"{path.name} names a domain: {domain_modules}"


def test_the_rule_above_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from shiftdesk.daq.records import CommandRecord\nimport shiftdesk.jobs\n")
    assert "shiftdesk.daq.records" in _imported_modules(bad)


def test_installed_domains_declare_what_they_bring() -> None:
    found = all_domains()
    assert {"daq", "reflectometry", "test"} <= set(found)
    daq = get_domain("daq")
    assert daq.package == "shiftdesk.daq"
    assert "shiftdesk.daq.records" in daq.records
    assert "shiftdesk.daq.actions" in daq.gate_actions
    assert get_domain("reflectometry").job_kinds[0].name == "reflectometry.fit"
    # The test domain (tests/plugins) is a separate distribution found the same way.
    assert get_domain("test").package == "shiftdesk_testdomain"
    with pytest.raises(KeyError, match="no shiftdesk domain 'nope' is installed"):
        get_domain("nope")


def test_domain_of_a_module_is_the_longest_matching_package() -> None:
    assert domain_of("shiftdesk.daq.ecc.client") == get_domain("daq")
    assert domain_of("shiftdesk.daq") == get_domain("daq")
    assert domain_of("shiftdesk.daqx") is None
    assert domain_of("shiftdesk.jobs.job") is None


def test_job_kinds_come_from_the_domains() -> None:
    assert get_kind("reflectometry.fit").run.endswith(":run_fit_task")
    assert get_kind("test.sleep").run == "shiftdesk_testdomain.tasks:sleep_task"
    with pytest.raises(KeyError, match="is that package installed here"):
        get_kind("nope.sleep")


def test_a_domain_keeps_its_kinds_under_its_name() -> None:
    with pytest.raises(ValueError, match=r"must start with 'mine\.'"):
        Domain(name="mine", package="mine", job_kinds=(TaskKind("other.run", run="m:f"),))


def test_two_domains_of_one_name_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(domains, "_DOMAINS", dict(all_domains()))
    with pytest.raises(ValueError, match="two domains are named 'daq'"):
        domains.register(Domain(name="daq", package="elsewhere.daq"))
    extra = domains.register(Domain(name="extra", package="elsewhere.extra"))
    assert get_domain("extra") is extra
    # Registering the same declaration again is harmless.
    assert domains.register(extra) is extra


def test_a_domains_table_comes_with_its_own_migration(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        assert "test_0001" in db.current_revision().split("+")  # type: ignore[union-attr]
        assert db.current_revisions() == db.head_revisions()
        with db.engine.connect() as conn:
            assert "test_tallies" in sa.inspect(conn).get_table_names()
    finally:
        db.engine.dispose()


def test_a_domain_object_belongs_to_its_user(tmp_path: Path) -> None:
    from shiftdesk_testdomain import Tally

    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    alice, bob = Identity("alice"), Identity("bob")
    try:
        tally = Tally.create("beam hours", database=db, identity=alice)
        assert tally.add(2) == 2
        assert Tally.open(tally.id, database=db, identity=alice).count == 2
        assert Tally.list(database=db, identity=bob) == []
        with pytest.raises(NotFound, match="bob has no tally"):
            Tally.open(tally.id, database=db, identity=bob)
        with pytest.raises(ValueError, match="needs a name"):
            Tally.create("  ", database=db, identity=alice)
        with pytest.raises(ValueError, match="whole number"):
            tally.add(-1)
        assert repr(tally) == "<Tally 'beam hours' = 2 (alice)>"
        assert "beam hours" in tally._repr_html_()
    finally:
        db.engine.dispose()


def test_a_database_from_a_domain_not_installed_here_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    Database(url).engine.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('elsewhere_0001')"))
    engine.dispose()
    with pytest.raises(SchemaTooNewError, match="elsewhere_0001") as info:
        Database(url)
    assert "domain package not installed here" in str(info.value)


def test_a_domains_gate_action_runs_as_the_verified_caller() -> None:
    gate = LocalGate(Identity("alice", groups=frozenset({"operators"})), audit=False)
    assert gate.call("test.whoami") == {"name": "alice", "groups": ["operators"]}


def test_loading_the_domains_stays_cheap() -> None:
    # Every process that opens a database loads the declarations: not the DAQ's SOAP
    # client, not refl1d, not a widget library.
    code = (
        "import sys\n"
        "from shiftdesk.domains import all_domains, load_records\n"
        "all_domains(); load_records()\n"
        "heavy = ('zeep', 'numpy', 'refl1d', 'bumps', 'ipywidgets', 'shiftdesk_widgets')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_the_cli_takes_commands_dashboards_and_demo_data_from_the_domains(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shiftdesk import cli
    from shiftdesk.reflectometry.library import Library

    assert cli.main(["demo", "--seed-only"]) == 0
    out = capsys.readouterr().out
    assert "reflectometry demo data #" in out
    assert [m.title for m in Library().list_models()] != []
    assert set(cli._dashboards()) >= {"daq", "reflectometry"}
    with pytest.raises(SystemExit) as info:
        cli.main(["daq", "poll", "--help"])
    assert info.value.code == 0
    assert "--check-routers" in capsys.readouterr().out
