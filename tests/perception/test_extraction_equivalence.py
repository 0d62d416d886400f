"""Extraction on real simulator frames gives the observations and cloud of the straightforward
pipeline it replaced: every valid pixel back-projected, a full-image mask per instance, open3d's
outlier filter on every point. With the per-instance point bound, subsampled instances stay
within a stated tolerance of the full computation."""

from __future__ import annotations

import os

import numpy as np
import pytest

from memory_nodes.core.object_taxonomy import STRUCTURE_TYPES
from memory_nodes.core.types import CameraIntrinsics, ObjectObservation
from memory_nodes.perception.backends import Instance, MaskBackend, object_type_from_label
from memory_nodes.perception.frames import RGBDFrame
from memory_nodes.perception.observations import (
    ObservationExtractor,
    _heading,
    statistical_inliers,
)
from tests.perception.kitchen_walk import kitchen_walk_frames

os.environ.setdefault("MUJOCO_GL", "egl")

#: Subsampled instances (more valid pixels than the bound): centroid within this of the full
#: computation, and the median box-corner difference over them within BOX_MEDIAN_M. A single
#: box can move more: the filter trims the sparse far end of a large surface, and where the
#: cut falls depends on the point spacing (the full computation moves such boxes by tens of
#: centimetres against the unfiltered points too).
CENTROID_TOLERANCE_M = 0.05
BOX_MEDIAN_M = 0.03
EXACT_M = 1e-9


@pytest.fixture(scope="module")
def kitchen_frames() -> list[RGBDFrame]:
    """Eight 320x240 frames of FloorPlan1: cells spread over the kitchen, four headings each."""
    frames = kitchen_walk_frames(2)
    assert len(frames) >= 6
    return frames


def _reference_outliers(points: np.ndarray, neighbours: int, std_ratio: float) -> np.ndarray:
    """open3d's filter when it is installed (the previous path), else the tested rule."""
    try:
        import open3d as o3d
    except ImportError:
        return points[statistical_inliers(points, neighbours, std_ratio)]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    _, kept = cloud.remove_statistical_outlier(nb_neighbors=neighbours, std_ratio=std_ratio)
    return points[np.asarray(kept, dtype=np.int64)]


def _reference_extract(frame: RGBDFrame, min_points: int, cloud_stride: int) -> dict:
    """The previous pipeline, written out plainly."""
    depth = frame.depth
    finite = np.isfinite(depth) & (depth > 0.0)
    valid = finite & (depth <= 5.0)
    flat = np.flatnonzero(valid)
    rows, cols = np.divmod(flat, depth.shape[1])
    z = depth.ravel()[flat].astype(np.float64)
    k = frame.intrinsics
    camera = np.column_stack(((cols - k.cx) * z / k.fx, (rows - k.cy) * z / k.fy, z))
    transform = np.asarray(frame.world_T_camera)
    world = camera @ transform[:3, :3].T + transform[:3, 3]
    pixel_to_point = np.full(depth.size, -1)
    pixel_to_point[flat] = np.arange(len(flat))
    labels = np.zeros(len(flat), np.int32)
    object_ids = np.zeros(len(flat), np.int32)
    label_names, object_keys, observations = [""], [""], []
    ids, counts = np.unique(frame.instance_ids, return_counts=True)
    for instance_id, count in zip(ids.tolist(), counts.tolist(), strict=True):
        label = frame.instance_labels.get(instance_id)
        if instance_id == 0 or count < 30 or label is None:
            continue
        object_type = object_type_from_label(label)
        if object_type in STRUCTURE_TYPES:
            continue
        mask = frame.instance_ids == instance_id
        indices = pixel_to_point[np.flatnonzero(mask)]
        indices = indices[indices >= 0]
        if len(indices) < min_points:
            continue
        if object_type not in label_names:
            label_names.append(object_type)
        labels[indices] = label_names.index(object_type)
        object_keys.append(label)
        object_ids[indices] = len(object_keys) - 1
        points = world[indices]
        if len(points) > 16:
            points = _reference_outliers(points, 16, 2.0)
        mask_rows, mask_cols = np.nonzero(mask)
        border = mask_rows.min() == 0 or mask_cols.min() == 0
        border |= mask_rows.max() == depth.shape[0] - 1 or mask_cols.max() == depth.shape[1] - 1
        confidence = (0.5 if border else 1.0) * min(1.0, len(points) / (4.0 * min_points))
        observations.append(
            {
                "id": label,
                "type": object_type,
                "centroid": points.mean(axis=0),
                "lo": points.min(axis=0),
                "hi": points.max(axis=0),
                "yaw": _heading(points).yaw(),
                "num_points": len(points),
                "confidence": confidence,
                "valid_pixels": len(indices),
            }
        )
    keep = slice(None, None, cloud_stride)
    return {
        "observations": observations,
        "cloud_points": world[keep],
        "cloud_labels": labels[keep],
        "cloud_object_ids": object_ids[keep],
        "label_names": label_names,
        "object_keys": object_keys,
    }


def _yaw_difference(a: float, b: float) -> float:
    """Headings are axes: pi apart is the same heading."""
    difference = abs(a - b) % np.pi
    return min(difference, np.pi - difference)


def _box_difference(observation: ObjectObservation, reference: dict) -> float:
    lo, hi = np.asarray(observation.box.min_corner), np.asarray(observation.box.max_corner)
    return float(max(np.abs(lo - reference["lo"]).max(), np.abs(hi - reference["hi"]).max()))


