"""Questions to long-term memory. Functions take the graph first and validate inputs early.

Every answer is a list of :class:`ObjectRecord` (confidence and ``last_seen`` say how much to
trust it and how old it is), best first: higher confidence, then more recently seen, then id.
Objects marked missing are left out unless ``include_missing`` is set: memory should not send
the robot to where the mug used to be.

Answers are chosen on the nodes and only the kept ones become records: ``limit`` keeps the best
``limit`` (a top 10 of 100,000 objects converts 10), and a query with several conditions starts
from the one expected to match least (:class:`NodeFilter`) and tests the others on its
candidates, so no condition lists the whole map for another to intersect.
"""

from __future__ import annotations

import heapq
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from memory_nodes.core.errors import DependencyNotInstalledError, InvalidInputError, NotFoundError
from memory_nodes.core.scene_graph import (
    EdgeType,
    GraphChange,
    Layer,
    NodeSnapshot,
    NodeStatus,
    NodeSymbol,
    SceneGraph,
    SceneNode,
)
from memory_nodes.core.text_embedding import TypeIndex, default_type_index
from memory_nodes.core.types import ObjectRecord, Vector3

_THINGS = (Layer.FURNITURE, Layer.OBJECT)

#: Conditions in the order a query starts from them when it has several: a receptacle holds a
#: few dozen things, a 1 m ball a few dozen at any map size, a type about 1 % of the map, a room
#: a whole floor. (The ball of a huge radius walks only the occupied cells of the grid.)
RECEPTACLE_RANK, NEAR_RANK, TYPE_RANK, ROOM_RANK = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class TextMatch:
    """A free-text answer: the object and how well its type matches the text (cosine)."""

    record: ObjectRecord
    similarity: float


@dataclass(frozen=True, slots=True)
class NodeFilter:
    """One condition of a query: where its nodes can be found, and a test for any node.

    ``candidates`` lists every node that meets the condition (other nodes may be listed too:
    the test decides); ``holds`` tests one node in constant time. ``rank`` orders conditions
    by how few nodes they are expected to list (lowest first).
    """

    candidates: Callable[[], Iterable[SceneNode]]
    holds: Callable[[SceneNode], bool]
    rank: int


def answer_order(node: SceneNode) -> tuple[float, float, str]:
    """Sort key of every answer: most confident first, then most recently seen, then id."""
    return -node.confidence, -node.last_seen, node.node_id


def best(items: Iterable, key: Callable | None, limit: int | None) -> list:
    """``sorted(items, key=key)[:limit]``, keeping only ``limit`` items while it looks."""
    if limit is None:
        return sorted(items, key=key)
    return heapq.nsmallest(limit, items, key=key)


def ranked_nodes(
    nodes: Iterable[SceneNode], limit: int | None, *, record_stamps: bool = False
) -> list[SceneNode]:
    """The nodes in :func:`answer_order`, the best ``limit`` of them.

    ``record_stamps`` orders by the records' ``last_seen`` (never before ``first_seen``) first,
    then as :func:`answer_order`: the order :meth:`LongTermMemory.query` answers in.

    A scan of the whole map ranks 100,000 nodes: the keys are plain tuples compared in C, and
    each node's confidence is computed once per distinct log-odds value (a map holds a few
    dozen: sums of the same hit and miss steps, clamped).
    """
    confidence_of: dict[float, float] = {}

    def keyed() -> Iterator[tuple]:
        for node in nodes:
            confidence = confidence_of.get(node.log_odds)
            if confidence is None:
                confidence = confidence_of[node.log_odds] = node.confidence
            if record_stamps:
                last_seen = node.last_seen
                seen = last_seen if last_seen >= node.first_seen else node.first_seen
                yield -confidence, -seen, -last_seen, node.node_id, node
            else:
                yield -confidence, -node.last_seen, node.node_id, node

    # Keys are made one at a time and dropped unless kept: 100,000 live key tuples made the
    # cyclic garbage collector walk the whole graph (seconds at 100k objects). The node id is
    # unique, so a comparison never reaches the node itself.
    return [entry[-1] for entry in best(keyed(), None, limit)]


