"""The chain of operations as a layered drawing: frames on the left, each operation one
column right of everything it used.

The drawing is SVG inside an HTML widget (no script, nothing loaded from elsewhere).
Frames that feed exactly the same operations are drawn as one box ("5 frames"), so a
session of a hundred frames still fits; hovering a box lists its frames.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w

from shiftdesk_widgets.datalab._common import STATE_COLORS, classed, state_name

#: Box size and gaps (SVG user units = px at 100 %).
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 176, 46, 64, 14, 8
#: Characters of a label that fit a box.
FIT = 24


def _short(text: str, n: int = FIT) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def layout(graph: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Boxes and links of a session's graph (``{"nodes": [...], "edges": [...]}``).

    Frames feeding the same operations are merged into one box; each operation sits one
    column right of the furthest box it uses.

    Returns
    -------
    dict
        ``boxes``: id → {x, y, label, sub, kind, status, cached, title};
        ``links``: (from id, to id) pairs; ``width``, ``height``.
    """
    nodes = {str(n["id"]): dict(n) for n in graph.get("nodes", ())}
    edges = [(str(e["from"]), str(e["to"])) for e in graph.get("edges", ())
             if str(e["from"]) in nodes and str(e["to"]) in nodes]  # fmt: skip
    # merge frames by the set of operations they feed (unused frames: one box)
    feeds: dict[str, frozenset[str]] = {}
    for nid, node in nodes.items():
        if node.get("kind") != "operation":
            feeds[nid] = frozenset(t for f, t in edges if f == nid)
    groups: dict[frozenset[str], list[str]] = {}
    for nid, targets in feeds.items():
        groups.setdefault(targets, []).append(nid)
    alias: dict[str, str] = {}
    boxes: dict[str, dict[str, Any]] = {}
    for i, (_targets, members) in enumerate(groups.items()):
        gid = f"frames:{i}"
        for m in members:
            alias[m] = gid
        names = [str(nodes[m].get("label", m)) for m in members]
        boxes[gid] = {
            "kind": "input",
            "label": _short(names[0]) if len(names) == 1 else f"{len(names)} frames",
            "sub": "frame" if len(names) == 1 else _short(", ".join(names), FIT + 4),
            "title": "\n".join(names),
            "status": "",
            "cached": False,
        }
    ops = [nid for nid, n in nodes.items() if n.get("kind") == "operation"]
    for nid in ops:
        alias[nid] = nid
        node = nodes[nid]
        number = nid.split(":", 1)[1] if ":" in nid else nid
        boxes[nid] = {
            "kind": "operation",
            "label": _short(str(node.get("title") or node.get("label", nid)).replace("_", " ")),
            "sub": f"#{number} · {state_name(node.get('status'))}"
            + (" · cached" if node.get("cached") else ""),
            "title": str(node.get("label", nid)),
            "status": state_name(node.get("status")),
            "cached": bool(node.get("cached")),
        }
    links = sorted({(alias[f], alias[t]) for f, t in edges if alias[f] != alias[t]})
    # columns: frames 0, each operation right of its sources (operations are in order)
    column: dict[str, int] = {b: 0 for b, box in boxes.items() if box["kind"] == "input"}
    for nid in ops:
        sources = [f for f, t in links if t == nid]
        column[nid] = 1 + max((column.get(s, 0) for s in sources), default=0)
    rows: dict[int, int] = {}
    for bid in [b for b in boxes if boxes[b]["kind"] == "input"] + ops:
        c = column[bid]
        r = rows.get(c, 0)
        rows[c] = r + 1
        boxes[bid]["x"] = PAD + c * (BOX_W + GAP_X)
        boxes[bid]["y"] = PAD + r * (BOX_H + GAP_Y)
    n_cols = max(column.values(), default=0) + 1
    n_rows = max(rows.values(), default=1)
    return {
        "boxes": boxes,
        "links": links,
        "width": PAD * 2 + n_cols * BOX_W + (n_cols - 1) * GAP_X,
        "height": PAD * 2 + n_rows * BOX_H + (n_rows - 1) * GAP_Y,
    }


def svg(graph: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The chain as an SVG drawing."""
    laid = layout(graph)
    boxes = laid["boxes"]
    if not boxes:
        return ""
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{laid['width']}' "
        f"height='{laid['height']}' viewBox='0 0 {laid['width']} {laid['height']}' "
        "font-family='sans-serif' role='img' aria-label='chain of operations'>",
        "<defs><marker id='sd-dl-arrow' viewBox='0 0 10 10' refX='10' refY='5' "
        "markerWidth='7' markerHeight='7' orient='auto'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#78909c'/></marker></defs>",
    ]
    for a, b in laid["links"]:
        x0, y0 = boxes[a]["x"] + BOX_W, boxes[a]["y"] + BOX_H / 2
        x1, y1 = boxes[b]["x"], boxes[b]["y"] + BOX_H / 2
        mid = (x0 + x1) / 2
        parts.append(
            f"<path d='M{x0},{y0} C{mid},{y0} {mid},{y1} {x1 - 2},{y1}' fill='none' "
            "stroke='#90a4ae' stroke-width='1.5' marker-end='url(#sd-dl-arrow)'/>"
        )
    for bid, box in boxes.items():
        if box["kind"] == "input":
            fill, ink, edge = "#eceff1", "#37474f", "#b0bec5"
        else:
            fill, ink = STATE_COLORS.get(box["status"], ("#eceff1", "#37474f"))
            edge = ink
        parts.append(
            f"<g class='sd-dl-node' data-id='{html.escape(bid, quote=True)}'>"
            f"<title>{html.escape(box['title'])}</title>"
            f"<rect x='{box['x']}' y='{box['y']}' width='{BOX_W}' height='{BOX_H}' rx='6' "
            f"fill='{fill}' stroke='{edge}' stroke-width='1.2'/>"
            f"<text x='{box['x'] + 9}' y='{box['y'] + 19}' font-size='13' font-weight='600' "
            f"fill='{ink}'>{html.escape(box['label'])}</text>"
            f"<text x='{box['x'] + 9}' y='{box['y'] + 36}' font-size='11' fill='#546e7a'>"
            f"{html.escape(box['sub'])}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


class ChainGraph(w.VBox):
    """The chain of a session's operations (frames → operations → operations)."""

    def __init__(self) -> None:
        self.drawing = classed(w.HTML(), "sd-dl-chain")
        self.legend = w.HTML(
            "<div class='sd-dl-muted' style='font-size:12px'>frames on the left; each "
            "operation right of what it used; colour: its state (hover a box for its "
            "frames)</div>"
        )
        self.graph: dict[str, Any] = {"nodes": [], "edges": []}
        super().__init__([self.legend, self.drawing])
        classed(self, "sd-dl-chain-panel")
        self.show(self.graph)

    def show(self, graph: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        """Draw ``graph`` (nodes with id, kind, label, status, cached; edges from, to)."""
        self.graph = {"nodes": list(graph.get("nodes", ())), "edges": list(graph.get("edges", ()))}
        drawing = svg(self.graph)
        self.drawing.value = (
            f"<div style='overflow-x:auto'>{drawing}</div>" if drawing
            else "<div class='sd-dl-muted'>no frame or operation yet</div>"
        )  # fmt: skip
