"""The short-term memory node in its own process, driven over DDS by this test process."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from memory_interfaces.msg import ObjectObservationArray
from memory_interfaces.srv import QueryObjects
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters

from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
from memory_nodes.nodes import conversions
from tests.ros.conftest import ROOT, call_service, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

STACK = ROOT / "config" / "stack_memory.yaml"


def _observations(count: int, stamp: float, start: int = 0) -> ObjectObservationArray:
    msg = ObjectObservationArray()
    msg.header.frame_id = "map"
    for index in range(start, start + count):
        position = Vector3(0.5 * index, 1.0, 0.9)
        observation = ObjectObservation(
            object_id=f"Apple|{index}",
            object_type="Apple" if index % 2 == 0 else "Mug",
            world_T_object=Pose(position),
            box=Box(position, Vector3(0.1, 0.1, 0.1)),
            stamp=stamp,
            source="gt_mask",
        )
        msg.observations.append(conversions.observation_to_msg(observation))
    return msg


def _query(ros_node, client, **fields) -> QueryObjects.Response:
    request = QueryObjects.Request()
    for key, value in fields.items():
        setattr(request, key, value)
    return call_service(ros_node, client, request)


def _six_entries(ros_node):
    """Clients of the running node, after six observed objects reached its cache."""
    set_client = ros_node.create_client(SetParameters, "/short_term_memory/set_parameters")
    query = ros_node.create_client(QueryObjects, "/short_term_memory/query_objects")
    publisher = ros_node.create_publisher(ObjectObservationArray, "observations", 10)
    assert spin_until(ros_node, query.service_is_ready, 20.0)
    assert spin_until(ros_node, lambda: publisher.get_subscription_count() > 0, 10.0)
    publisher.publish(_observations(6, stamp=time.time()))
    assert spin_until(ros_node, lambda: len(_query(ros_node, query).records) == 6, 10.0)
    return set_client, query


def test_node_in_another_process_stores_streamed_observations_and_answers_queries(
    ros_node, start_stack
) -> None:
    stack = start_stack(STACK)
    publisher = ros_node.create_publisher(ObjectObservationArray, "observations", 10)
    client = ros_node.create_client(QueryObjects, "/short_term_memory/query_objects")
    assert spin_until(ros_node, client.service_is_ready, 20.0), "node did not come up"
    assert spin_until(ros_node, lambda: publisher.get_subscription_count() > 0, 10.0)

    # A stream of frames, with a malformed observation in the middle that must not stop it.
    for frame in range(10):
        msg = _observations(4, stamp=time.time(), start=frame % 3)
        if frame == 5:
            msg.observations[0].object_type = ""
        publisher.publish(msg)
        spin_until(ros_node, lambda: False, 0.05)

    def _apples() -> QueryObjects.Response:
        return _query(ros_node, client, object_type="Apple")

    assert spin_until(ros_node, lambda: len(_apples().records) == 3, 10.0)
    response = _apples()
    assert response.success
    assert {r.object_id for r in response.records} == {"Apple|0", "Apple|2", "Apple|4"}
    assert all(r.memory_source == "short_term" for r in response.records)

    near = _query(
        ros_node,
        client,
        use_near=True,
        near=conversions.Point(x=0.0, y=1.0, z=0.9),
        radius=0.6,
    )
    assert [r.object_id for r in near.records] == ["Apple|0", "Apple|1"]

    unsupported = _query(ros_node, client, text="something to cut bread with")
    assert unsupported.success is False and "short-term" in unsupported.message

    code, elapsed = stack.stop(signal.SIGINT)
    assert code == 0, stack.output
    assert elapsed < 5.0
    assert "rejected" in stack.output  # the malformed observation was logged, not fatal


def test_capacity_and_policy_change_at_run_time_and_bad_values_are_refused(
    ros_node, start_stack
) -> None:
    start_stack(STACK)
    get_client = ros_node.create_client(GetParameters, "/short_term_memory/get_parameters")
    set_client, query = _six_entries(ros_node)

    def _set(name: str, value: ParameterValue) -> bool:
        request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=value)])
        return call_service(ros_node, set_client, request).results[0].successful

    assert not _set("policy", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="x"))
    assert not _set(
        "capacity", ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=0)
    )
    assert len(_query(ros_node, query).records) == 6  # refused changes lose nothing

    assert _set("policy", ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="lru"))
    assert len(_query(ros_node, query).records) == 6  # switching policy keeps every entry
    assert _set("capacity", ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=4))
    assert len(_query(ros_node, query).records) == 4
    values = call_service(
        ros_node, get_client, GetParameters.Request(names=["capacity", "policy"])
    ).values
    assert (values[0].integer_value, values[1].string_value) == (4, "lru")


@pytest.mark.parametrize("config_name", ["stack_memory.yaml", "stack_composed.yaml"])
def test_launcher_stops_cleanly_on_sigterm_without_orphans(
    ros_node, start_stack, config_name: str
) -> None:
    stack = start_stack(ROOT / "config" / config_name)
    client = ros_node.create_client(QueryObjects, "/short_term_memory/query_objects")
    assert spin_until(ros_node, client.service_is_ready, 20.0), "node did not come up"
    children = stack.child_pids()
    code, elapsed = stack.stop(signal.SIGTERM)
    assert code == 0, stack.output
    assert elapsed < 5.0
    for pid in children:
        assert not Path(f"/proc/{pid}").exists(), f"node process {pid} outlived the launcher"


def test_launcher_reports_a_dead_node_and_stops_with_an_error(ros_node, start_stack) -> None:
    stack = start_stack(STACK)
    client = ros_node.create_client(QueryObjects, "/short_term_memory/query_objects")
    assert spin_until(ros_node, client.service_is_ready, 20.0)
    children = [
        pid
        for pid in stack.child_pids()
        if "short_term_memory_node" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)
    code = stack.process.wait(timeout=10)
    stack.output += stack.process.stdout.read()
    assert code == 1
    assert "short_term_memory exited with code" in stack.output


def test_learned_type_knowledge_survives_policy_switches_and_restarts(
    ros_node, start_stack, tmp_path: Path
) -> None:
    knowledge_file = tmp_path / "type_knowledge.json"
    (tmp_path / "short_term.yaml").write_text(
        "short_term_memory:\n  ros__parameters:\n    policy: household\n"
        f"    type_knowledge_path: {knowledge_file}\n"
    )
    stack_file = tmp_path / "stack.yaml"
    stack_file.write_text(
        "stack:\n  nodes:\n"
        "    - {executable: short_term_memory_node, parameters: short_term.yaml}\n"
    )
    stack = start_stack(stack_file)
    set_client, query = _six_entries(ros_node)

    def _policy(name: str) -> bool:
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=name)
        request = SetParameters.Request(parameters=[ParameterMsg(name="policy", value=value)])
        return call_service(ros_node, set_client, request).results[0].successful

    assert _policy("lru") and _policy("household")
    # Mugs are first read after the switches: their count shows the knowledge was kept.
    assert len(_query(ros_node, query, object_type="Mug").records) == 3
    code, _ = stack.stop(signal.SIGINT)
    assert code == 0, stack.output
    saved = json.loads(knowledge_file.read_text())
    assert saved["inserted"]["Apple"][0] > 0 and saved["read"]["Mug"][0] > 0

    for content, log in (
        (None, "type knowledge loaded"),
        ('{"version": 1, "clock": -3}', "not loaded"),
    ):
        if content is not None:
            knowledge_file.write_text(content)  # damaged: the node starts fresh and says so
        stack = start_stack(stack_file)
        assert spin_until(ros_node, query.service_is_ready, 20.0)
        assert _query(ros_node, query).success
        stack.stop(signal.SIGINT)
        assert log in stack.output
