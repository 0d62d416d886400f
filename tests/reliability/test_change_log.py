"""The change log stays small: jitter is not logged, history is bounded, space comes back.

All on real SQLite files, through the same long-term memory the server runs.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.scene_graph import SceneGraph
from memory_nodes.core.store import SceneGraphStore
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3

SIZE = Vector3(0.1, 0.1, 0.1)


def _frame(stamp: float, count: int, jitter_m: float, rng: random.Random, dx: float = 0.0):
    observations = []
    for index in range(count):
        centre = Vector3(
            index * 1.0 + dx + rng.gauss(0.0, jitter_m),
            rng.gauss(0.0, jitter_m),
            0.5 + rng.gauss(0.0, jitter_m),
        )
        observations.append(
            ObjectObservation(
                object_id=f"Mug|{index}",
                object_type="Mug",
                world_T_object=Pose(centre),
                box=Box(centre, SIZE),
                stamp=stamp,
            )
        )
    return observations


def _rows(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM changes").fetchone()[0])
    finally:
        db.close()


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _jitter_rows(database: Path, threshold_m: float) -> tuple[int, LongTermMemory]:
    """Change rows logged by 100 frames of 20 confirmed objects with 1 cm of jitter."""
    memory = LongTermMemory(database)
    memory.graph.set_jitter_threshold(threshold_m, 0.05)
    rng = random.Random(0)
    for frame in range(3):  # confirmed
        memory.integrate_frame(_frame(frame * 0.1, 20, 0.01, rng))
    settled = _rows(database)
    for frame in range(3, 103):
        memory.integrate_frame(_frame(frame * 0.1, 20, 0.01, rng))
    return _rows(database) - settled, memory


@pytest.mark.slow  # about 2 s of CPU, longer on a busy machine
def test_one_centimetre_jitter_is_not_logged_but_the_fused_pose_is_written(
    tmp_path: Path,
) -> None:
    every, unbounded = _jitter_rows(tmp_path / "every.sqlite", 0.0)
    unbounded.close()
    database = tmp_path / "memory.sqlite"
    logged, memory = _jitter_rows(database, 0.02)
    # 2,000 pose updates: all logged without a threshold, about 1 % with 2 cm (the fused
    # estimate settles over the first frames).
    assert every >= 1900 and logged <= every // 20, (every, logged)
    fused = {n.node_id: n.world_T_object for n in memory.graph.nodes()}
    memory.close()
    with SceneGraphStore(database) as store:
        stored = {n.node_id: n.world_T_object for n in store.load().nodes()}
    assert stored == fused  # written through the store's touched nodes


def test_a_slow_drift_is_logged_once_it_adds_up(tmp_path: Path) -> None:
    memory = LongTermMemory(tmp_path / "memory.sqlite")
    rng = random.Random(1)
    for frame in range(3):
        memory.integrate_frame(_frame(frame * 0.1, 1, 0.0, rng))
    node = memory.graph.find_object_by_external_id("Mug|0")
    logged = len(memory.changes_since(0.0))
    for frame in range(3, 60):  # 4 mm a frame: each step is jitter, the sum is not
        memory.integrate_frame(_frame(frame * 0.1, 1, 0.0, rng, dx=0.004 * (frame - 2)))
    poses = [
        c
        for c in memory.changes_since(0.0)[logged:]
        if c.node_id == node.node_id and c.detail in ("pose", "moved")
    ]
    assert poses, "a drift of 20 cm was never logged"
    assert len(poses) < 20  # but not every 4 mm step


def test_zero_threshold_logs_every_pose_update() -> None:
    graph = SceneGraph(pose_change_min_distance=0.0)
    node_id = graph.add_node(
        "O", "Mug", world_T_object=Pose(Vector3(0, 0, 0)), box=Box(Vector3(0, 0, 0), SIZE), stamp=0
    )
    before = graph.sequence
    moved = Vector3(0.001, 0, 0)
    graph.update_node(node_id, 1.0, world_T_object=Pose(moved), box=Box(moved, SIZE))
    assert graph.sequence == before + 1
    with pytest.raises(InvalidInputError):
        graph.set_jitter_threshold(-1.0, 0.0)


def _churn(memory: LongTermMemory, frames: int, start: int, rng: random.Random) -> None:
    """Objects jump 0.5 m back and forth (each jump confirmed): real logged changes."""
    for frame in range(start, start + frames):
        dx = 0.5 * ((frame // 2) % 2)
        memory.integrate_frame(_frame(frame * 0.1, 10, 0.0, rng, dx=dx))


@pytest.mark.slow  # about 2 s of CPU, longer on a busy machine
def test_change_rows_stay_within_the_configured_history(tmp_path: Path) -> None:
    database = tmp_path / "memory.sqlite"
    memory = LongTermMemory(database)
    memory.store.set_change_history(300)
    rng = random.Random(2)
    most = 0
    for start in range(0, 200, 20):
        _churn(memory, 20, start, rng)
        most = max(most, _rows(database))
    # Pruned every max(1, min(1000, 300 // 10)) = 30 committed changes.
    assert 300 <= most <= 300 + 30 + 60  # + one frame's worth of changes
    window = memory.changes_since(float("-inf"))
    assert window and window[-1].sequence == memory.graph.sequence  # what_changed still works
    assert len(window) == _rows(database)
    memory.close()


def test_age_limit_drops_changes_older_than_the_window(tmp_path: Path) -> None:
    memory = LongTermMemory(tmp_path / "memory.sqlite")
    memory.store.set_change_history(0, max_age_s=5.0)  # no row limit, 5 s of history
    rng = random.Random(3)
    _churn(memory, 100, 0, rng)  # 10 s of stamps
    memory.store.prune_changes()
    stamps = [c.stamp for c in memory.changes_since(float("-inf"))]
    assert stamps and max(stamps) - min(stamps) <= 5.0
    with pytest.raises(InvalidInputError):
        memory.store.set_change_history(-1)


@pytest.mark.slow  # about 2 s of CPU, longer on a busy machine
def test_file_size_levels_off_once_history_is_full(tmp_path: Path) -> None:
    database = tmp_path / "memory.sqlite"
    memory = LongTermMemory(database)
    memory.store.set_change_history(200)
    memory.graph.max_history = 5  # node rows stop growing early, so the log's share shows
    rng = random.Random(4)
    _churn(memory, 80, 0, rng)
    memory.store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = _file_bytes(database)
    _churn(memory, 240, 80, rng)  # three times as many changes again
    memory.store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    later = _file_bytes(database)
    assert later <= full * 1.25 + 64 * 1024, (full, later)
    assert memory.store._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    memory.close()


def test_node_history_is_bounded() -> None:
    graph = SceneGraph(max_history=10)
    node_id = graph.add_node(
        "O", "Mug", world_T_object=Pose(Vector3(0, 0, 0)), box=Box(Vector3(0, 0, 0), SIZE), stamp=0
    )
    for step in range(1, 50):
        position = Vector3(float(step), 0, 0)
        graph.update_node(
            node_id, float(step), world_T_object=Pose(position), box=Box(position, SIZE)
        )
    history = graph.get_node(node_id).history
    assert len(history) == 10 and history[-1].stamp == 49.0  # the newest are kept
    assert json.dumps([h.stamp for h in history])  # still serialisable in order


@pytest.mark.slow
def test_memory_server_keeps_the_history_its_parameters_set(tmp_path: Path) -> None:
    """The node's parameters reach the store and the graph (a real server, a real file)."""
    from memory_interfaces.msg import ObjectObservationArray

    from tests.ros import conftest as ros_fixtures

    database = tmp_path / "memory.sqlite"
    (tmp_path / "memory_server.yaml").write_text(
        "memory_server:\n  ros__parameters:\n"
        f"    database_path: {database}\n    change_detection: false\n"
        "    change_history_max_rows: 40\n    pose_change_min_distance_m: 0.02\n"
    )
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        "stack:\n  nodes:\n    - executable: memory_server\n      parameters: memory_server.yaml\n"
    )
    server = ros_fixtures.StackProcess(stack)
    context = ros_fixtures.rclpy.Context()
    ros_fixtures.rclpy.init(context=context)
    node = ros_fixtures.rclpy.create_node("change_log_client", context=context)
    try:
        publisher = node.create_publisher(ObjectObservationArray, "observations", 10)
        assert ros_fixtures.spin_until(node, lambda: publisher.get_subscription_count() > 0, 30.0)
        rng = random.Random(5)
        start = time.time()
        for frame in range(60):  # 10 objects jumping 0.5 m every other frame, 1 cm jitter
            dx = 0.5 * ((frame // 2) % 2)
            items = [
                (f"Mug|{i}", "Mug", (i + dx + rng.gauss(0, 0.01), 0.0, 0.5), (0.1, 0.1, 0.1))
                for i in range(10)
            ]
            publisher.publish(ros_fixtures.observation_array(start + 0.1 * frame, items))
            ros_fixtures.spin_until(node, lambda: False, 0.05)
        ros_fixtures.spin_until(node, lambda: False, 2.0)
    finally:
        node.destroy_node()
        ros_fixtures.rclpy.try_shutdown(context=context)
        code, _ = server.stop()
    assert code == 0, server.output[-2000:]
    rows = _rows(database)
    assert 0 < rows <= 40 + 4 + 40, rows  # limit, prune interval, one frame's changes
