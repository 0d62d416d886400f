"""Frames become world-frame object observations; bad frames are refused with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import CameraIntrinsics
from memory_nodes.perception.backends import MaskBackend, object_type_from_label
from memory_nodes.perception.frames import RGBDFrame, color_to_rgb, depth_to_metres
from memory_nodes.perception.observations import ObservationExtractor, backproject

INTRINSICS = CameraIntrinsics.from_fov(160, 120, 60.0)
APPLE = "Apple|+01.00|+00.90|-00.50"


def _camera_looking_along_world_x(height: float = 1.0) -> np.ndarray:
    """Optical frame (x right, y down, z forward) -> world (x forward, y left, z up)."""
    transform = np.eye(4)
    transform[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    transform[:3, 3] = [0.0, 0.0, height]
    return transform


def _frame(depth: np.ndarray | None = None, ids: np.ndarray | None = None) -> RGBDFrame:
    h, w = INTRINSICS.height, INTRINSICS.width
    if depth is None:
        depth = np.full((h, w), 3.0, dtype=np.float32)  # a wall 3 m ahead
        depth[50:70, 70:90] = 1.5  # an object in front of it
    if ids is None:
        ids = np.zeros((h, w), dtype=np.int32)
        ids[50:70, 70:90] = 7
    return RGBDFrame(
        rgb=np.zeros((h, w, 3), dtype=np.uint8),
        depth=depth,
        intrinsics=INTRINSICS,
        world_T_camera=_camera_looking_along_world_x(),
        stamp=12.5,
        instance_ids=ids,
        instance_labels={7: APPLE},
    )


def test_backprojection_puts_the_centre_pixel_on_the_optical_axis() -> None:
    frame = _frame()
    world, flat, invalid = backproject(frame, max_depth=10.0)
    assert invalid == 0 and len(world) == frame.depth.size
    centre = int(INTRINSICS.cy) * INTRINSICS.width + int(INTRINSICS.cx)
    point = world[np.searchsorted(flat, centre)]
    np.testing.assert_allclose(point, [1.5, 0.0, 1.0], atol=1e-9)


def test_instance_becomes_one_observation_with_world_box_type_and_stamp() -> None:
    result = ObservationExtractor(outlier_neighbours=8).extract(_frame())
    assert len(result.observations) == 1
    observation = result.observations[0]
    assert (observation.object_type, observation.object_id) == ("Apple", APPLE)
    assert observation.stamp == 12.5 and observation.source == "gt_mask"
    position = observation.world_T_object.position
    assert position.x == pytest.approx(1.5, abs=1e-6)
    assert abs(position.y) < 0.05 and abs(position.z - 1.0) < 0.05
    # 20 px at 1.5 m with fx = 103.9 px: about 0.28 m wide and tall, flat in depth.
    size = observation.box.size
    assert size.x == pytest.approx(0.0, abs=1e-6)
    assert size.y == pytest.approx(19 * 1.5 / INTRINSICS.fx, rel=0.05)
    assert observation.confidence == pytest.approx(1.0)
    labels = result.cloud_labels
    assert set(np.unique(labels)) == {0, 1} and result.label_names[1] == "Apple"
    assert (result.cloud_object_ids == 1).sum() == 400


def test_nan_and_missing_depth_is_dropped_and_counted_not_raised() -> None:
    frame = _frame()
    frame.depth[0:10, :] = np.nan
    frame.depth[10:12, :] = 0.0
    frame.depth[12:13, :] = np.inf
    frame.depth[50:60, 70:90] = np.nan  # half of the apple
    result = ObservationExtractor(outlier_neighbours=8).extract(frame)
    assert result.stats.invalid_depth == 13 * INTRINSICS.width + 200
    assert result.observations[0].num_points <= 200
    assert np.all(np.isfinite(result.cloud_points))


def test_small_instances_and_unnamed_ids_are_skipped() -> None:
    ids = np.zeros((INTRINSICS.height, INTRINSICS.width), dtype=np.int32)
    ids[0:3, 0:3] = 7  # 9 pixels: below min_pixels
    ids[50:70, 70:90] = 99  # no label for id 99
    result = ObservationExtractor().extract(_frame(ids=ids))
    assert result.observations == []


def test_structure_labels_are_not_remembered_as_objects() -> None:
    frame = _frame()
    frame.instance_labels[7] = "Wall"
    assert MaskBackend().detect(frame) == []


def test_wrong_sizes_and_types_are_refused_with_the_reason() -> None:
    with pytest.raises(InvalidInputError, match="CameraInfo says 160x120"):
        RGBDFrame(
            np.zeros((100, 160, 3), np.uint8),
            np.zeros((120, 160), np.float32),
            INTRINSICS,
            np.eye(4),
            0.0,
        )
    with pytest.raises(InvalidInputError, match="float32 metres"):
        RGBDFrame(
            np.zeros((120, 160, 3), np.uint8),
            np.zeros((120, 160), np.float64),
            INTRINSICS,
            np.eye(4),
            0.0,
        )
    with pytest.raises(InvalidInputError, match="orthonormal"):
        RGBDFrame(
            np.zeros((120, 160, 3), np.uint8),
            np.zeros((120, 160), np.float32),
            INTRINSICS,
            np.diag([2.0, 1.0, 1.0, 1.0]),
            0.0,
        )


def test_driver_encodings_convert_and_unknown_ones_are_refused() -> None:
    millimetres = np.array([[1500, 0]], dtype=np.uint16)
    np.testing.assert_allclose(depth_to_metres(millimetres, "16UC1"), [[1.5, 0.0]])
    bgr = np.array([[[1, 2, 3]]], dtype=np.uint8)
    assert color_to_rgb(bgr, "bgr8").tolist() == [[[3, 2, 1]]]
    with pytest.raises(InvalidInputError, match="unsupported depth encoding"):
        depth_to_metres(millimetres, "64FC1")
    with pytest.raises(InvalidInputError, match="unsupported colour encoding"):
        color_to_rgb(bgr, "yuv422")


def test_object_types_come_from_ai2thor_ids_including_slices() -> None:
    assert object_type_from_label(APPLE) == "Apple"
    assert object_type_from_label(APPLE + "|AppleSliced_3") == "AppleSliced"
    assert object_type_from_label("Floor") == "Floor"
    with pytest.raises(InvalidInputError):
        object_type_from_label("")
