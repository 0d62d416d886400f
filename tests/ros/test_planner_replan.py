"""The planner node re-plans when memory is wrong: an object moved while the robot looked away
is reported missing where memory placed it, found by a search, and the task still succeeds."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from geometry_msgs.msg import Point
from memory_interfaces.action import ExecuteTask
from memory_interfaces.srv import ExecuteAction, GetSceneGraph, ObjectHistory, QueryObjects
from rclpy.action import ActionClient
from std_msgs.msg import String

from tests.ros.conftest import call_service, sim_memory_stack, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

FRIDGE = "Fridge|-02.10|+00.00|+01.07"
MICROWAVE = "Microwave|-00.24|+01.69|-02.53"


def _moved_world(tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """FloorPlan1's apple id and the scene with the apple in the closed microwave; writes the
    robot's navigation map (the bridge's answers carry no reachable positions)."""
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim("FloorPlan1", width=64, height=48, seed=0)
    try:
        metadata, _ = sim.step({"action": "GetReachablePositions"})
        positions = [{"x": p["x"], "z": p["z"]} for p in metadata["actionReturn"]]
        (tmp_path / "navigation_map.json").write_text(
            json.dumps({"grid_size": 0.25, "positions": positions})
        )
        apple = next(o["objectId"] for o in metadata["objects"] if o["objectType"] == "Apple")
        for action, target in [("PickupObject", apple), ("OpenObject", MICROWAVE),
                               ("PutObject", MICROWAVE), ("CloseObject", MICROWAVE)]:  # fmt: skip
            metadata, _ = sim.step({"action": action, "objectId": target, "forceAction": True})
            assert metadata["lastActionSuccess"], (action, metadata["errorMessage"])
        return apple, sim.get_state()
    finally:
        sim.close()


def _stack(tmp_path: Path) -> Path:
    """Bridge, perception, both memories and the planner. Long-term memory marks nothing
    missing by itself (no change detection): only the planner's report can."""
    (tmp_path / "planner.yaml").write_text(
        "planner:\n  ros__parameters:\n"
        f"    navigation_map_file: {tmp_path / 'navigation_map.json'}\n"
        "    action_timeout_s: 20.0\n"
    )
    stack = sim_memory_stack(
        tmp_path, ("    - {executable: planner_node, parameters: planner.yaml}\n",)
    )
    (tmp_path / "memory_server.yaml").write_text(
        f"memory_server:\n  ros__parameters:\n    database_path: {tmp_path / 'memory.sqlite'}\n"
        "    change_detection: false\n"
    )
    return stack


def _execute(node, client, action: str, **args: Any) -> ExecuteAction.Response:
    request = ExecuteAction.Request(action=action, args_json=json.dumps(args) if args else "")
    return call_service(node, client, request, 60.0)


def test_an_object_moved_behind_the_robots_back_is_reported_missing_and_found(
    ros_node, start_stack, tmp_path: Path
) -> None:
    apple, moved = _moved_world(tmp_path)
    stack = start_stack(_stack(tmp_path))
    client = ActionClient(ros_node, ExecuteTask, "execute_task")
    execute = ros_node.create_client(ExecuteAction, "/sim_bridge/execute")
    long_term = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    history = ros_node.create_client(ObjectHistory, "/memory_server/object_history")
    graph = ros_node.create_client(GetSceneGraph, "/memory_server/get_scene_graph")
    truth: list[str] = []
    ros_node.create_subscription(String, "ground_truth/objects", lambda m: truth.append(m.data), 10)
    assert spin_until(ros_node, client.server_is_ready, 60.0), stack.output
    assert spin_until(ros_node, execute.service_is_ready, 60.0), stack.output

    def remembered() -> list:
        answer = call_service(ros_node, long_term, QueryObjects.Request(object_type="Apple"))
        return [r for r in answer.records if r.object_id == apple]

    # Memory sees the apple on the island counter the robot starts at.
    def seen_on_the_island() -> bool:
        assert _execute(ros_node, execute, "Pass").success
        return bool(remembered())

    assert spin_until(ros_node, seen_on_the_island, 30.0), stack.output
    (island,) = remembered()
    # Someone puts it in the microwave while the robot looks the other way.
    for _ in range(2):
        assert _execute(ros_node, execute, "RotateRight").success
    set_state = _execute(ros_node, execute, "SetWorldState", state=moved, objectIds=[apple])
    assert set_state.success, set_state.error_message
    (still,) = remembered()
    assert _distance(still.pose.position, island.pose.position) < 0.05  # memory is wrong now

    goal = ExecuteTask.Goal(goal_conditions="INSIDE(apple, fridge): 1", max_steps=250)
    goal.timeout_s = 80.0
    sent = client.send_goal_async(goal)
    assert spin_until(ros_node, sent.done, 10.0) and sent.result().accepted
    done = sent.result().get_result_async()
    assert spin_until(ros_node, done.done, 90.0), "no result before the deadline"
    result = done.result().result
    if not result.success:
        stack.stop(signal.SIGINT)
    assert result.success, f"{result.reasons}\n{stack.output}"

    def in_the_fridge() -> bool:
        objects = json.loads(truth[-1]) if truth else []
        return any(
            o["objectId"] == apple and FRIDGE in (o["parentReceptacles"] or []) for o in objects
        )

    assert spin_until(ros_node, in_the_fridge, 5.0)

    # Long-term memory was told: the island place is marked missing in the apple's history,
    # and it is the apple's earlier place now that memory knows it in the fridge.
    nodes = json.loads(call_service(ros_node, graph, GetSceneGraph.Request()).data)["nodes"]
    (node,) = [n for n in nodes if n.get("external_id") == apple]
    missing = [h for h in node["history"] if h["status"] == "missing"]
    assert missing, node["history"]
    x, y, z = missing[0]["position"]
    assert _distance(Point(x=x, y=y, z=z), island.pose.position) < 0.3
    earlier = call_service(ros_node, history, ObjectHistory.Request(object_id=apple)).records
    assert any(_distance(r.pose.position, island.pose.position) < 0.3 for r in earlier), earlier


def _distance(a: Point, b: Point) -> float:
    return float(np.linalg.norm([a.x - b.x, a.y - b.y, a.z - b.z]))
