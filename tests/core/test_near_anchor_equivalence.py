"""Near edges kept by anchors equal near edges derived in full on every refresh.

A refresh of an object re-observed within ``_NEAR_ANCHOR_M`` of its anchor only re-checks its
tight pairs (``SceneGraph._near_unchanged``). These tests run the same random operations on two
graphs, one of them with that shortcut switched off (every refresh is the full derivation the
graph always made), and compare every edge with its stamp and every logged change after each
step; and after each refresh they compare the refreshed object's edges with a scan of every
object.
"""

from __future__ import annotations

import math
import random

import pytest

from memory_nodes.core.fusion import ObjectFusion
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def _full_refresh_only(graph: SceneGraph) -> SceneGraph:
    graph._near_unchanged = lambda *args: False  # type: ignore[method-assign]
    return graph


def _counting_shortcuts(graph: SceneGraph) -> list[int]:
    """Count the refreshes that took the shortcut (so the test shows it ran)."""
    taken = [0]
    inner = graph._near_unchanged

    def counted(*args: object) -> bool:
        done = inner(*args)  # type: ignore[arg-type]
        taken[0] += done
        return done

    graph._near_unchanged = counted  # type: ignore[method-assign]
    return taken


def _state(graph: SceneGraph) -> tuple[list, list]:
    edges = [(e.source, e.target, e.edge_type.value, e.stamp, e.origin) for e in graph.edges()]
    changes = [
        (c.sequence, c.stamp, c.kind.value, c.node_id, c.target_id, c.edge_type, c.detail)
        for c in graph.changes_after(0)
    ]
    return edges, changes


def _brute_force_near(graph: SceneGraph, node_id: str) -> set[str]:
    node = graph.get_node(node_id)
    here = node.position
    return {
        other.node_id
        for other in graph.nodes(Layer.OBJECT)
        if other.node_id != node_id
        and other.status == NodeStatus.PRESENT
        and math.dist(
            (here.x, here.y, here.z), (other.position.x, other.position.y, other.position.z)
        )
        <= graph.near_radius
    }


def _moved(position: Vector3, rng: random.Random, scale: float) -> Vector3:
    return Vector3(*(c + rng.uniform(-scale, scale) for c in (position.x, position.y, position.z)))


