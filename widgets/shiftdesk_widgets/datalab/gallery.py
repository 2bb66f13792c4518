"""Galleries of frames: a session's inputs (with upload) and the operations' outputs.

A :class:`Gallery` shows one card per frame: a thumbnail (PNG bytes in a widget, so the
page asks no other host for anything), the name, the filter and the date. Cards can be
picked (the operation wizard starts from the picked frames) and opened in the viewer.
Thumbnails are made off the kernel's thread when a caller says so, and a page shows at
most ``page_size`` cards (a "more" button shows the next ones).
"""

from __future__ import annotations

import html
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.datalab._common import Feedback, classed, when_text
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: The grey square a card shows until its thumbnail is made (a 1 x 1 PNG).
_BLANK = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360606060000000050001a5f645400000000049454e44ae426082"
)
#: Every filter, in the filter picker.
ALL = "all filters"


@dataclass
class GalleryItem:
    """One frame (or picture) of a gallery.

    Attributes
    ----------
    key : str
        What identifies it (its path); the viewer and the wizard get this.
    name : str
        The file's name, shown.
    filter, date, object : str
        From the header, shown when known.
    exptime : float or None
    shape : tuple or None
    thumbnail : bytes, callable or None
        PNG bytes, or ``thumbnail()`` → PNG bytes (made when first shown).
    kind : str
        ``"fits"`` (opens in the viewer with values and WCS) or ``"image"`` (a picture).
    note : str
        A second caption line (outputs: which operation made it).
    """

    key: str
    name: str
    filter: str = ""
    date: str = ""
    object: str = ""
    exptime: float | None = None
    shape: tuple[int, ...] | None = None
    thumbnail: bytes | Callable[[], bytes] | None = None
    kind: str = "fits"
    note: str = ""

    def caption_html(self) -> str:
        """The card's caption: name, then filter · date (or the note)."""
        meta = " · ".join(p for p in (self.filter, when_text(self.date)) if p)
        tip = " · ".join(
            p for p in (self.name, self.object, self.filter, when_text(self.date),
                        f"{self.exptime:g} s" if self.exptime else "",
                        "×".join(str(n) for n in self.shape) if self.shape else "", self.note)
            if p
        )  # fmt: skip
        lines = [f"<div class='sd-dl-name'>{html.escape(self.name)}</div>"]
        lines.append(f"<div class='sd-dl-meta'>{html.escape(meta or self.note or ' ')}</div>")
        if meta and self.note:
            lines.append(f"<div class='sd-dl-meta'>{html.escape(self.note)}</div>")
        return f"<div title='{html.escape(tip, quote=True)}'>{''.join(lines)}</div>"


class _Card(w.VBox):
    def __init__(self, item: GalleryItem, gallery: Gallery) -> None:
        self.item = item
        self.image = classed(
            w.Image(value=_BLANK, format="png", layout=w.Layout(width="128px", height="128px")),
            "sd-dl-thumb",
        )
        self.has_thumb = False
        if isinstance(item.thumbnail, bytes):
            self.image.value = item.thumbnail
            self.has_thumb = True
        self.caption = classed(w.HTML(item.caption_html()), "sd-dl-caption")
        self.pick = classed(
            w.Checkbox(value=False, indent=False, description="",
                       layout=w.Layout(width="22px", margin="0")),
            "sd-dl-pick",
        )  # fmt: skip
        self.pick.observe(lambda c: gallery._picked(item.key, c["new"]), "value")
        self.view_button = classed(
            w.Button(description="View", icon="eye", tooltip=f"open {item.name} in the viewer",
                     layout=w.Layout(width="72px")),
            "sd-dl-view-button",
        )  # fmt: skip
        self.view_button.on_click(lambda _b: gallery.view(item.key))
        controls = [self.pick, self.view_button] if gallery.selectable else [self.view_button]
        bar = classed(w.HBox(controls, layout=w.Layout(align_items="center")), "sd-dl-card-bar")
        super().__init__([self.image, self.caption, bar])
        classed(self, "sd-dl-card")


