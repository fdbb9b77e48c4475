"""A pipeline's DAG laid out for drawing: steps in layers, left to right, edges between boxes.

The layout is computed on the server (the page draws it as plain SVG, no graph library): a step's
layer is the length of the longest path from a step with no inputs, so every edge goes right;
within a layer, steps are ordered by the mean position of their parents (one barycentre pass),
which keeps most edges from crossing in the shapes pipelines take (chains, fan-out, fan-in).

Example:
    >>> layout = lay_out([("load", ()), ("train", ("load",)), ("test", ("load",))])
    >>> [(b.name, b.layer, b.row) for b in layout.boxes]
    [('load', 0, 0), ('train', 1, 0), ('test', 1, 1)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Box", "Edge", "Layout", "lay_out", "BOX_W", "BOX_H"]

BOX_W = 176
BOX_H = 54
GAP_X = 64
GAP_Y = 18
MARGIN = 12


@dataclass(frozen=True, slots=True)
class Box:
    """A step's box: its layer (column), row, and top-left corner in SVG units."""

    name: str
    layer: int
    row: int
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Edge:
    """An arrow from ``source``'s right side to ``target``'s left side, as an SVG path."""

    source: str
    target: str
    path: str


@dataclass(frozen=True, slots=True)
class Layout:
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    width: int
    height: int


def lay_out(steps: Iterable[tuple[str, Sequence[str]]]) -> Layout:
    """Lay out ``steps`` (name and the names it reads from, in a topological order; unknown
    parents are ignored, so a damaged spec still draws)."""
    order: list[str] = []
    parents: dict[str, list[str]] = {}
    for name, upstream in steps:
        if name in parents:
            continue
        # Only parents placed already: in a topological order that is all of them, and
        # anything else (a cycle in a damaged spec) cannot loop here.
        parents[name] = [p for p in dict.fromkeys(upstream) if p in parents]
        order.append(name)
    layer: dict[str, int] = {}
    for name in order:
        layer[name] = 1 + max((layer[p] for p in parents[name]), default=-1)
    columns: list[list[str]] = [[] for _ in range(1 + max(layer.values(), default=-1))]
    row: dict[str, int] = {}
    for name in order:
        columns[layer[name]].append(name)
    for column in columns:
        # Barycentre of the parents' rows (placed already: they are in earlier layers); a
        # step without parents keeps its place in the order.
        keyed = []
        for i, name in enumerate(column):
            ps = parents[name]
            centre = sum(row[p] for p in ps) / len(ps) if ps else float(i)
            keyed.append((centre, i, name))
        for r, (_, _, name) in enumerate(sorted(keyed)):
            row[name] = r
    boxes = {
        name: Box(
            name,
            layer[name],
            row[name],
            MARGIN + layer[name] * (BOX_W + GAP_X),
            MARGIN + row[name] * (BOX_H + GAP_Y),
        )
        for name in order
    }
    edges = []
    for name in order:
        target = boxes[name]
        for parent in parents[name]:
            source = boxes[parent]
            x1, y1 = source.x + BOX_W, source.y + BOX_H // 2
            x2, y2 = target.x - 6, target.y + BOX_H // 2  # room for the arrow head
            bend = max(24, (x2 - x1) // 2)
            edges.append(
                Edge(parent, name, f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}")
            )
    rows = max((len(c) for c in columns), default=0)
    width = 2 * MARGIN + max(0, len(columns) * (BOX_W + GAP_X) - GAP_X)
    height = 2 * MARGIN + max(0, rows * (BOX_H + GAP_Y) - GAP_Y)
    return Layout(tuple(boxes[n] for n in order), tuple(edges), width, height)
