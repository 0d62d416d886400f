"""The store's per-frame writes (upserted node rows, meta written only when it changed) leave
the file holding exactly the graph, frame after frame, and across a reopen."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.store import SceneGraphStore, graph_to_dict
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def _frame(rng: random.Random, stamp: float, count: int) -> list[ObjectObservation]:
    observations = []
    for index in rng.sample(range(40), count):
        centre = Vector3(0.3 * (index % 8) + rng.uniform(-0.01, 0.01), 0.3 * (index // 8), 0.9)
        observations.append(
            ObjectObservation(
                object_id=f"Mug|{index}",
                object_type="Mug",
                world_T_object=Pose(centre),
                box=Box(centre, Vector3(0.08, 0.08, 0.1)),
                stamp=stamp,
                confidence=0.9,
                states={"isDirty": rng.choice(["true", "false"])},
                source_frame_id="camera",
            )
        )
    return observations


def _stored(path: Path) -> dict:
    with SceneGraphStore(path) as store:
        return graph_to_dict(store.load())


def test_every_frame_leaves_the_file_holding_the_graph(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = tmp_path / "memory.sqlite"
    memory = LongTermMemory(path)
    for frame in range(40):
        memory.integrate_frame(_frame(rng, 10.0 + frame, rng.randint(1, 12)))
        if frame % 8 == 7:
            assert _stored(path) == graph_to_dict(memory.graph), frame
    in_memory = graph_to_dict(memory.graph)
    memory.close()
    assert _stored(path) == in_memory
    reopened = LongTermMemory(path)  # a restart: counters and sequence from the file
    reopened.integrate_frame(_frame(rng, 100.0, 5))
    expected = graph_to_dict(reopened.graph)
    reopened.close()
    assert _stored(path) == expected
    assert expected["sequence"] > in_memory["sequence"]


def test_a_store_whose_tables_lack_keys_still_writes_its_rows(tmp_path: Path) -> None:
    # Tables made by hand without the keys an upsert needs: the store writes with
    # INSERT OR REPLACE instead, as it always did.
    path = tmp_path / "memory.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL);"
        "INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE nodes (id TEXT, data TEXT);"
        "CREATE TABLE edges (source TEXT, target TEXT, type TEXT, data TEXT, "
        "PRIMARY KEY (source, target, type));"
        "CREATE TABLE changes (sequence INTEGER PRIMARY KEY, stamp REAL, data TEXT);"
        "CREATE TABLE meta (key TEXT, value TEXT);"
    )
    db.commit()
    db.close()
    memory = LongTermMemory(path)
    assert "OR REPLACE" in memory.store._write_node
    memory.integrate_frame(_frame(random.Random(1), 1.0, 6))
    memory.integrate_frame(_frame(random.Random(1), 2.0, 6))
    expected = graph_to_dict(memory.graph)
    memory.close()
    assert expected["nodes"] and _stored(path)["nodes"] == expected["nodes"]