#: An answer order key: -confidence, -seen (``last_seen``, never before ``first_seen``),
#: -last_seen, node id. Unique per node (the id), so no comparison reaches past it.
_OrderKey = tuple[float, float, float, str]


class AnswerOrderIndex:
    """The furniture and objects of one graph in answer order, kept between queries.

    "The 10 most confident objects" ranked every node of the map (134 ms of CPU at 100,000
    objects), and "the 10 most confident mugs" every mug (7 ms). The scene graph names the
    nodes whose confidence, stamps or status changed (or that came or went) since the index
    last looked (:meth:`SceneGraph.take_reranked`); the index re-keys those and keeps every key
    in a heap per status (present, missing) of all nodes and one of the node's type. Old keys
    stay in the heaps until they surface and are dropped, and the heaps are rebuilt when stale
    keys outnumber the live ones. A top k pops the k best live keys and pushes them back:
    O((k + stale keys on top) log N) after the changes of a frame are re-keyed.

    Keys follow :meth:`LongTermMemory.query`'s order (:func:`ranked_nodes` with
    ``record_stamps``); :func:`answer_order` is the same order while no node was seen last
    before it was first seen, and the index declines (None) otherwise.
    """

    def __init__(self) -> None:
        self._keys: dict[str, _OrderKey] = {}  # node id -> its key now
        self._types: dict[str, str] = {}  # node id -> node type (fixed for a node)
        self._missing: set[str] = set()  # node ids whose key belongs in the missing heaps
        # (node type or None for every type, present) -> heap of keys, some of them stale.
        self._heaps: dict[tuple[str | None, bool], list[_OrderKey]] = {}
        self._num_pushed = 0  # keys in the heaps of every type, stale ones included
        self._seen_before_first: set[str] = set()  # last_seen < first_seen: orders differ
        # -confidence per log-odds value, shared by the keys (a map holds a few dozen values).
        self._confidences: dict[float, float] = {}
        self._lock = threading.Lock()

    def best(
        self,
        graph: SceneGraph,
        limit: int,
        *,
        include_missing: bool = False,
        record_stamps: bool = True,
        node_type: str | None = None,
    ) -> list[SceneNode] | None:
        """The best ``limit`` furniture and objects (of ``node_type``, or of every type), as a
        full ranking would keep them; None when this order is not the index's."""
        with self._lock:
            self._update(graph)
            if not record_stamps and self._seen_before_first:
                return None
            taken = self._take(node_type, True, limit)
            if include_missing:
                taken = heapq.nsmallest(limit, taken + self._take(node_type, False, limit))
            return [graph.get_node(key[-1]) for key in taken]

    def _update(self, graph: SceneGraph) -> None:
        changed = graph.take_reranked()
        keys, missing = self._keys, self._missing
        if changed is None:  # the first look: every node, one heapify per heap
            keys.clear()
            missing.clear()
            self._types.clear()
            self._seen_before_first.clear()
            for layer in _THINGS:
                for node in graph.nodes(layer):
                    keys[node.node_id] = self._key(node)
                    self._types[node.node_id] = node.node_type
                    if node.status != _PRESENT:
                        missing.add(node.node_id)
            self._rebuild_heaps()
            return
        heaps = self._heaps
        for node_id in changed:
            node = graph.find_node(node_id)
            if node is None or node.layer not in _THINGS:
                keys.pop(node_id, None)
                self._types.pop(node_id, None)
                missing.discard(node_id)
                self._seen_before_first.discard(node_id)
                continue
            key = self._key(node)
            present = node.status == _PRESENT
            if keys.get(node_id) != key or (node_id not in missing) != present:
                keys[node_id] = key
                self._types[node_id] = node.node_type
                if present:
                    missing.discard(node_id)
                else:
                    missing.add(node_id)
                heapq.heappush(heaps.setdefault((None, present), []), key)
                heapq.heappush(heaps.setdefault((node.node_type, present), []), key)
                self._num_pushed += 1
        if self._num_pushed > 2 * len(keys) + 1024:
            self._rebuild_heaps()

    def _key(self, node: SceneNode) -> _OrderKey:
        last_seen, first_seen = node.last_seen, node.first_seen
        seen = last_seen if last_seen >= first_seen else first_seen
        if seen == last_seen:
            self._seen_before_first.discard(node.node_id)
        else:
            self._seen_before_first.add(node.node_id)
        confidence = self._confidences.get(node.log_odds)
        if confidence is None:
            if len(self._confidences) > 4096:  # odd hit probabilities: keep the cache small
                self._confidences.clear()
            confidence = self._confidences[node.log_odds] = -node.confidence
        return confidence, -seen, -last_seen, node.node_id

    def _rebuild_heaps(self) -> None:
        missing, types = self._missing, self._types
        heaps: dict[tuple[str | None, bool], list[_OrderKey]] = {}
        for node_id, key in self._keys.items():
            present = node_id not in missing
            heaps.setdefault((None, present), []).append(key)
            heaps.setdefault((types[node_id], present), []).append(key)
        for heap in heaps.values():
            heapq.heapify(heap)
        self._heaps = heaps
        self._num_pushed = len(self._keys)

    def _take(self, node_type: str | None, present: bool, limit: int) -> list[_OrderKey]:
        heap = self._heaps.get((node_type, present))
        if not heap:
            return []
        keys, missing = self._keys, self._missing
        kept: list[_OrderKey] = []
        taken: set[str] = set()
        while heap and len(kept) < limit:
            key = heapq.heappop(heap)
            node_id = key[-1]
            # Stale (re-keyed, moved to the other heap, removed) or a second copy of a key
            # that changed and changed back: dropped for good.
            if (
                node_id not in taken
                and keys.get(node_id) == key
                and (node_id not in missing) == present
            ):
                taken.add(node_id)
                kept.append(key)
        for key in kept:
            heapq.heappush(heap, key)
        return kept


