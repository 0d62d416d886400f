"""Sparse octree spatial index: occupancy, semantics and time per voxel, without ROS.

The map stores leaf cells only, keyed by Morton (Z-order) codes over a cubic extent of
``2**depth`` cells per axis. The octree is implicit: the key of an ancestor ``level`` steps up is
``key >> 3 * level`` and every node covers one contiguous key range, so a Morton-sorted key array
is a linear octree that box and radius queries descend, pruning empty nodes and taking nodes that
lie inside the query whole. Coarser levels are read with OctoMap's rule (a node's value is the
maximum of its children).

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
FORMAT_VERSION = 1
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
    arr = np.asarray(v, dtype=np.float64).reshape(-1)
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
    def _allocate(self, capacity: int) -> None:
        cap = max(1024, capacity)
        self._n = 0
        self._keys = np.empty(cap, np.int64)
        self._logodds = np.empty(cap, np.float32)
        self._label = np.empty(cap, np.int16)
        self._object_id = np.empty(cap, np.int32)
        self._label_conf = np.empty(cap, np.float32)
        self._object_conf = np.empty(cap, np.float32)
        self._stamp = np.empty(cap, np.float64)
        self._reported = np.empty(cap, np.int8)
        self._table = _k.table_build(self._keys, 0, _next_pow2(2 * cap))
        self._sorted_keys = np.empty(0, np.int64)
        self._sorted_slots = np.empty(0, np.int32)
        self._n_sorted = 0
        self._removed_keys: list[NDArray[np.int64]] = []
        self._last_decay: float | None = None

    _SLOT_ARRAYS = (
        "_keys",
        "_logodds",
        "_label",
        "_object_id",
        "_label_conf",
        "_object_conf",
        "_stamp",
        "_reported",
    )

    def _reserve(self, extra: int) -> None:
        """Make room for ``extra`` new cells in the slot arrays and keep the table half empty."""
        need = self._n + extra
        if need > self._keys.shape[0]:
            cap = max(need, 2 * self._keys.shape[0])
            for name in self._SLOT_ARRAYS:
                old = getattr(self, name)
                new = np.empty(cap, old.dtype)
                new[: self._n] = old[: self._n]
                setattr(self, name, new)
        if 2 * need > self._table.shape[0]:
            self._table = _k.table_build(self._keys, self._n, _next_pow2(2 * need))

    def _sorted(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Morton-sorted keys and their slots, merging cells added since the last query."""
        if self._n_sorted < self._n:
            new_slots = np.arange(self._n_sorted, self._n, dtype=np.int32)
            new_keys = self._keys[self._n_sorted : self._n]
            order = np.argsort(new_keys, kind="stable")
            new_keys = new_keys[order]
            new_slots = new_slots[order]
            pos = np.searchsorted(self._sorted_keys, new_keys)
            self._sorted_keys = np.insert(self._sorted_keys, pos, new_keys)
            self._sorted_slots = np.insert(self._sorted_slots, pos, new_slots)
            self._n_sorted = self._n
        return self._sorted_keys, self._sorted_slots

    def _remove_slots(self, slots: NDArray[np.int64]) -> None:
        """Forget cells (they become unknown), remembering reported ones for pop_changes."""
        if slots.size == 0:
            return
        keep = np.ones(self._n, bool)
        keep[slots] = False
        gone = ~keep
        reported_known = gone & (self._reported[: self._n] != UNKNOWN)
        if reported_known.any():
            self._removed_keys.append(self._keys[: self._n][reported_known].copy())
        n_new = int(keep.sum())
        for name in self._SLOT_ARRAYS:
            arr = getattr(self, name)
            arr[:n_new] = arr[: self._n][keep]
        self._n = n_new
        self._table = _k.table_build(self._keys, self._n, _next_pow2(2 * max(self._n, 512)))
        order = np.argsort(self._keys[: self._n], kind="stable")
        self._sorted_keys = self._keys[: self._n][order]
        self._sorted_slots = order.astype(np.int32)
        self._n_sorted = self._n

    def _states_of(self, slots: NDArray[np.int64]) -> NDArray[np.int8]:
        out = np.full(slots.shape[0], UNKNOWN, np.int8)
        known = slots >= 0
        out[known] = np.where(self._logodds[slots[known]] >= self._l_occ, OCCUPIED, FREE)
        return out

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
    ) -> InsertStats:
        """Integrate one scan with ray casting, as OctoMap's insertPointCloud(discretize=False).

        Each endpoint cell gets one hit; each cell a ray passes through gets one miss, unless it
        is an endpoint of the same scan (so thin structure seen by some rays is not erased by
        neighbouring grazing rays). Points farther than ``max_range`` (when >= 0) clear along the
        ray up to the range and mark nothing occupied. Non-finite points and rays ending outside
        the extent are dropped and counted. When ``stamp`` is given and decay is enabled, decay
        is applied up to ``stamp`` first.

        ``labels`` (int, -1 = none) and ``object_ids`` (int, -1 = none, or strings mapped to
        ints, see :meth:`object_id_of`) update the endpoint cells: the first labelled point of
        the scan in a cell is its observation; agreeing observations raise the confidence,
        disagreeing ones lower it and replace the value once it falls below ``label_rate``.
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
        status, occ, n_occ, free, n_free, use_grid, lo, dims = _k.scan_cells(
            pts,
            o,
            max_range,
            self.resolution,
            self._inv_res,
            self._key_offset,
            self._n_axis,
            not endpoints_only,
            self.dense_scan_limit,
        )
        counts = np.bincount(status, minlength=4)
        free_keys = _k.codes_to_keys(free, n_free, use_grid, lo, dims)
        occ_keys = _k.codes_to_keys(occ, n_occ, use_grid, lo, dims)
        self._reserve(n_free + n_occ)
        if n_free:
            self._update(free_keys, self._l_miss, now)
        if n_occ:
            self._update(occ_keys, self._l_hit, now)
            if label_arr is not None or object_arr is not None:
                self._update_semantics(pts, status, label_arr, object_arr)
        return InsertStats(
            points_in=int(pts.shape[0]),
            dropped_nonfinite=int(counts[2]),
            dropped_outside_extent=int(counts[3]),
            beyond_max_range=int(counts[1]),
            occupied_updates=int(n_occ),
            free_updates=int(n_free),
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

    def _update(self, cell_keys: NDArray[np.int64], delta: np.float32, now: float):
        self._n, slots = _k.apply_logodds(
            self._table,
            self._keys,
            self._n,
            self._logodds,
            self._label,
            self._object_id,
            self._label_conf,
            self._object_conf,
            self._stamp,
            self._reported,
            cell_keys,
            np.float32(delta),
            self._l_min,
            self._l_max,
            now,
        )
        return slots

    def _point_values(self, values: ArrayLike | None, n: int, name: str) -> NDArray | None:
        if values is None:
            return None
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},) to match points, got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be integers, got dtype {arr.dtype}")
        return arr.astype(np.int64)

    def _object_values(self, values, n: int) -> NDArray[np.int64] | None:
        if values is None:
            return None
        arr = np.asarray(values)
        if arr.shape != (n,):
            raise ValueError(f"object_ids must have shape ({n},) to match points, got {arr.shape}")
        if np.issubdtype(arr.dtype, np.integer):
            return arr.astype(np.int64)
        if arr.dtype.kind not in "UO":
            raise ValueError(f"object_ids must be integers or strings, got dtype {arr.dtype}")
        names, inverse = np.unique(np.where(arr == None, "", arr).astype(str), return_inverse=True)  # noqa: E711
        ids = np.array([self.object_id_of(s) if s else -1 for s in names.tolist()], np.int64)
        return ids[inverse.reshape(-1)]

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

    def _update_semantics(self, pts, status, label_arr, object_arr) -> None:
        hit = np.flatnonzero(status == 0)
        keys = self.keys_of(pts[hit])
        rate = np.float32(self.label_rate)
        for values, cur, conf in (
            (label_arr, self._label, self._label_conf),
            (object_arr, self._object_id, self._object_conf),
        ):
            if values is None:
                continue
            v = values[hit]
            labelled = v >= 0
            ukeys, first = np.unique(keys[labelled], return_index=True)
            slots = _k.table_find_array(self._table, self._keys, ukeys)
            _k.apply_semantics(slots, v[labelled][first], cur, conf, rate)

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
        n = self._n
        lo = self._logodds[:n]
        rate = np.full(n, self.static_decay_rate, np.float64)
        if self.movable_labels:
            movable = np.isin(self._label[:n], np.fromiter(self.movable_labels, np.int64))
            rate[movable] = self.movable_decay_rate
        cand = np.flatnonzero((lo > 0) & (rate > 0))
        if cand.size == 0:
            return 0
        dt = now - np.maximum(self._stamp[cand], last)
        dt = np.maximum(dt, 0.0)
        new = lo[cand] - (rate[cand] * dt).astype(np.float32)
        gone = new <= 0
        lo[cand[~gone]] = new[~gone]
        self._remove_slots(cand[gone])
        return int(gone.sum())

    # ------------------------------------------------------------------ point queries
    def occupancy(self, points: ArrayLike, level: int = 0) -> NDArray[np.int8]:
        """State per point: -1 unknown (also outside the extent), 0 free, 1 occupied.

        At ``level > 0`` the state of the coarse node containing the point is returned, using
        OctoMap's rule that a node is as occupied as its most occupied child.
        """
        if level == 0:
            slots = _k.table_find_array(self._table, self._keys, self.keys_of(points))
            return self._states_of(slots)
        values = self.logodds(points, level)
        out = np.full(values.shape[0], UNKNOWN, np.int8)
        known = np.isfinite(values)
        out[known] = np.where(values[known] >= self._l_occ, OCCUPIED, FREE)
        return out

    def logodds(self, points: ArrayLike, level: int = 0) -> NDArray[np.float32]:
        """Log-odds per point (NaN where unknown); at ``level > 0`` the max over the node."""
        if not 0 <= level <= self.depth:
            raise ValueError(f"level must be in [0, {self.depth}], got {level}")
        keys = self.keys_of(points)
        if level == 0:
            slots = _k.table_find_array(self._table, self._keys, keys)
            out = np.full(slots.shape[0], np.nan, np.float32)
            out[slots >= 0] = self._logodds[slots[slots >= 0]]
            return out
        skeys, sslots = self._sorted()
        q = np.where(keys >= 0, keys >> (3 * level), -1)
        values = _k.coarse_max(skeys, self._logodds[sslots], q, level)
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
        slots = _k.table_find_array(self._table, self._keys, self.keys_of(points))
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

    def stamps(self, points: ArrayLike) -> NDArray[np.float64]:
        """Last observation time per point (NaN where unknown)."""
        slots = _k.table_find_array(self._table, self._keys, self.keys_of(points))
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

    def _box_slots(self, lo: ArrayLike, hi: ArrayLike) -> NDArray[np.int64]:
        cells = self._box_cells(lo, hi)
        if cells is None or self._n == 0:
            return np.empty(0, np.int64)
        skeys, sslots = self._sorted()
        starts, ends = _k.box_ranges(skeys, cells[0], cells[1], self.depth)
        return sslots[_k.expand_ranges(starts, ends)]

    def _voxel_set(self, slots: NDArray[np.int64]) -> VoxelSet:
        keys = self._keys[slots]
        return VoxelSet(
            keys=keys,
            centers=self.centers_of(keys),
            states=self._states_of(slots),
            labels=self._label[slots],
            object_ids=self._object_id[slots],
        )

    def query_box(self, lo: ArrayLike, hi: ArrayLike, occupied_only: bool = False) -> VoxelSet:
        """Known cells whose centres lie in the axis-aligned box ``[lo, hi]``, in Morton order."""
        slots = self._box_slots(lo, hi)
        if occupied_only:
            slots = slots[self._logodds[slots] >= self._l_occ]
        return self._voxel_set(slots)

    def query_radius(
        self, center: ArrayLike, radius: float, occupied_only: bool = False
    ) -> VoxelSet:
        """Known cells whose centres lie within ``radius`` of ``center``."""
        c = _as_vec3(center, "center")
        if not radius >= 0.0:
            raise ValueError(f"radius must be non-negative, got {radius}")
        slots = self._box_slots(c - radius, c + radius)
        if slots.size:
            d2 = np.sum((self.centers_of(self._keys[slots]) - c) ** 2, axis=1)
            slots = slots[d2 <= radius * radius]
        if occupied_only:
            slots = slots[self._logodds[slots] >= self._l_occ]
        return self._voxel_set(slots)

    def objects_in_box(self, lo: ArrayLike, hi: ArrayLike) -> NDArray[np.int32]:
        """Sorted object ids present in occupied cells inside the box."""
        ids = self.query_box(lo, hi, occupied_only=True).object_ids
        return np.unique(ids[ids >= 0])

    def objects_in_radius(self, center: ArrayLike, radius: float) -> NDArray[np.int32]:
        """Sorted object ids present in occupied cells within ``radius`` of ``center``."""
        ids = self.query_radius(center, radius, occupied_only=True).object_ids
        return np.unique(ids[ids >= 0])

    def level_cells(self, level: int) -> VoxelSet:
        """Known nodes at a coarser ``level`` with OctoMap's max-of-children occupancy.

        Labels and object ids are those of the node's most occupied child.
        """
        if not 0 <= level <= self.depth:
            raise ValueError(f"level must be in [0, {self.depth}], got {level}")
        skeys, sslots = self._sorted()
        coarse = skeys >> (3 * level)
        if coarse.size == 0:
            empty = np.empty(0, np.int64)
            return self._voxel_set(empty)
        starts = np.flatnonzero(np.r_[True, coarse[1:] != coarse[:-1]])
        values = self._logodds[sslots]
        best = np.maximum.reduceat(values, starts)
        # the child holding the maximum gives the node its semantics
        group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, coarse.size]))
        best_slots = sslots[np.lexsort((-values, group))[starts]]
        keys = coarse[starts]
        return VoxelSet(
            keys=keys,
            centers=self.centers_of(keys, level),
            states=np.where(best >= self._l_occ, OCCUPIED, FREE).astype(np.int8),
            labels=self._label[best_slots],
            object_ids=self._object_id[best_slots],
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
        code, i, j, k, dist = _k.cast_ray(
            self._table,
            self._keys,
            self._logodds,
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
            slots = np.arange(self._n, dtype=np.int64)
        else:
            slots = self._box_slots(lo, hi)
        slots = slots[self._logodds[slots] < self._l_occ]
        keys = self._keys[slots]
        ijk = morton_decode(keys)
        frontier = _k.unknown_face_neighbour(self._table, self._keys, ijk, self._n_axis)
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
    ) -> OccupancyGrid2D:
        """Project the height band a robot occupies onto a 2D navigation grid.

        A column is occupied if any cell of the band is occupied, free if the band holds free
        cells only, unknown otherwise. Without ``xy_min``/``xy_max`` the grid spans the known
        cells of the band.
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
        slots = self._box_slots(lo, hi)
        ijk = morton_decode(self._keys[slots])
        if xy_min is None or xy_max is None:
            if slots.size == 0:
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
        states = self._states_of(slots)
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
        slots = self._box_slots(lo, hi)
        self._remove_slots(slots)
        return int(slots.size)

    def reset(self) -> None:
        """Forget all cells; the next :meth:`pop_changes` reports the previously published ones."""
        self._remove_slots(np.arange(self._n, dtype=np.int64))
        self._last_decay = None

    def pop_changes(self) -> ChangeSet:
        """Cells whose state differs from what the previous call reported, with new states.

        A node publishes these as deltas. Cells that became unknown (cleared, reset, decayed)
        are reported with state -1.
        """
        n = self._n
        current = self._states_of(np.arange(n, dtype=np.int64))
        changed = np.flatnonzero(current != self._reported[:n])
        self._reported[changed] = current[changed]
        keys = self._keys[changed]
        states = current[changed]
        if self._removed_keys:
            removed = np.unique(np.concatenate(self._removed_keys))
            self._removed_keys = []
            # a removed key may have been re-observed since; it is then reported above
            removed = removed[_k.table_find_array(self._table, self._keys, removed) < 0]
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

    _ARRAY_LAYOUT = (
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
        skeys, sslots = self._sorted()
        parts = [
            FORMAT_MAGIC,
            struct.pack("<II", FORMAT_VERSION, len(meta)),
            meta,
            struct.pack("<Q", skeys.size),
            skeys.astype("<i8").tobytes(),
        ]
        for name, dtype in self._ARRAY_LAYOUT:
            parts.append(getattr(self, name)[sslots].astype(dtype).tobytes())
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes, clock: Callable[[], float] = time.time) -> SparseOctree:
        """Rebuild a map from :meth:`to_bytes`; every loaded cell counts as a change.

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

    @classmethod
    def _from_checked_bytes(cls, data: bytes, clock: Callable[[], float]) -> SparseOctree:
        if len(data) < 16 or data[:8] != FORMAT_MAGIC:
            raise InvalidInputError("not a sparse octree snapshot (bad magic)")
        version, meta_len = struct.unpack_from("<II", data, 8)
        if version != FORMAT_VERSION:  # a ValueError as before: callers catch ValueError
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
        layout = (("_keys", "<i8"), *cls._ARRAY_LAYOUT)
        cell_bytes = sum(np.dtype(dtype).itemsize for _, dtype in layout)
        if len(data) - pos != n * cell_bytes:  # checked before anything is allocated
            problem = "truncated" if len(data) - pos < n * cell_bytes else "trailing bytes in"
            raise InvalidInputError(
                f"{problem} sparse octree snapshot: {len(data) - pos} bytes of cells, "
                f"{n} cells need {n * cell_bytes}"
            )
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
        arrays = {}
        for name, dtype in layout:
            arrays[name] = np.frombuffer(data, dtype=dtype, count=n, offset=pos)
            pos += np.dtype(dtype).itemsize * n
        keys = arrays["_keys"]
        if n and (keys[0] < 0 or keys[-1] >= 1 << (3 * tree.depth)):
            raise InvalidInputError(f"octree keys outside a map of depth {tree.depth}")
        if n > 1 and not np.all(keys[1:] > keys[:-1]):
            raise InvalidInputError("octree keys are not sorted and unique")
        for name, dtype in layout:
            if dtype.startswith("<f") and not np.all(np.isfinite(arrays[name])):
                raise InvalidInputError(f"octree cell values {name.strip('_')} are not all finite")
        tree._key_offset = key_offset
        tree._object_names = {str(k): v for k, v in names.items()}
        tree._allocate(n)
        tree._last_decay = last_decay
        for name, _dtype in layout:
            getattr(tree, name)[:n] = arrays[name]
        tree._n = n
        tree._reported[:n] = UNKNOWN
        tree._table = _k.table_build(tree._keys, n, _next_pow2(2 * max(n, 512)))
        tree._sorted_keys = tree._keys[:n].copy()
        tree._sorted_slots = np.arange(n, dtype=np.int32)
        tree._n_sorted = n
        return tree

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
        """Bytes held by the map's arrays (used capacity included)."""
        arrays = [getattr(self, name) for name in self._SLOT_ARRAYS]
        arrays += [self._table, self._keys, self._sorted_keys, self._sorted_slots]
        return int(sum(a.nbytes for a in arrays))

    def known_keys(self) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
        """All known leaf keys (Morton order) and their states."""
        skeys, sslots = self._sorted()
        return skeys.copy(), self._states_of(sslots)
