"""ROS adapter of the sparse occupancy octree (:mod:`memory_nodes.core.octree`).

Subscribes (names are parameters)
    ``input: cloud`` (default): ``labelled_cloud`` (PointCloud2 with float32 x, y, z and
    optional int32 ``label`` / ``object_id``, points in the world frame) paired by stamp with
    ``camera/pose`` (PoseStamped of the optical frame: the ray origin), plus
    ``labelled_cloud_labels`` (String JSON ``{"labels": [...], "objects": [...]}`` naming the
    per-frame label and object numbers, with the cloud's ``"stamp": {"sec", "nanosec"}``), all
    three paired by stamp.
    ``input: depth``: ``camera/depth/image_raw`` (32FC1 metres, 16UC1/mono16 millimetres) +
    ``camera/color/camera_info`` + ``camera/pose``, back-projected here (no semantics).
Publishes
    ``octree/occupied`` (MarkerArray, one CUBE_LIST coloured by height or label, coarsened to at
    most ``max_marker_cells`` cubes), ``octree/projection`` (OccupancyGrid 0/100/-1 of the
    height band a robot occupies) and ``octree/changes`` (PointCloud2 of cell centres whose
    state changed, int32 field ``occupancy`` in {-1, 0, 1}). Markers and the grid are latched
    (transient local); markers are sent when the map changed, the grid when it changed (the
    octree updates its projection from the changed columns only).
Serves
    ``~/query_space`` (QuerySpace: occupancy / raycast / free), ``~/clear_box`` (ClearBox),
    ``~/reset`` (Trigger), ``~/save`` (SaveMemory) and ``~/load`` (LoadMemory) in the octree's
    binary format; label names travel in a ``<path>.labels.json`` file beside it.
Parameters
    See ``config/octree.yaml``: resolution, sensor model, max_range, decay and movable labels
    (by name), projection band, topics, frame and publishing periods. ``discretize`` (default
    true) inserts as OctoMap's ``insertPointCloud(..., discretize=true)``: one ray per cell
    holding points, to its centre, instead of one per point (a 640x480 cloud has about 20
    points per cell); false casts every point's ray.
"""

from __future__ import annotations

import array
import colorsys
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, PoseStamped
from memory_interfaces.srv import ClearBox, LoadMemory, QuerySpace, SaveMemory
from nav_msgs.msg import OccupancyGrid
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import ColorRGBA, Header, String
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from memory_nodes.core.errors import InvalidInputError, MemoryStackError
from memory_nodes.core.octree import InsertStats, OccupancyGrid2D, SparseOctree
from memory_nodes.core.types import CameraIntrinsics
from memory_nodes.nodes import conversions
from memory_nodes.nodes.images import image_to_numpy
from memory_nodes.nodes.pointcloud import cloud_from_msg, cloud_to_msg
from memory_nodes.nodes.runtime import run_node
from memory_nodes.nodes.service_qos import service_qos
from memory_nodes.perception.frames import RGBDFrame, depth_to_metres
from memory_nodes.perception.observations import backproject
from memory_nodes.perception.sync import StampSynchronizer

LABELS_SUFFIX = ".labels.json"


class LabelVocabulary:
    """Stable label numbers for the map, by name, across frames whose numbering differs.

    Perception numbers labels per frame (0 = unlabelled); the octree needs one number per
    name for its whole life, so movable labels can be named in the parameters.
    """

    def __init__(self, names: Sequence[str] = ()) -> None:
        self.names: list[str] = []
        self._ids: dict[str, int] = {}
        for name in names:
            self.id_of(name)

    def id_of(self, name: str) -> int:
        if name not in self._ids:
            self._ids[name] = len(self.names)
            self.names.append(name)
        return self._ids[name]

    def map_frame_labels(self, local: np.ndarray, frame_names: Sequence[str]) -> np.ndarray:
        """Frame label numbers -> map label numbers (-1 for none, unnamed or out of range)."""
        table = np.array([self.id_of(n) if n else -1 for n in frame_names] + [-1], np.int64)
        index = np.where((local >= 0) & (local < len(frame_names)), local, len(frame_names))
        return table[index]


def frame_object_ids(
    octree: SparseOctree, local: np.ndarray, frame_keys: Sequence[str]
) -> np.ndarray:
    """Frame object numbers -> the octree's stable integer ids (-1 for none or out of range).

    The frame's name table is mapped once, then indexed per point: no string per point.
    """
    table = np.r_[octree.object_ids_of([str(k) for k in frame_keys]), -1]
    index = np.where((local >= 0) & (local < len(frame_keys)), local, len(frame_keys))
    return table[index]


