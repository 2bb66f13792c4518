"""The operation wizard: pick an operation, fill the form built from its JSON Schema, run.

The form is built from the operation's ``input_schema`` (JSON Schema 2020-12 with the
registry's ``x-`` keywords): FITS fields (``x-files``) become a list of the session's
frames with their filter (the frames picked in a gallery chosen), numbers and integers
number boxes with the schema's default and range said under them, choices (``enum``)
drop-downs, a sky position (``x-kind: sky-position``) RA and Dec boxes, colour channels
(``x-kind: color-channels``) rows of frame, colour and levels, an earlier result
(``x-kind: operation-result``) a list of the session's results of that operation.

Inputs are checked by the operation's own ``validate`` before anything runs; a refusal
(:class:`~shiftdesk.datalab.operations.OperationInputError`) is shown under the field it
names (``channels[2].zmax`` under the colour channels, as "channel 3, White level").
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.datalab._common import Feedback, classed
from shiftdesk_widgets.runtable._calls import Caller, run_now

#: Filters from blue to red (colour channels are given blue, green, red in this order).
_BANDS = ("u", "up", "b", "g", "gp", "v", "r", "rp", "i", "ip", "z", "zs", "y")
#: Channel colours by how many channels are pre-filled (blue to red).
_RGB = {1: ["#ffffff"], 2: ["#2962ff", "#ff1744"], 3: ["#2962ff", "#00e676", "#ff1744"]}
#: More channels than three get these colours after blue, green, red.
_MORE = ["#ffea00", "#d500f9", "#00e5ff"]


@dataclass(frozen=True)
class FileChoice:
    """A frame the form may use: its label in lists, its path, its filter."""

    label: str
    path: str
    filter: str = ""
    #: ``"input"`` (a frame of the session) or ``"output"`` (made by an operation)
    kind: str = "input"


def top_field(path: str | None) -> str | None:
    """The top-level field of an error's field path (``channels[2].zmax`` → ``channels``)."""
    if not path:
        return None
    return re.split(r"[\[.]", path, maxsplit=1)[0]


def _types(spec: Mapping[str, Any]) -> list[str]:
    kind = spec.get("type", "string")
    return list(kind) if isinstance(kind, list) else [kind]


