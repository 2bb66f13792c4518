"""New runs from a folder watcher and from the command line; what the watcher matches."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shiftdesk.cli import main
from shiftdesk.identity import local_identity
from shiftdesk.runtable import RunTable
from shiftdesk.runtable.watcher import runs_on_disk, scan

CONTEXT = "from damnit_ctx import Variable\n\n@Variable\ndef number(run):\n    return run.number\n"


def test_runs_on_disk_follow_the_template(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for name in ("r0001", "r0002", "r7", "r0003.tmp", "other"):
        (raw / name).mkdir(parents=True)
    (raw / "r0004").write_text("a file, not a folder, still a path")
    os.utime(raw / "r0001", (1_700_000_000, 1_700_000_000))
    found = runs_on_disk(str(raw / "r{run:04d}"))
    assert sorted(found) == [1, 2, 4]  # r7 is not r{run:04d}, r0003.tmp not a run
    assert found[1] == 1_700_000_000
    # the run's folder, then a fixed file inside it
    (raw / "r0002" / "data.h5").write_bytes(b"")
    assert sorted(runs_on_disk(str(raw / "r{run:04d}" / "data.h5"))) == [2]
    assert runs_on_disk(str(tmp_path / "missing" / "r{run}")) == {}
    with pytest.raises(ValueError, match="exactly one"):
        runs_on_disk(str(tmp_path / "r{run}" / "s{run}"))


def test_scan_adds_new_runs_once_and_processes_them(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    rt = RunTable.create("w", data=str(raw / "r{run:04d}"), context=CONTEXT)
    assert scan(rt) == []
    (raw / "r0003").mkdir(parents=True)
    assert scan(rt) == [3]
    assert scan(rt) == []
    deadline = time.monotonic() + 60
    while rt.states()[3].status != "done":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert rt.table().loc[3, "number"] == 3


def test_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "raw"
    (raw / "r0005").mkdir(parents=True)
    context = tmp_path / "context.py"
    context.write_text(CONTEXT)
    assert main(["runtable", "create", "cli", "--data", str(raw / "r{run:04d}"),
                 "--context", str(context)]) == 0  # fmt: skip
    assert main(["runtable", "notify", "cli", "5"]) == 0
    assert main(["runtable", "notify", "cli", "5"]) == 0
    out = capsys.readouterr().out
    assert "run 5: queued for processing" in out and "run 5: known already" in out
    assert main(["runtable", "process", "cli", "5", "--wait"]) == 0
    assert main(["runtable", "list"]) == 0
    assert "cli" in capsys.readouterr().out.split()
    target = tmp_path / "cli.csv"
    assert main(["runtable", "export", "cli", str(target)]) == 0
    assert "number" in target.read_text()
    rt = RunTable.open("cli")
    assert rt.owner == local_identity().name and rt.table().loc[5, "number"] == 5