@pytest.mark.slow
def test_without_the_point_bound_observations_and_cloud_equal_the_previous_pipeline(
    kitchen_frames: list[RGBDFrame],
) -> None:
    extractor = ObservationExtractor(cloud_stride=2, max_instance_points=0)
    checked = 0
    for frame in kitchen_frames:
        result = extractor.extract(frame)
        reference = _reference_extract(frame, min_points=20, cloud_stride=2)
        assert result.label_names == reference["label_names"]
        assert result.object_keys == reference["object_keys"]
        np.testing.assert_allclose(result.cloud_points, reference["cloud_points"], atol=EXACT_M)
        np.testing.assert_array_equal(result.cloud_labels, reference["cloud_labels"])
        np.testing.assert_array_equal(result.cloud_object_ids, reference["cloud_object_ids"])
        assert result.cloud_labels.dtype == np.int32 and result.cloud_object_ids.dtype == np.int32
        expected = reference["observations"]
        assert [(o.object_id, o.object_type) for o in result.observations] == [
            (e["id"], e["type"]) for e in expected
        ]
        for observation, wanted in zip(result.observations, expected, strict=True):
            np.testing.assert_allclose(
                observation.world_T_object.position.as_array(), wanted["centroid"], atol=EXACT_M
            )
            assert _box_difference(observation, wanted) <= EXACT_M
            assert (
                _yaw_difference(observation.world_T_object.orientation.yaw(), wanted["yaw"]) < 1e-6
            )
            assert observation.num_points == wanted["num_points"]
            assert observation.confidence == pytest.approx(wanted["confidence"], abs=1e-12)
            checked += 1
    assert checked >= 40


@pytest.mark.slow
def test_with_the_default_point_bound_subsampled_instances_stay_within_tolerance(
    kitchen_frames: list[RGBDFrame],
) -> None:
    extractor = ObservationExtractor(cloud_stride=2)
    bound = extractor.max_instance_points
    box_differences, subsampled = [], 0
    for frame in kitchen_frames:
        result = extractor.extract(frame)
        reference = _reference_extract(frame, min_points=20, cloud_stride=2)
        expected = reference["observations"]
        assert [(o.object_id, o.object_type) for o in result.observations] == [
            (e["id"], e["type"]) for e in expected
        ]
        # The cloud for the octree never depends on the bound.
        np.testing.assert_allclose(result.cloud_points, reference["cloud_points"], atol=EXACT_M)
        np.testing.assert_array_equal(result.cloud_object_ids, reference["cloud_object_ids"])
        for observation, wanted in zip(result.observations, expected, strict=True):
            centroid = observation.world_T_object.position.as_array()
            if wanted["valid_pixels"] <= bound:
                np.testing.assert_allclose(centroid, wanted["centroid"], atol=EXACT_M)
                assert _box_difference(observation, wanted) <= EXACT_M
                continue
            subsampled += 1
            assert np.linalg.norm(centroid - wanted["centroid"]) <= CENTROID_TOLERANCE_M
            box_differences.append(_box_difference(observation, wanted))
            # The inlier count is estimated from the sample's share of inliers.
            assert observation.num_points == pytest.approx(wanted["num_points"], rel=0.15)
            assert observation.confidence == pytest.approx(wanted["confidence"], abs=1e-12)
    assert subsampled >= 5
    assert float(np.median(box_differences)) <= BOX_MEDIAN_M


@pytest.mark.slow
def test_mask_backend_pixel_groups_equal_full_image_masks(
    kitchen_frames: list[RGBDFrame],
) -> None:
    backend = MaskBackend()
    for frame in kitchen_frames:
        instances = backend.detect(frame)
        expected = [
            (instance_id, frame.instance_labels[instance_id])
            for instance_id, count in zip(
                *np.unique(frame.instance_ids, return_counts=True), strict=True
            )
            if instance_id != 0
            and count >= backend.min_pixels
            and instance_id in frame.instance_labels
            and object_type_from_label(frame.instance_labels[instance_id]) not in STRUCTURE_TYPES
        ]
        assert [i.instance_key for i in instances] == [label for _, label in expected]
        for instance, (instance_id, _) in zip(instances, expected, strict=True):
            np.testing.assert_array_equal(instance.mask, frame.instance_ids == instance_id)


@pytest.mark.parametrize("id_range", [(0, 50), (-3, 40), (0, 5_000_000)])
def test_mask_backend_groups_any_int32_ids(id_range: tuple[int, int]) -> None:
    rng = np.random.default_rng(id_range[1])
    height, width = 48, 64
    choices = rng.choice(np.arange(*id_range), size=12, replace=False)
    ids = rng.choice(choices, size=(height, width)).astype(np.int32)
    labels = {int(i): f"Mug|{i}|0|0" for i in choices[:9]}  # three ids stay unnamed
    labels[int(choices[0])] = "Wall"  # structure
    frame = RGBDFrame(
        rgb=np.zeros((height, width, 3), np.uint8),
        depth=np.ones((height, width), np.float32),
        intrinsics=CameraIntrinsics.from_fov(width, height, 60.0),
        world_T_camera=np.eye(4),
        stamp=0.0,
        instance_ids=ids,
        instance_labels=labels,
    )
    instances = MaskBackend(min_pixels=5).detect(frame)
    wanted = sorted(i for i in choices[1:9].tolist() if i != 0 and (ids == i).sum() >= 5)
    assert [i.instance_key for i in instances] == [labels[i] for i in wanted]
    for instance, instance_id in zip(instances, wanted, strict=True):
        assert isinstance(instance, Instance)
        np.testing.assert_array_equal(instance.mask, ids == instance_id)
        assert np.all(np.diff(instance.pixels) > 0)
