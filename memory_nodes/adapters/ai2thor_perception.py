"""What the robot perceives after each simulator step, in the memory stack's ``map`` frame.

The simulator speaks AI2-THOR: Unity's left-handed, y-up world (``x`` right, ``z`` forward). The
memory stack speaks ROS: ``map`` with x forward, y left, z up. ``(x, y, z)_map = (z, -x, y)_unity``;
the matrix has determinant -1, which is exactly what turns the simulator's camera rotation
(right-handed optical axes in a left-handed world) into a proper rotation.

:class:`SimPerception` turns ``(metadata, frames)`` into the planner's
:class:`~memory_nodes.planning.percept.Percept`: object observations
from the RGB-D frame and its instance mask (through the perception package, as a robot would),
the camera view for negative evidence, and the agent pose. Object *states* (open, toggled,
sliced, dirty, ...) of the objects in view are read from the simulator's metadata, standing in
for a state classifier; positions never are.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import CameraIntrinsics, Pose, Quaternion, Vector3
from memory_nodes.perception.backends import MaskBackend
from memory_nodes.perception.frames import RGBDFrame
from memory_nodes.perception.observations import ObservationExtractor
from memory_nodes.planning.percept import Percept

__all__ = [
    "MAP_R_UNITY",
    "Percept",
    "SimPerception",
    "agent_pose",
    "instance_image",
    "map_T_camera",
    "map_to_unity",
    "observable_states",
    "rgbd_frame_from_sim",
    "unity_to_map",
]

#: map <- unity rotation: (x, y, z)_map = (z, -x, y)_unity.
MAP_R_UNITY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
#: Metadata flags that are observable states, with the capability that makes them meaningful.
STATE_KEYS = {
    "isOpen": "openable",
    "isToggled": "toggleable",
    "isSliced": "sliceable",
    "isDirty": "dirtyable",
    "isCooked": "cookable",
    "isFilledWithLiquid": "canFillWithLiquid",
    "isPickedUp": "pickupable",
}


def unity_to_map(point: dict[str, float] | np.ndarray) -> np.ndarray:
    """A Unity point (dict with x, y, z or array) in the map frame."""
    if isinstance(point, dict):
        point = np.array([point["x"], point["y"], point["z"]], dtype=float)
    return MAP_R_UNITY @ np.asarray(point, dtype=float)


def map_to_unity(point: np.ndarray | Vector3) -> np.ndarray:
    """A map point as a Unity array (x, y, z)."""
    if isinstance(point, Vector3):
        point = point.as_array()
    return MAP_R_UNITY.T @ np.asarray(point, dtype=float)


def map_T_camera(unity_T_camera: np.ndarray) -> np.ndarray:
    """The simulator's 4x4 camera pose (Unity world, optical axes) in the map frame."""
    unity_T_camera = np.asarray(unity_T_camera, dtype=float)
    out = np.eye(4)
    out[:3, :3] = MAP_R_UNITY @ unity_T_camera[:3, :3]
    out[:3, 3] = MAP_R_UNITY @ unity_T_camera[:3, 3]
    return out


def agent_pose(metadata: dict[str, Any]) -> Pose:
    """``map_T_agent``: position on the floor and heading (Unity yaw is clockwise from +z).

    Read from the robot's pose estimate (``agentPoseEstimate``, which drifts when the
    simulator's sensor noise is on) when the simulator reports one, else from ``agent``.
    """
    agent = metadata.get("agentPoseEstimate") or metadata["agent"]
    yaw_unity = math.radians(float(agent["rotation"]["y"]))
    # Unity forward (sin yaw, 0, cos yaw) -> map (cos yaw, -sin yaw, 0): map yaw = -unity yaw.
    return Pose(
        Vector3.from_array(unity_to_map(agent["position"])), Quaternion.from_yaw(-yaw_unity)
    )


def instance_image(
    segmentation: np.ndarray, colour_to_object_id: dict[tuple[int, int, int], str]
) -> tuple[np.ndarray, dict[int, str]]:
    """Colour segmentation -> int32 instance ids (0 = none) and id -> objectId labels."""
    seg = np.asarray(segmentation, dtype=np.int32)
    packed = (seg[..., 0] << 16) | (seg[..., 1] << 8) | seg[..., 2]
    ids = np.zeros(packed.shape, dtype=np.int32)
    labels: dict[int, str] = {}
    values = np.unique(packed)
    by_packed = {(r << 16) | (g << 8) | b: name for (r, g, b), name in colour_to_object_id.items()}
    for number, value in enumerate(values.tolist(), start=1):
        name = by_packed.get(value)
        if name is None:
            continue
        ids[packed == value] = number
        labels[number] = name
    return ids, labels


