"""The big system buttons: Describe all, Prepare all, Configure all, Start, Stop, Reset."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from shiftdesk.daq.snapshot import RESET_COMMAND, Snapshot
from shiftdesk_widgets.daq._common import classed

#: (command, label, icon, style, what it does) in panel order.
SYSTEM_BUTTONS = (
    ("Describe", "Describe all", "list", "", "every server: Idle → Described"),
    ("Prepare", "Prepare all", "cogs", "", "every server: Described → Prepared"),
    ("Configure", "Configure all", "wrench", "", "every server: Prepared → Ready"),
    ("Start", "Start run", "play", "success", "start the next run (every server: Running)"),
    ("Stop", "Stop run", "stop", "danger", "stop the run; its files are organised after"),
    ("Reset", "Reset", "undo", "warning", "every server one step back"),
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
        self.styles = {name: style for name, _label, _icon, style, _help in SYSTEM_BUTTONS}
        self.help = {name: what for name, _label, _icon, _style, what in SYSTEM_BUTTONS}
        for name, label, icon, _style, what in SYSTEM_BUTTONS:
            button = classed(
                w.Button(description=label, icon=icon, tooltip=what, disabled=True,
                         layout=w.Layout(width="150px", height="44px")),
                "sd-daq-system-button",
                f"sd-daq-{name.lower()}",
            )  # fmt: skip
            button.on_click(lambda _b, n=name: on_command(n))
            self.buttons[name] = button
        super().__init__(list(self.buttons.values()))
        classed(self, "sd-daq-system-buttons")

    def update(self, snap: Snapshot, can_operate: bool, busy: bool) -> None:
        """Enable what is legal (nothing for read-only users or while a call is on its way).

        Only an enabled button has its colour (green Start, red Stop, ...): a disabled
        one is grey, so the colours point at what can be pressed now.
        """
        legal = system_legal(snap) if can_operate and not busy else set()
        for name, button in self.buttons.items():
            enabled = name in legal
            button.disabled = not enabled
            button.button_style = self.styles[name] if enabled else ""
            if not can_operate:
                button.tooltip = "only operators of this experiment may send commands"
            elif enabled:
                button.tooltip = self.help[name]
            elif busy:
                button.tooltip = "wait: a command is on its way"
            else:
                button.tooltip = f"not possible now (system: {snap.overall})"
