"""Layered layout of DAGs: longest-path layers, cycles, caps and barycenter order."""

from __future__ import annotations

import re

from lineage_magic.views.graph import render_svg
from lineage_magic.views.layout import MORE_PREFIX, layered_layout
from lineage_magic.views.lineage import GraphNode, LineageGraph


def _crossings(layout_layers: tuple[tuple[str, ...], ...], edges: list[tuple[str, str]]) -> int:
    pos = {k: (i, j) for i, layer in enumerate(layout_layers) for j, k in enumerate(layer)}
    adjacent = [(pos[s], pos[t]) for s, t in edges if pos[t][0] == pos[s][0] + 1]
    count = 0
    for a, (s1, t1) in enumerate(adjacent):
        for s2, t2 in adjacent[a + 1:]:
            if s1[0] == s2[0] and (s1[1] - s2[1]) * (t1[1] - t2[1]) < 0:
                count += 1
    return count


def test_longest_path_layering() -> None:
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("e", "d")]
    layout = layered_layout(["a", "b", "c", "d", "e"], edges)
    layer = {k: i for i, keys in enumerate(layout.layers) for k in keys}
    assert layer == {"a": 0, "e": 0, "b": 1, "c": 2, "d": 3}
    for s, t in layout.edges:
        assert layer[s] < layer[t]


def test_cycles_are_broken_and_unknown_nodes_ignored() -> None:
    layout = layered_layout(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a"), ("c", "zz")])
    assert sorted(k for layer in layout.layers for k in layer) == ["a", "b", "c"]
    assert len(layout.layers) == 3
    assert ("c", "a") not in layout.edges


def test_barycenter_removes_avoidable_crossings() -> None:
    # Left layer a,b,c feeds right layer in reverse; the initial order crosses three times.
    nodes = ["a", "b", "c", "z", "y", "x"]
    edges = [("a", "x"), ("b", "y"), ("c", "z")]
    assert _crossings((("a", "b", "c"), ("z", "y", "x")), edges) == 3
    layout = layered_layout(nodes, edges)
    assert _crossings(layout.layers, edges) == 0


def test_wide_layers_fold_into_more_nodes() -> None:
    nodes = ["root"] + [f"leaf{i}" for i in range(100)]
    edges = [("root", f"leaf{i}") for i in range(100)]
    priority = {f"leaf{i}": (0 if i >= 95 else 1) for i in range(100)}
    layout = layered_layout(nodes, edges, max_per_layer=10, priority=priority)
    assert len(layout.layers[1]) == 10
    assert layout.layers[1][-1] == f"{MORE_PREFIX}1"
    assert len(layout.hidden[f"{MORE_PREFIX}1"]) == 91
    # The preferred (priority 0) leaves are the ones kept.
    assert {f"leaf{i}" for i in range(95, 100)} <= set(layout.layers[1])
    assert ("root", f"{MORE_PREFIX}1") in layout.edges


def test_thousand_node_graph_renders_capped() -> None:
    kinds = ("cell", "name", "artifact", "file", "run")
    nodes, edges = [], []
    for r in range(10):
        for j in range(100):
            key = f"{kinds[r % 5]}:n{r}_{j}"
            nodes.append(GraphNode(key, kinds[r % 5], f"n{r}_{j}", f"n{r}.{j}", "upstream", r))
            if r:
                edges.append((f"{kinds[(r - 1) % 5]}:n{r - 1}_{j}", key))
    graph = LineageGraph("big", 10, tuple(nodes), tuple(edges), (nodes[0].key,))
    svg = render_svg(graph, max_per_layer=25)
    drawn = re.findall(r'<g class="lm-node', svg)
    assert len(drawn) == 10 * 25
    assert svg.count(">+76 more</text>") == 10
    assert svg.count('data-kind="more"') == 10