class Gallery(w.VBox):
    """Cards of frames with a filter picker, a name search and picking.

    Parameters
    ----------
    on_view : callable, optional
        ``on_view(key)`` when a card's View button is pressed.
    selectable : bool
        Cards have a tick box; :attr:`selected` lists the ticked keys.
    empty : str
        What the gallery says when it has no frame.
    caller : callable
        How thumbnails are made (off the kernel's thread in a kernel).
    page_size : int
        Cards shown at first; "more" shows the next ones.
    """

    def __init__(
        self,
        *,
        on_view: Callable[[str], None] | None = None,
        selectable: bool = True,
        empty: str = "no frame yet",
        caller: Caller = run_now,
        page_size: int = 48,
    ) -> None:
        self.on_view = on_view
        self.on_select: Callable[[list[str]], None] | None = None
        self.selectable = selectable
        self.empty = empty
        self._caller = caller
        self.page_size = page_size
        self.limit = page_size
        self.items: list[GalleryItem] = []
        self.cards: dict[str, _Card] = {}
        self._selected: set[str] = set()
        self._loading = False
        self.filter = classed(
            w.Dropdown(options=[ALL], value=ALL, description="Filter",
                       layout=w.Layout(width="190px"), style={"description_width": "initial"}),
            "sd-dl-gallery-filter",
        )  # fmt: skip
        self.filter.observe(lambda _c: self._redraw(), "value")
        self.search = classed(
            w.Text(placeholder="part of a name or object", layout=w.Layout(width="210px")),
            "sd-dl-gallery-search",
        )  # fmt: skip
        self.search.observe(lambda _c: self._redraw(), "value")
        self.pick_all = classed(
            w.Button(description="Pick shown", icon="check-square",
                     layout=w.Layout(width="auto")),
            "sd-dl-pick-all",
        )  # fmt: skip
        self.pick_all.on_click(lambda _b: self.select([i.key for i in self.shown]))
        self.pick_none = classed(
            w.Button(description="Clear picks", icon="square", layout=w.Layout(width="auto")),
            "sd-dl-pick-none",
        )  # fmt: skip
        self.pick_none.on_click(lambda _b: self.select([]))
        self.summary = classed(w.HTML(), "sd-dl-gallery-summary")
        self.more = classed(
            w.Button(description="Show more", icon="angle-double-down",
                     layout=w.Layout(width="auto")),
            "sd-dl-gallery-more",
        )  # fmt: skip
        self.more.on_click(lambda _b: self._show_more())
        self.box = classed(w.HBox(layout=w.Layout(width="100%")), "sd-dl-cards")
        tools: list[w.Widget] = [self.filter, self.search]
        if selectable:
            tools += [self.pick_all, self.pick_none]
        tools.append(self.summary)
        super().__init__([classed(w.HBox(tools), "sd-dl-row"), self.box, self.more])
        classed(self, "sd-dl-gallery")
        self._redraw()

    # -- content -----------------------------------------------------------------------------
    def set_items(self, items: Iterable[GalleryItem]) -> None:
        """Show ``items`` (cards of keys shown before are kept, with their thumbnails)."""
        self.items = list(items)
        keys = {i.key for i in self.items}
        for key in [k for k in self.cards if k not in keys]:
            self.cards.pop(key).close()
        self._selected &= keys
        filters = sorted({i.filter for i in self.items if i.filter})
        value = self.filter.value
        self.filter.options = [ALL, *filters]
        self.filter.value = value if value in filters else ALL
        self._redraw()

    @property
    def shown(self) -> list[GalleryItem]:
        """The items the filter and search let through (all pages)."""
        wanted = self.filter.value
        text = self.search.value.strip().lower()
        return [
            i for i in self.items
            if (wanted == ALL or i.filter == wanted)
            and (not text or text in i.name.lower() or text in i.object.lower())
        ]  # fmt: skip

    @property
    def selected(self) -> list[str]:
        """The keys picked, in the gallery's order."""
        return [i.key for i in self.items if i.key in self._selected]

    def select(self, keys: Sequence[str]) -> None:
        """Pick exactly ``keys``."""
        self._selected = {k for k in keys if any(i.key == k for i in self.items)}
        for key, card in self.cards.items():
            on = key in self._selected
            if card.pick.value != on:
                card.pick.value = on  # _picked sees no change (the set is set already)
            (card.add_class if on else card.remove_class)("sd-dl-picked")
        self._summarise()
        if self.on_select is not None:
            self.on_select(self.selected)

    def _picked(self, key: str, on: bool) -> None:
        if on == (key in self._selected):
            return
        if on:
            self._selected.add(key)
        else:
            self._selected.discard(key)
        card = self.cards.get(key)
        if card is not None:
            (card.add_class if on else card.remove_class)("sd-dl-picked")
        self._summarise()
        if self.on_select is not None:
            self.on_select(self.selected)

    def view(self, key: str) -> None:
        """Open ``key`` in the viewer (the View button)."""
        if self.on_view is not None:
            self.on_view(key)

    # -- drawing -----------------------------------------------------------------------------
    def _card(self, item: GalleryItem) -> _Card:
        card = self.cards.get(item.key)
        if card is None or card.item != item:
            if card is not None:
                card.close()
            card = _Card(item, self)
            card.pick.value = item.key in self._selected
            self.cards[item.key] = card
        return card

    def _redraw(self) -> None:
        shown = self.shown
        cards = [self._card(i) for i in shown[: self.limit]]
        self.box.children = tuple(cards) if cards else (
            classed(w.HTML(f"<div class='sd-dl-muted'>{html.escape(self._empty_text())}</div>"),
                    "sd-dl-gallery-empty"),
        )  # fmt: skip
        self.more.layout.display = None if len(shown) > self.limit else "none"
        self._summarise()
        self._load_thumbnails([c for c in cards if not c.has_thumb])

    def _empty_text(self) -> str:
        return self.empty if not self.items else "no frame matches the filter and search"

    def _summarise(self) -> None:
        n, shown = len(self.items), len(self.shown)
        parts = [f"{n} frame{'s' if n != 1 else ''}"]
        if shown != n:
            parts.append(f"{shown} shown")
        if self.selectable and self._selected:
            parts.append(f"{len(self._selected)} picked")
        self.summary.value = f"<span class='sd-dl-muted'>{' · '.join(parts)}</span>"

    def _show_more(self) -> None:
        self.limit += self.page_size
        self._redraw()

    def _load_thumbnails(self, cards: list[_Card]) -> None:
        todo = [(c.item.key, c.item.thumbnail) for c in cards if callable(c.item.thumbnail)]
        if not todo or self._loading:
            return
        self._loading = True

        def make() -> dict[str, bytes | None]:
            out: dict[str, bytes | None] = {}
            for key, make_one in todo:
                try:
                    out[key] = make_one()  # type: ignore[operator]
                except Exception:  # an unreadable frame keeps its grey square
                    out[key] = None
            return out

        def show(made: dict[str, bytes | None]) -> None:
            self._loading = False
            for key, data in made.items():
                card = self.cards.get(key)
                if card is not None:
                    card.has_thumb = True
                    if data:
                        card.image.value = data
            rest = [c for c in self.cards.values() if not c.has_thumb and c in self.box.children]
            if rest:
                self._load_thumbnails(rest)

        def failed(_exc: BaseException) -> None:
            self._loading = False

        self._caller("thumbnails", make, show, failed)


