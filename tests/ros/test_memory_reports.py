"""Both memory nodes in their own processes take missing reports and answer an object's
history, a receptacle's contents and everything long-term memory holds; RosMemory offers the
same to the planner's executor over these services."""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from memory_interfaces.msg import ObjectObservationArray
from memory_interfaces.srv import GetSceneGraph, ObjectHistory, QueryObjects, ReportMissing
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from memory_nodes.nodes.planner_ros_adapters import RosMemory
from memory_nodes.planning.memory_interface import ActionEffect
from tests.ros.conftest import call_service, memory_server_stack, observation_array, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

# AI2-THOR ids, as the planner knows objects ('|', '+', '-' and '.' in them).
FRIDGE = "Fridge|-02.10|+00.00|+01.07"
COUNTER = "CounterTop|+00.00|+00.90|-01.50"
APPLE = "Apple|+00.20|+00.95|-01.50"
KNIFE = "Knife|+00.50|+00.92|-01.40"
KITCHEN = [
    (FRIDGE, "Fridge", (2.0, 0.0, 0.9), (0.8, 0.8, 1.8)),
    (COUNTER, "CounterTop", (0.0, 1.5, 0.45), (2.0, 0.6, 0.9)),
    (APPLE, "Apple", (0.2, 1.5, 0.95), (0.08, 0.08, 0.08)),
    (KNIFE, "Knife", (0.5, 1.4, 0.92), (0.25, 0.03, 0.02)),
]
APPLE_IN_FRIDGE = [(APPLE, "Apple", (2.0, 0.0, 0.7), (0.08, 0.08, 0.08))]
SHORT_TERM = "/short_term_memory"
LONG_TERM = "/memory_server"


def _memory_stack(tmp_path: Path) -> Path:
    """Both memories, the long-term one on ``tmp_path/memory.sqlite`` (the database
    :func:`memory_server_stack` restarts from)."""
    (tmp_path / "memory_server.yaml").write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {tmp_path / 'memory.sqlite'}\n"
        "    change_detection: false\n"
    )
    (tmp_path / "short_term.yaml").write_text(
        "short_term_memory:\n  ros__parameters:\n    max_age_s: 0.0\n"
    )
    stack = tmp_path / "memory_stack.yaml"
    stack.write_text(
        "stack:\n  nodes:\n"
        "    - {executable: short_term_memory_node, parameters: short_term.yaml}\n"
        "    - {executable: memory_server, parameters: memory_server.yaml}\n"
    )
    return stack


def _ask(node: Node, client, **fields) -> QueryObjects.Response:
    request = QueryObjects.Request()
    for key, value in fields.items():
        setattr(request, key, value)
    return call_service(node, client, request)


def _ids(answer: QueryObjects.Response) -> set[str]:
    return {r.object_id for r in answer.records}


def _status(node: Node, object_id: str) -> str:
    """The status long-term memory gives ``object_id`` in its scene graph."""
    client = node.create_client(GetSceneGraph, f"{LONG_TERM}/get_scene_graph")
    graph = json.loads(call_service(node, client, GetSceneGraph.Request()).data)
    (found,) = [n for n in graph["nodes"] if n.get("external_id") == object_id]
    return found["status"]


def _feed_kitchen(node: Node) -> tuple[object, object]:
    """Three frames of the kitchen, then the robot puts the apple in the fridge; returns the
    query clients of (short-term, long-term) memory once both know where the apple is."""
    short_term = node.create_client(QueryObjects, f"{SHORT_TERM}/query_objects")
    long_term = node.create_client(QueryObjects, f"{LONG_TERM}/query_objects")
    observations = node.create_publisher(ObjectObservationArray, "observations", 10)
    effects = node.create_publisher(ObjectObservationArray, "action_effects", 10)
    for client in (short_term, long_term):
        assert spin_until(node, client.service_is_ready, 20.0), client.srv_name
    assert spin_until(node, lambda: observations.get_subscription_count() >= 2, 10.0)
    assert spin_until(node, lambda: effects.get_subscription_count() >= 2, 10.0)
    start = time.time()
    for frame in range(3):
        observations.publish(observation_array(start + 0.1 * frame, KITCHEN))
        spin_until(node, lambda: False, 0.1)
    assert spin_until(node, lambda: APPLE in _ids(_ask(node, long_term, object_type="Apple")), 10)
    assert spin_until(node, lambda: APPLE in _ids(_ask(node, short_term, object_type="Apple")), 5)
    effects.publish(
        observation_array(
            start + 1.0, APPLE_IN_FRIDGE, source="action", receptacle_id=FRIDGE,
            receptacle_relation="inside",
        )
    )  # fmt: skip
    for client in (short_term, long_term):
        assert spin_until(
            node, lambda c=client: _ids(_ask(node, c, receptacle_id=FRIDGE)) == {APPLE}, 10.0
        ), f"{client.srv_name} never placed the apple in the fridge"
    return short_term, long_term