def rgbd_frame_from_sim(frames: dict[str, Any], stamp: float) -> RGBDFrame:
    """An :class:`RGBDFrame` in the map frame from the simulator's frames dict.

    Needs ``renderDepthImage`` and ``renderInstanceSegmentation`` enabled. Frames that arrive
    over ROS already carry what the bridge derived from those: ``instance_ids`` (int32 image,
    0 = none) with ``instance_labels`` (id -> objectId) replace the colour segmentation, and
    ``map_T_camera`` (4x4, optical frame in ``map``) replaces the Unity ``world_T_camera``, so
    no conversion is undone and redone on the way.
    """
    rgb = np.asarray(frames["frame"], dtype=np.uint8)
    height, width = rgb.shape[:2]
    k = np.asarray(frames["intrinsics"], dtype=float)
    intrinsics = CameraIntrinsics(width, height, k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    if frames.get("instance_ids") is not None:
        ids = np.asarray(frames["instance_ids"], dtype=np.int32)
        labels = {int(i): str(name) for i, name in (frames.get("instance_labels") or {}).items()}
    else:
        ids, labels = instance_image(
            frames["instance_segmentation_frame"], frames["color_to_object_id"]
        )
    if frames.get("map_T_camera") is not None:
        world_T_camera = np.asarray(frames["map_T_camera"], dtype=float)
    else:
        world_T_camera = map_T_camera(frames["world_T_camera"])
    return RGBDFrame(
        rgb=rgb,
        depth=np.asarray(frames["depth_frame"], dtype=np.float32),
        intrinsics=intrinsics,
        world_T_camera=world_T_camera,
        stamp=stamp,
        frame_id="camera",
        instance_ids=ids,
        instance_labels=labels,
    )


def observable_states(obj: dict[str, Any]) -> dict[str, str]:
    """The states of an object's metadata a state classifier would report, as strings."""
    states = {key: str(bool(obj[key])).lower() for key, able in STATE_KEYS.items() if obj.get(able)}
    if obj.get("temperature"):
        states["temperature"] = str(obj["temperature"])
    return states


class SimPerception:
    """Turns simulator steps into percepts through :class:`ObservationExtractor`.

    Parameters
    ----------
    extractor
        Perception pipeline; the default keeps objects up to 5 m and needs 20 depth points.
    mode
        ``"reference"``: the rendered instance mask with the simulator's objectIds, and states
        read from its metadata. ``"class_masks"``: the same masks with only each instance's
        type (a perfect semantic segmenter); no ids and no metadata states reach memory.
    """

    MODES = ("reference", "class_masks")

    def __init__(
        self, extractor: ObservationExtractor | None = None, mode: str = "reference"
    ) -> None:
        if mode not in self.MODES:
            raise InvalidInputError(f"perception mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode
        # Small images: thin things (a butter knife) cover few pixels, so accept small masks.
        self.extractor = extractor or ObservationExtractor(
            MaskBackend(min_pixels=8, keep_ids=mode == "reference"), min_points=8, cloud_stride=4
        )

    def perceive(self, metadata: dict[str, Any], frames: dict[str, Any], stamp: float) -> Percept:
        held = metadata.get("inventoryObjects") or []
        held_id = held[0]["objectId"] if held else None
        pose = agent_pose(metadata)
        tilt = float(metadata["agent"].get("cameraHorizon", 0.0))
        has_masks = (
            frames.get("instance_segmentation_frame") is not None
            or frames.get("instance_ids") is not None
        )
        if frames.get("depth_frame") is None or not has_masks:
            return Percept(stamp, [], None, pose, held_id, camera_tilt_deg=tilt)
        frame = rgbd_frame_from_sim(frames, stamp)
        result = self.extractor.extract(frame)
        if self.mode != "reference":
            # Only the type is known: states come from elsewhere (sensing, action outcomes).
            return Percept(stamp, list(result.observations), frame, pose, held_id, {}, tilt)
        by_id = {o["objectId"]: o for o in metadata["objects"]}
        observations, states = [], {}
        for obs in result.observations:
            if obs.object_id == held_id:
                continue  # the hand's object is not where the camera would put it
            meta = by_id.get(obs.object_id)
            obs_states: dict[str, str] = {}
            if meta is not None:
                obs_states = observable_states(meta)
                states[obs.object_id] = obs_states
            # else: a robot's state classifier reports only nearby objects (AI2-THOR's
            # ``visible``), but the camera sees farther: keep the position, without states.
            observations.append(dataclasses.replace(obs, states=obs_states))
        return Percept(stamp, observations, frame, pose, held_id, states, tilt)
