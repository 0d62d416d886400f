"""Incremental spatial indexes of the scene graph: points by id, boxes by x-y footprint.

Both are uniform hash grids keyed by integer cells: an update touches one cell (a footprint the
cells it covers), and a query costs the cells it covers plus its hits, however large the map.
The scene graph keeps them current as nodes are added, moved and removed, so association,
location, ``near`` edges and change detection look only at what is near the frame.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Iterator

from memory_nodes.core.errors import InvalidInputError

Point = tuple[float, float, float]
Cell = tuple[int, int, int]

#: A footprint covering more cells than this is kept in a list checked by every query (a
#: bogus box must not fill the grid).
MAX_FOOTPRINT_CELLS = 4096
#: Cells per axis of a point grid's block (see PointIndex._blocks).
BLOCK_CELLS = 4


def _check_cell_size(cell_size: float) -> float:
    if not math.isfinite(cell_size) or cell_size <= 0:
        raise InvalidInputError(f"cell_size must be finite and > 0, got {cell_size}")
    return float(cell_size)


class PointIndex:
    """Points by id in a uniform 3D hash grid.

    Parameters
    ----------
    cell_size
        Edge of a cell in metres: about the radius of the common query.

    Points with a non-finite coordinate are kept aside and checked by every query (a node
    with a broken pose is still found when the exact test says so; there are none in practice).
    """

    def __init__(self, cell_size: float = 0.5) -> None:
        self.cell_size = _check_cell_size(cell_size)
        self._points: dict[Hashable, Point] = {}
        self._cells: dict[Cell, set[Hashable]] = {}
        self._unbounded: set[Hashable] = set()
        # Occupied cells by block of BLOCK_CELLS^3 cells: a box query over many cells walks the
        # occupied cells of the blocks it covers, not every cell it covers nor every one of
        # the map (a camera frustum covers thousands of cells).
        self._blocks: dict[Cell, set[Cell]] = {}
        # Range of cells ever occupied: queries with a huge radius clamp to it.
        self._lo: list[int] = [0, 0, 0]
        self._hi: list[int] = [-1, -1, -1]

    def __len__(self) -> int:
        return len(self._points)

    def __contains__(self, item_id: Hashable) -> bool:
        return item_id in self._points

    def point(self, item_id: Hashable) -> Point:
        return self._points[item_id]

    def _cell(self, point: Point) -> Cell | None:
        size = self.cell_size
        try:
            return (
                math.floor(point[0] / size),
                math.floor(point[1] / size),
                math.floor(point[2] / size),
            )
        except (OverflowError, ValueError):  # inf or NaN
            return None

    def insert(self, item_id: Hashable, point: Point) -> None:
        """Add ``item_id`` at ``point``, or move it there if it is already indexed."""
        if item_id in self._points:
            self.move(item_id, point)
            return
        self._points[item_id] = point
        self._add_to_cell(item_id, self._cell(point))

    def move(self, item_id: Hashable, point: Point) -> None:
        old = self._points.get(item_id)
        if old is None:
            self.insert(item_id, point)
            return
        self._points[item_id] = point
        old_cell, new_cell = self._cell(old), self._cell(point)
        if old_cell != new_cell:
            self._remove_from_cell(item_id, old_cell)
            self._add_to_cell(item_id, new_cell)

    def remove(self, item_id: Hashable) -> None:
        """Forget ``item_id``; nothing happens if it is not indexed."""
        old = self._points.pop(item_id, None)
        if old is not None:
            self._remove_from_cell(item_id, self._cell(old))

    def _add_to_cell(self, item_id: Hashable, cell: Cell | None) -> None:
        if cell is None:
            self._unbounded.add(item_id)
            return
        members = self._cells.get(cell)
        if members is None:
            self._cells[cell] = {item_id}
            block = (cell[0] // BLOCK_CELLS, cell[1] // BLOCK_CELLS, cell[2] // BLOCK_CELLS)
            occupied = self._blocks.get(block)
            if occupied is None:
                self._blocks[block] = {cell}
            else:
                occupied.add(cell)
            for axis in range(3):
                if self._hi[axis] < self._lo[axis]:
                    self._lo[axis] = self._hi[axis] = cell[axis]
                else:
                    self._lo[axis] = min(self._lo[axis], cell[axis])
                    self._hi[axis] = max(self._hi[axis], cell[axis])
        else:
            members.add(item_id)

    def _remove_from_cell(self, item_id: Hashable, cell: Cell | None) -> None:
        if cell is None:
            self._unbounded.discard(item_id)
            return
        members = self._cells.get(cell)
        if members is not None:
            members.discard(item_id)
            if not members:
                del self._cells[cell]
                block = (cell[0] // BLOCK_CELLS, cell[1] // BLOCK_CELLS, cell[2] // BLOCK_CELLS)
                occupied = self._blocks[block]
                occupied.discard(cell)
                if not occupied:
                    del self._blocks[block]

    def _candidates(self, lo: Point, hi: Point) -> Iterator[Hashable]:
        """Ids in the cells overlapping the box [lo, hi] (a superset of the answer)."""
        yield from self._unbounded
        if not self._cells:
            return
        size = self.cell_size
        ranges: list[tuple[int, int]] = []
        for axis in range(3):
            low, high = lo[axis], hi[axis]
            if math.isnan(low) or math.isnan(high) or low > high:
                return
            first = self._lo[axis] if low == -math.inf else math.floor(low / size)
            last = self._hi[axis] if high == math.inf else math.floor(high / size)
            first, last = max(first, self._lo[axis]), min(last, self._hi[axis])
            if first > last:
                return
            ranges.append((first, last))
        count = math.prod(last - first + 1 for first, last in ranges)
        cells = self._cells
        (x0, x1), (y0, y1), (z0, z1) = ranges
        if count > BLOCK_CELLS**3:  # many cells: the occupied ones of the blocks covered
            yield from self._block_candidates(ranges)
            return
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                for z in range(z0, z1 + 1):
                    members = cells.get((x, y, z))
                    if members:
                        yield from members

    def _block_candidates(self, ranges: list[tuple[int, int]]) -> Iterator[Hashable]:
        """Ids in the occupied cells within the cell ranges, found through their blocks."""
        (x0, x1), (y0, y1), (z0, z1) = ranges
        n = BLOCK_CELLS
        bx0, bx1, by0, by1, bz0, bz1 = x0 // n, x1 // n, y0 // n, y1 // n, z0 // n, z1 // n
        blocks, cells = self._blocks, self._cells
        if (bx1 - bx0 + 1) * (by1 - by0 + 1) * (bz1 - bz0 + 1) > len(blocks):
            covered: Iterable[set[Cell]] = (
                occupied
                for (bx, by, bz), occupied in blocks.items()
                if bx0 <= bx <= bx1 and by0 <= by <= by1 and bz0 <= bz <= bz1
            )
        else:
            covered = [
                occupied
                for bx in range(bx0, bx1 + 1)
                for by in range(by0, by1 + 1)
                for bz in range(bz0, bz1 + 1)
                if (occupied := blocks.get((bx, by, bz)))
            ]
        for occupied in covered:
            for cell in occupied:
                x, y, z = cell
                if x0 <= x <= x1 and y0 <= y <= y1 and z0 <= z <= z1:
                    yield from cells[cell]

    def ids_within(self, point: Point, radius: float) -> list[Hashable]:
        """Ids whose point lies within ``radius`` of ``point`` (inclusive), in no order."""
        if not radius >= 0:
            raise InvalidInputError(f"radius must be >= 0, got {radius}")
        px, py, pz = point
        limit = radius * radius
        points = self._points
        found = []
        size = self.cell_size
        try:
            x0, x1 = math.floor((px - radius) / size), math.floor((px + radius) / size)
            y0, y1 = math.floor((py - radius) / size), math.floor((py + radius) / size)
            z0, z1 = math.floor((pz - radius) / size), math.floor((pz + radius) / size)
        except (OverflowError, ValueError):
            x0 = None
        if x0 is not None and (x1 - x0 + 1) * (y1 - y0 + 1) * (z1 - z0 + 1) <= 64:
            # The common case, a ball a few cells wide: no generator, no clamping.
            cells = self._cells
            candidates: Iterable[Hashable] = [
                i
                for x in range(x0, x1 + 1)
                for y in range(y0, y1 + 1)
                for z in range(z0, z1 + 1)
                for i in cells.get((x, y, z), ())
            ]
            if self._unbounded:
                candidates = [*candidates, *self._unbounded]
        else:
            lo = (px - radius, py - radius, pz - radius)
            hi = (px + radius, py + radius, pz + radius)
            candidates = self._candidates(lo, hi)
        for item_id in candidates:
            x, y, z = points[item_id]
            if (x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2 <= limit:
                found.append(item_id)
        return found

    def ids_in_box(self, lo: Point, hi: Point) -> list[Hashable]:
        """Ids whose point lies in the box [lo, hi] (inclusive; bounds may be infinite)."""
        points = self._points
        found = []
        for item_id in self._candidates(lo, hi):
            x, y, z = points[item_id]
            if lo[0] <= x <= hi[0] and lo[1] <= y <= hi[1] and lo[2] <= z <= hi[2]:
                found.append(item_id)
        return found

    def nearest(self, point: Point, k: int = 1) -> list[Hashable]:
        """The ``k`` ids nearest ``point``, nearest first (ties by insertion order)."""
        if k < 1 or not self._points:
            return []
        radius = self.cell_size
        while True:
            found = self.ids_within(point, radius)
            if len(found) >= k or len(found) == len(self._points) - len(self._unbounded):
                break
            radius *= 2.0
        px, py, pz = point
        points = self._points

        def squared(item_id: Hashable) -> float:
            x, y, z = points[item_id]
            return (x - px) ** 2 + (y - py) ** 2 + (z - pz) ** 2

        found.sort(key=squared)
        return found[:k]


class FootprintIndex:
    """Boxes by id, found by a point in their x-y footprint (holders, rooms).

    Each box is entered in every cell its footprint (grown by ``margin``) covers, so a point
    query reads one cell; the caller makes the exact test.
    """

    def __init__(self, cell_size: float = 1.0, margin: float = 0.0) -> None:
        self.cell_size = _check_cell_size(cell_size)
        if not math.isfinite(margin) or margin < 0:
            raise InvalidInputError(f"margin must be finite and >= 0, got {margin}")
        self.margin = float(margin)
        self._cells: dict[tuple[int, int], set[Hashable]] = {}
        self._covered: dict[Hashable, tuple[int, int, int, int] | None] = {}
        self._everywhere: set[Hashable] = set()

    def __len__(self) -> int:
        return len(self._covered)

    def __contains__(self, item_id: Hashable) -> bool:
        return item_id in self._covered

    def _cover(
        self, lo: tuple[float, float], hi: tuple[float, float]
    ) -> tuple[int, int, int, int] | None:
        size, margin = self.cell_size, self.margin
        try:
            x0 = math.floor((lo[0] - margin) / size)
            y0 = math.floor((lo[1] - margin) / size)
            x1 = math.floor((hi[0] + margin) / size)
            y1 = math.floor((hi[1] + margin) / size)
        except (OverflowError, ValueError):
            return None
        if x1 < x0 or y1 < y0 or (x1 - x0 + 1) * (y1 - y0 + 1) > MAX_FOOTPRINT_CELLS:
            return None
        return x0, y0, x1, y1

    def insert(self, item_id: Hashable, lo: tuple[float, float], hi: tuple[float, float]) -> None:
        """Index (or re-index) ``item_id`` by the x-y footprint [lo, hi]."""
        cover = self._cover(lo, hi)
        if item_id in self._covered:
            if self._covered[item_id] == cover:
                return
            self.remove(item_id)
        self._covered[item_id] = cover
        if cover is None:
            self._everywhere.add(item_id)
            return
        x0, y0, x1, y1 = cover
        cells = self._cells
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                cells.setdefault((x, y), set()).add(item_id)

    def remove(self, item_id: Hashable) -> None:
        if item_id not in self._covered:
            return
        cover = self._covered.pop(item_id)
        if cover is None:
            self._everywhere.discard(item_id)
            return
        x0, y0, x1, y1 = cover
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                members = self._cells.get((x, y))
                if members is not None:
                    members.discard(item_id)
                    if not members:
                        del self._cells[(x, y)]

    def ids_at(self, x: float, y: float) -> Iterable[Hashable]:
        """Ids whose grown footprint may contain (x, y): a superset, in no order."""
        try:
            cell = (math.floor(x / self.cell_size), math.floor(y / self.cell_size))
        except (OverflowError, ValueError):
            return list(self._covered)
        members = self._cells.get(cell)
        if not self._everywhere:
            return members or ()
        return [*(members or ()), *self._everywhere]

    def ids(self) -> Iterable[Hashable]:
        return self._covered.keys()
