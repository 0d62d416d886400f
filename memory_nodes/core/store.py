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
import sqlite3
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


# ------------------------------------------------------------------ serialisation


def _vec(v: Vector3) -> list[float]:
    return [v.x, v.y, v.z]


def _pose_to_dict(pose: Pose) -> dict[str, list[float]]:
    q = pose.orientation
    return {"position": _vec(pose.position), "orientation": [q.x, q.y, q.z, q.w]}


def _pose_from_dict(data: dict[str, list[float]]) -> Pose:
    return Pose(Vector3(*data["position"]), Quaternion(*data["orientation"]))


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
    try:
        return SceneNode(
            node_id=data["id"],
            layer=Layer(data["layer"]),
            node_type=data["type"],
            world_T_object=_pose_from_dict(data["world_T_object"]),
            box=Box(Vector3(*data["box"]["center"]), Vector3(*data["box"]["size"])),
            first_seen=float(data["first_seen"]),
            last_seen=float(data["last_seen"]),
            external_id=data.get("external_id", ""),
            name=data.get("name", ""),
            states=dict(data.get("states", {})),
            log_odds=float(data["log_odds"]),
            num_observations=int(data.get("num_observations", 0)),
            status=NodeStatus(data.get("status", NodeStatus.PRESENT.value)),
            consecutive_misses=int(data.get("consecutive_misses", 0)),
            provenance=[
                Provenance(p["observation_id"], p["source"], float(p["stamp"]))
                for p in data.get("provenance", [])
            ],
            history=[
                NodeSnapshot(
                    stamp=float(h["stamp"]),
                    position=Vector3(*h["position"]),
                    states=dict(h["states"]),
                    parent_id=h["parent_id"],
                    relation=h["relation"],
                    room_id=h["room_id"],
                    status=NodeStatus(h["status"]),
                    reason=h["reason"],
                )
                for h in data.get("history", [])
            ],
        )
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidInputError(f"malformed node {data.get('id', '?')!r}: {error}") from error


def edge_to_dict(edge: SceneEdge) -> dict[str, Any]:
    return {
        "source": edge.source,
        "target": edge.target,
        "type": edge.edge_type.value,
        "stamp": edge.stamp,
        "origin": edge.origin,
    }


def edge_from_dict(data: dict[str, Any]) -> SceneEdge:
    return SceneEdge(
        data["source"], data["target"], EdgeType(data["type"]), float(data["stamp"]), data["origin"]
    )


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
    return GraphChange(
        int(data["sequence"]),
        float(data["stamp"]),
        ChangeKind(data["kind"]),
        data["node_id"],
        data["target_id"],
        data["edge_type"],
        data["detail"],
    )


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
    if data.get("format") != JSON_FORMAT:
        raise InvalidInputError(f"not a {JSON_FORMAT} document (format={data.get('format')!r})")
    version = data.get("version")
    if not isinstance(version, int) or version > JSON_VERSION:
        raise SchemaVersionError(
            f"{JSON_FORMAT} version {version!r} is newer than this reader ({JSON_VERSION}); "
            "upgrade memory_nodes"
        )
    return SceneGraph.from_parts(
        [node_from_dict(n) for n in data["nodes"]],
        [edge_from_dict(e) for e in data["edges"]],
        next_index=data.get("next_index"),
        sequence=int(data.get("sequence", 0)),
    )


def graph_to_json(graph: SceneGraph) -> str:
    """Byte-stable JSON: the same graph always gives the same text."""
    return json.dumps(graph_to_dict(graph), sort_keys=True, indent=1, allow_nan=False) + "\n"


def graph_from_json(text: str) -> SceneGraph:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(f"scene graph JSON does not parse: {error}") from error
    return graph_from_dict(data)


def write_json(graph: SceneGraph, path: str | Path) -> None:
    Path(path).write_text(graph_to_json(graph), encoding="utf-8")


def read_json(path: str | Path) -> SceneGraph:
    return graph_from_json(Path(path).read_text(encoding="utf-8"))


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

    def __init__(self, path: str | Path, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise InvalidInputError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        # Callers serialise access (a ROS node's callbacks run one at a time even on a
        # multi-threaded executor), so the connection may move between threads.
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._synced_sequence = 0
        self._init_schema()

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

    def schema_version(self) -> int:
        return int(self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])

    def load(self, **options: float) -> SceneGraph:
        """The stored graph (empty for a new file), with its recent change log."""
        nodes = [
            node_from_dict(json.loads(d)) for (d,) in self._db.execute("SELECT data FROM nodes")
        ]
        edges = [
            edge_from_dict(json.loads(d)) for (d,) in self._db.execute("SELECT data FROM edges")
        ]
        limit = int(options.get("change_log_limit", 100_000))
        rows = self._db.execute(
            "SELECT data FROM changes ORDER BY sequence DESC LIMIT ?", (limit,)
        ).fetchall()
        changes = [change_from_dict(json.loads(d)) for (d,) in reversed(rows)]
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        sequence = int(meta.get("sequence", "0"))
        graph = SceneGraph.from_parts(
            nodes,
            edges,
            next_index=json.loads(meta.get("next_index", "{}")),
            sequence=sequence,
            changes=changes,
            **options,
        )
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
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for node_id in sorted(node_ids):
                node = graph.find_node(node_id)
                if node is None:
                    db.execute("DELETE FROM nodes WHERE id = ?", (node_id,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO nodes VALUES (?, ?)",
                        (node_id, json.dumps(node_to_dict(node), sort_keys=True)),
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
            db.executemany(
                "INSERT OR REPLACE INTO changes VALUES (?, ?, ?)",
                [(c.sequence, c.stamp, json.dumps(change_to_dict(c))) for c in changes],
            )
            self._write_meta(graph)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            graph.touch(*touched)  # written next time
            raise
        if changes:
            self._synced_sequence = changes[-1].sequence
        return len(changes)

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
            self._write_meta(graph)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._synced_sequence = graph.sequence
        return graph.num_nodes()

    def _write_meta(self, graph: SceneGraph) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("sequence", str(graph.sequence)),
                ("next_index", json.dumps(graph.next_index, sort_keys=True)),
            ],
        )

    def changes_since(self, stamp: float) -> list[GraphChange]:
        """Every committed change stamped at or after ``stamp`` (the full log, not a window)."""
        rows = self._db.execute(
            "SELECT data FROM changes WHERE stamp >= ? ORDER BY sequence", (stamp,)
        ).fetchall()
        return [change_from_dict(json.loads(d)) for (d,) in rows]
