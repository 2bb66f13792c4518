"""Best references: a context's rules applied to an exposure header, as the CRDS client does.

:class:`Context` holds the closure of one ``.pmap`` (its imaps and rmaps) and answers
:meth:`Context.best_references` with the same results as the ``crds`` package's local
bestrefs (``crds.core.heavy_client.hv_best_references`` after ``getrecommendations``'
parameter screening): ``{reftype: file name}``, misses as ``"NOT FOUND <reason>"``, types
an imap marks N/A as ``"NOT FOUND n/a"``, OMIT types left out.

Match/UseAfter rmaps (nearly all of them) are compiled once into a selector of our own:
Match keys conditioned and split up front (literal parts compared as strings, or-globs,
regexes and relations through the ``crds`` matchers), UseAfter dates pre-sorted for
``bisect``. CRDS's rules are followed to the letter, quirks included (see
:class:`_UseAfter`). Rmaps using features we do not compile (other selector classes,
relevance expressions, substitutions, observatory hooks) are answered by the ``crds``
package's own ``ReferenceMapping``, built from our safely parsed literals (nothing
evaluated from the file text).
"""

from __future__ import annotations

import importlib
from bisect import bisect_right
from collections.abc import Callable, Iterable
from collections.abc import Mapping as AnyMapping
from functools import lru_cache
from typing import Any

from shiftdesk.catalog.mappings import NA_VALUES, OMIT_VALUES, Mapping, Selector
from shiftdesk.errors import CatalogError

__all__ = ["Context"]

# rmap header fields whose semantics we leave to the crds package (see module docstring)
_DELEGATED_HEADER_KEYS = frozenset(
    {"rmap_relevance", "rmap_omit", "parkey_relevance", "substitutions", "comment_parkeys",
     "hooks", "merge_overlaps_expr"}
)  # fmt: skip
_COMPILED_KINDS = frozenset({"Match", "UseAfter"})


class _Lookup(Exception):
    """A selector found nothing (CRDS's CrdsLookupError: the next Match candidate is tried)."""


class _Invalid(Exception):
    """A header value is unusable (CRDS's ValidationError and friends: the lookup stops)."""


# ----------------------------------------------------------------------------- crds helpers


def _crds() -> Any:
    """The crds helper modules (imported on first use: importing crds costs ~0.3 s)."""
    from crds.core import constants, selectors, timestamp, utils

    return constants, selectors, timestamp, utils


@lru_cache(maxsize=65536, typed=True)
def _condition(value: Any) -> str:
    """CRDS's header value conditioning (upper-case, numbers as floats, ANY -> *, ...)."""
    return str(_crds()[3].condition_value(value))


@lru_cache(maxsize=65536)
def _date(raw: str, parameters: tuple[str, ...]) -> tuple[bool, str]:
    """(ok, CRDS-form date) or (False, CRDS's error text) for a raw header date."""
    try:
        return True, str(_crds()[2].reformat_date(raw))
    except Exception as exc:  # crds raises assorted errors for bad dates: all mean "invalid"
        return False, (
            f"UseAfter Invalid date/time format for {parameters!r} value = {raw!r} "
            f"exception is {str(exc)!r}"
        )


# ----------------------------------------------------------------------------- compiled selectors


