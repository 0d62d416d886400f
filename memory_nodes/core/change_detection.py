"""Change detection with negative evidence: what memory expected to see here and did not.

A memory that only adds is a memory of stale answers. For every frame we ask which remembered
objects the camera should have seen: the object's box lies in the frustum, within range, is
big enough in the image to be detected, and is not occluded (the depth image does not show
something nearer along the rays to the object's sample points). An expected object that the
frame's observations did not match is a *miss*: its confidence drops by the sensor model's
miss probability, and after enough consecutive misses it is marked missing (moved or removed)
in the graph, which records the change. Furniture forgets slowly, mugs quickly; the rates come
from :mod:`memory_nodes.core.object_taxonomy` and can be overridden.

Objects inside a closed container are never expected to be visible, whatever the depth image
says: the fridge door hides the milk.

Conventions: ``world_T_camera`` is the pose of the camera's *optical* frame (x right, y down,
z forward, as ROS ``*_optical_frame``), and ``depth`` holds metres along the optical axis, with
0 or non-finite values where the sensor had no return.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from operator import attrgetter

import numpy as np

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.object_taxonomy import DecayRates, Mobility, decay_rates
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph, SceneNode
from memory_nodes.core.types import CameraIntrinsics, Pose, Vector3

# Sample points of a box: its centre and its corners pulled halfway in (real corners often
# poke past the silhouette, which would call the object occluded by its own neighbours).
_HALF_IN = (-0.25, 0.25)
_SAMPLE_OFFSETS = np.array(
    [[0.0, 0.0, 0.0]] + [[x, y, z] for x in _HALF_IN for y in _HALF_IN for z in _HALF_IN]
)


class Visibility(StrEnum):
    VISIBLE = "visible"
    OUT_OF_VIEW = "out_of_view"
    OCCLUDED = "occluded"
    TOO_SMALL = "too_small"
    ENCLOSED = "enclosed"
    NO_DEPTH = "no_depth"


@dataclass(frozen=True, slots=True)
class CameraView:
    """One depth frame and where it was taken from."""

    intrinsics: CameraIntrinsics
    world_T_camera: Pose
    depth: np.ndarray
    stamp: float

    def __post_init__(self) -> None:
        depth = np.asarray(self.depth)
        expected = (self.intrinsics.height, self.intrinsics.width)
        if depth.shape != expected:
            raise InvalidInputError(f"depth image must be {expected}, got {depth.shape}")


@dataclass(frozen=True, slots=True)
class ChangeDetectionConfig:
    """Visibility test and decay parameters.

    Attributes
    ----------
    min_range, max_range
        Depth band in metres within which a detector is expected to see an object.
    occlusion_margin
        A sample point counts as seen when the depth image there is no nearer than this
        (metres) in front of the box's nearest corner; absorbs depth noise.
    min_pixel_extent
        Objects whose largest extent projects to fewer pixels are too small to expect.
    visible_fraction
        Share of the in-view sample points with depth that must be unoccluded.
    depth_window
        Half-size in pixels of the window whose median depth is compared.
    rates
        Per-mobility overrides of the taxonomy's decay rates.
    """

    min_range: float = 0.2
    max_range: float = 5.0
    occlusion_margin: float = 0.1
    min_pixel_extent: float = 8.0
    visible_fraction: float = 0.5
    depth_window: int = 2
    rates: dict[Mobility, DecayRates] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.min_range < self.max_range:
            raise InvalidInputError("need 0 < min_range < max_range")
        if not 0 < self.visible_fraction <= 1 or self.depth_window < 0:
            raise InvalidInputError("visible_fraction in (0, 1], depth_window >= 0")


@dataclass(slots=True)
class ChangeReport:
    """What negative evidence one frame produced."""

    visibility: dict[str, Visibility] = field(default_factory=dict)
    """Present nodes within reach of the camera; every node not listed is out of view."""
    missed: list[str] = field(default_factory=list)
    """Expected, not observed: confidence lowered."""
    marked_missing: list[str] = field(default_factory=list)
    """Missed often enough to be marked missing in this frame."""

    @property
    def expected(self) -> list[str]:
        return sorted(n for n, v in self.visibility.items() if v == Visibility.VISIBLE)


def expected_visibility(
    graph: SceneGraph, view: CameraView, config: ChangeDetectionConfig | None = None
) -> dict[str, Visibility]:
    """For each present object and furniture node, whether ``view`` should have seen it."""
    config = config or ChangeDetectionConfig()
    nodes = [
        n
        for layer in (Layer.FURNITURE, Layer.OBJECT)
        for n in graph.nodes(layer)
        if n.status == NodeStatus.PRESENT
    ]
    return _visibility_of(graph, nodes, view, config)


def visibility_in_range(
    graph: SceneGraph, view: CameraView, config: ChangeDetectionConfig | None = None
) -> dict[str, Visibility]:
    """:func:`expected_visibility` of the present nodes the view could reach, found in the
    graph's spatial index; every node left out is out of view.

    A node that is not out of view has a sample point in the frustum no deeper than
    ``max_range``: inside the pyramid of the camera and its four far corners, so inside that
    pyramid's bounding box. Its box centre lies within half the box's diagonal of the sample
    point and its position within the graph's largest centre offset of that. The cost is the
    nodes in that region, not the size of the map.
    """
    config = config or ChangeDetectionConfig()
    k = view.intrinsics
    world_T_camera = view.world_T_camera.as_matrix()
    far = config.max_range
    apex_and_corners = [(0.0, 0.0, 0.0)] + [
        ((u - k.cx) / k.fx * far, (v - k.cy) / k.fy * far, far)
        for u in (0.0, float(k.width))
        for v in (0.0, float(k.height))
    ]
    points = np.array(apex_and_corners) @ world_T_camera[:3, :3].T + world_T_camera[:3, 3]
    margin = graph.max_extent() * math.sqrt(3.0) / 2.0 + graph.max_centre_offset()
    margin = margin * (1.0 + 1e-9) + 1e-6
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    if not (k.fx > 0 and k.fy > 0 and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        return expected_visibility(graph, view, config)
    present = NodeStatus.PRESENT
    region = graph.nodes_in_box(Vector3(*lo.tolist()), Vector3(*hi.tolist()))
    nodes = [n for n in region if n.status == present]
    nodes.sort(key=attrgetter("node_id"))  # a fixed order (the index's is a set's)
    return _visibility_of(graph, nodes, view, config)


def _visibility_of(
    graph: SceneGraph, nodes: list[SceneNode], view: CameraView, config: ChangeDetectionConfig
) -> dict[str, Visibility]:
    result: dict[str, Visibility] = {}
    if not nodes:
        return result
    k = view.intrinsics
    # As it came (float32 from a sensor): only the sampled windows are widened to float64,
    # not the whole image (2.4 MB at 640x480, every frame).
    depth = np.asarray(view.depth)
    camera_T_world = np.linalg.inv(view.world_T_camera.as_matrix())
    # From tuples: an array per node (Vector3.as_array) cost most of a frame's detection.
    boxes = np.array(
        [(c.x, c.y, c.z, s.x, s.y, s.z) for c, s in ((n.box.center, n.box.size) for n in nodes)]
    )
    all_centers, all_sizes = boxes[:, :3], boxes[:, 3:]
    # Boxes none of whose sample points can be in the frustum are out of view; only the rest
    # are sampled. A sample lies within a quarter of the box diagonal of the centre, and one
    # in view has min_range <= z <= max_range and |x|, |y| within z times the image's spread.
    rotation, translation = camera_T_world[:3, :3], camera_T_world[:3, 3]
    centre_cam = all_centers @ rotation.T + translation
    reach = 0.25 * np.sqrt((all_sizes**2).sum(axis=1)) * (1.0 + 1e-9) + 1e-9
    spread_x = max(abs(k.cx), abs(k.width - k.cx)) / k.fx * (1.0 + 1e-9)
    spread_y = max(abs(k.cy), abs(k.height - k.cy)) / k.fy * (1.0 + 1e-9)
    depth_c = centre_cam[:, 2]
    ahead = depth_c + reach
    near_frustum = (
        (depth_c >= config.min_range - reach)
        & (depth_c <= config.max_range + reach)
        & (np.abs(centre_cam[:, 0]) <= ahead * spread_x + reach)
        & (np.abs(centre_cam[:, 1]) <= ahead * spread_y + reach)
    )
    kept = np.flatnonzero(near_frustum)
    if kept.size == 0:
        return dict.fromkeys((n.node_id for n in nodes), Visibility.OUT_OF_VIEW)
    centers, sizes = all_centers[kept], all_sizes[kept]
    points = centers[:, None, :] + sizes[:, None, :] * _SAMPLE_OFFSETS[None, :, :]  # N x S x 3
    cam = points @ camera_T_world[:3, :3].T + camera_T_world[:3, 3]
    z = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.where(z > 0, k.fx * cam[..., 0] / z + k.cx, -1.0)
        v = np.where(z > 0, k.fy * cam[..., 1] / z + k.cy, -1.0)
    in_view = (
        (z >= config.min_range)
        & (z <= config.max_range)
        & (u >= 0)
        & (u < k.width)
        & (v >= 0)
        & (v < k.height)
    )
    measured = _window_median(depth, u, v, in_view, config.depth_window)
    has_depth = in_view & np.isfinite(measured)
    # Nothing may be nearer than the box's own nearest corner: compare against that, not the
    # sample point, or a solid box would hide its own interior samples.
    corners = centers[:, None, :] + sizes[:, None, :] * (2.0 * _SAMPLE_OFFSETS[None, 1:, :])
    nearest = (corners @ camera_T_world[:3, :3].T + camera_T_world[:3, 3])[..., 2].min(axis=1)
    unoccluded = has_depth & (measured >= nearest[:, None] - config.occlusion_margin)
    # Most of the box outside the frustum: out of view, the first test of _classify, made
    # here for all nodes at once (most of those near the camera are behind or beside it).
    outside = (in_view.sum(axis=1) * 2 <= in_view.shape[1]).tolist()
    # Per box, as plain numbers for the tests below (computed for all boxes at once: four
    # reductions per box cost more than the whole projection).
    largest = sizes.max(axis=1).tolist()
    centre_depth = z[:, 0].tolist()
    with_depth = has_depth.sum(axis=1).tolist()
    clear = unoccluded.sum(axis=1).tolist()
    row_of = dict(zip(kept.tolist(), range(kept.size), strict=True))
    for index, node in enumerate(nodes):
        i = row_of.get(index)
        if i is None or outside[i]:  # most of the box is outside the frustum
            result[node.node_id] = Visibility.OUT_OF_VIEW
        elif _enclosed(graph, node):
            result[node.node_id] = Visibility.ENCLOSED
        elif largest[i] * k.fx / max(centre_depth[i], 1e-6) < config.min_pixel_extent:
            result[node.node_id] = Visibility.TOO_SMALL
        elif with_depth[i] == 0:
            result[node.node_id] = Visibility.NO_DEPTH
        elif clear[i] < config.visible_fraction * with_depth[i]:
            result[node.node_id] = Visibility.OCCLUDED
        else:
            result[node.node_id] = Visibility.VISIBLE
    return result


def _enclosed(graph: SceneGraph, node: SceneNode) -> bool:
    """Inside a container that memory believes closed."""
    location = graph.find_location(node.node_id)
    if location is None or location[1] != EdgeType.INSIDE:
        return False
    parent = graph.get_node(location[0])
    return parent.states.get("isOpen", "").lower() == "false"


def _window_median(
    depth: np.ndarray, u: np.ndarray, v: np.ndarray, mask: np.ndarray, half: int
) -> np.ndarray:
    """Median valid depth in a (2*half+1)^2 window around each masked pixel; NaN elsewhere."""
    out = np.full(u.shape, np.nan)
    if not mask.any():
        return out
    h, w = depth.shape
    offsets = np.arange(-half, half + 1)
    cols = np.clip(u[mask].astype(int)[:, None, None] + offsets[None, None, :], 0, w - 1)
    rows = np.clip(v[mask].astype(int)[:, None, None] + offsets[None, :, None], 0, h - 1)
    window = depth[rows, cols].reshape(rows.shape[0], -1).astype(np.float64)
    # The median of the valid values of each row, as np.nanmedian computes it (the middle
    # value, or the mean of the two middle ones), from one sort with the invalid values last:
    # nanmedian's masked arrays cost most of a frame's change detection.
    valid = np.isfinite(window) & (window > 0)
    window[~valid] = np.inf
    window.sort(axis=1)
    count = valid.sum(axis=1)
    rows_index = np.arange(window.shape[0])
    low = window[rows_index, np.maximum(count - 1, 0) // 2]
    high = window[rows_index, count // 2]
    with np.errstate(invalid="ignore"):
        medians = np.where(count > 0, (low + high) / 2.0, np.nan)
    out[mask] = medians
    return out


class ChangeDetector:
    """Applies one frame's negative evidence to the graph.

    Call :meth:`process_frame` after :meth:`ObjectFusion.integrate_frame` on the same frame,
    passing the node ids fusion matched (``FusionResult.observed``).
    """

    def __init__(self, graph: SceneGraph, config: ChangeDetectionConfig | None = None) -> None:
        self.graph = graph
        self.config = config or ChangeDetectionConfig()

    def process_frame(self, view: CameraView, observed: Iterable[str]) -> ChangeReport:
        observed_ids = set(observed)
        report = ChangeReport(visibility=visibility_in_range(self.graph, view, self.config))
        for node_id, visibility in sorted(report.visibility.items()):
            if visibility != Visibility.VISIBLE or node_id in observed_ids:
                continue
            node = self.graph.get_node(node_id)
            rates = decay_rates(node.node_type, self.config.rates)
            report.missed.append(node_id)
            if self.graph.record_miss(
                node_id, view.stamp, rates.miss_probability, rates.misses_to_missing
            ):
                report.marked_missing.append(node_id)
        return report
