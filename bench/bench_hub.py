"""The hub deployment in Chromium: spawn time, and login → dashboard visible.

Starts the demo deployment (``shiftdesk.hub.Hub`` on a free loopback port, a temporary
state folder, the real configurable-http-proxy), then drives the system Chromium:

1. **spawn** — for ``SPAWN_USERS`` (each a first login): log in, click the
   Reflectometry link on the start page; the hub spawns the user's server, which then
   renders the dashboard. The spawn time is the hub's own figure ("User took N seconds
   to start" in its log); the first dashboard render on the cold server is printed too.
2. **login → dashboard** (the issue's figure, p50 ≤ 3 s) — ``RUNS`` times, with the
   user's server already running: a fresh browser context (no cookies), log in, open
   the dashboard, stop the clock when the dashboard box and the model curve of its
   bqplot figure are drawn (the model line holds a real path). Each run renders the
   notebook in a warm kernel of the server's pool (``shiftdesk.hub.warm_kernels``);
   the bench waits for the pool to refill between runs.
3. **the other dashboards' first screens** (the issue: each ≤ 3 s through the hub) — for
   the DAQ, run-table, catalog and data-session dashboards: one opening not counted (the
   demo data a first visit makes), then ``RUNS`` times as in 2 (fresh context, login,
   open, warm kernel), the clock stopping when the dashboard's first screen is drawn
   (``_common.FIRST_SCREEN``: the DAQ's run and server states, the run table's first
   row, the catalog's context cards, the data session's frame cards).
4. **culling** — an idle kernel started over alice's REST API, never connected: seconds
   until her server culls it (kernel idle timeout 20 s, checked every 5 s here).
5. **baseline** — the same dashboard from standalone ``voila`` (no hub, no login, no
   warm kernel), ``RUNS`` page loads, each in a fresh kernel.

Prints ``RATIO hub_login_to_dashboard_p50_s`` (target ≤ 3), ``RATIO hub_spawn_s`` (median
spawn, target ≤ 10) and ``RATIO hub_vs_standalone_voila`` (login → dashboard through the
hub ÷ page → dashboard standalone, p50; target ≤ 1.5: what the hub itself adds) and
``RATIO hub_kernel_cull_s_vs_bound`` (cull time ÷ (timeout + interval)), and
``RATIO hub_login_to_<dashboard>_p50_s`` for each other dashboard (target ≤ 3).
Run: ``.venv/bin/python bench/bench_hub.py``.
"""

from __future__ import annotations

import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    FIRST_SCREEN,
    ROOT,
    hub_state_folder,
    isolate,
    machine,
    ratio_line,
    start_voila,
)

isolate()

from shiftdesk.cli import _seed_demo_hub  # noqa: E402  (the demo data `hub --demo` seeds)
from shiftdesk.hub import Hub, load_settings, write_demo_settings  # noqa: E402
from shiftdesk.hub.config import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
SPAWN_USERS = ["alice", "bob"]
RUNS = 3
CULL_TIMEOUT = 20  # s, kernel idle timeout of the bench's hub
CULL_INTERVAL = 5  # s, how often the user server looks for idle kernels
DASHBOARD = "/user/{user}/voila/render/reflectometry.ipynb"
#: the other dashboards timed through the hub (first screen)
OTHERS = ("daq", "runtable", "catalog", "datalab")
DRAWN = ".sd-refl-plot path.line"
#: the model curve (ReflectivityPlot's #d62728) holds a real path: the figure is complete
MODEL_LINE = ".sd-refl-plot g.curve > path.line[style*='rgb(214, 39, 40)']"
MODEL_DRAWN = (
    f"() => (document.querySelector({MODEL_LINE!r})?.getAttribute('d') || '')"
    ".split('L').length > 100"
)


def login_to_dashboard(browser: object, base: str, user: str, click: bool) -> tuple[float, float]:
    """Seconds from pressing "Sign in" to the start page, and to the dashboard's figure drawn."""
    context = browser.new_context(viewport={"width": 1600, "height": 1200})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        page.goto(f"{base}/hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", f"{user}-demo")
        t0 = time.perf_counter()
        page.click("#login_submit")
        page.wait_for_selector(".sd-dashboards", timeout=60_000)
        home = time.perf_counter() - t0
        if click:
            page.click(".sd-dashboard[data-dashboard='reflectometry'] a")
        else:
            page.goto(base + DASHBOARD.format(user=user), timeout=180_000)
        page.wait_for_selector(".sd-reflectometry-dashboard", timeout=180_000)
        page.locator(DRAWN).first.wait_for(state="attached", timeout=60_000)
        page.wait_for_function(MODEL_DRAWN, timeout=60_000)
        return home, time.perf_counter() - t0
    finally:
        context.close()


