"""Every loader refuses every bad file with one clear line, fast, and changes nothing.

"Changes nothing" is checked byte for byte: the long-term memory's JSON export before and after,
and the live SQLite file (with its WAL) before and after. The corpus is in
``bad_file_corpus.py``; running it as root skips the unreadable-file case (root reads it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from memory_nodes.core.errors import InvalidInputError, SchemaVersionError, StoreWriteError
from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.octree import SparseOctree
from memory_nodes.core.policies import TypeKnowledge, read_type_knowledge
from memory_nodes.core.store import graph_to_json, read_database, read_json
from tests.reliability.bad_file_corpus import (
    NOW,
    BadFile,
    kitchen_observations,
    memory_cases,
    octree_cases,
    running_as_root,
    store_cases,
    type_knowledge_cases,
    valid_json_document,
    valid_octree_bytes,
)

ANSWER_WITHIN_S = 1.0
NUM_OBJECTS = 25  # a counter top and 24 apples


def _skip_if_root(case: BadFile) -> None:
    if case.needs_non_root and running_as_root():
        pytest.skip("root reads a file without read permission; run as a user to check it")


def _file_bytes(path: Path) -> tuple[bytes, bytes]:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes(), wal.read_bytes() if wal.is_file() else b""


def _check_refusal(error: BaseException, case: BadFile, path: Path) -> None:
    expected = SchemaVersionError if case.newer_version else InvalidInputError
    assert isinstance(error, expected), f"{case.name}: {type(error).__name__}: {error}"
    message = str(error)
    assert "\n" not in message and 0 < len(message) < 400, message
    assert path.name in message, f"{case.name}: the message does not name the file: {message}"


@pytest.fixture
def live(tmp_path: Path):
    memory = LongTermMemory(tmp_path / "live" / "memory.sqlite")
    for frame in range(2):
        memory.integrate_frame(kitchen_observations(NOW + frame, NUM_OBJECTS - 1))
    assert memory.graph.num_nodes() == NUM_OBJECTS
    yield memory
    memory.close()


def _ids(cases: list[BadFile]) -> list[str]:
    return [case.name for case in cases]


@pytest.mark.parametrize("case", memory_cases(), ids=_ids(memory_cases()))
def test_bad_memory_file_is_refused_in_one_line_within_1s_and_memory_and_file_unchanged(
    case: BadFile, live: LongTermMemory, tmp_path: Path
) -> None:
    _skip_if_root(case)
    folder = tmp_path / "bad"
    folder.mkdir()
    path = case.make(folder)
    before, file_before = graph_to_json(live.graph), _file_bytes(live.database)
    start = time.perf_counter()
    with pytest.raises((InvalidInputError, SchemaVersionError)) as caught:
        live.load(path)
    elapsed = time.perf_counter() - start
    _check_refusal(caught.value, case, path)
    assert elapsed < ANSWER_WITHIN_S, f"{case.name} took {elapsed:.2f} s"
    assert graph_to_json(live.graph) == before
    assert _file_bytes(live.database) == file_before


@pytest.mark.parametrize("case", store_cases(), ids=_ids(store_cases()))
def test_bad_own_database_is_refused_at_start_and_left_as_it_was(
    case: BadFile, tmp_path: Path
) -> None:
    _skip_if_root(case)
    path = case.make(tmp_path)
    before = path.read_bytes()
    with pytest.raises((InvalidInputError, SchemaVersionError)) as caught:
        LongTermMemory(path).close()
    _check_refusal(caught.value, case, path)
    assert path.read_bytes() == before, "a refused database file was modified"


@pytest.mark.parametrize(
    "case",
    [c for c in octree_cases() if "labels" not in c.name],
    ids=_ids([c for c in octree_cases() if "labels" not in c.name]),
)
def test_bad_octree_file_is_refused_in_one_line(case: BadFile, tmp_path: Path) -> None:
    path = case.make(tmp_path)
    start = time.perf_counter()
    with pytest.raises(InvalidInputError) as caught:
        SparseOctree.load(path)
    assert time.perf_counter() - start < ANSWER_WITHIN_S
    _check_refusal(caught.value, case, path)


def test_bad_octree_label_files_are_refused_by_the_node_reader(tmp_path: Path) -> None:
    pytest.importorskip("rclpy")
    from memory_nodes.nodes.octree_node import _label_names

    for case in [c for c in octree_cases() if "labels" in c.name]:
        path = case.make(tmp_path)
        SparseOctree.load(path)  # the map itself is fine
        document = json.loads(Path(f"{path}.labels.json").read_text())
        with pytest.raises(InvalidInputError, match="labels"):
            _label_names(document)
    assert _label_names({"labels": ["Apple", ""]}) == ["Apple", ""]


@pytest.mark.parametrize("case", type_knowledge_cases(), ids=_ids(type_knowledge_cases()))
def test_bad_type_knowledge_file_is_refused_and_knowledge_unchanged(
    case: BadFile, tmp_path: Path
) -> None:
    path = case.make(tmp_path)
    knowledge = TypeKnowledge()
    knowledge.note_insert("Mug")
    before = knowledge.to_dict()
    with pytest.raises(InvalidInputError) as caught:
        read_type_knowledge(path, knowledge)
    _check_refusal(caught.value, case, path)
    assert knowledge.to_dict() == before


def test_valid_files_still_load(tmp_path: Path, live: LongTermMemory) -> None:
    """The guards refuse only bad files: exports, stores and maps written here load back."""
    document = valid_json_document(tmp_path)
    assert read_json(tmp_path / "original.json").num_nodes() == len(document["nodes"])
    saved = live.save(tmp_path / "copy.sqlite")
    assert graph_to_json(read_database(saved)) == graph_to_json(live.graph)
    assert live.load(saved) == NUM_OBJECTS
    tree_path = tmp_path / "map.octree"
    tree_path.write_bytes(valid_octree_bytes())
    assert SparseOctree.load(tree_path).to_bytes() == valid_octree_bytes()
    empty_map = SparseOctree()  # never decayed: last_decay is None
    empty_map.save(tree_path)
    assert SparseOctree.load(tree_path).to_bytes() == empty_map.to_bytes()
    knowledge = TypeKnowledge()
    knowledge.note_insert("Apple")
    (tmp_path / "knowledge.json").write_text(json.dumps(knowledge.to_dict()))
    assert read_type_knowledge(tmp_path / "knowledge.json").to_dict() == knowledge.to_dict()


def test_a_valid_but_empty_memory_file_loads_and_empties_memory(
    tmp_path: Path, live: LongTermMemory
) -> None:
    """Loading a memory that holds nothing is a legitimate request (a fresh start)."""
    empty = LongTermMemory(tmp_path / "empty_store.sqlite")
    saved = empty.save(tmp_path / "empty.sqlite")
    empty.close()
    assert live.load(saved) == 0
    assert live.graph.num_nodes() == 0
    (tmp_path / "zero.sqlite").write_bytes(b"")  # where a new store may begin
    for start in (tmp_path / "new.sqlite", tmp_path / "zero.sqlite"):
        fresh = LongTermMemory(start)
        assert fresh.graph.num_nodes() == 0
        fresh.close()


def test_a_file_that_cannot_be_read_is_refused_in_one_line(
    tmp_path: Path, live: LongTermMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unreadable-file case, also as root: reading fails as it would without permission."""
    export = tmp_path / "secret.json"
    live.save(export)
    store = live.save(tmp_path / "secret.sqlite")
    before = graph_to_json(live.graph)

    def _denied(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_text", _denied)
    monkeypatch.setattr(Path, "open", _denied)
    for path in (export, store):
        with pytest.raises(InvalidInputError, match="Permission denied") as caught:
            live.load(path)
        assert "\n" not in str(caught.value) and path.name in str(caught.value)
    assert graph_to_json(live.graph) == before


def test_a_load_that_cannot_be_written_is_refused_and_memory_stays_as_it_was(
    live: LongTermMemory, tmp_path: Path
) -> None:
    """A full disk during load: SQLite's page limit makes the rewrite fail for real."""
    bigger = LongTermMemory(None)
    for frame in range(2):
        bigger.integrate_frame(kitchen_observations(NOW + frame, 200))
    source = bigger.save(tmp_path / "bigger.json")
    before_graph = graph_to_json(live.graph)
    pages = live.store._db.execute("PRAGMA page_count").fetchone()[0]
    live.store._db.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreWriteError, match=r"bigger\.json"):
        live.load(source)
    assert graph_to_json(live.graph) == before_graph
    live.close()  # what the file holds after the failed load: what it held before
    assert graph_to_json(LongTermMemory(live.database).graph) == before_graph