def _number_text(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def range_hint(spec: Mapping[str, Any]) -> str:
    """A number's range and unit in words ("between 0 and 100 pixel")."""
    lo = spec.get("minimum", spec.get("exclusiveMinimum"))
    hi = spec.get("maximum", spec.get("exclusiveMaximum"))
    unit = f" {spec['x-unit']}" if spec.get("x-unit") else ""
    if lo is not None and hi is not None:
        low = f"above {lo:g}" if "exclusiveMinimum" in spec else f"{lo:g}"
        return f"{low} to {hi:g}{unit}" if "exclusiveMinimum" not in spec else \
            f"{low}, at most {hi:g}{unit}"  # fmt: skip
    if lo is not None:
        return f"above {lo:g}{unit}" if "exclusiveMinimum" in spec else f"at least {lo:g}{unit}"
    if hi is not None:
        return f"at most {hi:g}{unit}"
    return unit.strip()


def files_hint(rule: Mapping[str, Any]) -> str:
    """An ``x-files`` rule in words ("2 or more frames, all in one filter")."""
    lo, hi = int(rule.get("min", 1)), int(rule.get("max", 999))
    if lo == hi:
        count = f"exactly {lo} frame{'s' if lo != 1 else ''}"
    elif hi >= 999:
        count = f"{lo} or more frames"
    else:
        count = f"{lo} to {hi} frames"
    parts = [count]
    if rule.get("single_filter"):
        parts.append("all in one filter")
    if rule.get("filters"):
        parts.append("filters " + ", ".join(rule["filters"]))
    return ", ".join(parts)


def _band_order(choice: FileChoice) -> int:
    name = choice.filter.lower()
    return _BANDS.index(name) if name in _BANDS else len(_BANDS)


# -- fields ---------------------------------------------------------------------------------


class Field(w.VBox):
    """One input of the form: label, control, hint and the error line under it."""

    def __init__(self, name: str, spec: Mapping[str, Any], control: w.Widget,
                 hint: str = "", required: bool = False) -> None:  # fmt: skip
        self.name = name
        self.spec = spec
        self.required = required
        title = spec.get("title") or name
        unit = spec.get("x-unit")
        label = html.escape(title) + (f" <span class='sd-dl-muted'>({html.escape(unit)})</span>"
                                      if unit else "")  # fmt: skip
        self.label = classed(w.HTML(f"<div>{label}</div>"), "sd-dl-field-label")
        description = spec.get("description", "")
        words = " · ".join(p for p in (description, hint) if p)
        self.hint = classed(w.HTML(f"<div>{html.escape(words)}</div>"), "sd-dl-field-hint")
        self.error = classed(w.HTML(), "sd-dl-field-error")
        self.error_text = ""
        self.control = control
        super().__init__([self.label, control, self.hint, self.error])
        classed(self, "sd-dl-field", f"sd-dl-field-{name}")

    def value(self) -> Any:
        """The field's value as JSON (None: left empty)."""
        raise NotImplementedError

    def set_error(self, text: str) -> None:
        """Show ``text`` under the field ("" clears it)."""
        self.error_text = text
        self.error.value = f"<div>{html.escape(text)}</div>" if text else ""
        (self.add_class if text else self.remove_class)("sd-dl-invalid")

    def set_files(self, files: Sequence[FileChoice]) -> None:
        """The session's frames changed (fields of files list them again)."""


class FilesField(Field):
    """Several FITS frames (an ``x-files`` array): a list of the session's frames."""

    def __init__(self, name: str, spec: Mapping[str, Any], files: Sequence[FileChoice],
                 picked: Sequence[str], required: bool) -> None:  # fmt: skip
        self.rule = dict(spec.get("x-files", {}))
        self.select = classed(
            w.SelectMultiple(layout=w.Layout(width="100%", max_width="640px")),
            "sd-dl-files-select",
        )
        self.count = classed(w.HTML(), "sd-dl-files-count")
        self.select.observe(lambda _c: self._count(), "value")
        hint = files_hint(self.rule) + "; ctrl- or shift-click picks several"
        super().__init__(name, spec, w.VBox([self.select, self.count]), hint, required)
        self.set_files(files)
        self.pick(picked or self.default(files))

    def default(self, files: Sequence[FileChoice]) -> list[str]:
        """The frames chosen before any is picked: the session's own frames (not outputs),
        those of its commonest filter when the operation wants one filter."""
        frames = [f for f in files if f.kind == "input"] or list(files)
        if self.rule.get("filters"):
            frames = [f for f in frames if f.filter in self.rule["filters"]]
        if self.rule.get("single_filter"):
            counts: dict[str, int] = {}
            for f in frames:
                counts[f.filter] = counts.get(f.filter, 0) + 1
            if counts:
                common = max(counts, key=lambda k: counts[k])
                frames = [f for f in frames if f.filter == common]
        return [f.path for f in frames]

    def set_files(self, files: Sequence[FileChoice]) -> None:
        keep = set(self.select.value)
        self.files = list(files)
        self.select.options = [(f.label, f.path) for f in files]
        self.select.rows = max(3, min(10, len(files)))
        self.select.value = tuple(f.path for f in files if f.path in keep)
        self._count()

    def pick(self, paths: Sequence[str]) -> None:
        """Choose ``paths`` (those the list has)."""
        have = {f.path for f in self.files}
        self.select.value = tuple(p for p in paths if p in have)

    def _count(self) -> None:
        n = len(self.select.value)
        filters = sorted({f.filter for f in self.files if f.path in self.select.value and f.filter})
        said = f"{n} frame{'s' if n != 1 else ''} chosen"
        if filters:
            said += f" · filter{'s' if len(filters) > 1 else ''} {', '.join(filters)}"
        self.count.value = f"<span class='sd-dl-muted'>{html.escape(said)}</span>"

    def value(self) -> Any:
        return list(self.select.value)


class FileField(Field):
    """One FITS frame (an ``x-files`` string)."""

    def __init__(self, name: str, spec: Mapping[str, Any], files: Sequence[FileChoice],
                 required: bool, prefer_last: bool = False) -> None:  # fmt: skip
        self.dropdown = classed(
            w.Dropdown(layout=w.Layout(width="100%", max_width="640px")), "sd-dl-file-select"
        )
        self.prefer_last = prefer_last
        super().__init__(name, spec, self.dropdown, files_hint(spec.get("x-files", {})), required)
        self.set_files(files)

    def set_files(self, files: Sequence[FileChoice]) -> None:
        keep = self.dropdown.value
        options = [("— pick a frame —", None)] + [(f.label, f.path) for f in files]
        self.dropdown.options = options
        paths = [f.path for f in files]
        if keep in paths:
            self.dropdown.value = keep
        elif paths:
            self.dropdown.value = paths[-1] if self.prefer_last else paths[0]
        else:
            self.dropdown.value = None

    def value(self) -> Any:
        return self.dropdown.value


class NumberField(Field):
    """A number or an integer (nullable ones may be left empty)."""

    def __init__(self, name: str, spec: Mapping[str, Any], required: bool) -> None:
        kinds = _types(spec)
        self.integer = "integer" in kinds
        self.nullable = "null" in kinds
        default = spec.get("default")
        placeholder = "empty: " + spec["description"].split(":")[0].lower() \
            if self.nullable and spec.get("description", "").lower().startswith("empty") \
            else ("empty: automatic" if self.nullable else "a number")  # fmt: skip
        if self.nullable and spec.get("description", "").startswith("Empty:"):
            placeholder = spec["description"].rstrip(".")
        self.text = classed(
            w.Text(value=_number_text(default), placeholder=placeholder,
                   layout=w.Layout(width="220px")),
            "sd-dl-number",
        )  # fmt: skip
        super().__init__(name, spec, self.text, range_hint(spec), required)

    def value(self) -> Any:
        text = self.text.value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return text  # the schema refuses it, naming the field
        if self.integer and number.is_integer():
            return int(number)
        return number


class ChoiceField(Field):
    """One of the schema's ``enum``."""

    def __init__(self, name: str, spec: Mapping[str, Any], required: bool) -> None:
        choices = list(spec.get("enum", []))
        self.dropdown = classed(
            w.Dropdown(options=choices, value=spec.get("default", choices[0] if choices else None),
                       layout=w.Layout(width="220px")),
            "sd-dl-choice",
        )  # fmt: skip
        super().__init__(name, spec, self.dropdown, "", required)

    def value(self) -> Any:
        return self.dropdown.value


class TextField(Field):
    """A free text (or a colour written #rrggbb)."""

    def __init__(self, name: str, spec: Mapping[str, Any], required: bool) -> None:
        if spec.get("x-kind") == "color":
            self.text = classed(
                w.ColorPicker(value=spec.get("default", "#ffffff"), concise=False,
                              layout=w.Layout(width="220px")),
                "sd-dl-color",
            )  # fmt: skip
        else:
            self.text = classed(
                w.Text(value=str(spec.get("default") or ""), layout=w.Layout(width="320px")),
                "sd-dl-text",
            )
        super().__init__(name, spec, self.text, spec.get("x-pattern-hint", ""), required)

    def value(self) -> Any:
        return self.text.value or None


class NumbersField(Field):
    """A list of numbers (times, values), typed or pasted; empty: none."""

    def __init__(self, name: str, spec: Mapping[str, Any], required: bool) -> None:
        default = spec.get("default") or []
        self.text = classed(
            w.Textarea(value=", ".join(_number_text(v) for v in default),
                       placeholder="numbers separated by commas, spaces or lines",
                       layout=w.Layout(width="100%", max_width="640px", height="60px")),
            "sd-dl-numbers",
        )  # fmt: skip
        super().__init__(name, spec, self.text, "", required)

    def value(self) -> Any:
        words = [t for t in re.split(r"[,\s;]+", self.text.value.strip()) if t]
        if not words:
            return None
        out: list[Any] = []
        for word in words:
            try:
                out.append(float(word))
            except ValueError:
                out.append(word)  # the schema refuses it, naming the field
        return out


class PositionField(Field):
    """A sky position: RA and Dec in degrees; "from the viewer" takes its last click."""

    def __init__(self, name: str, spec: Mapping[str, Any], required: bool,
                 position: Callable[[], tuple[float, float] | None] | None) -> None:  # fmt: skip
        self._position = position
        self.ra = classed(
            w.Text(placeholder="RA (deg)", description="RA", layout=w.Layout(width="170px"),
                   style={"description_width": "28px"}),
            "sd-dl-ra",
        )  # fmt: skip
        self.dec = classed(
            w.Text(placeholder="Dec (deg)", description="Dec", layout=w.Layout(width="170px"),
                   style={"description_width": "28px"}),
            "sd-dl-dec",
        )  # fmt: skip
        self.from_viewer = classed(
            w.Button(description="From the viewer", icon="crosshairs",
                     tooltip="the sky position last clicked in the image viewer",
                     layout=w.Layout(width="auto")),
            "sd-dl-from-viewer",
        )  # fmt: skip
        self.from_viewer.on_click(lambda _b: self.take_position())
        controls = [self.ra, self.dec] + ([self.from_viewer] if position is not None else [])
        hint = "degrees, ICRS" + ("; or click the target in the viewer" if position else "")
        super().__init__(name, spec, classed(w.HBox(controls), "sd-dl-row"), hint, required)
        if position is not None:
            self.take_position(quiet=True)

    def take_position(self, quiet: bool = False) -> None:
        """Fill RA and Dec from the viewer's last clicked position."""
        where = self._position() if self._position is not None else None
        if where is None:
            if not quiet:
                self.set_error("no position yet: click the target in the image viewer first")
            return
        self.set(*where)
        self.set_error("")

    def set(self, ra: float, dec: float) -> None:
        """Fill RA and Dec (degrees)."""
        self.ra.value = f"{ra:.6f}"
        self.dec.value = f"{dec:+.6f}"

    def value(self) -> Any:
        out: dict[str, Any] = {}
        for key, box in (("ra", self.ra), ("dec", self.dec)):
            text = box.value.strip()
            if not text:
                continue
            try:
                out[key] = float(text)
            except ValueError:
                out[key] = text
        return out or None


class _Channel(w.HBox):
    def __init__(self, owner: ChannelsField, path: str | None, color: str) -> None:
        self.file = classed(w.Dropdown(layout=w.Layout(width="300px")), "sd-dl-channel-file")
        self.color = classed(
            w.ColorPicker(value=color, concise=True, layout=w.Layout(width="48px")),
            "sd-dl-channel-color",
        )
        self.zmin = classed(
            w.Text(placeholder="black: zscale", layout=w.Layout(width="120px")), "sd-dl-zmin"
        )
        self.zmax = classed(
            w.Text(placeholder="white: zscale", layout=w.Layout(width="120px")), "sd-dl-zmax"
        )
        self.remove = classed(
            w.Button(icon="times", tooltip="remove this channel", layout=w.Layout(width="36px")),
            "sd-dl-channel-remove",
        )
        self.remove.on_click(lambda _b: owner.remove(self))
        super().__init__([self.file, self.color, self.zmin, self.zmax, self.remove])
        classed(self, "sd-dl-row", "sd-dl-channel")
        self.set_files(owner.files, path)

    def set_files(self, files: Sequence[FileChoice], path: str | None = None) -> None:
        keep = path if path is not None else self.file.value
        self.file.options = [("— pick a frame —", None)] + [(f.label, f.path) for f in files]
        self.file.value = keep if keep in [f.path for f in files] else None

    def value(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file.value, "color": self.color.value}
        for key, box in (("zmin", self.zmin), ("zmax", self.zmax)):
            text = box.value.strip()
            if text:
                try:
                    out[key] = float(text)
                except ValueError:
                    out[key] = text
        return out


class ChannelsField(Field):
    """Colour channels: a frame, a colour and optional levels each (1 to 6)."""

    def __init__(self, name: str, spec: Mapping[str, Any], files: Sequence[FileChoice],
                 picked: Sequence[str], required: bool) -> None:  # fmt: skip
        self.files = list(files)
        self.most = int(spec.get("maxItems", 6))
        self.rows = w.VBox()
        self.add_button = classed(
            w.Button(description="Add a channel", icon="plus", layout=w.Layout(width="auto")),
            "sd-dl-channel-add",
        )
        self.add_button.on_click(lambda _b: self.add())
        head = w.HTML(
            "<div class='sd-dl-muted' style='font-size:12px'>frame · colour · black level · "
            "white level (empty levels: zscale)</div>"
        )
        super().__init__(name, spec, w.VBox([head, self.rows, self.add_button]),
                         f"1 to {self.most} channels", required)  # fmt: skip
        self.prefill(picked)

    def prefill(self, picked: Sequence[str]) -> None:
        """Channels for the picked frames (else the first three), blue to red by filter."""
        chosen = [f for f in self.files if f.path in set(picked)] or self.files[:3]
        chosen = sorted(chosen[: self.most], key=_band_order)
        colors = _RGB.get(len(chosen), _RGB[3] + _MORE)
        self.rows.children = tuple(
            _Channel(self, f.path, colors[i % len(colors)]) for i, f in enumerate(chosen)
        )
        self._buttons()

    def add(self) -> None:
        """Add an empty channel (up to the most allowed)."""
        if len(self.rows.children) >= self.most:
            return
        used = len(self.rows.children)
        colors = _RGB[3] + _MORE
        self.rows.children = (*self.rows.children, _Channel(self, None, colors[used % 6]))
        self._buttons()

    def remove(self, channel: _Channel) -> None:
        """Remove one channel."""
        self.rows.children = tuple(c for c in self.rows.children if c is not channel)
        channel.close()
        self._buttons()

    def _buttons(self) -> None:
        self.add_button.disabled = len(self.rows.children) >= self.most

    def set_files(self, files: Sequence[FileChoice]) -> None:
        self.files = list(files)
        for row in self.rows.children:
            row.set_files(files)  # type: ignore[attr-defined]

    def value(self) -> Any:
        return [row.value() for row in self.rows.children]  # type: ignore[attr-defined]

    def describe_path(self, path: str) -> str:
        """``channels[2].zmax`` in words: "channel 3, White level"."""
        m = re.match(r"[^\[]*\[(\d+)\](?:\.(\w+))?", path)
        if not m:
            return ""
        item = self.spec.get("items", {}).get("properties", {})
        part = item.get(m.group(2) or "", {}).get("title", m.group(2) or "")
        return f"channel {int(m.group(1)) + 1}" + (f", {part}" if part else "")


class ResultField(Field):
    """The data of an earlier result of this session (``x-kind: operation-result``)."""

    def __init__(self, name: str, spec: Mapping[str, Any], results: Sequence[tuple[str, Any]],
                 required: bool) -> None:  # fmt: skip
        self.dropdown = classed(
            w.Dropdown(layout=w.Layout(width="100%", max_width="640px")), "sd-dl-result-select"
        )
        operation = spec.get("x-operation", "")
        hint = f"a finished {operation.replace('_', ' ')} of this session" if operation else ""
        super().__init__(name, spec, self.dropdown, hint, required)
        self.set_results(results)

    def set_results(self, results: Sequence[tuple[str, Any]]) -> None:
        """The session's results this field may take: (label, data), newest last."""
        self.results = list(results)
        self.dropdown.options = [("— none —", -1)] + [
            (label, i) for i, (label, _d) in enumerate(self.results)
        ]
        self.dropdown.value = len(self.results) - 1 if self.results else -1

    def value(self) -> Any:
        index = self.dropdown.value
        return None if index is None or index < 0 else self.results[index][1]


class JsonField(Field):
    """Anything else: typed as JSON."""

    def __init__(self, name: str, spec: Mapping[str, Any], required: bool) -> None:
        import json

        default = spec.get("default")
        self.text = classed(
            w.Text(value="" if default is None else json.dumps(default),
                   placeholder="JSON", layout=w.Layout(width="320px")),
            "sd-dl-json",
        )  # fmt: skip
        super().__init__(name, spec, self.text, "as JSON", required)

    def value(self) -> Any:
        import json

        text = self.text.value.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text


# -- the form -------------------------------------------------------------------------------


class SchemaForm(w.VBox):
    """The fields of one operation's ``input_schema``.

    Parameters
    ----------
    schema : dict
        The operation's input schema (an object schema).
    files : sequence of FileChoice
        The frames FITS fields may use.
    picked : sequence of str
        Frames picked in a gallery: the first files field starts with them.
    results : callable, optional
        ``results(operation)`` → (label, data) of the session's finished results of that
        operation (for ``x-kind: operation-result`` fields).
    position : callable, optional
        ``position()`` → (RA, Dec) the viewer last clicked, or None.
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        files: Sequence[FileChoice],
        picked: Sequence[str] = (),
        *,
        results: Callable[[str], Sequence[tuple[str, Any]]] | None = None,
        position: Callable[[], tuple[float, float] | None] | None = None,
    ) -> None:
        self.schema = schema
        self._results = results
        required = set(schema.get("required", ()))
        self.fields: dict[str, Field] = {}
        files_fields = 0
        for name, spec in schema.get("properties", {}).items():
            field = self._field(name, spec, files, picked, name in required, position,
                                first_files=files_fields == 0)  # fmt: skip
            if isinstance(field, FilesField):
                files_fields += 1
            self.fields[name] = field
        super().__init__(list(self.fields.values()))
        classed(self, "sd-dl-form")

    def _field(self, name: str, spec: Mapping[str, Any], files: Sequence[FileChoice],
               picked: Sequence[str], required: bool,
               position: Callable[[], tuple[float, float] | None] | None,
               first_files: bool) -> Field:  # fmt: skip
        kinds = _types(spec)
        kind = spec.get("x-kind")
        if "x-files" in spec:
            if "array" in kinds:
                return FilesField(name, spec, files, picked if first_files else (), required)
            # one frame beside a list (the frame to subtract): the last one, not the first
            return FileField(name, spec, files, required, prefer_last=bool(picked) or True)
        if kind == "color-channels":
            return ChannelsField(name, spec, files, picked, required)
        if kind == "sky-position":
            return PositionField(name, spec, required, position)
        if kind == "operation-result":
            found = self._results(spec.get("x-operation", "")) if self._results else []
            return ResultField(name, spec, found, required)
        if "enum" in spec:
            return ChoiceField(name, spec, required)
        if "number" in kinds or "integer" in kinds:
            return NumberField(name, spec, required)
        if "array" in kinds and spec.get("items", {}).get("type") in ("number", "integer"):
            return NumbersField(name, spec, required)
        if "string" in kinds:
            return TextField(name, spec, required)
        return JsonField(name, spec, required)

    def values(self) -> dict[str, Any]:
        """The form's values as JSON; fields left empty are left out (their default, or
        the operation says what is missing)."""
        out = {}
        for name, field in self.fields.items():
            value = field.value()
            if value is None or value == []:
                if "null" in _types(field.spec) and not field.required:
                    out[name] = None
                continue
            out[name] = value
        return out

    def set_files(self, files: Sequence[FileChoice]) -> None:
        """The frames fields may use changed."""
        for field in self.fields.values():
            field.set_files(files)

    def refresh_results(self) -> None:
        """Read the session's results again (fields that take an earlier result)."""
        for field in self.fields.values():
            if isinstance(field, ResultField) and self._results is not None:
                field.set_results(self._results(field.spec.get("x-operation", "")))

    def pick(self, paths: Sequence[str]) -> None:
        """Use ``paths`` in the first field of several frames (or the colour channels)."""
        for field in self.fields.values():
            if isinstance(field, FilesField):
                field.pick(paths)
                return
            if isinstance(field, ChannelsField):
                field.prefill(paths)
                return

    def clear_errors(self) -> None:
        """Take every error line away."""
        for field in self.fields.values():
            field.set_error("")

    def show_error(self, path: str | None, reason: str) -> bool:
        """Show ``reason`` under the field ``path`` names; False when no field is named."""
        field = self.fields.get(top_field(path) or "")
        if field is None:
            return False
        where = field.describe_path(path or "") if isinstance(field, ChannelsField) else ""
        if not where and path and path != field.name and "." in path:
            where = path.split(".", 1)[1].replace("_", " ")
        field.set_error(f"{where}: {reason}" if where else reason)
        return True

    @property
    def errors(self) -> dict[str, str]:
        """Field → the error shown under it (tests read these)."""
        return {n: f.error_text for n, f in self.fields.items() if f.error_text}