def login_to_first_screen(browser: object, base: str, user: str, name: str) -> float:
    """Seconds from pressing "Sign in" to dashboard ``name``'s first screen drawn (NaN,
    and the page's text printed, when it is not drawn within 3 minutes)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": 1600, "height": 1200})  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        page.goto(f"{base}/hub/login")
        page.fill("#username_input", user)
        page.fill("#password_input", f"{user}-demo")
        t0 = time.perf_counter()
        page.click("#login_submit")
        page.wait_for_selector(".sd-dashboards", timeout=60_000)
        page.goto(f"{base}/user/{user}/voila/render/{name}.ipynb", timeout=180_000)
        try:
            page.wait_for_function(FIRST_SCREEN[name], timeout=180_000, polling=50)
        except PlaywrightTimeout:
            text = " ".join(page.inner_text("body").split())
            print(f"{name}: first screen not drawn within 180 s; the page says: {text[:600]}")
            return float("nan")
        return time.perf_counter() - t0
    finally:
        context.close()


def _p50(times: list[float]) -> float:
    """The median of the runs that drew (NaN when none did)."""
    drawn = [t for t in times if t == t]
    return statistics.median(drawn) if drawn else float("nan")


def standalone_voila(browser: object, runs: int) -> list[float]:
    """Baseline: the same dashboard from standalone ``voila`` (no hub, no login), seconds
    from navigation to the model curve drawn, each in a fresh kernel (no warm pool)."""
    notebook = ROOT / "notebooks" / "reflectometry.ipynb"
    proc, url = start_voila(notebook)
    times = []
    try:
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1600, "height": 1200})  # type: ignore[attr-defined]
            page = context.new_page()
            try:
                t0 = time.perf_counter()
                page.goto(url, timeout=180_000)
                page.wait_for_selector(".sd-reflectometry-dashboard", timeout=180_000)
                page.locator(DRAWN).first.wait_for(state="attached", timeout=60_000)
                page.wait_for_function(MODEL_DRAWN, timeout=60_000)
                times.append(time.perf_counter() - t0)
            finally:
                context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return times


def pools_full(log: Path, servers: int, timeout: float = 90.0) -> None:
    """Wait until every user server's warm kernel is ready again (as a user who comes
    back later finds it), from the counts in the hub's log."""
    deadline = time.monotonic() + timeout
    while True:
        text = log.read_text(errors="replace")
        ready = len(re.findall(r"warm kernel \S+ is ready", text))
        if ready - text.count("using warm kernel") >= servers:
            return
        if time.monotonic() > deadline:
            print(f"warning: warm kernels not all ready after {timeout:g} s")
            return
        time.sleep(0.5)


def _kernel_pids() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ipykernel_launcher" in cmd:
                pids.add(int(entry.name))
    return pids


def idle_kernel_culled(browser: object, base: str) -> float:
    """Seconds until an idle kernel (started over alice's REST API, never connected)
    is culled by her server; bound: timeout + interval."""
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        page.goto(f"{base}/hub/login")
        page.fill("#username_input", "alice")
        page.fill("#password_input", "alice-demo")
        page.click("#login_submit")
        page.wait_for_selector(".sd-dashboards", timeout=60_000)
        page.goto(f"{base}/user/alice/voila/tree", timeout=60_000)
        before = _kernel_pids()
        page.evaluate(
            """async () => {
              const xsrf = document.cookie.match(/_xsrf=([^;]+)/);
              const headers = {'Content-Type': 'application/json'};
              if (xsrf) headers['X-XSRFToken'] = decodeURIComponent(xsrf[1]);
              const r = await fetch('/user/alice/api/kernels', {method: 'POST', headers,
                                    body: JSON.stringify({name: 'python3'})});
              if (!r.ok) throw new Error('kernel start: ' + r.status);
            }"""
        )
        t0 = time.monotonic()
        new: set[int] = set()
        while not new and time.monotonic() - t0 < 30:
            new = _kernel_pids() - before
            time.sleep(0.2)
        if not new:
            raise RuntimeError("no kernel process appeared")
    finally:
        context.close()
    while new & _kernel_pids():
        if time.monotonic() - t0 > 4 * (CULL_TIMEOUT + CULL_INTERVAL):
            raise RuntimeError("the idle kernel was not culled")
        time.sleep(0.5)
    return time.monotonic() - t0