_PRESENT = NodeStatus.PRESENT
_order_indexes: weakref.WeakKeyDictionary[SceneGraph, AnswerOrderIndex] = (
    weakref.WeakKeyDictionary()
)
_order_indexes_lock = threading.Lock()


def answer_order_index(graph: SceneGraph) -> AnswerOrderIndex:
    """The graph's one answer order index (made on first use, dropped with the graph)."""
    with _order_indexes_lock:
        index = _order_indexes.get(graph)
        if index is None:
            index = _order_indexes[graph] = AnswerOrderIndex()
        return index


def most_confident(
    graph: SceneGraph,
    limit: int,
    *,
    include_missing: bool = False,
    record_stamps: bool = True,
    node_type: str | None = None,
) -> list[SceneNode]:
    """``ranked_nodes`` of the furniture and object nodes (of ``node_type``, or of every
    type), the best ``limit``, from the graph's answer order index (a scan when it declines)."""
    check_limit(limit)
    found = answer_order_index(graph).best(
        graph,
        limit,
        include_missing=include_missing,
        record_stamps=record_stamps,
        node_type=node_type,
    )
    if found is None:
        filters = [] if node_type is None else [type_filter(graph, node_type)]
        found = ranked_nodes(
            matching_nodes(graph, filters, include_missing=include_missing),
            limit,
            record_stamps=record_stamps,
        )
    return found


def check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidInputError(f"limit must be None or an int >= 1, got {limit!r:.40}")
    return limit


def _kept(node: SceneNode, include_missing: bool) -> bool:
    return node.layer in _THINGS and (include_missing or node.status == NodeStatus.PRESENT)


def _records(graph: SceneGraph, nodes: Iterable[SceneNode]) -> list[ObjectRecord]:
    return [graph.to_record(n.node_id) for n in nodes]


def _answer(
    graph: SceneGraph, nodes: Iterable[SceneNode], limit: int | None = None
) -> list[ObjectRecord]:
    return _records(graph, ranked_nodes(nodes, limit))


