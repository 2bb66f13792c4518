"""What does shiftdesk's median operation cost next to numpy, in time and memory?

Ten frames of 2048 x 2048 float32 (16 MiB each, a 160 MiB stack) are written once as
FITS. Compared, side by side in one run:

* **numpy** (the baseline): read every file with astropy (``fits.getdata``), stack them
  in memory, ``np.median(stack, axis=0)``;
* **shiftdesk**: ``operations.run("median", ...)``, the whole operation: the inputs
  validated (headers read), the median taken strip by strip (``hdu.section`` reads of
  every frame, never the whole stack), the output FITS written and its two zscale PNG
  previews made. Its median step alone is shown too.

Time: alternating rounds in this process after a warm-up, median per variant
(target: shiftdesk <= 1.5 x numpy). Memory: each variant once more in its own
subprocess, peak of the Python/numpy allocations (tracemalloc) and the growth of the
process's peak resident size (VmHWM: it would count memory-mapped file pages too),
against the stack's 160 MiB (target: shiftdesk <= 2 x the stack).

Run: ``.venv/bin/python bench/bench_datalab_median.py``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import isolate, machine, median, print_table, ratio_line

NAME = "datalab_median"
TARGET = 1.5
MEMORY_TARGET = 2.0
N_FRAMES = 10
SIZE = 2048
ROUNDS = 3
MIB = 2**20


def write_frames(folder: Path) -> list[Path]:
    import numpy as np
    from astropy.io import fits

    rng = np.random.default_rng(1)
    paths = []
    for i in range(N_FRAMES):
        data = rng.normal(1000.0, 30.0, (SIZE, SIZE)).astype("f4")
        path = folder / f"frame_{i:02d}.fits"
        hdu = fits.ImageHDU(data, name="SCI")
        hdu.header["FILTER"] = "rp"
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
        paths.append(path)
    return paths


def numpy_median(paths: list[Path]) -> object:
    import numpy as np
    from astropy.io import fits

    stack = np.stack([fits.getdata(p) for p in paths])
    return np.median(stack, axis=0)


def shiftdesk_median(paths: list[Path], out: Path) -> object:
    from shiftdesk.datalab import operations

    return operations.run("median", {"input_files": [str(p) for p in paths]}, out)


def median_step_only(paths: list[Path]) -> object:
    from shiftdesk.datalab.ops import combine, images
    from shiftdesk.datalab.ops.base import RunContext

    frames = [images.inspect_frame(p, "input_files") for p in paths]
    ctx = RunContext(Path("."), lambda f, m: None, lambda: False)
    return combine.strip_median(frames, images.common_shape(frames), ctx)


def peak_rss() -> int:
    """This process's peak resident size in bytes (``VmHWM``: ``ru_maxrss`` is no use here,
    Linux carries it over from the parent through fork and exec)."""
    import resource

    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(variant: str, folder: str) -> None:
    """Run one variant once in this (fresh) process; print its memory as JSON."""
    import tracemalloc

    import numpy  # noqa: F401  imported before the baseline RSS is taken
    from astropy.io import fits  # noqa: F401

    import shiftdesk.datalab.ops.combine  # noqa: F401

    paths = sorted(Path(folder).glob("frame_*.fits"))
    before = peak_rss()
    tracemalloc.start()
    if variant == "numpy":
        numpy_median(paths)
    else:
        with tempfile.TemporaryDirectory() as out:
            shiftdesk_median(paths, Path(out))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"traced": peak, "rss_growth": peak_rss() - before}))


def memory(variant: str, folder: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", variant, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    isolate()
    print(f"# bench_datalab_median: {machine()}")
    with tempfile.TemporaryDirectory(prefix="shiftdesk-bench-median-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths = write_frames(folder)
        stack_bytes = N_FRAMES * SIZE * SIZE * 4
        print(
            f"{N_FRAMES} frames of {SIZE} x {SIZE} float32 written in "
            f"{time.perf_counter() - t0:.1f} s (stack {stack_bytes / MIB:.0f} MiB)"
        )
        out = folder / "out"
        variants = {
            "numpy: astropy reads + np.median of the stack": lambda: numpy_median(paths),
            "shiftdesk: operations.run('median') (validate, strips, FITS, previews)": (
                lambda: shiftdesk_median(paths, out)
            ),
            "shiftdesk: the strip median alone": lambda: median_step_only(paths),
        }
        for call in variants.values():  # warm-up: imports, page cache
            call()
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(ROUNDS):
            for name, call in variants.items():
                t = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - t)
        med = {name: median(values) for name, values in times.items()}
        base = med["numpy: astropy reads + np.median of the stack"]
        print()
        print_table(
            [(name, f"{med[name]:.2f}", f"{med[name] / base:.2f}") for name in variants],
            ["time (median of 3)", "s", "÷ numpy"],
        )

        mem = {variant: memory(variant, folder) for variant in ("numpy", "shiftdesk")}
        print()
        print_table(
            [
                (
                    variant,
                    f"{m['traced'] / MIB:.0f}",
                    f"{m['traced'] / stack_bytes:.2f}",
                    f"{m['rss_growth'] / MIB:.0f}",
                    f"{m['rss_growth'] / stack_bytes:.2f}",
                )
                for variant, m in mem.items()
            ],
            ["peak memory (own process)", "traced MiB", "÷ stack", "RSS growth MiB", "÷ stack"],
        )
        shift = med["shiftdesk: operations.run('median') (validate, strips, FITS, previews)"]
        ratio = shift / base
        mem_ratio = max(mem["shiftdesk"]["traced"], mem["shiftdesk"]["rss_growth"]) / stack_bytes
        print()
        print(
            f"memory: shiftdesk peak {mem_ratio:.2f} x the stack (target <= {MEMORY_TARGET:g}) "
            f"-> {'OK' if mem_ratio <= MEMORY_TARGET else 'OVER'}"
        )
        print(ratio_line(NAME, ratio, TARGET))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
