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
from memory_nodes.core.change_detection import _window_median
from memory_nodes.core.fusion import ObjectFusion, _Candidate, _Estimate, _overlaps
from memory_nodes.core.object_taxonomy import HANGING_RECEPTACLES, ReceptacleKind, receptacle_kind
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


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
    for _ in range(1500):
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
    assert found > 300


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
