"""The user servers' warm kernel pool, with real kernels (the venv's ``python3`` kernel)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shiftdesk.hub.warm_kernels import WarmKernelManager

VOILA_ENV = {"VOILA_REQUEST_URL": "http://127.0.0.1/voila/render/x.ipynb"}


async def run_code(km: WarmKernelManager, kernel_id: str, code: str) -> str:
    """Run ``code`` in the kernel; its stdout (or the error name)."""
    client: Any = km.get_kernel(kernel_id).client()
    client.start_channels()
    out: list[str] = []
    try:
        await client.wait_for_ready(timeout=60)
        reply = await client.execute_interactive(
            code,
            timeout=60,
            output_hook=lambda msg: (
                out.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None
            ),
        )
        if reply["content"]["status"] != "ok":
            return reply["content"]["ename"]
    finally:
        client.stop_channels()
    return "".join(out).strip()


async def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {timeout:g} s")
        await asyncio.sleep(0.05)


def with_manager(
    tmp_path: Path, test: Callable[[WarmKernelManager], Awaitable[None]], **settings: Any
) -> None:
    """Run ``test`` with a manager rooted at ``tmp_path``; every kernel is stopped after."""

    async def main() -> None:
        km = WarmKernelManager(root_dir=str(tmp_path), connection_dir=str(tmp_path))
        for name, value in settings.items():
            setattr(km, name, value)  # before the loop runs the first fill
        try:
            await test(km)
        finally:
            await km.shutdown_all(now=True)
            assert km.list_kernel_ids() == []

    asyncio.run(main())


def test_a_voila_render_gets_the_warm_kernel_and_others_a_fresh_one(tmp_path: Path) -> None:
    async def test(km: WarmKernelManager) -> None:
        await wait_for(lambda: len(km.list_pool()) == 1)
        warm = km.list_pool()[0]
        lab = await km.start_kernel(path="", env={"JPY_SESSION_NAME": "x.ipynb"})
        assert lab != warm and km.list_pool() == [warm]  # JupyterLab: not from the pool
        assert await run_code(km, lab, "print(WARMED)") == "NameError"

        voila = await km.start_kernel(path="", env=dict(os.environ, **VOILA_ENV))
        assert voila == warm and km.list_pool() == []
        assert await run_code(km, voila, "print(WARMED)") == "42"
        # refilled after the delay, with a new kernel
        await wait_for(lambda: len(km.list_pool()) == 1)
        assert km.list_pool()[0] not in (warm, lab)

    with_manager(tmp_path, test, warm_code="WARMED = 42", refill_delay=0.2)


def test_renders_elsewhere_or_of_other_kernels_start_fresh(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()

    async def test(km: WarmKernelManager) -> None:
        await wait_for(lambda: len(km.list_pool()) == 1)
        warm = km.list_pool()[0]
        other_folder = await km.start_kernel(path="sub", env=dict(VOILA_ENV))
        assert other_folder != warm
        assert km.list_pool() == [warm]
        # another kernel (say R): never the pooled python one
        assert not km._poolable("", {"kernel_name": "ir", "env": dict(VOILA_ENV)})
        assert km._poolable("", {"kernel_name": km.default_kernel_name, "env": dict(VOILA_ENV)})

    with_manager(tmp_path, test, warm_code="pass")


def test_pooled_kernels_are_not_culled_but_handed_out_ones_are(tmp_path: Path) -> None:
    async def test(km: WarmKernelManager) -> None:
        km.cull_idle_timeout = 0  # everything idle counts as culled-worthy
        await wait_for(lambda: len(km.list_pool()) == 1)
        warm = km.list_pool()[0]
        await asyncio.sleep(0.1)
        await km.cull_kernel_if_idle(warm)
        assert warm in km.list_kernel_ids()
        used = await km.start_kernel(path="", env=dict(VOILA_ENV))
        await asyncio.sleep(0.1)
        await km.cull_kernel_if_idle(used)
        assert used not in km.list_kernel_ids()

    with_manager(tmp_path, test, warm_code="pass", refill_delay=60.0)


def test_failing_warm_code_still_gives_a_working_kernel(tmp_path: Path) -> None:
    async def test(km: WarmKernelManager) -> None:
        await wait_for(lambda: len(km.list_pool()) == 1)
        kernel = await km.start_kernel(path="", env=dict(VOILA_ENV))
        assert await run_code(km, kernel, "print(1 + 1)") == "2"

    with_manager(tmp_path, test, warm_code="raise RuntimeError('no such thing')")


def test_no_pool_when_size_is_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIFTDESK_WARM_KERNELS", "0")

    async def test(km: WarmKernelManager) -> None:
        await asyncio.sleep(0.5)
        assert km.list_kernel_ids() == [] and km.list_pool() == []
        kernel = await km.start_kernel(path="", env=dict(VOILA_ENV))
        assert kernel in km.list_kernel_ids()

    with_manager(tmp_path, test)


@pytest.mark.parametrize("value", ["many", "-1"])
def test_bad_pool_size_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SHIFTDESK_WARM_KERNELS", value)
    with pytest.raises(ValueError, match=f"SHIFTDESK_WARM_KERNELS='{value}'"):
        WarmKernelManager()


def test_the_default_warm_code_preloads_the_dashboards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIFTDESK_DATA_DIR", str(tmp_path / "data"))

    async def test(km: WarmKernelManager) -> None:
        await wait_for(lambda: len(km.list_pool()) == 1, timeout=120)
        kernel = await km.start_kernel(path="", env=dict(VOILA_ENV))
        loaded = await run_code(
            km,
            kernel,
            "import sys\n"
            "from shiftdesk.storage import database\n"
            "print('shiftdesk_widgets.daq' in sys.modules, len(database._databases))",
        )
        assert loaded == "True 1"
        assert (tmp_path / "data").is_dir()  # the default database was opened there

    with_manager(tmp_path, test)
