"""The statistical outlier filter keeps what open3d keeps; the instance subsample stays bounded
and spread over the instance."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.perception.observations import statistical_inliers, subsample_pixels


def _cloud_with_outliers(seed: int, count: int = 600, outliers: int = 25) -> np.ndarray:
    """A noisy surface patch (a depth camera's view of a box side) plus scattered far points."""
    rng = np.random.default_rng(seed)
    surface = np.column_stack(
        (
            rng.uniform(0.0, 0.4, count),
            rng.uniform(0.0, 0.3, count),
            1.0 + 0.003 * rng.standard_normal(count),
        )
    )
    scattered = rng.uniform(-0.5, 0.9, (outliers, 3))
    cloud = np.vstack([surface, scattered])
    return cloud[rng.permutation(len(cloud))]


def _reference_inliers(points: np.ndarray, neighbours: int, std_ratio: float) -> np.ndarray:
    """open3d's rule written out with a full distance matrix (no tree, no tricks)."""
    if len(points) <= neighbours:
        return np.ones(len(points), dtype=bool)
    distances = np.sqrt(((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=2))
    nearest = np.sort(distances, axis=1)[:, :neighbours]  # itself first, at distance 0
    scores = nearest.mean(axis=1)
    positive = scores > 0
    mean = scores[positive].sum() / len(points)
    std = np.sqrt(((scores[positive] - mean) ** 2).sum() / (len(points) - 1))
    return positive & (scores < mean + std_ratio * std)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("neighbours", "std_ratio"), [(16, 2.0), (8, 1.0), (30, 3.0)])
def test_kept_set_equals_open3d_remove_statistical_outlier(
    seed: int, neighbours: int, std_ratio: float
) -> None:
    o3d = pytest.importorskip("open3d")
    points = _cloud_with_outliers(seed)
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    _, kept = cloud.remove_statistical_outlier(nb_neighbors=neighbours, std_ratio=std_ratio)
    expected = np.zeros(len(points), dtype=bool)
    expected[np.asarray(kept, dtype=np.int64)] = True
    assert expected.sum() < len(points)  # the scattered points do get dropped
    np.testing.assert_array_equal(statistical_inliers(points, neighbours, std_ratio), expected)


@pytest.mark.parametrize("seed", range(10))
def test_kept_set_equals_the_rule_computed_from_all_pairwise_distances(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    points = _cloud_with_outliers(seed, count=int(rng.integers(20, 400)), outliers=8)
    neighbours = int(rng.integers(2, 20))
    std_ratio = float(rng.uniform(0.5, 3.0))
    np.testing.assert_array_equal(
        statistical_inliers(points, neighbours, std_ratio),
        _reference_inliers(points, neighbours, std_ratio),
    )


def test_duplicates_only_neighbourhoods_are_dropped_as_open3d_drops_them() -> None:
    points = _cloud_with_outliers(3, count=200, outliers=0)
    points = np.vstack([points, np.repeat(points[:1] + 5.0, 20, axis=0)])
    kept = statistical_inliers(points, 16, 2.0)
    assert not kept[-20:].any()
    np.testing.assert_array_equal(kept, _reference_inliers(points, 16, 2.0))
    o3d = pytest.importorskip("open3d")
    _, expected = o3d.geometry.PointCloud(
        o3d.utility.Vector3dVector(points)
    ).remove_statistical_outlier(nb_neighbors=16, std_ratio=2.0)
    np.testing.assert_array_equal(np.flatnonzero(kept), np.asarray(expected))


def test_clouds_no_larger_than_the_neighbourhood_are_kept_whole_and_bad_settings_refused() -> None:
    points = _cloud_with_outliers(1, count=10, outliers=6)
    assert statistical_inliers(points, 16, 2.0).all()
    assert statistical_inliers(points[:0], 16, 2.0).shape == (0,)
    with pytest.raises(InvalidInputError):
        statistical_inliers(points, 0, 2.0)
    with pytest.raises(InvalidInputError):
        statistical_inliers(points, 16, 0.0)


def _blob_pixels(width: int, height: int, seed: int) -> np.ndarray:
    """Flat indices of a random ellipse in a width x height image."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    ry, rx = rng.uniform(0.1, 0.3) * height, rng.uniform(0.1, 0.3) * width
    inside = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1.0
    return np.flatnonzero(inside)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("max_points", [50, 400, 1000])
def test_subsample_is_a_bounded_grid_subset_spanning_the_instance(
    seed: int, max_points: int
) -> None:
    width, height = 640, 480
    pixels = _blob_pixels(width, height, seed)
    sample = subsample_pixels(pixels, width, max_points)
    assert len(sample) <= max_points
    assert len(sample) >= min(len(pixels), max_points) // 4
    assert np.isin(sample, pixels).all() and np.all(np.diff(sample) > 0)
    # The grid reaches every side of the instance to within its own spacing.
    rows, cols = np.divmod(pixels, width)
    sample_rows, sample_cols = np.divmod(sample, width)
    step = int(np.ceil(np.sqrt(len(pixels) / max_points))) + 1
    assert sample_rows.min() - rows.min() <= step and rows.max() - sample_rows.max() <= step
    assert sample_cols.min() - cols.min() <= step and cols.max() - sample_cols.max() <= step


def test_subsample_keeps_small_instances_whole_and_samples_thin_ones() -> None:
    width = 640
    pixels = np.arange(100, 400)
    assert subsample_pixels(pixels, width, 1000) is pixels
    assert subsample_pixels(pixels, width, 0) is pixels
    line = 7 * width + np.arange(0, 600)  # one row: a grid on other rows would miss it
    assert 50 <= len(subsample_pixels(line, width, 100)) <= 100
    column = np.arange(0, 480) * width + 13  # one column
    assert 40 <= len(subsample_pixels(column, width, 100)) <= 100
