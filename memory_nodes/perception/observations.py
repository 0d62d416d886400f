"""RGB-D frame -> one 3D observation per visible object instance, plus a labelled cloud.

Per instance: back-project its valid depth pixels into the world, drop statistical outliers
(open3d's rule, computed with a k-d tree), and summarise the rest as centroid, axis-aligned box
and heading (from the points' main horizontal axis). Confidence starts from the backend's score
and is halved for instances cut by the image border or seen with few points, because their boxes
are then only part of the object.

Cost is bounded by the frame, not by the instances' sizes: only the pixels that are used are
back-projected (the instances' and the cloud's), and an instance with more valid pixels than
``max_instance_points`` is summarised from a regular pixel grid over it (a counter top of 50,000
pixels does not need 50,000 points for a centroid, a box and a heading). Two optional settings,
off by default: ``max_frame_points`` caps the points of a frame's instances together (the
observations of the largest instances then move within a tolerance), and ``cloud_cell_size``
keeps one cloud point per octree cell (the same map under the octree's discrete insert).
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import Box, ObjectObservation, Pose, Quaternion, Vector3
from memory_nodes.perception.backends import Instance, InstanceBackend, MaskBackend
from memory_nodes.perception.frames import RGBDFrame

#: Default bound on the points of one instance that go through the outlier filter and summary.
DEFAULT_MAX_INSTANCE_POINTS = 1000
#: Points back-projected per block (their temporaries fit in the cache).
_BACKPROJECT_BLOCK = 16384
#: Default bound on the points of all instances of one frame (see ObservationExtractor).
DEFAULT_MAX_FRAME_POINTS = 0


@dataclass
class ExtractionStats:
    """What happened to one frame's pixels and instances, and where its time went (seconds)."""

    pixels: int = 0
    invalid_depth: int = 0
    beyond_range: int = 0
    instances: int = 0
    too_few_points: int = 0
    subsampled: int = 0
    observations: int = 0
    detect_s: float = 0.0
    backproject_s: float = 0.0
    outlier_filter_s: float = 0.0
    summarise_s: float = 0.0

    @property
    def total_s(self) -> float:
        return self.detect_s + self.backproject_s + self.outlier_filter_s + self.summarise_s


@dataclass
class FrameObservations:
    """The result of one frame: observations for memory, a labelled cloud for the octree.

    ``cloud_labels`` indexes ``label_names`` (0 = unlabelled structure) and
    ``cloud_object_ids`` indexes ``object_keys`` (0 = none), per point, both int32.
    """

    observations: list[ObjectObservation]
    cloud_points: np.ndarray
    cloud_labels: np.ndarray
    cloud_object_ids: np.ndarray
    label_names: list[str] = field(default_factory=lambda: [""])
    object_keys: list[str] = field(default_factory=lambda: [""])
    stats: ExtractionStats = field(default_factory=ExtractionStats)


