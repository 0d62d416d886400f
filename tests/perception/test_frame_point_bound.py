"""Per-frame work of perception: block-wise back-projection gives the bits of one pass, the
grouped outlier filter keeps each group's own kept set, and the optional per-frame point bound
cuts only the largest instances, to one common size."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import CameraIntrinsics
from memory_nodes.perception.frames import RGBDFrame
from memory_nodes.perception.observations import (
    ObservationExtractor,
    backproject_pixels,
    grouped_statistical_inliers,
    statistical_inliers,
)


def _random_pose(rng: np.random.Generator) -> np.ndarray:
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    transform = np.eye(4)
    transform[:3, :3] = rotation * np.sign(np.linalg.det(rotation))
    transform[:3, 3] = rng.uniform(-20.0, 20.0, 3)
    return transform


def _frame(rng: np.random.Generator, width: int, height: int, ids: np.ndarray) -> RGBDFrame:
    depth = rng.uniform(0.3, 6.0, (height, width)).astype(np.float32)
    labels = {int(i): f"Mug|{i}|0|0" for i in np.unique(ids) if i != 0}
    return RGBDFrame(
        rgb=np.zeros((height, width, 3), np.uint8),
        depth=depth,
        intrinsics=CameraIntrinsics(width, height, 300.0 + rng.uniform(0, 50), 310.0, 151.3, 99.7),
        world_T_camera=_random_pose(rng),
        stamp=1.0,
        instance_ids=ids,
        instance_labels=labels,
    )


def _one_pass_backprojection(frame: RGBDFrame, pixels: np.ndarray) -> np.ndarray:
    """The previous back-projection: every pixel in one pass, axis by axis."""
    k = frame.intrinsics
    rows, columns = np.divmod(pixels, frame.depth.shape[1])
    z = frame.depth.ravel()[pixels].astype(np.float64)
    x = (columns - k.cx) * z / k.fx
    y = (rows - k.cy) * z / k.fy
    transform = np.asarray(frame.world_T_camera, dtype=np.float64)
    return np.column_stack([x * r[0] + y * r[1] + z * r[2] + r[3] for r in transform[:3]])


@pytest.mark.parametrize("seed", range(4))
def test_blockwise_backprojection_has_the_bits_of_one_pass(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width, height = 320, 240
    frame = _frame(rng, width, height, np.zeros((height, width), np.int32))
    for count in (0, 1, 999, 16_384, 16_385, 70_000):
        pixels = np.sort(rng.choice(width * height, size=count, replace=False))
        world = backproject_pixels(frame, pixels)
        assert world.shape == (count, 3) and world.flags.c_contiguous
        np.testing.assert_array_equal(world, _one_pass_backprojection(frame, pixels))


@pytest.mark.parametrize("seed", range(8))
def test_grouped_filter_keeps_each_groups_own_kept_set(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 400, size=int(rng.integers(1, 12)))
    sizes[0] = 16  # a group no larger than the neighbourhood is kept whole
    groups = [
        np.vstack([rng.normal(rng.uniform(-3, 3, 3), 0.05, (n, 3)), rng.uniform(-4, 4, (2, 3))])
        for n in sizes
    ]
    points = np.vstack(groups)
    bounds = np.concatenate(([0], np.cumsum([len(g) for g in groups])))
    kept = grouped_statistical_inliers(points, bounds, 16, 2.0)
    expected = np.concatenate([statistical_inliers(g, 16, 2.0) for g in groups])
    np.testing.assert_array_equal(kept, expected)
    with pytest.raises(InvalidInputError):
        grouped_statistical_inliers(points, bounds, 0, 2.0)


def _caps_reference(counts: list[int], per_instance: int, budget: int, floor: int) -> list[int]:
    """The largest common cap whose sum fits, found by trying every cap."""
    bounded = [min(c, per_instance) if per_instance else c for c in counts]
    if not budget or sum(bounded) <= budget:
        return [per_instance] * len(counts)
    cap = max(
        [c for c in range(max(bounded) + 1) if sum(min(b, c) for b in bounded) <= budget] + [0]
    )
    cap = max(cap, floor)
    return [cap if b > cap else per_instance for b in bounded]


@pytest.mark.parametrize("seed", range(30))
def test_frame_point_bound_is_the_largest_common_cap_that_fits(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = rng.integers(20, 3000, size=int(rng.integers(1, 40))).tolist()
    per_instance = int(rng.choice([0, 400, 1000]))
    budget = int(rng.choice([0, 500, 3000, 8000]))
    extractor = ObservationExtractor(max_instance_points=per_instance, max_frame_points=budget)
    caps = extractor.instance_point_caps(counts)
    assert caps == _caps_reference(counts, per_instance, budget, 4 * 16)
    sampled = [min(c, cap) if cap else c for c, cap in zip(counts, caps, strict=True)]
    if budget and len(counts) * 4 * 16 <= budget:
        assert sum(sampled) <= budget


def _blob_ids(rng: np.random.Generator, width: int, height: int, count: int) -> np.ndarray:
    """``count`` rectangles of random sizes (ids 1..count; later ones cover earlier ones)."""
    ids = np.zeros((height, width), np.int32)
    for number in range(1, count + 1):
        h, w = int(rng.integers(4, height // 2)), int(rng.integers(4, width // 2))
        top, left = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        ids[top : top + h, left : left + w] = number
    return ids


@pytest.mark.parametrize("seed", range(5))
def test_frame_point_bound_changes_only_the_instances_it_cuts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width, height = 160, 120
    frame = _frame(rng, width, height, _blob_ids(rng, width, height, 14))
    unbounded = ObservationExtractor(max_instance_points=400).extract(frame)
    extractor = ObservationExtractor(max_instance_points=400, max_frame_points=1500)
    bounded = extractor.extract(frame)
    assert [o.object_id for o in bounded.observations] == [
        o.object_id for o in unbounded.observations
    ]
    # The cloud for the octree does not depend on the bound.
    np.testing.assert_array_equal(bounded.cloud_points, unbounded.cloud_points)
    np.testing.assert_array_equal(bounded.cloud_object_ids, unbounded.cloud_object_ids)
    valid = frame.depth.ravel() <= extractor.max_depth
    counts = [
        int(np.count_nonzero(valid[frame.instance_ids.ravel() == i]))
        for i in sorted(set(np.unique(frame.instance_ids).tolist()) - {0})
    ]
    counts = [c for c in counts if c >= extractor.min_points]
    caps = extractor.instance_point_caps(counts)
    assert len(caps) == len(bounded.observations)
    cut = 0
    for before, after, count, cap in zip(
        unbounded.observations, bounded.observations, counts, caps, strict=True
    ):
        if cap == extractor.max_instance_points:  # not cut: the same observation
            assert after == before
        else:
            cut += 1
            assert 0 < cap < min(count, 400)
            assert math.dist(
                after.world_T_object.position.as_array(), before.world_T_object.position.as_array()
            ) < max(before.box.size.as_array())
    assert bounded.stats.subsampled >= unbounded.stats.subsampled
    assert cut == sum(cap != extractor.max_instance_points for cap in caps)


def test_frame_point_bound_is_refused_when_negative() -> None:
    with pytest.raises(InvalidInputError):
        ObservationExtractor(max_frame_points=-1)
