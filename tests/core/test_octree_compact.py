"""The compact octree storage gives the answers of a plain per-cell map.

The map keeps leaves in 4 x 4 x 4 bricks, stamps and semantics in a side table for occupied
or labelled cells, and a cached 2D projection updated from changed bricks. Each test runs
random scans, decays and clears and compares with a straightforward reference: a dict per
cell for values, the full recomputation for the projection, state snapshots for the changes.
"""

from __future__ import annotations

import gc
import struct
import tracemalloc

import numpy as np
import pytest

from memory_nodes.core import octree_kernels as _k
from memory_nodes.core.octree import FORMAT_MAGIC, SparseOctree

RES = 0.1
MOVABLE = 3


class DictMap:
    """Reference: one dict entry per known cell, OctoMap's update rule written out."""

    def __init__(self, tree: SparseOctree) -> None:
        self.tree = tree
        self.value: dict[int, np.float32] = {}
        self.stamp: dict[int, float] = {}
        self.label: dict[int, tuple[int, np.float32]] = {}
        self.last_decay: float | None = None

    def insert(self, pts, origin, labels, now: float) -> None:
        self.decay(now)
        t = self.tree
        status, occupied_keys, free_keys = _k.scan_cells(
            pts, origin, -1.0, t.resolution, 1.0 / t.resolution, t._key_offset, t._n_axis,
            True, t.dense_scan_limit, False,
        )  # fmt: skip
        for keys, delta in ((free_keys, t._l_miss), (occupied_keys, t._l_hit)):
            for key in keys.tolist():
                v = self.value.get(key, np.float32(0.0))
                if not ((delta >= 0 and v >= t._l_max) or (delta <= 0 and v <= t._l_min)):
                    v = np.float32(min(max(np.float32(v + delta), t._l_min), t._l_max))
                self.value[key] = v
                self.stamp[key] = now
        hit = status == 0
        keys = t.keys_of(pts[hit])
        values = labels[hit]
        seen: set[int] = set()
        rate = np.float32(t.label_rate)
        for key, v in zip(keys.tolist(), values.tolist(), strict=True):
            if v < 0 or key in seen:
                continue
            seen.add(key)
            cur, conf = self.label.get(key, (-1, np.float32(0.0)))
            if cur < 0:
                self.label[key] = (v, rate)
            elif cur == v:
                self.label[key] = (cur, np.float32(conf + rate * (np.float32(1.0) - conf)))
            else:
                conf = np.float32(conf * (np.float32(1.0) - rate))
                self.label[key] = (v, rate) if conf < rate else (cur, conf)

    def decay(self, now: float) -> None:
        last = self.last_decay
        self.last_decay = now if last is None else max(now, last)
        if last is None or now <= last:
            return
        for key, v in list(self.value.items()):
            if v <= 0 or self.label.get(key, (-1, 0))[0] != MOVABLE:
                continue
            dt = max(now - max(self.stamp[key], last), 0.0)
            new = np.float32(v - np.float32(self.tree.movable_decay_rate * dt))
            if new <= 0:
                self.forget(key)
            else:
                self.value[key] = new

    def forget(self, key: int) -> None:
        self.value.pop(key)
        self.stamp.pop(key)
        self.label.pop(key, None)

    def clear_box(self, lo, hi) -> None:
        keys = np.array(sorted(self.value), np.int64)
        centers = self.tree.centers_of(keys)
        inside = np.all((centers >= lo) & (centers <= hi), axis=1)
        for key in keys[inside].tolist():
            self.forget(key)


