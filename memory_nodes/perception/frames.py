"""One RGB-D frame with its camera, validated once so every later step can trust it.

Conventions: images are row-major ``(height, width)``; depth is float32 metres along the optical
axis (0, NaN and inf mean "no return"); ``world_T_camera`` maps points from the camera's optical
frame (x right, y down, z forward, as OpenCV and ``sensor_msgs/CameraInfo``) into the world frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.types import CameraIntrinsics

# Depth encodings a camera driver may publish, and the factor to metres.
DEPTH_ENCODINGS = {"32FC1": 1.0, "16UC1": 0.001, "mono16": 0.001}
COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8")


@dataclass(frozen=True)
class RGBDFrame:
    """An RGB-D frame, its camera and its instance labels (when the source provides them).

    ``instance_ids`` is an int32 image of instance numbers (0 = none) and ``instance_labels``
    maps each number to a label string (AI2-THOR objectId such as ``"Apple|+01.00|..."``).
    """

    rgb: np.ndarray
    depth: np.ndarray
    intrinsics: CameraIntrinsics
    world_T_camera: np.ndarray
    stamp: float
    frame_id: str = "camera"
    instance_ids: np.ndarray | None = None
    instance_labels: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        expected = (self.intrinsics.height, self.intrinsics.width)
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise InvalidInputError(
                f"rgb must be HxWx3 uint8, got shape {self.rgb.shape} dtype {self.rgb.dtype}"
            )
        if self.rgb.shape[:2] != expected:
            raise InvalidInputError(
                f"rgb is {self.rgb.shape[1]}x{self.rgb.shape[0]} but CameraInfo says "
                f"{expected[1]}x{expected[0]}"
            )
        if self.depth.shape != expected or self.depth.dtype != np.float32:
            raise InvalidInputError(
                f"depth must be {expected[1]}x{expected[0]} float32 metres, got shape "
                f"{self.depth.shape} dtype {self.depth.dtype}"
            )
        if self.instance_ids is not None and self.instance_ids.shape != expected:
            raise InvalidInputError(
                f"instance mask is {self.instance_ids.shape}, image is {expected}"
            )
        transform = np.asarray(self.world_T_camera, dtype=np.float64)
        if transform.shape != (4, 4) or not np.all(np.isfinite(transform)):
            raise InvalidInputError("world_T_camera must be a finite 4x4 matrix")
        rotation = transform[:3, :3]
        if not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-4):
            raise InvalidInputError("world_T_camera's rotation part is not orthonormal")
        if not np.isfinite(self.stamp):
            raise InvalidInputError(f"frame stamp must be finite, got {self.stamp}")

    @property
    def camera_position(self) -> np.ndarray:
        return np.asarray(self.world_T_camera, dtype=np.float64)[:3, 3]


def depth_to_metres(data: np.ndarray, encoding: str) -> np.ndarray:
    """Depth in metres as float32 from a driver's encoding; raises on unknown encodings."""
    if encoding not in DEPTH_ENCODINGS:
        raise InvalidInputError(
            f"unsupported depth encoding {encoding!r}; supported: {sorted(DEPTH_ENCODINGS)}"
        )
    return (data.astype(np.float32) * np.float32(DEPTH_ENCODINGS[encoding])).astype(np.float32)


def color_to_rgb(data: np.ndarray, encoding: str) -> np.ndarray:
    """HxWx3 RGB uint8 from a driver's colour encoding; raises on unknown encodings."""
    if encoding not in COLOR_ENCODINGS:
        raise InvalidInputError(
            f"unsupported colour encoding {encoding!r}; supported: {list(COLOR_ENCODINGS)}"
        )
    rgb = data[..., :3]
    if encoding.startswith("bgr"):
        rgb = rgb[..., ::-1]
    return np.ascontiguousarray(rgb, dtype=np.uint8)
