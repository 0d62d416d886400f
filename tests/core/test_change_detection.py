"""Change detection: visibility from a depth frame, misses, decay by mobility, missing marks."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.change_detection import (
    CameraView,
    ChangeDetectionConfig,
    ChangeDetector,
    Visibility,
    expected_visibility,
)
from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.object_taxonomy import DecayRates, Mobility
from memory_nodes.core.scene_graph import (
    ChangeKind,
    EdgeType,
    NodeStatus,
    SceneGraph,
    default_layer,
)
from memory_nodes.core.types import Box, CameraIntrinsics, Pose, Vector3

INTRINSICS = CameraIntrinsics.from_fov(320, 240, 60.0)
# Optical frame looking along world +x: z_opt = +x, x_opt = -y, y_opt = -z.
ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def camera_at(x: float, y: float, z: float, looking_back: bool = False) -> Pose:
    matrix = np.eye(4)
    rotation = ROTATION.copy()
    if looking_back:  # yaw by 180 degrees: look along -x
        rotation = np.diag([-1.0, -1.0, 1.0]) @ rotation
    matrix[:3, :3] = rotation
    matrix[:3, 3] = (x, y, z)
    return Pose.from_matrix(matrix)


def render_depth(world_T_camera: Pose, boxes: list[Box]) -> np.ndarray:
    """Ray-cast axis-aligned boxes: metres along the optical axis, 0 where nothing is hit."""
    k = INTRINSICS
    us, vs = np.meshgrid(np.arange(k.width) + 0.5, np.arange(k.height) + 0.5)
    rays = np.stack([(us - k.cx) / k.fx, (vs - k.cy) / k.fy, np.ones_like(us)], axis=-1)
    directions = rays @ world_T_camera.orientation.as_matrix().T
    origin = world_T_camera.position.as_array()
    depth = np.full(us.shape, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for box in boxes:
            t1 = (box.min_corner - origin) / directions
            t2 = (box.max_corner - origin) / directions
            near = np.nanmax(np.minimum(t1, t2), axis=-1)
            far = np.nanmin(np.maximum(t1, t2), axis=-1)
            hit = (far >= near) & (far > 0)
            depth = np.where(hit, np.minimum(depth, np.maximum(near, 0.0)), depth)
    return np.where(np.isfinite(depth), depth, 0.0)


def b(x: float, y: float, z: float, sx: float, sy: float, sz: float) -> Box:
    return Box(Vector3(x, y, z), Vector3(sx, sy, sz))


TABLE = b(2.0, 0.0, 0.4, 0.8, 1.2, 0.8)
APPLE = b(2.0, 0.0, 0.85, 0.1, 0.1, 0.1)
MUG = b(2.0, 0.3, 0.86, 0.12, 0.12, 0.12)
FRIDGE = b(2.2, -1.0, 0.9, 0.6, 0.6, 1.8)
MILK = b(2.2, -1.0, 1.0, 0.1, 0.1, 0.2)


def add(graph: SceneGraph, object_type: str, box: Box) -> str:
    return graph.add_node(
        default_layer(object_type),
        object_type,
        world_T_object=Pose(box.center),
        box=box,
        stamp=0.0,
        confidence=0.9,
    )


@pytest.fixture
def scene() -> tuple[SceneGraph, dict[str, str]]:
    graph = SceneGraph()
    ids = {
        "table": add(graph, "DiningTable", TABLE),
        "apple": add(graph, "Apple", APPLE),
        "mug": add(graph, "Mug", MUG),
    }
    return graph, ids


def view(depth_boxes: list[Box], stamp: float = 1.0, **camera) -> CameraView:
    pose = camera_at(0.0, 0.0, 1.2, **camera)
    return CameraView(INTRINSICS, pose, render_depth(pose, depth_boxes), stamp)


def test_objects_in_front_with_matching_depth_are_expected_visible(scene) -> None:
    graph, ids = scene
    visibility = expected_visibility(graph, view([TABLE, APPLE, MUG]))
    assert visibility[ids["apple"]] == Visibility.VISIBLE
    assert visibility[ids["mug"]] == Visibility.VISIBLE
    assert visibility[ids["table"]] == Visibility.VISIBLE


def test_objects_behind_the_camera_are_out_of_view(scene) -> None:
    graph, _ = scene
    visibility = expected_visibility(graph, view([], looking_back=True))
    assert set(visibility.values()) == {Visibility.OUT_OF_VIEW}


def test_object_behind_a_wall_is_occluded_and_keeps_its_confidence(scene) -> None:
    graph, ids = scene
    wall = b(1.0, 0.0, 1.0, 0.05, 3.0, 2.0)
    detector = ChangeDetector(graph)
    before = graph.get_node(ids["apple"]).confidence
    for stamp in range(1, 6):
        report = detector.process_frame(view([wall], float(stamp)), observed=[])
    assert report.visibility[ids["apple"]] == Visibility.OCCLUDED
    assert report.missed == []
    assert graph.get_node(ids["apple"]).confidence == before


def test_pixels_without_depth_give_no_evidence(scene) -> None:
    graph, ids = scene
    visibility = expected_visibility(graph, view([]))  # nothing rendered: no returns
    assert visibility[ids["apple"]] == Visibility.NO_DEPTH


def test_expected_but_unobserved_object_loses_confidence_then_is_marked_missing(scene) -> None:
    graph, ids = scene
    detector = ChangeDetector(graph)
    before = graph.get_node(ids["apple"]).confidence
    graph.pop_changes()
    # The apple was taken away: depth shows the table top where it was.
    first = detector.process_frame(view([TABLE, MUG], 1.0), observed=[ids["mug"], ids["table"]])
    assert first.missed == [ids["apple"]]
    assert graph.get_node(ids["apple"]).confidence < before
    assert graph.get_node(ids["apple"]).status == NodeStatus.PRESENT
    detector.process_frame(view([TABLE, MUG], 2.0), observed=[ids["mug"], ids["table"]])
    third = detector.process_frame(view([TABLE, MUG], 3.0), observed=[ids["mug"], ids["table"]])
    assert third.marked_missing == [ids["apple"]]  # Apple: frequently moved, 3 misses
    assert graph.get_node(ids["apple"]).status == NodeStatus.MISSING
    assert graph.find_location(ids["apple"]) is None
    missing = [c for c in graph.pop_changes() if c.detail == "missing"]
    assert [(c.kind, c.node_id, c.stamp) for c in missing] == [
        (ChangeKind.NODE_UPDATED, ids["apple"], 3.0)
    ]
    assert graph.find_state_at(ids["apple"], 2.5).status == NodeStatus.PRESENT


def test_observed_objects_take_no_miss(scene) -> None:
    graph, ids = scene
    detector = ChangeDetector(graph)
    report = detector.process_frame(view([TABLE, APPLE, MUG]), observed=list(ids.values()))
    assert report.missed == [] and len(report.expected) == 3


def test_furniture_decays_slower_than_small_objects(scene) -> None:
    graph, ids = scene
    detector = ChangeDetector(graph)
    for stamp in range(1, 4):
        detector.process_frame(view([TABLE, APPLE, MUG], float(stamp)), observed=[])
    assert graph.get_node(ids["mug"]).status == NodeStatus.MISSING
    table = graph.get_node(ids["table"])
    assert table.status == NodeStatus.PRESENT
    assert table.confidence > graph.get_node(ids["mug"]).confidence


def test_decay_rates_are_configurable(scene) -> None:
    graph, ids = scene
    fast = {Mobility.STATIC: DecayRates(miss_probability=0.3, misses_to_missing=1)}
    detector = ChangeDetector(graph, ChangeDetectionConfig(rates=fast))
    report = detector.process_frame(view([TABLE, APPLE, MUG]), observed=[ids["apple"], ids["mug"]])
    assert report.marked_missing == [ids["table"]]


def test_object_inside_closed_fridge_is_not_expected() -> None:
    graph = SceneGraph()
    fridge = add(graph, "Fridge", FRIDGE)
    milk = add(graph, "Bottle", MILK)
    assert graph.find_location(milk) == (fridge, EdgeType.INSIDE)
    graph.update_node(fridge, 0.5, states={"isOpen": "false"})
    # Even with a depth image that would show the bottle, a closed door hides it.
    visibility = expected_visibility(graph, view([MILK]))
    assert visibility[milk] == Visibility.ENCLOSED
    graph.update_node(fridge, 0.6, states={"isOpen": "true"})
    assert expected_visibility(graph, view([MILK]))[milk] == Visibility.VISIBLE


def test_far_tiny_objects_are_not_expected() -> None:
    graph = SceneGraph()
    coin = add(graph, "CreditCard", b(4.0, 0.0, 1.2, 0.05, 0.05, 0.01))
    visibility = expected_visibility(graph, view([b(4.0, 0.0, 1.2, 0.05, 0.05, 0.01)]))
    assert visibility[coin] == Visibility.TOO_SMALL


def test_depth_of_wrong_shape_is_rejected() -> None:
    with pytest.raises(InvalidInputError):
        CameraView(INTRINSICS, camera_at(0, 0, 1), np.zeros((10, 10)), 0.0)
