"""How soon does a running operation's progress show on the data-session dashboard?

An operation registered for this run only (a distribution of its own on the workers'
path, as another package would add one) reports progress 60 times, every 0.1 s, each
message carrying the wall-clock time it was reported (the worker and this process share
the clock). The dashboard (``DatalabView``, headless) follows it the way the page does:
its own tick, at its own interval (0.25 s), reads the running operations and updates
their rows. For every report the tick shows, the delay from the report to the row is
recorded.

Target: progress visible <= 1 s after it is reported (p95).
Run: ``.venv/bin/python bench/bench_datalab_progress.py`` (about half a minute).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import isolate, machine, median, percentile, print_table, ratio_line

FOLDER = Path(isolate())
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAME = "datalab_progress_p95_s"
STEPS = 60

_CLOCKED = """
import time
from shiftdesk.datalab.ops.base import Operation, files_field, number_field, object_schema


class Clocked(Operation):
    name = "clocked_bench"
    title = "Clocked"
    description = "Reports progress with the time of each report (a benchmark)."
    version = "1.0"
    outputs = ("data",)
    schema = object_schema(
        {
            "input_files": files_field("Frames", "Any frames."),
            "steps": number_field("Steps", "How many.", default=60, minimum=1, integer=True),
        },
        ["input_files"],
    )

    def execute(self, values, ctx):
        for i in range(values["steps"]):
            ctx.report(i / values["steps"], f"t={time.time():.6f}")
            time.sleep(0.1)
        return self.result(data={"steps": values["steps"]})
"""


def _register(folder: Path) -> None:
    plugin = folder / "plugin"
    dist = plugin / "clocked_bench-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: clocked-bench\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[shiftdesk.datalab.operations]\nclocked_bench = clocked_bench:Clocked\n"
    )
    (plugin / "clocked_bench.py").write_text(_CLOCKED)
    sys.path.insert(0, str(plugin))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(plugin), os.environ.get("PYTHONPATH")) if p
    )


def main() -> None:
    import numpy as np
    from astropy.io import fits

    _register(FOLDER)
    from shiftdesk.datalab import DataSession, operations
    from shiftdesk.jobs import shutdown_backends
    from shiftdesk_widgets.datalab.dashboard import DatalabView

    operations.available(refresh=True)
    frames = []
    for i in range(2):
        path = FOLDER / f"frame_{i}.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((8, 8), "f4"), name="SCI")]).writeto(
            path
        )
        frames.append(path)
    session = DataSession.create("progress bench")
    session.add_inputs(frames)
    view = DatalabView(session)
    delays: list[float] = []
    try:
        op = session.run("clocked_bench", input_files=session.inputs, steps=STEPS)
        view._read_operations()  # what the page does after its own Run click
        seen = ""
        deadline = time.monotonic() + 120
        while not op.refresh().finished and time.monotonic() < deadline:
            view.tick()  # the dashboard's own read, at its own interval
            message = view.handles[op.id].message
            if message.startswith("t=") and message != seen:
                delays.append(time.time() - float(message[2:]))
                seen = message
            time.sleep(view.interval)
        assert op.status == "done", op
    finally:
        view.close()
        shutdown_backends()
    print(f"# bench_datalab_progress: {machine()}")
    print(f"{len(delays)} of {STEPS} reports seen by the dashboard's ticks (every "
          f"{view.interval:g} s; a report replaced before the next tick is not shown)")  # fmt: skip
    print_table(
        [
            ("median", f"{median(delays):.3f}"),
            ("p95", f"{percentile(delays, 0.95):.3f}"),
            ("max", f"{max(delays):.3f}"),
        ],
        ["report → row on the dashboard", "s"],
    )
    print(ratio_line(NAME, percentile(delays, 0.95), 1.0))


if __name__ == "__main__":
    main()
