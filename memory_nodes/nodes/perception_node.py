"""ROS adapter of perception (:mod:`memory_nodes.perception`): RGB-D frames -> observations.

Subscribes (names are parameters; defaults follow common RGB-D driver topics)
    ``camera/color/image_raw`` (Image rgb8/bgr8), ``camera/depth/image_raw`` (Image 32FC1 metres
    or 16UC1 millimetres), ``camera/color/camera_info`` (CameraInfo), the camera pose
    (``camera/pose``, PoseStamped of the optical frame in the world; or ``odom`` plus the
    ``base_T_camera`` parameter on a robot), and with the mask backend
    ``camera/instance_mask`` (Image 32SC1) + ``camera/instance_labels`` (InstanceLabels; its
    ``states_json`` become the observations' states).
Publishes
    ``observations`` (ObjectObservationArray) and ``labelled_cloud`` (PointCloud2 with x, y, z,
    label, object_id) for the octree, plus ``labelled_cloud_labels`` naming the label ids
    (JSON, with the cloud's stamp).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from memory_interfaces.msg import InstanceLabels, ObjectObservationArray
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header, String

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import Pose
from memory_nodes.nodes import conversions
from memory_nodes.nodes.images import image_to_numpy
from memory_nodes.nodes.parameters import float_parameter, int_parameter
from memory_nodes.nodes.pointcloud import cloud_to_msg
from memory_nodes.nodes.runtime import run_node
from memory_nodes.perception.backends import MaskBackend, YoloBackend
from memory_nodes.perception.frames import RGBDFrame, color_to_rgb, depth_to_metres
from memory_nodes.perception.observations import (
    DEFAULT_MAX_FRAME_POINTS,
    DEFAULT_MAX_INSTANCE_POINTS,
    ObservationExtractor,
)
from memory_nodes.perception.sync import StampSynchronizer


def _stamp(header: Header) -> float:
    return conversions.stamp_from_msg(header.stamp)


def base_T_camera_matrix(values: list[float]) -> np.ndarray:
    """[x, y, z, roll, pitch, yaw] of the optical frame on the robot base -> 4x4 matrix."""
    if len(values) != 6 or not all(math.isfinite(v) for v in values):
        raise InvalidInputError(f"base_T_camera needs 6 finite numbers, got {values}")
    x, y, z, roll, pitch, yaw = values
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))  # fmt: skip
    matrix = np.eye(4)
    matrix[:3, :3] = [
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ]
    matrix[:3, 3] = [x, y, z]
    return matrix


class PerceptionNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("perception", **node_kwargs)
        declare = self.declare_parameter
        declare("backend", "gt_mask")
        declare("yolo_weights", "")
        declare("color_topic", "camera/color/image_raw")
        declare("depth_topic", "camera/depth/image_raw")
        declare("camera_info_topic", "camera/color/camera_info")
        declare("pose_source", "camera_pose")  # or "odometry"
        declare("camera_pose_topic", "camera/pose")
        declare("odometry_topic", "odom")
        # Optical frame on the base: x, y, z, roll, pitch, yaw (a forward-looking camera
        # has roll -pi/2, yaw -pi/2).
        declare("base_T_camera", [0.0, 0.0, 1.0, -math.pi / 2, 0.0, -math.pi / 2])
        declare("mask_topic", "camera/instance_mask")
        declare("labels_topic", "camera/instance_labels")
        declare("max_depth", 5.0)
        declare("min_points", 20)
        declare("cloud_stride", 2)
        declare(
            "max_instance_points",
            DEFAULT_MAX_INSTANCE_POINTS,
            int_parameter(
                "An instance with more valid depth pixels is summarised (outlier "
                "filter, centroid, box, heading) from a grid of at most this many; 0 uses every "
                "pixel, at a cost that grows with the objects' size in the image",
                0,
                10_000_000,
            ),
        )
        declare(
            "max_frame_points",
            DEFAULT_MAX_FRAME_POINTS,
            int_parameter(
                "Bound on the points of all instances of a frame together (0: none): "
                "the largest instances are cut to one common size so that a frame with many "
                "objects in view costs no more than this many; moves their boxes by centimetres",
                0,
                10_000_000,
            ),
        )
        declare(
            "cloud_cell_size",
            0.0,
            float_parameter(
                "When > 0, the labelled cloud keeps one point per cube cell of this "
                "size (metres): set it to the octree's resolution when the octree node inserts "
                "one ray per cell (its discretize parameter); the map is then the same and the "
                "cloud about 15 times smaller. 0 publishes every cloud_stride-th point",
                0.0,
                10.0,
            ),
        )
        declare("sync_slop_s", 0.02)
        param = self.get_parameter

        backend_name = param("backend").value
        if backend_name == "gt_mask":
            backend = MaskBackend()
        elif backend_name == "yolo":
            backend = YoloBackend(param("yolo_weights").value)
        else:
            raise InvalidInputError(f"parameter backend: unknown {backend_name!r} (gt_mask, yolo)")
        self.extractor = ObservationExtractor(
            backend,
            max_depth=float(param("max_depth").value),
            min_points=int(param("min_points").value),
            cloud_stride=int(param("cloud_stride").value),
            max_instance_points=int(param("max_instance_points").value),
            max_frame_points=int(param("max_frame_points").value),
            cloud_cell_size=float(param("cloud_cell_size").value),
        )
        self.pose_source = param("pose_source").value
        if self.pose_source not in ("camera_pose", "odometry"):
            raise InvalidInputError("parameter pose_source must be camera_pose or odometry")
        self.base_T_camera = base_T_camera_matrix(list(param("base_T_camera").value))
        streams = ["color", "depth", "info", "pose"]
        if backend_name == "gt_mask":
            streams += ["mask", "labels"]
        self.sync = StampSynchronizer(streams, slop=float(param("sync_slop_s").value))
        self.frames_processed = 0
        self.frames_rejected = 0

        qos = qos_profile_sensor_data
        self.create_subscription(Image, param("color_topic").value, self._feed("color"), qos)
        self.create_subscription(Image, param("depth_topic").value, self._feed("depth"), qos)
        self.create_subscription(
            CameraInfo, param("camera_info_topic").value, self._feed("info"), qos
        )
        if self.pose_source == "camera_pose":
            self.create_subscription(
                PoseStamped, param("camera_pose_topic").value, self._feed("pose"), qos
            )
        else:
            self.create_subscription(
                Odometry, param("odometry_topic").value, self._feed("pose"), qos
            )
        if backend_name == "gt_mask":
            self.create_subscription(Image, param("mask_topic").value, self._feed("mask"), qos)
            self.create_subscription(
                InstanceLabels, param("labels_topic").value, self._feed("labels"), qos
            )
        self.observation_pub = self.create_publisher(ObjectObservationArray, "observations", 10)
        self.cloud_pub = self.create_publisher(PointCloud2, "labelled_cloud", 10)
        self.cloud_labels_pub = self.create_publisher(String, "labelled_cloud_labels", 10)
        # The camera pose each frame was interpreted with (from odometry + base_T_camera on a
        # robot), for nodes that need it with the same stamp (change detection, the octree).
        self.camera_pose_pub = self.create_publisher(PoseStamped, "perception/camera_pose", 10)
        self.get_logger().info(f"perception ready: backend {backend.name}, pose {self.pose_source}")

    def _feed(self, stream: str):
        def _callback(msg: Any) -> None:
            complete = self.sync.add(stream, _stamp(msg.header), msg)
            if complete is not None:
                self._process(complete)

        return _callback

    def _world_T_camera(self, msg: PoseStamped | Odometry) -> np.ndarray:
        pose = msg.pose if isinstance(msg, PoseStamped) else msg.pose.pose
        matrix = conversions.pose_from_msg(pose).as_matrix()
        return matrix if isinstance(msg, PoseStamped) else matrix @ self.base_T_camera

    def _process(self, msgs: dict[str, Any]) -> None:
        started = time.perf_counter()
        try:
            frame = self._frame(msgs)
            result = self.extractor.extract(frame)
            states = instance_states(msgs["labels"]) if "labels" in msgs else {}
        except (InvalidInputError, ValueError) as error:
            self.frames_rejected += 1
            self.get_logger().warning(f"frame rejected: {error}")
            return
        self.frames_processed += 1
        header = Header(stamp=msgs["color"].header.stamp, frame_id=conversions.WORLD_FRAME)
        out = ObjectObservationArray(header=header)
        observations = [
            dataclasses.replace(o, states=states[o.object_id]) if o.object_id in states else o
            for o in result.observations
        ]
        out.observations = [conversions.observation_to_msg(o) for o in observations]
        self.observation_pub.publish(out)
        self.cloud_pub.publish(
            cloud_to_msg(
                header,
                result.cloud_points,
                label=np.asarray(result.cloud_labels, dtype=np.int32),
                object_id=np.asarray(result.cloud_object_ids, dtype=np.int32),
            )
        )
        pose = conversions.pose_to_msg(Pose.from_matrix(frame.world_T_camera))
        self.camera_pose_pub.publish(PoseStamped(header=header, pose=pose))
        # The stamp pairs the names with their cloud in the octree node.
        stamp = {"sec": header.stamp.sec, "nanosec": header.stamp.nanosec}
        names = {"labels": result.label_names, "objects": result.object_keys, "stamp": stamp}
        self.cloud_labels_pub.publish(String(data=json.dumps(names)))
        stats = result.stats
        elapsed_ms = 1e3 * (time.perf_counter() - started)
        self.get_logger().debug(
            f"frame {self.frames_processed}: {stats.observations} observations "
            f"({stats.subsampled} subsampled), {len(result.cloud_points)} cloud points in "
            f"{elapsed_ms:.1f} ms (detect {1e3 * stats.detect_s:.1f}, back-project "
            f"{1e3 * stats.backproject_s:.1f}, outliers {1e3 * stats.outlier_filter_s:.1f}, "
            f"summarise {1e3 * stats.summarise_s:.1f}); {stats.invalid_depth} pixels without "
            "valid depth"
        )

    def _frame(self, msgs: dict[str, Any]) -> RGBDFrame:
        rgb = color_to_rgb(image_to_numpy(msgs["color"]), msgs["color"].encoding)
        depth = depth_to_metres(image_to_numpy(msgs["depth"]), msgs["depth"].encoding)
        instance_ids, labels = None, {}
        if "mask" in msgs:
            if msgs["mask"].encoding != "32SC1":
                raise InvalidInputError(f"instance mask must be 32SC1, got {msgs['mask'].encoding}")
            instance_ids = image_to_numpy(msgs["mask"])
            label_msg = msgs["labels"]
            if len(label_msg.ids) != len(label_msg.labels):
                raise InvalidInputError("InstanceLabels ids and labels differ in length")
            labels = dict(zip(label_msg.ids, label_msg.labels, strict=True))
        return RGBDFrame(
            rgb=rgb,
            depth=depth,
            intrinsics=conversions.intrinsics_from_msg(msgs["info"]),
            world_T_camera=self._world_T_camera(msgs["pose"]),
            stamp=_stamp(msgs["color"].header),
            frame_id=msgs["color"].header.frame_id or "camera",
            instance_ids=instance_ids,
            instance_labels=labels,
        )


def instance_states(msg: InstanceLabels) -> dict[str, dict[str, str]]:
    """Label -> the states the source reports for it; raises InvalidInputError if malformed."""
    if not msg.states_json:
        return {}
    if len(msg.states_json) != len(msg.labels):
        raise InvalidInputError(
            f"InstanceLabels has {len(msg.states_json)} states_json for {len(msg.labels)} labels"
        )
    states: dict[str, dict[str, str]] = {}
    for label, text in zip(msg.labels, msg.states_json, strict=True):
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            raise InvalidInputError(f"states of {label!r} are not JSON: {text[:60]!r}") from None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise InvalidInputError(
                f"states of {label!r} must map strings to strings: {text[:60]!r}"
            )
        states[label] = value
    return states


NODE_CLASS = PerceptionNode


def main(args: list[str] | None = None) -> int:
    return run_node(PerceptionNode, args)


if __name__ == "__main__":
    sys.exit(main())
