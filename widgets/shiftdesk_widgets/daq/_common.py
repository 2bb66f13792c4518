"""Small pieces the DAQ views share: background calls, messages, badges, CSS names."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

#: Message colours by kind.
COLORS = {"info": "#1b5e20", "warning": "#a15c00", "error": "#b00020"}
#: A spinner for "a transition is running" (Font Awesome ships with Jupyter and Voilà); the
#: text next to it says the same for readers without icons.
SPINNER = "<i class='fa fa-spinner fa-spin sd-daq-spinner' aria-hidden='true'></i> "


def css_name(name: str) -> str:
    """``name`` made safe for a CSS class (``ECC_0`` stays ``ECC_0``)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)


def classed(widget: w.DOMWidget, *classes: str) -> Any:
    """Add CSS classes to ``widget`` and return it (for building layouts inline)."""
    for css in classes:
        widget.add_class(css)
    return widget


def badge(text: str) -> str:
    """The status word as a coloured span: Offline red, Stale/Unknown/Unsorted amber."""
    css, color = "sd-daq-ok", "#1b5e20"
    if text.startswith("Offline"):
        css, color = "sd-daq-offline", "#b00020"
    elif text.startswith(("Stale", "Unknown", "Unsorted", "Inconsistent", "No servers")):
        css, color = "sd-daq-warn", "#a15c00"
    return (
        f"<span class='sd-daq-badge {css}' style='color:{color};font-weight:600'>"
        f"{html.escape(text)}</span>"
    )


def message_html(kind: str, text: str) -> str:
    """One message line (``kind`` is info, warning or error)."""
    color = COLORS.get(kind, "#333")
    return (
        f"<div class='sd-message sd-message-{kind}' style='color:{color}'>{html.escape(text)}</div>"
    )


def error_text(exc: BaseException) -> str:
    """What a user reads for a refused or failed call: the error's own message."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])  # str(KeyError) adds quotes around the message
    return str(exc) or type(exc).__name__


@dataclass
class _Pending:
    label: str
    future: Future[Any]
    on_ok: Callable[[Any], None] | None


class Background:
    """Runs core calls off the kernel thread, one at a time, in the order asked.

    A DAQ command first reads every server (a short GetState); a server that hangs would
    otherwise freeze the notebook for that long. Outcomes are collected by the view's poll
    tick on the kernel's own thread (:meth:`collect`), so no widget is written from a
    thread.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sd-daq-ui")
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()

    def submit(
        self,
        label: str,
        call: Callable[[], Any],
        on_ok: Callable[[Any], None] | None = None,
    ) -> Future[Any]:
        """Run ``call`` in the background; ``on_ok(result)`` runs at the next collect."""
        future = self._pool.submit(call)
        with self._lock:
            self._pending.append(_Pending(label, future, on_ok))
        return future

    @property
    def busy(self) -> bool:
        """Calls not collected yet."""
        with self._lock:
            return bool(self._pending)

    def collect(self) -> list[tuple[str, Any, Callable[[Any], None] | None]]:
        """Finished calls as ``(label, result or exception, on_ok)``, in submission order."""
        done: list[tuple[str, Any, Callable[[Any], None] | None]] = []
        with self._lock:
            while self._pending and self._pending[0].future.done():
                item = self._pending.pop(0)
                exc = item.future.exception()
                done.append(
                    (item.label, exc if exc is not None else item.future.result(), item.on_ok)
                )
        return done

    def wait(self, timeout: float = 30.0) -> None:
        """Block until every submitted call has finished (scripts and tests)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            futures = [p.future for p in self._pending]
        for future in futures:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"DAQ dashboard calls still running after {timeout:g} s")
            try:
                future.result(remaining)
            except TimeoutError:
                raise
            except Exception:  # reported by collect()
                pass

    def close(self) -> None:
        """Stop taking calls (a running one finishes on its own)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
