"""The per-frame code paths rewritten in plain floats give the numpy versions' values exactly.

Each reference below is the numpy code the path replaced, kept here as written: fusion's
running box estimate and its furniture overlap test, the small cost matrix, ``derive_location``
and ``derive_room``, and change detection's window median. Random data, compared to the last
bit (rounding differences would change which node an observation joins, or which receptacle
holds an object, in the rare case that falls between them).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from memory_nodes.core import fusion as fusion_module
from memory_nodes.core.change_detection import (
    _SAMPLE_OFFSETS,
    CameraView,
    ChangeDetectionConfig,
    Visibility,
    _enclosed,
    _visibility_of,
    _window_median,
)
from memory_nodes.core.fusion import ObjectFusion, _Candidate, _Estimate, _overlaps
from memory_nodes.core.object_taxonomy import HANGING_RECEPTACLES, ReceptacleKind, receptacle_kind
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph, SceneNode
from memory_nodes.core.types import Box, CameraIntrinsics, ObjectObservation, Pose, Vector3


def _random_box(rng: random.Random, spread: float = 1.0) -> Box:
    centre = Vector3(*(rng.uniform(-spread, spread) for _ in range(3)))
    return Box(
        centre, Vector3(*(rng.choice([0.05, 0.1, 0.3, rng.uniform(0.01, 2.0)]) for _ in range(3)))
    )


# ------------------------------------------------------------------ fusion


class _NumpyEstimate:
    """fusion._Estimate as it was (numpy arrays)."""

    def __init__(self, box: Box, weight: float) -> None:
        self.center, self.size, self.weight = box.center.as_array(), box.size.as_array(), weight

    def add(self, box: Box, weight: float, cap: float) -> None:
        total = self.weight + weight
        self.center = (self.weight * self.center + weight * box.center.as_array()) / total
        self.size = (self.weight * self.size + weight * box.size.as_array()) / total
        self.weight = min(total, cap)

    def grow(self, box: Box, cap: float) -> bool:
        lo = np.minimum(self.center - self.size / 2.0, box.min_corner)
        hi = np.maximum(self.center + self.size / 2.0, box.max_corner)
        grew = bool(np.any(hi - lo > self.size + 1e-9))
        self.center, self.size = (lo + hi) / 2.0, hi - lo
        self.weight = min(self.weight + 1.0, cap)
        return grew

    def box(self) -> Box:
        return Box(Vector3.from_array(self.center), Vector3.from_array(self.size))


def _numpy_overlaps(a: Box, b: Box, margin: float) -> bool:
    return bool(
        np.all(a.min_corner <= b.max_corner + margin)
        and np.all(b.min_corner <= a.max_corner + margin)
    )


@pytest.mark.parametrize("seed", range(4))
def test_running_estimate_in_floats_equals_the_numpy_estimate_to_the_last_bit(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        first = _random_box(rng)
        weight = rng.choice([1.0, 0.37, 10.0])
        ours, reference = _Estimate.of(first, weight), _NumpyEstimate(first, weight)
        for _ in range(40):
            box = _random_box(rng, 0.2)
            margin = rng.choice([0.0, 0.05])
            assert _overlaps(box, ours.box(), margin) == _numpy_overlaps(
                box, reference.box(), margin
            )
            if rng.random() < 0.3:
                assert ours.grow(box, 20.0) == reference.grow(box, 20.0)
            else:
                confidence = rng.uniform(1e-3, 1.0)
                ours.add(box, confidence, 20.0)
                reference.add(box, confidence, 20.0)
            assert ours.box() == reference.box()
            assert ours.weight == reference.weight


def _observation(rng: random.Random, ids: list[str]) -> ObjectObservation:
    box = _random_box(rng, 0.6)
    return ObjectObservation(rng.choice(ids), "Mug", Pose(box.center), box, 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_small_cost_matrices_in_floats_equal_the_numpy_matrix_to_the_last_bit(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(seed)
    ids = ["", "", "Mug|1", "Mug|2", "Mug|3"]
    graph = SceneGraph()
    fusion = ObjectFusion(graph)
    targets: list = []
    for index in range(30):
        box = _random_box(rng, 0.6)
        external_id = rng.choice(ids)
        if index % 2 and (not external_id or graph.find_object_by_external_id(external_id) is None):
            node_id = graph.add_node(
                Layer.OBJECT, "Mug", world_T_object=Pose(box.center), box=box, stamp=0.0,
                external_id=external_id,
            )  # fmt: skip
            targets.append(graph.get_node(node_id))
        else:
            estimate = _Estimate.of(box, 1.0)
            estimate.add(_random_box(rng, 0.6), 0.5, 20.0)  # centre and size off the grid
            targets.append(_Candidate(index, "Mug", external_id, estimate, set(), 0.0))
    checked = 0
    for _ in range(300):
        observations = [_observation(rng, ids) for _ in range(rng.randint(1, 6))]
        chosen = rng.sample(targets, rng.randint(1, 8))
        in_floats = fusion._cost_pairs(observations, chosen)
        monkeypatch.setattr(fusion_module, "_PAIRS_IN_PLAIN_FLOATS", 0)
        with_numpy = fusion._cost_matrix(observations, chosen)
        monkeypatch.undo()
        np.testing.assert_array_equal(in_floats, with_numpy)
        expected = [[fusion._cost(o, t) for t in chosen] for o in observations]
        np.testing.assert_allclose(in_floats, expected, rtol=0, atol=1e-12)
        checked += int(((in_floats < 1e5) & (in_floats > -1.0)).sum())
    assert checked > 500  # feasible pairs costed by geometry, not only by ids


# ------------------------------------------------------------------ relations


def _random_holder_graph(rng: random.Random, count: int) -> SceneGraph:
    graph = SceneGraph()
    holder_types = ["CounterTop", "Fridge", "Shelf", "Bowl", "Plate", "TowelHolder", "Sink"]
    for i in range(count):
        node_type = rng.choice([*holder_types, "Apple", "Mug"])
        furniture = node_type in ("CounterTop", "Fridge", "Shelf", "Sink")
        size = Vector3(rng.uniform(0.05, 3.0), rng.uniform(0.05, 2.0), rng.uniform(0.02, 1.8))
        centre = Vector3(rng.uniform(-6, 6), rng.uniform(-6, 6), rng.uniform(0.0, 2.0))
        graph.add_node(
            Layer.FURNITURE if furniture else Layer.OBJECT,
            node_type,
            world_T_object=Pose(centre),
            box=Box(centre, size),
            stamp=float(i),
            states={"isOpen": rng.choice(["true", "false"])} if node_type == "Fridge" else {},
        )
    return graph


def _numpy_derive_location(graph: SceneGraph, box: Box, exclude: str = "", max_gap: float = 0.1):
    """SceneGraph.derive_location as it was (numpy corners), over the same holders."""
    center = box.center.as_array()
    bottom = box.min_corner[2]
    volume = box.volume()
    cx, cy = box.center.x, box.center.y
    best = None
    for node in graph._possible_holders(cx, cy):
        if node.node_id == exclude or node.layer not in (Layer.FURNITURE, Layer.OBJECT):
            continue
        if node.node_type not in HANGING_RECEPTACLES:
            held = node.box
            if (
                abs(cx - held.center.x) > held.size.x / 2.0 + 0.021
                or abs(cy - held.center.y) > held.size.y / 2.0 + 0.021
            ):
                continue
        if node.status != NodeStatus.PRESENT:
            continue
        kind = receptacle_kind(node.node_type)
        hanger = node.node_type in HANGING_RECEPTACLES
        if kind == ReceptacleKind.NONE or (node.box.volume() <= volume and not hanger):
            continue
        lo, hi = node.box.min_corner, node.box.max_corner
        if hanger:
            touches = np.all(box.min_corner <= hi + max_gap) and np.all(
                lo <= box.max_corner + max_gap
            )
            if touches:
                candidate = (3, -round(hi[2], 2), node.box.volume(), node.node_id, EdgeType.ON)
                if best is None or candidate[:4] < best[:4]:
                    best = candidate
            continue
        over = bool(np.all(center[:2] >= lo[:2] - 0.02) and np.all(center[:2] <= hi[:2] + 0.02))
        if not over:
            continue
        within = bool(lo[2] - 0.02 <= center[2] <= hi[2] + 0.02)
        closed = node.states.get("isOpen", "").lower() == "false"
        supported = abs(bottom - hi[2]) <= max_gap
        relation = None
        rank, support = 0, 0.0
        if kind == ReceptacleKind.CONTAINER and within and not closed:
            relation = EdgeType.INSIDE
        elif supported:
            relation, rank, support = EdgeType.ON, 1, hi[2]
        elif within and lo[2] - max_gap <= bottom <= hi[2] and lo[2] > max_gap:
            relation, rank, support = EdgeType.ON, 1, lo[2]
        elif within and lo[2] - max_gap <= bottom <= hi[2]:
            relation, rank, support = EdgeType.ON, 2, hi[2]
        if relation is not None:
            candidate = (rank, -round(support, 2), node.box.volume(), node.node_id, relation)
            if best is None or candidate[:4] < best[:4]:
                best = candidate
    return None if best is None else (best[3], best[4])


def _numpy_derive_room(graph: SceneGraph, point: Vector3):
    best = None
    p = point.as_array()
    for room_id in graph._rooms.ids_at(point.x, point.y):
        node = graph.get_node(room_id)
        lo, hi = node.box.min_corner, node.box.max_corner
        if np.all(p[:2] >= lo[:2]) and np.all(p[:2] <= hi[:2]):
            area = node.box.size.x * node.box.size.y
            if best is None or (area, node.node_id) < best:
                best = (area, node.node_id)
    return None if best is None else best[1]


@pytest.mark.parametrize("seed", range(3))
def test_derive_location_and_room_in_floats_equal_the_numpy_versions(seed: int) -> None:
    rng = random.Random(100 + seed)
    graph = _random_holder_graph(rng, 200)
    for index in range(12):
        extent = Box(
            Vector3(rng.uniform(-6, 6), rng.uniform(-6, 6), 1.5),
            Vector3(rng.uniform(1, 8), rng.uniform(1, 8), 3.0),
        )
        graph.add_room(f"room {index}", extent, 0.0)
    for node in list(graph.nodes())[::11]:
        graph.mark_missing(node.node_id, 1.0)
    holders = [n for n in graph.nodes() if graph._holds(n.node_type)]
    found = 0
    for _ in range(700):
        if rng.random() < 0.5:  # resting on, in or just beside a holder: the boundary cases
            holder = rng.choice(holders).box
            size = Vector3(*(rng.uniform(0.02, 0.4) for _ in range(3)))
            centre = Vector3(
                holder.center.x + rng.choice([0.0, 0.5, 0.51, 0.52]) * holder.size.x,
                holder.center.y + rng.uniform(-0.55, 0.55) * holder.size.y,
                rng.choice(
                    [
                        holder.max_corner[2] + size.z / 2.0 + rng.choice([0.0, 0.1, -0.02]),
                        holder.center.z,
                        holder.min_corner[2] + size.z / 2.0,
                    ]
                ),
            )
        else:
            centre = Vector3(rng.uniform(-7, 7), rng.uniform(-7, 7), rng.uniform(0.0, 2.2))
            size = Vector3(*(rng.uniform(0.02, 0.4) for _ in range(3)))
        box = Box(centre, size)
        expected = _numpy_derive_location(graph, box)
        assert graph.derive_location(box) == expected
        found += expected is not None
        assert graph.derive_room(centre) == _numpy_derive_room(graph, centre)
    assert found > 150


# ------------------------------------------------------------------ change detection


def _nanmedian_window(depth, u, v, mask, half):
    """change_detection._window_median as it was (np.nanmedian over float64 windows)."""
    depth = np.asarray(depth, dtype=np.float64)
    out = np.full(u.shape, np.nan)
    if not mask.any():
        return out
    h, w = depth.shape
    offsets = np.arange(-half, half + 1)
    cols = np.clip(u[mask].astype(int)[:, None, None] + offsets[None, None, :], 0, w - 1)
    rows = np.clip(v[mask].astype(int)[:, None, None] + offsets[None, :, None], 0, h - 1)
    window = depth[rows, cols].reshape(rows.shape[0], -1)
    window = np.where(np.isfinite(window) & (window > 0), window, np.nan)
    valid = ~np.all(np.isnan(window), axis=1)
    medians = np.full(window.shape[0], np.nan)
    if valid.any():
        medians[valid] = np.nanmedian(window[valid], axis=1)
    out[mask] = medians
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("half", [0, 1, 2, 3])
def test_window_median_equals_nanmedian_to_the_last_bit(dtype, half: int) -> None:
    rng = np.random.default_rng(half)
    depth = rng.uniform(0.3, 6.0, size=(48, 64)).astype(dtype)
    # Holes: no return (0), NaN, infinity, and patches that are mostly or wholly invalid.
    holes = rng.random(depth.shape)
    depth[holes < 0.15] = 0.0
    depth[(holes >= 0.15) & (holes < 0.2)] = np.nan
    depth[(holes >= 0.2) & (holes < 0.22)] = np.inf
    depth[10:20, 30:45] = 0.0
    depth[30:34, 5:9] = np.round(depth[30:34, 5:9], 1)  # ties
    u = rng.uniform(-5, 70, size=(400, 9))
    v = rng.uniform(-5, 52, size=(400, 9))
    mask = (u >= 0) & (u < 64) & (v >= 0) & (v < 48) & (rng.random((400, 9)) < 0.9)
    expected = _nanmedian_window(depth, u, v, mask, half)
    found = _window_median(depth, u, v, mask, half)
    np.testing.assert_array_equal(found, expected)
    assert np.isnan(expected[mask]).any() and np.isfinite(expected).sum() > 1000


# change_detection._visibility_of and _classify as they were, with the numpy window median.
def _reference_visibility_of(
    graph: SceneGraph, nodes: list[SceneNode], view: CameraView, config: ChangeDetectionConfig
) -> dict[str, Visibility]:
    result: dict[str, Visibility] = {}
    if not nodes:
        return result
    k = view.intrinsics
    depth = np.asarray(view.depth, dtype=np.float64)
    camera_T_world = np.linalg.inv(view.world_T_camera.as_matrix())
    # From tuples: an array per node (Vector3.as_array) cost most of a frame's detection.
    all_centers = np.array([(b.center.x, b.center.y, b.center.z) for b in (n.box for n in nodes)])
    all_sizes = np.array([(b.size.x, b.size.y, b.size.z) for b in (n.box for n in nodes)])
    # Boxes none of whose sample points can be in the frustum are out of view; only the rest
    # are sampled. A sample lies within a quarter of the box diagonal of the centre, and one
    # in view has min_range <= z <= max_range and |x|, |y| within z times the image's spread.
    rotation, translation = camera_T_world[:3, :3], camera_T_world[:3, 3]
    centre_cam = all_centers @ rotation.T + translation
    reach = 0.25 * np.sqrt((all_sizes**2).sum(axis=1)) * (1.0 + 1e-9) + 1e-9
    spread_x = max(abs(k.cx), abs(k.width - k.cx)) / k.fx * (1.0 + 1e-9)
    spread_y = max(abs(k.cy), abs(k.height - k.cy)) / k.fy * (1.0 + 1e-9)
    depth_c = centre_cam[:, 2]
    ahead = depth_c + reach
    near_frustum = (
        (depth_c >= config.min_range - reach)
        & (depth_c <= config.max_range + reach)
        & (np.abs(centre_cam[:, 0]) <= ahead * spread_x + reach)
        & (np.abs(centre_cam[:, 1]) <= ahead * spread_y + reach)
    )
    kept = np.flatnonzero(near_frustum)
    if kept.size == 0:
        return dict.fromkeys((n.node_id for n in nodes), Visibility.OUT_OF_VIEW)
    centers, sizes = all_centers[kept], all_sizes[kept]
    points = centers[:, None, :] + sizes[:, None, :] * _SAMPLE_OFFSETS[None, :, :]  # N x S x 3
    cam = points @ camera_T_world[:3, :3].T + camera_T_world[:3, 3]
    z = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(z > 0, k.fx * cam[..., 0] / z + k.cx, -1.0)
        v = np.where(z > 0, k.fy * cam[..., 1] / z + k.cy, -1.0)
    in_view = (
        (z >= config.min_range)
        & (z <= config.max_range)
        & (u >= 0)
        & (u < k.width)
        & (v >= 0)
        & (v < k.height)
    )
    measured = _nanmedian_window(depth, u, v, in_view, config.depth_window)
    has_depth = in_view & np.isfinite(measured)
    # Nothing may be nearer than the box's own nearest corner: compare against that, not the
    # sample point, or a solid box would hide its own interior samples.
    corners = centers[:, None, :] + sizes[:, None, :] * (2.0 * _SAMPLE_OFFSETS[None, 1:, :])
    nearest = (corners @ camera_T_world[:3, :3].T + camera_T_world[:3, 3])[..., 2].min(axis=1)
    unoccluded = has_depth & (measured >= nearest[:, None] - config.occlusion_margin)
    # Most of the box outside the frustum: out of view, the first test of _classify, made
    # here for all nodes at once (most of those near the camera are behind or beside it).
    outside = in_view.sum(axis=1) * 2 <= in_view.shape[1]
    row_of = dict(zip(kept.tolist(), range(kept.size), strict=True))
    for index, node in enumerate(nodes):
        i = row_of.get(index)
        if i is None or outside[i]:
            result[node.node_id] = Visibility.OUT_OF_VIEW
            continue
        result[node.node_id] = _reference_classify(
            graph, node, config, k, z[i], in_view[i], has_depth[i], unoccluded[i], sizes[i]
        )
    return result


def _reference_classify(
    graph: SceneGraph,
    node: SceneNode,
    config: ChangeDetectionConfig,
    k: CameraIntrinsics,
    z: np.ndarray,
    in_view: np.ndarray,
    has_depth: np.ndarray,
    unoccluded: np.ndarray,
    size: np.ndarray,
) -> Visibility:
    if in_view.sum() * 2 <= in_view.size:  # most of the box is outside the frustum
        return Visibility.OUT_OF_VIEW
    if _enclosed(graph, node):
        return Visibility.ENCLOSED
    if float(size.max()) * k.fx / max(float(z[0]), 1e-6) < config.min_pixel_extent:
        return Visibility.TOO_SMALL
    if not has_depth.any():
        return Visibility.NO_DEPTH
    if unoccluded.sum() < config.visible_fraction * has_depth.sum():
        return Visibility.OCCLUDED
    return Visibility.VISIBLE


@pytest.mark.parametrize("seed", range(3))
def test_visibility_from_vectorised_tests_equals_the_per_box_classification(seed: int) -> None:
    rng = random.Random(seed)
    intrinsics = CameraIntrinsics.from_fov(160, 120, 60.0)
    graph = SceneGraph()
    fridge = graph.add_node(
        Layer.FURNITURE, "Fridge", world_T_object=Pose(Vector3(2.0, 0.0, 0.9)),
        box=Box(Vector3(2.0, 0.0, 0.9), Vector3(0.8, 0.8, 1.8)), stamp=0.0,
        states={"isOpen": "false"},
    )  # fmt: skip
    for i in range(400):
        furniture = i % 20 == 0
        size = Vector3(
            *(rng.uniform(0.5, 2.0) if furniture else rng.uniform(0.02, 0.3) for _ in range(3))
        )
        centre = Vector3(rng.uniform(0.0, 6.0), rng.uniform(-3, 3), rng.uniform(0.0, 2.0))
        node_id = graph.add_node(
            Layer.FURNITURE if furniture else Layer.OBJECT,
            "CounterTop" if furniture else "Apple",
            world_T_object=Pose(centre),
            box=Box(centre, size),
            stamp=0.0,
        )
        if not furniture and i % 7 == 0:
            graph.set_location(node_id, (fridge, EdgeType.INSIDE), 0.0, origin="action")
    # Optical frame looking along world +x from x = -0.5.
    matrix = np.eye(4)
    matrix[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    config = ChangeDetectionConfig()
    nodes = [n for n in graph.nodes() if n.layer in (Layer.FURNITURE, Layer.OBJECT)]
    counts: dict = {}
    np_rng = np.random.default_rng(seed)
    for trial in range(20):
        matrix[:3, 3] = (-0.5, rng.uniform(-1, 1), rng.uniform(0.5, 1.5))
        depth = np_rng.uniform(0.5, 7.0, size=(120, 160)).astype(np.float32)
        depth[np_rng.random(depth.shape) < rng.choice([0.0, 0.3, 0.9])] = 0.0
        if trial % 4 == 0:
            depth[:] = 20.0
        elif trial % 4 == 1:
            depth[:, 80:] = 0.0  # no return on the right half
        view = CameraView(intrinsics, Pose.from_matrix(matrix), depth, 1.0 + trial)
        found = _visibility_of(graph, nodes, view, config)
        assert found == _reference_visibility_of(graph, nodes, view, config)
        for value in found.values():
            counts[value] = counts.get(value, 0) + 1
    assert set(counts) == set(Visibility)  # every outcome is exercised
