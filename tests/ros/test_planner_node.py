"""A household task through the planner node: bridge, perception, both memories, planner, each
in its own process, driven by an ExecuteTask action client in the test process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from memory_interfaces.action import ExecuteTask
from memory_interfaces.srv import ExecuteAction, QueryObjects
from rclpy.action import ActionClient
from std_msgs.msg import String

from memory_nodes.nodes.registry import NODE_MODULES
from tests.ros.conftest import call_service, sim_memory_stack, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

FRIDGE = "Fridge|-02.10|+00.00|+01.07"
Result = ExecuteTask.Result


def _write_navigation_map(path: Path) -> None:
    """The robot's prebuilt map: the bridge's answers carry no reachable positions."""
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim("FloorPlan1", width=64, height=48, seed=0)
    try:
        metadata, _ = sim.step({"action": "GetReachablePositions"})
        positions = [{"x": p["x"], "z": p["z"]} for p in metadata["actionReturn"]]
    finally:
        sim.close()
    path.write_text(json.dumps({"grid_size": 0.25, "positions": positions}))


def _stack(tmp_path: Path) -> tuple[Path, Path]:
    """Stack file and planner parameters file in ``tmp_path``."""
    nav_map = tmp_path / "navigation_map.json"
    _write_navigation_map(nav_map)
    planner = tmp_path / "planner.yaml"
    planner.write_text(
        "planner:\n  ros__parameters:\n"
        f"    navigation_map_file: {nav_map}\n    action_timeout_s: 20.0\n"
    )
    extra = ()
    if "planner_node" in NODE_MODULES:
        extra = ("    - {executable: planner_node, parameters: planner.yaml}\n",)
    stack = sim_memory_stack(tmp_path, extra)
    return stack, planner


@pytest.fixture
def planner_process():
    """The planner in its own process, outside any stack."""
    processes: list[subprocess.Popen] = []

    def _start(params: Path) -> None:
        command = [sys.executable, "-m", "memory_nodes.nodes.planner_node"]
        command += ["--ros-args", "--params-file", str(params)]
        processes.append(subprocess.Popen(command, start_new_session=True))

    yield _start
    for process in processes:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _run_goal(node, client: ActionClient, goal: ExecuteTask.Goal, timeout_s: float):
    """Send ``goal``; return (result, feedback messages)."""
    feedback: list[ExecuteTask.Feedback] = []
    sent = client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(m.feedback))
    assert spin_until(node, sent.done, 10.0), "goal was not acknowledged"
    handle = sent.result()
    assert handle.accepted
    result = handle.get_result_async()
    assert spin_until(node, result.done, timeout_s), "no result before the deadline"
    return result.result().result, feedback


def test_planner_puts_the_apple_in_the_fridge_and_long_term_memory_knows_it(
    ros_node, start_stack, planner_process, tmp_path: Path
) -> None:
    stack_file, planner_params = _stack(tmp_path)
    stack = start_stack(stack_file)
    if "planner_node" not in NODE_MODULES:
        planner_process(planner_params)
    client = ActionClient(ros_node, ExecuteTask, "execute_task")
    long_term = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    truth: list[str] = []
    ros_node.create_subscription(String, "ground_truth/objects", lambda m: truth.append(m.data), 10)
    assert spin_until(ros_node, client.server_is_ready, 60.0), stack.output
    assert spin_until(ros_node, long_term.service_is_ready, 30.0), stack.output
    # The simulator answers its first step once it has loaded the scene (slow on a busy machine).
    execute = ros_node.create_client(ExecuteAction, "/sim_bridge/execute")
    assert spin_until(ros_node, execute.service_is_ready, 60.0), stack.output
    assert call_service(ros_node, execute, ExecuteAction.Request(action="Pass"), 60.0).success

    started = time.monotonic()
    bad, feedback = _run_goal(
        ros_node, client, ExecuteTask.Goal(goal_conditions="LEVITATE(apple): 1"), 10.0
    )
    assert time.monotonic() - started < 5.0
    assert not bad.success and bad.result_code == Result.RESULT_INVALID_GOAL
    assert any("LEVITATE" in reason for reason in bad.reasons), bad.reasons
    assert not feedback

    goal = ExecuteTask.Goal(goal_conditions="INSIDE(apple, fridge): 1", max_steps=200)
    goal.timeout_s = 60.0
    result, feedback = _run_goal(ros_node, client, goal, 70.0)
    if not result.success:
        stack.stop(signal.SIGINT)
    assert result.success and result.result_code == Result.RESULT_SUCCEEDED, (
        f"{result.reasons}\n{stack.output}"
    )
    assert result.subgoals_succeeded == result.subgoals_total == 8
    assert 0 < result.steps <= 200
    # Feedback travels on a topic, the result through a service: the last may come later.
    succeeded = lambda: [f.subgoal_index for f in feedback if f.status == "succeeded"]  # noqa: E731
    assert spin_until(ros_node, lambda: succeeded() == list(range(8)), 5.0), feedback
    assert ("put(Fridge)", "succeeded") in [(f.subgoal, f.status) for f in feedback]

    def _apple_in_fridge() -> bool:
        answer = call_service(ros_node, long_term, QueryObjects.Request(object_type="Apple"))
        return any(
            r.receptacle_id == FRIDGE and r.receptacle_relation == "inside" for r in answer.records
        )

    assert spin_until(ros_node, _apple_in_fridge, 10.0), stack.output
    assert spin_until(ros_node, lambda: bool(truth), 5.0)
    apples = [o for o in json.loads(truth[-1]) if o["objectType"] == "Apple"]
    assert any(FRIDGE in (o.get("parentReceptacles") or []) for o in apples)

    # A canceled task stops before its next action and says so.
    sent = client.send_goal_async(
        ExecuteTask.Goal(goal_conditions="ON(apple, countertop): 1"),
        feedback_callback=lambda m: feedback.append(m.feedback),
    )
    feedback.clear()
    assert spin_until(ros_node, sent.done, 10.0) and sent.result().accepted
    assert spin_until(ros_node, lambda: bool(feedback), 10.0)
    cancel = sent.result().cancel_goal_async()
    assert spin_until(ros_node, cancel.done, 10.0)
    canceled = sent.result().get_result_async()
    assert spin_until(ros_node, canceled.done, 20.0)
    assert canceled.result().result.result_code == Result.RESULT_CANCELED
    assert any("cancel" in reason for reason in canceled.result().result.reasons)


def test_a_silent_bridge_ends_the_task_with_a_reason_instead_of_a_hang(
    ros_node, planner_process, tmp_path: Path
) -> None:
    params = tmp_path / "planner.yaml"
    params.write_text(
        "planner:\n  ros__parameters:\n    bridge_service: /nobody/execute\n"
        "    action_timeout_s: 1.0\n"
    )
    planner_process(params)
    client = ActionClient(ros_node, ExecuteTask, "execute_task")
    assert spin_until(ros_node, client.server_is_ready, 30.0)
    started = time.monotonic()
    goal = ExecuteTask.Goal(goal_conditions="INSIDE(apple, fridge): 1")
    result, _feedback = _run_goal(ros_node, client, goal, 15.0)
    assert time.monotonic() - started < 10.0
    assert result.result_code == Result.RESULT_FAILED and not result.success
    assert any("/nobody/execute" in reason for reason in result.reasons), result.reasons


def test_goals_the_planner_cannot_read_are_invalid_with_the_reason() -> None:
    from memory_nodes.nodes.planner_node import plan_goal

    plan, why = plan_goal("INSIDE(apple, fridge): 1")
    assert plan is not None and len(plan.subgoals) == 8 and why == ""
    for text, expected in [("", "empty"), ("LEVITATE(apple): 1", "LEVITATE"), ("???", "parse")]:
        plan, why = plan_goal(text)
        assert plan is None and expected in why, (text, why)
    assert "instruction" in plan_goal("", "put the apple in the fridge")[1]


def test_action_requests_carry_the_object_apart_and_other_arguments_as_json() -> None:
    from memory_nodes.nodes.planner_ros_adapters import action_request

    put = action_request({"action": "PutObject", "objectId": "Fridge|1", "forceAction": True})
    assert (put.action, put.object_id) == ("PutObject", "Fridge|1")
    assert json.loads(put.args_json) == {"forceAction": True}
    assert action_request({"action": "MoveAhead"}).args_json == ""


def test_frame_buffer_returns_a_frame_only_when_every_stream_of_its_stamp_arrived() -> None:
    from memory_nodes.nodes.planner_ros_adapters import FrameBuffer

    buffer = FrameBuffer(streams=("color", "depth"), max_stamps=2)
    buffer.add("color", (1, 0), "c1")
    assert buffer.wait_complete((1, 0), 0.01) is None
    buffer.add("depth", (1, 0), "d1")
    assert buffer.wait_complete((1, 0), 0.01) == {"color": "c1", "depth": "d1"}
    buffer.add("color", (2, 0), "c2")
    buffer.add("color", (3, 0), "c3")
    assert buffer.wait_complete((1, 0), 0.01) is None  # fell out of the buffer
