"""A top k with no filter, from the answer order index, is the full ranking truncated.

The index is kept between queries from the nodes the scene graph reports as re-ranked, so
the graphs here change between queries with every method that moves a node in the order
(hits, misses, missing and reappearing nodes, nodes added and removed) and the answers are
compared with a brute-force reference after each step: every furniture and object node,
sorted in full, then cut.
"""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core import queries
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery
from memory_nodes.core.scene_graph import Layer, NodeStatus, SceneGraph, SceneNode
from memory_nodes.core.types import Box, ObjectRecord, Pose, Vector3

TYPES = ("Apple", "Mug", "Knife", "Bowl")
LIMITS = (1, 3, 10, 50)


def things(graph: SceneGraph, include_missing: bool) -> list[SceneNode]:
    return [
        n
        for n in graph.nodes()
        if n.layer in (Layer.FURNITURE, Layer.OBJECT)
        and (include_missing or n.status == NodeStatus.PRESENT)
    ]


def reference_all(
    graph: SceneGraph, include_missing: bool, limit: int, node_type: str | None = None
) -> list[ObjectRecord]:
    """queries.all_objects (objects_by_type) as a full sort: confidence, last seen, id."""
    nodes = sorted(
        (n for n in things(graph, include_missing) if node_type in (None, n.node_type)),
        key=lambda n: (-n.confidence, -n.last_seen, n.node_id),
    )
    return [graph.to_record(n.node_id) for n in nodes[:limit]]


def reference_query(
    graph: SceneGraph, include_missing: bool, limit: int, node_type: str | None = None
) -> list[ObjectRecord]:
    """LongTermMemory.query with max_results (and a type), as it was: every record, sorted,
    cut."""
    nodes = sorted(
        (n for n in things(graph, include_missing) if node_type in (None, n.node_type)),
        key=lambda n: (-n.confidence, -n.last_seen, n.node_id),
    )
    records = [graph.to_record(n.node_id) for n in nodes]
    return sorted(records, key=lambda r: (-r.confidence, -r.last_seen))[:limit]


def add_object(graph: SceneGraph, rng: np.random.Generator, stamp: float) -> str:
    centre = Vector3(float(rng.uniform(0, 20)), float(rng.uniform(0, 20)), 0.9)
    return graph.add_node(
        Layer.OBJECT if rng.random() < 0.9 else Layer.FURNITURE,
        TYPES[int(rng.integers(len(TYPES)))],
        world_T_object=Pose(centre),
        box=Box(centre, Vector3(0.1, 0.1, 0.1)),
        stamp=stamp,
        confidence=float(rng.choice([0.5, 0.7, 0.9])),
    )


def mutate(graph: SceneGraph, rng: np.random.Generator, stamp: float) -> None:
    """One change that may move nodes in the answer order (stamps from a small set: ties)."""
    ids = [n.node_id for n in things(graph, True)]
    node_id = ids[int(rng.integers(len(ids)))]
    action = rng.random()
    if action < 0.35:
        graph.record_hit(node_id, stamp)
    elif action < 0.6:
        graph.record_miss(node_id, stamp)
    elif action < 0.7:
        graph.mark_missing(node_id, stamp)
    elif action < 0.8:
        add_object(graph, rng, stamp)
    elif action < 0.88:
        graph.remove_node(node_id, stamp)
    else:
        node = graph.get_node(node_id)
        moved = Vector3(node.position.x + 0.5, node.position.y, node.position.z)
        graph.update_node(node_id, stamp, world_T_object=Pose(moved))


@pytest.mark.parametrize("seed", [0, *(pytest.param(s, marks=pytest.mark.slow) for s in (1, 2))])
def test_top_k_matches_the_full_sort_while_the_graph_changes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    memory = LongTermMemory(None)
    graph = memory.graph
    for _ in range(150):
        add_object(graph, rng, float(rng.integers(0, 3)))
    compared = 0
    for step in range(180):
        stamp = float(3 + step // 20)  # many changes share a stamp
        for _ in range(int(rng.integers(0, 4))):
            mutate(graph, rng, stamp)
        if step % 3:
            continue
        for limit in LIMITS:
            for include_missing in (False, True):
                expected = reference_all(graph, include_missing, limit)
                answer = queries.all_objects(graph, include_missing=include_missing, limit=limit)
                assert answer == expected, (step, limit, include_missing)
                query = ObjectQuery(max_results=limit, include_missing=include_missing)
                assert memory.query(query, now=stamp) == reference_query(
                    graph, include_missing, limit
                ), (step, limit, include_missing)
                node_type = TYPES[step % len(TYPES)]
                answer = queries.objects_by_type(
                    graph, node_type, include_missing=include_missing, limit=limit
                )
                assert answer == reference_all(graph, include_missing, limit, node_type)
                query = ObjectQuery(
                    object_type=node_type, max_results=limit, include_missing=include_missing
                )
                assert memory.query(query, now=stamp) == reference_query(
                    graph, include_missing, limit, node_type
                ), (step, limit, include_missing, node_type)
                compared += 1
    assert compared == 60 * len(LIMITS) * 2
    memory.close()


def test_many_changes_between_queries_keep_the_index_small_and_right() -> None:
    rng = np.random.default_rng(5)
    graph = SceneGraph()
    ids = [add_object(graph, rng, 0.0) for _ in range(200)]
    assert queries.all_objects(graph, limit=5) == reference_all(graph, False, 5)
    for step in range(20):
        for node_id in ids:  # every node hit: every key changes
            graph.record_hit(node_id, float(step + 1))
        assert queries.all_objects(graph, limit=5) == reference_all(graph, False, 5)
    index = queries.answer_order_index(graph)
    everything = sum(len(index._heaps.get((None, present), [])) for present in (True, False))
    assert everything <= 2 * len(index._keys) + 1024
    assert queries.objects_by_type(graph, "Mug", limit=5) == reference_all(graph, False, 5, "Mug")


def test_a_node_seen_last_before_first_seen_keeps_both_orders_right() -> None:
    """Records order by max(last_seen, first_seen), all_objects by last_seen: both hold."""
    rng = np.random.default_rng(9)
    memory = LongTermMemory(None)
    graph = memory.graph
    for _ in range(40):
        add_object(graph, rng, float(rng.integers(0, 5)))
    odd = graph.get_node(add_object(graph, rng, 10.0))
    odd.last_seen = 1.0  # as a store may hand back: last seen before first seen
    for limit in (1, 5, 41):
        assert queries.all_objects(graph, limit=limit) == reference_all(graph, False, limit)
        assert memory.query(ObjectQuery(max_results=limit), now=10.0) == reference_query(
            graph, False, limit
        )
    memory.close()


def test_a_graph_rebuilt_from_parts_is_indexed_from_scratch() -> None:
    rng = np.random.default_rng(3)
    graph = SceneGraph()
    for _ in range(60):
        add_object(graph, rng, float(rng.integers(0, 5)))
    for _ in range(40):
        mutate(graph, rng, 6.0)
    assert queries.all_objects(graph, limit=10) == reference_all(graph, False, 10)
    copy = SceneGraph.from_parts(list(graph.nodes()), list(graph.edges()))
    assert queries.all_objects(copy, limit=10) == reference_all(copy, False, 10)
    assert queries.all_objects(copy, limit=10, include_missing=True) == reference_all(
        copy, True, 10
    )
