"""Helpers shared by the benchmark scripts (not a benchmark itself).

Every script calls :func:`isolate` *before* importing shiftdesk, so that the jobs
database and job logs go to a throw-away folder and never to the user's data.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def isolate() -> str:
    """Point shiftdesk at a fresh temporary data folder (removed at exit)."""
    folder = tempfile.mkdtemp(prefix="shiftdesk-bench-")
    os.environ["SHIFTDESK_DATA_DIR"] = folder
    # never reach a real database or act as a real user
    for name in ("SHIFTDESK_DATABASE_URL", "SHIFTDESK_ADMINS", "SHIFTDESK_GROUPS"):
        os.environ.pop(name, None)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def start_voila(notebook: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A standalone ``voila`` server on ``notebook`` (the options our pages use), once it
    answers; returns the process and its page URL."""
    from shiftdesk.hub.config import free_port, voila_args

    port = free_port()
    voila = Path(sys.executable).with_name("voila")
    proc = subprocess.Popen(
        [str(voila), str(notebook), f"--port={port}", "--no-browser", "--Voila.ip=127.0.0.1",
         *voila_args()],
        cwd=ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            # a static file: a GET of the page would start a kernel
            urllib.request.urlopen(f"{base}/voila/static/favicon.ico", timeout=2).close()
            return proc, base + "/"
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def voila_pages(notebooks: dict[str, Path]) -> Iterator[tuple[Any, dict[str, str]]]:
    """Standalone Voilà on each notebook (:func:`start_voila`) and Chromium to open them:
    yields the browser and ``{name: page URL}``; stops the browser and the servers."""
    from playwright.sync_api import sync_playwright

    procs = []
    try:
        urls = {}
        for name, notebook in notebooks.items():
            proc, url = start_voila(notebook)
            procs.append(proc)
            urls[name] = url
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser, urls
            finally:
                browser.close()
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def machine() -> str:
    """One line describing where the figures were measured."""
    import bumps
    import numpy
    import refl1d

    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    return (
        f"{platform.python_implementation()} {platform.python_version()} on "
        f"{platform.machine()}, {os.cpu_count()} cores{load}; refl1d {refl1d.__version__}, "
        f"bumps {bumps.__version__}, numpy {numpy.__version__}"
    )


def interleaved(
    variants: dict[str, Callable[[], object]], rounds: int, per_round: int
) -> dict[str, list[float]]:
    """Per-call wall times (s) of each variant, run in alternating blocks.

    Alternating blocks spread slow drifts of the machine (frequency scaling, other
    processes) evenly over the variants, so their ratio is fair.
    """
    times: dict[str, list[float]] = {name: [] for name in variants}
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, call in variants.items():
            gc.collect()
            gc.disable()
            try:
                out = times[name]
                for _ in range(per_round):
                    t0 = clock()
                    call()
                    out.append((clock() - t0) * 1e-9)
            finally:
                gc.enable()
    return times


def hub_state_folder(prefix: str) -> Path:
    """A fresh hub state folder every account can pass through (mode 0711).

    With per-user accounts each user's server reaches its home below it, which a
    private temporary folder (0700) would not let it do.
    """
    folder = Path(tempfile.mkdtemp(prefix=f"shiftdesk-{prefix}-"))
    os.chmod(folder, 0o711)
    return folder


@contextlib.contextmanager
def running_hub(settings: Any, state: Path) -> Iterator[Any]:
    """A ``shiftdesk.hub.Hub`` for ``settings``, answering, logging to ``state/hub.log``.

    Stopped afterwards (``hub.left`` then holds the processes that had to be killed);
    on an error the log's tail is printed, as it says why a page never came. The state
    folder is removed at the end.
    """
    from shiftdesk.hub import Hub

    log_path = state / "hub.log"
    try:
        with open(log_path, "w") as log:
            hub = Hub(settings, log=log)
            hub.start()
            try:
                hub.wait_ready()
                yield hub
            finally:
                hub.left = hub.stop()
    except BaseException:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        print("--- hub log (tail) ---\n" + text[-6000:], file=sys.stderr)
        raise
    finally:
        shutil.rmtree(state, ignore_errors=True)


def median(values: Sequence[float]) -> float:
    """The median."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """A percentile (nearest rank), ``fraction`` in [0, 1]."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return float(ordered[index])


def print_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> None:
    """A plain fixed-width text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            print("  ".join("-" * w for w in widths))


def ratio_line(name: str, value: float, target: float) -> str:
    """The machine-readable last line every benchmark prints."""
    return f"RATIO {name} = {value:.2f} (target <= {target:g})"


#: the system Chromium the browser benches drive, and its flags
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


def _all_of(*selectors: str) -> str:
    found = " && ".join(f"document.querySelector({s!r})" for s in selectors)
    return f"() => !!({found})"


#: Each dashboard's first screen drawn, as a JavaScript predicate to poll from navigation
#: (the dashboard benches, standalone and through the hub): what a user looks at first.
FIRST_SCREEN: dict[str, str] = {
    # the dashboard's box and a line of its R(Q) figure (the data; in a fresh kernel the
    # model curve follows once refl1d is loaded: MODEL_DRAWN)
    "reflectometry": _all_of(".sd-reflectometry-dashboard", ".sd-refl-plot path.line"),
    # the run state and every server's state (the table the operator acts on)
    "daq": """() => {
        const state = document.querySelector('.sd-daq-run-state');
        const servers = [...document.querySelectorAll('.sd-daq-status')];
        return !!state && state.textContent.trim() !== '' && servers.length > 0
            && servers.every(s => s.textContent.trim() !== '');
    }""",
    # the first row of the grid
    "runtable": _all_of(".sd-rt-view", ".sd-rt-row"),
    # the context cards (latest and edit context)
    "catalog": """() => !!document.querySelector('.sd-cat-view')
        && (document.querySelector('.sd-cat-cards')?.textContent || '').includes('.pmap')""",
    # the session's frame cards
    "datalab": _all_of(".sd-dl-view", ".sd-dl-gallery .sd-dl-card"),
}
#: the reflectometry dashboard's model curve (#d62728) holds a real path
MODEL_DRAWN = """() => [...document.querySelectorAll(
    ".sd-refl-plot g.curve > path.line[style*='rgb(214, 39, 40)']")]
    .some(p => (p.getAttribute('d') || '').split('L').length > 100)"""
#: the peer page of the dashboard benches: a bare Voilà page with one bqplot figure
_MINIMAL_BQPLOT_SOURCE = """\
import bqplot as bq
import ipywidgets as w
import numpy as np

x = np.linspace(0, 1, 200)
scales = {"x": bq.LinearScale(), "y": bq.LinearScale()}
fig = bq.Figure(marks=[bq.Lines(x=x, y=x**2, scales=scales)])
w.VBox([w.HTML("<h2>Minimal</h2>"), fig])
"""


def minimal_bqplot_page(folder: Path) -> Path:
    """Write the dashboard benches' peer page (one bqplot figure) as a notebook in ``folder``."""
    import json

    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": _MINIMAL_BQPLOT_SOURCE}  # fmt: skip
    notebook = {
        "cells": [cell],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / "minimal.ipynb"
    path.write_text(json.dumps(notebook))
    return path
