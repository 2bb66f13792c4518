"""The big system buttons: Describe all, Prepare all, Configure all, Start, Stop, Reset."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from shiftdesk.daq.snapshot import RESET_COMMAND, Snapshot
from shiftdesk_widgets.daq._common import classed

#: (command, label, icon, style) in panel order.
SYSTEM_BUTTONS = (
    ("Describe", "Describe all", "list", ""),
    ("Prepare", "Prepare all", "cogs", ""),
    ("Configure", "Configure all", "wrench", ""),
    ("Start", "Start run", "play", "success"),
    ("Stop", "Stop run", "stop", "danger"),
    ("Reset", "Reset", "undo", "warning"),
)


def system_legal(snap: Snapshot) -> set[str]:
    """System commands legal now: the core's list, Reset when a step back exists, Start
    only without an open run."""
    legal = {c.value for c in snap.legal}
    if snap.state is not None and snap.state in RESET_COMMAND:
        legal.add("Reset")
    if snap.run_number is not None:
        legal.discard("Start")
    return legal


class SystemButtons(w.HBox):
    """One button per system command, enabled only when the command is legal now.

    Parameters
    ----------
    on_command : callable
        ``on_command(name)`` with ``"Describe"`` … ``"Reset"``.
    """

    def __init__(self, on_command: Callable[[str], None]) -> None:
        self.buttons: dict[str, w.Button] = {}
        for name, label, icon, style in SYSTEM_BUTTONS:
            button = classed(
                w.Button(description=label, icon=icon, button_style=style,
                         layout=w.Layout(width="150px", height="44px")),
                "sd-daq-system-button",
                f"sd-daq-{name.lower()}",
            )  # fmt: skip
            button.on_click(lambda _b, n=name: on_command(n))
            self.buttons[name] = button
        super().__init__(list(self.buttons.values()))
        classed(self, "sd-daq-system-buttons")

    def update(self, snap: Snapshot, can_operate: bool, busy: bool) -> None:
        """Enable what is legal (nothing for read-only users or while a call is on its way)."""
        legal = system_legal(snap) if can_operate and not busy else set()
        for name, button in self.buttons.items():
            button.disabled = name not in legal
            button.tooltip = (
                "only operators of this experiment may send commands"
                if not can_operate
                else ("" if name in legal else f"not possible now (system: {snap.overall})")
            )
