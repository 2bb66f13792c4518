"""ExportPanel: each format written through the callback and offered for download."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from shiftdesk_widgets.runtable.export import ExportPanel


def test_export_formats(tmp_path: Path) -> None:
    written: list[Path] = []

    def export(path: Path) -> None:
        written.append(path)
        path.write_text(f"table as {path.suffix}\n")

    panel = ExportPanel(export, "demo", tmp_path / "out")
    for label, suffix in [("CSV", ".csv"), ("Excel", ".xlsx"), ("Markdown", ".md")]:
        panel.buttons[label].click()
        assert written[-1] == tmp_path / "out" / f"demo{suffix}"
        href = re.search(r"href='data:[^;]+;base64,([^']+)'", panel.link.value)
        assert href is not None
        assert base64.b64decode(href.group(1)) == f"table as {suffix}\n".encode()
        assert f"download='demo{suffix}'" in panel.link.value


def test_an_export_failure_is_shown(tmp_path: Path) -> None:
    def export(path: Path) -> None:
        raise ValueError("openpyxl is not installed")

    panel = ExportPanel(export, "demo", tmp_path)
    assert panel.export("Excel") is None
    assert "Excel export failed: openpyxl is not installed" in panel.link.value


def test_a_large_file_is_offered_by_its_path(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import shiftdesk_widgets.runtable.export as module

    monkeypatch.setattr(module, "MAX_LINK_BYTES", 4)
    panel = ExportPanel(lambda p: p.write_text("0123456789"), "demo", tmp_path)
    assert panel.export("CSV") == tmp_path / "demo.csv"
    assert "saved to" in panel.link.value and "data:" not in panel.link.value