def height_colours(z: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] from blue (low) through green to red (high) over the cells' z range."""
    span = float(z.max() - z.min()) if z.size else 0.0
    t = (z - z.min()) / span if span > 0 else np.zeros_like(z)
    return np.column_stack(
        [np.clip(2 * t - 1, 0, 1), 1 - np.abs(2 * t - 1), np.clip(1 - 2 * t, 0, 1)]
    )


def label_colours(labels: np.ndarray) -> np.ndarray:
    """A distinct hue per label number (golden-ratio spacing); grey for unlabelled cells."""
    out = np.full((labels.size, 3), 0.6)
    for label in np.unique(labels[labels >= 0]).tolist():
        out[labels == label] = colorsys.hsv_to_rgb((0.618034 * (label + 1)) % 1.0, 0.75, 0.95)
    return out


def occupied_markers(
    octree: SparseOctree, header: Header, max_cells: int, colour_by: str
) -> MarkerArray:
    """One CUBE_LIST of occupied cells, at the finest level holding at most ``max_cells``."""
    level = 0
    cells = octree.level_cells(0, occupied_only=True)
    while len(cells) > max_cells and level < octree.depth:
        level += 1
        cells = octree.level_cells(level, occupied_only=True)
    centers = cells.centers
    if colour_by == "label":
        rgb = label_colours(cells.labels.astype(np.int64))
    else:
        rgb = height_colours(centers[:, 2])
    size = octree.resolution * (1 << level)
    marker = Marker(header=header, ns="octree/occupied", id=0)
    marker.type, marker.action = Marker.CUBE_LIST, Marker.ADD
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = marker.scale.z = size
    marker.points = [Point(x=x, y=y, z=z) for x, y, z in centers.tolist()]
    marker.colors = [ColorRGBA(r=r, g=g, b=b, a=1.0) for r, g, b in rgb.tolist()]
    out = MarkerArray()
    out.markers = [Marker(header=header, action=Marker.DELETEALL), marker]
    return out


def projection_grid(header: Header, grid: OccupancyGrid2D, z_min: float) -> OccupancyGrid:
    """The octree's 2D projection as a navigation grid: 0 free, 100 occupied, -1 unknown."""
    msg = OccupancyGrid(header=header)
    msg.info.map_load_time = header.stamp
    msg.info.resolution = float(grid.resolution)
    msg.info.height, msg.info.width = (int(v) for v in grid.data.shape)
    msg.info.origin.position.x, msg.info.origin.position.y = grid.origin
    msg.info.origin.position.z = float(z_min)
    msg.info.origin.orientation.w = 1.0
    values = np.where(grid.data == 1, 100, grid.data).astype(np.int8)
    msg.data = array.array("b", values.tobytes())
    return msg


def warm_up_kernels(resolution: float) -> None:
    """Load the compiled octree kernels now, not while the first camera frame waits.

    They come from numba's disk cache in about 0.4 s, but take several seconds to compile on a
    cold cache; either way that belongs to start-up, before the services are offered.
    """
    scratch = SparseOctree(resolution=resolution)
    # one scan kernel serves both insert modes
    scratch.insert_point_cloud(
        [[1.0, 0.0, 0.0]], [0.0, 0.0, 0.0], labels=[1], object_ids=[0], discretize=True
    )
    scratch.occupancy([[0.5, 0.0, 0.0]])
    scratch.cast_ray([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], 2.0)
    scratch.project_2d(-1.0, 1.0)
    scratch.pop_changes()
    # depth input: back-projection once with the argument types _depth_points passes, so any
    # compiled step it uses is loaded before the first frame waits
    depth = np.ascontiguousarray(np.ones((4, 4), np.float32)[::2, ::2])
    backproject(
        RGBDFrame(
            rgb=np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (*depth.shape, 3)),
            depth=depth,
            intrinsics=CameraIntrinsics(2, 2, 1.0, 1.0, 1.0, 1.0),
            world_T_camera=np.eye(4),
            stamp=0.0,
        ),
        max_depth=math.inf,
    )


class OctreeNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("octree", **node_kwargs)
        declare = self.declare_parameter
        declare("input", "cloud")  # or "depth"
        declare("world_frame", conversions.WORLD_FRAME)
        declare("resolution", 0.05)
        declare("tree_depth", 16)
        declare("prob_hit", 0.7)
        declare("prob_miss", 0.4)
        declare("clamp_min", 0.12)
        declare("clamp_max", 0.97)
        declare("max_range", 5.0)
        declare("discretize", True)
        declare("static_decay_rate", 0.0)
        declare("movable_decay_rate", 0.05)
        declare("movable_labels", [""])
        declare("projection_z_min", 0.1)
        declare("projection_z_max", 1.8)
        declare("cloud_topic", "labelled_cloud")
        declare("labels_topic", "labelled_cloud_labels")
        declare("camera_pose_topic", "camera/pose")
        declare("depth_topic", "camera/depth/image_raw")
        declare("camera_info_topic", "camera/color/camera_info")
        declare("depth_stride", 2)
        declare("sync_slop_s", 0.02)
        declare("marker_period_s", 2.0)
        declare("marker_colour", "height")  # or "label"
        declare("max_marker_cells", 20000)
        declare("projection_period_s", 1.0)
        declare("changes_period_s", 0.5)
        declare("map_path", "~/.ros/memory_nodes/octree.mnoct")
        param = self.get_parameter

        self.input = param("input").value
        if self.input not in ("cloud", "depth"):
            raise InvalidInputError(f"parameter input: unknown {self.input!r} (cloud, depth)")
        self.marker_colour = param("marker_colour").value
        if self.marker_colour not in ("height", "label"):
            raise InvalidInputError("parameter marker_colour must be height or label")
        self.world_frame = param("world_frame").value
        self.max_range = float(param("max_range").value)
        self.discretize = bool(param("discretize").value)
        self.z_band = (
            float(param("projection_z_min").value),
            float(param("projection_z_max").value),
        )
        if not self.z_band[0] <= self.z_band[1]:
            raise InvalidInputError("projection_z_min must not exceed projection_z_max")
        self.depth_stride = max(1, int(param("depth_stride").value))
        self.max_marker_cells = max(1, int(param("max_marker_cells").value))
        movable = [name for name in param("movable_labels").value if name]
        self.vocabulary = LabelVocabulary(["", *movable])
        self.octree = SparseOctree(
            resolution=float(param("resolution").value),
            depth=int(param("tree_depth").value),
            prob_hit=float(param("prob_hit").value),
            prob_miss=float(param("prob_miss").value),
            clamp_min=float(param("clamp_min").value),
            clamp_max=float(param("clamp_max").value),
            static_decay_rate=float(param("static_decay_rate").value),
            movable_decay_rate=float(param("movable_decay_rate").value),
            movable_labels=[self.vocabulary.id_of(name) for name in movable],
            clock=self._now,
        )
        warm_up_kernels(self.octree.resolution)
        self.version = 0  # bumped on every map change, so outputs are only rebuilt when needed
        self._published = {"markers": -1, "projection": -1}
        self._last_grid: tuple[np.ndarray, tuple[float, float]] | None = None
        self.frames_inserted = 0
        self.frames_rejected = 0
        self.insert_seconds = 0.0

        self.use_label_names = self.input == "cloud" and bool(param("labels_topic").value)
        streams = ["cloud", "pose"] if self.input == "cloud" else ["depth", "info", "pose"]
        if self.use_label_names:
            streams.append("names")
        self.sync = StampSynchronizer(streams, slop=float(param("sync_slop_s").value))
        sensor = qos_profile_sensor_data
        if self.input == "cloud":
            self.create_subscription(
                PointCloud2, param("cloud_topic").value, self._feed("cloud"), 5
            )
            if self.use_label_names:
                self.create_subscription(String, param("labels_topic").value, self._on_labels, 10)
        else:
            self.create_subscription(Image, param("depth_topic").value, self._feed("depth"), sensor)
            self.create_subscription(
                CameraInfo, param("camera_info_topic").value, self._feed("info"), sensor
            )
        self.create_subscription(
            PoseStamped, param("camera_pose_topic").value, self._feed("pose"), sensor
        )

        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self.marker_pub = self.create_publisher(MarkerArray, "octree/occupied", latched)
        self.projection_pub = self.create_publisher(OccupancyGrid, "octree/projection", latched)
        self.changes_pub = self.create_publisher(PointCloud2, "octree/changes", 10)
        self.create_service(QuerySpace, "~/query_space", self._on_query, qos_profile=service_qos())
        self.create_service(ClearBox, "~/clear_box", self._on_clear_box, qos_profile=service_qos())
        self.create_service(Trigger, "~/reset", self._on_reset, qos_profile=service_qos())
        self.create_service(SaveMemory, "~/save", self._on_save, qos_profile=service_qos())
        self.create_service(LoadMemory, "~/load", self._on_load, qos_profile=service_qos())
        self.create_timer(max(float(param("marker_period_s").value), 0.05), self._publish_markers)
        self.create_timer(
            max(float(param("projection_period_s").value), 0.05), self._publish_projection
        )
        self.create_timer(max(float(param("changes_period_s").value), 0.05), self._publish_changes)
        self.get_logger().info(
            f"octree ready: input {self.input}, resolution {self.octree.resolution} m, "
            f"max range {self.max_range} m, {'discrete' if self.discretize else 'exact'} rays, "
            f"movable labels {movable or 'none'}"
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _header(self, stamp: Any = None) -> Header:
        return Header(
            stamp=stamp if stamp is not None else self.get_clock().now().to_msg(),
            frame_id=self.world_frame,
        )

    # ----------------------------------------------------------------------------- inputs
    def _feed(self, stream: str):
        def _callback(msg: Any) -> None:
            stamp = conversions.stamp_from_msg(msg.header.stamp)
            complete = self.sync.add(stream, stamp, msg)
            if complete is not None:
                self._insert(complete, complete.get("names"))

        return _callback

    def _on_labels(self, msg: String) -> None:
        try:
            names = json.loads(msg.data)
            if not isinstance(names, dict):
                raise ValueError("expected a JSON object")
            labels = [str(v) for v in names.get("labels", [])]
            objects = [str(v) for v in names.get("objects", [])]
            stamp = names["stamp"]
            stamp = conversions.stamp_from_msg(Time(sec=stamp["sec"], nanosec=stamp["nanosec"]))
        except (ValueError, TypeError, KeyError, AssertionError, RecursionError) as error:
            self._reject("label names (JSON with labels, objects and the cloud's stamp)", error)
            return
        complete = self.sync.add("names", stamp, {"labels": labels, "objects": objects})
        if complete is not None:
            self._insert(complete, complete["names"])

    def _reject(self, what: str, error: Exception) -> None:
        # Every early rejection is told; a publisher that keeps sending garbage is sampled.
        self.frames_rejected += 1
        if self.frames_rejected <= 10 or self.frames_rejected % 100 == 0:
            self.get_logger().warning(f"{what} rejected ({self.frames_rejected} so far): {error}")

    def _insert(self, msgs: dict[str, Any], names: dict[str, Any] | None) -> None:
        what = "cloud" if self.input == "cloud" else "depth frame"
        try:
            pose = msgs["pose"]
            if pose.header.frame_id and pose.header.frame_id != self.world_frame:
                raise InvalidInputError(
                    f"camera pose is in frame {pose.header.frame_id!r}, expected "
                    f"{self.world_frame!r} (no tf here)"
                )
            world_T_camera = conversions.pose_from_msg(pose.pose).as_matrix()
            if self.input == "cloud":
                points, labels, objects = self._cloud_points(msgs["cloud"], names)
            else:
                points, labels, objects = self._depth_points(msgs, world_T_camera), None, None
            start = time.perf_counter()
            stats = self.octree.insert_point_cloud(
                points,
                world_T_camera[:3, 3],
                max_range=self.max_range,
                labels=labels,
                object_ids=objects,
                stamp=conversions.stamp_from_msg(pose.header.stamp),
                discretize=self.discretize,
            )
            elapsed = time.perf_counter() - start
        except (InvalidInputError, ValueError, KeyError, TypeError) as error:
            self._reject(what, error)
            return
        self.frames_inserted += 1
        self.insert_seconds += elapsed
        self.version += 1
        self._log_stats(what, stats, elapsed)

    def _log_stats(self, what: str, stats: InsertStats, elapsed: float) -> None:
        dropped = stats.dropped_nonfinite + stats.dropped_outside_extent
        if dropped:
            self.get_logger().warning(
                f"{what}: {stats.dropped_nonfinite} non-finite and "
                f"{stats.dropped_outside_extent} outside-extent points of {stats.points_in} "
                "dropped",
                throttle_duration_sec=2.0,
            )
        mean_ms = 1000.0 * self.insert_seconds / self.frames_inserted
        self.get_logger().debug(
            f"{what} {self.frames_inserted}: {stats.points_in} points in "
            f"{1000.0 * elapsed:.1f} ms (mean {mean_ms:.1f} ms), {self.octree.num_cells} cells"
        )
        if self.frames_inserted == 1 or self.frames_inserted % 100 == 0:
            self.get_logger().info(
                f"{self.frames_inserted} frames inserted, mean {mean_ms:.1f} ms per frame, "
                f"{self.octree.num_cells} cells"
            )

    def _cloud_points(
        self, msg: PointCloud2, names: dict[str, Any] | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        if msg.header.frame_id and msg.header.frame_id != self.world_frame:
            raise InvalidInputError(
                f"cloud is in frame {msg.header.frame_id!r}, expected {self.world_frame!r}"
            )
        fields = cloud_from_msg(msg)
        missing = {"x", "y", "z"} - set(fields)
        if missing:
            raise InvalidInputError(f"cloud lacks fields {sorted(missing)}")
        points = np.column_stack([fields["x"], fields["y"], fields["z"]]).astype(np.float64)
        if points.shape[0] == 0:
            raise InvalidInputError("cloud is empty")
        labels = objects = None
        if names is not None and "label" in fields:
            local = fields["label"].astype(np.int64)
            labels = self.vocabulary.map_frame_labels(local, names["labels"])
        if names is not None and "object_id" in fields:
            local = fields["object_id"].astype(np.int64)
            objects = frame_object_ids(self.octree, local, names["objects"])
        return points, labels, objects

    def _depth_points(self, msgs: dict[str, Any], world_T_camera: np.ndarray) -> np.ndarray:
        info, image = msgs["info"], msgs["depth"]
        if (image.height, image.width) != (info.height, info.width):
            raise InvalidInputError(
                f"depth is {image.width}x{image.height} but CameraInfo says "
                f"{info.width}x{info.height}"
            )
        depth = depth_to_metres(image_to_numpy(image), image.encoding)
        k = conversions.intrinsics_from_msg(info)
        s = self.depth_stride
        depth = np.ascontiguousarray(depth[::s, ::s])
        intrinsics = CameraIntrinsics(
            depth.shape[1], depth.shape[0], k.fx / s, k.fy / s, k.cx / s, k.cy / s
        )
        frame = RGBDFrame(
            rgb=np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (*depth.shape, 3)),
            depth=depth,
            intrinsics=intrinsics,
            world_T_camera=world_T_camera,
            stamp=conversions.stamp_from_msg(image.header.stamp),
        )
        points, _, _ = backproject(frame, max_depth=math.inf)
        if points.shape[0] == 0:
            raise InvalidInputError("depth image has no valid pixel")
        return points

    # ---------------------------------------------------------------------------- outputs
    def _publish_markers(self) -> None:
        if self._published["markers"] == self.version:
            return
        self._published["markers"] = self.version
        self.marker_pub.publish(
            occupied_markers(self.octree, self._header(), self.max_marker_cells, self.marker_colour)
        )

    def _publish_projection(self) -> None:
        if self._published["projection"] == self.version:
            return
        self._published["projection"] = self.version
        # the map keeps the projection and updates only changed columns; send it if it changed
        grid = self.octree.project_2d(*self.z_band)
        last = self._last_grid
        if last is not None and last[1] == grid.origin and np.array_equal(last[0], grid.data):
            return
        self._last_grid = (grid.data, grid.origin)
        self.projection_pub.publish(projection_grid(self._header(), grid, self.z_band[0]))

    def _publish_changes(self, octree: SparseOctree | None = None) -> None:
        tree = octree or self.octree
        if tree is self.octree and self._decays() and self.octree.decay(self._now()):
            self.version += 1
        changes = tree.pop_changes()
        if len(changes) == 0:
            return
        self.changes_pub.publish(
            cloud_to_msg(self._header(), changes.centers, occupancy=changes.states.astype(np.int32))
        )

    def _decays(self) -> bool:
        tree = self.octree
        movable = tree.movable_decay_rate > 0.0 and bool(tree.movable_labels)
        return tree.static_decay_rate > 0.0 or movable

    # ---------------------------------------------------------------------------- services
    def _on_query(
        self, request: QuerySpace.Request, response: QuerySpace.Response
    ) -> QuerySpace.Response:
        points = np.array([[p.x, p.y, p.z] for p in request.points], np.float64).reshape(-1, 3)
        try:
            if request.mode == "occupancy":
                response.occupancy = self.octree.occupancy(points).tolist()
                response.message = f"{len(points)} points"
            elif request.mode == "free":
                if len(points) == 0:
                    raise InvalidInputError("mode free needs at least one point")
                states = self.octree.occupancy(points)
                response.occupancy = states.tolist()
                response.all_free = bool(np.all(states == 0))
                response.message = f"{int(np.sum(states == 0))} of {len(points)} points free"
            elif request.mode == "raycast":
                o, d = request.ray_origin, request.ray_direction
                max_range = float(request.max_range) if request.max_range > 0 else -1.0
                hit = self.octree.cast_ray([o.x, o.y, o.z], [d.x, d.y, d.z], max_range)
                response.ray_hit = hit.hit
                x, y, z = (float(v) for v in hit.point)
                response.hit_point = Point(x=x, y=y, z=z)
                outcome = "hit" if hit.hit else "no hit"
                response.message = f"{outcome} at {hit.distance:.3f} m"
            else:
                raise InvalidInputError(
                    f"unknown mode {request.mode!r}; use occupancy, raycast or free"
                )
        except (InvalidInputError, ValueError) as error:
            response.success = False
            response.message = str(error)
            return response
        response.success = True
        return response

    def _clear(self, lo: Point, hi: Point) -> tuple[bool, str, int]:
        try:
            cleared = self.octree.clear_box([lo.x, lo.y, lo.z], [hi.x, hi.y, hi.z])
        except ValueError as error:
            return False, str(error), 0
        self.version += 1
        return True, f"cleared {cleared} cells", cleared

    def _on_clear_box(
        self, request: ClearBox.Request, response: ClearBox.Response
    ) -> ClearBox.Response:
        response.success, response.message, response.num_cleared = self._clear(
            request.min_corner, request.max_corner
        )
        return response

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        cells = self.octree.num_cells
        self.octree.reset()
        self.version += 1
        response.success = True
        response.message = f"forgot {cells} cells"
        return response

    def _map_path(self, path: str) -> Path:
        chosen = path or self.get_parameter("map_path").value
        return Path(os.path.expandvars(os.path.expanduser(chosen)))

    def _on_save(
        self, request: SaveMemory.Request, response: SaveMemory.Response
    ) -> SaveMemory.Response:
        path = self._map_path(request.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.octree.save(path)
            labels = {"labels": self.vocabulary.names}
            Path(f"{path}{LABELS_SUFFIX}").write_text(json.dumps(labels), encoding="utf-8")
        except OSError as error:
            response.success = False
            response.message = f"could not save to {path}: {error}"
            return response
        response.success = True
        response.message = f"saved {self.octree.num_cells} cells to {path}"
        return response

    def _on_load(
        self, request: LoadMemory.Request, response: LoadMemory.Response
    ) -> LoadMemory.Response:
        path = self._map_path(request.path)
        try:
            loaded = SparseOctree.load(path, clock=self._now)
            names_file = Path(f"{path}{LABELS_SUFFIX}")
            names = None
            if names_file.is_file():
                names = _label_names(json.loads(names_file.read_text(encoding="utf-8")))
        except (MemoryStackError, OSError, ValueError) as error:
            response.success = False
            response.message = f"could not load {path}: {error}; map unchanged"
            return response
        if names is not None:
            self.vocabulary = LabelVocabulary(names)
        else:
            self.get_logger().warning(f"{names_file} missing: label numbers kept, names unknown")
        if loaded.resolution != self.octree.resolution:
            self.get_logger().warning(
                f"loaded map has resolution {loaded.resolution} m (parameter says "
                f"{self.octree.resolution} m); the file wins"
            )
        # Subscribers of the deltas must hear that every old cell is gone before the new ones.
        self.octree.reset()
        self._publish_changes(self.octree)
        self.octree = loaded
        self.version += 1
        extent_lo = loaded.origin
        objects = loaded.objects_in_box(extent_lo, extent_lo + loaded.extent_size)
        response.success = True
        response.num_objects = int(objects.size)
        response.message = f"loaded {loaded.num_cells} cells"
        return response


def _label_names(document: Any) -> list[str]:
    """The label names of a ``<map>.labels.json`` file; InvalidInputError for anything else."""
    names = document.get("labels") if isinstance(document, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInputError("the label file must hold {'labels': [names]}")
    return names


NODE_CLASS = OctreeNode


def main(args: list[str] | None = None) -> int:
    return run_node(OctreeNode, args)


if __name__ == "__main__":
    sys.exit(main())