class _Match:
    """A compiled ``Match``: conditioned keys, per-parameter matchers, a first-key index."""

    def __init__(self, parameters: tuple[str, ...], selector: Selector, header: dict[str, Any]):
        _constants, crds_selectors, _timestamp, _utils = _crds()
        self.parameters = tuple(str(p).upper() for p in parameters)
        self.merge_overlaps = str(header.get("merge_overlaps", "TRUE")).upper() in ("TRUE", "1")
        raw = sorted(
            (crds_selectors.MatchSelector.condition_key(key), value)
            for key, value in selector.entries
        )
        # one entry: (order, conditioned key, matchers, choice); a matcher is None for a
        # plain literal (compared inline, the common and fast case) or a crds Matcher
        self.entries: list[tuple[int, tuple[str, ...], tuple[Any, ...], Any]] = []
        for order, (key, value) in enumerate(raw):
            if len(key) != len(self.parameters):
                raise CatalogError(
                    f"Match key {key!r} has {len(key)} values for the {len(self.parameters)} "
                    f"parameters {self.parameters!r}"
                )
            matchers = tuple(
                None if _is_literal(part) else crds_selectors.matcher(part) for part in key
            )
            self.entries.append((order, key, matchers, value))
        # the values each parameter's keys use: CRDS validates header values against them
        self.valid: list[tuple[frozenset[str], list[str], bool]] = []
        for i in range(len(self.parameters)):
            values: set[str] = set()
            unchecked = False
            for _, key, _, _ in self.entries:
                if crds_selectors.esoteric_key(key[i]):
                    unchecked = True
                    break
                values |= set(crds_selectors.glob_list(key[i]))
            listed = [] if unchecked else sorted(values)
            wild = bool({"*", "ANY", "N/A"} & set(listed))
            self.valid.append((frozenset(listed), listed, wild or not listed))
        # index on the first parameter: literal value -> entries; others always tried
        self.first: dict[str, list[Any]] = {}
        self.first_other: list[Any] = []
        for entry in self.entries:
            if entry[2][0] is None and entry[1][0] not in ("*", "N/A"):
                self.first.setdefault(entry[1][0], []).append(entry)
            else:
                self.first_other.append(entry)
        self._merged: dict[tuple[int, ...], Any] = {}

    def _validate(self, name: str, value: str, valid: tuple[frozenset[str], list[str], bool]):  # type: ignore[no-untyped-def]
        """CRDS's runtime check of a header value against the values the keys use."""
        allowed, listed, anything = valid
        if value in allowed or anything:
            return
        _constants, crds_selectors, _timestamp, utils = _crds()
        if utils.condition_value(value) in allowed:
            return
        if value.startswith("NOT"):
            self._validate(name, value[len("NOT") :].strip(), valid)
            return
        if crds_selectors.esoteric_key(value) or value in ("*", "ANY", "N/A"):
            return
        if value.lower().startswith("between"):
            try:
                _btw, low, high = value.split()
            except ValueError as exc:
                raise _Invalid(str(exc)) from None
            self._validate(name, low, valid)
            self._validate(name, high, valid)
            return
        if len(listed) == 1 and ":" in listed[0]:
            low_s, high_s = listed[0].split(":")
            if float(low_s) <= float(value) <= float(high_s):
                return
            raise _Invalid(
                f" parameter={name!r} value ={value!r} is not in range "
                f"[{float(low_s)} .. {float(high_s)}]"
            )
        raise _Invalid(f" parameter={name!r} value={value!r} is not in {listed!r}")

    def choose(self, header: dict[str, str]) -> Any:
        values = [header.get(p, "UNDEFINED") for p in self.parameters]
        for name, value, valid in zip(self.parameters, values, self.valid, strict=True):
            if value not in valid[0] and not valid[2]:
                self._validate(name, value, valid)
        first = values[0]
        if first in ("*", "N/A"):
            pool: Iterable[Any] = self.entries
        else:
            pool = self.first.get(first, []) + self.first_other
        weights: dict[int, list[Any]] = {}
        for entry in pool:
            weight = 0
            for value, part, matcher in zip(values, entry[1], entry[2], strict=True):
                if matcher is None:
                    if value == part or value == "*":
                        weight += 1
                    elif value != "N/A":
                        break
                else:
                    status = matcher.match(value)
                    if status == -1:
                        break
                    weight += status
            else:
                weights.setdefault(weight, []).append(entry)
        # best (highest) weight first; equal weights are merged as CRDS does
        for weight in sorted(weights, reverse=True):
            group = sorted(weights[weight], key=lambda e: e[0])
            if len(group) > 1:
                if not self.merge_overlaps:
                    raise _Invalid("More than one match clause matched.")
                choice = self._merge(group)
            else:
                choice = group[0][3]
            if isinstance(choice, (_Match, _UseAfter)):
                try:
                    return choice.choose(header)
                except _Lookup:
                    continue
            return choice
        raise _Lookup("No match found.")

    def _merge(self, group: list[Any]) -> Any:
        ids = tuple(e[0] for e in group)
        if ids not in self._merged:
            choices = [e[3] for e in group]
            if isinstance(choices[0], _UseAfter):
                merged = choices[0]
                for other in choices[1:]:
                    merged = merged.merge(other)
            elif isinstance(choices[0], _Match):
                raise _Invalid(
                    "More than one match was found at the same weight and Match does not "
                    "support merging."
                )
            elif len(set(choices)) == 1:
                merged = choices[0]  # the same file twice: no ambiguity
            else:
                # CRDS hands back the tuple of the tied names, which is no file name; we
                # say why there is no answer instead
                tied = ", ".join(repr(c) for c in sorted(set(map(str, choices))))
                raise _Invalid(
                    f"More than one match clause matched at the same weight, selecting {tied}; "
                    "the rules are ambiguous for these parameters"
                )
            self._merged[ids] = merged
        return self._merged[ids]


