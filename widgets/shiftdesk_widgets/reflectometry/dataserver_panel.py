"""Load a reduced run from the facility data server: instrument, run number, Load.

The download runs in a background thread so the Load callback returns at once; the
widget is only updated from the kernel's loop by the :class:`Ticker` (tests call
:meth:`DataServerPanel.poll` by hand).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import ipywidgets as w

from shiftdesk.errors import ShiftdeskError
from shiftdesk.identity import Identity, current_identity
from shiftdesk.reflectometry import Library, ReflData, load_data
from shiftdesk.reflectometry.dataserver import URL_ENV, DataServer, check_run
from shiftdesk_widgets._async import Ticker

#: What an operator reads when no data server is configured (no developer settings).
NOT_SET_UP = (
    "No facility data server is set up for this hub: ask your facility admin, or upload "
    "files with Upload data in the Data section above."
)


class DataServerPanel(w.VBox):
    """Instrument and run number in, reduced data out.

    Parameters
    ----------
    server : DataServer, optional
        Default: configured from ``SHIFTDESK_DATA_SERVER_URL`` (the panel says so when
        nothing is configured).
    on_data : callable, optional
        Called with the loaded :class:`ReflData` (e.g. to put it into the model).
    library : Library, optional
        When given, loaded runs are also kept in the user's "my data", and the run is
        fetched as the library's user.
    instrument : str
        Pre-filled instrument name.
    """

    def __init__(
        self,
        server: DataServer | None = None,
        *,
        on_data: Callable[[ReflData], None] | None = None,
        library: Library | None = None,
        instrument: str = "",
    ) -> None:
        self.on_data = on_data
        self.library = library
        self.data: ReflData | None = None
        self.data_id: int | None = None
        self._future: Future[tuple[bytes, str]] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._pending = ("", 0)
        self.instrument = w.Text(value=instrument, description="instrument", placeholder="REF_L")
        self.instrument.add_class("sd-ds-instrument")
        self.run = w.Text(description="run", placeholder="e.g. 201234")
        self.run.add_class("sd-ds-run")
        for box in (self.instrument, self.run):
            box.layout.width = "230px"
        self.keep = w.Checkbox(value=library is not None, description="keep in my data")
        self.keep.layout.display = None if library is not None else "none"
        self.load_button = w.Button(description="Load", icon="download", button_style="primary")
        self.load_button.add_class("sd-ds-load")
        self.load_button.on_click(lambda _b: self.load())
        self.status = w.HTML()
        self.status.add_class("sd-ds-status")
        self.poller = Ticker(self.poll, 0.2)
        self.server: DataServer | None
        try:
            self.server = server if server is not None else DataServer()
        except ShiftdeskError as exc:
            self.server = None
            for control in (self.load_button, self.instrument, self.run, self.keep):
                control.disabled = True
            if os.environ.get(URL_ENV):
                # set but unusable: the admin's to fix, so say what to tell them
                self._show(
                    "error",
                    f"The facility data server is set up wrongly ({exc}): tell your "
                    "facility admin; meanwhile upload files with Upload data.",
                )
            else:
                self._show("info", NOT_SET_UP)
        super().__init__(
            [
                w.HBox([self.instrument, self.run, self.load_button, self.keep]),
                self.status,
            ]
        )
        self.add_class("sd-dataserver")

    @property
    def identity(self) -> Identity:
        """Who the run is fetched for."""
        return self.library.identity if self.library is not None else current_identity()

    def _show(self, kind: str, text: str) -> None:
        css = {"error": "sd-bad", "ok": "sd-ok", "info": ""}[kind]
        self.status.value = f"<span class='{css} sd-ds-{kind}'>{html.escape(text)}</span>"

    def load(self) -> bool:
        """Start loading the run typed in; returns False when it could not start."""
        if self.server is None:
            return False
        if self._future is not None:
            self._show("info", "a run is already loading…")
            return False
        try:
            name, number = check_run(self.instrument.value, self.run.value)
        except ShiftdeskError as exc:
            self._show("error", str(exc))
            return False
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sd-dataserver")
        self._pending = (name, number)
        # the thread only downloads; parsing and storing happen on the kernel's loop
        self._future = self._executor.submit(self.server.fetch, name, number, self.identity)
        self.load_button.disabled = True
        self._show("info", f"loading {name} run {number}…")
        self.poller.start()
        return True

    def poll(self) -> bool:
        """Finish a download that is done; returns True while one is still running."""
        future = self._future
        if future is None:
            return False
        if not future.done():
            return True
        self._future = None
        self.load_button.disabled = False
        name, number = self._pending
        try:
            content, filename = future.result()
            if self.library is not None and self.keep.value:
                data_id, data = self.library.add_data(content, filename)
            else:
                data_id, data = None, load_data(content, filename=filename)
        except ShiftdeskError as exc:
            self._show("error", str(exc))
            return False
        except Exception as exc:  # an unexpected fault: shown, never raised into the UI
            self._show("error", f"loading {name} run {number} failed: {exc}")
            return False
        self.data, self.data_id = data, data_id
        kept = " (kept in my data)" if data_id is not None else ""
        self._show("ok", f"loaded {name} run {number}: {len(data)} points{kept}")
        if self.on_data is not None:
            self.on_data(data)
        return False

    def close(self) -> None:
        """Stop polling and the download thread, then close the widget."""
        self.poller.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        super().close()