def matching_nodes(
    graph: SceneGraph,
    filters: Sequence[NodeFilter],
    *,
    include_missing: bool = False,
    extra: Callable[[SceneNode], bool] | None = None,
) -> list[SceneNode]:
    """Furniture and objects meeting every filter (and ``extra``), each once, in no set order.

    The filter of the lowest rank lists candidates and the others test them; without filters
    every furniture and object node is a candidate.
    """
    tests = [] if extra is None else [extra]
    if filters:
        start = min(filters, key=lambda f: f.rank)
        candidates = start.candidates()
        tests += [f.holds for f in filters if f is not start]
        kept = [node for node in candidates if _kept(node, include_missing)]
    else:
        present = NodeStatus.PRESENT
        kept = [
            node
            for layer in _THINGS
            for node in graph.nodes(layer)
            if include_missing or node.status == present
        ]
    for test in tests:
        kept = [node for node in kept if test(node)]
    return kept


# ------------------------------------------------------------------------------ conditions
def type_filter(graph: SceneGraph, object_type: str) -> NodeFilter:
    """Nodes of one type (exact AI2-THOR type name, e.g. ``"Mug"``)."""
    if not object_type:
        raise InvalidInputError("object_type must not be empty")
    return NodeFilter(
        lambda: graph.nodes_of_type(object_type),
        lambda node: node.node_type == object_type,
        TYPE_RANK,
    )


def receptacle_filter(
    graph: SceneGraph, receptacle: str, relation: EdgeType | str | None = None
) -> NodeFilter:
    """Nodes on or inside a receptacle (node id, external id, or every one of a type)."""
    if not receptacle:
        raise InvalidInputError("receptacle must not be empty")
    relations = (
        (EdgeType.ON, EdgeType.INSIDE) if relation is None else (_location_relation(relation),)
    )
    held = {
        child
        for holder in _resolve_many(graph, receptacle)
        for rel in relations
        for child in graph.children(holder.node_id, rel)
    }
    return NodeFilter(
        lambda: (graph.get_node(child) for child in held),
        lambda node: node.node_id in held,
        RECEPTACLE_RANK,
    )


def room_filter(graph: SceneGraph, room: str) -> NodeFilter:
    """Nodes in a room named by node id, external id or room name."""
    if not room:
        raise InvalidInputError("room must not be empty")
    room_ids = {
        n.node_id for n in graph.nodes(Layer.ROOM) if room in (n.node_id, n.external_id, n.name)
    }
    if not room_ids:
        raise NotFoundError(f"no room named {room!r}")

    def candidates() -> Iterable[SceneNode]:
        held = {c for r in room_ids for c in graph.children(r, EdgeType.IN_ROOM)}
        return (graph.get_node(child) for child in held)

    return NodeFilter(candidates, lambda node: graph.find_room(node.node_id) in room_ids, ROOM_RANK)


def near_filter(graph: SceneGraph, point: Vector3, radius: float) -> NodeFilter:
    """Nodes whose centre (``world_T_object``) is within ``radius`` metres of ``point``."""
    _check_radius(radius)
    px, py, pz = point.x, point.y, point.z
    limit = radius * radius

    def holds(node: SceneNode) -> bool:
        p = node.world_T_object.position
        return (p.x - px) ** 2 + (p.y - py) ** 2 + (p.z - pz) ** 2 <= limit

    return NodeFilter(lambda: graph.nodes_within(point, radius), holds, NEAR_RANK)


def nearest_order(point: Vector3) -> Callable[[SceneNode], tuple[float, NodeSymbol]]:
    """Sort key of a near answer: nearest first, then by node id (furniture before objects)."""
    px, py, pz = point.x, point.y, point.z

    def key(node: SceneNode) -> tuple[float, NodeSymbol]:
        p = node.world_T_object.position
        return (p.x - px) ** 2 + (p.y - py) ** 2 + (p.z - pz) ** 2, NodeSymbol.parse(node.node_id)

    return key


