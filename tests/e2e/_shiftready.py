"""What a shift crew would trip over on a dashboard page, measured in a real browser.

:func:`watch` records, from the moment a page opens, its console errors and warnings, its
uncaught errors and every request to a host other than the page's own (facility networks
are often offline: a page must not need the internet). :func:`clipped` lists the texts cut
short by their box (labels, values, buttons, tab titles: ``scrollWidth > clientWidth``).
:func:`connection_banner` reads the banner the shiftdesk Voilà template shows when the
page has lost its kernel.

Run as a program it opens a dashboard in standalone Voilà at one or more widths, prints
what it found and saves a screenshot per width::

    .venv/bin/python -m tests.e2e._shiftready notebooks/daq.ipynb --width 1280 1600 --out /tmp/shots
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Widths a dashboard must work at (a laptop, the control room's screens)
WIDTHS = (1280, 1600, 1920)

#: Visible text boxes whose content is wider than the box (each: its text and a selector path)
CLIPPED = """() => {
    const selectors = [
        '.widget-label', '.widget-readout', '.widget-button', '.jupyter-button',
        '.lm-TabBar-tabLabel', '.widget-toggle-button', '.widget-inline-hbox > label',
        '.widget-text input', '.widget-textarea textarea', '.widget-dropdown select',
        '.widget-checkbox label', '.jupyter-widgets.widget-html .widget-html-content > span',
        '[data-sd-value]',
    ];
    const seen = new Set();
    const out = [];
    for (const el of document.querySelectorAll(selectors.join(','))) {
        if (seen.has(el)) continue;
        seen.add(el);
        const style = getComputedStyle(el);
        if (el.offsetParent === null || style.visibility === 'hidden') continue;
        if (el.clientWidth === 0) continue;
        let over = el.scrollWidth > el.clientWidth + 1;
        if (el.tagName === 'SELECT') {
            // a closed select shows its chosen option's text in the box
            const opt = el.options[el.selectedIndex];
            if (!opt) continue;
            const probe = document.createElement('span');
            probe.style.cssText = 'position:absolute;visibility:hidden;white-space:pre;font:'
                + style.font;
            probe.textContent = opt.text;
            document.body.appendChild(probe);
            // the arrow and padding take about 24 px of a select's width
            over = probe.getBoundingClientRect().width > el.clientWidth - 24;
            probe.remove();
        }
        if (!over) continue;
        const text = (el.value !== undefined && el.tagName !== 'BUTTON' && el.tagName !== 'SELECT')
            ? el.value : (el.tagName === 'SELECT' ? el.options[el.selectedIndex].text
                                                  : el.textContent);
        const path = [];
        for (let p = el; p && p !== document.body && path.length < 4; p = p.parentElement) {
            const sd = [...p.classList].filter(c => c.startsWith('sd-'));
            path.unshift(p.tagName.toLowerCase() + (sd.length ? '.' + sd.join('.') : ''));
        }
        out.push({text: (text || '').trim().slice(0, 80), where: path.join(' > '),
                  box: el.clientWidth, content: el.scrollWidth});
    }
    return out;
}"""

#: The connection banner's state: null when none is shown
BANNER = """() => {
    const el = document.getElementById('sd-connection');
    if (!el || el.hidden || getComputedStyle(el).display === 'none') return null;
    return {state: el.dataset.state, text: el.textContent.replace(/\\s+/g, ' ').trim()};
}"""


@dataclass
class PageWatch:
    """What a page said and asked for while it was watched."""

    origin: str
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Every console error/warning, uncaught error, foreign request and error answer,
        one line each."""
        return [
            *(f"console: {c}" for c in self.console),
            *(f"page error: {e}" for e in self.errors),
            *(f"request to another host: {u}" for u in self.foreign),
            *(f"answered with an error: {r}" for r in self.failed),
        ]


def watch(page: Any, url: str) -> PageWatch:
    """Start recording ``page``'s console, errors and foreign requests (call before goto)."""
    parts = urlsplit(url)
    seen = PageWatch(origin=f"{parts.scheme}://{parts.netloc}")

    def on_console(msg: Any) -> None:
        if msg.type in ("error", "warning"):
            seen.console.append(f"[{msg.type}] {msg.text}")

    def on_request(request: Any) -> None:
        target = urlsplit(request.url)
        if target.scheme in ("data", "blob", "about"):
            return
        if f"{target.scheme}://{target.netloc}" != seen.origin:
            seen.foreign.append(request.url)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            seen.failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("response", on_response)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
    page.on("request", on_request)
    return seen


def clipped(page: Any) -> list[dict[str, Any]]:
    """The visible labels, values and captions cut short by their box."""
    return list(page.evaluate(CLIPPED))


def connection_banner(page: Any) -> dict[str, str] | None:
    """The connection banner's ``state`` and text, or None when the page shows none."""
    return page.evaluate(BANNER)  # type: ignore[no-any-return]


def wait_banner(page: Any, timeout: float) -> dict[str, str] | None:
    """The connection banner as soon as it shows (None if it did not within ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        banner = connection_banner(page)
        if banner is not None:
            return banner
        page.wait_for_timeout(100)
    return None


def report(label: str, seen: PageWatch, cut: list[dict[str, Any]]) -> str:
    """A readable summary of one page at one width."""
    lines = [f"== {label}"]
    lines += [f"  {p}" for p in seen.problems()] or ["  console/requests: clean"]
    lines += [f"  clipped: {c['text']!r} ({c['content']} px in {c['box']} px) at {c['where']}"
              for c in cut] or ["  clipped: none"]  # fmt: skip
    return "\n".join(lines)


@contextlib.contextmanager
def _served(notebook: Path, data: Path, log: Path) -> Iterator[str]:
    from tests.e2e._browser import voila

    with voila(notebook, data, log) as url:
        yield url


def main(argv: list[str] | None = None) -> int:
    """Open a dashboard at the given widths; print what it found, save screenshots."""
    from tests.e2e._browser import ROOT, chromium

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--width", type=int, nargs="+", default=list(WIDTHS))
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "shiftready")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after the page shows")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    notebook = args.notebook if args.notebook.is_absolute() else (ROOT / args.notebook).resolve()
    with (
        tempfile.TemporaryDirectory() as data,
        _served(notebook, Path(data), args.out / "voila.log") as url,
        chromium() as browser,
    ):
        for width in args.width:
            page = browser.new_page(viewport={"width": width, "height": args.height})
            seen = watch(page, url)
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".jupyter-widgets", timeout=120_000)
            page.wait_for_timeout(args.settle * 1000)
            shot = args.out / f"{notebook.stem}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(report(f"{notebook.name} at {width} px ({shot})", seen, clipped(page)))
            page.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
