"""Scene graph: typed ids, Spark-DSG vocabulary, geometric relations, history and changes."""

from __future__ import annotations

import pytest

from memory_nodes.core.errors import InvalidInputError, NotFoundError
from memory_nodes.core.scene_graph import (
    ChangeKind,
    EdgeType,
    Layer,
    NodeStatus,
    NodeSymbol,
    Provenance,
    SceneGraph,
    default_layer,
)
from memory_nodes.core.types import Box, Pose, Vector3


def box(x: float, y: float, z: float, sx: float, sy: float, sz: float) -> Box:
    return Box(Vector3(x, y, z), Vector3(sx, sy, sz))


def add(graph: SceneGraph, object_type: str, b: Box, stamp: float = 0.0, ext: str = "") -> str:
    return graph.add_node(
        default_layer(object_type),
        object_type,
        world_T_object=Pose(b.center),
        box=b,
        stamp=stamp,
        external_id=ext,
        confidence=0.7,
    )


@pytest.fixture
def kitchen() -> tuple[SceneGraph, dict[str, str]]:
    graph = SceneGraph()
    ids = {
        "kitchen": graph.add_room("kitchen", box(2, 2, 1.5, 4, 4, 3), 0.0),
        "living": graph.add_room("living", box(6, 2, 1.5, 4, 4, 3), 0.0),
        # Counter top: top face at z = 0.9.
        "counter": add(graph, "CounterTop", box(1, 1, 0.45, 2, 0.6, 0.9), ext="CounterTop|1"),
        "fridge": add(graph, "Fridge", box(3, 1, 0.9, 0.8, 0.7, 1.8), ext="Fridge|1"),
        "sofa": add(graph, "Sofa", box(6, 2, 0.4, 2, 0.9, 0.8)),
    }
    return graph, ids


def test_node_ids_are_layer_letter_and_number_and_parse_back() -> None:
    graph = SceneGraph()
    first = add(graph, "Apple", box(0, 0, 0, 0.1, 0.1, 0.1))
    second = add(graph, "Apple", box(5, 5, 0, 0.1, 0.1, 0.1))
    furniture = add(graph, "Fridge", box(9, 9, 1, 1, 1, 2))
    assert (first, second, furniture) == ("O0", "O1", "F0")
    assert NodeSymbol.parse("O12") == NodeSymbol("O", 12)
    assert str(NodeSymbol("R", 3)) == "R3"
    assert NodeSymbol.parse("F0").layer == Layer.FURNITURE
    with pytest.raises(InvalidInputError):
        NodeSymbol.parse("X1")


def test_get_raises_find_returns_none_and_counts(kitchen) -> None:
    graph, ids = kitchen
    assert graph.has_node(ids["fridge"])
    assert graph.get_node(ids["fridge"]).node_type == "Fridge"
    assert graph.find_node("O99") is None
    with pytest.raises(NotFoundError):
        graph.get_node("O99")
    assert graph.num_nodes() == 5
    assert graph.num_nodes(Layer.ROOM) == 2
    assert graph.find_object_by_external_id("Fridge|1").node_id == ids["fridge"]
    assert graph.find_object_by_external_id("nope") is None
    assert graph.find_edge(ids["fridge"], ids["living"], EdgeType.IN_ROOM) is None
    with pytest.raises(NotFoundError):
        graph.get_edge(ids["fridge"], ids["living"], EdgeType.IN_ROOM)


def test_object_over_counter_top_face_is_on_it_and_in_its_room(kitchen) -> None:
    graph, ids = kitchen
    apple = add(graph, "Apple", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1))
    assert graph.find_location(apple) == (ids["counter"], EdgeType.ON)
    assert graph.find_room(apple) == ids["kitchen"]
    assert graph.has_edge(ids["counter"], ids["kitchen"], EdgeType.IN_ROOM)
    assert graph.find_room(ids["sofa"]) == ids["living"]