def _is_literal(part: str) -> bool:
    """A Match key part compared as plain text (no glob, regex, relation, N/A)."""
    if part == "N/A" or "|" in part or "*" in part:
        return False
    if part.startswith(("(", "{", "#", ">", "<")):
        return False
    upper = part.upper()
    return not upper.startswith(("BETWEEN", "NOT "))


class _UseAfter:
    """A compiled ``UseAfter``: dates sorted once, looked up with ``bisect``.

    As CRDS does, keys are compared with the header date *as written in the rmap*, as
    text: the header date is normalised to ``'YYYY-MM-DD HH:MM:SS'`` but a key spelled
    ``'2020-01-01T00:00:00'`` is not, so (' ' sorting before 'T') an exposure during that
    day does not reach it. We keep CRDS's answer so both agree on every header.
    """

    def __init__(self, parameters: tuple[str, ...], keys: list[str], choices: list[Any]):
        self.parameters = tuple(str(p).upper() for p in parameters)
        self.keys = keys
        self.choices = choices

    @classmethod
    def from_selector(
        cls, parameters: tuple[str, ...], selector: Selector, compile_: Callable[[Any], Any]
    ) -> _UseAfter:
        items = sorted((str(k), v) for k, v in selector.entries)
        return cls(parameters, [k for k, _ in items], [compile_(v) for _, v in items])

    def merge(self, other: _UseAfter) -> _UseAfter:
        """CRDS's merge of equal-weight UseAfters: all dates; on a shared date the greater
        file name (the more recent, by CRDS naming)."""
        merged: dict[str, Any] = dict(zip(self.keys, self.choices, strict=True))
        for key, choice in zip(other.keys, other.choices, strict=True):
            if key not in merged or (
                isinstance(choice, str) and isinstance(merged[key], str) and choice > merged[key]
            ):
                merged[key] = choice
        keys = sorted(merged)
        return _UseAfter(self.parameters, keys, [merged[k] for k in keys])

    def choose(self, header: dict[str, str]) -> Any:
        parts = []
        for p in self.parameters:
            value = header.get(p, "UNDEFINED").strip()
            if value == "UNDEFINED":
                raise _Invalid(f"UseAfter parameter {p!r} is UNDEFINED.")
            parts.append(value)
        ok, date = _date(" ".join(parts), self.parameters)
        if not ok:
            raise _Invalid(date)
        index = bisect_right(self.keys, date) - 1
        if index < 0:
            raise _Lookup(f"No selection <= {date!r}")
        choice = self.choices[index]
        if isinstance(choice, (_Match, _UseAfter)):
            try:
                return choice.choose(header)
            except _Lookup as exc:
                raise _Lookup(f"All lookup attempts failed. last exception: {exc}") from None
        return choice


