"""Warm kernels for Voilà pages in a user server: started and loaded before they are asked for.

Opening a dashboard in Voilà starts a fresh kernel, imports the dashboard's libraries
and only then runs the notebook, and the page shows nothing until that is done. Voilà's
own pre-heated kernels exist only in standalone ``voila``, not in the server extension
a JupyterHub user server uses. :class:`WarmKernelManager` is a drop-in kernel manager
for that server (``--ServerApp.kernel_manager_class``) that keeps ``SHIFTDESK_WARM_KERNELS``
kernels (default 1)
started with ``warm_code`` already run, and hands one to the next Voilà render.

Only Voilà renders (the kernel environment carries ``VOILA_REQUEST_URL``) of notebooks
whose working folder is the pool's are served from the pool; JupyterLab and other
kernels start as usual. A pooled kernel is never culled while it waits, and the pool is
refilled ``refill_delay`` seconds after a kernel is handed out, so the refill does not
compete for the CPU with the page being opened.

This module runs inside the user server only; it imports jupyter_server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any, cast

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import ensure_async
from tornado.ioloop import IOLoop

#: What a warm kernel runs before it is handed out: the SSH backends' session key and
#: spare worker get ready in the background (``shiftdesk.jobs.ssh_warm``), then the
#: dashboards' modules load (``shiftdesk_widgets.preload``).
DEFAULT_WARM_CODE = (
    "import shiftdesk.jobs.ssh_warm\nshiftdesk.jobs.ssh_warm.warm_backends()\n"
    "import shiftdesk_widgets\nshiftdesk_widgets.preload(wait=True)\n"
)


def _env_number(name: str, default: Any, kind: type) -> Any:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{name}={text!r} must not be negative")
    return value


def _utcnow() -> Any:
    from jupyter_server._tz import utcnow

    return utcnow()


class WarmKernelManager(AsyncMappingKernelManager):
    """A mapping kernel manager with a pool of warm kernels for Voilà renders."""

    #: Warm kernels kept ready (0: no pool); ``SHIFTDESK_WARM_KERNELS`` overrides it.
    pool_size: int = 1
    #: Code a pooled kernel runs before it is handed out.
    warm_code: str = DEFAULT_WARM_CODE
    #: Seconds the warm code may take.
    warm_timeout: float = 120.0
    #: Seconds after a hand-out before a new warm kernel starts
    #: (``SHIFTDESK_WARM_REFILL_DELAY``).
    refill_delay: float = 10.0
    #: API path of the pooled kernels' folder (the server's root).
    pool_path: str = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # plain settings from the spawner's environment (the core keeps out of traitlets)
        self.pool_size = _env_number("SHIFTDESK_WARM_KERNELS", self.pool_size, int)
        self.refill_delay = _env_number("SHIFTDESK_WARM_REFILL_DELAY", self.refill_delay, float)
        self._pool: list[asyncio.Task[str]] = []
        self._pooled: set[str] = set()  # kernel ids waiting in the pool
        self._refill: asyncio.TimerHandle | None = None
        self._stopping = False
        if self.pool_size > 0:
            # the server builds its managers before its loop runs; fill once it does
            IOLoop.current().add_callback(self._fill)

    # -- the pool ----------------------------------------------------------------------
    def _fill(self) -> None:
        self._refill = None
        if self._stopping:
            return
        for _ in range(self.pool_size - len(self._pool)):
            self._pool.append(asyncio.ensure_future(self._start_warm()))

    async def _start_warm(self) -> str:
        kernel_id: str = await super().start_kernel(path=cast(Any, self.pool_path))
        self._pooled.add(kernel_id)
        try:
            await self._run_warm_code(kernel_id)
        except Exception as exc:
            # a kernel whose warm-up failed is still a good fresh kernel: use it anyway
            self.log.warning("warm kernel %s: warm-up failed: %s", kernel_id, exc)
        else:
            self.log.info("warm kernel %s is ready", kernel_id)
        return kernel_id

    async def _run_warm_code(self, kernel_id: str) -> None:
        client: Any = self.get_kernel(kernel_id).client()  # an AsyncKernelClient
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=self.warm_timeout)
            msg_id = client.execute(self.warm_code, silent=True, store_history=False)
            deadline = asyncio.get_running_loop().time() + self.warm_timeout
            while True:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise TimeoutError(f"the warm code took over {self.warm_timeout:g} s")
                reply = await client.get_shell_msg(timeout=left)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            content = reply["content"]
            if content.get("status") != "ok":
                raise RuntimeError(f"{content.get('ename')}: {content.get('evalue')}")
        finally:
            client.stop_channels()

    def _poolable(self, path: str | None, kwargs: dict[str, Any]) -> bool:
        env = kwargs.get("env") or {}
        if "VOILA_REQUEST_URL" not in env or not self._pool:
            return False
        name = kwargs.get("kernel_name")
        if name not in (None, self.default_kernel_name):
            return False
        here = self.cwd_for_path(path or "")
        return os.path.realpath(here) == os.path.realpath(self.cwd_for_path(self.pool_path))

    async def _take(self) -> str | None:
        task = self._pool.pop(0)
        if self._refill is None and not self._stopping:
            self._refill = asyncio.get_running_loop().call_later(self.refill_delay, self._fill)
        try:
            kernel_id = await task
        except Exception as exc:
            self.log.warning("warm kernel could not start (%s); starting a fresh one", exc)
            return None
        self._pooled.discard(kernel_id)
        if kernel_id not in self:
            return None  # it died while waiting
        kernel: Any = self.get_kernel(kernel_id)
        kernel.last_activity = _utcnow()  # its idle time starts now, not at warm-up
        self.log.info("using warm kernel %s", kernel_id)
        return kernel_id

    # -- the manager's API ------------------------------------------------------------
    async def start_kernel(  # type: ignore[override]
        self, *, kernel_id: str | None = None, path: str | None = None, **kwargs: Any
    ) -> str:
        """Start a kernel, or hand out a warm one for a Voilà render."""
        if kernel_id is None and self._poolable(path, kwargs):
            warm = await self._take()
            if warm is not None:
                return warm
        started: str = await super().start_kernel(
            kernel_id=kernel_id, path=cast(Any, path), **kwargs
        )
        return started

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        """Cull idle kernels, except those waiting in the pool."""
        if kernel_id in self._pooled:
            return
        await super().cull_kernel_if_idle(kernel_id)

    async def shutdown_all(self, now: bool = False) -> None:  # type: ignore[override]
        """Stop the pool, then every kernel."""
        self._stopping = True
        if self._refill is not None:
            self._refill.cancel()
        for task in self._pool:
            with contextlib.suppress(Exception):
                await task  # started kernels are then shut down below
        self._pool.clear()
        await ensure_async(super().shutdown_all(now=now))

    def list_pool(self) -> list[str]:
        """Ids of the warm kernels ready to be handed out."""
        return [t.result() for t in self._pool if t.done() and not t.exception()]