def _random_scan(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pts = rng.uniform([-1.2, -1.2, 0.0], [1.2, 1.2, 1.4], (int(rng.integers(40, 250)), 3))
    labels = rng.integers(-1, 5, pts.shape[0])
    origin = rng.uniform(-0.4, 0.4, 3) + np.array([0.0, 0.0, 0.7])
    return pts, origin, labels


def _assert_same(tree: SparseOctree, ref: DictMap) -> None:
    keys, states = tree.known_keys()
    assert keys.tolist() == sorted(ref.value)
    centers = tree.centers_of(keys)
    expected = np.array([ref.value[k] for k in keys.tolist()], np.float32)
    assert np.array_equal(tree.logodds(centers), expected)
    assert np.array_equal(states, (expected >= 0).astype(np.int8))
    labels, lconf, _, _ = tree.semantics(centers)
    ref_labels = [ref.label.get(k, (-1, np.float32(0.0))) for k in keys.tolist()]
    assert labels.tolist() == [v for v, _ in ref_labels]
    assert np.array_equal(lconf, np.array([c for _, c in ref_labels], np.float32))
    # cells with occupied evidence keep their time (the one decay reads)
    positive = expected > 0
    ref_stamps = np.array([ref.stamp[k] for k in keys.tolist()])
    assert np.array_equal(tree.stamps(centers)[positive], ref_stamps[positive])


def test_bricks_and_side_table_match_a_dict_per_cell_under_scans_decay_and_clears():
    rng = np.random.default_rng(5)
    tree = SparseOctree(resolution=RES, movable_labels={MOVABLE}, movable_decay_rate=0.2)
    ref = DictMap(tree)
    for step in range(9):
        pts, origin, labels = _random_scan(rng)
        now = float(step)
        tree.insert_point_cloud(pts, origin, labels=labels, stamp=now)
        ref.insert(pts, origin, labels, now)
        if step % 4 == 3:
            lo = rng.uniform(-1.0, 0.5, 3)
            hi = lo + rng.uniform(0.1, 0.8, 3)
            tree.clear_box(lo, hi)
            ref.clear_box(lo, hi)
        _assert_same(tree, ref)
    tree.decay(40.0)
    ref.decay(40.0)
    _assert_same(tree, ref)
    assert len(tree) == len(ref.value)


def test_pop_changes_report_exactly_the_state_differences():
    rng = np.random.default_rng(9)
    tree = SparseOctree(resolution=RES, movable_labels={MOVABLE}, movable_decay_rate=0.5)
    told: dict[int, int] = {}
    for step in range(10):
        pts, origin, labels = _random_scan(rng)
        tree.insert_point_cloud(pts, origin, labels=labels, stamp=float(step))
        if step % 3 == 2:
            lo = rng.uniform(-1.0, 0.5, 3)
            tree.clear_box(lo, lo + 0.6)
        if step == 7:
            tree.reset()
        keys, states = tree.known_keys()
        now = dict(zip(keys.tolist(), states.tolist(), strict=True))
        expected = {k: s for k, s in now.items() if told.get(k, -1) != s}
        expected.update({k: -1 for k in told if k not in now and told[k] != -1})
        changes = tree.pop_changes()
        assert dict(zip(changes.keys.tolist(), changes.states.tolist(), strict=True)) == expected
        assert changes.keys.tolist() == sorted(expected)
        told.update(expected)


@pytest.mark.parametrize("band", [(0.1, 0.6), (0.0, 1.4), (0.35, 0.35)])
def test_incremental_projection_equals_full_recomputation(band):
    rng = np.random.default_rng(13)
    tree = SparseOctree(resolution=RES, movable_labels={MOVABLE}, movable_decay_rate=0.3)
    windows = [None, ([-0.5, -0.7], [0.6, 0.4]), ([-3.0, -3.0], [3.0, 3.0])]

    def check() -> None:
        for window in windows:
            xy = {} if window is None else {"xy_min": window[0], "xy_max": window[1]}
            fast = tree.project_2d(*band, **xy)
            full = tree.project_2d(*band, **xy, incremental=False)
            assert fast.origin == full.origin and np.array_equal(fast.data, full.data)

    check()  # empty map
    for step in range(14):
        pts, origin, labels = _random_scan(rng)
        tree.insert_point_cloud(pts, origin, labels=labels, stamp=float(step))
        if step % 3 == 1:
            lo = rng.uniform(-1.0, 0.5, 3)
            tree.clear_box(lo, lo + rng.uniform(0.2, 1.5, 3))
        if step == 9:
            tree.decay(60.0)  # movable cells fade to unknown
        if step == 11:
            tree.reset()
        check()


def _version_1_bytes(tree: SparseOctree) -> bytes:
    """The same map in the version 1 layout: every attribute for every cell."""
    keys, _ = tree.known_keys()
    centers = tree.centers_of(keys)
    labels, lconf, objects, oconf = tree.semantics(centers)
    stamps = np.nan_to_num(tree.stamps(centers), nan=0.0)
    meta = tree.to_bytes()[16 : 16 + int.from_bytes(tree.to_bytes()[12:16], "little")]
    rows = [
        keys.astype("<i8"),
        tree.logodds(centers).astype("<f4"),
        labels.astype("<i2"),
        objects.astype("<i4"),
        lconf.astype("<f4"),
        oconf.astype("<f4"),
        stamps.astype("<f8"),
    ]
    header = FORMAT_MAGIC + struct.pack("<II", 1, len(meta)) + meta + struct.pack("<Q", keys.size)
    return header + b"".join(r.tobytes() for r in rows)


def test_version_1_files_still_load_with_the_same_answers():
    rng = np.random.default_rng(21)
    tree = SparseOctree(resolution=RES)
    for step in range(3):
        pts, origin, labels = _random_scan(rng)
        tree.insert_point_cloud(pts, origin, labels=labels, object_ids=labels, stamp=float(step))
    old = SparseOctree.from_bytes(_version_1_bytes(tree))
    keys, states = tree.known_keys()
    centers = tree.centers_of(keys)
    assert np.array_equal(old.known_keys()[0], keys)
    assert np.array_equal(old.occupancy(centers), states)
    for mine, theirs in zip(old.semantics(centers), tree.semantics(centers), strict=True):
        assert np.array_equal(mine, theirs)
    positive = tree.logodds(centers) > 0
    assert np.array_equal(old.stamps(centers)[positive], tree.stamps(centers)[positive])
    assert SparseOctree.from_bytes(old.to_bytes()).to_bytes() == old.to_bytes()


def test_string_object_ids_map_like_integer_ids_from_a_name_table():
    rng = np.random.default_rng(4)
    pts, origin, _ = _random_scan(rng)
    names = np.array(["", "Mug|1", "Table|2", "Apple|7"], dtype=object)
    local = rng.integers(0, names.size, pts.shape[0])
    by_string = SparseOctree(resolution=RES)
    by_string.object_ids_of(names.tolist())  # the same numbering as the table below
    by_string.insert_point_cloud(pts, origin, object_ids=names[local], stamp=1.0)
    by_table = SparseOctree(resolution=RES)
    table = by_table.object_ids_of(names.tolist())
    assert table[0] == -1 and sorted(table[1:].tolist()) == [0, 1, 2]
    by_table.insert_point_cloud(pts, origin, object_ids=table[local], stamp=1.0)
    assert by_string.to_bytes() == by_table.to_bytes()


def test_memory_bytes_is_what_the_map_holds():
    rng = np.random.default_rng(2)
    scans = [_random_scan(rng) for _ in range(6)]
    SparseOctree(resolution=RES).insert_point_cloud(*scans[0][:2])  # kernels loaded untraced
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tree = SparseOctree(resolution=RES)
        for pts, origin, labels in scans:
            tree.insert_point_cloud(pts, origin, labels=labels, stamp=0.0)
        tree.project_2d(0.1, 1.0)
        tree.query_box([-1, -1, 0], [1, 1, 1])
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    reported = tree.memory_bytes()
    assert reported == sum(tree.memory_by_part().values())
    # numpy arrays are traced; the rest is a few small Python objects
    assert reported <= held <= reported + 64 * 1024, (reported, held)


@pytest.mark.parametrize("threshold", [0.5, 0.45, 0.6])
def test_occupied_levels_from_the_side_table_equal_the_filtered_levels(threshold):
    rng = np.random.default_rng(17)
    tree = SparseOctree(resolution=RES, occupancy_threshold=threshold)
    for step in range(5):
        pts, origin, labels = _random_scan(rng)
        tree.insert_point_cloud(pts, origin, labels=labels, stamp=float(step))
    for level in (0, 1, 2, 3, 5):
        every = tree.level_cells(level)
        keep = every.states == 1
        occupied = tree.level_cells(level, occupied_only=True)
        assert keep.any() and np.array_equal(occupied.keys, every.keys[keep])
        assert np.array_equal(occupied.centers, every.centers[keep])
        assert np.array_equal(occupied.labels, every.labels[keep])
        assert np.all(occupied.states == 1)
