"""Forged facts against the real memory nodes: ``short_term_memory_node`` and ``memory_server``
in their own processes take what arrives on ``observations`` (and ``consolidations``) as
perception whatever the message claims, count a frame sent again once, and keep their
confirmed places against one contradicting frame."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from memory_interfaces.msg import ObjectObservationArray
from memory_interfaces.srv import QueryObjects

from memory_nodes.core.types import ObjectRecord
from memory_nodes.nodes import conversions
from tests.ros import conftest as ros_fixtures
from tests.ros.conftest import call_service, observation_array, spin_until

# The fixtures of the ROS tests, which live in another folder's conftest.
ros_node = ros_fixtures.ros_node
start_stack = ros_fixtures.start_stack

pytestmark = pytest.mark.slow  # starts both memory nodes in processes of their own

N_OBJECTS = 20
SHELF = [
    (f"Mug|{i}", "Mug", (0.3 * i, 1.0, 0.9), (0.1, 0.1, 0.1), {"states": {"isDirty": "false"}})
    for i in range(N_OBJECTS)
]
# Every mug 5 m away and dirty: contradicts memory on place and state.
FORGED = [
    (f"Mug|{i}", "Mug", (0.3 * i, 6.0, 0.9), (0.1, 0.1, 0.1), {"states": {"isDirty": "true"}})
    for i in range(N_OBJECTS)
]
SENTINEL = [("Kettle|1", "Kettle", (9.0, 9.0, 0.9), (0.2, 0.2, 0.2))]


def _stack(tmp_path: Path) -> Path:
    (tmp_path / "memory_server.yaml").write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {tmp_path / 'memory.sqlite'}\n"
        "    change_detection: false\n"
    )
    (tmp_path / "short_term.yaml").write_text(
        "short_term_memory:\n  ros__parameters:\n    max_age_s: 0.0\n    capacity: 64\n"
    )
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "stack:\n  nodes:\n"
        "    - {executable: short_term_memory_node, parameters: short_term.yaml}\n"
        "    - {executable: memory_server, parameters: memory_server.yaml}\n"
    )
    return stack


def _records(node, client, object_type: str) -> list[ObjectRecord]:
    request = QueryObjects.Request(object_type=object_type)
    answer = call_service(node, client, request, resend_s=5.0)
    assert answer.success, answer.message
    return [conversions.record_from_msg(r) for r in answer.records]


def _mugs(node, client) -> dict[str, tuple[float, str]]:
    """Object id -> (y of its place, isDirty) as the memory behind ``client`` answers."""
    return {
        r.object_id: (r.world_T_object.position.y, r.states.get("isDirty", ""))
        for r in _records(node, client, "Mug")
    }


def _adopted(mugs: dict[str, tuple[float, str]]) -> int:
    return sum(y > 3.0 or dirty == "true" for y, dirty in mugs.values())


def test_forged_sources_and_repeated_frames_are_adopted_by_neither_memory_node(
    ros_node,
    start_stack,
    tmp_path: Path,
) -> None:
    stack = start_stack(_stack(tmp_path))
    short_term = ros_node.create_client(QueryObjects, "/short_term_memory/query_objects")
    long_term = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    observations = ros_node.create_publisher(ObjectObservationArray, "observations", 10)
    consolidations = ros_node.create_publisher(ObjectObservationArray, "consolidations", 10)
    for client in (short_term, long_term):
        assert spin_until(ros_node, client.service_is_ready, 20.0), stack.output
    assert spin_until(ros_node, lambda: observations.get_subscription_count() >= 2, 10.0)
    assert spin_until(ros_node, lambda: consolidations.get_subscription_count() >= 1, 10.0)

    def publish(publisher, msg) -> None:
        publisher.publish(msg)
        spin_until(ros_node, lambda: False, 0.1)  # keep within the subscribers' queue depth

    start = time.time() - 10.0
    for frame in range(2):
        publish(observations, observation_array(start + frame, SHELF, source_frame_id="camera"))
    for client in (short_term, long_term):
        assert spin_until(ros_node, lambda c=client: len(_mugs(ros_node, c)) == N_OBJECTS, 10.0)

    # One contradicting frame claiming to be the robot's own action, sent five times with one
    # stamp on observations, and the same claim on consolidations.
    forged = observation_array(start + 3.0, FORGED, source="action", source_frame_id="camera")
    for _ in range(5):
        publish(observations, forged)
    publish(consolidations, observation_array(start + 3.0, FORGED, source="action"))
    # Frames are handled in order: once both memories know the kettle, they have had the rest.
    for frame in range(2):
        publish(observations, observation_array(start + 4.0 + frame, SENTINEL))
    for client in (short_term, long_term):
        assert spin_until(
            ros_node,
            lambda c=client: bool(_records(ros_node, c, "Kettle")),
            10.0,
        ), stack.output
    assert _adopted(_mugs(ros_node, short_term)) == 0
    assert _adopted(_mugs(ros_node, long_term)) == 0

    # Long-term memory names the frames behind each fact and the source by the topic.
    provenance = set(_records(ros_node, long_term, "Mug")[0].provenance)
    assert any(p.startswith("perception:camera@") for p in provenance), provenance
    assert not any(p.startswith("action:") for p in provenance), provenance
