"""The spatial indexes answer exactly what a scan of every point or box answers."""

from __future__ import annotations

import math
import random

import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.scene_graph import Layer, SceneGraph
from memory_nodes.core.spatial_index import FootprintIndex, PointIndex
from memory_nodes.core.types import Box, Pose, Vector3


def _random_point(rng: random.Random, span: float) -> tuple[float, float, float]:
    return rng.uniform(-span, span), rng.uniform(-span, span), rng.uniform(0.0, span / 4)


@pytest.mark.parametrize("cell_size", [0.1, 0.5, 3.0])
def test_point_index_matches_brute_force_under_random_inserts_moves_and_removals(cell_size):
    rng = random.Random(17)
    index = PointIndex(cell_size=cell_size)
    points: dict[int, tuple[float, float, float]] = {}
    for step in range(3000):
        action = rng.random()
        if action < 0.5 or not points:
            item = rng.randrange(800)
            point = _random_point(rng, 10.0)
            index.insert(item, point)
            points[item] = point
        elif action < 0.75:
            item = rng.choice(list(points))
            point = _random_point(rng, 10.0)
            index.move(item, point)
            points[item] = point
        else:
            item = rng.choice(list(points))
            index.remove(item)
            del points[item]
        if step % 25 == 0:
            centre = _random_point(rng, 12.0)
            radius = rng.choice([0.0, 0.3, 1.0, 4.0, 30.0])
            found = index.ids_within(centre, radius)
            assert len(found) == len(set(found))
            expected = {i for i, p in points.items() if _squared(p, centre) <= radius * radius}
            assert set(found) == expected
            lo = _random_point(rng, 12.0)
            hi = tuple(c + rng.uniform(0.0, 6.0) for c in lo)
            in_box = {
                i
                for i, p in points.items()
                if all(a <= c <= b for a, c, b in zip(lo, p, hi, strict=True))
            }
            assert set(index.ids_in_box(lo, hi)) == in_box
    assert len(index) == len(points)


def _squared(a, b) -> float:
    return (a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2 + (a[2] - b[2]) ** 2


def test_point_index_box_query_with_infinite_bounds_and_nearest():
    rng = random.Random(3)
    index = PointIndex(cell_size=0.5)
    points = {i: _random_point(rng, 5.0) for i in range(300)}
    for item, point in points.items():
        index.insert(item, point)
    column = index.ids_in_box((-1.0, -1.0, -math.inf), (1.0, 1.0, math.inf))
    assert set(column) == {i for i, p in points.items() if -1 <= p[0] <= 1 and -1 <= p[1] <= 1}
    centre = (0.3, -0.2, 0.5)
    nearest = index.nearest(centre, 7)
    assert nearest == sorted(points, key=lambda i: _squared(points[i], centre))[:7]


def test_point_index_keeps_non_finite_points_apart_and_refuses_negative_radius():
    index = PointIndex()
    index.insert("nan", (math.nan, 0.0, 0.0))
    index.insert("a", (0.0, 0.0, 0.0))
    assert index.ids_within((0.0, 0.0, 0.0), 1.0) == ["a"]
    index.remove("nan")
    assert "nan" not in index
    with pytest.raises(InvalidInputError):
        index.ids_within((0.0, 0.0, 0.0), -1.0)


def test_footprint_index_finds_every_box_whose_grown_footprint_holds_the_point():
    rng = random.Random(5)
    margin = 0.05
    index = FootprintIndex(cell_size=1.0, margin=margin)
    boxes: dict[int, tuple[tuple[float, float], tuple[float, float]]] = {}
    for step in range(1500):
        item = rng.randrange(200)
        if rng.random() < 0.2 and item in boxes:
            index.remove(item)
            del boxes[item]
        else:
            x, y = rng.uniform(-10, 10), rng.uniform(-10, 10)
            w, d = rng.choice([0.0, 0.2, 1.5, 4.0]), rng.uniform(0.0, 3.0)
            boxes[item] = ((x, y), (x + w, y + d))
            index.insert(item, *boxes[item])
        if step % 10 == 0:
            px, py = rng.uniform(-11, 11), rng.uniform(-11, 11)
            candidates = set(index.ids_at(px, py))
            exact = {
                i
                for i, (lo, hi) in boxes.items()
                if lo[0] - margin <= px <= hi[0] + margin and lo[1] - margin <= py <= hi[1] + margin
            }
            assert exact <= candidates <= set(boxes)


def test_footprint_index_keeps_huge_or_broken_footprints_in_every_answer():
    index = FootprintIndex(cell_size=0.1)
    index.insert("huge", (-1e6, -1e6), (1e6, 1e6))
    index.insert("nan", (math.nan, 0.0), (1.0, 1.0))
    assert set(index.ids_at(500.0, 3.0)) == {"huge", "nan"}
    index.remove("huge")
    assert set(index.ids_at(500.0, 3.0)) == {"nan"}


def _scatter_graph(rng: random.Random, count: int) -> SceneGraph:
    graph = SceneGraph()
    for i in range(count):
        layer = Layer.FURNITURE if i % 10 == 0 else Layer.OBJECT
        node_type = "CounterTop" if layer == Layer.FURNITURE else rng.choice(["Apple", "Mug"])
        centre = Vector3(*_random_point(rng, 4.0))
        graph.add_node(
            layer,
            node_type,
            world_T_object=Pose(centre),
            box=Box(centre, Vector3(0.1, 0.1, 0.1)),
            stamp=float(i),
        )
    return graph


def test_nodes_within_follows_adds_moves_jitter_and_removals_of_the_graph():
    rng = random.Random(11)
    graph = _scatter_graph(rng, 300)
    graph.add_room("kitchen", Box(Vector3(0, 0, 1), Vector3(20, 20, 2)), 0.0)
    stamp = 1000.0
    for step in range(200):
        node = rng.choice([n for n in graph.nodes() if n.layer != Layer.ROOM])
        action = rng.random()
        stamp += 1.0
        if action < 0.4:
            centre = Vector3(*_random_point(rng, 4.0))
            graph.update_node(
                node.node_id, stamp, world_T_object=Pose(centre), box=Box(centre, node.box.size)
            )
        elif action < 0.6:  # jitter: no change logged, the index must still follow
            p = node.position
            centre = Vector3(p.x + 0.005, p.y, p.z)
            graph.update_node(node.node_id, stamp, world_T_object=Pose(centre))
        elif action < 0.7:
            graph.remove_node(node.node_id, stamp)
        elif action < 0.8:
            graph.mark_missing(node.node_id, stamp)
        if step % 5 == 0:
            centre = Vector3(*_random_point(rng, 4.0))
            radius = rng.choice([0.0, 0.5, 1.5, 10.0])
            found = graph.nodes_within(centre, radius)
            expected = {
                n.node_id
                for n in graph.nodes()
                if n.layer in (Layer.FURNITURE, Layer.OBJECT)
                and _squared(_xyz(n.position), _xyz(centre)) <= radius * radius
            }
            assert sorted(n.node_id for n in found) == sorted(expected)
    assert graph.node_types() == {n.node_type for n in graph.nodes()}


def _xyz(v: Vector3) -> tuple[float, float, float]:
    return v.x, v.y, v.z


def test_node_types_drops_a_type_whose_last_node_is_removed():
    graph = _scatter_graph(random.Random(2), 5)
    for node in list(graph.nodes_of_type("CounterTop")):
        graph.remove_node(node.node_id, 10.0)
    assert "CounterTop" not in graph.node_types()
