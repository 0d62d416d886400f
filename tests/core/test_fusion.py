"""Object fusion: association, no duplicates, confirmation before belief, provenance."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from memory_nodes.core.fusion import FusionConfig, ObjectFusion
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3

# Ground truth of a small kitchen: id -> (type, centre, size). Counter top's top face z = 0.9.
WORLD = {
    "CounterTop|1": ("CounterTop", (1.0, 1.0, 0.45), (2.0, 0.6, 0.9)),
    "Fridge|1": ("Fridge", (3.0, 1.0, 0.9), (0.8, 0.7, 1.8)),
    "Apple|1": ("Apple", (0.5, 1.0, 0.95), (0.08, 0.08, 0.08)),
    "Apple|2": ("Apple", (0.75, 1.0, 0.95), (0.08, 0.08, 0.08)),
    "Mug|1": ("Mug", (1.2, 1.1, 0.95), (0.1, 0.1, 0.1)),
    "Knife|1": ("Knife", (1.6, 0.9, 0.91), (0.25, 0.03, 0.02)),
}


def observe(
    object_id: str,
    frame: int,
    *,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
    with_id: bool = True,
    center: tuple[float, float, float] | None = None,
    states: dict[str, str] | None = None,
    source: str = "gt_mask",
) -> ObjectObservation:
    object_type, true_center, size = WORLD[object_id]
    c = np.array(center or true_center, dtype=float)
    s = np.array(size, dtype=float)
    if rng is not None and noise > 0:
        c = c + rng.normal(0.0, noise, 3)
        s = np.clip(s + rng.normal(0.0, noise / 3, 3), 0.01, None)
    box = Box(Vector3.from_array(c), Vector3.from_array(s))
    return ObjectObservation(
        object_id=object_id if with_id else "",
        object_type=object_type,
        world_T_object=Pose(box.center),
        box=box,
        stamp=float(frame),
        states=states or {},
        source=source,
        source_frame_id=f"frame{frame}",
    )


def fuse_static_scene(fusion: ObjectFusion, frames: int = 2) -> None:
    for frame in range(frames):
        fusion.integrate_frame([observe(i, frame) for i in WORLD])


def test_object_seen_in_one_frame_stays_tentative_until_second_frame() -> None:
    fusion = ObjectFusion(SceneGraph())
    first = fusion.integrate_frame([observe("Apple|1", 0)])
    assert first.created == [] and first.tentative == 1
    assert fusion.graph.num_nodes() == 0
    second = fusion.integrate_frame([observe("Apple|1", 1)])
    assert len(second.created) == 1 and second.tentative == 0
    assert fusion.graph.get_node(second.created[0]).external_id == "Apple|1"


def test_confirm_frames_is_configurable() -> None:
    fusion = ObjectFusion(SceneGraph(), FusionConfig(confirm_frames=3))
    for frame in range(2):
        fusion.integrate_frame([observe("Apple|1", frame)])
    assert fusion.graph.num_nodes() == 0
    fusion.integrate_frame([observe("Apple|1", 2)])
    assert fusion.graph.num_nodes() == 1


def test_two_observations_in_one_frame_count_as_one_frame() -> None:
    fusion = ObjectFusion(SceneGraph())
    obs = observe("Apple|1", 0, with_id=False)
    fusion.integrate_frame([obs])
    fusion.integrate_frame([obs])  # same frame id again: not a second view
    assert fusion.graph.num_nodes() == 0


def test_single_frame_false_positive_never_becomes_a_node() -> None:
    fusion = ObjectFusion(SceneGraph(), FusionConfig(candidate_timeout=5.0))
    fusion.integrate_frame([observe("Mug|1", 0, with_id=False)])
    fusion.integrate_frame([observe("Apple|1", 10, with_id=False)])
    fusion.integrate_frame([observe("Mug|1", 11, center=(5.0, 5.0, 0.9), with_id=False)])
    assert fusion.graph.num_nodes() == 0


@pytest.mark.parametrize("with_id", [True, False], ids=["with_ids", "geometry_only"])
def test_noisy_multiview_observations_never_duplicate_an_object(with_id: bool) -> None:
    rng = np.random.default_rng(7)
    fusion = ObjectFusion(SceneGraph())
    ids = list(WORLD)
    for frame in range(40):
        # Each viewpoint sees a random subset, in a random order, with 3 cm centroid noise.
        seen = rng.choice(ids, size=int(rng.integers(2, len(ids) + 1)), replace=False)
        fusion.integrate_frame(
            [observe(i, frame, noise=0.03, rng=rng, with_id=with_id) for i in seen]
        )
    graph = fusion.graph
    assert graph.num_nodes() == len(WORLD)
    for object_id, (object_type, center, _) in WORLD.items():
        nearest = min(
            (n for n in graph.nodes() if n.node_type == object_type),
            key=lambda n: n.position.distance_to(Vector3(*center)),
        )
        assert nearest.position.distance_to(Vector3(*center)) < 0.03
        if with_id:
            assert nearest.external_id == object_id


def test_two_close_apples_in_one_frame_update_distinct_nodes() -> None:
    fusion = ObjectFusion(SceneGraph())
    fuse_static_scene(fusion)
    result = fusion.integrate_frame(
        [observe("Apple|1", 5, with_id=False), observe("Apple|2", 5, with_id=False)]
    )
    apples = [n for n in fusion.graph.nodes(Layer.OBJECT) if n.node_type == "Apple"]
    assert len(apples) == 2
    assert {a.node_id for a in apples} <= set(result.observed)


def test_furniture_goes_to_f_layer_and_objects_get_relations() -> None:
    fusion = ObjectFusion(SceneGraph())
    fuse_static_scene(fusion)
    graph = fusion.graph
    assert graph.num_nodes(Layer.FURNITURE) == 2
    counter = graph.find_object_by_external_id("CounterTop|1")
    mug = graph.find_object_by_external_id("Mug|1")
    assert graph.find_location(mug.node_id) == (counter.node_id, EdgeType.ON)


def test_state_change_needs_k_consistent_observations() -> None:
    fusion = ObjectFusion(SceneGraph(), FusionConfig(change_confirmations=3))
    for frame in range(2):
        fusion.integrate_frame([observe("Fridge|1", frame, states={"isOpen": "true"})])
    fridge = fusion.graph.find_object_by_external_id("Fridge|1")
    assert fridge.states["isOpen"] == "true"
    fusion.integrate_frame([observe("Fridge|1", 2, states={"isOpen": "false"})])
    fusion.integrate_frame([observe("Fridge|1", 3, states={"isOpen": "false"})])
    assert fridge.states["isOpen"] == "true"
    # An inconsistent frame restarts the count.
    fusion.integrate_frame([observe("Fridge|1", 4, states={"isOpen": "true"})])
    for frame in (5, 6):
        fusion.integrate_frame([observe("Fridge|1", frame, states={"isOpen": "false"})])
    assert fridge.states["isOpen"] == "true"
    result = fusion.integrate_frame([observe("Fridge|1", 7, states={"isOpen": "false"})])
    assert fridge.states["isOpen"] == "false"
    assert result.state_changes == [(fridge.node_id, "isOpen", "false")]
    assert fusion.graph.find_state_at(fridge.node_id, 6.5).states["isOpen"] == "true"


def test_state_change_from_robot_action_is_trusted_at_once() -> None:
    fusion = ObjectFusion(SceneGraph())
    for frame in range(2):
        fusion.integrate_frame([observe("Fridge|1", frame, states={"isOpen": "false"})])
    fusion.integrate_frame(
        [observe("Fridge|1", 2, states={"isOpen": "true"}, source="action")], trusted=True
    )
    assert fusion.graph.find_object_by_external_id("Fridge|1").states["isOpen"] == "true"


def test_jump_and_relation_change_need_k_sightings_then_node_moves() -> None:
    fusion = ObjectFusion(SceneGraph())
    fuse_static_scene(fusion)
    graph = fusion.graph
    mug = graph.find_object_by_external_id("Mug|1")
    fridge = graph.find_object_by_external_id("Fridge|1").node_id
    in_fridge = (3.0, 1.0, 1.2)
    first = fusion.integrate_frame([observe("Mug|1", 10, center=in_fridge)])
    assert first.moved == []
    assert graph.find_location(mug.node_id)[1] == EdgeType.ON
    assert mug.position == Vector3(*WORLD["Mug|1"][1])
    second = fusion.integrate_frame([observe("Mug|1", 11, center=in_fridge)])
    assert second.moved == [mug.node_id]
    assert graph.find_location(mug.node_id) == (fridge, EdgeType.INSIDE)
    assert graph.num_nodes() == len(WORLD)
    assert graph.find_state_at(mug.node_id, 10.5).relation == "on"


def test_interaction_sets_relation_at_once() -> None:
    fusion = ObjectFusion(SceneGraph())
    fuse_static_scene(fusion)
    graph = fusion.graph
    fusion.record_interaction("Apple|1", "Fridge|1", "inside", 20.0)
    apple = graph.find_object_by_external_id("Apple|1")
    fridge = graph.find_object_by_external_id("Fridge|1")
    assert graph.find_location(apple.node_id) == (fridge.node_id, EdgeType.INSIDE)
    assert graph.get_edge(apple.node_id, fridge.node_id, "inside").origin == "action"


def test_missing_node_seen_elsewhere_is_reidentified_not_duplicated() -> None:
    fusion = ObjectFusion(SceneGraph())
    fuse_static_scene(fusion)
    graph = fusion.graph
    knife = graph.find_object_by_external_id("Knife|1")
    graph.mark_missing(knife.node_id, 5.0)
    elsewhere = (3.0, 1.0, 1.0)
    for frame in (6, 7):
        sighting = observe("Knife|1", frame, center=elsewhere, with_id=False)
        result = fusion.integrate_frame([sighting])
    assert result.moved == [knife.node_id]
    assert knife.status == NodeStatus.PRESENT
    assert knife.position.distance_to(Vector3(*elsewhere)) < 1e-6
    assert graph.num_nodes() == len(WORLD)


def test_frames_from_one_camera_name_count_as_distinct_frames_by_stamp() -> None:
    fusion = ObjectFusion(SceneGraph())
    observation = ObjectObservation(
        "Apple|1", "Apple", Pose(Vector3(1, 0, 1)), Box(Vector3(1, 0, 1), Vector3(0.1, 0.1, 0.1)),
        stamp=1.0, source="gt_mask", source_frame_id="camera",
    )  # fmt: skip
    fusion.integrate_frame([observation])
    assert fusion.graph.find_object_by_external_id("Apple|1") is None  # one frame: tentative
    fusion.integrate_frame([dataclasses.replace(observation, stamp=2.0)])
    assert fusion.graph.find_object_by_external_id("Apple|1") is not None


def test_provenance_records_supporting_observations_and_sources() -> None:
    fusion = ObjectFusion(SceneGraph())
    fuse_static_scene(fusion, frames=3)
    apple = fusion.graph.find_object_by_external_id("Apple|1")
    assert [p.observation_id for p in apple.provenance] == [
        "gt_mask:frame0@0.000000:Apple|1",
        "gt_mask:frame1@1.000000:Apple|1",
        "gt_mask:frame2@2.000000:Apple|1",
    ]
    assert {p.source for p in apple.provenance} == {"gt_mask"}
    assert apple.num_observations == 3
    assert apple.first_seen == 0.0 and apple.last_seen == 2.0


def test_different_simulator_ids_never_associate() -> None:
    fusion = ObjectFusion(SceneGraph())
    fuse_static_scene(fusion)
    other = observe("Apple|1", 3)
    other = ObjectObservation(**{**_fields(other), "object_id": "Apple|99"})
    fusion.integrate_frame([other])
    assert fusion.num_candidates == 1


def _fields(obs: ObjectObservation) -> dict:
    return {name: getattr(obs, name) for name in obs.__dataclass_fields__}


def test_frames_older_than_the_robots_action_do_not_undo_its_state() -> None:
    """Frames taken before the robot closed the fridge can reach memory after the close; they
    show it open, but they are older than what the robot did and must not reopen it."""
    fusion = ObjectFusion(SceneGraph())
    for frame in range(2):
        fusion.integrate_frame([observe("Fridge|1", frame, states={"isOpen": "true"})])
    fusion.integrate_frame(
        [observe("Fridge|1", 10, states={"isOpen": "false"}, source="action")], trusted=True
    )
    fridge = fusion.graph.find_object_by_external_id("Fridge|1")
    for late in (9.5, 9.7, 9.9):
        stale = observe("Fridge|1", 0, states={"isOpen": "true"})
        fusion.integrate_frame([dataclasses.replace(stale, stamp=late)])
    assert fridge.states["isOpen"] == "false"
    # Newer frames still count: two consistent ones reopen it.
    for frame in (11, 12):
        fusion.integrate_frame([observe("Fridge|1", frame, states={"isOpen": "true"})])
    assert fridge.states["isOpen"] == "true"
