"""A cloud cut to one point per octree cell builds the same map, under the octree's discrete
insert, as the whole cloud: the same cells, log-odds, labels, objects and confidences."""

from __future__ import annotations

import os

import numpy as np
import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.octree import SparseOctree
from memory_nodes.core.types import CameraIntrinsics
from memory_nodes.perception.frames import RGBDFrame
from memory_nodes.perception.observations import (
    FrameObservations,
    ObservationExtractor,
    cell_representatives,
)
from tests.perception.kitchen_walk import kitchen_walk_frames

os.environ.setdefault("MUJOCO_GL", "egl")
RESOLUTION = 0.05


def _reference_representatives(
    points: np.ndarray, instance_points: np.ndarray, size: float
) -> np.ndarray:
    """Per cell, in a plain loop: its first instance point, else its first point."""
    keys = np.floor(points.astype(np.float32).astype(np.float64) * (1.0 / size)).astype(np.int64)
    first: dict[tuple[int, ...], int] = {}
    first_instance: dict[tuple[int, ...], int] = {}
    for index, key in enumerate(map(tuple, keys.tolist())):
        first.setdefault(key, index)
        if instance_points[index]:
            first_instance.setdefault(key, index)
    return np.array(sorted(first_instance.get(key, index) for key, index in first.items()))


@pytest.mark.parametrize("seed", range(6))
def test_representatives_equal_a_plain_loop_over_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 4000))
    spread = float(rng.choice([0.3, 3.0, 400.0]))  # dense cells, a room, a sparse spread
    points = rng.uniform(-spread, spread, (count, 3))
    points[: count // 3] = np.round(points[: count // 3] / RESOLUTION) * RESOLUTION  # on faces
    instance_points = rng.random(count) < 0.4
    chosen = cell_representatives(points, instance_points, RESOLUTION)
    np.testing.assert_array_equal(
        chosen, _reference_representatives(points, instance_points, RESOLUTION)
    )
    assert cell_representatives(points[:0], instance_points[:0], RESOLUTION).shape == (0,)
    with pytest.raises(InvalidInputError):
        cell_representatives(points, instance_points, 0.0)
    with pytest.raises(InvalidInputError):
        ObservationExtractor(cloud_cell_size=-1.0)


def _octree_after(results: list[tuple[FrameObservations, np.ndarray]]) -> SparseOctree:
    """The octree node's discrete insert of each cloud, as it receives it (float32 x, y, z;
    frame label and object numbers mapped to the map's, 0 to -1)."""
    octree = SparseOctree(resolution=RESOLUTION, movable_labels=[1, 2])
    vocabulary: dict[str, int] = {}
    for stamp, (result, origin) in enumerate(results):
        label_table = np.array(
            [-1] + [vocabulary.setdefault(n, len(vocabulary)) for n in result.label_names[1:]]
        )
        object_table = octree.object_ids_of(result.object_keys)
        octree.insert_point_cloud(
            result.cloud_points.astype(np.float32).astype(np.float64),
            origin,
            5.0,
            labels=label_table[result.cloud_labels],
            object_ids=object_table[result.cloud_object_ids],
            stamp=100.0 + stamp,
            discretize=True,
        )
    return octree


def _assert_same_map(full: SparseOctree, cut: SparseOctree) -> None:
    keys, states = full.known_keys()
    cut_keys, cut_states = cut.known_keys()
    np.testing.assert_array_equal(cut_keys, keys)
    np.testing.assert_array_equal(cut_states, states)
    centres = full.centers_of(keys)
    np.testing.assert_array_equal(cut.logodds(centres), full.logodds(centres))
    for mine, theirs in zip(cut.semantics(centres), full.semantics(centres), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # Object ids are numbered in order of first use: the same names in both maps.
    assert [cut.object_name(i) for i in range(40)] == [full.object_name(i) for i in range(40)]


def _blob_frame(rng: np.random.Generator, pose: np.ndarray) -> RGBDFrame:
    width, height = 160, 120
    ids = np.zeros((height, width), np.int32)
    depth = np.full((height, width), 3.0, np.float32) + rng.normal(0, 0.02, (height, width))
    for number in range(1, 9):
        h, w = int(rng.integers(5, 40)), int(rng.integers(5, 50))
        top, left = int(rng.integers(0, height - h)), int(rng.integers(0, width - w))
        ids[top : top + h, left : left + w] = number
        depth[top : top + h, left : left + w] = rng.uniform(0.5, 4.0)
    return RGBDFrame(
        rgb=np.zeros((height, width, 3), np.uint8),
        depth=depth.astype(np.float32),
        intrinsics=CameraIntrinsics.from_fov(width, height, 60.0),
        world_T_camera=pose,
        stamp=1.0,
        instance_ids=ids,
        instance_labels={i: f"{('Mug', 'Apple', 'Bowl')[i % 3]}|{i}|0|0" for i in range(1, 9)},
    )


@pytest.mark.parametrize("seed", range(3))
def test_discrete_insert_of_cell_representatives_gives_the_same_map(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(4):
        pose = np.eye(4)
        pose[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
        pose[:3, 3] = rng.uniform(-0.3, 0.3, 3) + np.array([0.0, 0.0, 1.0])
        frames.append(_blob_frame(rng, pose))
    full_extractor = ObservationExtractor(cloud_stride=1)
    cut_extractor = ObservationExtractor(cloud_stride=1, cloud_cell_size=RESOLUTION)
    full, cut = [], []
    for frame in frames:
        whole, reduced = full_extractor.extract(frame), cut_extractor.extract(frame)
        assert len(reduced.cloud_points) < 0.75 * len(whole.cloud_points)
        assert reduced.observations == whole.observations
        full.append((whole, frame.camera_position))
        cut.append((reduced, frame.camera_position))
    _assert_same_map(_octree_after(full), _octree_after(cut))


@pytest.mark.slow
def test_on_kitchen_frames_the_map_from_cell_representatives_is_the_same() -> None:
    frames = kitchen_walk_frames(3)
    assert len(frames) >= 8
    full_extractor = ObservationExtractor(cloud_stride=2)
    cut_extractor = ObservationExtractor(cloud_stride=2, cloud_cell_size=RESOLUTION)
    full = [(full_extractor.extract(f), f.camera_position) for f in frames]
    cut = [(cut_extractor.extract(f), f.camera_position) for f in frames]
    assert sum(len(r.cloud_points) for r, _ in cut) < sum(len(r.cloud_points) for r, _ in full) / 5
    _assert_same_map(_octree_after(full), _octree_after(cut))
