"""Button click → visible change on the page, through the hub, idle and while a fit runs.

Starts the demo deployment (``shiftdesk.hub.Hub``, free loopback port, temporary state
folder) with ``spawner.notebook_dir`` pointing at a temporary copy of ``notebooks/`` plus
a minimal Voilà page, then drives the system Chromium as ``alice`` (her server running,
both pages open, each in a browser context of its own: a second tab of one window has
its animation frames throttled to ~1/s whenever the other tab is brought to front):

* **dashboard** — the reflectometry dashboard with its model curve drawn. The control is
  the "fit" checkbox of ``film1.roughness`` in the model table: ticking it shows the
  parameter's min/max boxes, unticking hides them. Both go through the kernel (the
  widget sets the parameter free or fixed, the panels that follow the model update, the
  editor's ``range_box.layout.display`` changes and comes back to the page). The first
  tick also makes the min/max fields (the editor makes them on first use); it is
  counted, and printed apart.
* **minimal** — the baseline, the same kind of click without shiftdesk: one ipywidgets
  ``Checkbox`` whose observer toggles a ``VBox``'s ``layout.display`` (the VBox holds
  the same two ``FloatText`` as the parameter editor), served by the same user server.

Timing, per click: a capture-phase ``click`` listener and a ``MutationObserver`` armed
in the page just before Playwright clicks; the click time is ``performance.now()`` when
the click event reaches the window, "visible" is the first ``requestAnimationFrame``
after the target element's visibility flipped, plus a ``setTimeout(0)`` (i.e. after the
frame with the change is painted). The Python-side time (``perf_counter`` before
``locator.click()`` until Playwright sees the page's flag) is printed too: it adds
Playwright's own round trips. So is the number of websocket frames (kernel messages)
the page received per click.

Phases: once the run's processes are quiet (CPU of every process the hub started below
0.3 core, at most ``SETTLE_MAX_S``), ``CLICKS`` clicks on each page, in alternating blocks
of ``BLOCK``; then a DREAM fit (``samples`` = ``FIT_SAMPLES``, far more than the bench
needs) is started from the dashboard's fit panel as a local job, and, once its status says
running, the same clicks again; the bench checks the fit is still running afterwards,
stops it with the panel's Stop button and stops the hub.

Prints p50/p95/max of each and ``RATIO click_to_visible_p50_ms`` (target ≤ 150),
``RATIO click_to_visible_during_fit_p50_ms`` (target ≤ 150) and ``RATIO
click_vs_minimal_page`` (dashboard idle p50 ÷ minimal page idle p50).
Run: ``.venv/bin/python bench/bench_click.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    hub_state_folder,
    isolate,
    machine,
    median,
    percentile,
    ratio_line,
    running_hub,
)

isolate()

from shiftdesk.hub import load_settings, write_demo_settings  # noqa: E402
from shiftdesk.hub.config import free_port  # noqa: E402
from shiftdesk.hub.run import marked_processes  # noqa: E402
from shiftdesk.hub.settings import NOTEBOOKS  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER = "alice"
CLICKS = 20  # per page and phase
BLOCK = 5  # clicks on one page before switching to the other
PAUSE_S = 0.4  # between clicks: lets the previous click's kernel work finish
SETTLE_MAX_S = 40.0
FIT_SAMPLES = 500_000  # DREAM draws: far more than the bench lasts (stopped at the end)
MINIMAL = "bench_click_minimal.ipynb"
#: the model curve's colour in ReflectivityPlot (#d62728), as the browser tests use
MODEL_LINE = ".sd-refl-plot g.curve > path.line[style*='rgb(214, 39, 40)']"
CURVE_DRAWN = (
    f"() => (document.querySelector({MODEL_LINE!r})?.getAttribute('d') || '')"
    ".split('L').length > 100"
)

MINIMAL_SOURCE = """\
import ipywidgets as w

# the parameter editor's range boxes, shown while "fit" is ticked, without shiftdesk
box = w.VBox(
    [w.FloatText(description="min"), w.FloatText(description="max")],
    layout=w.Layout(display="none"),
)
box.add_class("bench-target")
check = w.Checkbox(description="fit", indent=False)
check.add_class("bench-toggle")


def toggle(change):
    box.layout.display = "" if change["new"] else "none"


