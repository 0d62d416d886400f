"""Long-term memory against simulator ground truth, from real rendered frames.

One exploration of FloorPlan1 (a dozen viewpoints, every frame through perception and
``LongTermMemory.integrate_frame``) is shared by the tests of this module; the change test
then changes the house with a seed and looks around once more.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus
from memory_nodes.evaluation.fidelity import (
    Explorer,
    SceneResult,
    at_true_place,
    cover_positions,
    score_memory,
)

pytestmark = pytest.mark.slow  # look-arounds in the simulator through the whole memory

SCENE = "FloorPlan1"
# Known relations of FloorPlan1's dump (object, receptacle, edge).
KNOWN_RELATIONS = [
    ("Apple|-00.47|+01.15|+00.48", "CounterTop|-00.08|+01.15|00.00", EdgeType.ON),
    ("Bread|-00.52|+01.17|-00.03", "CounterTop|-00.08|+01.15|00.00", EdgeType.ON),
    ("Lettuce|-01.81|+00.97|-00.94", "CounterTop|-01.87|+00.95|-01.21", EdgeType.ON),
]


class Explored:
    def __init__(self, sim, memory: LongTermMemory, explorer: Explorer, positions) -> None:
        self.sim, self.memory, self.explorer, self.positions = sim, memory, explorer, positions

    def truth(self) -> dict[str, dict]:
        metadata, _ = self.sim.step({"action": "Pass"})
        return {o["objectId"]: o for o in metadata["objects"]}


@pytest.fixture(scope="module")
def explored(tmp_path_factory: pytest.TempPathFactory):
    from sim import HouseholdSim

    sim = HouseholdSim(
        SCENE, width=160, height=120, renderDepthImage=True, renderInstanceSegmentation=True
    )
    memory = LongTermMemory(Path(tmp_path_factory.mktemp("fidelity")) / "memory.sqlite")
    metadata, _ = sim.step({"action": "GetReachablePositions"})
    positions = cover_positions(metadata["actionReturn"], 10)
    explorer = Explorer(sim, memory)
    explorer.tour(positions)
    yield Explored(sim, memory, explorer, positions)
    memory.close()
    sim.close()


def test_fusion_across_views_creates_no_duplicates(explored: Explored) -> None:
    nodes = [
        n
        for layer in (Layer.FURNITURE, Layer.OBJECT)
        for n in explored.memory.graph.nodes(layer)
        if n.status == NodeStatus.PRESENT
    ]
    assert explored.explorer.frames > 100 and len(nodes) > 30
    ids = Counter(n.external_id for n in nodes)
    assert "" not in ids, "every node should carry the instance id it was built from"
    assert [i for i, count in ids.items() if count > 1] == []
    result = SceneResult(SCENE)
    score_memory(
        explored.memory, explored.truth(), explored.explorer.visible_ids, result, tolerance=0.5
    )
    assert result.precision.ratio == 1.0, result.failures.get("precision")
    assert result.recall.ratio >= 0.95, result.failures.get("recall")
    # The floor is visible and mapped by the octree; recall asks only for objects.
    floor = {i for i in explored.truth() if i.startswith("Floor")}
    assert floor & explored.explorer.visible_ids
    assert not floor & set(result.failures.get("recall", []))


@pytest.mark.parametrize(("object_id", "receptacle_id", "relation"), KNOWN_RELATIONS)
def test_on_and_inside_edges_match_the_truth(
    explored: Explored, object_id: str, receptacle_id: str, relation: EdgeType
) -> None:
    truth = explored.truth()
    assert receptacle_id in truth[object_id]["parentReceptacles"]
    graph = explored.memory.graph
    node = graph.find_object_by_external_id(object_id)
    assert node is not None, f"{object_id} was never remembered"
    location = graph.find_location(node.node_id)
    assert location is not None, f"{object_id} has no receptacle"
    assert graph.get_node(location[0]).external_id == receptacle_id
    assert location[1] == relation


def test_change_detection_marks_moved_and_removed_objects_after_a_look_around(
    explored: Explored,
) -> None:
    from sim.household_changes import HouseholdChangeProcess

    graph = explored.memory.graph
    before = {n.external_id: n.position.as_array() for n in graph.nodes(Layer.OBJECT)}
    process = HouseholdChangeProcess(explored.sim, seed=5)
    changes = [c for c in process.run(8) if c.kind in ("move", "remove")]
    watched = [c for c in changes if c.object_id in before]
    assert {c.kind for c in watched} == {"move", "remove"}, "the seed should move and remove"
    # One look-around over a denser set of cells than the exploration: memory marks an object
    # missing only after its old place was seen empty `misses_to_missing` (3-5) times.
    metadata, _ = explored.sim.step({"action": "GetReachablePositions"})
    explored.explorer.stamp += 3600.0
    explored.explorer.tour(cover_positions(metadata["actionReturn"], 16))
    truth = explored.truth()
    for change in watched:
        node = graph.find_object_by_external_id(change.object_id)
        assert node is not None
        if change.kind == "remove":
            assert node.status == NodeStatus.MISSING, f"{change.object_id} removed, still there"
            assert graph.find_location(node.node_id) is None
            continue
        new_place = truth[change.object_id]
        old = before[change.object_id]
        if node.status == NodeStatus.PRESENT:
            assert at_true_place(node, new_place, 0.5), f"{change.object_id} kept its old place"
            assert float(np.linalg.norm(node.position.as_array() - old)) > 0.25
        # MISSING is also right: the new place may be out of every viewpoint's sight.
