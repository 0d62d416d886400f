"""The discrete insert (one ray per cell, to its centre) against straightforward references.

OctoMap's computeDiscreteUpdate replaces the scan by the centres of its distinct cells (as
float32 points) and runs the ordinary update on them. The reference here does exactly that
with the exact insert: the first point of each cell gives the cell, and each cell's label and
object id are those of its first point that has one. Maps are compared byte for byte (keys,
log-odds, stamps and semantics), and with OctoMap's own discrete insert cell by cell.
"""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.octree import SparseOctree

RES = 0.1


def _clustered_scan(rng, n_cells: int = 300, per_cell: int = 8) -> tuple:
    """Points in clusters smaller than a cell (many points per cell, as from a depth camera),
    with labels and object ids that differ inside a cell, some -1, in shuffled order."""
    seeds = rng.uniform([-2.0, -2.0, 0.0], [2.0, 2.0, 1.6], (n_cells, 3))
    pts = np.repeat(seeds, per_cell, axis=0) + rng.uniform(-0.04, 0.04, (n_cells * per_cell, 3))
    order = rng.permutation(pts.shape[0])
    labels = rng.integers(-1, 4, pts.shape[0])
    objects = rng.integers(-1, 6, pts.shape[0])
    origin = rng.uniform(-0.3, 0.3, 3) + np.array([0.0, 0.0, 0.8])
    return pts[order], labels[order], objects[order], origin


def _first_valid(values: np.ndarray, cell_of_point: np.ndarray, n_cells: int) -> np.ndarray:
    out = np.full(n_cells, -1, np.int64)
    for value, cell in zip(values.tolist(), cell_of_point.tolist(), strict=True):
        if value >= 0 and out[cell] < 0:
            out[cell] = value
    return out


def _reference_scan(tree: SparseOctree, pts, labels, objects):
    """Cell centres in order of each cell's first point, with first labels and object ids."""
    keys = tree.keys_of(pts)
    inside = keys >= 0
    distinct, first, cell_of_point = np.unique(keys[inside], return_index=True, return_inverse=True)
    order = np.argsort(first)  # cells in order of their first point
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    # OctoMap keeps the centres as float32 points
    centres = tree.centers_of(distinct[order]).astype(np.float32).astype(np.float64)
    cell_of_point = rank[cell_of_point]
    return (
        centres,
        _first_valid(labels[inside], cell_of_point, distinct.size),
        _first_valid(objects[inside], cell_of_point, distinct.size),
    )


@pytest.mark.parametrize("max_range", [-1.0, 1.3])
def test_discrete_insert_equals_the_exact_insert_of_cell_centres(max_range):
    rng = np.random.default_rng(3)
    movable = {2}
    tree = SparseOctree(resolution=RES, movable_labels=movable, movable_decay_rate=0.3)
    ref = SparseOctree(resolution=RES, movable_labels=movable, movable_decay_rate=0.3)
    for step in range(6):
        pts, labels, objects, origin = _clustered_scan(rng)
        stats = tree.insert_point_cloud(
            pts, origin, max_range, labels, objects, stamp=float(step), discretize=True
        )
        centres, first_labels, first_objects = _reference_scan(ref, pts, labels, objects)
        ref_stats = ref.insert_point_cloud(
            centres, origin, max_range, first_labels, first_objects, stamp=float(step)
        )
        assert stats.occupied_updates == ref_stats.occupied_updates
        assert stats.free_updates == ref_stats.free_updates
        assert stats.points_in == pts.shape[0]
        assert tree.to_bytes() == ref.to_bytes()
    assert len(tree) > 1000
    tree.decay(20.0)
    ref.decay(20.0)
    assert tree.to_bytes() == ref.to_bytes()


