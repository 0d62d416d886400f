"""The simulator as a robot driver: ``ai2thor.controller.Controller`` in, sensor topics out.

The bridge talks to the simulator only through the ai2thor client, so the same node drives a
real AI2-THOR build where one exists (parameter ``executable_path``; empty means our household
simulator, ``memstack sim path``). After every action, and at ``publish_rate_hz``, it publishes
one frame, every topic with the same stamp:

    camera/color/image_raw (rgb8), camera/depth/image_raw (32FC1 metres),
    camera/color/camera_info, camera/pose (PoseStamped, optical frame in map),
    camera/instance_mask (32SC1) + camera/instance_labels (InstanceLabels, with the states of
    each instance as a state classifier would report them), odom (Odometry)

Ground truth for evaluation goes to ``ground_truth/objects`` (std_msgs/String, the metadata
objects as JSON) and is never used by memory. Actions come in through ``~/execute``
(ExecuteAction); a failed action answers ``success=False`` with AI2-THOR's error message.
"""

from __future__ import annotations

import json
import math
import sys
import threading
from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from memory_interfaces.msg import InstanceLabels
from memory_interfaces.srv import ExecuteAction
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header, String

from memory_nodes.adapters.ai2thor_perception import (
    agent_pose,
    instance_image,
    map_T_camera,
    observable_states,
)
from memory_nodes.core.types import CameraIntrinsics, Pose
from memory_nodes.nodes import conversions
from memory_nodes.nodes.images import numpy_to_image
from memory_nodes.nodes.runtime import run_node


def unity_T_camera(metadata: dict[str, Any]) -> np.ndarray:
    """Camera pose (OpenCV optical axes) in Unity world from AI2-THOR's standard metadata.

    Uses only keys real AI2-THOR has: ``cameraPosition``, ``agent.rotation.y`` (yaw, clockwise
    from +z seen from above) and ``agent.cameraHorizon`` (pitch, positive looks down). When our
    simulator adds sensor noise it reports the robot's pose estimate as ``agentPoseEstimate``
    (the same keys): that is what a robot's camera pose comes from, not the truth.
    """
    estimate = metadata.get("agentPoseEstimate")
    agent = estimate if estimate is not None else metadata["agent"]
    yaw = math.radians(float(agent["rotation"]["y"]))
    pitch = math.radians(float(agent["cameraHorizon"]))
    forward = np.array(
        [math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)]
    )
    right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
    up = np.array(
        [math.sin(yaw) * math.sin(pitch), math.cos(pitch), math.cos(yaw) * math.sin(pitch)]
    )
    transform = np.eye(4)
    transform[:3, :3] = np.column_stack([right, -up, forward])
    position = (estimate if estimate is not None else metadata)["cameraPosition"]
    transform[:3, 3] = [position["x"], position["y"], position["z"]]
    return transform


#: Object fields a robot's state classifier reports (no positions: perception gives those).
#: The capability flags say which states a type has at all: without them a closed fridge and a
#: counter top (no isOpen) look alike to the planner.
OBSERVABLE_FIELDS = ("objectId", "objectType", "visible", "isOpen", "isToggled", "isSliced",
                     "isDirty", "isCooked", "isFilledWithLiquid", "isPickedUp",
                     "temperature", "openable", "toggleable", "sliceable", "dirtyable",
                     "cookable", "canFillWithLiquid", "pickupable")  # fmt: skip
ROBOT_KEYS = ("lastActionSuccess", "errorMessage", "lastAction", "agent", "inventoryObjects",
              "gridSize", "sceneName", "fov", "cameraPosition", "agentPoseEstimate")  # fmt: skip


#: Actions whose answer a robot has itself (its navigation map); other answers stay out.
ROBOT_QUERIES = frozenset({"GetReachablePositions"})


def robot_observation(metadata: dict[str, Any], in_view: set[str]) -> dict[str, Any]:
    """What a robot knows after an action: its own state and the states of what it sees.

    ``in_view`` are the objects with pixels in the instance mask: a state classifier looking
    at the image reports those (``visible`` keeps AI2-THOR's meaning: within reach and seen).
    """
    observation = {key: metadata[key] for key in ROBOT_KEYS if key in metadata}
    if metadata.get("lastAction") in ROBOT_QUERIES:
        observation["actionReturn"] = metadata.get("actionReturn")
    observation["objects"] = [
        {key: obj[key] for key in OBSERVABLE_FIELDS if key in obj}
        for obj in metadata.get("objects", [])
        if obj.get("visible") or obj.get("objectId") in in_view
    ]
    return observation


def intrinsics_from_metadata(metadata: dict[str, Any], width: int, height: int) -> CameraIntrinsics:
    """AI2-THOR's ``fov`` is vertical, in degrees, with square pixels."""
    return CameraIntrinsics.from_fov(width, height, float(metadata.get("fov", 90.0)))


class SimBridgeNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("sim_bridge", **node_kwargs)
        declare = self.declare_parameter
        declare("scene", "FloorPlan1")
        declare("width", 320)
        declare("height", 240)
        declare("grid_size", 0.25)
        declare("visibility_distance", 1.5)
        declare("executable_path", "")
        declare("publish_rate_hz", 1.0)
        declare("camera_frame", "camera")
        declare("server_timeout_s", 60.0)
        declare(
            "sensor_noise",
            "none",
            ParameterDescriptor(
                description="Simulated sensor noise preset: none, realistic (RealSense D435-like "
                "depth, wheel-odometry drift) or heavy (see docs/noise.md)",
                read_only=True,
            ),
        )
        param = self.get_parameter
        self.width, self.height = int(param("width").value), int(param("height").value)
        self.camera_frame = param("camera_frame").value
        self._lock = threading.Lock()
        self.sequence = 0
        self.controller = self._start_controller(
            param("executable_path").value,
            scene=param("scene").value,
            grid_size=float(param("grid_size").value),
            visibility=float(param("visibility_distance").value),
            timeout=float(param("server_timeout_s").value),
            sensor_noise=str(param("sensor_noise").value),
        )
        self.event = self.controller.last_event

        pub = self.create_publisher
        self.color_pub = pub(Image, "camera/color/image_raw", 10)
        self.depth_pub = pub(Image, "camera/depth/image_raw", 10)
        self.info_pub = pub(CameraInfo, "camera/color/camera_info", 10)
        self.pose_pub = pub(PoseStamped, "camera/pose", 10)
        self.mask_pub = pub(Image, "camera/instance_mask", 10)
        self.labels_pub = pub(InstanceLabels, "camera/instance_labels", 10)
        self.odom_pub = pub(Odometry, "odom", 10)
        self.truth_pub = pub(String, "ground_truth/objects", 10)
        self.create_service(ExecuteAction, "~/execute", self._on_execute)
        rate = float(param("publish_rate_hz").value)
        if rate > 0:
            self.create_timer(1.0 / rate, lambda: self._publish_frame())
        self._publish_frame()
        self.get_logger().info(
            f"simulator bridge ready: {self.event.metadata['sceneName']} at "
            f"{self.width}x{self.height}"
        )

    def _start_controller(
        self,
        executable: str,
        scene: str,
        grid_size: float,
        visibility: float,
        timeout: float,
        sensor_noise: str,
    ):
        from ai2thor.controller import Controller

        if not executable:
            import sim

            executable = sim.executable_path()
        return Controller(
            local_executable_path=executable,
            scene=scene,
            width=self.width,
            height=self.height,
            gridSize=grid_size,
            visibilityDistance=visibility,
            renderDepthImage=True,
            renderInstanceSegmentation=True,
            x_display=":0",
            server_timeout=timeout,
            server_start_timeout=timeout,
            sensorNoise=sensor_noise,
        )

    def _on_execute(
        self, request: ExecuteAction.Request, response: ExecuteAction.Response
    ) -> ExecuteAction.Response:
        action: dict[str, Any] = {"action": request.action}
        try:
            if request.args_json:
                extra = json.loads(request.args_json)
                if not isinstance(extra, dict):
                    raise ValueError("args_json must hold a JSON object")
                action.update(extra)
        except ValueError as error:
            response.success, response.error_message = False, f"bad args_json: {error}"
            return response
        if request.object_id:
            action["objectId"] = request.object_id
        if request.receptacle_id:
            action["objectId"] = request.receptacle_id  # PutObject names the receptacle
        with self._lock:
            try:
                self.event = self.controller.step(action)
            except ValueError as error:  # the client raises for unknown actions
                response.success, response.error_message = False, str(error)
                response.last_action = request.action
                return response
        metadata = self.event.metadata
        response.success = bool(metadata["lastActionSuccess"])
        response.error_message = metadata.get("errorMessage") or ""
        response.last_action = metadata.get("lastAction", request.action)
        response.agent_json = json.dumps(metadata["agent"], sort_keys=True)
        response.frame_sequence, stamp, in_view = self._publish_frame()
        response.frame_stamp = stamp
        response.observation_json = json.dumps(robot_observation(metadata, in_view), sort_keys=True)
        response.action_return_json = json.dumps(metadata.get("actionReturn"), sort_keys=True)
        return response

    def _publish_frame(self) -> tuple[int, Time, set[str]]:
        """Publish the newest frame; returns its sequence, stamp and the labels in view."""
        with self._lock:
            event = self.event
            self.sequence += 1
            sequence = self.sequence
        metadata = event.metadata
        stamp = self.get_clock().now().to_msg()
        camera = Header(stamp=stamp, frame_id=self.camera_frame)
        world = Header(stamp=stamp, frame_id=conversions.WORLD_FRAME)
        intrinsics = intrinsics_from_metadata(metadata, self.width, self.height)
        ids, labels = instance_image(event.instance_segmentation_frame, event.color_to_object_id)
        world_T_camera = Pose.from_matrix(map_T_camera(unity_T_camera(metadata)))
        info = conversions.intrinsics_to_msg(intrinsics, self.camera_frame)
        info.header = camera
        self.color_pub.publish(numpy_to_image(event.frame, "rgb8", camera))
        self.depth_pub.publish(
            numpy_to_image(np.asarray(event.depth_frame, dtype=np.float32), "32FC1", camera)
        )
        self.info_pub.publish(info)
        self.pose_pub.publish(
            PoseStamped(header=world, pose=conversions.pose_to_msg(world_T_camera))
        )
        self.mask_pub.publish(numpy_to_image(ids, "32SC1", camera))
        by_id = {obj["objectId"]: obj for obj in metadata.get("objects", [])}
        states = [
            json.dumps(observable_states(by_id[name]), sort_keys=True) if name in by_id else ""
            for name in labels.values()
        ]
        self.labels_pub.publish(
            InstanceLabels(
                header=camera, ids=list(labels), labels=list(labels.values()), states_json=states
            )
        )
        odom = Odometry(header=world, child_frame_id="base_link")
        odom.pose.pose = conversions.pose_to_msg(agent_pose(metadata))
        self.odom_pub.publish(odom)
        self.truth_pub.publish(String(data=json.dumps(metadata["objects"])))
        return sequence, stamp, set(labels.values())

    def destroy_node(self) -> None:
        try:
            self.controller.stop()
        finally:
            super().destroy_node()


NODE_CLASS = SimBridgeNode


def main(args: list[str] | None = None) -> int:
    return run_node(SimBridgeNode, args)


if __name__ == "__main__":
    sys.exit(main())
