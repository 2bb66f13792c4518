"""Best references for one exposure: a header typed in (``key = value`` lines) or read from
an uploaded FITS or ASDF file, against the latest, the edit or any context."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.catalog._common import Feedback, classed, table_html
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: ``lookup(header, context, reftypes)`` → {reftype: file or "NOT FOUND ..."}.
LookupCall = Callable[[dict[str, Any], str, list[str] | None], Mapping[str, str]]
#: Largest upload read (a header is at the start; the pixels are never needed).
MAX_UPLOAD = 512 * 1024 * 1024


def parse_header(text: str) -> dict[str, str]:
    """``key = value`` lines (``key: value`` too) → a header; ``#`` starts a comment.

    Raises
    ------
    ValueError
        A line that is neither (naming its number and text).
    """
    header: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        for sep in ("=", ":"):
            if sep in line:
                key, value = line.split(sep, 1)
                break
        else:
            raise ValueError(f"line {number} ({line!r}) is not 'key = value'")
        key = key.strip()
        value = value.strip().strip("'\"")
        if not key:
            raise ValueError(f"line {number} ({line!r}) has no key before the '='")
        header[key.upper()] = value
    return header


def header_text(header: Mapping[str, Any], keys: Sequence[str] | None = None) -> str:
    """A header as ``key = value`` lines (only ``keys`` when given and present)."""
    names = [k for k in keys if k in header] if keys else sorted(header)
    return "\n".join(f"{k} = {header[k]}" for k in names)


def upload_items(value: Any) -> list[tuple[str, bytes]]:
    """``(name, content)`` of a FileUpload's value (ipywidgets 8: a tuple of dicts)."""
    items = value.values() if isinstance(value, dict) else value  # ipywidgets 7 kept a dict
    out = []
    for item in items or ():
        name = str(item.get("name") or item.get("metadata", {}).get("name") or "upload")
        out.append((name, bytes(item["content"])))
    return out