def test_object_within_container_box_is_inside_it(kitchen) -> None:
    graph, ids = kitchen
    milk = add(graph, "Bottle", box(3.0, 1.0, 1.2, 0.1, 0.1, 0.25))
    assert graph.find_location(milk) == (ids["fridge"], EdgeType.INSIDE)
    assert graph.children(ids["fridge"], EdgeType.INSIDE) == [milk]


def test_smallest_receptacle_wins_apple_in_bowl_on_counter(kitchen) -> None:
    graph, ids = kitchen
    bowl = add(graph, "Bowl", box(0.5, 1.0, 0.95, 0.3, 0.3, 0.1))
    apple = add(graph, "Apple", box(0.5, 1.0, 0.96, 0.08, 0.08, 0.08))
    assert graph.find_location(bowl) == (ids["counter"], EdgeType.ON)
    assert graph.find_location(apple) == (bowl, EdgeType.INSIDE)


def test_objects_close_together_get_one_symmetric_near_edge(kitchen) -> None:
    graph, _ = kitchen
    a = add(graph, "Apple", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1))
    b = add(graph, "Mug", box(1.4, 1.0, 0.95, 0.1, 0.1, 0.1))
    assert graph.has_edge(a, b, EdgeType.NEAR) and graph.has_edge(b, a, EdgeType.NEAR)
    assert graph.num_edges(EdgeType.NEAR) == 1
    graph.update_node(b, 1.0, world_T_object=Pose(Vector3(1.9, 1.0, 0.95)))
    graph.refresh_relations(b, 1.0)
    assert not graph.has_edge(a, b, EdgeType.NEAR)


def test_interaction_sets_location_regardless_of_geometry(kitchen) -> None:
    graph, ids = kitchen
    apple = add(graph, "Apple", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1))
    graph.set_location(apple, (ids["fridge"], EdgeType.INSIDE), 5.0, origin="action")
    assert graph.find_location(apple) == (ids["fridge"], EdgeType.INSIDE)
    assert graph.get_edge(apple, ids["fridge"], EdgeType.INSIDE).origin == "action"
    assert not graph.has_edge(apple, ids["counter"], EdgeType.ON)


def test_state_at_past_time_answers_where_the_mug_was(kitchen) -> None:
    graph, ids = kitchen
    mug = add(graph, "Mug", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1), stamp=10.0)
    graph.update_node(mug, 20.0, states={"isDirty": "true"})
    graph.update_node(
        mug, 30.0, world_T_object=Pose(Vector3(3.0, 1.0, 1.2)), box=box(3, 1, 1.2, 0.1, 0.1, 0.1)
    )
    graph.refresh_relations(mug, 30.0)
    assert graph.find_state_at(mug, 5.0) is None
    at_15 = graph.find_state_at(mug, 15.0)
    assert at_15.parent_id == ids["counter"] and at_15.states == {}
    at_25 = graph.find_state_at(mug, 25.0)
    assert at_25.states == {"isDirty": "true"}
    assert at_25.position == Vector3(1.2, 1.0, 0.95)
    at_35 = graph.find_state_at(mug, 35.0)
    assert at_35.parent_id == ids["fridge"] and at_35.relation == "inside"
    assert at_35.position == Vector3(3.0, 1.0, 1.2)


def test_graph_records_changes_with_increasing_sequence_and_pop_empties(kitchen) -> None:
    graph, _ = kitchen
    graph.pop_changes()
    seen = []
    graph.add_change_sink(seen.append)
    apple = add(graph, "Apple", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1), stamp=3.0)
    changes = graph.pop_changes()
    assert changes == seen
    assert changes[0].kind == ChangeKind.NODE_ADDED and changes[0].node_id == apple
    assert {c.kind for c in changes} >= {ChangeKind.EDGE_ADDED}
    sequences = [c.sequence for c in changes]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    assert graph.pop_changes() == []
    graph.remove_node(apple, 4.0)
    assert [c.kind for c in graph.changes_since(4.0)][-1] == ChangeKind.NODE_REMOVED
    assert all(c.stamp >= 3.0 for c in graph.changes_since(3.0))
    assert graph.changes_after(changes[-1].sequence)[0].stamp == 4.0


