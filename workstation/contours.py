"""Planar contours to pixel masks and back, exactly, for RTSTRUCT import and export.

Why our own: the libraries that do this (OpenCV through rt-utils,
scikit-image) are large for two small algorithms, and neither round-trips
exactly. Here a mask becomes the outlines along its pixels' edges (outer
outlines and holes), and filling outlines by the even-odd rule tests pixel
centres, which never lie on such an edge: mask -> contours -> mask is the
identity. Contours drawn elsewhere fill the same way (several contours and
holes per slice, as RTSTRUCT stores them).

Coordinates are continuous pixel indices ``(x, y)`` = (column, row), pixel
centres at whole numbers. numpy only.
"""

from __future__ import annotations

import numpy as np


def fill(polygons: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Pixels (rows, columns) whose centres lie inside ``polygons`` by the even-odd rule.

    Each polygon is an (n, 2) array of (x, y) vertices, closed implicitly.
    Overlapping polygons cancel (a hole drawn inside an outline stays empty).
    """
    rows, columns = shape
    counter = np.zeros((rows, columns + 1), dtype=np.int32)
    for polygon in polygons:
        p = np.asarray(polygon, dtype=np.float64)
        if len(p) < 3:
            continue
        x0, y0 = p[:, 0], p[:, 1]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        low, high = np.minimum(y0, y1), np.maximum(y0, y1)
        first = np.maximum(np.ceil(low), 0).astype(np.int64)  # rows y with low <= y < high cross the edge
        last = np.minimum(np.ceil(high) - 1, rows - 1).astype(np.int64)
        count = np.maximum(last - first + 1, 0)
        if not count.any():
            continue
        edge = np.repeat(np.arange(len(p)), count)
        y = first[edge] + (np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count))
        x = x0[edge] + (y - y0[edge]) / (y1[edge] - y0[edge]) * (x1[edge] - x0[edge])
        column = np.clip(np.floor(x).astype(np.int64) + 1, 0, columns)  # the pixels right of the crossing
        np.add.at(counter, (y, column), 1)
    return (np.cumsum(counter, axis=1)[:, :columns] & 1).astype(bool)


def outlines(mask: np.ndarray) -> list[np.ndarray]:
    """The closed outlines along the pixel edges of a 2D mask: (n, 2) arrays of (x, y) corners.

    Outer outlines run clockwise on the image (rows downwards), holes
    counter-clockwise; straight runs keep only their end corners. Pixels
    touching at a corner only are traced as separate outlines.
    """
    m = np.pad(np.asarray(mask, dtype=bool), 1)
    inside = m[1:-1, 1:-1]
    r, c = np.nonzero(inside)
    # Each foreground pixel's sides that face background, as directed edges between corner points, the pixel
    # on the right-hand side: top (left to right), right (down), bottom (right to left), left (up).
    sides = (
        (~m[:-2, 1:-1], (0, 0), (1, 0)),
        (~m[1:-1, 2:], (1, 0), (1, 1)),
        (~m[2:, 1:-1], (1, 1), (0, 1)),
        (~m[1:-1, :-2], (0, 1), (0, 0)),
    )
    starts, ends = [], []
    for open_side, (ax, ay), (bx, by) in sides:
        hit = open_side[r, c]
        x, y = c[hit], r[hit]
        starts.append(np.column_stack([x + ax, y + ay]))
        ends.append(np.column_stack([x + bx, y + by]))
    if not r.size:
        return []
    start = np.concatenate(starts)
    end = np.concatenate(ends)
    following = _following(start, end, mask.shape[1] + 2).tolist()
    used = [False] * len(start)
    loops = []
    for first in range(len(start)):
        if used[first]:
            continue
        loop = []
        edge = first
        while not used[edge]:
            used[edge] = True
            loop.append(edge)
            edge = following[edge]
        loops.append(_corners(start[loop].astype(np.float64) - 0.5))
    return loops


def _following(start: np.ndarray, end: np.ndarray, width: int) -> np.ndarray:
    """For each edge, the edge leaving where it ends; where two outlines touch at a corner, the right turn.

    Every corner has as many edges in as out, and the right turn pairs them
    one to one, so following edges walks closed loops.
    """
    key = start[:, 1] * width + start[:, 0]
    order = np.argsort(key, kind="stable")
    sorted_keys = key[order]
    end_key = end[:, 1] * width + end[:, 0]
    lo = np.searchsorted(sorted_keys, end_key, "left")
    hi = np.searchsorted(sorted_keys, end_key, "right")
    first = order[lo]
    second = order[np.minimum(lo + 1, len(order) - 1)]
    direction = end - start
    right_turn = np.column_stack([-direction[:, 1], direction[:, 0]])  # on the image, rows downwards
    first_turns_right = np.all(direction[first] == right_turn, axis=1)
    return np.where((hi - lo > 1) & ~first_turns_right, second, first)


def _corners(loop: np.ndarray) -> np.ndarray:
    """The loop without the points in the middle of straight runs."""
    before = np.roll(loop, 1, axis=0)
    after = np.roll(loop, -1, axis=0)
    a, b = loop - before, after - loop
    return loop[a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] != 0]
