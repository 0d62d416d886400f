"""The planner's memory: where the robot guessed it set something down is not a confirmed
place, so the first sighting replaces it; a put the camera saw is confirmed."""

from __future__ import annotations

import pytest

from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
from memory_nodes.planning.memory_interface import ActionEffect, FullMemory
from memory_nodes.planning.percept import Percept


def _plate(x: float, stamp: float, source: str = "gt_mask") -> ObjectObservation:
    pose = Pose(Vector3(x, 0.0, 0.95))
    box = Box(pose.position, Vector3(0.25, 0.25, 0.03))
    return ObjectObservation("Plate|1", "Plate", pose, box, stamp=stamp, source=source)


def _plate_x(memory) -> float:
    (record,) = [r for r in memory.where_is("Plate") if r.object_id == "Plate|1"]
    return record.world_T_object.position.x


@pytest.mark.parametrize(("put_source", "answer"), [("action", 2.6), ("gt_mask", 2.0)])
def test_a_guessed_put_gives_way_to_the_first_sighting_and_a_seen_put_does_not(
    put_source: str, answer: float
) -> None:
    memory = FullMemory(None)
    memory.observe(Percept(1.0, [_plate(0.0, 1.0)], None, Pose()))
    put = ActionEffect(
        "Plate|1", "Plate", "put", 2.0, {"isPickedUp": "false"}, "CounterTop|1", "on",
        observation=_plate(2.0, 2.0, source=put_source),
    )  # fmt: skip
    memory.report_action_effect(put)
    assert _plate_x(memory) == 2.0
    memory.observe(Percept(3.0, [_plate(2.6, 3.0)], None, Pose()))
    assert _plate_x(memory) == answer
    memory.close()