def test_every_point_of_a_cell_shares_the_range_test_of_its_centre():
    origin = np.array([0.05, 0.05, 0.05])  # a cell centre
    max_range = 0.93
    # cell (9, 0, 0): centre 0.90 m away (inside), one point 0.94 m away (beyond)
    # cell (9, 3, 0): centre 0.95 m away (beyond), one point 0.90 m away (inside)
    pts = np.array([[0.99, 0.05, 0.05], [0.91, 0.06, 0.05], [0.91, 0.31, 0.05], [0.99, 0.39, 0.05]])
    tree = SparseOctree(resolution=RES)
    stats = tree.insert_point_cloud(pts, origin, max_range, discretize=True)
    assert stats.beyond_max_range == 2 and stats.occupied_updates == 1
    # the beyond cell's ray ends inside it at the range: it stays unknown
    assert tree.occupancy([[0.95, 0.05, 0.05], [0.95, 0.35, 0.05]]).tolist() == [1, -1]
    exact = SparseOctree(resolution=RES)
    stats = exact.insert_point_cloud(pts, origin, max_range)
    assert stats.beyond_max_range == 2 and stats.occupied_updates == 2
    assert exact.occupancy([[0.95, 0.05, 0.05], [0.95, 0.35, 0.05]]).tolist() == [1, 1]


def test_discrete_drops_nonfinite_and_out_of_extent_points_and_counts_them():
    tree = SparseOctree(resolution=0.1, depth=4, origin=[0.0, 0.0, 0.0])
    pts = np.array([[0.5, 0.5, 0.5], [np.nan, 0, 0], [np.inf, 1, 1], [5.0, 0.5, 0.5]])
    stats = tree.insert_point_cloud(pts, [0.05, 0.05, 0.05], discretize=True)
    assert (stats.points_in, stats.dropped_nonfinite, stats.dropped_outside_extent) == (4, 2, 1)
    assert stats.occupied_updates == 1
    assert tree.occupancy([[5.0, 0.5, 0.5]]).tolist() == [-1]


def test_discrete_dense_and_hashed_deduplication_give_the_same_map():
    rng = np.random.default_rng(4)
    dense = SparseOctree(resolution=RES)
    hashed = SparseOctree(resolution=RES)
    hashed.dense_scan_limit = 0
    for step in range(3):
        pts, labels, objects, origin = _clustered_scan(rng, n_cells=500)
        pts[::37] = np.nan
        for tree in (dense, hashed):
            tree.insert_point_cloud(
                pts, origin, 1.8, labels, objects, stamp=float(step), discretize=True
            )
    assert len(dense) > 5000
    assert hashed.to_bytes() == dense.to_bytes()


def test_a_cloud_of_one_point_per_cell_centre_gives_the_exact_map():
    rng = np.random.default_rng(6)
    exact = SparseOctree(resolution=RES)
    discrete = SparseOctree(resolution=RES)
    keys = np.unique(exact.keys_of(rng.uniform(-2.0, 2.0, (3000, 3))))
    centres = exact.centers_of(keys)[rng.permutation(keys.size)].astype(np.float32)
    exact.insert_point_cloud(centres, [0.01, 0.02, 0.03], 2.5, stamp=1.0)
    discrete.insert_point_cloud(centres, [0.01, 0.02, 0.03], 2.5, stamp=1.0, discretize=True)
    assert discrete.to_bytes() == exact.to_bytes()


def test_discrete_insert_agrees_cell_by_cell_with_octomaps_discrete_insert():
    octomap = pytest.importorskip("octomap")
    rng = np.random.default_rng(12)
    pts, _, _, _ = _clustered_scan(rng, n_cells=400, per_cell=6)
    origin = np.array([0.013, -0.021, 1.2])
    for max_range in (-1.0, 1.5):
        ours = SparseOctree(resolution=RES)
        ours.insert_point_cloud(pts, origin, max_range=max_range, discretize=True)
        theirs = octomap.OcTree(RES)
        theirs.insertPointCloud(pts, origin, maxrange=max_range, discretize=True)
        keys, states = ours.known_keys()
        centres = ours.centers_of(keys)
        leaves = sum(round(it.getSize() / RES) ** 3 for it in theirs.begin_leafs())
        assert leaves == keys.size
        assert np.mean(theirs.getLabels(centres) == states) > 0.999
        sample = centres[:: max(1, keys.size // 300)]
        theirs_lo = np.array([theirs.search(c).getLogOdds() for c in sample], np.float32)
        assert np.array_equal(theirs_lo, ours.logodds(sample))
