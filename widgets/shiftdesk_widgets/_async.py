"""Polling on the kernel's event loop, so callbacks return at once and never block.

Widget traits are only set from the kernel's own loop (never from threads); when no
loop runs (plain pytest), the caller polls by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Ticker:
    """Call ``tick()`` every ``interval`` seconds until it returns False.

    Parameters
    ----------
    tick : callable
        Returns True to keep polling.
    interval : float
        Seconds between ticks.
    """

    def __init__(self, tick: Callable[[], bool], interval: float = 0.3) -> None:
        self.tick = tick
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> bool:
        """Start on the running loop; returns False when there is none (poll by hand)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self.stop()
        self._task = loop.create_task(self._run())
        return True

    async def _run(self) -> None:
        while self.tick():
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        """Stop polling."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    @property
    def running(self) -> bool:
        """True while a polling task is alive."""
        return self._task is not None and not self._task.done()


def tick_until(
    tick: Callable[[], object],
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float,
    what: Callable[[], str],
) -> None:
    """Call ``tick()`` until ``condition()`` holds (scripts and tests; a browser needs none).

    Raises
    ------
    TimeoutError
        Not reached in ``timeout`` seconds; the message ends with ``what()``.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        tick()
        if condition():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what()} did not reach the expected state in {timeout:g} s")
        time.sleep(interval)