class OperationWizard(w.VBox):
    """Pick an operation, fill its form, check and run it.

    Parameters
    ----------
    operations : mapping
        Name → the operation's ``describe()`` (name, title, description, category,
        version, input_schema).
    files : callable
        ``files()`` → the :class:`FileChoice` of the session's frames (inputs and FITS
        outputs of finished operations).
    validate : callable
        ``validate(name, values)`` → the values with defaults filled; raises
        :class:`~shiftdesk.datalab.operations.OperationInputError` naming the field.
    run : callable or None
        ``run(name, values)`` → the operation's handle (returns at once); None while no
        session is open.
    results : callable, optional
        ``results(operation)`` → (label, data) of the session's finished results.
    position : callable, optional
        ``position()`` → the sky position last clicked in the viewer.
    on_started : callable, optional
        ``on_started(handle)`` once an operation was handed over.
    caller : callable
        How validation and the run are called (off the kernel's thread in a kernel: the
        operation's validation reads the frames' headers).
    """

    def __init__(
        self,
        operations: Mapping[str, Mapping[str, Any]],
        files: Callable[[], Sequence[FileChoice]],
        validate: Callable[[str, dict[str, Any]], Any],
        run: Callable[[str, dict[str, Any]], Any] | None,
        *,
        results: Callable[[str], Sequence[tuple[str, Any]]] | None = None,
        position: Callable[[], tuple[float, float] | None] | None = None,
        on_started: Callable[[Any], None] | None = None,
        caller: Caller = run_now,
    ) -> None:
        self.operations = dict(operations)
        self._files = files
        self._validate = validate
        self._run = run
        self._results = results
        self._position = position
        self.on_started = on_started
        self._caller = caller
        self.picked: list[str] = []
        self.forms: dict[str, SchemaForm] = {}
        self.busy = False
        # image operations first, then photometry, each by title
        order = sorted(
            self.operations.values(),
            key=lambda d: (d.get("category", "") != "image", d.get("title", "")),
        )
        self.picker = classed(
            w.Dropdown(
                options=[(f"{d.get('title', d['name'])} ({d.get('category', 'other')})",
                          d["name"]) for d in order],
                description="Operation", layout=w.Layout(width="auto", min_width="320px"),
                style={"description_width": "initial"},
            ),
            "sd-dl-op-picker",
        )  # fmt: skip
        self.about = classed(w.HTML(), "sd-dl-op-about")
        self.form_box = classed(w.VBox(), "sd-dl-form-box")
        self.check_button = classed(
            w.Button(description="Check inputs", icon="check", layout=w.Layout(width="auto")),
            "sd-dl-check",
        )
        self.check_button.on_click(lambda _b: self.check())
        self.run_button = classed(
            w.Button(description="Run", icon="play", button_style="primary",
                     layout=w.Layout(width="auto")),
            "sd-dl-run",
        )  # fmt: skip
        self.run_button.on_click(lambda _b: self.run())
        self.feedback = Feedback()
        super().__init__(
            [
                classed(w.HBox([self.picker, self.about]), "sd-dl-row"),
                self.form_box,
                classed(w.HBox([self.check_button, self.run_button, self.feedback]), "sd-dl-row"),
            ]
        )
        classed(self, "sd-dl-wizard")
        self.picker.observe(lambda c: self.choose(c["new"]), "value")
        if order:
            # the commonest first step, when installed
            self.choose("median" if "median" in self.operations else self.picker.value)
        else:
            self.feedback.say("warning", "no operation is installed")
        self.set_run(run)

    # -- choosing ----------------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The operation chosen."""
        return self.picker.value

    @property
    def form(self) -> SchemaForm | None:
        """The form of the operation chosen."""
        return self.forms.get(self.name or "")

    def choose(self, name: str | None) -> SchemaForm | None:
        """Show operation ``name`` and its form (built the first time)."""
        if name is None:
            return None
        if self.picker.value != name:
            self.picker.value = name  # comes back here through the observer
            return self.form
        info = self.operations[name]
        self.about.value = (
            f"<span class='sd-dl-muted'>{html.escape(info.get('description', ''))} "
            f"· version {html.escape(str(info.get('version', '')))}</span>"
        )
        form = self.forms.get(name)
        if form is None:
            try:
                files = list(self._files())
            except Exception:  # no session: the form shows with empty lists
                files = []
            form = SchemaForm(info.get("input_schema", {}), files, self.picked,
                              results=self._results, position=self._position)  # fmt: skip
            self.forms[name] = form
        else:
            form.refresh_results()
        self.form_box.children = (form,)
        self.run_button.description = f"Run {info.get('title', name).lower()}"
        if self.feedback.kind != "warning":
            self.feedback.clear()
        return form

    def set_run(self, run: Callable[[str, dict[str, Any]], Any] | None, why: str = "") -> None:
        """Set how operations run (None: the Run button is off, ``why`` says so)."""
        self._run = run
        self.run_button.disabled = run is None or self.busy
        if run is None and why:
            self.feedback.say("info", why)
        elif self.feedback.kind == "info" and run is not None:
            self.feedback.clear()

    def refresh_files(self) -> None:
        """Read the session's frames again (after an upload or a finished operation)."""
        try:
            files = list(self._files())
        except Exception:  # the lists keep what they had
            return
        for form in self.forms.values():
            form.set_files(files)
            form.refresh_results()

    def pick(self, paths: Sequence[str]) -> None:
        """Frames picked in a gallery: the chosen form uses them."""
        self.picked = list(paths)
        if self.form is not None and paths:
            self.form.pick(paths)

    # -- checking and running ----------------------------------------------------------------
    def _refused(self, exc: BaseException, doing: str) -> None:
        form = self.form
        field = getattr(exc, "field", None)
        reason = getattr(exc, "reason", None)
        if form is not None and reason and form.show_error(field, reason):
            title = form.fields[top_field(field) or ""].spec.get("title", field)
            self.feedback.say("error", f"{doing}: see {title} above")
        else:
            self.feedback.error(exc, doing)

    def check(self) -> None:
        """Check the form's values with the operation's rules; errors go under the fields."""
        name, form = self.name, self.form
        if name is None or form is None:
            return
        form.clear_errors()
        values = form.values()
        self.feedback.say("busy", "checking the inputs …")

        def ok(_checked: Any) -> None:
            self.feedback.say("info", "the inputs are fine")

        self._caller("check", lambda: self._validate(name, values), ok,
                     lambda exc: self._refused(exc, "not ready"))  # fmt: skip

    def run(self) -> None:
        """Check, then run the operation; its progress shows in the running list."""
        name, form, run = self.name, self.form, self._run
        if name is None or form is None:
            return
        if run is None:
            self.feedback.say("warning", "open or make a session first")
            return
        form.clear_errors()
        values = form.values()
        title = self.operations[name].get("title", name)
        self.busy = True
        self.run_button.disabled = True
        self.feedback.say("busy", f"checking and starting {title.lower()} …")

        def start() -> Any:
            checked = self._validate(name, values)
            return run(name, dict(checked) if isinstance(checked, Mapping) else values)

        def started(handle: Any) -> None:
            self.busy = False
            self.run_button.disabled = self._run is None
            cached = bool(getattr(handle, "cached", False))
            self.feedback.say(
                "info",
                f"{title} started" + (" (an identical earlier result is reused)" if cached
                                      else "; its progress shows under Running"),
            )  # fmt: skip
            if self.on_started is not None:
                self.on_started(handle)

        def refused(exc: BaseException) -> None:
            self.busy = False
            self.run_button.disabled = self._run is None
            self._refused(exc, "not started")

        self._caller("run", start, started, refused)