def upload_items(value: Any) -> list[tuple[str, bytes]]:
    """``(name, content)`` of a FileUpload's value (ipywidgets 8: a tuple of dicts)."""
    items = value.values() if isinstance(value, dict) else value
    out = []
    for item in items or ():
        name = str(item.get("name") or item.get("metadata", {}).get("name") or "upload.fits")
        out.append((Path(name).name, bytes(item["content"])))
    return out


class InputsPanel(w.VBox):
    """A session's frames: upload FITS files, then see them as a gallery.

    Parameters
    ----------
    add_inputs : callable or None
        ``add_inputs(paths)`` adds files to the session (copied in: the temporary files
        are removed afterwards); None while no session is open or it is read-only.
    gallery : Gallery
        The gallery of the session's inputs.
    caller : callable
        How the upload is added (off the kernel's thread in a kernel).
    """

    def __init__(
        self,
        add_inputs: Callable[[list[Path]], Any] | None,
        gallery: Gallery,
        *,
        caller: Caller = run_now,
        on_added: Callable[[Any], None] | None = None,
    ) -> None:
        self._add = add_inputs
        self._caller = caller
        self.on_added = on_added
        self.gallery = gallery
        self.upload = classed(
            w.FileUpload(accept=".fits,.fit,.fts,.fz,.gz", multiple=True,
                         description="Add FITS frames", layout=w.Layout(width="auto")),
            "sd-dl-upload",
        )  # fmt: skip
        self.upload.observe(self._uploaded, "value")
        self.feedback = Feedback()
        hint = w.HTML(
            "<span class='sd-dl-muted'>plain or tile-compressed FITS (.fits, .fits.fz); "
            "pick frames below to start an operation on them</span>"
        )
        super().__init__([classed(w.HBox([self.upload, hint, self.feedback]), "sd-dl-row"),
                          gallery])  # fmt: skip
        classed(self, "sd-dl-inputs")
        self.set_add(add_inputs)

    def set_add(self, add_inputs: Callable[[list[Path]], Any] | None, why: str = "") -> None:
        """Set where uploads go (None: uploads are off, ``why`` says so)."""
        self._add = add_inputs
        self.upload.disabled = add_inputs is None
        if add_inputs is None and why:
            self.feedback.say("info", why)
        elif self.feedback.kind == "info":
            self.feedback.clear()

    def _uploaded(self, change: dict[str, Any]) -> None:
        items = upload_items(change["new"])
        if items:
            self.add(items)

    def add(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Add uploaded ``(name, content)`` files to the session."""
        if self._add is None:
            self.feedback.say("warning", "open or make a session first")
            return
        folder = Path(tempfile.mkdtemp(prefix="shiftdesk-datalab-upload-"))
        paths = []
        for name, content in items:
            path = folder / name
            path.write_bytes(content)
            paths.append(path)
        add = self._add
        names = ", ".join(n for n, _c in items)
        self.feedback.say("busy", f"adding {names} …")
        self.upload.disabled = True

        def done(result: Any) -> None:
            shutil.rmtree(folder, ignore_errors=True)
            self.upload.disabled = self._add is None
            self.upload.value = ()
            n = len(paths)
            self.feedback.say("info", f"{n} frame{'s' if n != 1 else ''} added: {names}")
            if self.on_added is not None:
                self.on_added(result)

        def failed(exc: BaseException) -> None:
            shutil.rmtree(folder, ignore_errors=True)
            self.upload.disabled = self._add is None
            self.upload.value = ()
            self.feedback.error(exc, "not added")

        self._caller("add inputs", lambda: add(paths), done, failed)