def _compile(mapping: Mapping) -> Callable[[dict[str, str]], Any] | None:
    """A compiled chooser for an rmap, or None when it needs the crds package."""
    header = mapping.header
    if _DELEGATED_HEADER_KEYS & header.keys():
        return None
    if _has_hooks(mapping):
        return None
    parkeys = [p if isinstance(p, tuple) else (p,) for p in mapping.parkey]
    _constants, crds_selectors, _timestamp, _utils = _crds()
    substituted = {k.upper() for k in crds_selectors.DEFAULT_SUBSTITUTIONS}
    if any(str(p).upper() in substituted for group in parkeys for p in group):
        return None

    def build(node: Any, depth: int) -> Any:
        if not isinstance(node, Selector):
            return node
        if node.kind not in _COMPILED_KINDS or depth >= len(parkeys):
            raise LookupError(node.kind)
        if node.kind == "Match":
            match = _Match(parkeys[depth], node, header)
            match.entries = [(o, k, m, build(v, depth + 1)) for (o, k, m, v) in match.entries]
            for entries in [match.first_other, *match.first.values()]:
                entries[:] = [e for e in match.entries if any(e[0] == x[0] for x in entries)]
            return match
        return _UseAfter.from_selector(parkeys[depth], node, lambda v: build(v, depth + 1))

    try:
        root = build(mapping.selector, 0)
    except LookupError:
        return None
    return root.choose


@lru_cache(maxsize=256)
def _hook_names(observatory: str, instrument: str) -> frozenset[str]:
    """Hook functions CRDS's instrument package defines (precondition/fallback headers)."""
    try:
        module = importlib.import_module(f"crds.{observatory}.{instrument}")
    except ImportError:
        return frozenset()
    return frozenset(
        n for n in dir(module) if n.startswith(("precondition_header", "fallback_header"))
    )


def _has_hooks(mapping: Mapping) -> bool:
    names = _hook_names(mapping.observatory, mapping.instrument.lower())
    suffix = f"_{mapping.instrument.lower()}_{mapping.filekind.lower()}_v1"
    if any(n.endswith(suffix) for n in names):
        return True
    try:
        locate = importlib.import_module(f"crds.{mapping.observatory}.locate")
    except ImportError:
        return False
    return hasattr(locate, "dnr_check")


def _crds_rmap(mapping: Mapping) -> Any:
    """The crds package's ReferenceMapping for ``mapping``, built from parsed literals."""
    from crds.core import rmap as crds_rmap
    from crds.core import selectors as crds_selectors

    def build(node: Any) -> Any:
        if isinstance(node, Selector):
            return crds_selectors.SELECTORS[node.kind]({k: build(v) for k, v in node.entries})
        return node

    header = crds_rmap.LowerCaseDict(mapping.header)
    selector = build(mapping.selector).instantiate(header)
    return crds_rmap.ReferenceMapping(mapping.name, header, selector)


# ----------------------------------------------------------------------------- the context


def _is_na(value: Any) -> bool:
    return isinstance(value, str) and value in NA_VALUES


def _is_omit(value: Any) -> bool:
    return isinstance(value, str) and value in OMIT_VALUES


