"""Layered drawing of a DAG without graphviz: layers, ordering, coordinates.

Longest-path layering puts every node one layer right of its furthest
predecessor; layers longer than a cap keep their most relevant nodes and fold
the rest into one "+N more" node; a few barycenter sweeps then order each
layer to reduce crossings. Pure Python, no database, no widgets.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Layout", "layered_layout", "MORE_PREFIX"]

MORE_PREFIX = "more:"


@dataclass(frozen=True)
class Layout:
    """Layers of node keys in drawing order, plus the edges between shown keys."""

    layers: tuple[tuple[str, ...], ...]
    edges: tuple[tuple[str, str], ...]
    hidden: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def position(self) -> dict[str, tuple[int, int]]:
        """(layer, index in layer) of every shown key."""
        return {key: (i, j) for i, layer in enumerate(self.layers) for j, key in enumerate(layer)}


def _acyclic(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The edges minus the back edges of a depth-first search (breaks cycles)."""
    succ: dict[str, list[str]] = defaultdict(list)
    for s, t in edges:
        if s != t:
            succ[s].append(t)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    back: set[tuple[str, str]] = set()
    for start in nodes:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(succ[start]))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if state.get(child) == 1:
                    back.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(succ[child])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return [(s, t) for s, t in edges if s != t and (s, t) not in back]


def _longest_path_layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    indegree = dict.fromkeys(nodes, 0)
    succ: dict[str, list[str]] = defaultdict(list)
    for s, t in edges:
        succ[s].append(t)
        indegree[t] += 1
    layer = dict.fromkeys(nodes, 0)
    queue = deque(n for n in nodes if indegree[n] == 0)
    while queue:
        node = queue.popleft()
        for child in succ[node]:
            layer[child] = max(layer[child], layer[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                queue.append(child)
    return layer


def _barycenter_sweeps(layers: list[list[str]], edges: Sequence[tuple[str, str]],
                       sweeps: int) -> None:
    """Reorder layers in place by the mean position of their neighbours."""
    pred: dict[str, list[str]] = defaultdict(list)
    succ: dict[str, list[str]] = defaultdict(list)
    for s, t in edges:
        pred[t].append(s)
        succ[s].append(t)

    # Relative positions, so layers of different sizes compare fairly.
    pos = {key: (j + 0.5) / len(layer) for layer in layers for j, key in enumerate(layer)}

    def sort_layer(index: int, neighbours: Mapping[str, list[str]]) -> None:
        layer = layers[index]
        keyed = []
        for j, key in enumerate(layer):
            near = [pos[n] for n in neighbours.get(key, ())]
            centre = sum(near) / len(near) if near else pos[key]
            # "+N more" stays at the end of its layer.
            keyed.append((key.startswith(MORE_PREFIX), centre, j, key))
        layers[index] = [k for *_, k in sorted(keyed)]
        for j, key in enumerate(layers[index]):
            pos[key] = (j + 0.5) / len(layer)

    for _ in range(sweeps):
        for i in range(1, len(layers)):
            sort_layer(i, pred)
        for i in range(len(layers) - 2, -1, -1):
            sort_layer(i, succ)


def layered_layout(nodes: Sequence[str], edges: Sequence[tuple[str, str]], *,
                   max_per_layer: int = 25, priority: Mapping[str, int] | None = None,
                   sweeps: int = 4) -> Layout:
    """Layers (left to right) of a graph, capped per layer and ordered by barycenters.

    ``priority`` ranks nodes to keep when a layer is capped (lower is kept first,
    e.g. the distance from the graph's roots).
    """
    nodes = list(dict.fromkeys(nodes))
    known = set(nodes)
    edges = [(s, t) for s, t in dict.fromkeys(edges) if s in known and t in known]
    dag = _acyclic(nodes, edges)
    layer_of = _longest_path_layers(nodes, dag)
    count = max(layer_of.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    for key in nodes:
        layers[layer_of[key]].append(key)

    rank = priority or {}
    replace: dict[str, str] = {}
    hidden: dict[str, tuple[str, ...]] = {}
    cap = max(2, max_per_layer)
    for i, layer in enumerate(layers):
        if len(layer) <= cap:
            continue
        index = {k: j for j, k in enumerate(layer)}
        ordered = sorted(layer, key=lambda k: (rank.get(k, 0), index[k]))
        keep, drop = ordered[: cap - 1], ordered[cap - 1:]
        more = f"{MORE_PREFIX}{i}"
        hidden[more] = tuple(drop)
        for key in drop:
            replace[key] = more
        kept = set(keep)
        layers[i] = [k for k in layer if k in kept] + [more]

    shown: list[tuple[str, str]] = []
    for s, t in dag:
        s, t = replace.get(s, s), replace.get(t, t)
        if s != t:
            shown.append((s, t))
    shown = list(dict.fromkeys(shown))
    _barycenter_sweeps(layers, shown, sweeps)
    return Layout(tuple(tuple(layer) for layer in layers), tuple(shown), hidden)