# ------------------------------------------------------------------------------ questions
def all_objects(
    graph: SceneGraph, *, include_missing: bool = False, limit: int | None = None
) -> list[ObjectRecord]:
    """Every remembered object and piece of furniture, most confident first.

    With a ``limit``, the answer comes from the graph's :class:`AnswerOrderIndex`.
    """
    check_limit(limit)
    if limit is not None:
        found = most_confident(graph, limit, include_missing=include_missing, record_stamps=False)
        return _records(graph, found)
    return _answer(graph, matching_nodes(graph, (), include_missing=include_missing), limit)


def objects_by_type(
    graph: SceneGraph,
    object_type: str,
    *,
    include_missing: bool = False,
    limit: int | None = None,
) -> list[ObjectRecord]:
    """All remembered objects of a type (exact AI2-THOR type name, e.g. ``"Mug"``)."""
    check_limit(limit)
    condition = type_filter(graph, object_type)  # validates the type name
    if limit is not None:
        found = most_confident(
            graph,
            limit,
            include_missing=include_missing,
            record_stamps=False,
            node_type=object_type,
        )
        return _records(graph, found)
    found = matching_nodes(graph, [condition], include_missing=include_missing)
    return _answer(graph, found, limit)


def objects_in_receptacle(
    graph: SceneGraph,
    receptacle: str,
    *,
    relation: EdgeType | str | None = None,
    include_missing: bool = False,
    limit: int | None = None,
) -> list[ObjectRecord]:
    """What is on or inside a receptacle ("what is in the fridge").

    ``receptacle`` is a node id, an external id, or a type name (then every receptacle of
    that type counts: "Cabinet" means all cabinets).
    """
    check_limit(limit)
    condition = receptacle_filter(graph, receptacle, relation)
    found = matching_nodes(graph, [condition], include_missing=include_missing)
    return _answer(graph, found, limit)


def objects_in_room(
    graph: SceneGraph, room: str, *, include_missing: bool = False, limit: int | None = None
) -> list[ObjectRecord]:
    """Objects and furniture in a room, named by node id, external id or room name."""
    check_limit(limit)
    found = matching_nodes(graph, [room_filter(graph, room)], include_missing=include_missing)
    return _answer(graph, found, limit)


def objects_near(
    graph: SceneGraph,
    point: Vector3,
    radius: float,
    *,
    object_type: str | None = None,
    include_missing: bool = False,
    limit: int | None = None,
) -> list[ObjectRecord]:
    """Objects whose centre is within ``radius`` metres of ``point``, nearest first.

    The scene graph's spatial grid is current after every change, so the first query after a
    move costs what any other does (a KD-tree rebuilt per change cost 250 ms at 100k objects).
    """
    check_limit(limit)
    conditions = [near_filter(graph, point, radius)]
    if object_type:
        conditions.append(type_filter(graph, object_type))
    found = matching_nodes(graph, conditions, include_missing=include_missing)
    return _records(graph, best(found, nearest_order(point), limit))


def changed_since(graph: SceneGraph, stamp: float) -> list[GraphChange]:
    """Changes stamped at or after ``stamp``, oldest first (for ``WhatChanged``)."""
    if not np.isfinite(stamp):
        raise InvalidInputError(f"stamp must be finite, got {stamp}")
    return graph.changes_since(stamp)


def objects_changed_since(
    graph: SceneGraph, stamp: float, *, include_missing: bool = True, limit: int | None = None
) -> list[ObjectRecord]:
    """Objects with any recorded change at or after ``stamp`` (missing ones included)."""
    check_limit(limit)
    ids: set[str] = set()
    for change in changed_since(graph, stamp):
        ids.add(change.node_id)
        if change.target_id:
            ids.add(change.target_id)
    nodes = (graph.find_node(node_id) for node_id in ids)
    found = [n for n in nodes if n is not None and _kept(n, include_missing)]
    return _answer(graph, found, limit)


