"""A memory server killed with SIGKILL mid-stream loses nothing it committed.

The server runs in its own process (``memstack up``); the test streams frames to it, takes the
graph it serves mid-stream, and kills the node process with ``kill -9`` right after the last
frame is published, while the node may still be fusing and committing. The SQLite file must
then hold a whole number of frames: its graph equals, byte for byte in the JSON export, the
graph an in-process ``LongTermMemory`` reaches after replaying some prefix of the same frames,
that prefix is no shorter than what the server had served and announced, and the change log has
every sequence number up to the stored one. A restarted server answers from the same file.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from memory_interfaces.msg import ObjectObservationArray, SceneGraphUpdate
from memory_interfaces.srv import GetSceneGraph, QueryObjects

from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.store import graph_to_json
from memory_nodes.nodes import conversions
from tests.ros.conftest import call_service, memory_server_stack, observation_array, spin_until

pytestmark = pytest.mark.slow  # every test starts nodes in processes of their own

NUM_FRAMES = 40
KILL_AFTER = 30
START = 1_700_000_000.0


def _frame(index: int) -> ObjectObservationArray:
    """Frame ``index``: the counter top and a growing row of apples (new nodes every frame)."""
    stamp = START + 0.1 * index
    items = [("CounterTop|1", "CounterTop", (1.0, 0.0, 0.45), (4.0, 0.6, 0.9))]
    apple = {"states": {"isSliced": "false"}}
    items += [
        (f"Apple|{j}", "Apple", (0.1 * j, 0.0, 0.95), (0.08, 0.08, 0.08), apple)
        for j in range(index // 2 + 1)
    ]
    return observation_array(stamp, items, source_frame_id=f"camera@{index}")


def _replay(frames: list[ObjectObservationArray], folder: Path) -> list[str]:
    """JSON export after 0, 1, 2, ... frames, fused in-process exactly as the server fuses."""
    memory = LongTermMemory(folder / "replay.sqlite")
    exports = [graph_to_json(memory.graph)]
    try:
        for msg in frames:
            memory.integrate_frame([conversions.observation_from_msg(o) for o in msg.observations])
            exports.append(graph_to_json(memory.graph))
    finally:
        memory.close()
    return exports


def test_kill_9_mid_stream_keeps_every_committed_change_and_restarts(
    ros_node, start_stack, tmp_path: Path
) -> None:
    database = tmp_path / "memory.sqlite"
    stack = start_stack(memory_server_stack(tmp_path))
    observations = ros_node.create_publisher(ObjectObservationArray, "observations", 50)
    announced: list[int] = []

    def _on_update(msg: SceneGraphUpdate) -> None:
        announced.extend(c["sequence"] for c in json.loads(msg.data))

    ros_node.create_subscription(SceneGraphUpdate, "scene_graph/updates", _on_update, 50)
    get_graph = ros_node.create_client(GetSceneGraph, "/memory_server/get_scene_graph")
    assert spin_until(ros_node, get_graph.service_is_ready, 20.0), stack.output
    assert spin_until(ros_node, lambda: observations.get_subscription_count() > 0, 10.0)
    node_pids = stack.child_pids()
    assert len(node_pids) == 1, f"expected one node process, got {node_pids}"

    frames = [_frame(i) for i in range(NUM_FRAMES)]
    served = None
    for index, frame in enumerate(frames[:KILL_AFTER]):
        observations.publish(frame)
        spin_until(ros_node, lambda: False, 0.03)  # paced, so reliable delivery drops nothing
        if index == KILL_AFTER // 2:
            served = call_service(ros_node, get_graph, GetSceneGraph.Request())
    os.kill(node_pids[0], signal.SIGKILL)  # no wait: the node may be mid-transaction
    stack.stop(signal.SIGINT)  # the launcher reports the dead node and exits
    assert served is not None and served.success

    # The file opens cleanly and holds a whole number of frames.
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        sequences = [s for (s,) in db.execute("SELECT sequence FROM changes ORDER BY sequence")]
    reloaded = LongTermMemory(database)
    try:
        stored = graph_to_json(reloaded.graph)
        stored_sequence = reloaded.graph.sequence
        stored_objects = reloaded.graph.num_nodes()
    finally:
        reloaded.close()
    assert sequences == list(range(1, stored_sequence + 1))
    assert stored_sequence >= max(announced, default=0) >= served.sequence > 0
    exports = _replay(frames[:KILL_AFTER], tmp_path)
    assert stored in exports, "the file holds a graph no prefix of the frames produces"
    assert served.data in exports
    assert exports.index(stored) >= exports.index(served.data)

    # A restarted server resumes from the file and answers from it.
    start_stack(memory_server_stack(tmp_path))
    query = ros_node.create_client(QueryObjects, "/memory_server/query_objects")
    # The killed server's endpoints linger in discovery: a first request may go to it.
    response = call_service(ros_node, query, QueryObjects.Request(), 30.0, resend_s=2.0)
    assert response.success and len(response.records) == stored_objects
    again = call_service(ros_node, get_graph, GetSceneGraph.Request())
    assert again.sequence == stored_sequence and again.data == stored
