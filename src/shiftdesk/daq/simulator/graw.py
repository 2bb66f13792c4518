"""Fake GRAW files, written into a data router folder while a simulated ECC is running.

GET's dataRouter writes one file per AsAd (``CoBo_AsAd0_<start>_0000.graw``) and starts a
new one (``_0001`` …) when a file is full. The simulator writes a small file per AsAd
every ``interval`` seconds so end-of-run file handling has something to move.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Sequence
from pathlib import Path


def graw_prefixes(senders: Sequence[str], asads: int) -> list[str]:
    """File name prefixes for the senders of one ECC server.

    One CoBo gives ``CoBo_AsAd0`` … (GET's names); several CoBos on one server get their
    instance in the name (``CoBo1_AsAd0``) so their files do not collide; a MuTAnT
    writes ``Mutant``.
    """
    cobos = [s for s in senders if s.lower().startswith("cobo[")]
    prefixes: list[str] = []
    for sender in senders:
        kind, _, rest = sender.partition("[")
        instance = rest.split("]")[0]
        if kind.lower() == "cobo":
            board = "CoBo" if len(cobos) == 1 else f"CoBo{instance}"
            prefixes.extend(f"{board}_AsAd{a}" for a in range(asads))
        else:
            prefixes.append(kind if kind else "Sender")
    return prefixes


def timestamp(now: dt.datetime | None = None) -> str:
    """GET's file time stamp, e.g. ``2017-03-06T15:56:11.906``."""
    now = now or dt.datetime.now()
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}"


class GrawWriter:
    """Writes GRAW files for the senders of one ECC until stopped (a daemon thread)."""

    def __init__(
        self,
        folder: Path,
        senders: Sequence[str],
        *,
        interval: float = 0.5,
        asads: int = 1,
        size: int = 1024,
    ) -> None:
        self.folder = Path(folder)
        self.prefixes = graw_prefixes(senders, asads)
        self.interval = interval
        self.size = size
        self.written: list[Path] = []
        self._stop = threading.Event()
        self._stamp = timestamp()
        self._thread = threading.Thread(target=self._run, name="graw-writer", daemon=True)

    def start(self) -> None:
        """Write the first files now, then one more per AsAd every interval."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop writing (waits for the file being written)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        sequence = 0
        while True:
            for prefix in self.prefixes:
                path = self.folder / f"{prefix}_{self._stamp}_{sequence:04d}.graw"
                try:
                    path.write_bytes(os.urandom(self.size))
                except OSError:
                    return  # the folder went away: stop quietly, like a dead router
                self.written.append(path)
            sequence += 1
            if self._stop.wait(self.interval):
                return