def test_a_missing_report_marks_long_term_memory_for_good_and_empties_short_term_memory(
    ros_node, start_stack, tmp_path: Path
) -> None:
    stack = start_stack(_memory_stack(tmp_path))
    short_term, long_term = _feed_kitchen(ros_node)
    report = {
        name: ros_node.create_client(ReportMissing, f"{prefix}/report_missing")
        for name, prefix in (("short", SHORT_TERM), ("long", LONG_TERM))
    }
    now = time.time()
    for client in report.values():
        answer = call_service(ros_node, client, ReportMissing.Request(object_id=APPLE, stamp=now))
        assert answer.success and answer.known, answer.message

    assert APPLE not in _ids(_ask(ros_node, short_term))
    assert APPLE not in _ids(_ask(ros_node, long_term, object_type="Apple"))
    assert _ids(_ask(ros_node, long_term, receptacle_id=FRIDGE)) == set()
    assert _status(ros_node, APPLE) == "missing"
    assert {KNIFE, COUNTER, FRIDGE} <= _ids(_ask(ros_node, long_term))  # nothing else lost

    # A second report, and one of an object memory never saw: answered, not errors.
    again = call_service(
        ros_node, report["long"], ReportMissing.Request(object_id=APPLE, stamp=now)
    )
    assert again.success and again.known and "already" in again.message
    forgotten = call_service(
        ros_node, report["short"], ReportMissing.Request(object_id=APPLE, stamp=now)
    )
    assert forgotten.success and not forgotten.known
    for client in report.values():
        unknown = call_service(ros_node, client, ReportMissing.Request(object_id="Mug|9"))
        assert unknown.success and not unknown.known, unknown.message

    # The mark was committed: a restarted long-term memory still has the apple missing.
    code, _ = stack.stop(signal.SIGINT)
    assert code == 0, stack.output
    start_stack(memory_server_stack(tmp_path))
    long_term = ros_node.create_client(QueryObjects, f"{LONG_TERM}/query_objects")
    assert spin_until(ros_node, long_term.service_is_ready, 20.0)
    assert KNIFE in _ids(_ask(ros_node, long_term))
    assert APPLE not in _ids(_ask(ros_node, long_term))
    assert _status(ros_node, APPLE) == "missing"


def test_history_and_receptacle_contents_answer_simulator_ids_and_bad_requests_fail_clearly(
    ros_node, start_stack, tmp_path: Path
) -> None:
    start_stack(_memory_stack(tmp_path))
    short_term, long_term = _feed_kitchen(ros_node)
    history = ros_node.create_client(ObjectHistory, f"{LONG_TERM}/object_history")

    answer = call_service(ros_node, history, ObjectHistory.Request(object_id=APPLE))
    assert answer.success, answer.message
    assert [r.receptacle_id for r in answer.records] == [COUNTER]
    place = answer.records[0].pose.position
    assert math.dist((place.x, place.y, place.z), KITCHEN[2][2]) < 0.05
    # The apple moved 2.5 m: a minimum distance beyond that leaves no earlier place.
    far = call_service(ros_node, history, ObjectHistory.Request(object_id=APPLE, min_distance=5.0))
    assert far.success and not far.records
    unknown = call_service(ros_node, history, ObjectHistory.Request(object_id="Mug|9"))
    assert unknown.success and not unknown.records

    # Both memories filter by the simulator's receptacle id: long-term memory by the
    # relation it derived, short-term memory by the robot's put.
    assert _ids(_ask(ros_node, long_term, receptacle_id=COUNTER)) == {KNIFE}
    assert _ids(_ask(ros_node, short_term, receptacle_id=FRIDGE)) == {APPLE}
    assert _ids(_ask(ros_node, short_term, receptacle_id=COUNTER)) == set()

    report = ros_node.create_client(ReportMissing, f"{LONG_TERM}/report_missing")
    short_report = ros_node.create_client(ReportMissing, f"{SHORT_TERM}/report_missing")
    bad_requests = [
        (report, ReportMissing.Request(object_id=""), "object_id"),
        (report, ReportMissing.Request(object_id=APPLE, stamp=math.nan), "finite"),
        (report, ReportMissing.Request(object_id=APPLE, stamp=time.time() + 3600), "clock"),
        (short_report, ReportMissing.Request(object_id=""), "object_id"),
        (short_report, ReportMissing.Request(object_id=APPLE, stamp=math.inf), "finite"),
        (history, ObjectHistory.Request(object_id=""), "object_id"),
        (history, ObjectHistory.Request(object_id=APPLE, min_distance=math.nan), "min_distance"),
        (history, ObjectHistory.Request(object_id=APPLE, min_distance=-1.0), "min_distance"),
    ]
    for client, request, words in bad_requests:
        answer = call_service(ros_node, client, request)
        assert not answer.success and words in answer.message, (request, answer.message)
    # Nothing changed and both nodes still answer.
    assert _ids(_ask(ros_node, long_term, object_type="Apple")) == {APPLE}
    assert _ids(_ask(ros_node, short_term, object_type="Apple")) == {APPLE}
    assert call_service(ros_node, history, ObjectHistory.Request(object_id=APPLE)).records


