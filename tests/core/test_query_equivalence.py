"""Every query answers what a straightforward scan answers, with and without a limit.

The references below filter every node, sort the whole answer and convert it, as queries did
before they chose on nodes; the random graphs are built with the scene graph's own methods
(relations derived from geometry, objects moved, seen again, missed and marked missing), with
confidences and stamps drawn from small sets so that ties are frequent and their order counts.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from memory_nodes.core import queries
from memory_nodes.core.errors import InvalidInputError, NotFoundError
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.object_taxonomy import describe_type
from memory_nodes.core.scene_graph import (
    EdgeType,
    Layer,
    NodeStatus,
    NodeSymbol,
    SceneGraph,
    SceneNode,
)
from memory_nodes.core.text_embedding import TypeIndex
from memory_nodes.core.types import Box, ObjectRecord, Pose, Vector3

FURNITURE = ("CounterTop", "Fridge", "Cabinet", "DiningTable", "Shelf")
OBJECTS = ("Apple", "Mug", "Knife", "Bowl", "Bottle", "Bread", "Plate", "Spoon")
LIMITS = (None, 1, 3, 10)
SEEDS = (0, 1, 2, 3)


class HashEmbedder:
    """Unit vectors in 3D from a hash of the text: deterministic, similarities in [-1, 1]."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            vector = rng.normal(size=3)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), 3)


