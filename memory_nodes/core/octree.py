"""Sparse octree spatial index: occupancy per voxel, semantics and time where they exist, no ROS.

Leaf cells are keyed by Morton (Z-order) codes over a cubic extent of ``2**depth`` cells per
axis. The octree is implicit: the key of an ancestor ``level`` steps up is ``key >> 3 * level``
and every node covers one contiguous key range. Leaves are stored in bricks, the level-2 nodes
of 4 x 4 x 4 cells, each holding 64 float32 log-odds (NaN = unknown); the Morton-sorted brick
keys are a linear octree that box and radius queries descend, pruning empty nodes and taking
nodes inside the query whole. Free space seen by a depth camera is dense, so a known cell costs
about 5 bytes of brick instead of a key, a value and a hash slot (OctoMap gets its 8-11 bytes a
cell by pruning uniform free space instead). Stamps, labels, object ids and their confidences
live in a side table keyed by leaf key, only for cells holding occupied evidence or semantics.
Coarser levels are read with OctoMap's rule (a node's value is the maximum of its children).

Every brick records the version of its last change, so :meth:`SparseOctree.pop_changes` and the
cached 2D projection (:meth:`SparseOctree.project_2d`) revisit only bricks changed since.

Occupancy follows OctoMap's sensor model: probabilities at the API, float32 log-odds inside,
clamping, and the per-scan rule that each cell is updated at most once and a cell that is an
endpoint of the scan is never cleared by another ray of that scan. With the default extent the
grid coincides with OctoMap's (keys centred at 0), so both maps can be compared cell by cell.

Unknown is a value (-1), never an exception.
"""

from __future__ import annotations

import json
import math
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from memory_nodes.core import octree_kernels as _k
from memory_nodes.core.errors import InvalidInputError

__all__ = [
    "FORMAT_MAGIC",
    "FORMAT_VERSION",
    "ChangeSet",
    "FrontierClusters",
    "InsertStats",
    "OccupancyGrid2D",
    "RayHit",
    "SparseOctree",
    "VoxelSet",
    "morton_decode",
    "morton_encode",
    "probability_to_logodds",
]

UNKNOWN = -1
FREE = 0
OCCUPIED = 1

FORMAT_MAGIC = b"MNOCTREE"
FORMAT_VERSION = 2
_MAX_DEPTH = 21  # 3 * 21 = 63 bits keep Morton keys positive in int64


def probability_to_logodds(p: float) -> float:
    """Log-odds of a probability, rounded to float32 like OctoMap stores it."""
    return float(np.float32(math.log(p / (1.0 - p))))


def morton_encode(ijk: ArrayLike) -> NDArray[np.int64]:
    """Morton keys of integer cell coordinates ``(n, 3)``; each must be in ``[0, 2**21)``."""
    arr = np.ascontiguousarray(ijk, dtype=np.int64)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"cell coordinates must have shape (n, 3), got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= 1 << _MAX_DEPTH):
        raise ValueError("cell coordinates must lie in [0, 2**21)")
    return _k.morton_encode_array(arr)


def morton_decode(keys: ArrayLike) -> NDArray[np.int64]:
    """Integer cell coordinates ``(n, 3)`` of Morton keys."""
    arr = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)
    return _k.morton_decode_array(arr)


@dataclass(frozen=True)
class InsertStats:
    """What one insertion did; dropped points are counted here instead of raising."""

    points_in: int
    dropped_nonfinite: int
    dropped_outside_extent: int
    beyond_max_range: int
    occupied_updates: int
    free_updates: int


@dataclass(frozen=True)
class VoxelSet:
    """Cells returned by a query, as parallel arrays (one row per cell)."""

    keys: NDArray[np.int64]
    centers: NDArray[np.float64]
    states: NDArray[np.int8]
    labels: NDArray[np.int16]
    object_ids: NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.keys.shape[0])


@dataclass(frozen=True)
class RayHit:
    """Result of :meth:`SparseOctree.cast_ray`.

    ``hit`` is True only for an occupied cell; ``stopped_at_unknown`` tells a planner that the
    ray left known space, which is a different answer from "free up to the range".
    """

    hit: bool
    stopped_at_unknown: bool
    point: NDArray[np.float64]
    key: int
    distance: float


@dataclass(frozen=True)
class FrontierClusters:
    """Frontier cells grouped into connected clusters, largest first."""

    centroids: NDArray[np.float64]
    sizes: NDArray[np.int64]
    cell_centers: NDArray[np.float64]
    cell_cluster: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.sizes.shape[0])


@dataclass(frozen=True)
class OccupancyGrid2D:
    """A 2D projection: ``data[row=y, col=x]`` in {-1, 0, 1}, ``origin`` is the (x, y) corner."""

    data: NDArray[np.int8]
    origin: tuple[float, float]
    resolution: float


@dataclass(frozen=True)
class ChangeSet:
    """Cells whose occupancy state changed since the previous :meth:`SparseOctree.pop_changes`."""

    keys: NDArray[np.int64]
    centers: NDArray[np.float64]
    states: NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.keys.shape[0])