def main() -> int:
    from playwright.sync_api import sync_playwright

    state = hub_state_folder("bench-hub")
    path = write_demo_settings(free_port(), state)
    # short kernel culling, to measure it (pages hold their kernels: connected ones stay)
    text = path.read_text().replace(
        "kernel_idle_timeout = 900",
        f"kernel_idle_timeout = {CULL_TIMEOUT}\nkernel_interval = {CULL_INTERVAL}",
    )
    path.write_text(text)
    settings = load_settings(path)
    log_path = state / "hub.log"
    print(machine())
    with open(log_path, "w") as log:
        # the demo as `shiftdesk hub --demo` starts it: every domain's demo data seeded
        # before anyone logs in (the catalog's cannot be made from a user's kernel)
        hub = Hub(settings, log=log, prepare=_seed_demo_hub)
        t0 = time.perf_counter()
        hub.start()
        try:
            hub.wait_ready()
            started = time.perf_counter() - t0
            base = hub.url.rstrip("/")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    first = {u: login_to_dashboard(browser, base, u, True) for u in SPAWN_USERS}
                    warm = []
                    for _ in range(RUNS):
                        pools_full(log_path, len(SPAWN_USERS))
                        warm.append(login_to_dashboard(browser, base, "alice", False))
                    others: dict[str, list[float]] = {}
                    for name in OTHERS:
                        pools_full(log_path, len(SPAWN_USERS))
                        login_to_first_screen(browser, base, "alice", name)  # the demo data
                        others[name] = []
                        for _ in range(RUNS):
                            pools_full(log_path, len(SPAWN_USERS))
                            others[name].append(login_to_first_screen(browser, base, "alice", name))
                    culled = idle_kernel_culled(browser, base)
                finally:
                    browser.close()
        finally:
            left = hub.stop()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            alone = standalone_voila(browser, RUNS)
        finally:
            browser.close()
    text = log_path.read_text(errors="replace")
    spawns = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"User (\w+) took ([\d.]+) seconds to start", text)
    }
    print(f"hub start (proxy answering): {started:.1f} s; leftover processes at stop: {left}")
    print(f"{'user':<8} {'spawn (hub)':>12} {'first login → dashboard':>25}")
    for user in SPAWN_USERS:
        print(f"{user:<8} {spawns.get(user, float('nan')):>10.1f} s {first[user][1]:>23.1f} s")
    print("with the server running (s): login → start page | login → dashboard drawn")
    for home, total in warm:
        print(f"  {home:6.2f} | {total:6.2f}")
    p50 = statistics.median(total for _, total in warm)
    print(f"login → dashboard p50 {p50:.2f} s, max {max(t for _, t in warm):.2f} s")
    print(f"login → start page p50 {statistics.median(h for h, _ in warm):.2f} s")
    print("login → first screen of the other dashboards (s):")
    for name, times in others.items():
        print(
            f"  {name:<10} " + ", ".join(f"{t:5.2f}" for t in times) + f"   p50 {_p50(times):5.2f}"
        )
    alone_p50 = statistics.median(alone)
    print("standalone voila, page → dashboard drawn (s): " + ", ".join(f"{t:.2f}" for t in alone))
    print(f"hub ÷ standalone (p50): {p50 / alone_p50:.2f}")
    spawn = statistics.median(spawns[u] for u in SPAWN_USERS if u in spawns)
    bound = CULL_TIMEOUT + CULL_INTERVAL
    print(
        f"idle kernel culled after {culled:.1f} s (idle timeout {CULL_TIMEOUT} s, "
        f"checked every {CULL_INTERVAL} s: bound {bound} s)"
    )
    print(ratio_line("hub_login_to_dashboard_p50_s", p50, 3))
    print(ratio_line("hub_kernel_cull_s_vs_bound", culled / bound, 1))
    print(ratio_line("hub_spawn_s", spawn, 10))
    # the hub's own cost: login, OAuth and proxy on top of the same Voilà render
    print(ratio_line("hub_vs_standalone_voila", p50 / alone_p50, 1.5))
    for name, times in others.items():
        print(ratio_line(f"hub_login_to_{name}_p50_s", _p50(times), 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
