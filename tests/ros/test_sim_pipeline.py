"""Simulator -> bridge -> perception -> memory, every node in its own process over DDS."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
from memory_interfaces.srv import ExecuteAction, QueryObjects
from std_msgs.msg import String

from memory_nodes.adapters.ai2thor_perception import unity_to_map
from tests.ros.conftest import call_service, sim_memory_stack, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

FRIDGE = "Fridge|-02.10|+00.00|+01.07"


def test_objects_the_robot_sees_reach_both_memories_at_their_true_places(
    ros_node, start_stack, tmp_path: Path
) -> None:
    stack = start_stack(sim_memory_stack(tmp_path))
    execute = ros_node.create_client(ExecuteAction, "/sim_bridge/execute")
    long_term = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    short_term = ros_node.create_client(QueryObjects, "/short_term_memory/query_objects")
    truth: list[str] = []
    ros_node.create_subscription(String, "ground_truth/objects", lambda m: truth.append(m.data), 10)
    for client in (execute, long_term, short_term):
        assert spin_until(ros_node, client.service_is_ready, 60.0), stack.output

    # Look around twice: fusion wants two consistent frames before it believes an object.
    for action in ["Pass", "Pass", "RotateLeft", "RotateLeft", "RotateLeft", "RotateLeft"] * 2:
        answer = call_service(ros_node, execute, ExecuteAction.Request(action=action), 30.0)
        assert answer.success, answer.error_message
        spin_until(ros_node, lambda: False, 0.3)

    bad = call_service(ros_node, execute, ExecuteAction.Request(action="FlyToTheMoon"))
    assert not bad.success and "FlyToTheMoon" in bad.error_message
    bad = call_service(
        ros_node, execute, ExecuteAction.Request(action="OpenObject", object_id="Unicorn|1|2|3")
    )
    assert not bad.success and bad.error_message

    def _records(client, object_type: str):
        return call_service(ros_node, client, QueryObjects.Request(object_type=object_type)).records

    assert spin_until(ros_node, lambda: bool(_records(long_term, "Fridge")), 20.0), stack.output
    fridge = _records(long_term, "Fridge")[0]
    assert fridge.object_id == FRIDGE and fridge.memory_source == "long_term"
    # The bridge's state classifier stand-in reaches memory through perception.
    assert {(kv.key, kv.value) for kv in fridge.states} >= {("isOpen", "false")}
    assert _records(short_term, "Fridge")[0].memory_source == "short_term"

    assert spin_until(ros_node, lambda: bool(truth), 10.0)
    objects = {o["objectId"]: o for o in json.loads(truth[-1])}
    true_centre = unity_to_map(objects[FRIDGE]["axisAlignedBoundingBox"]["center"])
    seen = fridge.pose.position
    # Perception sees the front of the fridge only, so its centroid sits a little forward.
    assert np.linalg.norm(np.array([seen.x, seen.y]) - true_centre[:2]) < 0.5

    code, elapsed = stack.stop(signal.SIGINT)
    assert code == 0, stack.output
    assert elapsed < 5.0
