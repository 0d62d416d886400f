"""Bad files for every loader of the memory stack, as generators (no ROS, no network).

Each :class:`BadFile` writes one file (or directory, or nothing) into a folder and returns the
path a user would pass. The loaders:

* ``memory``: ``LongTermMemory.load`` and the memory server's ``~/load_memory`` (.json export,
  .sqlite store, and what else a user may point it at);
* ``store``: ``LongTermMemory(database)`` at start (the node's own database): the bad .sqlite
  files that are not empty must be refused without being modified;
* ``octree``: ``SparseOctree.load`` and the octree node's ``~/load``;
* ``type_knowledge``: ``read_type_knowledge`` (the household policy's saved counts).

A file without read permission means nothing to root (who reads it anyway); that case is
marked ``needs_non_root`` and skipped when running as root.

Run ``python -m tests.reliability.bad_file_corpus FOLDER`` to write them all and list them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.octree import SparseOctree
from memory_nodes.core.policies import TypeKnowledge
from memory_nodes.core.store import MAX_JSON_BYTES
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3

NOW = 1_700_000_000.0


@dataclass(frozen=True)
class BadFile:
    """One bad input: ``make(folder)`` writes it and returns the path to load."""

    name: str
    loader: str
    make: Callable[[Path], Path]
    needs_non_root: bool = False
    newer_version: bool = False  # refused with SchemaVersionError rather than InvalidInputError


# ------------------------------------------------------------------ valid originals


def kitchen_observations(stamp: float, count: int = 3) -> list[ObjectObservation]:
    """A counter top and ``count`` apples in a row: what the valid originals hold."""
    items = [("CounterTop|1", "CounterTop", (1.0, 0.0, 0.45), (4.0, 0.6, 0.9))]
    items += [
        (f"Apple|{j}", "Apple", (0.2 * j, 0.0, 0.95), (0.08, 0.08, 0.08)) for j in range(count)
    ]
    return [
        ObjectObservation(
            object_id=object_id,
            object_type=object_type,
            world_T_object=Pose(Vector3(*xyz)),
            box=Box(Vector3(*xyz), Vector3(*size)),
            stamp=stamp,
            source="gt_mask",
            source_frame_id=f"camera@{stamp}",
        )
        for object_id, object_type, xyz, size in items
    ]


def _valid_memory(folder: Path) -> LongTermMemory:
    memory = LongTermMemory(folder / "original_store.sqlite")
    for frame in range(2):  # two frames confirm every object
        memory.integrate_frame(kitchen_observations(NOW + frame))
    return memory


def valid_json_document(folder: Path) -> dict:
    """A valid scene graph export (counter top and apples), as a dict to break."""
    path = folder / "original.json"
    if not path.is_file():
        memory = _valid_memory(folder)
        memory.save(path)
        memory.close()
    return json.loads(path.read_text())


def valid_store(folder: Path, name: str) -> Path:
    """A copy of a valid memory store (a committed SQLite file) at ``folder / name``."""
    original = folder / "original.sqlite"
    if not original.is_file():
        memory = _valid_memory(folder)
        memory.save(original)
        memory.close()
    path = folder / name
    path.write_bytes(original.read_bytes())
    return path


def valid_octree_bytes() -> bytes:
    tree = SparseOctree(resolution=0.1, depth=10)
    points = np.array([[1.0, 0.0, 0.5], [1.2, 0.3, 0.5], [0.8, -0.2, 0.4]])
    tree.insert_point_cloud(points, origin=np.zeros(3), stamp=NOW)
    return tree.to_bytes()


# ------------------------------------------------------------------ writers


def _write(name: str, data: bytes | str) -> Callable[[Path], Path]:
    def _make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    return _make


def _json_case(name: str, edit: Callable[[dict], object]) -> Callable[[Path], Path]:
    """A valid export changed by ``edit`` (which changes the dict or returns a replacement)."""

    def _make(folder: Path) -> Path:
        document = valid_json_document(folder)
        replaced = edit(document)
        text = json.dumps(document if replaced is None else replaced)
        path = folder / name
        path.write_text(text)
        return path

    return _make


def _raw_json_case(name: str, edit: Callable[[str], str]) -> Callable[[Path], Path]:
    def _make(folder: Path) -> Path:
        path = folder / name
        path.write_text(edit(json.dumps(valid_json_document(folder))))
        return path

    return _make


def _store_case(name: str, sql: list[str]) -> Callable[[Path], Path]:
    """A valid store changed by SQL statements (in WAL-free rollback mode, so one file)."""

    def _make(folder: Path) -> Path:
        path = valid_store(folder, name)
        db = sqlite3.connect(path)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
            for statement in sql:
                db.execute(statement)
            db.commit()
        finally:
            db.close()
        return path

    return _make


def _sparse(name: str, size: int) -> Callable[[Path], Path]:
    """A huge file that costs no disk: a hole of ``size`` bytes."""

    def _make(folder: Path) -> Path:
        path = folder / name
        with path.open("wb") as file:
            file.truncate(size)
        return path

    return _make


def _directory(name: str) -> Callable[[Path], Path]:
    def _make(folder: Path) -> Path:
        path = folder / name
        path.mkdir(exist_ok=True)
        return path

    return _make


def _missing(name: str) -> Callable[[Path], Path]:
    return lambda folder: folder / "does_not_exist" / name


def _unreadable(make: Callable[[Path], Path]) -> Callable[[Path], Path]:
    def _make(folder: Path) -> Path:
        path = make(folder)
        path.chmod(0)
        return path

    return _make


def _store_bytes(edit: Callable[[bytes], bytes], name: str) -> Callable[[Path], Path]:
    def _make(folder: Path) -> Path:
        path = valid_store(folder, name)
        path.write_bytes(edit(path.read_bytes()))
        return path

    return _make


def _damage_pages(data: bytes) -> bytes:
    """Overwrite every page after the first with a repeating pattern (b-tree pages ruined)."""
    page = int.from_bytes(data[16:18], "big") or 65536
    return data[:page] + bytes([0xA5]) * (len(data) - page)


def _first_node(document: dict) -> dict:
    return document["nodes"][0]


def _set(target: Callable[[dict], dict], key: str, value: object) -> Callable[[dict], None]:
    def _edit(document: dict) -> None:
        target(document)[key] = value

    return _edit


RANDOM = np.random.default_rng(16).bytes(4096)


def _memory_cases() -> list[BadFile]:
    def m(name: str, make: Callable[[Path], Path], **kw: bool) -> BadFile:
        return BadFile(name, "memory", make, **kw)

    nodes = lambda d: d  # noqa: E731 - the document itself
    return [
        # JSON exports
        m("json_empty", _write("empty.json", b"")),
        m("json_random_bytes", _write("random.json", RANDOM)),
        m("json_not_utf8", _write("latin1.json", '{"format": "caf\xe9"}'.encode("latin-1"))),
        m("json_truncated", _raw_json_case("truncated.json", lambda t: t[: len(t) // 2])),
        m("json_list", _write("list.json", "[]")),
        m("json_empty_object", _write("object.json", "{}")),
        m("json_without_nodes", _json_case("no_nodes.json", lambda d: d.pop("nodes") and None)),
        m("json_nodes_5", _json_case("nodes_5.json", _set(nodes, "nodes", 5))),
        m("json_nodes_of_numbers", _json_case("nodes_numbers.json", _set(nodes, "nodes", [1, 2]))),
        m(
            "json_node_wrong_types",
            _json_case("wrong_types.json", _set(_first_node, "world_T_object", "here")),
        ),
        m(
            "json_node_states_not_text",
            _json_case("states.json", _set(_first_node, "states", {"isOpen": [1]})),
        ),
        m("json_nan_coordinates", _raw_json_case("nan.json", lambda t: t.replace("0.95", "NaN"))),
        m(
            "json_inf_coordinates",
            _raw_json_case("inf.json", lambda t: t.replace("0.95", "Infinity")),
        ),
        m(
            "json_1e400_coordinates",
            _raw_json_case("e400.json", lambda t: t.replace("0.95", "1e400")),
        ),
        m(
            "json_1e308_coordinates",
            _raw_json_case("e308.json", lambda t: t.replace("0.95", "1e308")),
        ),
        m(
            "json_edge_to_unknown_node",
            _json_case(
                "edge_unknown.json",
                lambda d: d["edges"].append(
                    {"source": "O1", "target": "F999", "type": "on", "stamp": NOW, "origin": "x"}
                ),
            ),
        ),
        m(
            "json_duplicate_node_ids",
            _json_case("duplicate.json", lambda d: d["nodes"].append(dict(d["nodes"][0]))),
        ),
        m(
            "json_duplicate_external_ids",
            _json_case(
                "duplicate_external.json",
                lambda d: d["nodes"].append({**d["nodes"][-1], "id": "O999"}),
            ),
        ),
        m("json_id_of_another_layer", _json_case("layer.json", _set(_first_node, "layer", "O"))),
        m(
            "json_bad_next_index",
            _json_case("next_index.json", _set(nodes, "next_index", {"X": 1})),
        ),
        m(
            "json_newer_version",
            _json_case("newer.json", _set(nodes, "version", 99)),
            newer_version=True,
        ),
        m("json_deeply_nested", _write("nested.json", "[" * 200_000 + "]" * 200_000)),
        m("json_huge", _sparse("huge.json", MAX_JSON_BYTES + 1)),
        # SQLite stores
        m("sqlite_empty", _write("empty.sqlite", b"")),
        m("sqlite_random_bytes", _write("random.sqlite", RANDOM)),
        m("sqlite_header_only", _write("header.sqlite", b"SQLite format 3\x00" + bytes(84))),
        m("sqlite_truncated", _store_bytes(lambda b: b[: len(b) // 2], "truncated.sqlite")),
        m("sqlite_damaged_pages", _store_bytes(_damage_pages, "damaged.sqlite")),
        m(
            "sqlite_other_schema",
            _store_case(
                "other.sqlite",
                [f"DROP TABLE {t}" for t in ("nodes", "edges", "changes", "meta", "schema_version")]
                + [
                    "CREATE TABLE users (name TEXT, email TEXT)",
                    "INSERT INTO users VALUES ('a', 'b')",
                ],
            ),
        ),
        m("sqlite_missing_table", _store_case("missing.sqlite", ["DROP TABLE edges"])),
        m(
            "sqlite_malformed_json_row",
            _store_case(
                "row_json.sqlite",
                ["UPDATE nodes SET data = '{not json' WHERE id = (SELECT MIN(id) FROM nodes)"],
            ),
        ),
        m(
            "sqlite_row_wrong_types",
            _store_case(
                "row_types.sqlite",
                [
                    "UPDATE nodes SET data = json_set(data, '$.box', 'big') "
                    "WHERE id = (SELECT MIN(id) FROM nodes)"
                ],
            ),
        ),
        m(
            "sqlite_edge_to_unknown_node",
            _store_case(
                "edge_unknown.sqlite",
                [
                    "INSERT INTO edges VALUES ('O1', 'F999', 'on', "
                    '\'{"source": "O1", "target": "F999", "type": "on", '
                    '"stamp": 1.0, "origin": "x"}\')'
                ],
            ),
        ),
        m(
            "sqlite_newer_schema_version",
            _store_case("newer.sqlite", ["INSERT INTO schema_version VALUES (99)"]),
            newer_version=True,
        ),
        m("sqlite_holding_json", _json_case("export.sqlite", lambda d: None)),
        # what else a user may point the service at
        m("graphml_export", _graphml),
        m("wrong_suffix", _json_case("memory.txt", lambda d: None)),
        m("directory", _directory("folder.json")),
        m("directory_sqlite", _directory("folder.sqlite")),
        m("missing_path", _missing("memory.json")),
        m("missing_sqlite", _missing("memory.sqlite")),
        m(
            "unreadable",
            _unreadable(_json_case("secret.json", lambda d: None)),
            needs_non_root=True,
        ),
    ]


def _graphml(folder: Path) -> Path:
    memory = _valid_memory(folder)
    path = memory.save(folder / "export.graphml")
    memory.close()
    return path


def _octree_cases() -> list[BadFile]:
    good = valid_octree_bytes()
    meta_len = int.from_bytes(good[12:16], "little")

    def with_meta(edit: Callable[[dict], None]) -> bytes:
        meta = json.loads(good[16 : 16 + meta_len])
        edit(meta)
        text = json.dumps(meta).encode()
        return good[:12] + len(text).to_bytes(4, "little") + text + good[16 + meta_len :]

    cells_at = 16 + meta_len + 8
    n = int.from_bytes(good[16 + meta_len : cells_at], "little")

    def o(name: str, data: bytes) -> BadFile:
        return BadFile(name, "octree", _write(f"{name}.octree", data))

    logodds_at = cells_at + 8 * n  # the float32 log-odds follow the int64 keys
    reversed_keys = good[:cells_at] + good[cells_at : cells_at + 8 * n][::-1] + good[logodds_at:]
    return [
        o("octree_empty", b""),
        o("octree_random_bytes", RANDOM),
        o("octree_bad_magic", b"NOTOCTRE" + good[8:]),
        o("octree_newer_version", good[:8] + (99).to_bytes(4, "little") + good[12:]),
        o("octree_truncated", good[: len(good) // 2]),
        o("octree_header_only", good[:16]),
        o("octree_trailing_bytes", good + b"\x00" * 7),
        o("octree_huge_cell_count", good[: 16 + meta_len] + (1 << 60).to_bytes(8, "little")),
        o(
            "octree_meta_length_beyond_file",
            good[:12] + (1 << 31).to_bytes(4, "little") + good[16:],
        ),
        o("octree_meta_not_json", good[:16] + b"x" * meta_len + good[16 + meta_len :]),
        o("octree_meta_missing_key", with_meta(lambda m: m.pop("resolution"))),
        o("octree_meta_wrong_type", with_meta(lambda m: m.update(resolution="fine"))),
        o("octree_meta_nan", with_meta(lambda m: m.update(resolution=float("nan")))),
        o("octree_meta_depth_too_big", with_meta(lambda m: m.update(depth=64))),
        o("octree_keys_unsorted", reversed_keys),
        o(
            "octree_nan_logodds",
            good[:logodds_at] + np.float32("nan").tobytes() + good[logodds_at + 4 :],
        ),
        BadFile("octree_directory", "octree", _directory("folder.octree")),
        BadFile("octree_missing", "octree", _missing("map.octree")),
        BadFile("octree_labels_list", "octree", _octree_with_labels("[]")),
        BadFile("octree_labels_not_text", "octree", _octree_with_labels('{"labels": [1, 2]}')),
    ]


def _octree_with_labels(labels: str) -> Callable[[Path], Path]:
    """A valid map whose ``.labels.json`` companion (read by the octree node) is bad."""

    def _make(folder: Path) -> Path:
        path = folder / f"labels_{abs(hash(labels))}.octree"
        path.write_bytes(valid_octree_bytes())
        Path(f"{path}.labels.json").write_text(labels)
        return path

    return _make


def _type_knowledge_cases() -> list[BadFile]:
    good = TypeKnowledge()
    good.note_insert("Apple")
    saved = good.to_dict()

    def t(name: str, data: bytes | str) -> BadFile:
        return BadFile(name, "type_knowledge", _write(f"{name}.json", data))

    return [
        t("knowledge_empty", b""),
        t("knowledge_random_bytes", RANDOM),
        t("knowledge_list", "[]"),
        t("knowledge_empty_object", "{}"),
        t("knowledge_newer_version", json.dumps({**saved, "version": 2})),
        t("knowledge_negative_counts", json.dumps({**saved, "inserted": {"Apple": [-5, 1]}})),
        t("knowledge_nan_clock", json.dumps({**saved, "clock": float("nan")})),
        t("knowledge_table_not_object", json.dumps({**saved, "read": [1, 2]})),
        t("knowledge_count_not_pair", json.dumps({**saved, "read": {"Apple": 3}})),
        t("knowledge_nested", "[" * 200_000),
        BadFile("knowledge_huge", "type_knowledge", _sparse("huge_knowledge.json", 64 << 20)),
        BadFile("knowledge_directory", "type_knowledge", _directory("knowledge_dir.json")),
        BadFile("knowledge_missing", "type_knowledge", _missing("knowledge.json")),
    ]


def memory_cases() -> list[BadFile]:
    return _memory_cases()


def store_cases() -> list[BadFile]:
    """The node's own database at start: every bad .sqlite file except the empty one (a
    0-byte file is where a new store begins) and the ones that are not files."""
    skip = {"sqlite_empty", "directory_sqlite", "missing_sqlite"}
    return [
        BadFile(
            c.name.replace("sqlite_", "store_"), "store", c.make, c.needs_non_root, c.newer_version
        )
        for c in _memory_cases()
        if c.name.startswith("sqlite_") and c.name not in skip
    ]


def octree_cases() -> list[BadFile]:
    return _octree_cases()


def type_knowledge_cases() -> list[BadFile]:
    return _type_knowledge_cases()


def all_cases() -> list[BadFile]:
    return memory_cases() + store_cases() + octree_cases() + type_knowledge_cases()


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_files")
    target.mkdir(parents=True, exist_ok=True)
    for case in all_cases():
        print(f"{case.loader:15} {case.name:35} {case.make(target)}")
