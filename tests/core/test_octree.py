"""Properties of the sparse octree, checked against hand-computed values and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from memory_nodes.core.octree import (
    FORMAT_MAGIC,
    SparseOctree,
    morton_decode,
    morton_encode,
    probability_to_logodds,
)

RES = 0.05
L_HIT = np.float32(math.log(0.7 / 0.3))
L_MISS = np.float32(math.log(0.4 / 0.6))
L_MIN = np.float32(math.log(0.12 / 0.88))
L_MAX = np.float32(math.log(0.97 / 0.03))


def center(i: int, j: int, k: int) -> np.ndarray:
    """Centre of the cell with OctoMap-style signed indices (cell 0 spans [0, res))."""
    return (np.array([i, j, k], np.float64) + 0.5) * RES


@pytest.fixture(scope="module")
def random_map() -> SparseOctree:
    """A cluttered map from a few scans of random points, with labels and object ids."""
    rng = np.random.default_rng(7)
    tree = SparseOctree(resolution=RES)
    for s in range(3):
        pts = rng.uniform([-1.5, -1.5, 0.0], [1.5, 1.5, 1.5], (3000, 3))
        labels = rng.integers(-1, 4, pts.shape[0])
        objects = rng.integers(-1, 6, pts.shape[0])
        origin = rng.uniform(-0.3, 0.3, 3) + np.array([0.0, 0.0, 0.8])
        tree.insert_point_cloud(pts, origin, labels=labels, object_ids=objects, stamp=float(s))
    return tree


def brute_cells(tree: SparseOctree):
    keys, states = tree.known_keys()
    return keys, states, tree.centers_of(keys)


# ------------------------------------------------------------------ keys


def test_morton_round_trip_and_uniqueness_at_every_depth():
    rng = np.random.default_rng(0)
    for depth in range(1, 22):
        n_axis = 1 << depth
        ijk = rng.integers(0, n_axis, (500, 3))
        ijk = np.unique(ijk, axis=0)
        keys = morton_encode(ijk)
        assert np.array_equal(morton_decode(keys), ijk)
        assert np.unique(keys).size == ijk.shape[0]
        assert keys.min() >= 0 and keys.max() < 1 << (3 * depth)
        # the hierarchy is in the bits: a parent's key is the child's key shifted by 3
        assert np.array_equal(keys >> 3, morton_encode(ijk >> 1))
    # exhaustive uniqueness on a small cube
    small = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), -1).reshape(-1, 3)
    assert np.array_equal(np.sort(morton_encode(small)), np.arange(512))


def test_point_key_center_round_trip_matches_octomap_grid():
    tree = SparseOctree(resolution=RES)
    rng = np.random.default_rng(1)
    pts = rng.uniform(-50, 50, (2000, 3))
    keys = tree.keys_of(pts)
    centers = tree.centers_of(keys)
    assert np.array_equal(tree.keys_of(centers), keys)
    assert np.all(np.abs(centers - pts) <= RES / 2 + 1e-9)
    # OctoMap's key is floor(x / res) + 2**15 at depth 16; our cell index is the same
    cells = tree.cells_of(pts)
    assert np.array_equal(cells, np.floor(pts / RES).astype(np.int64) + (1 << 15))
    assert np.allclose(tree.origin, -(1 << 15) * RES)


def test_custom_origin_and_depth_limit_the_extent():
    tree = SparseOctree(resolution=0.1, depth=4, origin=[0.0, 0.0, 0.0])
    assert tree.extent_size == pytest.approx(1.6)
    keys = tree.keys_of([[0.05, 0.05, 0.05], [1.55, 0.1, 0.1], [1.65, 0.1, 0.1], [-0.01, 0, 0]])
    assert keys[0] == 0 and keys[1] >= 0
    assert keys[2] == -1 and keys[3] == -1
    with pytest.raises(ValueError, match="depth"):
        SparseOctree(depth=22)


# ------------------------------------------------------------------ sensor model


def test_one_hit_two_hits_and_clamping_match_hand_computed_logodds():
    tree = SparseOctree(resolution=RES)
    target = center(10, 0, 0)
    origin = center(0, 0, 0)
    tree.insert_point_cloud(target, origin)
    assert tree.logodds(target)[0] == L_HIT
    assert probability_to_logodds(0.7) == pytest.approx(0.8472978603872037, rel=1e-6)
    free_cell = center(5, 0, 0)
    assert tree.logodds(free_cell)[0] == L_MISS
    tree.insert_point_cloud(target, origin)
    assert tree.logodds(target)[0] == np.float32(L_HIT + L_HIT)
    assert tree.logodds(free_cell)[0] == np.float32(L_MISS + L_MISS)
    for _ in range(10):
        tree.insert_point_cloud(target, origin)
    assert tree.logodds(target)[0] == L_MAX
    assert tree.logodds(free_cell)[0] == L_MIN
    assert tree.probability(target)[0] == pytest.approx(0.97, abs=1e-6)
    assert tree.occupancy([target, free_cell, center(20, 0, 0)]).tolist() == [1, 0, -1]


def test_endpoint_of_a_scan_is_not_cleared_by_other_rays_and_cells_update_once():
    tree = SparseOctree(resolution=RES)
    origin = center(0, 0, 0)
    near = center(5, 0, 0)
    far = center(10, 0, 0)
    # one ray ends in `near`, another passes through it; many rays share the free cells
    pts = np.array([near, far, far, far])
    stats = tree.insert_point_cloud(pts, origin)
    assert tree.logodds(near)[0] == L_HIT
    assert tree.logodds(far)[0] == L_HIT
    assert tree.logodds(center(7, 0, 0))[0] == L_MISS
    assert tree.logodds(origin)[0] == L_MISS
    assert stats.occupied_updates == 2
    assert stats.free_updates == 9  # cells 0..9 minus the endpoint cell 5


def test_points_beyond_max_range_clear_up_to_the_range_only():
    tree = SparseOctree(resolution=RES)
    origin = center(0, 0, 0)
    far = center(40, 0, 0)
    stats = tree.insert_point_cloud(far, origin, max_range=1.0)
    assert stats.beyond_max_range == 1 and stats.occupied_updates == 0
    assert tree.occupancy(far)[0] == -1
    assert tree.occupancy(center(10, 0, 0))[0] == 0  # 0.525 m
    assert tree.occupancy(center(25, 0, 0))[0] == -1  # 1.275 m
    assert tree.occupancy(center(19, 0, 0))[0] == 0
    assert tree.occupancy(center(21, 0, 0))[0] == -1


def test_nonfinite_and_out_of_extent_points_are_counted_not_raised():
    tree = SparseOctree(resolution=0.1, depth=4, origin=[0.0, 0.0, 0.0])
    pts = np.array([[0.5, 0.5, 0.5], [np.nan, 0, 0], [np.inf, 1, 1], [5.0, 0.5, 0.5]])
    stats = tree.insert_point_cloud(pts, [0.05, 0.05, 0.05])
    assert stats.points_in == 4
    assert stats.dropped_nonfinite == 2
    assert stats.dropped_outside_extent == 1
    assert stats.occupied_updates == 1
    assert tree.occupancy([[5.0, 0.5, 0.5], [np.nan, 0, 0]]).tolist() == [-1, -1]


def test_dense_and_hashed_scan_deduplication_give_the_same_map():
    rng = np.random.default_rng(2)
    pts = rng.uniform(-3.0, 3.0, (2000, 3))
    pts[::50] = np.nan
    origin = np.array([0.1, -0.2, 0.3])
    dense = SparseOctree(resolution=RES)
    hashed = SparseOctree(resolution=RES)
    hashed.dense_scan_limit = 0
    for tree in (dense, hashed):
        for mode in (False, True):
            tree.insert_point_cloud(pts, origin, 2.5, stamp=1.0, endpoints_only=mode)
        tree.insert_point_cloud(pts[::3] * 0.5, origin, stamp=2.0)
    assert len(dense) > 10_000
    assert hashed.to_bytes() == dense.to_bytes()


def test_endpoint_only_insertion_marks_no_free_space():
    tree = SparseOctree(resolution=RES)
    pts = np.array([center(10, 0, 0), center(10, 0, 0), center(0, 10, 0)])
    stats = tree.insert_endpoints(pts, center(0, 0, 0))
    assert stats.free_updates == 0 and stats.occupied_updates == 2
    assert len(tree) == 2
    assert tree.logodds(center(10, 0, 0))[0] == L_HIT


def test_bad_input_raises_value_error_with_clear_message():
    tree = SparseOctree(resolution=RES)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        tree.insert_point_cloud(np.zeros((4, 2)), [0, 0, 0])
    with pytest.raises(ValueError, match="origin"):
        tree.insert_point_cloud(np.zeros((4, 3)), [0, 0])
    with pytest.raises(ValueError, match="labels"):
        tree.insert_point_cloud(np.zeros((4, 3)), [0, 0, 0], labels=np.zeros(3, int))
    with pytest.raises(ValueError, match="outside the map extent"):
        tree.insert_point_cloud(np.zeros((1, 3)), [1e6, 0, 0])
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        tree.occupancy(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="exceeds"):
        tree.query_box([1, 1, 1], [0, 0, 0])
    with pytest.raises(ValueError, match="prob_hit"):
        SparseOctree(prob_hit=0.4)
    with pytest.raises(ValueError, match="magic"):
        SparseOctree.from_bytes(b"not an octree at all")


# ------------------------------------------------------------------ semantics and time


def test_labels_gain_confidence_and_resist_single_contradictions():
    tree = SparseOctree(resolution=RES, label_rate=0.3)
    p = center(10, 0, 0)
    o = center(0, 0, 0)
    for _ in range(3):
        tree.insert_point_cloud(p, o, labels=[5], object_ids=["Mug|1"])
    labels, lconf, objects, _ = tree.semantics(p)
    assert labels[0] == 5
    assert lconf[0] == pytest.approx(1 - 0.7**3, abs=1e-6)
    assert objects[0] == tree.object_id_of("Mug|1")
    assert tree.object_name(int(objects[0])) == "Mug|1"
    tree.insert_point_cloud(p, o, labels=[2])
    assert tree.semantics(p)[0][0] == 5  # one contradiction does not flip a confident label
    for _ in range(3):
        tree.insert_point_cloud(p, o, labels=[2])
    assert tree.semantics(p)[0][0] == 2


def test_decay_forgets_movable_cells_but_keeps_static_structure():
    tree = SparseOctree(resolution=RES, movable_labels={7}, movable_decay_rate=0.1)
    o = center(0, 0, 0)
    wall = center(10, 0, 0)
    mug = center(0, 10, 0)
    tree.insert_point_cloud([wall, mug], o, labels=[1, 7], stamp=0.0)
    tree.decay(5.0)
    assert tree.logodds(mug)[0] == pytest.approx(L_HIT - 0.5, abs=1e-5)
    assert tree.logodds(wall)[0] == L_HIT
    # re-observed cells restart their clock; decay in steps equals one big step
    tree.insert_point_cloud(wall, o, stamp=6.0)
    tree.decay(8.0)
    tree.decay(8.4)
    assert tree.occupancy(mug)[0] == 1
    tree.decay(10.0)
    assert tree.occupancy(mug)[0] == -1  # 0.847 - 1.0 < 0: back to unknown
    assert tree.occupancy(wall)[0] == 1
    assert tree.occupancy(center(5, 0, 0))[0] == 0  # free evidence does not decay


def test_static_decay_is_off_by_default_and_configurable():
    o = center(0, 0, 0)
    p = center(10, 0, 0)
    still = SparseOctree(resolution=RES)
    fading = SparseOctree(resolution=RES, static_decay_rate=1.0)
    for tree in (still, fading):
        tree.insert_point_cloud(p, o, stamp=0.0)
        tree.insert_point_cloud(center(0, 5, 0), o, stamp=100.0)  # decays first, then inserts
    assert still.occupancy(p)[0] == 1
    assert fading.occupancy(p)[0] == -1


# ------------------------------------------------------------------ queries vs brute force


def test_box_and_radius_queries_match_brute_force(random_map):
    keys, states, centers = brute_cells(random_map)
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.uniform(-1.8, 1.8, 3)
        b = a + rng.uniform(0.0, 1.5, 3)
        got = random_map.query_box(a, b)
        inside = np.all((centers >= a) & (centers <= b), axis=1)
        assert np.array_equal(np.sort(got.keys), keys[inside])
        assert np.array_equal(random_map.occupancy(got.centers), got.states)
        occ = random_map.query_box(a, b, occupied_only=True)
        assert np.array_equal(np.sort(occ.keys), keys[inside & (states == 1)])
        c = rng.uniform(-1.5, 1.5, 3)
        r = rng.uniform(0.0, 0.8)
        got = random_map.query_radius(c, r)
        near = np.sum((centers - c) ** 2, axis=1) <= r * r
        assert np.array_equal(np.sort(got.keys), keys[near])


def test_object_queries_match_brute_force(random_map):
    _, states, centers = brute_cells(random_map)
    _, _, objects, _ = random_map.semantics(centers)
    a, b = np.array([-0.7, -0.5, 0.2]), np.array([0.4, 0.9, 1.1])
    inside = np.all((centers >= a) & (centers <= b), axis=1) & (states == 1)
    expected = np.unique(objects[inside & (objects >= 0)])
    assert np.array_equal(random_map.objects_in_box(a, b), expected)
    c, r = np.array([0.2, 0.1, 0.6]), 0.5
    near = (np.sum((centers - c) ** 2, axis=1) <= r * r) & (states == 1)
    assert np.array_equal(
        random_map.objects_in_radius(c, r), np.unique(objects[near & (objects >= 0)])
    )


def test_coarse_levels_take_the_most_occupied_child(random_map):
    keys, _, centers = brute_cells(random_map)
    lo = random_map.logodds(centers)
    for level in (1, 3, 5):
        coarse = keys >> (3 * level)
        nodes = random_map.level_cells(level)
        assert np.array_equal(nodes.keys, np.unique(coarse))
        best = np.full(nodes.keys.size, -np.inf, np.float32)
        np.maximum.at(best, np.searchsorted(nodes.keys, coarse), lo)
        assert np.array_equal(nodes.states, np.where(best >= 0, 1, 0))
        assert np.array_equal(random_map.occupancy(nodes.centers, level=level), nodes.states)


def test_cast_ray_stops_at_the_first_occupied_cell(random_map):
    rng = np.random.default_rng(4)
    for _ in range(30):
        o = rng.uniform(-0.5, 0.5, 3) + np.array([0, 0, 0.8])
        d = rng.normal(size=3)
        d /= np.linalg.norm(d)
        hit = random_map.cast_ray(o, d, max_range=3.0)
        samples = o + np.linspace(0.0, 3.0, 6001)[:, None] * d
        occ = random_map.occupancy(samples) == 1
        if hit.hit:
            assert random_map.occupancy(hit.point)[0] == 1
            before = np.linalg.norm(samples - o, axis=1) < hit.distance - 1e-9
            assert not occ[before].any()
            # the DDA may catch a corner the sampling misses, never the other way round
            if occ.any():
                first = np.linalg.norm(samples[np.argmax(occ)] - o)
                assert hit.distance <= first + 1e-9
        else:
            assert not occ.any()


def test_cast_ray_reports_unknown_space():
    tree = SparseOctree(resolution=RES)
    o = center(0, 0, 0)
    tree.insert_point_cloud(center(10, 0, 0), o)
    res = tree.cast_ray(o, [0, 1, 0], stop_at_unknown=True)
    assert res.stopped_at_unknown and not res.hit
    res = tree.cast_ray(o, [1, 0, 0], stop_at_unknown=True)
    assert res.hit and res.key == tree.keys_of(center(10, 0, 0))[0]
    assert res.distance == pytest.approx(9.5 * RES)


def test_free_space_check_matches_occupancy(random_map):
    rng = np.random.default_rng(5)
    pts = rng.uniform(-2, 2, (500, 3))
    state = random_map.occupancy(pts)
    assert np.array_equal(random_map.is_free(pts), state == 0)
    assert np.array_equal(random_map.is_free(pts, unknown_is_free=True), state != 1)


def test_frontiers_match_brute_force_with_connected_components(random_map):
    keys, states, _ = brute_cells(random_map)
    ijk = morton_decode(keys)
    known = {tuple(c) for c in ijk.tolist()}
    frontier = []
    for c, s in zip(ijk.tolist(), states.tolist(), strict=True):
        if s != 0:
            continue
        for a in range(3):
            for d in (-1, 1):
                n = list(c)
                n[a] += d
                if tuple(n) not in known:
                    frontier.append(c)
                    break
            else:
                continue
            break
    frontier = np.array(frontier)
    got = random_map.frontiers()
    assert got.sizes.sum() == len(frontier)
    assert np.array_equal(
        np.sort(random_map.keys_of(got.cell_centers)), np.sort(morton_encode(frontier))
    )
    lo = frontier.min(axis=0)
    dense = np.zeros(frontier.max(axis=0) - lo + 1, bool)
    dense[tuple((frontier - lo).T)] = True
    labelled, n = ndimage.label(dense, structure=np.ones((3, 3, 3)))
    sizes = np.sort(np.bincount(labelled[dense])[1:])[::-1]
    assert n == len(got)
    assert np.array_equal(got.sizes, sizes)
    assert np.all(np.diff(got.sizes) <= 0)
    # centroids are the mean of their member cells
    for c in range(min(3, len(got))):
        members = got.cell_centers[got.cell_cluster == c]
        assert np.allclose(members.mean(axis=0), got.centroids[c])
    big = random_map.frontiers(min_cluster_size=10)
    assert np.all(big.sizes >= 10)


def test_projection_to_2d_matches_brute_force(random_map):
    _, states, centers = brute_cells(random_map)
    z0, z1 = 0.1, 0.6
    grid = random_map.project_2d(z0, z1)
    band = (centers[:, 2] >= z0) & (centers[:, 2] <= z1)
    cols = np.round((centers[band, 0] - grid.origin[0]) / RES - 0.5).astype(int)
    rows = np.round((centers[band, 1] - grid.origin[1]) / RES - 0.5).astype(int)
    expected = np.full(grid.data.shape, -1, np.int8)
    s = states[band]
    expected[rows[s == 0], cols[s == 0]] = 0
    expected[rows[s == 1], cols[s == 1]] = 1
    assert cols.min() == 0 and rows.min() == 0
    assert np.array_equal(grid.data, expected)
    fixed = random_map.project_2d(z0, z1, xy_min=[-0.5, -0.5], xy_max=[0.5, 0.5])
    assert fixed.data.shape == (20, 20)
    assert fixed.origin == pytest.approx((-0.5, -0.5))


# ------------------------------------------------------------------ editing, changes, files


def test_pop_changes_reports_state_changes_once():
    tree = SparseOctree(resolution=RES)
    o = center(0, 0, 0)
    p = center(10, 0, 0)
    tree.insert_point_cloud(p, o)
    first = tree.pop_changes()
    assert len(first) == 11
    assert first.states[first.keys == tree.keys_of(p)[0]][0] == 1
    assert len(tree.pop_changes()) == 0
    tree.insert_point_cloud(p, o)  # nothing changes state
    assert len(tree.pop_changes()) == 0
    tree.insert_point_cloud(center(12, 0, 0), o)  # new cells appear, p stays occupied
    assert tree.keys_of(center(12, 0, 0))[0] in tree.pop_changes().keys
    for _ in range(4):  # 2 hits - 5 misses < 0: p turns free
        tree.insert_point_cloud(center(12, 0, 0), o)
    change = tree.pop_changes()
    assert change.keys.tolist() == [tree.keys_of(p)[0]] and change.states.tolist() == [0]
    assert tree.clear_box(p - 0.01, p + 0.01) == 1
    change = tree.pop_changes()
    assert change.keys.tolist() == [tree.keys_of(p)[0]] and change.states.tolist() == [-1]
    tree.reset()
    assert len(tree) == 0
    assert np.all(tree.pop_changes().states == -1)


def test_clear_box_forgets_exactly_the_box(random_map):
    tree = SparseOctree.from_bytes(random_map.to_bytes())
    keys, _, centers = brute_cells(tree)
    a, b = np.array([-0.5, -0.5, 0.0]), np.array([0.5, 0.2, 0.9])
    inside = np.all((centers >= a) & (centers <= b), axis=1)
    assert tree.clear_box(a, b) == inside.sum()
    assert np.array_equal(tree.known_keys()[0], keys[~inside])
    assert np.all(tree.occupancy(centers[inside]) == -1)


def test_save_load_round_trip_is_byte_exact(random_map, tmp_path):
    data = random_map.to_bytes()
    assert data.startswith(FORMAT_MAGIC)
    loaded = SparseOctree.from_bytes(data)
    assert loaded.to_bytes() == data
    path = tmp_path / "map.octree"
    loaded.save(path)
    again = SparseOctree.load(path)
    assert path.read_bytes() == data and again.to_bytes() == data
    _, states, centers = brute_cells(random_map)
    assert np.array_equal(again.occupancy(centers), states)
    assert np.array_equal(again.semantics(centers)[0], random_map.semantics(centers)[0])
    assert np.array_equal(again.stamps(centers), random_map.stamps(centers), equal_nan=True)
    # unsupported versions and truncation are reported, not misread
    bad_version = data[:8] + (99).to_bytes(4, "little") + data[12:]
    with pytest.raises(ValueError, match="version"):
        SparseOctree.from_bytes(bad_version)
    with pytest.raises(ValueError, match="truncated"):
        SparseOctree.from_bytes(data[:-5])


def test_agrees_cell_by_cell_with_octomap():
    octomap = pytest.importorskip("octomap")
    rng = np.random.default_rng(11)
    pts = rng.uniform(-1.0, 1.0, (2000, 3)) * [2.0, 2.0, 1.0] + [0, 0, 1.0]
    origin = np.array([0.013, -0.021, 1.2])
    for max_range in (-1.0, 1.2):
        ours = SparseOctree(resolution=RES)
        ours.insert_point_cloud(pts, origin, max_range=max_range)
        theirs = octomap.OcTree(RES)
        theirs.insertPointCloud(pts, origin, maxrange=max_range)
        keys, states, centers = brute_cells(ours)
        leaves = sum(round(it.getSize() / RES) ** 3 for it in theirs.begin_leafs())
        assert leaves == keys.size
        assert np.mean(theirs.getLabels(centers) == states) > 0.999
        sample = centers[:: max(1, keys.size // 300)]
        theirs_lo = np.array([theirs.search(c).getLogOdds() for c in sample], np.float32)
        assert np.array_equal(theirs_lo, ours.logodds(sample))