def state_at(graph: SceneGraph, ref: str, stamp: float) -> NodeSnapshot | None:
    """Where an object was and in which state at ``stamp`` (None: not yet known then)."""
    if not np.isfinite(stamp):
        raise InvalidInputError(f"stamp must be finite, got {stamp}")
    return graph.find_state_at(graph.resolve(ref).node_id, stamp)


def text_matches(
    graph: SceneGraph,
    text: str,
    *,
    top_k: int = 5,
    min_similarity: float = 0.2,
    type_index: TypeIndex | None = None,
    include_missing: bool = False,
) -> list[tuple[SceneNode, float]]:
    """The nodes :func:`objects_by_text` answers, with their type's similarity to ``text``."""
    if not text or not text.strip():
        raise InvalidInputError("query text must not be empty")
    if top_k < 1:
        raise InvalidInputError(f"top_k must be >= 1, got {top_k}")
    if not _any_thing(graph, include_missing):
        return []
    index = type_index or default_type_index()
    # Every type in memory is ranked (its vector is computed once); a type whose nodes are all
    # rooms, or all missing, then simply adds no node.
    ranked = index.rank_types(text, graph.node_types())
    matches: list[tuple[SceneNode, float]] = []
    for object_type, similarity in ranked:
        if similarity < min_similarity or len(matches) >= top_k:
            break
        best_of_type = most_confident(
            graph,
            top_k - len(matches),
            include_missing=include_missing,
            record_stamps=False,
            node_type=object_type,
        )
        for node in best_of_type:
            matches.append((node, similarity))
    return matches


def objects_by_text(
    graph: SceneGraph,
    text: str,
    *,
    top_k: int = 5,
    min_similarity: float = 0.2,
    type_index: TypeIndex | None = None,
    include_missing: bool = False,
) -> list[TextMatch]:
    """Objects whose type best matches free text ("something to cut bread with" -> Knife).

    Types present in memory are ranked by cosine similarity between the query and each
    type's description; the objects of the best types are returned, up to ``top_k``.
    Raises :class:`DependencyNotInstalledError` when the embedding model is not installed.
    """
    matches = text_matches(
        graph,
        text,
        top_k=top_k,
        min_similarity=min_similarity,
        type_index=type_index,
        include_missing=include_missing,
    )
    return [TextMatch(graph.to_record(node.node_id), similarity) for node, similarity in matches]


def warm_up_text(graph: SceneGraph, type_index: TypeIndex | None = None) -> bool:
    """Load the text model and embed the types in memory now, not at the first text query.

    Returns False when the model package is not installed (free-text queries then raise
    :class:`DependencyNotInstalledError`; every other query works).
    """
    index = type_index or default_type_index()
    try:
        index.warm_up(graph.node_types())
    except DependencyNotInstalledError:
        return False
    return True


def _any_thing(graph: SceneGraph, include_missing: bool) -> bool:
    return any(
        include_missing or n.status == NodeStatus.PRESENT
        for layer in _THINGS
        for n in graph.nodes(layer)
    )


def _check_radius(radius: float) -> None:
    if not np.isfinite(radius) or radius < 0:
        raise InvalidInputError(f"radius must be finite and >= 0, got {radius}")


def _location_relation(relation: EdgeType | str) -> EdgeType:
    try:
        value = EdgeType(relation)
    except ValueError as error:
        raise InvalidInputError(f"relation must be 'on' or 'inside', got {relation!r}") from error
    if value not in (EdgeType.ON, EdgeType.INSIDE):
        raise InvalidInputError(f"relation must be 'on' or 'inside', got {relation!r}")
    return value


def _resolve_many(graph: SceneGraph, ref: str) -> list[SceneNode]:
    try:
        return [graph.resolve(ref)]
    except (NotFoundError, InvalidInputError):
        pass
    by_type = [n for n in graph.nodes_of_type(ref) if n.layer in _THINGS]
    if not by_type:
        raise NotFoundError(f"no receptacle with id, external id or type {ref!r}")
    return by_type