@pytest.mark.parametrize("seed", range(5))
def test_anchored_near_edges_equal_full_derivation_under_random_operations(seed: int) -> None:
    rng = random.Random(seed)
    graphs = [SceneGraph(), _full_refresh_only(SceneGraph())]
    shortcuts = _counting_shortcuts(graphs[0])
    # A dense patch: about 25 objects in 1.2 x 1.2 m, so many pairs lie near the 0.3 m radius.
    stamp = 0.0
    for _ in range(25):
        centre = Vector3(rng.uniform(0, 1.2), rng.uniform(0, 1.2), 0.9)
        for graph in graphs:
            graph.add_node(
                Layer.OBJECT,
                "Mug",
                world_T_object=Pose(centre),
                box=Box(centre, Vector3(0.08, 0.08, 0.1)),
                stamp=stamp,
            )
    ids = [n.node_id for n in graphs[0].nodes(Layer.OBJECT)]
    for step in range(1200):
        stamp += 0.1
        action = rng.random()
        node_id = rng.choice(ids)
        node = graphs[0].find_node(node_id)
        if node is None:
            continue
        if action < 0.55:  # re-observed with jitter (mostly under the anchor radius)
            scale = rng.choice([0.001, 0.003, 0.006, 0.012, 0.04])
            position = _moved(node.position, rng, scale)
            for graph in graphs:
                graph.update_node(
                    node_id, stamp, world_T_object=Pose(position), box=Box(position, node.box.size)
                )
                graph.refresh_relations(node_id, stamp, location=False)
        elif action < 0.65:  # re-observed where it is
            for graph in graphs:
                graph.refresh_relations(node_id, stamp, location=False)
        elif action < 0.68:  # moved without a refresh (a caller that refreshes later or never)
            position = _moved(node.position, rng, rng.choice([0.005, 0.05]))
            for graph in graphs:
                graph.update_node(node_id, stamp, world_T_object=Pose(position))
        elif action < 0.77 and node.status == NodeStatus.PRESENT:
            for graph in graphs:
                graph.mark_missing(node_id, stamp)
        elif action < 0.84 and node.status == NodeStatus.MISSING:
            for graph in graphs:
                graph.record_hit(node_id, stamp)
        elif action < 0.86:  # a near edge made or removed by hand
            other = rng.choice(ids)
            if other != node_id and graphs[0].find_node(other) is not None:
                for graph in graphs:
                    if graph.has_edge(node_id, other, EdgeType.NEAR):
                        graph.remove_edge(node_id, other, EdgeType.NEAR, stamp)
                    else:
                        graph.add_edge(node_id, other, EdgeType.NEAR, stamp, origin="user")
        elif action < 0.88 and len(ids) > 10:
            for graph in graphs:
                graph.remove_node(node_id, stamp)
            ids.remove(node_id)
        elif action < 0.92:  # a new object in the patch
            centre = Vector3(rng.uniform(0, 1.2), rng.uniform(0, 1.2), 0.9)
            for graph in graphs:
                new_id = graph.add_node(
                    Layer.OBJECT,
                    "Apple",
                    world_T_object=Pose(centre),
                    box=Box(centre, Vector3(0.07, 0.07, 0.07)),
                    stamp=stamp,
                )
            ids.append(new_id)
        else:
            continue
        # The change log holds every edge added and removed, with its stamp: equal logs at the
        # end mean equal graphs at every step.
        refreshed = graphs[0].find_node(node_id)
        if action < 0.65 and refreshed is not None and refreshed.status == NodeStatus.PRESENT:
            near = set(graphs[0].neighbours(node_id, EdgeType.NEAR))
            assert near == _brute_force_near(graphs[0], node_id), f"step {step}"
    assert _state(graphs[0]) == _state(graphs[1])
    assert shortcuts[0] > 30


def _observation(object_id: str, centre: Vector3, stamp: float, frame: str) -> ObjectObservation:
    return ObjectObservation(
        object_id=object_id,
        object_type="Mug",
        world_T_object=Pose(centre),
        box=Box(centre, Vector3(0.08, 0.08, 0.1)),
        stamp=stamp,
        confidence=0.9,
        source="gt_mask",
        source_frame_id=frame,
    )


@pytest.mark.parametrize("seed", range(3))
def test_fusion_with_noisy_frames_builds_the_same_graph_with_and_without_anchors(
    seed: int,
) -> None:
    rng = random.Random(seed)
    truth = {f"Mug|{i}": Vector3(rng.uniform(0, 1.5), rng.uniform(0, 1.5), 0.95) for i in range(30)}
    graphs = [SceneGraph(), _full_refresh_only(SceneGraph())]
    shortcuts = _counting_shortcuts(graphs[0])
    fusions = [ObjectFusion(graph) for graph in graphs]
    for frame in range(40):
        stamp = 10.0 + frame
        if frame % 10 == 9:  # a few objects move a little or a lot
            for object_id in rng.sample(sorted(truth), 4):
                truth[object_id] = _moved(truth[object_id], rng, rng.choice([0.02, 0.3]))
        observations = [
            _observation(object_id, _moved(centre, rng, 0.008), stamp, "camera")
            for object_id, centre in sorted(truth.items())
            if rng.random() < 0.8
        ]
        results = [fusion.integrate_frame(observations) for fusion in fusions]
        assert results[0] == results[1], f"frame {frame}"
    assert _state(graphs[0]) == _state(graphs[1])
    assert graphs[0].num_edges(EdgeType.NEAR) > 0
    assert shortcuts[0] > 100
