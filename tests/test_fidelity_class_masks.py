"""Memory from class masks (types, no ids) on real rendered frames, scored against the truth.

Three viewpoints of FloorPlan1 see its long counter top and its sink basin in parts; without
ids each used to start a second node inside the first. Memory must hold one node per object.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.evaluation.fidelity import (
    Explorer,
    SceneResult,
    _present_things,
    cover_positions,
    score_memory,
)

pytestmark = pytest.mark.slow  # a look-around in the simulator through the whole memory


def test_class_masks_memory_of_floorplan1_has_no_duplicates_and_no_ids(tmp_path: Path) -> None:
    from sim import HouseholdSim

    sim = HouseholdSim(
        "FloorPlan1",
        width=224,
        height=168,
        seed=0,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
    )
    memory = LongTermMemory(tmp_path / "memory.sqlite")
    try:
        metadata, _ = sim.step({"action": "GetReachablePositions"})
        explorer = Explorer(sim, memory, perception="class_masks")
        explorer.tour(cover_positions(metadata["actionReturn"], 3))
        metadata, _ = sim.step({"action": "Pass"})
        truth = {o["objectId"]: o for o in metadata["objects"]}
        result = SceneResult("FloorPlan1")
        score_memory(memory, truth, explorer.visible_ids, result, tolerance=0.5)
        nodes = _present_things(memory)
    finally:
        memory.close()
        sim.close()
    assert len(nodes) > 20 and all(not n.external_id and not n.states for n in nodes)
    assert result.duplicates.hits == 0, result.failures.get("duplicates")
    assert result.precision.ratio == 1.0, result.failures.get("precision")
    assert result.recall.ratio >= 0.95, result.failures.get("recall")
    assert result.state_accuracy.total == 0  # no states are read on this path
