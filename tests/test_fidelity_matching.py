"""The fidelity evaluation's matching of memory's nodes to the simulator's objects.

Nodes with an objectId are that object; id-free nodes are matched by type and position. The
Hungarian matching is compared with a brute force over every assignment on random scenes.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from memory_nodes.core.scene_graph import Layer, SceneGraph, SceneNode
from memory_nodes.core.types import Box, Pose, Quaternion, Vector3
from memory_nodes.evaluation.fidelity import (
    SceneResult,
    _truth_center,
    at_true_place,
    match_nodes,
)

TOLERANCE = 0.5


def _truth_object(object_id: str, object_type: str, centre_map: np.ndarray) -> dict:
    # map (x, y, z) = unity (z, -x, y)
    x, y, z = centre_map.tolist()
    return {
        "objectId": object_id,
        "objectType": object_type,
        "axisAlignedBoundingBox": {
            "center": {"x": -y, "y": z, "z": x},
            "size": {"x": 0.1, "y": 0.1, "z": 0.1},
        },
        "pickupable": False,
        "parentReceptacles": [],
    }


def _add(graph: SceneGraph, object_type: str, centre: np.ndarray, external_id: str = "") -> str:
    return graph.add_node(
        Layer.OBJECT,
        object_type,
        world_T_object=Pose(Vector3.from_array(centre), Quaternion()),
        box=Box(Vector3.from_array(centre), Vector3(0.1, 0.1, 0.1)),
        stamp=1.0,
        external_id=external_id,
    )


def _random_scene(seed: int) -> tuple[list[SceneNode], dict[str, dict]]:
    rng = np.random.default_rng(seed)
    graph = SceneGraph()
    truth = {}
    for object_type in ("Mug", "Apple"):
        for index in range(int(rng.integers(0, 5))):
            centre = np.array([*rng.uniform(0.0, 1.5, size=2), 0.9])
            object_id = f"{object_type}|{index}"
            truth[object_id] = _truth_object(object_id, object_type, centre)
        for _ in range(int(rng.integers(0, 5))):
            _add(graph, object_type, np.array([*rng.uniform(0.0, 1.5, size=2), 0.9]))
    return list(graph.nodes(Layer.OBJECT)), truth


def _brute_force(nodes: list[SceneNode], truth: dict[str, dict]) -> dict[str, tuple[int, float]]:
    """Per type: the most pairs at the true place, then the least total centre distance."""
    best_by_type = {}
    for object_type in sorted({n.node_type for n in nodes}):
        typed = [n for n in nodes if n.node_type == object_type]
        objects = [o for o in truth.values() if o["objectType"] == object_type]
        best = (0, 0.0)
        slots = objects + [None] * len(typed)
        for chosen in itertools.permutations(slots, len(typed)):
            pairs = [(n, o) for n, o in zip(typed, chosen, strict=True) if o is not None]
            if not all(at_true_place(n, o, TOLERANCE) for n, o in pairs):
                continue
            total = sum(
                float(np.linalg.norm(n.position.as_array() - _truth_center(o))) for n, o in pairs
            )
            if (len(pairs), -total) > (best[0], -best[1]):
                best = (len(pairs), total)
        best_by_type[object_type] = best
    return best_by_type


@pytest.mark.parametrize("seed", range(40))
def test_position_matching_equals_a_brute_force_over_all_assignments(seed: int) -> None:
    nodes, truth = _random_scene(seed)
    matched = match_nodes(nodes, truth, TOLERANCE)
    assert len(set(matched.values())) == len(matched), "one node per object"
    by_id = {n.node_id: n for n in nodes}
    for object_type, (count, total) in _brute_force(nodes, truth).items():
        pairs = [
            (by_id[node_id], truth[object_id])
            for node_id, object_id in matched.items()
            if by_id[node_id].node_type == object_type
        ]
        assert all(o["objectType"] == object_type for _, o in pairs)
        assert all(at_true_place(n, o, TOLERANCE) for n, o in pairs)
        mine = sum(
            float(np.linalg.norm(n.position.as_array() - _truth_center(o))) for n, o in pairs
        )
        assert len(pairs) == count
        assert mine == pytest.approx(total, abs=1e-9)


def test_a_node_with_an_object_id_is_that_object_wherever_it_is() -> None:
    graph = SceneGraph()
    truth = {"Mug|a": _truth_object("Mug|a", "Mug", np.array([0.0, 0.0, 0.9]))}
    node_id = _add(graph, "Mug", np.array([3.0, 0.0, 0.9]), external_id="Mug|a")
    assert match_nodes(list(graph.nodes(Layer.OBJECT)), truth, TOLERANCE) == {node_id: "Mug|a"}


def test_two_nodes_at_one_object_are_a_match_and_a_duplicate() -> None:
    from memory_nodes.core.long_term import LongTermMemory
    from memory_nodes.evaluation.fidelity import score_memory

    truth = {
        "Mug|a": _truth_object("Mug|a", "Mug", np.array([0.0, 0.0, 0.9])),
        "Mug|b": _truth_object("Mug|b", "Mug", np.array([1.0, 0.0, 0.9])),
    }
    memory = LongTermMemory(":memory:")
    try:
        _add(memory.graph, "Mug", np.array([0.05, 0.0, 0.9]))
        _add(memory.graph, "Mug", np.array([-0.1, 0.0, 0.9]))
        _add(memory.graph, "Mug", np.array([1.0, 0.02, 0.9]))
        result = SceneResult("synthetic")
        score_memory(memory, truth, set(truth), result, TOLERANCE)
    finally:
        memory.close()
    assert (result.recall.hits, result.recall.total) == (2, 2)
    assert (result.precision.hits, result.precision.total) == (2, 3)
    assert (result.duplicates.hits, result.duplicates.total) == (1, 3)
    assert sorted(round(e, 3) for e in result.position_errors) == [0.02, 0.05]
