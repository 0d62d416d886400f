"""RGB-D frame -> one 3D observation per visible object instance, plus a labelled cloud.

Per instance: back-project its valid depth pixels into the world, drop statistical outliers
(open3d), and summarise the rest as centroid, axis-aligned box and heading (from the oriented
box). Confidence starts from the backend's score and is halved for instances cut by the image
border or seen with few points, because their boxes are then only part of the object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import Box, ObjectObservation, Pose, Quaternion, Vector3
from memory_nodes.perception.backends import InstanceBackend, MaskBackend
from memory_nodes.perception.frames import RGBDFrame


@dataclass
class ExtractionStats:
    """What happened to one frame's pixels and instances."""

    pixels: int = 0
    invalid_depth: int = 0
    beyond_range: int = 0
    instances: int = 0
    too_few_points: int = 0
    observations: int = 0


@dataclass
class FrameObservations:
    """The result of one frame: observations for memory, a labelled cloud for the octree.

    ``cloud_labels`` indexes ``label_names`` (0 = unlabelled structure) and
    ``cloud_object_ids`` indexes ``object_keys`` (0 = none), per point.
    """

    observations: list[ObjectObservation]
    cloud_points: np.ndarray
    cloud_labels: np.ndarray
    cloud_object_ids: np.ndarray
    label_names: list[str] = field(default_factory=lambda: [""])
    object_keys: list[str] = field(default_factory=lambda: [""])
    stats: ExtractionStats = field(default_factory=ExtractionStats)


def backproject(frame: RGBDFrame, max_depth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World points of every valid pixel, that pixel's flat index, and the count of invalid.

    A pixel is valid when its depth is finite, positive and at most ``max_depth``.
    """
    depth = frame.depth
    finite = np.isfinite(depth) & (depth > 0.0)
    valid = finite & (depth <= max_depth)
    flat = np.flatnonzero(valid)
    rows, cols = np.divmod(flat, depth.shape[1])
    z = depth.ravel()[flat].astype(np.float64)
    k = frame.intrinsics
    camera_points = np.column_stack(((cols - k.cx) * z / k.fx, (rows - k.cy) * z / k.fy, z))
    transform = np.asarray(frame.world_T_camera, dtype=np.float64)
    world = camera_points @ transform[:3, :3].T + transform[:3, 3]
    return world, flat, int(depth.size - finite.sum())


def _remove_outliers(points: np.ndarray, neighbours: int, std_ratio: float) -> np.ndarray:
    if len(points) <= neighbours:
        return points
    import open3d as o3d  # heavy import, only when there is work

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    _, kept = cloud.remove_statistical_outlier(nb_neighbors=neighbours, std_ratio=std_ratio)
    return points[np.asarray(kept, dtype=np.int64)]


def _heading(points: np.ndarray) -> Quaternion:
    """Yaw of the points' main horizontal axis (PCA in x-y), as a z-rotation."""
    xy = points[:, :2] - points[:, :2].mean(axis=0)
    if len(xy) < 3:
        return Quaternion()
    covariance = xy.T @ xy
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    if eigenvalues[1] <= 1.05 * eigenvalues[0]:
        return Quaternion()  # round in plan view: no meaningful heading
    major = eigenvectors[:, 1]
    yaw = float(np.arctan2(major[1], major[0]))
    # An axis has no direction: keep the yaw in (-pi/2, pi/2] so it is stable across frames.
    if yaw > np.pi / 2:
        yaw -= np.pi
    elif yaw <= -np.pi / 2:
        yaw += np.pi
    return Quaternion.from_yaw(yaw)


class ObservationExtractor:
    """Turns frames into observations with one backend (masks by default).

    Parameters
    ----------
    backend
        Where instance masks come from.
    max_depth
        Depth beyond this (metres) is ignored: far, noisy returns make poor boxes.
    min_points
        Instances with fewer valid points are skipped (counted in the stats).
    outlier_neighbours, outlier_std_ratio
        open3d statistical outlier removal settings.
    cloud_stride
        Keep every n-th valid pixel in the labelled cloud for the octree (1 keeps all).
    """

    def __init__(
        self,
        backend: InstanceBackend | None = None,
        max_depth: float = 5.0,
        min_points: int = 20,
        outlier_neighbours: int = 16,
        outlier_std_ratio: float = 2.0,
        cloud_stride: int = 1,
    ) -> None:
        if max_depth <= 0 or min_points < 1 or cloud_stride < 1:
            raise InvalidInputError("max_depth must be > 0, min_points and cloud_stride >= 1")
        self.backend = backend or MaskBackend()
        self.max_depth = max_depth
        self.min_points = min_points
        self.outlier_neighbours = outlier_neighbours
        self.outlier_std_ratio = outlier_std_ratio
        self.cloud_stride = cloud_stride

    def extract(self, frame: RGBDFrame) -> FrameObservations:
        stats = ExtractionStats(pixels=int(frame.depth.size))
        world, flat, invalid = backproject(frame, self.max_depth)
        stats.invalid_depth = invalid
        stats.beyond_range = stats.pixels - invalid - len(flat)
        pixel_to_point = np.full(frame.depth.size, -1, dtype=np.int64)
        pixel_to_point[flat] = np.arange(len(flat))
        labels = np.zeros(len(flat), dtype=np.int32)
        object_ids = np.zeros(len(flat), dtype=np.int32)
        label_names, object_keys = [""], [""]
        observations = []
        height, width = frame.depth.shape
        for instance in self.backend.detect(frame):
            stats.instances += 1
            indices = pixel_to_point[np.flatnonzero(instance.mask)]
            indices = indices[indices >= 0]
            if len(indices) < self.min_points:
                stats.too_few_points += 1
                continue
            if instance.object_type not in label_names:
                label_names.append(instance.object_type)
            labels[indices] = label_names.index(instance.object_type)
            object_keys.append(
                instance.instance_key or f"{instance.object_type}#{len(object_keys)}"
            )
            object_ids[indices] = len(object_keys) - 1
            points = _remove_outliers(
                world[indices], self.outlier_neighbours, self.outlier_std_ratio
            )
            rows, cols = np.nonzero(instance.mask)
            touches_border = rows.min() == 0 or cols.min() == 0
            touches_border |= rows.max() == height - 1 or cols.max() == width - 1
            confidence = instance.score * (0.5 if touches_border else 1.0)
            confidence *= min(1.0, len(points) / (4.0 * self.min_points))
            lo, hi = points.min(axis=0), points.max(axis=0)
            observations.append(
                ObjectObservation(
                    object_id=instance.instance_key,
                    object_type=instance.object_type,
                    world_T_object=Pose(Vector3.from_array(points.mean(axis=0)), _heading(points)),
                    box=Box.from_corners(lo, hi),
                    stamp=frame.stamp,
                    confidence=float(np.clip(confidence, 0.0, 1.0)),
                    source=self.backend.name,
                    source_frame_id=frame.frame_id,
                    num_points=len(points),
                )
            )
        stats.observations = len(observations)
        keep = slice(None, None, self.cloud_stride)
        return FrameObservations(
            observations=observations,
            cloud_points=world[keep],
            cloud_labels=labels[keep],
            cloud_object_ids=object_ids[keep],
            label_names=label_names,
            object_keys=object_keys,
            stats=stats,
        )