class Context:
    """The closure of one pipeline context (.pmap): its imaps and rmaps, ready to select.

    Parameters
    ----------
    pmap : str
        The pipeline mapping's name.
    mappings : dict of str to Mapping
        Every mapping of the closure by name (:meth:`load` gathers them).
    """

    def __init__(self, pmap: str, mappings: dict[str, Mapping]) -> None:
        if pmap not in mappings:
            raise CatalogError(f"the context {pmap!r} is not among the given mappings")
        if mappings[pmap].kind != "pipeline":
            raise CatalogError(
                f"{pmap} is not a pipeline mapping (.pmap) but a {mappings[pmap].kind} one; "
                "a context starts at a .pmap"
            )
        self.pmap = pmap
        self.mappings = dict(mappings)
        root = mappings[pmap]
        self.observatory = root.observatory
        self.instrument_key = str(root.parkey[0]).upper() if root.parkey else "INSTRUME"
        # instrument (upper) -> imap name or special value
        self._imaps = {str(k).upper(): v for k, v in root.selector.items()}
        self._types: dict[str, dict[str, str]] = {}  # imap -> {reftype (lower): rmap or special}
        self._required: dict[str, list[str]] = {}  # imap -> required parkeys (upper)
        self._choosers: dict[str, Callable[[dict[str, str]], Any]] = {}
        self._delegated: dict[str, Any] = {}
        for name, mapping in self.mappings.items():
            if mapping.kind == "instrument":
                self._types[name] = {str(k).lower(): v for k, v in mapping.selector.items()}

    @classmethod
    def load(cls, pmap: str, loader: Callable[[str], Mapping]) -> Context:
        """Load the closure of ``pmap`` with ``loader(name) -> Mapping``.

        Raises
        ------
        CatalogError
            A child the loader cannot give (naming the parent and the child), a child of
            the wrong kind, or a file the loader refuses.
        """
        mappings: dict[str, Mapping] = {}
        expected = {"pipeline": "instrument", "instrument": "reference"}
        todo: list[tuple[str, str | None]] = [(pmap, None)]
        while todo:
            name, parent = todo.pop()
            if name in mappings:
                continue
            try:
                mapping = loader(name)
            except CatalogError as exc:
                where = f" (named by {parent})" if parent else ""
                raise CatalogError(f"cannot load {name}{where}: {exc}") from exc
            except (OSError, KeyError, LookupError) as exc:
                if parent is None:
                    raise CatalogError(f"the context {name} is missing ({exc})") from exc
                raise CatalogError(
                    f"{parent} names {name}, which is missing ({type(exc).__name__}: {exc}); "
                    "add the file to the catalog or fix the parent mapping"
                ) from exc
            if mapping.name != name:
                raise CatalogError(f"the loader gave {mapping.name} when asked for {name}")
            if parent is not None:
                kind = expected[mappings[parent].kind]
                if mapping.kind != kind:
                    raise CatalogError(
                        f"{parent} names {name} as a child, but it is a {mapping.kind} "
                        f"mapping, not a {kind} one"
                    )
            mappings[name] = mapping
            todo.extend((child, name) for child in reversed(mapping.mapping_children()))
        return cls(pmap, mappings)

    def __repr__(self) -> str:
        return f"Context({self.pmap!r}, {len(self.mappings)} mappings)"

    # ------------------------------------------------------------------ selection

    def _imap_for(self, header: dict[str, str]) -> str:
        from_keys = [self.instrument_key, *_crds()[0].INSTRUMENT_KEYWORDS]
        for key in from_keys:
            value = header.get(key.upper())
            if value is not None and value != "UNDEFINED":
                instrument = value.upper()
                break
        else:
            raise CatalogError(
                f"the header has no {self.instrument_key!r} keyword, which {self.pmap} needs "
                "to pick the instrument; add it"
            )
        imap = self._imaps.get(instrument)
        if imap is None:
            raise CatalogError(
                f"unknown instrument {instrument!r} for context {self.pmap} "
                f"(it knows {', '.join(sorted(self._imaps))})"
            )
        if _is_na(imap) or _is_omit(imap):
            raise CatalogError(f"instrument {instrument!r} is {imap} in {self.pmap}")
        return imap

    def _chooser(self, rmap: str) -> Callable[[dict[str, str]], Any] | None:
        if rmap not in self._choosers and rmap not in self._delegated:
            chooser = _compile(self.mappings[rmap])
            if chooser is None:
                self._delegated[rmap] = _crds_rmap(self.mappings[rmap])
            else:
                self._choosers[rmap] = chooser
        return self._choosers.get(rmap)

    def _best_ref(self, rmap: str, header: dict[str, str], imap: str) -> str | None:
        """One rmap's answer: a name, "NOT FOUND ...", or None (omitted)."""
        chooser = self._chooser(rmap)
        if chooser is None:
            minimized = {k: header.get(k, "UNDEFINED") for k in self._required_for(imap)}
            result = self._delegated[rmap].get_best_ref(minimized)
            if result is None or isinstance(result, str):
                return result
            tied = ", ".join(repr(c) for c in sorted(set(map(str, result))))
            return f"NOT FOUND More than one match clause matched, selecting {tied}"
        try:
            choice = chooser(header)
        except (_Lookup, _Invalid) as exc:
            required = str(self.mappings[rmap].header.get("reffile_required", "NONE")).upper()
            if required in ("YES", "NONE"):
                return f"NOT FOUND {exc}"
            return "NOT FOUND n/a"
        if _is_na(choice):
            return "NOT FOUND n/a"
        if _is_omit(choice):
            return None
        return choice

    def best_references(
        self, header: AnyMapping[str, Any], reftypes: Iterable[str] | None = None
    ) -> dict[str, str]:
        """The best reference of each type for an exposure ``header``.

        Parameters
        ----------
        header : mapping
            Keyword -> value; keys in any case; values str, int, float or bool (others
            are dropped, as the CRDS client does). For Roman, ``META.*`` keys are read
            as ``ROMAN.META.*`` (as the CRDS client does).
        reftypes : iterable of str, optional
            The types wanted (any case); all of the instrument's types by default.

        Returns
        -------
        dict
            Lower-case reftype -> file name, or ``"NOT FOUND <reason>"``; ``"NOT FOUND
            n/a"`` where the rules say the type does not apply; OMIT types left out.

        Raises
        ------
        CatalogError
            The header names no instrument, or one the context does not know.
        """
        conditioned: dict[str, str] = {}
        roman = self.observatory == "roman"
        for key, value in header.items():
            if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
                continue
            if roman and key.split(".", 1)[0].upper() == "META":
                key = "ROMAN." + key
            conditioned[key.upper()] = _condition(value)
        imap = self._imap_for(conditioned)
        types = self._types[imap]
        wanted = list(types) if not reftypes else [str(t).lower() for t in reftypes]
        out: dict[str, str] = {}
        for reftype in wanted:
            target = types.get(reftype)
            if target is None:
                out[reftype] = f"NOT FOUND Unknown reference type {reftype!r}"
            elif _is_na(target):
                out[reftype] = "NOT FOUND n/a"
            elif _is_omit(target):
                continue
            else:
                result = self._best_ref(target, conditioned, imap)
                if result is not None:
                    out[reftype] = result
        return out

    # ------------------------------------------------------------------ what the rules name

    def references(self) -> set[str]:
        """Every reference file the closure's rmaps name."""
        out: set[str] = set()
        for mapping in self.mappings.values():
            out.update(mapping.reference_children())
        return out

    def _rmap_parkeys(self, rmap: Mapping) -> list[str]:
        keys: list[str] = []
        for group in rmap.parkey:
            keys.extend(group if isinstance(group, tuple) else (group,))
        switch = str(rmap.header.get("reffile_switch", "NONE")).upper()
        if switch != "NONE":
            keys.append(switch)
        keys.extend(rmap.header.get("extra_keys", ()))
        try:
            package = importlib.import_module(f"crds.{rmap.observatory}")
            keys.extend(getattr(package, "extra_keys", ()))
        except ImportError:
            pass
        return [str(k).upper() for k in keys]

    def _required_for(self, imap: str) -> list[str]:
        if imap not in self._required:
            mapping = self.mappings[imap]
            keys = {str(k).upper() for k in mapping.parkey}
            keys |= {str(k).upper() for k in mapping.header.get("extra_keys", ())}
            for target in self._types[imap].values():
                if target in self.mappings:
                    keys |= set(self._rmap_parkeys(self.mappings[target]))
            self._required[imap] = [*sorted(keys), self.instrument_key]
        return self._required[imap]

    def required_parkeys(self, instrument: str | None = None) -> dict[str, list[str]]:
        """What a header must carry, per reference type (lower-case).

        Each list starts with the pmap's instrument keyword, then the rmap's parameters
        (upper-case, in rmap order). With several instruments and ``instrument`` None,
        a type's list is the union over the instruments that have it.
        """
        out: dict[str, list[str]] = {}
        for instr, imap in self._imaps.items():
            if instrument is not None and instr != instrument.upper():
                continue
            if imap not in self._types:
                continue
            for reftype, target in self._types[imap].items():
                if target not in self.mappings:
                    continue
                keys = out.setdefault(reftype, [self.instrument_key])
                for key in self._rmap_parkeys(self.mappings[target]):
                    if key not in keys:
                        keys.append(key)
        return out
