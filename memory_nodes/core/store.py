"""Persistence of the scene graph: SQLite as the embedded store, JSON and GraphML exports.

Serialisation (``graph_to_dict`` / ``graph_from_dict`` / ``graph_to_json``) is separate from
files: the same dictionaries are the JSON export, the import, and the rows of the SQLite store.
The JSON export carries a ``format``/``version`` header and is byte-stable (sorted keys, nodes
and edges in id order), so a round trip can be checked by comparing bytes. The format is
documented in ``docs/memory_format.md``.

SQLite runs in WAL mode. :meth:`SceneGraphStore.sync` writes every change since the previous
sync in one transaction: a process killed mid-run loses at most the changes it had not synced
yet, never a half-written graph. ``synchronous=NORMAL`` survives a killed process (not a power
cut; use ``synchronous="FULL"`` for that).
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import networkx as nx

from memory_nodes.core.errors import InvalidInputError, SchemaVersionError
from memory_nodes.core.scene_graph import (
    ChangeKind,
    EdgeType,
    GraphChange,
    Layer,
    NodeSnapshot,
    NodeStatus,
    Provenance,
    SceneEdge,
    SceneGraph,
    SceneNode,
)
from memory_nodes.core.types import Box, Pose, Quaternion, Vector3

JSON_FORMAT = "memory_nodes.scene_graph"
JSON_VERSION = 1
SCHEMA_VERSION = 1
#: A stored coordinate further than this from the map origin is corruption, not a house.
MAX_COORDINATE_M = 10_000.0
#: Longest id, type, name or state text a memory file may hold.
MAX_TEXT_LENGTH = 4096
#: Largest JSON export read (a house of 100,000 objects with their history is far smaller).
MAX_JSON_BYTES = 256 * 1024 * 1024
#: Every SQLite database file starts with these 16 bytes.
SQLITE_HEADER = b"SQLite format 3\x00"
#: The tables of a memory store and the columns each must have.
STORE_TABLES: dict[str, tuple[str, ...]] = {
    "schema_version": ("version",),
    "nodes": ("id", "data"),
    "edges": ("source", "target", "type", "data"),
    "changes": ("sequence", "stamp", "data"),
    "meta": ("key", "value"),
}


# ------------------------------------------------------------------ serialisation


def _vec(v: Vector3) -> list[float]:
    return [v.x, v.y, v.z]


def _pose_to_dict(pose: Pose) -> dict[str, list[float]]:
    q = pose.orientation
    return {"position": _vec(pose.position), "orientation": [q.x, q.y, q.z, q.w]}


def _pose_from_dict(data: dict[str, list[float]]) -> Pose:
    return Pose(_point(data["position"], "position"), Quaternion(*_numbers(data["orientation"], 4)))


# --------------------------------------------------------------- reading: validation helpers
# A file is untrusted input: every field is checked for its type before it is used, so a bad
# file ends in one InvalidInputError instead of a KeyError or TypeError from deep inside.


def _numbers(value: Any, count: int) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != count:
        raise TypeError(f"expected a list of {count} numbers, got {value!r:.80}")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise TypeError(f"expected a number, got {item!r:.80}")
        if not math.isfinite(item):
            raise ValueError(f"numbers must be finite, got {item!r}")
        out.append(item)  # as written: an int stays an int, so exports stay byte-stable
    return out


def _point(value: Any, what: str) -> Vector3:
    x, y, z = _numbers(value, 3)
    if max(abs(x), abs(y), abs(z)) > MAX_COORDINATE_M:
        raise ValueError(f"{what} {[x, y, z]} is more than {MAX_COORDINATE_M:g} m from the origin")
    return Vector3(x, y, z)


def _number(data: dict[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default) if default is not None else data[key]
    (number,) = _numbers([value], 1)
    return float(number)


def _count(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key} must be a whole number >= 0, got {value!r:.80}")
    return value


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default) if default is not None else data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be text, got {value!r:.80}")
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"{key} is {len(value)} characters long (at most {MAX_TEXT_LENGTH})")
    return value


def _states(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise TypeError(f"states must map text to text, got {value!r:.80}")
    return dict(value)


def _mapping(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidInputError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInputError(f"{what} must be a list, got {type(value).__name__}")
    return value


def node_to_dict(node: SceneNode) -> dict[str, Any]:
    return {
        "id": node.node_id,
        "layer": node.layer.value,
        "type": node.node_type,
        "external_id": node.external_id,
        "name": node.name,
        "world_T_object": _pose_to_dict(node.world_T_object),
        "box": {"center": _vec(node.box.center), "size": _vec(node.box.size)},
        "states": dict(node.states),
        "log_odds": node.log_odds,
        "confidence": node.confidence,
        "first_seen": node.first_seen,
        "last_seen": node.last_seen,
        "num_observations": node.num_observations,
        "status": node.status.value,
        "consecutive_misses": node.consecutive_misses,
        "provenance": [
            {"observation_id": p.observation_id, "source": p.source, "stamp": p.stamp}
            for p in node.provenance
        ],
        "history": [
            {
                "stamp": h.stamp,
                "position": _vec(h.position),
                "states": dict(h.states),
                "parent_id": h.parent_id,
                "relation": h.relation,
                "room_id": h.room_id,
                "status": h.status.value,
                "reason": h.reason,
            }
            for h in node.history
        ],
    }


def node_from_dict(data: dict[str, Any]) -> SceneNode:
    """A node from :func:`node_to_dict`'s form; InvalidInputError naming the node otherwise."""
    data = _mapping(data, "a node")
    try:
        return SceneNode(
            node_id=_text(data, "id"),
            layer=Layer(data["layer"]),
            node_type=_text(data, "type"),
            world_T_object=_pose_from_dict(_mapping(data["world_T_object"], "world_T_object")),
            box=Box(
                _point(_mapping(data["box"], "box")["center"], "box centre"),
                Vector3(*_numbers(data["box"]["size"], 3)),
            ),
            first_seen=_number(data, "first_seen"),
            last_seen=_number(data, "last_seen"),
            external_id=_text(data, "external_id", ""),
            name=_text(data, "name", ""),
            states=_states(data.get("states", {})),
            log_odds=_number(data, "log_odds"),
            num_observations=_count(data, "num_observations"),
            status=NodeStatus(data.get("status", NodeStatus.PRESENT.value)),
            consecutive_misses=_count(data, "consecutive_misses"),
            provenance=[
                Provenance(
                    _text(_mapping(p, "provenance"), "observation_id"),
                    _text(p, "source"),
                    _number(p, "stamp"),
                )
                for p in _list(data.get("provenance", []), "provenance")
            ],
            history=[
                NodeSnapshot(
                    stamp=_number(_mapping(h, "history"), "stamp"),
                    position=_point(h["position"], "history position"),
                    states=_states(h["states"]),
                    parent_id=_text(h, "parent_id"),
                    relation=_text(h, "relation"),
                    room_id=_text(h, "room_id"),
                    status=NodeStatus(h["status"]),
                    reason=_text(h, "reason"),
                )
                for h in _list(data.get("history", []), "history")
            ],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInputError(
            f"malformed node {str(data.get('id', '?'))[:40]!r}: {_reason(error)}"
        ) from error


def _reason(error: BaseException) -> str:
    """One line for an error met while reading (a KeyError alone says only the key)."""
    if isinstance(error, KeyError) and not isinstance(error, InvalidInputError):
        return f"missing field {error}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def edge_to_dict(edge: SceneEdge) -> dict[str, Any]:
    return {
        "source": edge.source,
        "target": edge.target,
        "type": edge.edge_type.value,
        "stamp": edge.stamp,
        "origin": edge.origin,
    }


def edge_from_dict(data: dict[str, Any]) -> SceneEdge:
    data = _mapping(data, "an edge")
    try:
        return SceneEdge(
            _text(data, "source"),
            _text(data, "target"),
            EdgeType(data["type"]),
            _number(data, "stamp"),
            _text(data, "origin"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInputError(f"malformed edge: {_reason(error)}") from error


def change_to_dict(change: GraphChange) -> dict[str, Any]:
    return {
        "sequence": change.sequence,
        "stamp": change.stamp,
        "kind": change.kind.value,
        "node_id": change.node_id,
        "target_id": change.target_id,
        "edge_type": change.edge_type,
        "detail": change.detail,
    }


def change_from_dict(data: dict[str, Any]) -> GraphChange:
    data = _mapping(data, "a change")
    try:
        sequence = data["sequence"]
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
            raise ValueError(f"sequence must be a whole number >= 1, got {sequence!r:.80}")
        return GraphChange(
            sequence,
            _number(data, "stamp"),
            ChangeKind(data["kind"]),
            _text(data, "node_id"),
            _text(data, "target_id"),
            _text(data, "edge_type"),
            _text(data, "detail"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInputError(f"malformed change: {_reason(error)}") from error


def graph_to_dict(graph: SceneGraph) -> dict[str, Any]:
    """The whole graph with a format header; nodes and edges in id order."""
    return {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "sequence": graph.sequence,
        "next_index": graph.next_index,
        "nodes": [node_to_dict(n) for n in graph.nodes()],
        "edges": [edge_to_dict(e) for e in graph.edges()],
    }


def graph_from_dict(data: dict[str, Any]) -> SceneGraph:
    """The graph :func:`graph_to_dict` wrote; the whole document is checked before it is built.

    Raises
    ------
    InvalidInputError
        If ``data`` is not such a document (wrong types, missing fields, non-finite or absurd
        numbers, edges to unknown nodes, duplicate ids).
    SchemaVersionError
        If it was written by a newer version of memory_nodes.
    """
    data = _mapping(data, "a scene graph document")
    if data.get("format") != JSON_FORMAT:
        raise InvalidInputError(
            f"not a {JSON_FORMAT} document (format={str(data.get('format'))[:40]!r})"
        )
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInputError(f"{JSON_FORMAT} version must be a whole number, got {version!r}")
    if version > JSON_VERSION:
        raise SchemaVersionError(
            f"{JSON_FORMAT} version {version!r} is newer than this reader ({JSON_VERSION}); "
            "upgrade memory_nodes"
        )
    if "nodes" not in data or "edges" not in data:
        raise InvalidInputError(f"a {JSON_FORMAT} document needs 'nodes' and 'edges'")
    sequence = data.get("sequence", 0)
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise InvalidInputError(f"sequence must be a whole number >= 0, got {sequence!r:.80}")
    next_index = data.get("next_index")
    if next_index is not None:
        next_index = _mapping(next_index, "next_index")
    return SceneGraph.from_parts(
        [node_from_dict(n) for n in _list(data["nodes"], "nodes")],
        [edge_from_dict(e) for e in _list(data["edges"], "edges")],
        next_index=next_index,
        sequence=sequence,
    )


def graph_to_json(graph: SceneGraph) -> str:
    """Byte-stable JSON: the same graph always gives the same text."""
    return json.dumps(graph_to_dict(graph), sort_keys=True, indent=1, allow_nan=False) + "\n"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def graph_from_json(text: str) -> SceneGraph:
    try:
        # NaN and Infinity are not JSON; Python's reader accepts them unless told otherwise.
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise InvalidInputError(f"scene graph JSON does not parse: {_reason(error)}") from error
    return graph_from_dict(data)


def write_json(graph: SceneGraph, path: str | Path) -> None:
    Path(path).write_text(graph_to_json(graph), encoding="utf-8")


def read_json(path: str | Path) -> SceneGraph:
    """The graph in a JSON export; InvalidInputError naming the file for anything else."""
    path = Path(path)
    _check_readable_file(path, MAX_JSON_BYTES)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{path}: not UTF-8 text ({error.reason})") from error
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read ({error.strerror or error})") from error
    try:
        return graph_from_json(text)
    except InvalidInputError as error:
        raise InvalidInputError(f"{path}: {error}") from error
    except SchemaVersionError as error:
        raise SchemaVersionError(f"{path}: {error}") from error


def _check_readable_file(path: Path, max_bytes: int) -> int:
    """Size of ``path``; InvalidInputError unless it is a regular file of at most max_bytes."""
    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory, not a memory file")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidInputError(f"no memory file at {path} ({error.strerror or error})") from error
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a regular file")
    if size > max_bytes:
        raise InvalidInputError(f"{path} is {size} bytes, more than a memory file may be")
    return size


def write_graphml(graph: SceneGraph, path: str | Path) -> None:
    """GraphML for viewers (Gephi, yEd); flat attributes, states as a JSON string."""
    out = nx.MultiDiGraph()
    for node in graph.nodes():
        out.add_node(
            node.node_id,
            layer=node.layer.value,
            type=node.node_type,
            external_id=node.external_id,
            name=node.name,
            x=node.position.x,
            y=node.position.y,
            z=node.position.z,
            size_x=node.box.size.x,
            size_y=node.box.size.y,
            size_z=node.box.size.z,
            confidence=node.confidence,
            first_seen=node.first_seen,
            last_seen=node.last_seen,
            num_observations=node.num_observations,
            status=node.status.value,
            states=json.dumps(node.states, sort_keys=True),
        )
    for edge in graph.edges():
        out.add_edge(
            edge.source,
            edge.target,
            key=edge.edge_type.value,
            type=edge.edge_type.value,
            stamp=edge.stamp,
            origin=edge.origin,
        )
    nx.write_graphml(out, str(path))


# ------------------------------------------------------------------ SQLite


def _read_only_uri(path: Path) -> str:
    from urllib.request import pathname2url

    return f"file:{pathname2url(str(path.resolve()))}?mode=ro"


def _check_store_schema(db: sqlite3.Connection, path: Path, allow_new: bool) -> bool:
    """True if ``db`` is a memory store, False if it is a database without any table yet."""
    (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
    if check != "ok":
        check = " ".join(str(check).replace("*", "").split())  # one line
        raise InvalidInputError(f"{path}: the SQLite file is damaged ({check})")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not tables and allow_new:
        return False
    missing = [name for name in STORE_TABLES if name not in tables]
    if missing:
        found = ", ".join(sorted(tables)[:5]) or "none"
        raise InvalidInputError(
            f"{path}: not a memory store (tables {', '.join(missing)} missing; found {found})"
        )
    for table, columns in STORE_TABLES.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        lacking = [c for c in columns if c not in have]
        if lacking:
            raise InvalidInputError(
                f"{path}: table {table} lacks column(s) {', '.join(lacking)}: not a memory store"
            )
    (version,) = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInputError(f"{path}: schema_version holds {version!r}, not a version number")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {version}, newer than this memory_nodes supports "
            f"({SCHEMA_VERSION}); upgrade memory_nodes or use another file"
        )
    return True


def _sqlite_header_problem(path: Path, size: int) -> str | None:
    """Why ``path`` cannot be a SQLite database by its first bytes, or None."""
    if size == 0:
        return "empty (0 bytes)"
    with path.open("rb") as file:
        header = file.read(100)
    if not header.startswith(SQLITE_HEADER):
        return "not a SQLite database (no SQLite header)"
    if size < 512:  # one page of the smallest page size
        return f"a truncated SQLite database ({size} bytes)"
    return None


def check_database_file(path: str | Path, *, allow_new: bool = False) -> None:
    """Check, read-only, that ``path`` holds a memory store this version can read.

    With ``allow_new`` a missing file, a 0-byte file and a SQLite database without tables
    pass too (what a store starts from). Every row is read and checked, as a load would;
    nothing is written to the file.

    Raises
    ------
    InvalidInputError
        Not a SQLite file, damaged (``PRAGMA quick_check``), or another schema.
    SchemaVersionError
        Written by a newer version of memory_nodes.
    """
    path = Path(path)
    if allow_new and (not path.exists() or (path.is_file() and path.stat().st_size == 0)):
        return
    size = _check_readable_file(path, 1 << 62)
    try:
        problem = _sqlite_header_problem(path, size)
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read ({error.strerror or error})") from error
    if problem:
        raise InvalidInputError(f"{path} is {problem}")
    try:
        db = sqlite3.connect(_read_only_uri(path), uri=True)
        try:
            if _check_store_schema(db, path, allow_new):
                _load_graph(db, path)  # every row, so a bad one is found before any write
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise InvalidInputError(f"{path}: not a readable memory store ({error})") from error


def read_database(path: str | Path, **options: float) -> SceneGraph:
    """The graph a memory store file holds, read from a copy: the file is never written.

    The whole file is checked (header, ``PRAGMA quick_check``, schema, every row) before the
    graph is returned. A valid store without objects gives an empty graph; an empty file,
    another database or a damaged one raises InvalidInputError naming the file.
    """
    path = Path(path)
    size = _check_readable_file(path, 1 << 62)
    try:
        problem = _sqlite_header_problem(path, size)
        if problem:
            raise InvalidInputError(f"{path} is {problem}")
        with tempfile.TemporaryDirectory(prefix="memory_load_") as folder:
            copy = Path(folder) / "load.sqlite"
            shutil.copyfile(path, copy)
            wal = path.with_name(path.name + "-wal")
            if wal.is_file():  # committed rows not yet checkpointed live in the WAL
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            db = sqlite3.connect(_read_only_uri(copy), uri=True)
            try:
                _check_store_schema(db, path, allow_new=False)
                return _load_graph(db, path, **options)
            finally:
                db.close()
    except sqlite3.DatabaseError as error:
        raise InvalidInputError(f"{path}: not a readable memory store ({error})") from error
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read ({error.strerror or error})") from error


def _load_graph(db: sqlite3.Connection, path: Path, **options: float) -> SceneGraph:
    """The graph in the store ``db`` (file ``path``, for messages), every row checked."""
    try:
        nodes = []
        for node_id, data in db.execute("SELECT id, data FROM nodes"):
            node = node_from_dict(json.loads(data, parse_constant=_reject_constant))
            if node.node_id != node_id:
                raise InvalidInputError(f"row {node_id!r} holds node {node.node_id!r}")
            nodes.append(node)
        edges = [
            edge_from_dict(json.loads(d, parse_constant=_reject_constant))
            for (d,) in db.execute("SELECT data FROM edges")
        ]
        limit = int(options.get("change_log_limit", 100_000))
        rows = db.execute(
            "SELECT data FROM changes ORDER BY sequence DESC LIMIT ?", (limit,)
        ).fetchall()
        changes = [
            change_from_dict(json.loads(d, parse_constant=_reject_constant))
            for (d,) in reversed(rows)
        ]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        sequence = int(meta.get("sequence", "0"))
        next_index = _mapping(json.loads(meta.get("next_index", "{}")), "next_index")
        return SceneGraph.from_parts(
            nodes, edges, next_index=next_index, sequence=sequence, changes=changes, **options
        )
    except sqlite3.DatabaseError:
        raise
    except SchemaVersionError:
        raise
    except (InvalidInputError, KeyError, TypeError, ValueError, AttributeError) as error:
        raise InvalidInputError(f"{path}: {_reason(error)}") from error


#: Changes the file keeps by default: weeks of a busy home once jitter is not logged.
DEFAULT_MAX_CHANGE_ROWS = 100_000
#: ``sync`` prunes at most this many committed changes apart (bounding the overshoot).
PRUNE_EVERY_MAX_ROWS = 1000
#: Size the write-ahead log is truncated to after a checkpoint.
WAL_SIZE_LIMIT_BYTES = 8 * 1024 * 1024
#: ``PRAGMA auto_vacuum`` value of a file that returns free pages on demand.
INCREMENTAL_VACUUM = 2
#: Nodes ``sync`` serialises between two calls of its checkpoint.
CHECKPOINT_EVERY_NODES = 25
# A row written again is updated where it lies: ``INSERT OR REPLACE`` deletes it and inserts
# it at the end of the table, which also rewrites the key index (a one-node commit took about
# twice as long, measured). Upserts need SQLite 3.24 and a key on the column; a store without
# either falls back to ``INSERT OR REPLACE`` (SceneGraphStore._prepare_upserts).
_UPSERT_NODE = "INSERT INTO nodes VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET data = excluded.data"
_UPSERT_META = (
    "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)
_REPLACE_NODE = "INSERT OR REPLACE INTO nodes VALUES (?, ?)"
_REPLACE_META = "INSERT OR REPLACE INTO meta VALUES (?, ?)"
# ``json.dumps(..., sort_keys=True)``'s text, from one encoder made once (the rows hold no
# cycles, so the encoder need not look for them).
_ROW_ENCODER = json.JSONEncoder(sort_keys=True, check_circular=False)


class SceneGraphStore:
    """The scene graph in one SQLite file.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "memory.sqlite")
    >>> with SceneGraphStore(path) as store:
    ...     graph = store.load()
    ...     _ = graph.add_room("kitchen", Box(Vector3(0, 0, 1), Vector3(4, 4, 2)), 0.0)
    ...     _ = store.sync(graph)
    >>> with SceneGraphStore(path) as store:
    ...     store.load().num_nodes()
    1
    """

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "NORMAL",
        *,
        max_change_rows: int = DEFAULT_MAX_CHANGE_ROWS,
        max_change_age_s: float = 0.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInputError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        if str(path) != ":memory:":  # a damaged or foreign file is refused, never rewritten
            check_database_file(self.path, allow_new=True)
        # Callers serialise access (a ROS node's callbacks run one at a time even on a
        # multi-threaded executor), so the connection may move between threads.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        # Before the first table exists: a new file can then give pruned pages back to the
        # file system (an older file reuses them, so it stops growing all the same).
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        # The WAL is truncated to this after each checkpoint instead of keeping its peak size.
        self._db.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        self._synced_sequence = 0
        # (sequence, next_index) as last committed to the file; None: not known.
        self._meta_on_file: tuple[str, str] | None = None
        self._rows_since_prune = 0
        self._checkpoint: Callable[[], None] | None = None
        self._commit_window: Callable[[], AbstractContextManager[None]] = nullcontext
        self.set_change_history(max_change_rows, max_change_age_s)
        self._init_schema()
        self._write_node, self._write_meta_row = self._prepare_upserts()

    def __enter__(self) -> SceneGraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def _init_schema(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if row[0] is None:
                db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{self.path} has schema version {row[0]}, newer than this memory_nodes "
                    f"supports ({SCHEMA_VERSION}); upgrade memory_nodes or use another file"
                )
            db.execute("CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, data TEXT)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS edges (source TEXT, target TEXT, type TEXT, "
                "data TEXT, PRIMARY KEY (source, target, type))"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS changes (sequence INTEGER PRIMARY KEY, "
                "stamp REAL, data TEXT)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS changes_stamp ON changes (stamp)")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _prepare_upserts(self) -> tuple[str, str]:
        """The statements that write a node row and a meta row: upserts where this SQLite and
        this file's keys allow them (compiled, not run, to find out)."""
        try:
            self._db.execute("EXPLAIN " + _UPSERT_NODE, ("", ""))
            self._db.execute("EXPLAIN " + _UPSERT_META, ("", ""))
        except sqlite3.OperationalError:
            return _REPLACE_NODE, _REPLACE_META
        return _UPSERT_NODE, _UPSERT_META

    def schema_version(self) -> int:
        return int(self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def load(self, **options: float) -> SceneGraph:
        """The stored graph (empty for a new file), with its recent change log.

        Every row is checked: a damaged store raises InvalidInputError naming the file.
        """
        try:
            graph = _load_graph(self._db, self.path, **options)
        except sqlite3.DatabaseError as error:
            raise InvalidInputError(
                f"{self.path}: not a readable memory store ({error})"
            ) from error
        self._synced_sequence = graph.sequence
        return graph

    def sync(self, graph: SceneGraph) -> int:
        """Commit every change since the previous sync in one transaction; returns how many.

        Touched nodes and edges are written as they are now (or deleted if gone), so the
        file always holds a consistent graph.
        """
        try:
            changes = graph.changes_after(self._synced_sequence)
        except KeyError:  # the in-memory log was trimmed past our position: rewrite all
            return self._rewrite(graph)
        touched = graph.take_touched()  # observed again: confidence, counts, provenance
        if not changes and not touched:
            return 0
        node_ids = {c.node_id for c in changes if not c.edge_type} | touched
        edge_keys = {(c.node_id, c.target_id, c.edge_type) for c in changes if c.edge_type}
        try:
            rows = self._node_rows(graph, sorted(node_ids))
        except BaseException:
            graph.touch(*touched)
            raise
        with self._commit_window():  # the graph is only read from here on
            self._write_transaction(graph, rows, edge_keys, changes, touched)
        if changes:
            self._synced_sequence = changes[-1].sequence
            self._rows_since_prune += len(changes)
            if self._rows_since_prune >= self._prune_interval:
                self.prune_changes()
        return len(changes)

    def _write_transaction(
        self,
        graph: SceneGraph,
        rows: list[tuple[str, str | None]],
        edge_keys: set[tuple[str, str, str]],
        changes: list,
        touched: set[str],
    ) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # One call each (rows name distinct nodes, so the order does not matter).
            gone = [(node_id,) for node_id, data in rows if data is None]
            if gone:
                db.executemany("DELETE FROM nodes WHERE id = ?", gone)
            db.executemany(
                self._write_node, [(node_id, data) for node_id, data in rows if data is not None]
            )
            for source, target, edge_type in sorted(edge_keys):
                edge = graph.find_edge(source, target, edge_type)
                if edge is None:
                    db.execute(
                        "DELETE FROM edges WHERE source = ? AND target = ? AND type = ?",
                        (source, target, edge_type),
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO edges VALUES (?, ?, ?, ?)",
                        (source, target, edge_type, json.dumps(edge_to_dict(edge))),
                    )
            if changes:
                db.executemany(
                    "INSERT OR REPLACE INTO changes VALUES (?, ?, ?)",
                    [(c.sequence, c.stamp, json.dumps(change_to_dict(c))) for c in changes],
                )
            meta = self._write_meta(graph)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            graph.touch(*touched)  # written next time
            raise
        self._meta_on_file = meta

    def set_commit_window(self, window: Callable[[], AbstractContextManager[None]] | None) -> None:
        """Run each :meth:`sync` transaction inside ``window()``.

        The transaction (SQLite writes and the commit, mostly waiting for the disk) only reads
        the graph: a server can let queries of the graph run meanwhile.
        """
        self._commit_window = window or nullcontext

    def set_checkpoint(self, checkpoint: Callable[[], None] | None) -> None:
        """Call ``checkpoint`` every few nodes while :meth:`sync` serialises them.

        Serialising is most of a large sync's cost and happens before its transaction opens,
        with the graph consistent: a server can let readers in there, as fusion does after
        each observation.
        """
        self._checkpoint = checkpoint

    def _node_rows(self, graph: SceneGraph, node_ids: list[str]) -> list[tuple[str, str | None]]:
        rows: list[tuple[str, str | None]] = []
        for count, node_id in enumerate(node_ids, 1):
            node = graph.find_node(node_id)
            data = None if node is None else _ROW_ENCODER.encode(node_to_dict(node))
            rows.append((node_id, data))
            if self._checkpoint is not None and count % CHECKPOINT_EVERY_NODES == 0:
                self._checkpoint()
        return rows

    def set_change_history(self, max_rows: int, max_age_s: float = 0.0) -> None:
        """Keep at most ``max_rows`` changes, and (when ``max_age_s`` > 0) none older than
        ``max_age_s`` before the newest one; 0 rows keeps every change.

        :meth:`sync` prunes every ``max(1, min(1000, max_rows // 10))`` committed changes, so
        the table holds at most that many rows beyond ``max_rows``.
        """
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 0:
            raise InvalidInputError(f"max_rows must be an int >= 0, got {max_rows!r}")
        if not math.isfinite(max_age_s) or max_age_s < 0:
            raise InvalidInputError(f"max_age_s must be finite and >= 0, got {max_age_s}")
        self.max_change_rows = max_rows
        self.max_change_age_s = float(max_age_s)
        self._prune_interval = max(1, min(PRUNE_EVERY_MAX_ROWS, max_rows // 10))

    def num_changes(self) -> int:
        """Rows of the change log on file."""
        return int(self._db.execute("SELECT COUNT(*) FROM changes").fetchone()[0])

    def prune_changes(self) -> int:
        """Drop changes beyond the configured history and give their pages back; returns how
        many rows went.

        Age is measured from the newest change's stamp (the sensors' clock, which may be a
        simulation's), not from the wall clock.
        """
        self._rows_since_prune = 0
        db = self._db
        removed = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            if self.max_change_rows > 0:
                cursor = db.execute(
                    "DELETE FROM changes WHERE sequence <= (SELECT sequence FROM changes "
                    "ORDER BY sequence DESC LIMIT 1 OFFSET ?)",
                    (self.max_change_rows,),
                )
                removed += max(cursor.rowcount, 0)
            if self.max_change_age_s > 0:
                cursor = db.execute(
                    "DELETE FROM changes WHERE stamp < (SELECT MAX(stamp) FROM changes) - ?",
                    (self.max_change_age_s,),
                )
                removed += max(cursor.rowcount, 0)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if removed:
            self.reclaim_space()
        return removed

    def reclaim_space(self) -> int:
        """Return free pages to the file system (files made with incremental auto-vacuum);
        returns how many pages were free before."""
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        if free and self._db.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL_VACUUM:
            self._db.execute("PRAGMA incremental_vacuum").fetchall()
        return free

    def rewrite(self, graph: SceneGraph) -> int:
        """Make the file hold exactly ``graph`` (after loading memory from elsewhere)."""
        return self._rewrite(graph)

    def backup_to(self, path: str | Path) -> None:
        """A consistent copy of the committed database at ``path`` (SQLite online backup)."""
        target = sqlite3.connect(str(path))
        try:
            self._db.backup(target)
        finally:
            target.close()

    def _rewrite(self, graph: SceneGraph) -> int:
        graph.take_touched()  # every node is written
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM nodes")
            db.execute("DELETE FROM edges")
            db.executemany(
                "INSERT INTO nodes VALUES (?, ?)",
                [(n.node_id, json.dumps(node_to_dict(n), sort_keys=True)) for n in graph.nodes()],
            )
            db.executemany(
                "INSERT INTO edges VALUES (?, ?, ?, ?)",
                [
                    (e.source, e.target, e.edge_type.value, json.dumps(edge_to_dict(e)))
                    for e in graph.edges()
                ],
            )
            changes = graph.changes_since(float("-inf"))  # the whole in-memory log
            db.executemany(
                "INSERT OR REPLACE INTO changes VALUES (?, ?, ?)",
                [(c.sequence, c.stamp, json.dumps(change_to_dict(c))) for c in changes],
            )
            self._meta_on_file = None
            meta = self._write_meta(graph)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._meta_on_file = meta
        self._synced_sequence = graph.sequence
        self.prune_changes()
        return graph.num_nodes()

    def _write_meta(self, graph: SceneGraph) -> tuple[str, str]:
        """Write the sequence and the id counters unless the file holds them already (a
        re-observation logs no change: its frame then writes only the node); returns them."""
        meta = (str(graph.sequence), json.dumps(graph.next_index, sort_keys=True))
        if meta != self._meta_on_file:
            self._db.executemany(
                self._write_meta_row, [("sequence", meta[0]), ("next_index", meta[1])]
            )
        return meta

    def changes_since(self, stamp: float) -> list[GraphChange]:
        """Every committed change stamped at or after ``stamp`` that the configured history
        still holds (see :meth:`set_change_history`)."""
        rows = self._db.execute(
            "SELECT data FROM changes WHERE stamp >= ? ORDER BY sequence", (stamp,)
        ).fetchall()
        return [change_from_dict(json.loads(d)) for (d,) in rows]
