"""The test domain's view: a tally's count and a +1 button."""

from __future__ import annotations

import ipywidgets as w

from shiftdesk_testdomain.tally import Tally
from shiftdesk_widgets.registry import register_view


@register_view(Tally)
class TallyView(w.HBox):
    """Shows a tally and counts it up on click."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.label = w.HTML()
        self.button = w.Button(description="+1")
        self.button.on_click(lambda _b: self._add())
        super().__init__([self.label, self.button])
        self._show()

    def _add(self) -> None:
        self.tally.add(1)
        self._show()

    def _show(self) -> None:
        self.label.value = f"{self.tally.name}: <b>{self.tally.count}</b>"
