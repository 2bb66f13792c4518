"""``shiftdesk catalog ...`` on the demo files: every command, and clear errors."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shiftdesk.catalog import Catalog
from shiftdesk.catalog.demo import write_demo_files, write_reference
from shiftdesk.cli import main
from shiftdesk.identity import Identity

EXPOSURE = [
    "ROMAN.META.INSTRUMENT.NAME=WFI",
    "ROMAN.META.INSTRUMENT.DETECTOR=WFI01",
    "ROMAN.META.INSTRUMENT.OPTICAL_ELEMENT=F087",
    "ROMAN.META.EXPOSURE.TYPE=WFI_IMAGE",
    "ROMAN.META.EXPOSURE.START_TIME=2026-03-01T00:00:00",
]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["catalog", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def roman(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The demo files imported by the commands, roman_0002.pmap latest and edit."""
    files = tmp_path / "demo"
    write_demo_files(files)
    assert _run(capsys, "create", "roman", "--description", "demo")[0] == 0
    code, out, _ = _run(capsys, "import", "roman", str(files), "--why", "demo")
    assert code == 0 and "files added to the roman catalog" in out
    for kind in ("latest", "edit"):
        assert (
            _run(capsys, "set-context", "roman", kind, "roman_0002.pmap", "--why", "demo")[0] == 0
        )
    return files


def _flat(folder: Path, name: str = "new_flat.asdf") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tree: dict[str, Any] = {
        "reftype": "FLAT",
        "useafter": "2026-02-01T00:00:00",
        "description": "2026 flat",
        "instrument": {"name": "WFI", "detector": "WFI01", "optical_element": "F087"},
    }
    write_reference(folder / name, tree, seed=99)
    return folder / name


def test_list_create_import_and_contexts(roman: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "list")
    assert (code, out.split()) == (0, ["roman"])
    code, out, _ = _run(capsys, "contexts", "roman")
    assert code == 0
    assert "latest: roman_0002.pmap" in out and "edit: roman_0002.pmap" in out
    assert "history (newest first)" in out and "demo" in out
    code, out, _ = _run(capsys, "contexts", "roman", "--kind", "latest", "--limit", "1")
    assert len([line for line in out.splitlines() if "roman_0002.pmap (" in line]) == 1


