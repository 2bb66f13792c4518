"""Export buttons: CSV, Excel and Markdown files, offered as download links."""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.runtable._calls import Caller, run_now
from shiftdesk_widgets.runtable.grid import error_text

ExportCallback = Callable[[Path], Any]
FORMATS = {
    "CSV": (".csv", "text/csv"),
    "Excel": (".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "Markdown": (".md", "text/markdown"),
}
#: Files larger than this are offered by their path only (a data: link would be too big).
MAX_LINK_BYTES = 20_000_000


class ExportPanel(w.VBox):
    """CSV / Excel / Markdown buttons; each writes a file and offers it for download.

    Parameters
    ----------
    export : callable
        ``export(path)`` writes the table to ``path`` (its suffix says the format).
    name : str
        The file name's stem (the table's name).
    folder : path, optional
        Where the files go (default: a temporary folder of this session).
    caller : callable, optional
        Runs the export (default: at once; the dashboard writes off the kernel thread).
    """

    def __init__(
        self,
        export: ExportCallback,
        name: str = "runtable",
        folder: str | Path | None = None,
        *,
        caller: Caller = run_now,
    ) -> None:
        self.export_call = export
        self.caller = caller
        self.last: Path | None = None
        self.name = name
        self.folder = Path(folder) if folder else None
        self.buttons: dict[str, w.Button] = {}
        # the buttons share one layout and one style (a model fewer each for the browser)
        layout, style = w.Layout(width="120px"), w.ButtonStyle()
        for label in FORMATS:
            button = w.Button(description=label, icon="download", layout=layout, style=style)
            button.add_class(f"sd-rt-export-{label.lower()}")
            button.on_click(lambda _b, f=label: self.export(f))
            self.buttons[label] = button
        self.link = w.HTML()
        self.link.add_class("sd-rt-export-link")
        super().__init__([w.HBox([w.HTML("<b>Export</b>&nbsp;"), *self.buttons.values(),
                                  self.link], layout=w.Layout(align_items="center"))])  # fmt: skip
        self.add_class("sd-rt-export")

    def export(self, label: str) -> Path | None:
        """Write the table as ``label`` (CSV, Excel, Markdown); shows a download link.

        Returns the file written (when written at once; else None, the link shows later).
        """
        suffix, mime = FORMATS[label]
        if self.folder is None:  # a folder of this session, made on first use
            self.folder = Path(tempfile.mkdtemp(prefix="sd-runtable-"))
        path = self.folder / f"{self.name}{suffix}"
        folder = self.folder

        def work() -> bytes:
            folder.mkdir(parents=True, exist_ok=True)
            self.export_call(path)
            size = path.stat().st_size
            return b"" if size > MAX_LINK_BYTES else path.read_bytes()

        def failed(exc: BaseException) -> None:  # the core's refusal or a write error
            self._busy(False)
            self.link.value = (
                f"<span style='color:#b00020'>{label} export failed: "
                f"{html.escape(error_text(exc))}</span>"
            )

        self.last = None
        self._busy(True)
        self.link.value = f"<small>writing {html.escape(path.name)}…</small>"
        self.caller("export", work, lambda data: self._written(path, mime, data), failed)
        return self.last

    def _busy(self, on: bool) -> None:
        for button in self.buttons.values():
            button.disabled = on

    def _written(self, path: Path, mime: str, data: bytes) -> None:
        self._busy(False)
        self.last = path
        if not data:
            self.link.value = f"saved to <code>{html.escape(str(path))}</code>"
            return
        href = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        self.link.value = (
            f"<a download='{html.escape(path.name)}' href='{href}' class='sd-rt-download'>"
            f"⬇ {html.escape(path.name)}</a> <small>({len(data) / 1024:.0f} kB, also saved to "
            f"<code>{html.escape(str(path))}</code>)</small>"
        )