@lru_cache(maxsize=8)
def _pixel_offsets(width: int, height: int, cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    """Per flat pixel index: ``column - cx`` and ``row - cy``, shared by a camera's frames."""
    rows, cols = np.divmod(np.arange(width * height, dtype=np.int64), width)
    column_offsets, row_offsets = cols - cx, rows - cy
    column_offsets.flags.writeable = False
    row_offsets.flags.writeable = False
    return column_offsets, row_offsets


def valid_depth(frame: RGBDFrame, max_depth: float) -> tuple[np.ndarray, int]:
    """Per flat pixel: depth finite, positive and at most ``max_depth``; and the count of
    pixels without a return (0, NaN, inf or negative)."""
    depth = frame.depth.ravel()
    finite = np.isfinite(depth) & (depth > 0.0)
    return finite & (depth <= max_depth), int(depth.size - np.count_nonzero(finite))


def backproject_pixels(frame: RGBDFrame, pixels: np.ndarray) -> np.ndarray:
    """World points (N x 3, float64) of the given flat pixel indices (their depth must be valid)."""
    k = frame.intrinsics
    height, width = frame.depth.shape
    column_offsets, row_offsets = _pixel_offsets(width, height, float(k.cx), float(k.cy))
    depth = frame.depth.ravel()
    transform = np.asarray(frame.world_T_camera, dtype=np.float64)
    count = len(pixels)
    world = np.empty((count, 3), dtype=np.float64)
    # Block by block, with the same operations in the same order as one pass over all pixels
    # (the same bits): a block's temporaries stay in the cache, which takes a 150,000-point
    # cloud from about 15 to 4 ms; axis by axis, because a (N, 3) @ (3, 3) product through a
    # strided view of the 4x4 takes numpy's slow generic loop.
    block = min(count, _BACKPROJECT_BLOCK)
    z, x, y = np.empty(block), np.empty(block), np.empty(block)
    axis_sum, product = np.empty(block), np.empty(block)
    for start in range(0, count, _BACKPROJECT_BLOCK):
        end = min(count, start + _BACKPROJECT_BLOCK)
        size = end - start
        block_pixels = pixels[start:end]
        z_block, x_block, y_block = z[:size], x[:size], y[:size]
        z_block[:] = depth[block_pixels]  # float32 metres into float64
        np.take(column_offsets, block_pixels, out=x_block)
        x_block *= z_block
        x_block /= k.fx
        np.take(row_offsets, block_pixels, out=y_block)
        y_block *= z_block
        y_block /= k.fy
        total, term = axis_sum[:size], product[:size]
        for axis in range(3):
            row = transform[axis]
            np.multiply(x_block, row[0], out=total)
            np.multiply(y_block, row[1], out=term)
            total += term
            np.multiply(z_block, row[2], out=term)
            total += term
            total += row[3]
            world[start:end, axis] = total
    return world


def backproject(frame: RGBDFrame, max_depth: float) -> tuple[np.ndarray, np.ndarray, int]:
    """World points of every valid pixel, that pixel's flat index, and the count of invalid.

    A pixel is valid when its depth is finite, positive and at most ``max_depth``.
    """
    valid, invalid = valid_depth(frame, max_depth)
    flat = np.flatnonzero(valid)
    return backproject_pixels(frame, flat), flat, invalid


def cell_representatives(
    points: np.ndarray, instance_points: np.ndarray, cell_size: float
) -> np.ndarray:
    """One point per cube cell of ``cell_size`` (cells aligned at 0): ascending indices.

    A cell is represented by its first point that belongs to an instance
    (``instance_points``), else by its first point. The cells are those of the coordinates as
    a PointCloud2 carries them (float32), computed as the octree computes its keys
    (``floor(x * (1 / resolution))``). An octree that inserts one ray per cell to the cell's
    centre and takes a cell's label and object from its first labelled point (OctoMap's
    discrete insert, :meth:`SparseOctree.insert_point_cloud` with ``discretize``) at that
    resolution builds the same map from these points as from all of them.
    """
    if cell_size <= 0:
        raise InvalidInputError(f"cell_size must be > 0, got {cell_size}")
    count = len(points)
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    inverse = 1.0 / cell_size
    rounded = points.astype(np.float32)  # what the message carries
    keys = np.empty((3, count), dtype=np.int64)
    coordinate = np.empty(count)
    for axis in range(3):
        coordinate[:] = rounded[:, axis]
        coordinate *= inverse
        np.floor(coordinate, out=coordinate)
        keys[axis] = coordinate
    low = keys.min(axis=1)
    spans = keys.max(axis=1) - low + 1
    cell = keys[0] - low[0]
    for axis in (1, 2):
        cell *= spans[axis]
        cell += keys[axis]
        cell -= low[axis]
    # Lowest rank per cell: instance points rank by index, the others after every instance point.
    rank = np.arange(count, dtype=np.int64)
    rank += np.where(instance_points, 0, count)
    num_cells = int(spans[0] * spans[1] * spans[2])
    if num_cells <= 8 * count:
        best = np.full(num_cells, 2 * count, dtype=np.int64)
        np.minimum.at(best, cell, rank)
        chosen = best[best < 2 * count]
    else:  # a sparse spread of cells: group by sorting instead of a dense table
        order = np.lexsort((rank, cell))
        first = np.r_[True, cell[order][1:] != cell[order][:-1]]
        chosen = rank[order][first]
    chosen[chosen >= count] -= count
    chosen.sort()
    return chosen


def statistical_inliers(points: np.ndarray, neighbours: int, std_ratio: float) -> np.ndarray:
    """Which points open3d's ``remove_statistical_outlier`` keeps, as a boolean mask.

    Each point's score is its mean distance to its ``neighbours`` nearest points (itself
    included, at distance 0); a point is kept when its score is positive and below the mean
    score plus ``std_ratio`` sample standard deviations (scores of 0, duplicates only, are left
    out of the mean and deviation and the point is dropped, as open3d does). Clouds of at most
    ``neighbours`` points are kept whole. Sums run in point order, as open3d's do.
    """
    _check_filter_settings(neighbours, std_ratio)
    if len(points) <= neighbours:
        return np.ones(len(points), dtype=bool)
    return _inliers_from_scores(_tree_scores(points, points, neighbours), std_ratio)


def _check_filter_settings(neighbours: int, std_ratio: float) -> None:
    if neighbours < 1 or std_ratio <= 0:
        raise InvalidInputError("outlier neighbours must be >= 1 and std_ratio > 0")


def _tree_scores(points: np.ndarray, queries: np.ndarray, neighbours: int) -> np.ndarray:
    """Mean distance of each query point to its ``neighbours`` nearest ``points``."""
    distances, _ = cKDTree(points).query(queries, k=neighbours)
    return _scores_from_distances(distances.reshape(len(queries), neighbours))


def _scores_from_distances(distances: np.ndarray) -> np.ndarray:
    """Row means of ascending distances, summed one column at a time as open3d adds them."""
    scores = distances[:, 0].copy()
    for column in range(1, distances.shape[1]):
        scores += distances[:, column]
    return scores / distances.shape[1]


def grouped_statistical_inliers(
    points: np.ndarray, bounds: np.ndarray, neighbours: int, std_ratio: float
) -> np.ndarray:
    """:func:`statistical_inliers` of every group ``points[bounds[i]:bounds[i + 1]]``.

    A k-d tree per group: one tree over all groups (each in its own slab of a fourth
    coordinate) gives the same distances but costs more per query than the groups' own trees.
    """
    _check_filter_settings(neighbours, std_ratio)
    kept = np.ones(len(points), dtype=bool)
    for start, end in itertools.pairwise(bounds.tolist()):
        if end - start > neighbours:
            group = points[start:end]
            kept[start:end] = _inliers_from_scores(
                _tree_scores(group, group, neighbours), std_ratio
            )
    return kept


def _inliers_from_scores(scores: np.ndarray, std_ratio: float) -> np.ndarray:
    count = len(scores)
    positive = scores > 0.0
    mean = float(np.cumsum(np.where(positive, scores, 0.0))[-1]) / count
    deviations = np.where(positive, (scores - mean) * (scores - mean), 0.0)
    std = math.sqrt(float(np.cumsum(deviations)[-1]) / (count - 1))
    return positive & (scores < mean + std_ratio * std)


def subsample_pixels(pixels: np.ndarray, width: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` of an instance's flat pixel indices, spread over the instance.

    A regular grid (every ``a``-th row, every ``b``-th column, aligned to the instance's top
    left pixel) keeps the points' spacing even, so their statistics, centroid and extent stay
    those of the whole; a thin shape the grid would miss falls back to every n-th pixel.
    """
    count = len(pixels)
    if max_points <= 0 or count <= max_points:
        return pixels
    ratio = count / max_points
    row_step = math.ceil(math.sqrt(ratio))
    column_step = math.ceil(ratio / row_step)
    rows, columns = np.divmod(pixels, width)
    on_row = rows % row_step == rows[0] % row_step
    first_column = int(columns.min())
    # An irregular shape can put more pixels on the grid than its share: widen the columns a
    # few times, then take every n-th pixel (always within the bound).
    for widened_step in range(column_step, column_step + 4):
        sample = pixels[on_row & (columns % widened_step == first_column % widened_step)]
        if len(sample) <= max_points:
            if len(sample) >= count / (row_step * widened_step) / 2:
                return sample
            break  # a thin shape the grid misses
    return pixels[:: math.ceil(ratio)]


def _heading(points: np.ndarray) -> Quaternion:
    """Yaw of the points' main horizontal axis (PCA in x-y), as a z-rotation."""
    return _headings([points])[0]


def _headings(point_sets: list[np.ndarray]) -> list[Quaternion]:
    """:func:`_heading` of each point set, with one batched eigen-decomposition (LAPACK solves
    each 2x2 matrix of a batch as it solves it alone: the same bits, without a call each)."""
    covariances = np.zeros((len(point_sets), 2, 2))
    for index, points in enumerate(point_sets):
        if len(points) >= 3:
            xy = points[:, :2] - points[:, :2].mean(axis=0)
            covariances[index] = xy.T @ xy
    eigenvalues, eigenvectors = np.linalg.eigh(covariances)
    headings = []
    for index, points in enumerate(point_sets):
        if len(points) < 3 or eigenvalues[index, 1] <= 1.05 * eigenvalues[index, 0]:
            headings.append(Quaternion())  # round in plan view: no meaningful heading
            continue
        major = eigenvectors[index, :, 1]
        yaw = float(np.arctan2(major[1], major[0]))
        # An axis has no direction: keep the yaw in (-pi/2, pi/2] so it is stable across frames.
        if yaw > np.pi / 2:
            yaw -= np.pi
        elif yaw <= -np.pi / 2:
            yaw += np.pi
        headings.append(Quaternion.from_yaw(yaw))
    return headings


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
        Statistical outlier removal settings (open3d's ``nb_neighbors`` and ``std_ratio``).
    cloud_stride
        Keep every n-th valid pixel in the labelled cloud for the octree (1 keeps all).
    max_instance_points
        An instance with more valid pixels is summarised from a grid of at most this many
        (0 uses every pixel). ``num_points`` then estimates the inliers among all its pixels.
    cloud_cell_size
        When > 0, the labelled cloud keeps one point per cube cell of this size
        (:func:`cell_representatives`): with the octree's discrete insert at this resolution
        the map is the same, and the cloud about 15 times smaller (0: every point).
    max_frame_points
        Bound on the points of all instances of a frame together (0: none). When the instances'
        samples would exceed it, the largest ones are cut to a common size so that the sum fits
        (never below ``4 * outlier_neighbours``), which bounds the frame's cost whatever the
        number of objects in view; instances below that size keep theirs.
    """

    def __init__(
        self,
        backend: InstanceBackend | None = None,
        max_depth: float = 5.0,
        min_points: int = 20,
        outlier_neighbours: int = 16,
        outlier_std_ratio: float = 2.0,
        cloud_stride: int = 1,
        max_instance_points: int = DEFAULT_MAX_INSTANCE_POINTS,
        max_frame_points: int = DEFAULT_MAX_FRAME_POINTS,
        cloud_cell_size: float = 0.0,
    ) -> None:
        if max_depth <= 0 or min_points < 1 or cloud_stride < 1:
            raise InvalidInputError("max_depth must be > 0, min_points and cloud_stride >= 1")
        if outlier_neighbours < 1 or outlier_std_ratio <= 0:
            raise InvalidInputError("outlier_neighbours must be >= 1 and outlier_std_ratio > 0")
        if max_instance_points < 0 or 0 < max_instance_points <= outlier_neighbours:
            raise InvalidInputError(
                f"max_instance_points must be 0 (no bound) or > outlier_neighbours "
                f"({outlier_neighbours}), got {max_instance_points}"
            )
        if max_frame_points < 0:
            raise InvalidInputError(f"max_frame_points must be >= 0, got {max_frame_points}")
        if not (math.isfinite(cloud_cell_size) and cloud_cell_size >= 0):
            raise InvalidInputError(f"cloud_cell_size must be >= 0, got {cloud_cell_size}")
        self.backend = backend or MaskBackend()
        self.max_depth = max_depth
        self.min_points = min_points
        self.outlier_neighbours = outlier_neighbours
        self.outlier_std_ratio = outlier_std_ratio
        self.cloud_stride = cloud_stride
        self.max_instance_points = max_instance_points
        self.max_frame_points = max_frame_points
        self.cloud_cell_size = cloud_cell_size

    def instance_point_caps(self, valid_pixel_counts: list[int]) -> list[int]:
        """How many points each instance of a frame is summarised from, at most (0: all).

        Each is bounded by ``max_instance_points``; if the sum still exceeds
        ``max_frame_points``, the largest share one common cap (water-filling), at least
        ``4 * outlier_neighbours`` each.
        """
        counts = np.asarray(valid_pixel_counts, dtype=np.int64)
        if self.max_instance_points > 0:
            counts = np.minimum(counts, self.max_instance_points)
        budget = self.max_frame_points
        if budget <= 0 or int(counts.sum()) <= budget:
            return [self.max_instance_points] * len(counts)
        ascending = np.sort(counts)
        below = np.concatenate(([0], np.cumsum(ascending)))  # points of the i smallest
        cap = 0
        for whole in range(len(ascending)):
            # The ``whole`` smallest keep every point, the others share what is left.
            share = (budget - int(below[whole])) // (len(ascending) - whole)
            if share < ascending[whole]:
                cap = share
                break
        cap = max(cap, 4 * self.outlier_neighbours)
        return [int(cap) if count > cap else self.max_instance_points for count in counts]

    def extract(self, frame: RGBDFrame) -> FrameObservations:
        clock = time.perf_counter
        stats = ExtractionStats(pixels=int(frame.depth.size))
        started = clock()
        instances = self.backend.detect(frame)
        detected = clock()
        stats.detect_s = detected - started
        valid, stats.invalid_depth = valid_depth(frame, self.max_depth)
        valid_pixels = np.flatnonzero(valid)
        stats.beyond_range = stats.pixels - stats.invalid_depth - len(valid_pixels)
        # Per-pixel label and object numbers; the cloud reads them at its own pixels.
        label_image = np.zeros(frame.depth.size, dtype=np.int32)
        object_image = np.zeros(frame.depth.size, dtype=np.int32)
        label_names, object_keys = [""], [""]
        label_numbers = {"": 0}
        observations = []
        height, width = frame.depth.shape
        # The instances' numbers in the cloud, and the valid pixels each is summarised from.
        placed: list[tuple[Instance, np.ndarray]] = []
        for instance in instances:
            stats.instances += 1
            pixels = instance.pixels[valid[instance.pixels]]
            if len(pixels) < self.min_points:
                stats.too_few_points += 1
                continue
            label_number = label_numbers.setdefault(instance.object_type, len(label_names))
            if label_number == len(label_names):
                label_names.append(instance.object_type)
            label_image[pixels] = label_number
            object_keys.append(
                instance.instance_key or f"{instance.object_type}#{len(object_keys)}"
            )
            object_image[pixels] = len(object_keys) - 1
            placed.append((instance, pixels))
        # Every instance's sample is back-projected in one call and the filter runs over all of
        # them (a k-d tree each, see grouped_statistical_inliers).
        caps = self.instance_point_caps([len(pixels) for _, pixels in placed])
        samples = [
            subsample_pixels(pixels, width, cap)
            for (_, pixels), cap in zip(placed, caps, strict=True)
        ]
        stats.subsampled = sum(
            len(sample) < len(pixels) for sample, (_, pixels) in zip(samples, placed, strict=True)
        )
        bounds = np.zeros(len(samples) + 1, dtype=np.int64)
        np.cumsum([len(sample) for sample in samples], out=bounds[1:])
        sample_pixels = np.concatenate(samples) if samples else np.zeros(0, dtype=np.int64)
        points = backproject_pixels(frame, sample_pixels)
        filter_start = clock()
        stats.backproject_s += filter_start - detected
        kept = grouped_statistical_inliers(
            points, bounds, self.outlier_neighbours, self.outlier_std_ratio
        )
        summary_start = clock()
        stats.outlier_filter_s = summary_start - filter_start
        summarised: list[tuple[Instance, np.ndarray, int]] = []
        for index, (instance, pixels) in enumerate(placed):
            start, end = int(bounds[index]), int(bounds[index + 1])
            inliers = points[start:end][kept[start:end]]
            if len(inliers) == 0:
                stats.too_few_points += 1  # every point was a duplicate: nothing to place
                continue
            # The whole instance's inliers, estimated from the sample's share when subsampled.
            summarised.append((instance, inliers, len(inliers) * len(pixels) // (end - start)))
        headings = _headings([inliers for _, inliers, _ in summarised])
        for (instance, inliers, num_points), heading in zip(summarised, headings, strict=True):
            observations.append(
                self._observation(frame, instance, inliers, num_points, heading, height, width)
            )
        stats.summarise_s = clock() - summary_start
        cloud_start = clock()
        cloud_pixels = valid_pixels[:: self.cloud_stride]
        cloud_points = backproject_pixels(frame, cloud_pixels)
        if self.cloud_cell_size > 0:
            kept_points = cell_representatives(
                cloud_points, object_image[cloud_pixels] > 0, self.cloud_cell_size
            )
            cloud_pixels, cloud_points = cloud_pixels[kept_points], cloud_points[kept_points]
        cloud_labels = label_image[cloud_pixels]
        cloud_object_ids = object_image[cloud_pixels]
        stats.backproject_s += clock() - cloud_start
        stats.observations = len(observations)
        return FrameObservations(
            observations=observations,
            cloud_points=cloud_points,
            cloud_labels=cloud_labels,
            cloud_object_ids=cloud_object_ids,
            label_names=label_names,
            object_keys=object_keys,
            stats=stats,
        )

    def _observation(
        self,
        frame: RGBDFrame,
        instance: Instance,
        points: np.ndarray,
        num_points: int,
        heading: Quaternion,
        height: int,
        width: int,
    ) -> ObjectObservation:
        """Centroid, box, heading and confidence of one instance's inlier points."""
        pixels = instance.pixels
        first, last = int(pixels.min()), int(pixels.max())
        touches_border = first < width or last >= (height - 1) * width  # top or bottom row
        if not touches_border:
            columns = pixels % width
            touches_border = bool(columns.min() == 0 or columns.max() == width - 1)
        confidence = instance.score * (0.5 if touches_border else 1.0)
        confidence *= min(1.0, num_points / (4.0 * self.min_points))
        lo, hi = points.min(axis=0), points.max(axis=0)
        return ObjectObservation(
            object_id=instance.instance_key,
            object_type=instance.object_type,
            world_T_object=Pose(Vector3.from_array(points.mean(axis=0)), heading),
            box=Box.from_corners(lo, hi),
            stamp=frame.stamp,
            confidence=float(np.clip(confidence, 0.0, 1.0)),
            source=self.backend.name,
            source_frame_id=frame.frame_id,
            num_points=num_points,
        )