check.observe(toggle, "value")
w.VBox([check, box])
"""

#: Installs ``window.__sdArm(target)``: records the next click's time and the time the
#: first element matching ``target`` changes visibility (DOM) and is painted (next frame).
ARM_JS = """() => {
    if (window.__sdArm) return;
    const shown = (el) => el !== null && el.getClientRects().length > 0;
    window.__sdArm = (target) => {
        const was = shown(document.querySelector(target));
        const rec = {was: was, click: null, dom: null, paint: null};
        window.__sdRec = rec;
        window.addEventListener('click', () => { rec.click = performance.now(); },
                                {capture: true, once: true});
        const observer = new MutationObserver(() => {
            if (rec.dom !== null || shown(document.querySelector(target)) === was) return;
            rec.dom = performance.now();
            observer.disconnect();
            requestAnimationFrame(() => setTimeout(() => { rec.paint = performance.now(); }, 0));
        });
        observer.observe(document.body, {subtree: true, attributes: true, childList: true});
        return was;
    };
}"""


@dataclass
class Control:
    """A page and the checkbox (``click``) on it whose click shows or hides ``target``."""

    name: str
    page: Any
    received: list[int]  # sizes of the websocket frames the page received (see log_frames)
    click: str
    target: str
    page_ms: list[float] = field(default_factory=list)  # click event → painted, in page
    dom_ms: list[float] = field(default_factory=list)  # click event → DOM changed, in page
    python_ms: list[float] = field(default_factory=list)  # before click() → flag seen
    frames: list[int] = field(default_factory=list)  # websocket frames received per click
    kbytes: list[float] = field(default_factory=list)  # and their kB

    def measure(self) -> None:
        """One click, timed in the page and from Python."""
        page = self.page
        page.evaluate(ARM_JS)
        page.evaluate("(t) => window.__sdArm(t)", self.target)
        n0 = len(self.received)
        t0 = time.perf_counter()
        page.locator(self.click).first.click(timeout=15_000)
        page.wait_for_function("() => window.__sdRec.paint !== null", polling="raf", timeout=20_000)
        t1 = time.perf_counter()
        rec = page.evaluate("() => window.__sdRec")
        if rec["click"] is None:
            raise RuntimeError(f"{self.name}: the click event was not seen in the page")
        self.page_ms.append(rec["paint"] - rec["click"])
        self.dom_ms.append(rec["dom"] - rec["click"])
        self.python_ms.append((t1 - t0) * 1e3)
        # (Playwright hands the page's events over before evaluate()'s answer)
        sizes = self.received[n0:]
        self.frames.append(len(sizes))
        self.kbytes.append(sum(sizes) / 1e3)


def log_frames(page: Any) -> list[int]:
    """The sizes of the websocket frames ``page`` receives from now on (kernel messages)."""
    sizes: list[int] = []

    def on_socket(socket: Any) -> None:
        socket.on("framereceived", lambda payload: sizes.append(len(payload)))

    page.on("websocket", on_socket)
    return sizes


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def settle(run_id: str, limit: float = 0.3, window: float = 2.0) -> tuple[float, float]:
    """Wait until the hub run's processes use less than ``limit`` cores over ``window`` s.

    The user server starts a spare fit worker and refills its warm kernel after a page
    opens; clicks measured while those import refl1d would measure them. Returns
    ``(seconds waited, last rate)``; gives up after ``SETTLE_MAX_S``.
    """
    t0 = time.monotonic()
    rate = float("nan")
    while time.monotonic() - t0 < SETTLE_MAX_S:
        pids = marked_processes(run_id)
        before = cpu_seconds(pids)
        time.sleep(window)
        rate = (cpu_seconds(pids) - before) / window
        if rate < limit:
            break
    return time.monotonic() - t0, rate


def frame_rate(page: Any) -> int:
    """Animation frames the page draws in one second (60 unless it is throttled)."""
    return int(
        page.evaluate(
            """() => new Promise((done) => {
                let n = 0;
                const t0 = performance.now();
                const step = () => {
                    n += 1;
                    if (performance.now() - t0 < 1000) requestAnimationFrame(step);
                    else done(n);
                };
                requestAnimationFrame(step);
            })"""
        )
    )


def phase(controls: list[Control], run_id: str) -> float:
    """``CLICKS`` clicks on every control, in alternating blocks of ``BLOCK``.

    Returns the cores the hub run's processes (servers, kernels, fit worker) used meanwhile.
    """
    pids = marked_processes(run_id)
    cpu, t0 = cpu_seconds(pids), time.perf_counter()
    for _ in range(CLICKS // BLOCK):
        for control in controls:
            control.page.bring_to_front()
            for _ in range(BLOCK):
                control.measure()
                time.sleep(PAUSE_S)
    return (cpu_seconds(pids) - cpu) / (time.perf_counter() - t0)


def summary(label: str, values: list[float]) -> str:
    """``label: p50 / p95 / max`` in ms."""
    return (
        f"  {label:<34} p50 {median(values):6.0f}  p95 {percentile(values, 0.95):6.0f}"
        f"  max {max(values):6.0f} ms"
    )


def report(title: str, controls: list[Control]) -> None:
    """The figures of one phase."""
    print(title)
    for c in controls:
        print(f" {c.name} ({len(c.page_ms)} clicks)")
        print(summary("click → painted (in page)", c.page_ms))
        print(summary("click → DOM changed (in page)", c.dom_ms))
        print(summary("before click() → seen (Python)", c.python_ms))
        print(
            f"  websocket frames received per click: p50 {median(c.frames):.0f} "
            f"({median(c.kbytes):.1f} kB), max {max(c.frames)} ({max(c.kbytes):.1f} kB)"
        )


def open_dashboard(browser: Any, base: str) -> tuple[Any, list[int]]:
    """Log in as ``USER`` and open the dashboard from the start page (spawns the server).

    Returns the page and its websocket frame log (:func:`log_frames`).
    """
    context = browser.new_context(viewport={"width": 1600, "height": 1200})
    page = context.new_page()
    frames = log_frames(page)
    page.goto(f"{base}/hub/login", timeout=60_000)
    page.fill("#username_input", USER)
    page.fill("#password_input", f"{USER}-demo")
    page.click("#login_submit")
    page.wait_for_selector(".sd-dashboards", timeout=120_000)
    # (a /user/ URL of a server that is not running only offers a button to start it)
    page.click(".sd-dashboard[data-dashboard='reflectometry'] a")
    page.wait_for_selector(".sd-reflectometry-dashboard", timeout=180_000)
    page.wait_for_function(CURVE_DRAWN, timeout=120_000)
    return page, frames


def fit_status(page: Any) -> str:
    """The fit panel's status line."""
    return str(page.locator(".sd-fit-status").inner_text(timeout=10_000)).strip()


