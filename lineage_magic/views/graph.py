"""The lineage graph view: a layered DAG drawn as inline SVG, with a depth control.

The SVG is self-contained (no script, no fonts or styles from the internet);
every node is a ``<g>`` carrying ``data-kind`` and ``data-id`` so a page or a
test can find it. The interactive form adds a depth slider and a picker that
opens any node in the record view; no JavaScript of ours is involved.
"""

from __future__ import annotations

from typing import Any

from ..store.engine import Store
from .html import esc, wrap
from .layout import MORE_PREFIX, Layout, layered_layout
from .lineage import LineageGraph, lineage_graph
from .record import RecordView, in_kernel, mimebundle

__all__ = ["GraphView", "render_svg", "SHAPES"]

NODE_W = 190
NODE_H = 34
GAP_X = 70
GAP_Y = 12
MARGIN = 16
LABEL_CHARS = 27

# kind -> (fill, stroke); shapes are drawn in _shape.
SHAPES: dict[str, tuple[str, str]] = {
    "cell": ("#dbeafe", "#1d4ed8"),
    "name": ("#dcfce7", "#15803d"),
    "artifact": ("#ffedd5", "#c2410c"),
    "file": ("#f3f4f6", "#4b5563"),
    "run": ("#ede9fe", "#6d28d9"),
    "more": ("#ffffff", "#9ca3af"),
}


def _shape(kind: str, x: float, y: float, stroke_width: float) -> str:
    fill, stroke = SHAPES.get(kind, SHAPES["more"])
    w, h = NODE_W, NODE_H
    paint = f'fill="{fill}" stroke="{stroke}" stroke-width="{stroke_width}"'
    if kind == "name":
        return f'<ellipse cx="{x + w / 2}" cy="{y + h / 2}" rx="{w / 2}" ry="{h / 2}" {paint}/>'
    if kind == "artifact":
        d = 12
        points = (f"{x + d},{y} {x + w - d},{y} {x + w},{y + h / 2} {x + w - d},{y + h} "
                  f"{x + d},{y + h} {x},{y + h / 2}")
        return f'<polygon points="{points}" {paint}/>'
    if kind == "file":
        d = 10
        points = f"{x},{y} {x + w - d},{y} {x + w},{y + d} {x + w},{y + h} {x},{y + h}"
        fold = f"{x + w - d},{y} {x + w - d},{y + d} {x + w},{y + d}"
        return f'<polygon points="{points}" {paint}/><polyline points="{fold}" fill="none" ' \
               f'stroke="{stroke}"/>'
    if kind == "run":
        d = 10
        points = f"{x + d},{y} {x + w},{y} {x + w - d},{y + h} {x},{y + h}"
        return f'<polygon points="{points}" {paint}/>'
    if kind == "more":
        return (f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" {paint} '
                f'stroke-dasharray="4 3"/>')
    return f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="3" {paint}/>'


def _clip(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _layout(graph: LineageGraph, max_per_layer: int) -> Layout:
    priority = {n.key: n.distance for n in graph.nodes}
    return layered_layout([n.key for n in graph.nodes], graph.edges,
                          max_per_layer=max_per_layer, priority=priority)


def render_svg(graph: LineageGraph, *, max_per_layer: int = 25,
               layout: Layout | None = None) -> str:
    """The graph as a standalone inline ``<svg>``; every recorded string escaped."""
    layout = layout or _layout(graph, max_per_layer)
    nodes = {n.key: n for n in graph.nodes}
    tallest = max((len(layer) for layer in layout.layers), default=0)
    height = 2 * MARGIN + tallest * (NODE_H + GAP_Y)
    width = 2 * MARGIN + len(layout.layers) * (NODE_W + GAP_X) - GAP_X
    coords: dict[str, tuple[float, float]] = {}
    for i, layer in enumerate(layout.layers):
        # Centre short layers vertically against the tallest one.
        top = MARGIN + (tallest - len(layer)) * (NODE_H + GAP_Y) / 2
        for j, key in enumerate(layer):
            coords[key] = (MARGIN + i * (NODE_W + GAP_X), top + j * (NODE_H + GAP_Y))

    paths = []
    for source, target in layout.edges:
        (x1, y1), (x2, y2) = coords[source], coords[target]
        x1, y1, x2, y2 = x1 + NODE_W, y1 + NODE_H / 2, x2, y2 + NODE_H / 2
        bend = max(20.0, (x2 - x1) / 2)
        paths.append(
            f'<path d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} '
            f'{x2:.1f},{y2:.1f}" fill="none" stroke="#9ca3af" stroke-width="1.2" '
            f'marker-end="url(#lm-arrow)"/>'
        )

    shapes = []
    for key, (x, y) in coords.items():
        if key.startswith(MORE_PREFIX):
            hidden = layout.hidden.get(key, ())
            kind, rid, side = "more", "", "more"
            label = full = f"+{len(hidden)} more"
        else:
            node = nodes[key]
            kind, rid, side, full = node.kind, node.id, node.side, node.label
            label = _clip(full)
        width_stroke = 3 if side == "root" else 1.2
        shapes.append(
            f'<g class="lm-node lm-{esc(kind)} lm-{esc(side)}" data-kind="{esc(kind)}" '
            f'data-id="{esc(rid)}" data-side="{esc(side)}">'
            f"<title>{esc(kind)}: {esc(full)}</title>"
            f"{_shape(kind, x, y, width_stroke)}"
            f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + 4}" text-anchor="middle" '
            f'font-size="11" font-family="sans-serif" fill="#111">{esc(label)}</text></g>'
        )

    defs = (
        '<defs><marker id="lm-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#9ca3af"/></marker></defs>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lm-graph" width="{max(width, 1)}" '
        f'height="{max(height, 1)}" viewBox="0 0 {max(width, 1)} {max(height, 1)}" '
        f'role="img" aria-label="{esc(graph.title)}">{defs}{"".join(paths)}'
        f'{"".join(shapes)}</svg>'
    )