@pytest.fixture
def spinning_node(ros_node: Node) -> Iterator[Node]:
    """``ros_node`` spun by a multi-threaded executor in a thread, as the planner node is:
    RosMemory waits for answers on the calling thread and never spins itself."""
    executor = MultiThreadedExecutor(context=ros_node.context)
    executor.add_node(ros_node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield ros_node
    finally:
        executor.shutdown(timeout_sec=2.0)
        thread.join(timeout=5.0)


def _wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_ros_memory_reports_missing_and_offers_history_contents_and_seen_places(
    spinning_node, start_stack, tmp_path: Path
) -> None:
    node = spinning_node
    start_stack(_memory_stack(tmp_path))
    memory = RosMemory(node, "full", timeout_s=5.0)
    observations = node.create_publisher(ObjectObservationArray, "observations", 10)
    assert _wait_for(lambda: observations.get_subscription_count() >= 2, 20.0)
    start = time.time()
    for frame in range(3):
        observations.publish(observation_array(start + 0.1 * frame, KITCHEN))
        time.sleep(0.1)
    assert _wait_for(lambda: [r.object_id for r in memory.where_is("Apple")] == [APPLE], 20.0)

    points = memory.seen_places()
    assert points.shape == (4, 3)
    expected = sorted(xyz for _, _, xyz, _ in KITCHEN)
    assert np.allclose(sorted(map(tuple, points)), expected, atol=0.05)
    assert {r.object_id for r in memory.contents_of(COUNTER)} == {APPLE, KNIFE}
    assert memory.earlier_places(APPLE) == []  # it has rested in one place only

    # The robot puts the apple in the fridge: the effect goes out at the place memory gave.
    memory.report_action_effect(
        ActionEffect(APPLE, "Apple", "PutObject", time.time(), receptacle_id=FRIDGE,
                     receptacle_relation="inside")
    )  # fmt: skip
    # Long-term memory hears of the put twice (directly and consolidated from short-term
    # memory); both must be in before the report, or the later one would undo it.
    time.sleep(1.0)
    assert _wait_for(
        lambda: (
            [(r.object_id, r.memory_source.value) for r in memory.contents_of(FRIDGE)]
            == [(APPLE, "short_term")]
        ),  # short-term first, long-term's copy dropped
        10.0,
    )
    assert _wait_for(lambda: bool(memory.earlier_places(APPLE)), 10.0)
    (earlier,) = memory.earlier_places(APPLE)
    assert earlier.receptacle_id == COUNTER
    assert np.allclose(earlier.world_T_object.position.as_array(), KITCHEN[2][2], atol=0.05)

    memory.report_missing(APPLE, stamp=123.0)
    assert memory.missing == {APPLE: 123.0} and memory.num_missing_reports == 1
    assert memory.num_failed_reports == 0
    assert memory.where_is("Apple") == []
    assert memory.contents_of(FRIDGE) == []
    assert len(memory.seen_places()) == 3  # asked again after the report
    assert memory.contents_of("Sink|+01.00|+00.90|-01.00") == []  # unknown: no failure
    assert memory.num_failed_queries == 0


def test_ros_memory_without_answering_memories_logs_counts_and_never_raises(ros_node) -> None:
    memory = RosMemory(
        ros_node,
        "full",
        short_term_service="/nobody/query_objects",
        long_term_service="/nobody_either/query_objects",
        timeout_s=0.3,
    )
    assert [c.srv_name for c in memory.report_clients] == [
        "/nobody/report_missing",
        "/nobody_either/report_missing",
    ]
    assert memory.history_client is not None
    assert memory.history_client.srv_name == "/nobody_either/object_history"
    memory.report_missing(APPLE, stamp=1.0)
    assert memory.num_failed_reports == 2 and memory.missing == {APPLE: 1.0}
    assert memory.earlier_places(APPLE) == []
    assert memory.seen_places().shape == (0, 3)
    assert memory.contents_of(FRIDGE) == []
    assert memory.num_failed_queries == 4

    short_only = RosMemory(ros_node, "short_term", timeout_s=0.3)
    assert short_only.earlier_places(APPLE) == []
    assert short_only.seen_places().shape == (0, 3)
    assert RosMemory(ros_node, "none").contents_of(FRIDGE) == []