def read_uploaded(
    name: str, content: bytes, read: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """Write an uploaded file to a temporary file (its suffix kept: it says the format),
    read its header with ``read(path)``, and remove it."""
    suffix = "".join(Path(name).suffixes[-2:]) or ".fits"
    handle, path = tempfile.mkstemp(prefix="shiftdesk-header-", suffix=suffix)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        return read(path)
    finally:
        Path(path).unlink(missing_ok=True)


class BestRefsPanel(w.VBox):
    """A header in, the best reference of each type out.

    Parameters
    ----------
    lookup : callable
        ``lookup(header, context, reftypes)``; ``context`` is ``"latest"``, ``"edit"`` or
        a .pmap name.
    read_header : callable
        ``read_header(path)`` → a flat upper-case header (FITS and ASDF).
    contexts : callable
        ``contexts()`` → the pipeline contexts one may pick besides latest and edit.
    required : callable, optional
        ``required(context)`` → the header keys the context's rules look at (shown as a
        template to type into).
    example : str
        A header to start with (``key = value`` lines).
    """

    def __init__(
        self,
        lookup: LookupCall,
        read_header: Callable[[str], dict[str, Any]],
        contexts: Callable[[], Sequence[str]],
        *,
        required: Callable[[str], Sequence[str]] | None = None,
        example: str = "",
        caller: Caller = run_now,
    ) -> None:
        self._lookup = lookup
        self._read_header = read_header
        self._contexts = contexts
        self._required = required
        self._caller = caller
        self.result: dict[str, str] = {}
        self.header = classed(
            w.Textarea(value=example, placeholder="KEY = value, one per line",
                       layout=w.Layout(width="100%", height="170px")),
            "sd-cat-header",
        )  # fmt: skip
        self.upload = classed(
            w.FileUpload(accept=".fits,.fit,.fts,.fz,.gz,.asdf", multiple=False,
                         description="Read a FITS/ASDF file", layout=w.Layout(width="auto")),
            "sd-cat-upload",
        )  # fmt: skip
        self.upload.observe(self._uploaded, "value")
        self.keys_button = classed(
            w.Button(description="Keys the rules need", icon="key",
                     layout=w.Layout(width="auto")),
            "sd-cat-keys",
        )  # fmt: skip
        self.keys_button.on_click(lambda _b: self.show_required())
        self.upload_feedback = Feedback()
        self.context = classed(
            w.Dropdown(description="context", layout=w.Layout(width="auto", min_width="260px"),
                       style={"description_width": "initial"}),
            "sd-cat-bestrefs-context",
        )  # fmt: skip
        self.reftypes = classed(
            w.Text(placeholder="all types", description="types",
                   layout=w.Layout(width="auto", min_width="200px"),
                   style={"description_width": "initial"}),
            "sd-cat-reftypes",
        )  # fmt: skip
        self.button = classed(
            w.Button(description="Find best references", icon="search", button_style="primary",
                     layout=w.Layout(width="auto")),
            "sd-cat-bestrefs-button",
        )  # fmt: skip
        self.button.on_click(lambda _b: self.run())
        self.feedback = Feedback()
        self.output = classed(w.HTML(), "sd-cat-bestrefs-result")
        sources = classed(
            w.HBox([self.upload, self.keys_button, self.upload_feedback]), "sd-cat-row"
        )
        run = classed(
            w.HBox([self.context, self.reftypes, self.button, self.feedback]), "sd-cat-row"
        )
        super().__init__(
            [
                w.HTML(
                    "<div class='sd-cat-muted'>Type the exposure's header (<code>KEY = value"
                    "</code>, one per line) or read it from a FITS or ASDF file.</div>"
                ),
                sources,
                self.header,
                run,
                self.output,
            ]
        )
        classed(self, "sd-cat-bestrefs")
        self.refresh_contexts()

    def refresh_contexts(self) -> None:
        """Read the contexts one may pick again."""
        try:
            names = list(self._contexts())
        except Exception as exc:  # latest and edit still work
            self.feedback.error(exc, "contexts not read")
            names = []
        options = [("latest context", "latest"), ("edit context", "edit")]
        options += [(n, n) for n in sorted(names, reverse=True)]
        value = self.context.value
        self.context.options = options
        self.context.value = value if value in {v for _l, v in options} else "latest"

    def _uploaded(self, change: dict[str, Any]) -> None:
        items = upload_items(change["new"])
        if not items:
            return
        name, content = items[0]
        if len(content) > MAX_UPLOAD:
            self.upload_feedback.say("error", f"{name} is larger than {MAX_UPLOAD >> 20} MB")
            return
        self.upload_feedback.say("busy", f"reading the header of {name}…")

        def shown(header: dict[str, Any]) -> None:
            keys = self._keys()
            self.header.value = header_text(header, keys or None)
            kept = f"{len(keys)} keys the rules use" if keys else f"{len(header)} keys"
            self.upload_feedback.say("info", f"header of {name}: {kept}")
            self.upload.value = ()  # the same file may be picked again

        def failed(exc: BaseException) -> None:
            self.upload_feedback.error(exc, f"{name}: header not read")
            self.upload.value = ()

        self._caller("read header", lambda: read_uploaded(name, content, self._read_header),
                     shown, failed)  # fmt: skip

    def _keys(self) -> list[str]:
        if self._required is None:
            return []
        try:
            return list(self._required(self.context.value))
        except Exception:  # without the list the whole header is shown
            return []

    def show_required(self) -> None:
        """Put the keys the picked context's rules look at into the header box."""
        keys = self._keys()
        if not keys:
            self.upload_feedback.say("warning", "the rules' keys could not be read")
            return
        have = parse_header_quiet(self.header.value)
        self.header.value = "\n".join(f"{k} = {have.get(k, '')}" for k in keys)
        self.upload_feedback.say("info", f"{len(keys)} keys the rules look at")

    def run(self) -> None:
        """Look the header up; the answer shows below, problems beside the button."""
        try:
            header = parse_header(self.header.value)
        except ValueError as exc:
            self.feedback.say("error", f"the header: {exc}")
            return
        if not header:
            self.feedback.say("warning", "type a header or read one from a file first")
            return
        types = [t for t in self.reftypes.value.replace(",", " ").split() if t] or None
        context = self.context.value
        self.feedback.say("busy", "looking up…")
        self.button.disabled = True

        def shown(result: Mapping[str, str]) -> None:
            self.button.disabled = False
            self.result = dict(result)
            self.output.value = result_html(self.result)
            found = sum(1 for v in self.result.values() if not v.startswith("NOT FOUND"))
            self.feedback.say("info", f"{found} of {len(self.result)} types found")

        def failed(exc: BaseException) -> None:
            self.button.disabled = False
            self.output.value = ""
            self.feedback.error(exc, "no answer")

        self._caller("best references", lambda: self._lookup(header, context, types),
                     shown, failed)  # fmt: skip


def parse_header_quiet(text: str) -> dict[str, str]:
    """:func:`parse_header`, lines it cannot read left out."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        try:
            out.update(parse_header(line))
        except ValueError:
            continue
    return out


def result_html(result: Mapping[str, str]) -> str:
    """The answer as a table: type, file (or why none)."""
    rows = []
    for reftype in sorted(result):
        value = result[reftype]
        if value.startswith("NOT FOUND"):
            reason = value[len("NOT FOUND") :].strip() or "no match"
            shown = f"<span class='sd-cat-notfound'>not found: {html.escape(reason)}</span>"
        else:
            shown = f"<span class='sd-cat-found sd-cat-mono'>{html.escape(value)}</span>"
        rows.append((reftype, shown))
    return table_html(("type", "best reference"), rows, raw=(1,), empty="no reference types")