def build_graph(graph: SceneGraph, seed: int, num_objects: int = 240) -> None:
    """Rooms, furniture and objects placed on, in and beside it, then a history of changes."""
    rng = np.random.default_rng(seed)
    graph.add_room("kitchen", Box(Vector3(3, 3, 1.5), Vector3(6, 6, 3)), 0.0, "room|kitchen")
    graph.add_room("living", Box(Vector3(9, 3, 1.5), Vector3(6, 6, 3)), 0.0, "room|living")
    graph.add_room("living", Box(Vector3(9, 9, 1.5), Vector3(6, 6, 3)), 0.0)  # a second one
    holders: list[SceneNode] = []
    for i in range(30):
        kind = FURNITURE[i % len(FURNITURE)]
        centre = Vector3(float(rng.uniform(0.5, 11.5)), float(rng.uniform(0.5, 11.5)), 0.45)
        node_id = graph.add_node(
            Layer.FURNITURE,
            kind,
            world_T_object=Pose(centre),
            box=Box(centre, Vector3(0.9, 0.6, 0.9)),
            stamp=float(rng.integers(0, 4)),
            external_id=f"{kind}|{i}",
            confidence=float(rng.choice([0.5, 0.7, 0.9])),
        )
        holders.append(graph.get_node(node_id))
    objects: list[str] = []
    for j in range(num_objects):
        kind = OBJECTS[int(rng.integers(len(OBJECTS)))]
        holder = holders[int(rng.integers(len(holders)))]
        dx, dy = rng.uniform(-0.4, 0.4), rng.uniform(-0.25, 0.25)
        z = 0.95 if rng.random() < 0.6 else 0.45  # on top, or inside the box
        if rng.random() < 0.1:
            z = 0.05  # on the floor beside it
        centre = Vector3(holder.position.x + dx, holder.position.y + dy, z)
        if rng.random() < 0.05:  # two objects at one spot: distance ties
            centre = graph.get_node(objects[-1]).position if objects else centre
        node_id = graph.add_node(
            Layer.OBJECT,
            kind,
            world_T_object=Pose(centre),
            box=Box(centre, Vector3(0.08, 0.08, 0.08)),
            stamp=float(rng.integers(0, 4)),
            external_id=f"{kind}|{j}" if rng.random() < 0.9 else "",
            confidence=float(rng.choice([0.5, 0.7, 0.9])),
        )
        objects.append(node_id)
    for _ in range(num_objects // 2):
        node_id = objects[int(rng.integers(len(objects)))]
        node = graph.get_node(node_id)
        stamp = float(rng.integers(4, 8))
        action = rng.random()
        if action < 0.35:
            graph.record_hit(node_id, stamp)
        elif action < 0.6:
            graph.record_miss(node_id, stamp)
        elif action < 0.7:
            graph.mark_missing(node_id, stamp)
        elif node.status == NodeStatus.PRESENT:
            step = rng.uniform(-1.0, 1.0, size=2)
            position = Vector3(node.position.x + step[0], node.position.y + step[1], 0.95)
            graph.update_node(
                node_id, stamp, world_T_object=Pose(position), box=Box(position, node.box.size)
            )
            graph.refresh_relations(node_id, stamp)


# ---------------------------------------------------------------------------- references
def ref_things(graph: SceneGraph, include_missing: bool) -> list[SceneNode]:
    return [
        n
        for n in graph.nodes()
        if n.layer in (Layer.FURNITURE, Layer.OBJECT)
        and (include_missing or n.status == NodeStatus.PRESENT)
    ]


def ref_answer(graph: SceneGraph, nodes: list[SceneNode]) -> list[ObjectRecord]:
    nodes = sorted(nodes, key=lambda n: (-n.confidence, -n.last_seen, n.node_id))
    return [graph.to_record(n.node_id) for n in nodes]


def ref_by_type(graph, object_type, include_missing) -> list[ObjectRecord]:
    things = ref_things(graph, include_missing)
    return ref_answer(graph, [n for n in things if n.node_type == object_type])


def ref_holders(graph: SceneGraph, ref: str) -> set[str]:
    by_id = [n for n in graph.nodes() if ref in (n.node_id, n.external_id)]
    if by_id:
        return {by_id[0].node_id}
    return {n.node_id for n in ref_things(graph, True) if n.node_type == ref}


def ref_in_receptacle(graph, receptacle, relation, include_missing) -> list[ObjectRecord]:
    holders = ref_holders(graph, receptacle)
    if not holders:
        raise NotFoundError(receptacle)
    relations = {EdgeType.ON, EdgeType.INSIDE} if relation is None else {EdgeType(relation)}
    held = {e.source for e in graph.edges() if e.edge_type in relations and e.target in holders}
    things = ref_things(graph, include_missing)
    return ref_answer(graph, [n for n in things if n.node_id in held])


def ref_in_room(graph, room, include_missing) -> list[ObjectRecord]:
    rooms = {
        n.node_id for n in graph.nodes(Layer.ROOM) if room in (n.node_id, n.external_id, n.name)
    }
    if not rooms:
        raise NotFoundError(room)
    inside = {e.source for e in graph.edges(EdgeType.IN_ROOM) if e.target in rooms}
    things = ref_things(graph, include_missing)
    return ref_answer(graph, [n for n in things if n.node_id in inside])


def ref_near(graph, point, radius, object_type, include_missing) -> list[ObjectRecord]:
    target = point.as_array()
    hits = []
    for n in ref_things(graph, include_missing):
        distance = float(np.linalg.norm(n.position.as_array() - target))
        if distance <= radius and (object_type is None or n.node_type == object_type):
            hits.append((distance, NodeSymbol.parse(n.node_id), n))
    return [graph.to_record(n.node_id) for _, _, n in sorted(hits, key=lambda h: h[:2])]


def ref_text(graph, text, top_k, index, include_missing) -> list[tuple[ObjectRecord, float]]:
    things = ref_things(graph, include_missing)
    types = sorted({n.node_type for n in things})
    query = index.embedder.embed([text])[0]
    scores = {t: float(index.embedder.embed([describe_type(t)])[0] @ query) for t in types}
    matches: list[tuple[ObjectRecord, float]] = []
    for object_type in sorted(types, key=lambda t: (-scores[t], t)):
        if scores[object_type] < 0.2 or len(matches) >= top_k:
            break
        for record in ref_by_type(graph, object_type, include_missing):
            matches.append((record, scores[object_type]))
    return matches[:top_k]


def ref_query(graph: SceneGraph, query: ObjectQuery, now: float, index) -> list[ObjectRecord]:
    """LongTermMemory.query as it was: a record list per filter, intersected by object id."""
    missing = query.include_missing
    candidates: list[ObjectRecord] | None = None

    def narrow(records: list[ObjectRecord]) -> None:
        nonlocal candidates
        keep = {r.object_id for r in records}
        candidates = records if candidates is None else [
            r for r in candidates if r.object_id in keep
        ]  # fmt: skip

    if query.text:
        top_k = max(query.max_results, 5)
        narrow([r for r, _ in ref_text(graph, query.text, top_k, index, missing)])
    if query.object_type:
        narrow(ref_by_type(graph, query.object_type, missing))
    if query.receptacle:
        narrow(ref_in_receptacle(graph, query.receptacle, None, missing))
    if query.room:
        narrow(ref_in_room(graph, query.room, missing))
    if query.near is not None:
        narrow(ref_near(graph, query.near, query.radius, None, missing))
    if candidates is None:
        candidates = ref_answer(graph, ref_things(graph, missing))
    if query.max_age_s > 0:
        candidates = [r for r in candidates if r.age(now) <= query.max_age_s]
    if not query.text:
        candidates = sorted(candidates, key=lambda r: (-r.confidence, -r.last_seen))
    return candidates[: query.max_results] if query.max_results else candidates


def cut(records: list, limit: int | None) -> list:
    return records if limit is None else records[:limit]


# ---------------------------------------------------------------------------------- tests
@pytest.fixture(params=SEEDS)
def graph(request) -> SceneGraph:
    graph = SceneGraph()
    build_graph(graph, request.param)
    return graph


def test_the_random_graphs_hold_what_the_comparison_needs(graph) -> None:
    things = ref_things(graph, True)
    assert len(things) == 270
    assert any(n.status == NodeStatus.MISSING for n in things)
    assert graph.num_edges(EdgeType.INSIDE) and graph.num_edges(EdgeType.ON)
    assert len({(n.confidence, n.last_seen) for n in things}) < len(things) / 5  # many ties


@pytest.mark.parametrize("include_missing", [False, True])
def test_type_receptacle_room_and_all_match_the_reference(graph, include_missing) -> None:
    for limit in LIMITS:
        expected = ref_answer(graph, ref_things(graph, include_missing))
        answer = queries.all_objects(graph, include_missing=include_missing, limit=limit)
        assert answer == cut(expected, limit)
        for object_type in (*OBJECTS, "CounterTop", "Toaster"):
            expected = ref_by_type(graph, object_type, include_missing)
            answer = queries.objects_by_type(
                graph, object_type, include_missing=include_missing, limit=limit
            )
            assert answer == cut(expected, limit), (object_type, limit)
        for receptacle in ("Fridge|1", "F2", "Cabinet", "CounterTop", "O3"):
            for relation in (None, "on", "inside"):
                expected = ref_in_receptacle(graph, receptacle, relation, include_missing)
                answer = queries.objects_in_receptacle(
                    graph,
                    receptacle,
                    relation=relation,
                    include_missing=include_missing,
                    limit=limit,
                )
                assert answer == cut(expected, limit), (receptacle, relation, limit)
        for room in ("kitchen", "room|living", "living", "R0"):
            expected = ref_in_room(graph, room, include_missing)
            answer = queries.objects_in_room(
                graph, room, include_missing=include_missing, limit=limit
            )
            assert answer == cut(expected, limit), (room, limit)


@pytest.mark.parametrize("include_missing", [False, True])
def test_near_matches_the_reference_before_and_after_moves(graph, include_missing) -> None:
    rng = np.random.default_rng(11)
    objects = [n.node_id for n in graph.nodes(Layer.OBJECT)]
    for step in range(40):
        point = Vector3(*rng.uniform(0.0, 12.0, size=2), float(rng.uniform(0.0, 1.2)))
        radius = float(rng.choice([0.0, 0.3, 1.0, 2.5, 50.0]))
        object_type = None if step % 3 else OBJECTS[step % len(OBJECTS)]
        expected = ref_near(graph, point, radius, object_type, include_missing)
        for limit in LIMITS:
            answer = queries.objects_near(
                graph,
                point,
                radius,
                object_type=object_type,
                include_missing=include_missing,
                limit=limit,
            )
            assert answer == cut(expected, limit), (step, limit)
        # The graph changes between queries, as it does every frame.
        node = graph.get_node(objects[int(rng.integers(len(objects)))])
        moved = Vector3(*rng.uniform(0.0, 12.0, size=2), 0.95)
        graph.update_node(node.node_id, 10.0 + step, world_T_object=Pose(moved))


def test_changed_since_matches_the_reference(graph) -> None:
    for stamp in (0.0, 4.0, 6.0, 7.0, 99.0):
        ids = {c.node_id for c in graph.changes_since(stamp)}
        ids |= {c.target_id for c in graph.changes_since(stamp) if c.target_id}
        expected = ref_answer(graph, [n for n in ref_things(graph, True) if n.node_id in ids])
        for limit in LIMITS:
            assert queries.objects_changed_since(graph, stamp, limit=limit) == cut(expected, limit)


@pytest.mark.parametrize("include_missing", [False, True])
def test_free_text_matches_the_reference(graph, include_missing) -> None:
    index = TypeIndex(HashEmbedder())
    for text in ("something to cut bread with", "a cold drink", "a cup", "fruit", "x"):
        for top_k in (1, 3, 5, 40):
            expected = ref_text(graph, text, top_k, index, include_missing)
            answer = queries.objects_by_text(
                graph, text, top_k=top_k, type_index=index, include_missing=include_missing
            )
            assert [m.record for m in answer] == [r for r, _ in expected], (text, top_k)
            assert [m.similarity for m in answer] == pytest.approx([s for _, s in expected])


@pytest.mark.parametrize(
    "seed", [SEEDS[0], *(pytest.param(s, marks=pytest.mark.slow) for s in SEEDS[1:])]
)
def test_long_term_query_matches_the_record_intersection(seed, monkeypatch) -> None:
    index = TypeIndex(HashEmbedder())
    monkeypatch.setattr(queries, "default_type_index", lambda: index)
    memory = LongTermMemory(None)
    build_graph(memory.graph, seed)
    rng = np.random.default_rng(100 + seed)
    compared = 0
    for _ in range(200):
        fields: dict = {}
        if rng.random() < 0.4:
            fields["object_type"] = str(rng.choice([*OBJECTS, "CounterTop", "Toaster"]))
        if rng.random() < 0.2:
            fields["text"] = str(rng.choice(["a cup", "fruit", "a cold drink"]))
        if rng.random() < 0.3:
            fields["receptacle"] = str(rng.choice(["Fridge|1", "CounterTop", "F4", "Cabinet"]))
        if rng.random() < 0.2:
            fields["room"] = str(rng.choice(["kitchen", "living", "room|living"]))
        if rng.random() < 0.4:
            fields["near"] = Vector3(*rng.uniform(0.0, 12.0, size=2), 0.9)
            fields["radius"] = float(rng.choice([0.5, 1.5, 4.0, 30.0]))
        if rng.random() < 0.3:
            fields["max_age_s"] = float(rng.choice([1.0, 3.0, 5.0]))
        fields["max_results"] = int(rng.choice([0, 0, 1, 3, 10]))
        fields["include_missing"] = bool(rng.random() < 0.3)
        query = ObjectQuery(**fields)
        now = 8.0
        try:
            expected = ref_query(memory.graph, query, now, index)
        except NotFoundError:
            with pytest.raises(NotFoundError):
                memory.query(query, now)
            continue
        assert memory.query(query, now) == expected, fields
        compared += 1
    assert compared > 120
    memory.close()


def test_a_limit_below_one_is_refused(graph) -> None:
    for limit in (0, -1, 2.5, True):
        with pytest.raises(InvalidInputError):
            queries.all_objects(graph, limit=limit)
