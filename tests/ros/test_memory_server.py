"""Long-term memory in its own process: fuses frames, persists, answers, saves and loads."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from memory_interfaces.msg import ObjectObservationArray, SceneGraphUpdate
from memory_interfaces.srv import GetSceneGraph, LoadMemory, QueryObjects, SaveMemory, WhatChanged

from memory_nodes.nodes import conversions
from tests.ros.conftest import call_service, memory_server_stack, observation_array, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

KITCHEN = [
    ("Fridge|1", "Fridge", (2.0, 0.0, 0.9), (0.8, 0.8, 1.8)),
    ("CounterTop|1", "CounterTop", (0.0, 1.5, 0.45), (2.0, 0.6, 0.9)),
    ("Apple|1", "Apple", (0.2, 1.5, 0.95), (0.08, 0.08, 0.08)),
    ("Knife|1", "Knife", (0.5, 1.4, 0.92), (0.25, 0.03, 0.02)),
]


def _frame(stamp: float, items=KITCHEN, source: str = "gt_mask", **extra) -> ObjectObservationArray:
    return observation_array(stamp, items, source=source, **extra)


def test_memory_server_fuses_frames_answers_persists_and_reloads(
    ros_node, start_stack, tmp_path: Path
) -> None:
    stack = start_stack(memory_server_stack(tmp_path))
    observations = ros_node.create_publisher(ObjectObservationArray, "observations", 10)
    effects = ros_node.create_publisher(ObjectObservationArray, "action_effects", 10)
    updates: list[SceneGraphUpdate] = []
    ros_node.create_subscription(SceneGraphUpdate, "scene_graph/updates", updates.append, 10)
    query = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    assert spin_until(ros_node, query.service_is_ready, 20.0), stack.output
    assert spin_until(ros_node, lambda: observations.get_subscription_count() > 0, 10.0)

    start = time.time()
    for frame in range(3):
        observations.publish(_frame(start + frame * 0.1))
        spin_until(ros_node, lambda: False, 0.1)

    def _ask(**fields) -> QueryObjects.Response:
        request = QueryObjects.Request()
        for key, value in fields.items():
            setattr(request, key, value)
        # The first text query loads the embedding model: tens of seconds on a busy machine.
        timeout_s = 120.0 if fields.get("text") else 30.0
        return call_service(ros_node, query, request, timeout_s=timeout_s, resend_s=5.0)

    assert spin_until(ros_node, lambda: len(_ask(object_type="Apple").records) == 1, 10.0)
    apple = _ask(object_type="Apple").records[0]
    assert apple.memory_source == "long_term" and apple.receptacle_relation == "on"
    assert spin_until(ros_node, lambda: bool(updates), 5.0)
    assert updates[-1].format == "memory_nodes.scene_graph_delta" and json.loads(updates[-1].data)

    # The robot puts the apple in the fridge: believed at once.
    moved = [("Apple|1", "Apple", (2.0, 0.0, 0.7), (0.08, 0.08, 0.08))]
    effects.publish(
        _frame(start + 1.0, moved, source="action", receptacle_id="Fridge|1",
               receptacle_relation="inside")
    )  # fmt: skip
    assert spin_until(ros_node, lambda: len(_ask(receptacle_id="Fridge|1").records) == 1, 10.0), (
        "apple never reached the fridge"
    )

    knife = _ask(text="something to cut bread with", max_results=1)
    assert knife.success and knife.records[0].object_type == "Knife"
    assert not _ask(room_id="kitchen").success  # no such room: a clear failure, no crash

    saved = tmp_path / "saved.json"
    save = ros_node.create_client(SaveMemory, "/memory_server/save_memory")
    assert call_service(ros_node, save, SaveMemory.Request(path=str(saved))).success
    assert json.loads(saved.read_text())["format"] == "memory_nodes.scene_graph"
    bad = call_service(ros_node, save, SaveMemory.Request(path=str(tmp_path / "x.txt")))
    assert not bad.success and "use one of" in bad.message

    graph = call_service(
        ros_node,
        ros_node.create_client(GetSceneGraph, "/memory_server/get_scene_graph"),
        GetSceneGraph.Request(),
    )
    assert graph.success and len(json.loads(graph.data)["nodes"]) == 4
    changed = call_service(
        ros_node,
        ros_node.create_client(WhatChanged, "/memory_server/what_changed"),
        WhatChanged.Request(since=conversions.stamp_to_msg(start + 0.5)),
    )
    assert changed.success and changed.changes

    load = ros_node.create_client(LoadMemory, "/memory_server/load_memory")
    missing = call_service(ros_node, load, LoadMemory.Request(path=str(tmp_path / "none.json")))
    assert not missing.success and "unchanged" in missing.message
    assert len(_ask().records) == 4

    # A restart of the process reloads the committed memory from SQLite.
    code, _ = stack.stop(signal.SIGINT)
    assert code == 0, stack.output
    start_stack(memory_server_stack(tmp_path))
    query = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    assert spin_until(ros_node, query.service_is_ready, 20.0)
    inside = _ask(receptacle_id="Fridge|1").records
    assert [r.object_id for r in inside] == ["Apple|1"]
    loaded = call_service(ros_node, load, LoadMemory.Request(path=str(saved)))
    assert loaded.success and loaded.num_objects == 4
