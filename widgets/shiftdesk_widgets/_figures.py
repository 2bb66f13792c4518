"""Figures that are in the page only while they are shown.

bqplot lays a figure out when the browser draws it. Drawn inside a hidden box (a closed
panel, a tab not yet opened, a box with ``display: none``) the figure measures 0 × 0 px,
its plot area comes out as 0 minus the margins, and the browser logs "<rect> attribute
width: A negative value is not valid" for every mark and redraw. A :class:`FigureSlot`
keeps its figure out of the page while hidden and puts it back when shown, so the browser
only ever draws it at its real size (and draws nothing for panels nobody opened).
"""

from __future__ import annotations

import ipywidgets as w


class FigureSlot(w.Box):
    """A box that holds ``figure`` only while :attr:`shown` is True.

    Parameters
    ----------
    figure : ipywidgets.DOMWidget
        The figure (or a box of figures) to hold; it keeps its state while out of the
        page: only the browser's drawing of it goes.
    shown : bool
        Whether the figure starts in the page.
    """

    def __init__(self, figure: w.DOMWidget, *, shown: bool = False) -> None:
        self.figure = figure
        super().__init__([figure] if shown else [])
        self.add_class("sd-figure-slot")

    @property
    def shown(self) -> bool:
        """True while the figure is in the page."""
        return bool(self.children)

    @shown.setter
    def shown(self, on: bool) -> None:
        if on != self.shown:
            self.children = (self.figure,) if on else ()
