"""Persistence: SQLite reload, crash safety, schema versions, byte-stable JSON, GraphML."""

from __future__ import annotations

import doctest
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest

from memory_nodes.core import store as store_module
from memory_nodes.core.errors import InvalidInputError, SchemaVersionError
from memory_nodes.core.fusion import ObjectFusion
from memory_nodes.core.scene_graph import EdgeType, SceneGraph
from memory_nodes.core.store import (
    SceneGraphStore,
    graph_from_json,
    graph_to_json,
    read_json,
    write_graphml,
    write_json,
)
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3

REPO = Path(__file__).resolve().parents[2]


def obs(object_id: str, object_type: str, center, size, frame: int, states=None):
    box = Box(Vector3(*center), Vector3(*size))
    return ObjectObservation(
        object_id=object_id,
        object_type=object_type,
        world_T_object=Pose(box.center),
        box=box,
        stamp=float(frame),
        states=states or {},
        source="gt_mask",
        source_frame_id=f"f{frame}",
    )


def build_graph() -> SceneGraph:
    graph = SceneGraph()
    graph.add_room("kitchen", Box(Vector3(2, 2, 1.5), Vector3(4, 4, 3)), 0.0)
    fusion = ObjectFusion(graph)
    for frame in range(3):
        fusion.integrate_frame(
            [
                obs("CounterTop|1", "CounterTop", (1, 1, 0.45), (2, 0.6, 0.9), frame),
                obs("Fridge|1", "Fridge", (3, 1, 0.9), (0.8, 0.7, 1.8), frame, {"isOpen": "false"}),
                obs("Apple|1", "Apple", (0.5, 1, 0.95), (0.08, 0.08, 0.08), frame),
                obs("Mug|1", "Mug", (0.62, 1, 0.95), (0.1, 0.1, 0.1), frame),
            ]
        )
    fusion.record_interaction("Apple|1", "Fridge|1", "inside", 5.0)
    return graph


def test_restart_reloads_the_same_graph(tmp_path: Path) -> None:
    graph = build_graph()
    path = tmp_path / "memory.sqlite"
    with SceneGraphStore(path) as store:
        assert store.sync(graph) > 0
        assert store.sync(graph) == 0  # nothing new
    with SceneGraphStore(path) as store:
        reloaded = store.load()
    assert graph_to_json(reloaded) == graph_to_json(graph)
    assert reloaded.sequence == graph.sequence
    apple = reloaded.find_object_by_external_id("Apple|1")
    fridge = reloaded.find_object_by_external_id("Fridge|1")
    assert reloaded.find_location(apple.node_id) == (fridge.node_id, EdgeType.INSIDE)
    assert reloaded.changes_since(5.0)  # the change log survives too


def test_incremental_sync_writes_updates_and_deletions(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    with SceneGraphStore(path) as store:
        graph = store.load()
        for i in range(3):
            graph.add_node(
                "O", "Apple", world_T_object=Pose(Vector3(i, 0, 0)), box=Box(Vector3(i, 0, 0)),
                stamp=float(i),
            )  # fmt: skip
            store.sync(graph)
        graph.remove_node("O1", 10.0)
        graph.update_node("O2", 11.0, states={"isSliced": "true"})
        store.sync(graph)
        assert [c.stamp for c in store.changes_since(10.0)][-1] == 11.0
    with SceneGraphStore(path) as store:
        reloaded = store.load()
        assert graph_to_json(reloaded) == graph_to_json(graph)
        # New ids continue after the largest ever given, even after a deletion.
        new = reloaded.add_node(
            "O", "Mug", world_T_object=Pose(), box=Box(), stamp=12.0
        )  # fmt: skip
        assert new == "O3"


@pytest.mark.slow  # a writer process killed mid-write
def test_killed_writer_loses_nothing_it_committed(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    writer = textwrap.dedent(
        f"""
        import sys
        from memory_nodes.core.scene_graph import SceneGraph
        from memory_nodes.core.store import SceneGraphStore
        from memory_nodes.core.types import Box, Pose, Vector3
        store = SceneGraphStore({str(path)!r})
        graph = store.load()
        i = 0
        while True:
            graph.add_node("O", "Apple", world_T_object=Pose(Vector3(i, 0, 0)),
                           box=Box(Vector3(i, 0, 0)), stamp=float(i))
            store.sync(graph)
            print(i + 1, flush=True)  # nodes committed so far
            i += 1
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", writer], stdout=subprocess.PIPE, text=True, env=env
    )
    committed = 0
    try:
        while committed < 200:
            line = process.stdout.readline()
            assert line, "writer exited early"
            committed = int(line)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
    with SceneGraphStore(path) as store:
        graph = store.load()
    assert graph.num_nodes() >= committed
    assert [n.node_id for n in graph.nodes()] == [f"O{i}" for i in range(graph.num_nodes())]
    check = sqlite3.connect(str(path)).execute("PRAGMA integrity_check").fetchone()[0]
    assert check == "ok"


def test_store_uses_wal_and_records_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    with SceneGraphStore(path) as store:
        assert store.schema_version() == store_module.SCHEMA_VERSION
    mode = sqlite3.connect(str(path)).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_newer_schema_version_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    SceneGraphStore(path).close()
    with sqlite3.connect(str(path)) as db:
        db.execute("INSERT INTO schema_version VALUES (?)", (store_module.SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaVersionError, match="newer"):
        SceneGraphStore(path)


def test_json_export_is_byte_stable_and_round_trips(tmp_path: Path) -> None:
    graph = build_graph()
    text = graph_to_json(graph)
    assert text == graph_to_json(graph)
    assert text == graph_to_json(build_graph())  # same inputs, same bytes
    data = json.loads(text)
    assert data["format"] == "memory_nodes.scene_graph" and data["version"] == 1
    assert graph_to_json(graph_from_json(text)) == text
    write_json(graph, tmp_path / "g.json")
    assert graph_to_json(read_json(tmp_path / "g.json")) == text


def test_json_import_rejects_other_formats_and_newer_versions() -> None:
    with pytest.raises(InvalidInputError):
        graph_from_json('{"format": "something_else", "version": 1}')
    with pytest.raises(SchemaVersionError):
        graph_from_json('{"format": "memory_nodes.scene_graph", "version": 99}')
    with pytest.raises(InvalidInputError):
        graph_from_json("not json")


def test_graphml_export_is_readable_by_networkx(tmp_path: Path) -> None:
    graph = build_graph()
    write_graphml(graph, tmp_path / "g.graphml")
    loaded = nx.read_graphml(tmp_path / "g.graphml", force_multigraph=True)
    assert loaded.number_of_nodes() == graph.num_nodes()
    assert loaded.number_of_edges() == graph.num_edges()
    fridge = graph.find_object_by_external_id("Fridge|1").node_id
    assert json.loads(loaded.nodes[fridge]["states"]) == {"isOpen": "false"}


def test_store_docstring_example_runs() -> None:
    results = doctest.testmod(store_module, verbose=False)
    assert results.attempted > 0 and results.failed == 0