def test_misses_lower_confidence_then_mark_missing_and_drop_location(kitchen) -> None:
    graph, ids = kitchen
    apple = add(graph, "Apple", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1))
    before = graph.get_node(apple).confidence
    assert not graph.record_miss(apple, 1.0, misses_to_missing=2)
    assert graph.get_node(apple).confidence < before
    assert graph.record_miss(apple, 2.0, misses_to_missing=2)
    node = graph.get_node(apple)
    assert node.status == NodeStatus.MISSING
    assert graph.find_location(apple) is None
    assert graph.find_state_at(apple, 1.5).parent_id == ids["counter"]
    graph.record_hit(apple, 3.0, Provenance("obs1", "gt_mask", 3.0))
    assert graph.get_node(apple).status == NodeStatus.PRESENT
    assert graph.find_location(apple) == (ids["counter"], EdgeType.ON)


def test_location_and_room_follow_every_edge_added_or_removed(kitchen) -> None:
    graph, ids = kitchen
    apple = add(graph, "Apple", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1), stamp=1.0)
    assert graph.find_location(apple) == (ids["counter"], EdgeType.ON)
    # A second location edge made by hand takes over only when the first is removed.
    graph.add_edge(apple, ids["fridge"], EdgeType.INSIDE, stamp=2.0)
    assert graph.find_location(apple) == (ids["counter"], EdgeType.ON)
    graph.remove_edge(apple, ids["counter"], EdgeType.ON, stamp=3.0)
    assert graph.find_location(apple) == (ids["fridge"], EdgeType.INSIDE)
    graph.remove_edge(apple, ids["kitchen"], EdgeType.IN_ROOM, stamp=3.0)
    assert graph.find_room(apple) is None
    assert graph.find_location(apple) == (ids["fridge"], EdgeType.INSIDE)
    restored = SceneGraph.from_parts(list(graph.nodes()), list(graph.edges()))
    assert restored.find_location(apple) == (ids["fridge"], EdgeType.INSIDE)
    assert restored.find_room(ids["sofa"]) == ids["living"]
    graph.remove_node(ids["fridge"], stamp=4.0)
    assert graph.find_location(apple) is None
    assert graph.find_location("O99") is None and graph.find_room("O99") is None


def test_confidence_is_clamped_like_octomap() -> None:
    graph = SceneGraph()
    apple = add(graph, "Apple", box(0, 0, 0, 0.1, 0.1, 0.1))
    for i in range(50):
        graph.record_hit(apple, float(i))
    assert graph.get_node(apple).confidence == pytest.approx(0.97)
    assert graph.get_node(apple).num_observations == 50


def test_record_uses_external_id_and_names_receptacle_and_provenance(kitchen) -> None:
    graph, _ = kitchen
    apple = add(graph, "Apple", box(1.2, 1.0, 0.95, 0.1, 0.1, 0.1), ext="Apple|1")
    graph.record_hit(apple, 1.0, Provenance("gt_mask:f1:Apple|1", "gt_mask", 1.0))
    record = graph.to_record(apple)
    assert record.object_id == "Apple|1"
    assert record.receptacle_id == "CounterTop|1" and record.receptacle_relation == "on"
    assert record.provenance == (f"node:{apple}", "gt_mask:f1:Apple|1")
    assert record.last_seen == 1.0


def test_duplicate_external_id_is_rejected(kitchen) -> None:
    graph, _ = kitchen
    with pytest.raises(InvalidInputError):
        add(graph, "Fridge", box(9, 9, 1, 1, 1, 2), ext="Fridge|1")


def test_agent_node_is_created_once_and_moves() -> None:
    graph = SceneGraph()
    first = graph.set_agent_pose(Pose(Vector3(0, 0, 0)), 0.0)
    second = graph.set_agent_pose(Pose(Vector3(1, 0, 0)), 1.0)
    assert first == second == "A0"
    assert graph.get_node("A0").position == Vector3(1, 0, 0)