def test_bestrefs_from_a_header_or_a_file(
    roman: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cat = Catalog.open("roman")
    expected = cat.best_references(dict(kv.split("=", 1) for kv in EXPOSURE))
    code, out, _ = _run(capsys, "bestrefs", "roman", "--header", *EXPOSURE, "--json")
    assert code == 0 and json.loads(out) == expected
    code, out, _ = _run(capsys, "bestrefs", "roman", "--header", *EXPOSURE, "--types", "flat")
    assert code == 0 and out.split() == ["flat", expected["flat"]]
    # a file's own header: the flat's instrument and detector select the same flat
    exposure = tmp_path / "exposure.asdf"
    write_reference(
        exposure,
        {"instrument": {"name": "WFI", "detector": "WFI01", "optical_element": "F087"},
         "exposure": {"type": "WFI_IMAGE", "start_time": "2026-03-01T00:00:00"}},
        seed=1,
    )  # fmt: skip
    code, out, _ = _run(capsys, "bestrefs", "roman", "--file", str(exposure), "--json",
                        "--context", "edit")  # fmt: skip
    assert code == 0 and json.loads(out)["flat"] == expected["flat"]


def test_mark_bad_bad_and_uses(roman: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "uses", "roman", "roman_wfi_flat_0001.rmap")
    assert code == 0 and "roman_0001.pmap" in out.split()
    # a file of the latest context: refused, with CRDS's procedure in the message
    code, _, err = _run(capsys, "mark-bad", "roman", "roman_wfi_flat_0002.rmap", "--why", "x")
    assert code == 1 and "latest context" in err and "Traceback" not in err
    code, out, _ = _run(capsys, "mark-bad", "roman", "roman_wfi_flat_0001.rmap", "--why", "old")
    assert code == 0 and "marked bad: roman_wfi_flat_0001.rmap" in out
    assert "roman_0001.pmap" in out  # blacklisted with it
    code, out, _ = _run(capsys, "bad", "roman")
    assert out.split() == ["roman_wfi_flat_0001.rmap"]


def test_submit_shows_the_plan_and_confirms_with_yes(
    roman: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flat = _flat(tmp_path / "in")
    code, out, _ = _run(capsys, "submit", "roman", str(flat), "--description", "2026 flat",
                        "--yes", "--diffs")  # fmt: skip
    assert code == 0, out
    assert "new_flat.asdf -> roman_wfi_flat_0016.asdf (FLAT" in out
    assert "new mappings:" in out and "roman_0004.pmap" in out
    # roman_0003.pmap derives from roman_0002.pmap too: said, not refused
    assert "collisions:\n  roman_" in out and "checks:\n  new_flat.asdf: ok" in out
    assert "+        '2026-02-01 00:00:00' : 'roman_wfi_flat_0016.asdf'," in out
    assert "confirmed: 4 files delivered; roman_0004.pmap is the edit context" in out
    assert Catalog.open("roman").context("edit") == "roman_0004.pmap"


def test_submit_without_yes_asks_and_a_no_cancels(
    roman: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("builtins.input", lambda _prompt: "n")
    code, out, _ = _run(capsys, "submit", "roman", str(_flat(tmp_path / "in")),
                        "--description", "2026 flat")  # fmt: skip
    assert code == 1 and "cancelled submission" in out
    cat = Catalog.open("roman")
    assert cat.context("edit") == "roman_0002.pmap" and cat.submissions()[0].outcome == "cancelled"
    monkeypatch.setattr("builtins.input", lambda _prompt: "yes")
    code, out, _ = _run(capsys, "submit", "roman", str(_flat(tmp_path / "in2")),
                        "--description", "2026 flat")  # fmt: skip
    assert code == 0 and "confirmed" in out


def test_a_submission_whose_checks_fail_says_why(
    roman: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "in" / "flat.asdf"
    bad.parent.mkdir()
    write_reference(bad, {"reftype": "FLAT", "instrument": {"name": "WFI"}}, seed=2)
    code, _, err = _run(capsys, "submit", "roman", str(bad), "--description", "x", "--yes")
    assert code == 1 and "failed" in err and "useafter" in err and "Traceback" not in err


def test_export_check_and_deliveries(
    roman: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "roman.sqlite"
    code, out, _ = _run(capsys, "export", "roman", str(target))
    assert code == 0 and str(target) in out
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM crds_roman_catalog").fetchone()[0] > 0
    code, out, _ = _run(capsys, "check", "roman")
    assert (code, out.strip()) == (0, "no defects")
    Catalog.open("roman").path("roman_wfi_flat_0001.asdf").unlink()
    code, out, err = _run(capsys, "check", "roman", "--quick")
    assert code == 1 and "roman_wfi_flat_0001.asdf: missing-file" in out and "repair" in err
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    Catalog.open("roman", identity=Identity("root", admin=True)).set_delivery_folder(str(outbox))
    code, out, _ = _run(capsys, "submit", "roman", str(_flat(tmp_path / "in")),
                        "--description", "2026 flat", "--yes")  # fmt: skip
    assert code == 0 and "sent to the archive pipeline as opus_1_i.cat" in out
    (outbox / "opus_1_i.cat").rename(outbox / "opus_1_i.cat_PROC")
    code, out, _ = _run(capsys, "deliveries", "roman", "--poll")
    assert code == 0 and "now archiving: opus_1_i.cat" in out
    assert f"delivers to: {outbox.resolve()}" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["contexts", "jwst"], "there is no catalog of 'jwst'"),
        (["create", "Bad Name"], "cannot name an observatory"),
        (["import", "roman", "/no/such/folder"], "no/such/folder"),
        (["set-context", "roman", "latest", "roman_0099.pmap", "--why", "x"], "no file"),
        (["bestrefs", "roman"], "--header KEY=VALUE"),
        (["bestrefs", "roman", "--header", "DETECTOR"], "KEY=VALUE"),
        (["bestrefs", "roman", "--file", "/no/such.asdf"], "/no/such.asdf"),
        (["bestrefs", "roman", "--header", "A=1", "--context", "x.rmap"], "not a context"),
        (["uses", "roman", "nothing.rmap"], "no file 'nothing.rmap'"),
        (["submit", "roman", "/no/such.asdf", "--description", "x"], "no such file"),
        (["export", "roman", "/tmp/roman.csv"], ".sqlite"),
    ],
)
def test_errors_are_one_line_and_exit_1(
    roman: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 1
    assert err.startswith("shiftdesk: ") and message in err, err
    assert "Traceback" not in err


def test_the_console_script_runs_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shiftdesk.cli", "catalog", "bad", "nowhere"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("shiftdesk: there is no catalog of 'nowhere'")