def _as_points(points: ArrayLike, name: str = "points") -> NDArray[np.float64]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 3:
        arr = arr.reshape(1, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {arr.shape}")
    return np.ascontiguousarray(arr)


def _as_vec3(v: ArrayLike, name: str) -> NDArray[np.float64]:
    # contiguous, so a column of a pose matrix does not make the kernels compile another variant
    arr = np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
    if arr.shape != (3,):
        raise ValueError(f"{name} must be a 3-vector, got shape {np.shape(v)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def _next_pow2(x: int) -> int:
    return 1 << max(4, int(x - 1).bit_length())


class SparseOctree:
    """Probabilistic sparse voxel octree with semantics, time and change tracking.

    Parameters
    ----------
    resolution
        Leaf edge length in metres.
    depth
        Number of octree levels; the extent is ``2**depth`` leaves per axis (at most 21).
    origin
        Minimum corner of the extent. ``None`` centres it at 0 as OctoMap does, which makes the
        two grids coincide. Other values are snapped down to a multiple of ``resolution`` so
        cell boundaries always sit on that lattice.
    prob_hit, prob_miss, clamp_min, clamp_max, occupancy_threshold
        OctoMap's sensor model and its defaults.
    static_decay_rate, movable_decay_rate
        Log-odds per second by which positive (occupied) evidence fades towards unknown for
        cells not re-observed. Static structure keeps its evidence by default; cells labelled
        with one of ``movable_labels`` fade, because the things they hold get moved.
    movable_labels
        Semantic labels whose cells use ``movable_decay_rate``.
    label_rate
        Step of the label and object-id confidence update (see :meth:`insert_point_cloud`).
    clock
        Time source used when ``stamp`` is omitted.
    """

    def __init__(
        self,
        resolution: float = 0.05,
        depth: int = 16,
        origin: ArrayLike | None = None,
        prob_hit: float = 0.7,
        prob_miss: float = 0.4,
        clamp_min: float = 0.12,
        clamp_max: float = 0.97,
        occupancy_threshold: float = 0.5,
        static_decay_rate: float = 0.0,
        movable_decay_rate: float = 0.05,
        movable_labels: Iterable[int] = (),
        label_rate: float = 0.3,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (resolution > 0.0 and math.isfinite(resolution)):
            raise ValueError(f"resolution must be positive, got {resolution}")
        if not (1 <= int(depth) <= _MAX_DEPTH):
            raise ValueError(f"depth must be in [1, {_MAX_DEPTH}], got {depth}")
        for name, p in (("prob_hit", prob_hit), ("prob_miss", prob_miss)):
            if not 0.0 < p < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {p}")
        if prob_hit <= 0.5 or prob_miss >= 0.5:
            raise ValueError("prob_hit must exceed 0.5 and prob_miss must be below 0.5")
        if not 0.0 < clamp_min < occupancy_threshold < clamp_max < 1.0:
            raise ValueError("need 0 < clamp_min < occupancy_threshold < clamp_max < 1")
        if static_decay_rate < 0.0 or movable_decay_rate < 0.0:
            raise ValueError("decay rates must be non-negative")
        if not 0.0 < label_rate < 1.0:
            raise ValueError(f"label_rate must be in (0, 1), got {label_rate}")
        self.resolution = float(resolution)
        self.depth = int(depth)
        self._inv_res = 1.0 / self.resolution
        self._n_axis = 1 << self.depth
        if origin is None:
            self._key_offset = -(self._n_axis // 2)
        else:
            o = _as_vec3(origin, "origin")
            offsets = np.floor(o / self.resolution + 1e-9).astype(np.int64)
            if not np.all(offsets == offsets[0]):
                raise ValueError("origin must have equal x, y, z (a cubic extent corner)")
            self._key_offset = int(offsets[0])
        self.prob_hit = float(prob_hit)
        self.prob_miss = float(prob_miss)
        self.clamp_min = float(clamp_min)
        self.clamp_max = float(clamp_max)
        self.occupancy_threshold = float(occupancy_threshold)
        self._l_hit = np.float32(probability_to_logodds(prob_hit))
        self._l_miss = np.float32(probability_to_logodds(prob_miss))
        self._l_min = np.float32(probability_to_logodds(clamp_min))
        self._l_max = np.float32(probability_to_logodds(clamp_max))
        self._l_occ = np.float32(probability_to_logodds(occupancy_threshold))
        self.static_decay_rate = float(static_decay_rate)
        self.movable_decay_rate = float(movable_decay_rate)
        self.movable_labels = {int(v) for v in movable_labels}
        self.label_rate = float(label_rate)
        self._clock = clock
        self._object_names: dict[str, int] = {}
        # largest scan bounding box (in cells) deduplicated with a dense byte grid
        self.dense_scan_limit = _k.DENSE_SCAN_LIMIT
        self._allocate(0)

    # ------------------------------------------------------------------ storage
    # Bricks: ``_bkeys`` (brick key = leaf key >> 6), ``_blo`` (64 float32 log-odds per brick,
    # NaN = unknown), ``_brep`` (state last given to pop_changes), ``_bver`` (version of the
    # brick's last change: pop_changes and the 2D projection revisit only newer bricks),
    # ``_bside`` (side entries in the brick, so free bricks skip the side lookup).
    _BRICK_ARRAYS = ("_bkeys", "_blo", "_brep", "_bver", "_bside")
    # Side table, one row per cell holding occupied evidence or semantics.
    _SIDE_ARRAYS = ("_skeys", "_stamp", "_label", "_object_id", "_label_conf", "_object_conf")

    def _allocate(self, capacity: int) -> None:
        bricks = max(64, capacity // 32)
        self._n = 0
        self._nb = 0
        self._bkeys = np.empty(bricks, np.int64)
        self._blo = np.empty((bricks, _k.BRICK_CELLS), np.float32)
        self._brep = np.empty((bricks, _k.BRICK_CELLS), np.int8)
        self._bver = np.zeros(bricks, np.uint32)
        self._bside = np.zeros(bricks, np.uint8)
        self._btable = _k.table_build(self._bkeys, 0, _next_pow2(2 * bricks))
        self._allocate_side(max(64, capacity // 8))
        self._sorted_keys = np.empty(0, np.int64)  # sorted brick keys and their slots
        self._sorted_slots = np.empty(0, np.int32)
        self._n_sorted = 0
        self._removed_keys: list[NDArray[np.int64]] = []
        self._version = 1
        self._popped_version = 0
        self._projection: _ProjectionCache | None = None
        self._last_decay: float | None = None

    def _allocate_side(self, capacity: int) -> None:
        self._ns = 0
        self._skeys = np.empty(capacity, np.int64)
        self._stamp = np.empty(capacity, np.float64)
        self._label = np.empty(capacity, np.int16)
        self._object_id = np.empty(capacity, np.int32)
        self._label_conf = np.empty(capacity, np.float32)
        self._object_conf = np.empty(capacity, np.float32)
        self._stable = _k.table_build(self._skeys, 0, _next_pow2(2 * capacity))

    def _grow(self, names: tuple[str, ...], used: int, capacity: int) -> None:
        for name in names:
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), old.dtype)
            new[:used] = old[:used]
            setattr(self, name, new)

    # arrays grow by half, not double: spare capacity is memory the map does not use
    def _grow_bricks(self) -> None:
        cap = self._bkeys.shape[0] * 3 // 2
        self._grow(self._BRICK_ARRAYS, self._nb, cap)
        self._btable = _k.table_build(self._bkeys, self._nb, _next_pow2(2 * cap))

    def _grow_side(self, extra: int = 0) -> None:
        cap = max(self._skeys.shape[0] * 3 // 2, self._ns + extra)
        self._grow(self._SIDE_ARRAYS, self._ns, cap)
        self._stable = _k.table_build(self._skeys, self._ns, _next_pow2(2 * cap))

    def _sorted(self) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
        """Morton-sorted brick keys and their slots, merging bricks added since the last query."""
        if self._n_sorted < self._nb:
            new_slots = np.arange(self._n_sorted, self._nb, dtype=np.int32)
            new_keys = self._bkeys[self._n_sorted : self._nb]
            order = np.argsort(new_keys, kind="stable")
            pos = np.searchsorted(self._sorted_keys, new_keys[order])
            self._sorted_keys = np.insert(self._sorted_keys, pos, new_keys[order])
            self._sorted_slots = np.insert(self._sorted_slots, pos, new_slots[order])
            self._n_sorted = self._nb
        return self._sorted_keys, self._sorted_slots

    def _leaves(self, bslots: NDArray) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Known leaf keys and log-odds of the given bricks, in the bricks' order."""
        values = self._blo[bslots]
        known = ~np.isnan(values)
        keys = (self._bkeys[bslots][:, None] << _k.BRICK_SHIFT) | np.arange(
            _k.BRICK_CELLS, dtype=np.int64
        )
        return keys[known], values[known]

    def _all_leaves(self) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Every known leaf in Morton order with its log-odds."""
        return self._leaves(self._sorted()[1])

    def _values_of(self, keys: NDArray[np.int64]) -> NDArray[np.float32]:
        return _k.brick_values(self._btable, self._bkeys, self._blo, keys)

    def _side_slots(self, keys: NDArray[np.int64]) -> NDArray[np.int64]:
        return _k.table_find_array(self._stable, self._skeys, keys)

    def _states_from(self, values: NDArray[np.float32]) -> NDArray[np.int8]:
        out = np.where(values >= self._l_occ, OCCUPIED, FREE).astype(np.int8)
        out[np.isnan(values)] = UNKNOWN
        return out

    def _semantics_of(self, keys: NDArray[np.int64]) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        slots = self._side_slots(keys)
        known = slots >= 0
        s = slots[known]
        labels = np.full(slots.shape[0], -1, np.int16)
        objects = np.full(slots.shape[0], -1, np.int32)
        lconf = np.zeros(slots.shape[0], np.float32)
        oconf = np.zeros(slots.shape[0], np.float32)
        labels[known] = self._label[s]
        objects[known] = self._object_id[s]
        lconf[known] = self._label_conf[s]
        oconf[known] = self._object_conf[s]
        return labels, lconf, objects, oconf

    def _forget(self, keys: NDArray[np.int64]) -> None:
        """Forget known cells (they become unknown); empty bricks are dropped."""
        if keys.size == 0:
            return
        self._version += 1
        touched = _k.brick_write(
            self._btable,
            self._bkeys,
            self._blo,
            self._bver,
            keys,
            np.full(keys.size, np.nan, np.float32),
            self._version,
        )
        self._n -= int(keys.size)
        side = self._side_slots(keys)
        side = side[side >= 0]
        if side.size:
            np.subtract.at(
                self._bside,
                _k.table_find_array(self._btable, self._bkeys, self._skeys[side] >> _k.BRICK_SHIFT),
                1,
            )
            keep = np.ones(self._ns, bool)
            keep[side] = False
            n_keep = int(keep.sum())
            for name in self._SIDE_ARRAYS:
                arr = getattr(self, name)
                arr[:n_keep] = arr[: self._ns][keep]
            self._ns = n_keep
            self._stable = _k.table_build(
                self._skeys, self._ns, _next_pow2(2 * self._skeys.shape[0])
            )
        touched = np.unique(touched)
        empty = touched[np.all(np.isnan(self._blo[touched]), axis=1)]
        if empty.size:
            self._drop_bricks(empty)

    def _drop_bricks(self, bslots: NDArray[np.int64]) -> None:
        """Remove empty bricks, remembering what they last reported and where they stood."""
        rep = self._brep[bslots]
        reported = rep != UNKNOWN
        if reported.any():
            keys = (self._bkeys[bslots][:, None] << _k.BRICK_SHIFT) | np.arange(
                _k.BRICK_CELLS, dtype=np.int64
            )
            self._removed_keys.append(keys[reported])
        if self._projection is not None:
            self._projection.removed.append(self._bkeys[bslots].copy())
        keep = np.ones(self._nb, bool)
        keep[bslots] = False
        n_keep = int(keep.sum())
        for name in self._BRICK_ARRAYS:
            arr = getattr(self, name)
            arr[:n_keep] = arr[: self._nb][keep]
        self._nb = n_keep
        self._btable = _k.table_build(self._bkeys, self._nb, _next_pow2(2 * self._bkeys.shape[0]))
        order = np.argsort(self._bkeys[: self._nb], kind="stable")
        self._sorted_keys = self._bkeys[: self._nb][order]
        self._sorted_slots = order.astype(np.int32)
        self._n_sorted = self._nb

    # ------------------------------------------------------------------ keys and geometry
    @property
    def num_cells(self) -> int:
        """Number of known leaf cells."""
        return self._n

    def __len__(self) -> int:
        return self._n

    @property
    def origin(self) -> NDArray[np.float64]:
        """Minimum corner of the extent."""
        return np.full(3, self._key_offset * self.resolution)

    @property
    def extent_size(self) -> float:
        """Edge length of the cubic extent in metres."""
        return self._n_axis * self.resolution

    def keys_of(self, points: ArrayLike) -> NDArray[np.int64]:
        """Leaf Morton key of each point, -1 for non-finite points or points outside the extent."""
        return _k.points_to_keys(_as_points(points), self._inv_res, self._key_offset, self._n_axis)

    def cells_of(self, points: ArrayLike) -> NDArray[np.int64]:
        """Integer cell coordinates of points (no extent check)."""
        return np.floor(_as_points(points) * self._inv_res).astype(np.int64) - self._key_offset

    def centers_of(self, keys: ArrayLike, level: int = 0) -> NDArray[np.float64]:
        """Centres of cells given by keys at ``level`` (0 = leaves, a node covers 2**level)."""
        ijk = morton_decode(keys)
        size = 1 << level
        return ((ijk * size + self._key_offset).astype(np.float64) + 0.5 * size) * self.resolution

    # ------------------------------------------------------------------ insertion
    def insert_point_cloud(
        self,
        points: ArrayLike,
        origin: ArrayLike,
        max_range: float = -1.0,
        labels: ArrayLike | None = None,
        object_ids: ArrayLike | Sequence[str | None] | None = None,
        stamp: float | None = None,
        endpoints_only: bool = False,
        discretize: bool = False,
    ) -> InsertStats:
        """Integrate one scan with ray casting, as OctoMap's insertPointCloud.

        Each endpoint cell gets one hit; each cell a ray passes through gets one miss, unless it
        is an endpoint of the same scan (so thin structure seen by some rays is not erased by
        neighbouring grazing rays). Points farther than ``max_range`` (when >= 0) clear along the
        ray up to the range and mark nothing occupied. Non-finite points and rays ending outside
        the extent are dropped and counted. When ``stamp`` is given and decay is enabled, decay
        is applied up to ``stamp`` first.

        ``discretize`` is OctoMap's ``discretize=true`` (computeDiscreteUpdate): every point
        stands for the centre of its cell (a float32 point, as OctoMap keeps it) and one ray is
        cast per distinct cell, to that centre. A dense cloud (many points per cell, as from a
        depth camera) then costs a ray per cell instead of a ray per point. The range test is
        the centre's, so a point just inside ``max_range`` whose centre lies beyond it clears
        instead of hitting, and the other way round; a point outside the extent has no cell and
        is dropped. Rays to centres pass through slightly different cells than rays to the
        points, so the map differs from the exact one near grazing rays and at the edge of what
        was seen; it equals OctoMap's discrete insert. Labels follow the same rule in both modes.

        ``labels`` (int, -1 = none) and ``object_ids`` (int, -1 = none; strings are accepted
        and mapped with :meth:`object_ids_of`) update the endpoint cells: the first labelled
        point of the scan in a cell is its observation; agreeing observations raise the
        confidence, disagreeing ones lower it and replace the value once it falls below
        ``label_rate``.
        """
        pts = _as_points(points)
        o = _as_vec3(origin, "origin")
        max_range = float(max_range)
        if not math.isfinite(max_range):
            raise ValueError("max_range must be finite (use a negative value for no limit)")
        if self.keys_of(o)[0] < 0:
            raise ValueError(f"sensor origin {o} lies outside the map extent")
        label_arr = self._point_values(labels, pts.shape[0], "labels")
        object_arr = self._object_values(object_ids, pts.shape[0])
        now = float(self._clock() if stamp is None else stamp)
        if stamp is not None:
            self.decay(now)
        status, occupied_keys, free_keys = _k.scan_cells(
            pts,
            o,
            max_range,
            self.resolution,
            self._inv_res,
            self._key_offset,
            self._n_axis,
            not endpoints_only,
            self.dense_scan_limit,
            bool(discretize),
        )
        counts = np.bincount(status, minlength=4)
        self._version += 1
        n_occ = occupied_keys.shape[0]
        if free_keys.shape[0]:
            self._update(free_keys, self._l_miss, now)
        if n_occ:
            self._update(occupied_keys, self._l_hit, now)
            if label_arr is not None or object_arr is not None:
                self._update_semantics(pts, status, label_arr, object_arr, now, n_occ)
        return InsertStats(
            points_in=int(pts.shape[0]),
            dropped_nonfinite=int(counts[2]),
            dropped_outside_extent=int(counts[3]),
            beyond_max_range=int(counts[1]),
            occupied_updates=int(n_occ),
            free_updates=int(free_keys.shape[0]),
        )

    def insert_endpoints(
        self,
        points: ArrayLike,
        origin: ArrayLike,
        max_range: float = -1.0,
        labels: ArrayLike | None = None,
        object_ids: ArrayLike | Sequence[str | None] | None = None,
        stamp: float | None = None,
    ) -> InsertStats:
        """Mark endpoint cells occupied without clearing along rays (one hit per cell per scan).

        Much cheaper than ray casting; useful for semantic updates or sensors whose free space
        is not trusted.
        """
        return self.insert_point_cloud(
            points, origin, max_range, labels, object_ids, stamp, endpoints_only=True
        )

    def _update(self, cell_keys: NDArray[np.int64], delta: np.float32, now: float) -> None:
        row = 0
        while row < cell_keys.shape[0]:
            self._nb, self._ns, new_cells, row = _k.brick_apply(
                self._btable,
                self._bkeys,
                self._nb,
                self._blo,
                self._brep,
                self._bver,
                self._bside,
                self._stable,
                self._skeys,
                self._ns,
                self._stamp,
                self._label,
                self._object_id,
                self._label_conf,
                self._object_conf,
                cell_keys,
                row,
                np.float32(delta),
                self._l_min,
                self._l_max,
                now,
                self._version,
                self._l_occ,
            )
            self._n += int(new_cells)
            if row < cell_keys.shape[0]:  # arrays full: grow and resume
                if self._nb == self._bkeys.shape[0]:
                    self._grow_bricks()
                else:
                    self._grow_side()

    def _point_values(self, values: ArrayLike | None, n: int, name: str) -> NDArray | None:
        if values is None:
            return None
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) to match points, got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
        return np.ascontiguousarray(arr, dtype=np.int64)  # no copy when it is one

    def _object_values(self, values, n: int) -> NDArray[np.int64] | None:
        if values is None:
            return None
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise ValueError(f"object_ids must have shape ({n},) to match points, got {arr.shape}")
        if np.issubdtype(arr.dtype, np.integer):
            return np.ascontiguousarray(arr, dtype=np.int64)
        if arr.dtype.kind not in "UO":
            raise ValueError(f"object_ids must be integers or strings, got dtype {arr.dtype}")
        # Compatibility path: each distinct string is mapped once (a hash pass, no sort).
        names = arr.tolist()
        table = dict(
            zip(
                distinct := list(dict.fromkeys(names)),
                self.object_ids_of(distinct).tolist(),
                strict=True,
            )
        )
        return np.fromiter(map(table.__getitem__, names), np.int64, count=n)

    def object_ids_of(self, names: Sequence[str | None]) -> NDArray[np.int64]:
        """Integer ids of string object ids (-1 for None or ""), assigned on first use.

        A node passes a frame's small name table here once and indexes the result with the
        per-point numbers, instead of sending a string per point.
        """
        return np.array([self.object_id_of(str(s)) if s else -1 for s in names], np.int64).reshape(
            -1
        )

    def object_id_of(self, name: str) -> int:
        """Integer id of a string object id, assigned on first use and kept in saved maps."""
        if name not in self._object_names:
            self._object_names[name] = len(self._object_names)
        return self._object_names[name]

    def object_name(self, object_id: int) -> str | None:
        """String behind an integer object id, or None when it was given as an int."""
        for name, value in self._object_names.items():
            if value == object_id:
                return name
        return None

    def _update_semantics(
        self, pts, status, label_arr, object_arr, now: float, n_cells: int
    ) -> None:
        none = np.empty(0, np.int64)
        keys, first_labels, first_objects = _k.first_values_per_cell(
            pts,
            status,
            none if label_arr is None else label_arr,
            none if object_arr is None else object_arr,
            self._inv_res,
            self._key_offset,
            n_cells,
        )
        slots = self._side_entries(keys, now)
        rate = np.float32(self.label_rate)
        if label_arr is not None:
            _k.apply_semantics(slots, first_labels, self._label, self._label_conf, rate)
        if object_arr is not None:
            _k.apply_semantics(slots, first_objects, self._object_id, self._object_conf, rate)

    def _side_entries(self, keys: NDArray[np.int64], now: float) -> NDArray[np.int64]:
        """Side-table slots of known cells, creating entries for those without one."""
        row = 0
        slots = np.full(keys.shape[0], -1, np.int64)
        while row < keys.shape[0]:
            self._ns, part, next_row = _k.side_entries(
                self._btable,
                self._bkeys,
                self._bside,
                self._stable,
                self._skeys,
                self._ns,
                self._stamp,
                self._label,
                self._object_id,
                self._label_conf,
                self._object_conf,
                keys,
                row,
                now,
            )
            slots[row:next_row] = part[row:next_row]
            row = next_row
            if row < keys.shape[0]:
                self._grow_side(keys.shape[0] - row)
        return slots

    # ------------------------------------------------------------------ time
    def decay(self, now: float) -> int:
        """Fade occupied evidence of cells not observed since their stamp; returns cells forgotten.

        Each cell loses ``rate * dt`` log-odds where ``dt`` runs from the later of its last
        observation and the previous decay call, so calling this often or rarely gives the same
        result. Cells whose log-odds reach 0 become unknown. Free evidence does not decay. The
        first call (or the first stamped insertion) only sets the reference time.
        """
        now = float(now)
        last = self._last_decay
        self._last_decay = now if last is None else max(now, last)
        if last is None or now <= last or self._n == 0:
            return 0
        if self.static_decay_rate == 0.0 and (
            self.movable_decay_rate == 0.0 or not self.movable_labels
        ):
            return 0
        # only cells with positive log-odds decay, and every one of them has a side entry
        ns = self._ns
        movable_values = np.fromiter(self.movable_labels, np.int64)
        if self.static_decay_rate > 0.0:
            rows = np.arange(ns)
            rate = np.full(ns, self.static_decay_rate, np.float64)
            if self.movable_labels:
                rate[np.isin(self._label[:ns], movable_values)] = self.movable_decay_rate
        else:
            # only movable cells can decay: the map's other side rows are not read
            rows = np.flatnonzero(np.isin(self._label[:ns], movable_values))
            rate = np.full(rows.size, self.movable_decay_rate, np.float64)
        keys = self._skeys[rows]
        lo = self._values_of(keys)
        cand = np.flatnonzero((lo > 0) & (rate > 0))
        if cand.size == 0:
            return 0
        dt = now - np.maximum(self._stamp[rows[cand]], last)
        dt = np.maximum(dt, 0.0)
        new = lo[cand] - (rate[cand] * dt).astype(np.float32)
        gone = new <= 0
        self._version += 1
        _k.brick_write(
            self._btable,
            self._bkeys,
            self._blo,
            self._bver,
            keys[cand[~gone]],
            new[~gone],
            self._version,
        )
        self._forget(keys[cand[gone]])
        return int(gone.sum())

    # ------------------------------------------------------------------ point queries
    def occupancy(self, points: ArrayLike, level: int = 0) -> NDArray[np.int8]:
        """State per point: -1 unknown (also outside the extent), 0 free, 1 occupied.

        At ``level > 0`` the state of the coarse node containing the point is returned, using
        OctoMap's rule that a node is as occupied as its most occupied child.
        """
        return self._states_from(self.logodds(points, level))

    def logodds(self, points: ArrayLike, level: int = 0) -> NDArray[np.float32]:
        """Log-odds per point (NaN where unknown); at ``level > 0`` the max over the node."""
        if not 0 <= level <= self.depth:
            raise ValueError(f"level must be in [0, {self.depth}], got {level}")
        keys = self.keys_of(points)
        if level == 0:
            return self._values_of(keys)
        skeys, values = self._all_leaves()
        q = np.where(keys >= 0, keys >> (3 * level), -1)
        values = _k.coarse_max(skeys, values, q, level)
        values[~np.isfinite(values)] = np.nan
        return values

    def probability(self, points: ArrayLike) -> NDArray[np.float64]:
        """Occupancy probability per point (NaN where unknown)."""
        lo = self.logodds(points).astype(np.float64)
        return 1.0 - 1.0 / (1.0 + np.exp(lo))

    def is_free(self, points: ArrayLike, unknown_is_free: bool = False) -> NDArray[np.bool_]:
        """True where a point lies in a known free cell (optimistically also in unknown ones)."""
        state = self.occupancy(points)
        return (state == FREE) | ((state == UNKNOWN) if unknown_is_free else False)

    def semantics(self, points: ArrayLike) -> tuple[NDArray, NDArray, NDArray, NDArray]:
        """``(labels, label_conf, object_ids, object_conf)`` per point; -1 / 0 where unknown."""
        return self._semantics_of(self.keys_of(points))

    def stamps(self, points: ArrayLike) -> NDArray[np.float64]:
        """Last observation time of cells that hold occupied evidence (NaN elsewhere).

        Only those cells decay, so only they keep a time: free space stores none. A cell keeps
        its time once it has one (for example after turning free again).
        """
        slots = self._side_slots(self.keys_of(points))
        out = np.full(slots.shape[0], np.nan)
        out[slots >= 0] = self._stamp[slots[slots >= 0]]
        return out

    # ------------------------------------------------------------------ region queries
    def _box_cells(self, lo: ArrayLike, hi: ArrayLike) -> tuple[NDArray, NDArray] | None:
        """Inclusive cell index range of cells whose centres lie in the box, clipped."""
        lo_v = _as_vec3(lo, "box minimum")
        hi_v = _as_vec3(hi, "box maximum")
        if np.any(lo_v > hi_v):
            raise ValueError(f"box minimum {lo_v} exceeds maximum {hi_v}")
        c_lo = np.ceil(lo_v * self._inv_res - 0.5).astype(np.int64) - self._key_offset
        c_hi = np.floor(hi_v * self._inv_res - 0.5).astype(np.int64) - self._key_offset
        c_lo = np.maximum(c_lo, 0)
        c_hi = np.minimum(c_hi, self._n_axis - 1)
        if np.any(c_lo > c_hi):
            return None
        return c_lo, c_hi

    def _box_leaves(
        self, lo: ArrayLike, hi: ArrayLike
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Known leaves (Morton order) whose centres lie in the box, with their log-odds."""
        cells = self._box_cells(lo, hi)
        if cells is None or self._n == 0:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        skeys, sslots = self._sorted()
        shift = _k.BRICK_SHIFT // 3
        starts, ends = _k.box_ranges(
            skeys, cells[0] >> shift, cells[1] >> shift, max(0, self.depth - shift)
        )
        keys, values = self._leaves(sslots[_k.expand_ranges(starts, ends)])
        ijk = morton_decode(keys)
        inside = np.all((ijk >= cells[0]) & (ijk <= cells[1]), axis=1)
        return keys[inside], values[inside]

    def _voxel_set(self, keys: NDArray[np.int64], values: NDArray[np.float32]) -> VoxelSet:
        labels, _, objects, _ = self._semantics_of(keys)
        return VoxelSet(
            keys=keys,
            centers=self.centers_of(keys),
            states=self._states_from(values),
            labels=labels,
            object_ids=objects,
        )

    def query_box(self, lo: ArrayLike, hi: ArrayLike, occupied_only: bool = False) -> VoxelSet:
        """Known cells whose centres lie in the axis-aligned box ``[lo, hi]``, in Morton order."""
        keys, values = self._box_leaves(lo, hi)
        if occupied_only:
            occ = values >= self._l_occ
            keys, values = keys[occ], values[occ]
        return self._voxel_set(keys, values)

    def query_radius(
        self, center: ArrayLike, radius: float, occupied_only: bool = False
    ) -> VoxelSet:
        """Known cells whose centres lie within ``radius`` of ``center``."""
        c = _as_vec3(center, "center")
        if not radius >= 0.0:
            raise ValueError(f"radius must be non-negative, got {radius}")
        keys, values = self._box_leaves(c - radius, c + radius)
        if keys.size:
            d2 = np.sum((self.centers_of(keys) - c) ** 2, axis=1)
            inside = d2 <= radius * radius
            keys, values = keys[inside], values[inside]
        if occupied_only:
            occ = values >= self._l_occ
            keys, values = keys[occ], values[occ]
        return self._voxel_set(keys, values)

    def objects_in_box(self, lo: ArrayLike, hi: ArrayLike) -> NDArray[np.int32]:
        """Sorted object ids present in occupied cells inside the box."""
        ids = self.query_box(lo, hi, occupied_only=True).object_ids
        return np.unique(ids[ids >= 0])

    def objects_in_radius(self, center: ArrayLike, radius: float) -> NDArray[np.int32]:
        """Sorted object ids present in occupied cells within ``radius`` of ``center``."""
        ids = self.query_radius(center, radius, occupied_only=True).object_ids
        return np.unique(ids[ids >= 0])

    def level_cells(self, level: int, occupied_only: bool = False) -> VoxelSet:
        """Known nodes at a coarser ``level`` with OctoMap's max-of-children occupancy.

        Labels and object ids are those of the node's most occupied child. ``occupied_only``
        keeps the occupied nodes, found from the side table (every occupied cell has a row
        there) without expanding the free bricks.
        """
        if not 0 <= level <= self.depth:
            raise ValueError(f"level must be in [0, {self.depth}], got {level}")
        if occupied_only:
            skeys = np.sort(self._skeys[: self._ns])
            values = self._values_of(skeys)
            occupied = values >= self._l_occ
            skeys, values = skeys[occupied], values[occupied]
        else:
            skeys, values = self._all_leaves()
        coarse = skeys >> (3 * level)
        if coarse.size == 0:
            return self._voxel_set(np.empty(0, np.int64), np.empty(0, np.float32))
        starts = np.flatnonzero(np.r_[True, coarse[1:] != coarse[:-1]])
        best = np.maximum.reduceat(values, starts)
        # the child holding the maximum gives the node its semantics
        group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, coarse.size]))
        best_keys = skeys[np.lexsort((-values, group))[starts]]
        labels, _, objects, _ = self._semantics_of(best_keys)
        keys = coarse[starts]
        return VoxelSet(
            keys=keys,
            centers=self.centers_of(keys, level),
            states=np.where(best >= self._l_occ, OCCUPIED, FREE).astype(np.int8),
            labels=labels,
            object_ids=objects,
        )

    def cast_ray(
        self,
        origin: ArrayLike,
        direction: ArrayLike,
        max_range: float = -1.0,
        stop_at_unknown: bool = False,
    ) -> RayHit:
        """Walk the grid from ``origin`` along ``direction`` to the first occupied cell.

        Unknown cells are passed through unless ``stop_at_unknown``; a negative ``max_range``
        walks to the edge of the extent.
        """
        o = _as_vec3(origin, "origin")
        d = _as_vec3(direction, "direction")
        norm = float(np.linalg.norm(d))
        if norm == 0.0:
            raise ValueError("direction must be non-zero")
        code, i, j, k, dist = _k.cast_ray_bricks(
            self._btable,
            self._bkeys,
            self._blo,
            o,
            d / norm,
            float(max_range),
            self.resolution,
            self._inv_res,
            self._key_offset,
            self._n_axis,
            self._l_occ,
            stop_at_unknown,
        )
        key = int(_k.morton_encode_array(np.array([[i, j, k]], np.int64))[0])
        inside = min(i, j, k) >= 0 and max(i, j, k) < self._n_axis
        return RayHit(
            hit=code == 1,
            stopped_at_unknown=code == -1,
            point=self.centers_of([key])[0] if inside else o + d / norm * dist,
            key=key if inside else -1,
            distance=float(dist),
        )

    def frontiers(
        self,
        lo: ArrayLike | None = None,
        hi: ArrayLike | None = None,
        min_cluster_size: int = 1,
    ) -> FrontierClusters:
        """Known free cells with an unknown 6-neighbour, grouped by 26-connectivity.

        Restricting to a box keeps the cost proportional to the region explored next.
        """
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        if lo is None or hi is None:
            keys, values = self._all_leaves()
        else:
            keys, values = self._box_leaves(lo, hi)
        keys = keys[values < self._l_occ]
        ijk = morton_decode(keys)
        frontier = _k.unknown_face_neighbour_bricks(
            self._btable, self._bkeys, self._blo, ijk, self._n_axis
        )
        keys = np.ascontiguousarray(keys[frontier])
        ijk = np.ascontiguousarray(ijk[frontier])
        m = keys.shape[0]
        empty = FrontierClusters(
            np.empty((0, 3)), np.empty(0, np.int64), np.empty((0, 3)), np.empty(0, np.int64)
        )
        if m == 0:
            return empty
        src, dst = _k.neighbour_edges(keys, ijk, self._n_axis)
        graph = coo_matrix((np.ones(src.size, np.int8), (src, dst)), shape=(m, m))
        n_comp, comp = connected_components(graph, directed=False)
        sizes = np.bincount(comp, minlength=n_comp)
        centers = self.centers_of(keys)
        sums = np.stack([np.bincount(comp, centers[:, a], n_comp) for a in range(3)], axis=1)
        centroids = sums / sizes[:, None]
        order = np.lexsort((centroids[:, 2], centroids[:, 1], centroids[:, 0], -sizes))
        order = order[sizes[order] >= min_cluster_size]
        remap = np.full(n_comp, -1, np.int64)
        remap[order] = np.arange(order.size)
        cell_cluster = remap[comp]
        keep = cell_cluster >= 0
        return FrontierClusters(
            centroids=centroids[order],
            sizes=sizes[order].astype(np.int64),
            cell_centers=centers[keep],
            cell_cluster=cell_cluster[keep],
        )

    def project_2d(
        self,
        z_min: float,
        z_max: float,
        xy_min: ArrayLike | None = None,
        xy_max: ArrayLike | None = None,
        incremental: bool = True,
    ) -> OccupancyGrid2D:
        """Project the height band a robot occupies onto a 2D navigation grid.

        A column is occupied if any cell of the band is occupied, free if the band holds free
        cells only, unknown otherwise. Without ``xy_min``/``xy_max`` the grid spans the known
        cells of the band.

        The map keeps the projection of the last band asked for and recomputes only the 4 x 4
        cell columns of bricks changed since (``incremental``); ``incremental=False`` computes
        it from all cells of the band, the reference the cache is tested against.
        """
        if not z_min <= z_max:
            raise ValueError(f"z_min {z_min} exceeds z_max {z_max}")
        big = self.extent_size
        o = self.origin
        if xy_min is None or xy_max is None:
            lo = np.array([o[0], o[1], z_min])
            hi = np.array([o[0] + big, o[1] + big, z_max])
        else:
            a = np.asarray(xy_min, np.float64).reshape(-1)
            b = np.asarray(xy_max, np.float64).reshape(-1)
            if a.shape != (2,) or b.shape != (2,):
                raise ValueError("xy_min and xy_max must be 2-vectors")
            lo = np.array([a[0], a[1], z_min])
            hi = np.array([b[0], b[1], z_max])
        if not incremental:
            return self._project_2d_full(lo, hi, xy_min is None or xy_max is None)
        band = self._box_cells(
            np.array([o[0], o[1], z_min]), np.array([o[0] + big, o[1] + big, z_max])
        )
        cells = self._box_cells(lo, hi)
        empty = OccupancyGrid2D(np.empty((0, 0), np.int8), (0.0, 0.0), self.resolution)
        if band is None or cells is None:
            return empty
        columns = self._projected_columns(int(band[0][2]), int(band[1][2]))
        if xy_min is None or xy_max is None:
            bounds = columns.known_bounds()
            if bounds is None:
                return empty
            c_lo, c_hi = bounds
        else:
            c_lo, c_hi = cells[0][:2], cells[1][:2]
        grid = columns.window(c_lo, c_hi)
        origin_xy = (np.asarray(c_lo) + self._key_offset).astype(np.float64) * self.resolution
        return OccupancyGrid2D(grid, (float(origin_xy[0]), float(origin_xy[1])), self.resolution)

    def _projected_columns(self, k_lo: int, k_hi: int) -> _ProjectionCache:
        """The cached column states of band ``k_lo..k_hi``, brought up to date."""
        cache = self._projection
        if cache is None or (cache.k_lo, cache.k_hi) != (k_lo, k_hi):
            cache = self._projection = _ProjectionCache(k_lo, k_hi)
        nb = self._nb
        dirty = np.flatnonzero(self._bver[:nb] > cache.version)
        bkeys = [self._bkeys[dirty], *cache.removed]
        cache.removed = []
        cache.version = self._version
        changed = np.concatenate(bkeys)
        if changed.size == 0:
            return cache
        bijk = morton_decode(changed)
        in_band = (bijk[:, 2] >= k_lo >> 2) & (bijk[:, 2] <= k_hi >> 2)
        cols = np.unique(bijk[in_band, 0] << 32 | bijk[in_band, 1])
        if cols.size == 0:
            return cache
        col_i = np.ascontiguousarray(cols >> 32)
        col_j = np.ascontiguousarray(cols & 0xFFFFFFFF)
        states = _k.project_columns(
            self._btable,
            self._bkeys,
            self._blo,
            col_i,
            col_j,
            k_lo >> 2,
            k_hi >> 2,
            k_lo,
            k_hi,
            self._l_occ,
        )
        cache.paint(col_i, col_j, states)
        return cache

    def _project_2d_full(self, lo: NDArray, hi: NDArray, auto_extent: bool) -> OccupancyGrid2D:
        keys, values = self._box_leaves(lo, hi)
        ijk = morton_decode(keys)
        if auto_extent:
            if keys.size == 0:
                return OccupancyGrid2D(np.empty((0, 0), np.int8), (0.0, 0.0), self.resolution)
            c_lo = ijk[:, :2].min(axis=0)
            c_hi = ijk[:, :2].max(axis=0)
        else:
            cells = self._box_cells(lo, hi)
            if cells is None:
                return OccupancyGrid2D(np.empty((0, 0), np.int8), (0.0, 0.0), self.resolution)
            c_lo, c_hi = cells[0][:2], cells[1][:2]
        shape = (int(c_hi[1] - c_lo[1] + 1), int(c_hi[0] - c_lo[0] + 1))
        grid = np.full(shape, UNKNOWN, np.int8)
        states = self._states_from(values)
        rows = ijk[:, 1] - c_lo[1]
        cols = ijk[:, 0] - c_lo[0]
        free = states == FREE
        grid[rows[free], cols[free]] = FREE
        occ = states == OCCUPIED
        grid[rows[occ], cols[occ]] = OCCUPIED
        origin_xy = (c_lo + self._key_offset).astype(np.float64) * self.resolution
        return OccupancyGrid2D(grid, (float(origin_xy[0]), float(origin_xy[1])), self.resolution)

    # ------------------------------------------------------------------ editing and changes
    def clear_box(self, lo: ArrayLike, hi: ArrayLike) -> int:
        """Forget every cell whose centre lies in the box (they become unknown)."""
        keys, _ = self._box_leaves(lo, hi)
        self._forget(keys)
        return int(keys.size)

    def reset(self) -> None:
        """Forget all cells; the next :meth:`pop_changes` reports the previously published ones."""
        rep = self._brep[: self._nb]
        reported = rep != UNKNOWN
        removed = self._removed_keys
        if reported.any():
            keys = (self._bkeys[: self._nb][:, None] << _k.BRICK_SHIFT) | np.arange(
                _k.BRICK_CELLS, dtype=np.int64
            )
            removed.append(keys[reported])
        self._allocate(0)
        self._removed_keys = removed

    def pop_changes(self) -> ChangeSet:
        """Cells whose state differs from what the previous call reported, with new states.

        A node publishes these as deltas. Cells that became unknown (cleared, reset, decayed)
        are reported with state -1. Only bricks changed since the previous call are compared.
        """
        dirty = np.flatnonzero(self._bver[: self._nb] > self._popped_version)
        self._popped_version = self._version
        current = self._states_from(self._blo[dirty])
        rows, cells = np.nonzero(current != self._brep[dirty])
        self._brep[dirty] = current
        keys = (self._bkeys[dirty][rows] << _k.BRICK_SHIFT) | cells
        states = current[rows, cells]
        if self._removed_keys:
            removed = np.unique(np.concatenate(self._removed_keys))
            self._removed_keys = []
            # a removed key may have been re-observed since; it is then reported above
            removed = removed[np.isnan(self._values_of(removed))]
            keys = np.concatenate([keys, removed])
            states = np.concatenate([states, np.full(removed.size, UNKNOWN, np.int8)])
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        return ChangeSet(keys=keys, centers=self.centers_of(keys), states=states[order])

    # ------------------------------------------------------------------ serialisation
    def _meta(self) -> dict:
        return {
            "resolution": self.resolution,
            "depth": self.depth,
            "key_offset": self._key_offset,
            "prob_hit": self.prob_hit,
            "prob_miss": self.prob_miss,
            "clamp_min": self.clamp_min,
            "clamp_max": self.clamp_max,
            "occupancy_threshold": self.occupancy_threshold,
            "static_decay_rate": self.static_decay_rate,
            "movable_decay_rate": self.movable_decay_rate,
            "movable_labels": sorted(self.movable_labels),
            "label_rate": self.label_rate,
            "last_decay": self._last_decay,
            "object_names": self._object_names,
        }

    # version 2: every known cell's key and log-odds, then the side table (cells that hold
    # occupied evidence or semantics) with stamp, label, object id and both confidences
    _CELL_LAYOUT = (("_keys", "<i8"), ("_logodds", "<f4"))
    _SIDE_LAYOUT = (
        ("_skeys", "<i8"),
        ("_stamp", "<f8"),
        ("_label", "<i2"),
        ("_object_id", "<i4"),
        ("_label_conf", "<f4"),
        ("_object_conf", "<f4"),
    )
    # version 1: one row per known cell with every attribute
    _V1_LAYOUT = (
        ("_keys", "<i8"),
        ("_logodds", "<f4"),
        ("_label", "<i2"),
        ("_object_id", "<i4"),
        ("_label_conf", "<f4"),
        ("_object_conf", "<f4"),
        ("_stamp", "<f8"),
    )

    def to_bytes(self) -> bytes:
        """Versioned binary snapshot: magic, version, JSON settings, then Morton-sorted arrays.

        Cells are written in key order so equal maps give equal bytes regardless of history.
        Change-tracking state is not part of the map.
        """
        meta = json.dumps(self._meta(), sort_keys=True, separators=(",", ":")).encode()
        keys, values = self._all_leaves()
        order = np.argsort(self._skeys[: self._ns], kind="stable")
        parts = [
            FORMAT_MAGIC,
            struct.pack("<II", FORMAT_VERSION, len(meta)),
            meta,
            struct.pack("<Q", keys.size),
            keys.astype("<i8").tobytes(),
            values.astype("<f4").tobytes(),
            struct.pack("<Q", order.size),
        ]
        for name, dtype in self._SIDE_LAYOUT:
            parts.append(getattr(self, name)[: self._ns][order].astype(dtype).tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, clock: Callable[[], float] = time.time) -> SparseOctree:
        """Rebuild a map from :meth:`to_bytes` (this version or version 1); every loaded cell
        counts as a change.

        The whole snapshot is checked (sizes before any allocation, settings, sorted unique
        keys inside the map, finite values) before the map is built.

        Raises
        ------
        InvalidInputError
            If ``data`` is not a whole snapshot or has an unknown format version (one
            line saying what is wrong).
        """
        try:
            return cls._from_checked_bytes(bytes(data), clock)
        except InvalidInputError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, struct.error) as error:
            reason = f"missing setting {error}" if isinstance(error, KeyError) else str(error)
            raise InvalidInputError(f"not a valid sparse octree snapshot: {reason}") from error

    @staticmethod
    def _read_arrays(
        data: bytes, pos: int, n: int, layout: tuple[tuple[str, str], ...], what: str, last: bool
    ) -> tuple[dict[str, NDArray], int]:
        """Parallel arrays of ``n`` rows at ``pos``; the size is checked before reading."""
        row_bytes = sum(np.dtype(dtype).itemsize for _, dtype in layout)
        room = len(data) - pos - (0 if last else 8)
        if room < n * row_bytes or (last and room != n * row_bytes):
            problem = "truncated" if room < n * row_bytes else "trailing bytes in"
            raise InvalidInputError(
                f"{problem} sparse octree snapshot: {max(room, 0)} bytes of {what}, "
                f"{n} {what} need {n * row_bytes}"
            )
        arrays = {}
        for name, dtype in layout:
            arrays[name] = np.frombuffer(data, dtype=dtype, count=n, offset=pos)
            pos += np.dtype(dtype).itemsize * n
        for name, dtype in layout:
            if dtype.startswith("<f") and not np.all(np.isfinite(arrays[name])):
                raise InvalidInputError(f"octree cell values {name.strip('_')} are not all finite")
        return arrays, pos

    @classmethod
    def _from_checked_bytes(cls, data: bytes, clock: Callable[[], float]) -> SparseOctree:
        if len(data) < 16 or data[:8] != FORMAT_MAGIC:
            raise InvalidInputError("not a sparse octree snapshot (bad magic)")
        version, meta_len = struct.unpack_from("<II", data, 8)
        if version not in (1, FORMAT_VERSION):
            newer = (
                " (newer than this reader: upgrade memory_nodes)"
                if version > FORMAT_VERSION
                else ""
            )
            raise InvalidInputError(f"unsupported octree format version {version}{newer}")
        pos = 16
        if pos + meta_len + 8 > len(data):
            raise InvalidInputError("truncated sparse octree snapshot (settings)")

        def _no_constants(name: str) -> float:
            raise ValueError(f"{name} is not a number JSON allows")

        meta = json.loads(data[pos : pos + meta_len], parse_constant=_no_constants)
        if not isinstance(meta, dict):
            raise InvalidInputError("sparse octree settings are not a JSON object")
        pos += meta_len
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        if version == 1:
            cells, pos = cls._read_arrays(data, pos, n, cls._V1_LAYOUT, "cells", last=True)
            # side entries where version 2 keeps them: occupied evidence or semantics
            side_rows = np.flatnonzero(
                (cells["_logodds"] > 0) | (cells["_label"] >= 0) | (cells["_object_id"] >= 0)
            )
            side = {
                name: cells[name if name != "_skeys" else "_keys"][side_rows]
                for name, _ in cls._SIDE_LAYOUT
            }
        else:
            cells, pos = cls._read_arrays(data, pos, n, cls._CELL_LAYOUT, "cells", last=False)
            (m,) = struct.unpack_from("<Q", data, pos)
            pos += 8
            side, pos = cls._read_arrays(data, pos, m, cls._SIDE_LAYOUT, "side rows", last=True)
        settings = {
            name: meta[name]
            for name in (
                "resolution",
                "depth",
                "prob_hit",
                "prob_miss",
                "clamp_min",
                "clamp_max",
                "occupancy_threshold",
                "static_decay_rate",
                "movable_decay_rate",
                "label_rate",
            )
        }
        for name, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidInputError(
                    f"octree setting {name} must be a number, got {value!r:.40}"
                )
        if not isinstance(settings["depth"], int):
            raise InvalidInputError(f"octree depth must be a whole number, got {settings['depth']}")
        labels = meta["movable_labels"]
        if not isinstance(labels, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in labels
        ):
            raise InvalidInputError("octree movable_labels must be a list of whole numbers")
        tree = cls(**settings, movable_labels=labels, clock=clock)
        key_offset, last_decay, names = meta["key_offset"], meta["last_decay"], meta["object_names"]
        if isinstance(key_offset, bool) or not isinstance(key_offset, int):
            raise InvalidInputError(f"octree key_offset must be a whole number, got {key_offset!r}")
        # None: the map was never decayed
        if last_decay is not None and (
            isinstance(last_decay, bool) or not isinstance(last_decay, int | float)
        ):
            raise InvalidInputError(f"octree last_decay must be a number, got {last_decay!r:.40}")
        if not isinstance(names, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in names.values()
        ):
            raise InvalidInputError("octree object_names must map names to whole numbers")
        keys = cells["_keys"]
        skeys = side["_skeys"]
        for what, k in (("", keys), ("side ", skeys)):
            if k.size and (k[0] < 0 or k[-1] >= 1 << (3 * tree.depth)):
                raise InvalidInputError(f"octree {what}keys outside a map of depth {tree.depth}")
            if k.size > 1 and not np.all(k[1:] > k[:-1]):
                raise InvalidInputError(f"octree {what}keys are not sorted and unique")
        at = np.searchsorted(keys, skeys)
        if skeys.size and (at.max() >= keys.size or np.any(keys[at] != skeys)):
            raise InvalidInputError("octree side rows name cells the snapshot does not hold")
        tree._key_offset = key_offset
        tree._object_names = {str(k): v for k, v in names.items()}
        tree._build(keys, cells["_logodds"], side)
        tree._last_decay = last_decay
        return tree

    def _build(self, keys: NDArray[np.int64], values: NDArray, side: dict[str, NDArray]) -> None:
        """Fill an empty map from sorted unique leaf keys, their log-odds and side rows."""
        n = keys.size
        bk = keys >> _k.BRICK_SHIFT
        starts = np.flatnonzero(np.r_[True, bk[1:] != bk[:-1]]) if n else np.empty(0, np.int64)
        nb = starts.size
        self._allocate(32 * nb)
        self._nb = nb
        self._bkeys[:nb] = bk[starts]
        brick_of = np.repeat(np.arange(nb), np.diff(np.r_[starts, n]))
        self._blo[:nb] = np.nan
        self._blo[brick_of, keys & (_k.BRICK_CELLS - 1)] = values
        self._brep[:nb] = UNKNOWN
        self._bver[:nb] = self._version
        m = side["_skeys"].size
        self._allocate_side(max(64, m))
        for name, _dtype in self._SIDE_LAYOUT:
            getattr(self, name)[:m] = side[name]
        self._ns = m
        self._bside[:nb] = np.bincount(
            np.searchsorted(self._bkeys[:nb], side["_skeys"] >> _k.BRICK_SHIFT), minlength=nb
        )[:nb]
        self._n = n
        self._btable = _k.table_build(self._bkeys, nb, _next_pow2(2 * self._bkeys.shape[0]))
        self._stable = _k.table_build(self._skeys, m, _next_pow2(2 * self._skeys.shape[0]))
        self._sorted_keys = self._bkeys[:nb].copy()
        self._sorted_slots = np.arange(nb, dtype=np.int32)
        self._n_sorted = nb

    def save(self, path: str | Path) -> None:
        """Write :meth:`to_bytes` to a file."""
        Path(path).write_bytes(self.to_bytes())

    @classmethod
    def load(cls, path: str | Path, clock: Callable[[], float] = time.time) -> SparseOctree:
        """Read a file written by :meth:`save`; InvalidInputError naming the file otherwise
        (missing, unreadable, or not a whole snapshot)."""
        path = Path(path)
        if path.is_dir():
            raise InvalidInputError(f"{path} is a directory, not an octree file")
        try:
            data = path.read_bytes()
        except OSError as error:
            raise InvalidInputError(f"{path}: cannot read ({error.strerror or error})") from error
        try:
            return cls.from_bytes(data, clock=clock)
        except InvalidInputError as error:
            raise InvalidInputError(f"{path}: {error}") from error

    # ------------------------------------------------------------------ introspection
    def memory_bytes(self) -> int:
        """Bytes held by the map's arrays, spare capacity included (bricks, side table, hash
        tables, the sorted brick index, the cached 2D projection and pending removals)."""
        names = (*self._BRICK_ARRAYS, *self._SIDE_ARRAYS, "_btable", "_stable")
        arrays = [getattr(self, name) for name in names]
        arrays += [self._sorted_keys, self._sorted_slots, *self._removed_keys]
        if self._projection is not None:
            arrays += [self._projection.grid, *self._projection.removed]
        return int(sum(a.nbytes for a in arrays))

    def memory_by_part(self) -> dict[str, int]:
        """:meth:`memory_bytes` split by structure, for benchmarks."""
        parts = {name.strip("_"): getattr(self, name).nbytes for name in self._BRICK_ARRAYS}
        parts.update({name.strip("_"): getattr(self, name).nbytes for name in self._SIDE_ARRAYS})
        parts["brick_table"] = self._btable.nbytes
        parts["side_table"] = self._stable.nbytes
        parts["sorted_index"] = self._sorted_keys.nbytes + self._sorted_slots.nbytes
        parts["projection"] = 0 if self._projection is None else self._projection.grid.nbytes
        parts["pending_removals"] = sum(a.nbytes for a in self._removed_keys)
        return parts

    def known_keys(self) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
        """All known leaf keys (Morton order) and their states."""
        keys, values = self._all_leaves()
        return keys, self._states_from(values)


class _ProjectionCache:
    """Column states of one height band over a dense window of the x-y plane.

    ``grid[row, col]`` holds cell column ``(i, j) = (offset[0] + col, offset[1] + row)``; the
    window grows (with a margin) when changed bricks lie outside it.
    """

    _MARGIN = 64

    def __init__(self, k_lo: int, k_hi: int) -> None:
        self.k_lo = k_lo
        self.k_hi = k_hi
        self.version = 0  # bricks changed after this version are repainted
        self.removed: list[NDArray[np.int64]] = []  # keys of bricks dropped since
        self.offset = np.zeros(2, np.int64)
        self.grid = np.empty((0, 0), np.int8)

    def paint(self, col_i: NDArray, col_j: NDArray, states: NDArray[np.int8]) -> None:
        lo = np.array([col_i.min(), col_j.min()]) * 4
        hi = np.array([col_i.max(), col_j.max()]) * 4 + 3
        size = np.array(self.grid.shape[::-1])
        if self.grid.size == 0 or np.any(lo < self.offset) or np.any(hi >= self.offset + size):
            new_lo = lo - self._MARGIN
            new_hi = hi + self._MARGIN
            if self.grid.size:
                new_lo = np.minimum(new_lo, self.offset)
                new_hi = np.maximum(new_hi, self.offset + size - 1)
            grid = np.full((new_hi[1] - new_lo[1] + 1, new_hi[0] - new_lo[0] + 1), UNKNOWN, np.int8)
            r0, c0 = self.offset[1] - new_lo[1], self.offset[0] - new_lo[0]
            grid[r0 : r0 + self.grid.shape[0], c0 : c0 + self.grid.shape[1]] = self.grid
            self.grid, self.offset = grid, new_lo
        quad = np.arange(4)
        rows = (col_j * 4 - self.offset[1])[:, None, None] + quad[None, :, None]
        cols = (col_i * 4 - self.offset[0])[:, None, None] + quad[None, None, :]
        self.grid[rows, cols] = states

    def known_bounds(self) -> tuple[NDArray[np.int64], NDArray[np.int64]] | None:
        """Smallest ``(i, j)`` and largest ``(i, j)`` of columns that are not unknown."""
        known = self.grid != UNKNOWN
        rows = np.flatnonzero(known.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(known.any(axis=0))
        lo = self.offset + np.array([cols[0], rows[0]])
        hi = self.offset + np.array([cols[-1], rows[-1]])
        return lo, hi

    def window(self, c_lo: NDArray, c_hi: NDArray) -> NDArray[np.int8]:
        """A copy of columns ``c_lo..c_hi`` (inclusive ``(i, j)``), unknown outside the cache."""
        out = np.full((int(c_hi[1] - c_lo[1] + 1), int(c_hi[0] - c_lo[0] + 1)), UNKNOWN, np.int8)
        a = np.maximum(c_lo, self.offset)
        b = np.minimum(c_hi, self.offset + np.array(self.grid.shape[::-1]) - 1)
        if np.all(a <= b):
            out[a[1] - c_lo[1] : b[1] - c_lo[1] + 1, a[0] - c_lo[0] : b[0] - c_lo[0] + 1] = (
                self.grid[
                    a[1] - self.offset[1] : b[1] - self.offset[1] + 1,
                    a[0] - self.offset[0] : b[0] - self.offset[0] + 1,
                ]
            )
        return out