def _legend() -> str:
    items = "".join(
        f'<span style="display:inline-block;margin-right:10px"><span style="display:inline-block;'
        f"width:10px;height:10px;background:{fill};border:1px solid {stroke};"
        f'margin-right:3px"></span>{kind}</span>'
        for kind, (fill, stroke) in SHAPES.items() if kind != "more"
    )
    return f'<div class="lm-muted" style="margin:4px 0">{items} · thick border: start</div>'


class GraphView:
    """Lineage of a variable, node, artifact, cell or run, with a depth control."""

    def __init__(self, store: Store, kind: str, target: str, *, depth: int = 3,
                 run: str | None = None, max_per_layer: int = 25) -> None:
        self._store = store
        self.kind = kind
        self.target = target
        self.run = run
        self.max_per_layer = max_per_layer
        self.graph: LineageGraph = lineage_graph(store, kind, target, depth=depth, run=run)
        self.layout: Layout = _layout(self.graph, max_per_layer)
        self.record_view: RecordView | None = None
        self._root: Any = None
        self.depth_slider: Any = None
        self.picture: Any = None
        self.picker: Any = None
        self.open_button: Any = None
        self._slot: Any = None

    @property
    def depth(self) -> int:
        """How many hops upstream and downstream the graph reaches."""
        return self.graph.depth

    def set_depth(self, depth: int) -> LineageGraph:
        """Recompute the graph to another depth."""
        self.graph = lineage_graph(self._store, self.kind, self.target, depth=depth, run=self.run)
        self.layout = _layout(self.graph, self.max_per_layer)
        self._refresh()
        return self.graph

    def open(self, key: str) -> RecordView:
        """Open a graph node (by key, e.g. ``cell:ID``) in the record view below."""
        node = self.graph.node(key)
        if self.record_view is None:
            self.record_view = RecordView(self._store, node.record_kind, node.id)
        else:
            self.record_view.open(node.record_kind, node.id)
        if self._slot is not None:
            self._slot.children = (self.record_view.widget,)
        return self.record_view

    def svg(self) -> str:
        """The graph as inline SVG."""
        return render_svg(self.graph, layout=self.layout)

    def html(self) -> str:
        """Title, legend and SVG as static HTML."""
        graph = self.graph
        note = " (truncated: too many nodes)" if graph.truncated else ""
        head = (
            f"<h3>Lineage of {esc(graph.title)}</h3>"
            f'<div class="lm-muted">depth {graph.depth}: {len(graph.keys("upstream"))} upstream, '
            f'{len(graph.keys("downstream"))} downstream{esc(note)}</div>'
        )
        return wrap(f'{head}{_legend()}<div style="overflow:auto">{self.svg()}</div>')

    def __repr__(self) -> str:
        graph = self.graph
        return (f"Lineage of {graph.title}: depth {graph.depth}, {len(graph.nodes)} nodes, "
                f"{len(graph.edges)} edges")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return mimebundle(repr(self), self.html(), self.widget if in_kernel() else None)

    @property
    def widget(self) -> Any:
        """The ipywidgets form, built on first use."""
        if self._root is None:
            import ipywidgets as w

            self.depth_slider = w.IntSlider(value=self.graph.depth, min=0, max=10,
                                            description="depth", continuous_update=False)
            self.depth_slider.observe(lambda change: self.set_depth(change["new"]), names="value")
            self.picture = w.HTML()
            self.picker = w.Dropdown(description="node", layout=w.Layout(width="480px"))
            self.open_button = w.Button(description="Open", layout=w.Layout(width="auto"))
            self.open_button.on_click(lambda _b: self.picker.value and self.open(self.picker.value))
            self._slot = w.VBox()
            self._root = w.VBox([
                self.depth_slider, self.picture, w.HBox([self.picker, self.open_button]),
                self._slot,
            ])
            self._refresh()
        return self._root

    def _refresh(self) -> None:
        if self._root is None:
            return
        self.picture.value = self.html()
        shown = {key for layer in self.layout.layers for key in layer}
        self.picker.options = [
            (f"{n.kind}: {n.label}", n.key) for n in self.graph.nodes if n.key in shown
        ]
        if self.depth_slider.value != self.graph.depth:
            self.depth_slider.value = self.graph.depth