def start_fit(page: Any) -> None:
    """Start a long DREAM fit from the fit panel; return once its status says running."""
    page.locator(".sd-method select").select_option(label="DREAM (Bayesian uncertainty)")
    samples = page.locator(
        ".sd-fit-panel .widget-inline-hbox:has(> label:text-is('samples')) input"
    )
    samples.wait_for(timeout=30_000)
    samples.fill(str(FIT_SAMPLES))
    samples.press("Enter")
    samples.press("Tab")
    time.sleep(1.0)  # the value reaches the kernel (one round trip)
    page.locator(".sd-fit-panel button.sd-fit").click()
    page.locator(".sd-messages").get_by_text("fit started").wait_for(timeout=30_000)
    page.wait_for_function(
        "() => (document.querySelector('.sd-fit-status')?.textContent || '').startsWith('running')",
        timeout=90_000,
    )


def write_settings(state: Path, *, accounts: bool | None = None) -> Path:
    """The demo settings, serving a copy of ``notebooks/`` plus the minimal page."""
    notebooks = state / "notebooks"
    shutil.copytree(NOTEBOOKS, notebooks)
    cell = {
        "cell_type": "code",
        "execution_count": None,
        "id": "bench0",
        "metadata": {},
        "outputs": [],
        "source": MINIMAL_SOURCE.splitlines(keepends=True),
    }
    kernelspec = {"display_name": "Python 3", "language": "python", "name": "python3"}
    notebook = {
        "cells": [cell],
        "metadata": {"kernelspec": kernelspec},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (notebooks / MINIMAL).write_text(json.dumps(notebook, indent=1))
    path = write_demo_settings(free_port(), state, accounts=accounts)
    with open(path, "a", encoding="utf-8") as out:
        out.write(f"\n[spawner]\nnotebook_dir = {json.dumps(str(notebooks))}\n")
    return path


@dataclass
class Results:
    """What one run measured (click times in ms, in page: click → painted)."""

    idle: list[Control]
    during_fit: list[Control]
    fit_before: str
    fit_after: str
    fit_clicks_s: float


def measure(browser: Any, base: str, run_id: str) -> Results:
    """Open both pages, click idle, start a fit, click again, stop the fit."""
    t0 = time.perf_counter()
    dash, dash_frames = open_dashboard(browser, base)
    opened = time.perf_counter() - t0
    # a context (window) of its own: a second tab in the dashboard's window has its
    # frames throttled like a hidden tab whenever the other one is brought to front
    mini = browser.new_context(
        viewport={"width": 1600, "height": 1200}, storage_state=dash.context.storage_state()
    ).new_page()
    mini_frames = log_frames(mini)
    mini.goto(f"{base}/user/{USER}/voila/render/{MINIMAL}", timeout=180_000)
    mini.wait_for_selector(".bench-toggle input", timeout=180_000)
    waited, rate = settle(run_id)
    print(
        f"login → server spawned → dashboard drawn: {opened:.1f} s; waited {waited:.0f} s "
        f"for the run's processes to go quiet ({rate:.2f} core); "
        f"frames/s: dashboard {frame_rate(dash)}, minimal {frame_rate(mini)}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )

    def controls() -> list[Control]:
        return [
            Control(
                "dashboard: film1.roughness 'fit' → min/max boxes",
                dash,
                dash_frames,
                ".sd-param-film1-roughness input[type=checkbox]",
                ".sd-param-film1-roughness .widget-vbox",
            ),
            Control(
                "minimal page: Checkbox → VBox display",
                mini,
                mini_frames,
                ".bench-toggle input[type=checkbox]",
                ".bench-target",
            ),
        ]

    idle = controls()
    cores = phase(idle, run_id)
    report("idle:", idle)
    # the editor makes its min/max fields at the first tick; later ticks show or hide them
    print(f" dashboard, first tick (fields made): {idle[0].page_ms[0]:.0f} ms")
    print(
        f"the hub run's processes used {cores:.2f} core meanwhile; "
        f"load average after the idle phase: {os.getloadavg()[0]:.1f}"
    )

    start_fit(dash)
    before = fit_status(dash)
    t0 = time.perf_counter()
    during = controls()
    cores = phase(during, run_id)
    after = fit_status(dash)
    elapsed = time.perf_counter() - t0
    report("while a DREAM fit runs (local job):", during)
    print(
        f"the hub run's processes used {cores:.2f} core meanwhile (the fit worker included); "
        f"load average after the fit phase: {os.getloadavg()[0]:.1f}; "
        f"frames/s: dashboard {frame_rate(dash)}, minimal {frame_rate(mini)}"
    )
    dash.locator(".sd-fit-panel button.sd-stop").click()
    dash.wait_for_function(
        "() => (document.querySelector('.sd-fit-status')?.textContent || '')"
        ".startsWith('cancelled')",
        timeout=60_000,
    )
    return Results(idle, during, before, after, elapsed)


def run(accounts: bool) -> Results:
    """One whole measurement on a demo hub with or without per-user accounts."""
    from playwright.sync_api import sync_playwright

    state = hub_state_folder("bench-click")
    settings = load_settings(write_settings(state, accounts=accounts))
    t0 = time.perf_counter()
    with running_hub(settings, state) as hub, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            found = measure(browser, hub.url.rstrip("/"), hub.run_id)
        finally:
            browser.close()
    print(f"whole run {time.perf_counter() - t0:.0f} s; leftover processes at stop: {hub.left}")
    return found


def main() -> int:
    print(machine())
    # with per-user accounts (the gate, PostgreSQL) and, side by side, the shared path
    modes = [True, False] if os.geteuid() == 0 else [False]
    results = {}
    for accounts in modes:
        label = "per-user accounts" if accounts else "shared account"
        print(f"\n=== {label} ===")
        results[accounts] = run(accounts)
    found = results[modes[0]]
    running = found.fit_after.startswith("running")
    print(
        f"fit status when the clicks started: {found.fit_before!r}; after "
        f"{found.fit_clicks_s:.0f} s of clicks: {found.fit_after!r} "
        f"({'still running' if running else 'NOT running any more'}); then stopped with Stop"
    )
    if not running:
        raise RuntimeError("the fit did not run for the whole phase: no figure during a fit")
    dashboard, minimal = (c.page_ms for c in found.idle)
    print(ratio_line("click_to_visible_p50_ms", median(dashboard), 150))
    print(
        ratio_line("click_to_visible_during_fit_p50_ms", median(found.during_fit[0].page_ms), 150)
    )
    # what the dashboard adds to the same kind of widget round trip
    print(ratio_line("click_vs_minimal_page", median(dashboard) / median(minimal), 1.5))
    if len(results) == 2:
        shared = median(results[False].idle[0].page_ms)
        print(ratio_line("click_accounts_vs_shared", median(dashboard) / shared, 1.2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
