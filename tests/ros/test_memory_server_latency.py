"""The memory server's latency work keeps its answers: a real server fed frames while a client
queries builds the same graph and gives the same answers as long-term memory in-process; its
deltas, published after memory is released, still arrive numbered in order; the timing report
accounts for every query and frame; the free-text model loads in the background at start;
queries of the graph go in while a frame's changes are committed to disk, and nothing else does."""

from __future__ import annotations

import json
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from memory_interfaces.msg import ObjectObservationArray, SceneGraphUpdate
from memory_interfaces.srv import GetSceneGraph, QueryObjects

from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.store import graph_to_json
from memory_nodes.nodes import conversions
from memory_nodes.nodes.memory_server import MemoryGate
from tests.ros.conftest import call_service, memory_server_stack, observation_array, spin_until

TYPES = ("Apple", "Mug", "Bowl", "Knife")


def _frames(start: float, count: int) -> list[ObjectObservationArray]:
    """Frames of 24 objects; from the third frame on, every fourth object has moved 30 cm, so
    frames keep changing memory (new objects, moves, confirmations)."""
    frames = []
    for index in range(count):
        items = []
        for n in range(24):
            moved = 0.3 if index >= 2 and n % 4 == 0 else 0.0
            xyz = (0.5 * (n % 6) + moved, 0.5 * (n // 6), 0.9)
            items.append((f"{TYPES[n % 4]}|{n}", TYPES[n % 4], xyz, (0.08, 0.08, 0.08)))
        frames.append(observation_array(start + 0.1 * index, items))
    return frames


def _with_parameters(tmp_path: Path, **values: object) -> Path:
    stack = memory_server_stack(tmp_path)
    params = tmp_path / "memory_server.yaml"
    params.write_text(
        params.read_text() + "".join(f"    {key}: {value}\n" for key, value in values.items())
    )
    return stack


def test_server_fed_while_queried_builds_the_same_graph_and_answers_as_in_process_memory(
    ros_node, start_stack, tmp_path: Path
) -> None:
    report = tmp_path / "timing.json"
    stack = start_stack(
        _with_parameters(tmp_path, timing_report_path=str(report), warm_up_text_model="false")
    )
    publisher = ros_node.create_publisher(ObjectObservationArray, "observations", 10)
    updates: list[SceneGraphUpdate] = []
    ros_node.create_subscription(SceneGraphUpdate, "scene_graph/updates", updates.append, 100)
    query = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    graph_client = ros_node.create_client(GetSceneGraph, "/memory_server/get_scene_graph")
    assert spin_until(ros_node, query.service_is_ready, 30.0), stack.output
    assert spin_until(ros_node, lambda: publisher.get_subscription_count() > 0, 10.0)

    frames = _frames(time.time(), 8)
    answered = 0
    for frame in frames:
        publisher.publish(frame)
        # Queries sent while the frame is being fused: each is answered.
        for object_type in TYPES[:2]:
            answer = call_service(ros_node, query, QueryObjects.Request(object_type=object_type))
            assert answer.success
            answered += 1

    memory = LongTermMemory(None)
    for frame in frames:
        observations = [conversions.observation_from_msg(o) for o in frame.observations]
        memory.integrate_frame(observations, source="perception")
    expected = graph_to_json(memory.graph)

    deadline = time.monotonic() + 20.0
    served = call_service(ros_node, graph_client, GetSceneGraph.Request()).data
    while served != expected and time.monotonic() < deadline:  # the last frame may be in work
        spin_until(ros_node, lambda: False, 0.2)
        served = call_service(ros_node, graph_client, GetSceneGraph.Request()).data
    assert served == expected, "the served graph differs from in-process memory's"
    for object_type in TYPES:
        for max_results in (0, 3):
            request = QueryObjects.Request(object_type=object_type, max_results=max_results)
            served = call_service(ros_node, query, request).records
            local = memory.query(ObjectQuery(object_type=object_type, max_results=max_results), 0)
            assert [r.object_id for r in served] == [r.object_id for r in local]
            assert [(r.pose.position.x, r.last_seen.sec) for r in served] == [
                (r.world_T_object.position.x, int(r.last_seen)) for r in local
            ]
            answered += 1

    # Deltas leave after memory is released, from whichever thread wrote: still in order.
    spin_until(ros_node, lambda: False, 1.0)
    sequences = [u.sequence for u in updates]
    assert sequences == list(range(1, len(sequences) + 1)), sequences
    assert sequences, "no delta published"

    code, _ = stack.stop(signal.SIGINT, timeout_s=15.0)
    assert code == 0, stack.output
    timing = json.loads(report.read_text())
    assert len(timing["frames"]) == len(frames)
    assert len(timing["queries"]) >= answered
    # [wall start, gate wait, query, conversion, callback]: the parts add up to the whole.
    for row in timing["queries"]:
        assert len(row) == 5 and row[4] == pytest.approx(sum(row[1:4]))


@pytest.mark.slow
def test_text_model_loads_in_the_background_while_other_queries_are_answered(
    ros_node, start_stack, tmp_path: Path
) -> None:
    stack = start_stack(_with_parameters(tmp_path, warm_up_text_model="true"))
    publisher = ros_node.create_publisher(ObjectObservationArray, "observations", 10)
    query = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    assert spin_until(ros_node, query.service_is_ready, 30.0), stack.output
    assert spin_until(ros_node, lambda: publisher.get_subscription_count() > 0, 10.0)
    for frame in _frames(time.time(), 2):
        publisher.publish(frame)
    # Answered at once, whatever the model is doing.
    answer = call_service(ros_node, query, QueryObjects.Request(object_type="Apple"), 10.0)
    assert answer.success
    # Needs the model: answered once it has loaded.
    text = call_service(ros_node, query, QueryObjects.Request(text="a fruit"), 120.0)
    code, _ = stack.stop(signal.SIGINT, timeout_s=15.0)
    assert code == 0, stack.output
    if text.success:
        assert text.records and "free-text model loaded in" in stack.output
    else:  # the model package is missing: a warning, and the node still ran
        assert "free-text model not installed" in stack.output


def test_graph_readers_go_in_during_a_commit_window_and_the_writer_waits_for_them() -> None:
    gate = MemoryGate()
    events: list[str] = []
    in_window = threading.Event()
    reader_inside = threading.Event()

    def _writer() -> None:
        with gate.write():
            with gate.commit_window():
                in_window.set()
                assert reader_inside.wait(5.0)
                events.append("commit done")
            events.append("writer changes the graph")

    def _graph_reader() -> None:
        with gate.read(graph_only=True):
            reader_inside.set()
            time.sleep(0.1)  # the writer may not leave its window meanwhile
            events.append("graph reader")

    def _database_reader() -> None:
        with gate.read():
            events.append("database reader")

    writer = threading.Thread(target=_writer)
    writer.start()
    assert in_window.wait(5.0)
    others = [threading.Thread(target=_database_reader), threading.Thread(target=_graph_reader)]
    for thread in others:
        thread.start()
    for thread in [writer, *others]:
        thread.join(10.0)
    # The database reader waited for the writer; the graph reader did not, and the writer
    # changed nothing before it had left.
    assert events == ["commit done", "graph reader", "writer changes the graph", "database reader"]


def test_store_runs_every_sync_transaction_inside_its_commit_window(tmp_path: Path) -> None:
    memory = LongTermMemory(tmp_path / "memory.sqlite")
    windows: list[int] = []

    @contextmanager
    def _window():
        windows.append(memory.graph.sequence)
        yield

    memory.store.set_commit_window(_window)
    for frame in _frames(1000.0, 4):
        memory.integrate_frame([conversions.observation_from_msg(o) for o in frame.observations])
    assert len(windows) == 3  # the first frame leaves candidates only: nothing to commit
    memory.close()
    # What was committed inside the windows is what a reload finds.
    reloaded = LongTermMemory(tmp_path / "memory.sqlite")
    assert graph_to_json(reloaded.graph) == graph_to_json(memory.graph)
    reloaded.close()
