"""Plain data types shared by every memory component.

These carry no ROS types so the core can run and be tested without rclpy; the converters to
and from ``memory_interfaces`` messages live in :mod:`memory_nodes.nodes.conversions`.

Poses name their frames the way Spark-DSG does: ``world_T_object`` is the pose of the object
expressed in the world frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from memory_nodes.core.errors import InvalidInputError


class MemorySource(StrEnum):
    """Which memory produced an answer."""

    SHORT_TERM = "short_term"
    LONG_TERM = "long_term"


def _finite(name: str, *values: float) -> None:
    for value in values:
        if not math.isfinite(value):
            raise InvalidInputError(f"{name} must be finite, got {value!r}")


@dataclass(frozen=True, slots=True)
class Vector3:
    """A point or a vector in metres."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0

    def __post_init__(self) -> None:
        _finite("Vector3", self.x, self.y, self.z)

    def as_array(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z], dtype=np.float64)

    @classmethod
    def from_array(cls, values: np.ndarray | list[float] | tuple[float, ...]) -> Vector3:
        x, y, z = (float(v) for v in values)
        return cls(x, y, z)

    def distance_to(self, other: Vector3) -> float:
        return math.dist((self.x, self.y, self.z), (other.x, other.y, other.z))


@dataclass(frozen=True, slots=True)
class Quaternion:
    """A unit rotation quaternion, Hamilton convention, stored x, y, z, w as ROS does."""

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    w: float = 1.0

    def __post_init__(self) -> None:
        _finite("Quaternion", self.x, self.y, self.z, self.w)
        norm = math.sqrt(self.x**2 + self.y**2 + self.z**2 + self.w**2)
        if abs(norm - 1.0) > 1e-3:
            raise InvalidInputError(f"Quaternion must have unit norm, got norm {norm:.6f}")

    @classmethod
    def from_yaw(cls, yaw: float) -> Quaternion:
        """Rotation about +z by ``yaw`` radians."""
        return cls(0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))

    def yaw(self) -> float:
        """Heading about +z in radians (the part of the rotation a ground robot uses)."""
        siny = 2.0 * (self.w * self.z + self.x * self.y)
        cosy = 1.0 - 2.0 * (self.y**2 + self.z**2)
        return math.atan2(siny, cosy)

    def as_matrix(self) -> np.ndarray:
        x, y, z, w = self.x, self.y, self.z, self.w
        return np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )

    @classmethod
    def from_matrix(cls, rotation: np.ndarray) -> Quaternion:
        """Quaternion of a 3x3 rotation matrix (Shepperd's method, numerically stable)."""
        m = np.asarray(rotation, dtype=np.float64)
        trace = m[0, 0] + m[1, 1] + m[2, 2]
        if trace > 0:
            s = math.sqrt(trace + 1.0) * 2
            w, x = 0.25 * s, (m[2, 1] - m[1, 2]) / s
            y, z = (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
        elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
            s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
            w, x = (m[2, 1] - m[1, 2]) / s, 0.25 * s
            y, z = (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
        elif m[1, 1] > m[2, 2]:
            s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
            w, x = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s
            y, z = 0.25 * s, (m[1, 2] + m[2, 1]) / s
        else:
            s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
            w, x = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s
            y, z = (m[1, 2] + m[2, 1]) / s, 0.25 * s
        norm = math.sqrt(x * x + y * y + z * z + w * w)
        return cls(x / norm, y / norm, z / norm, w / norm)


@dataclass(frozen=True, slots=True)
class Pose:
    """A rigid transform ``parent_T_child``: position of the child and its orientation."""

    position: Vector3 = field(default_factory=Vector3)
    orientation: Quaternion = field(default_factory=Quaternion)

    def as_matrix(self) -> np.ndarray:
        """4x4 homogeneous transform."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.orientation.as_matrix()
        matrix[:3, 3] = self.position.as_array()
        return matrix

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Pose:
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.shape != (4, 4):
            raise InvalidInputError(f"pose matrix must be 4x4, got {matrix.shape}")
        return cls(Vector3.from_array(matrix[:3, 3]), Quaternion.from_matrix(matrix[:3, :3]))


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in the world frame: centre and full extents in metres."""

    center: Vector3 = field(default_factory=Vector3)
    size: Vector3 = field(default_factory=Vector3)

    def __post_init__(self) -> None:
        if min(self.size.x, self.size.y, self.size.z) < 0.0:
            raise InvalidInputError(f"Box size must be non-negative, got {self.size}")

    @property
    def min_corner(self) -> np.ndarray:
        return self.center.as_array() - self.size.as_array() / 2.0

    @property
    def max_corner(self) -> np.ndarray:
        return self.center.as_array() + self.size.as_array() / 2.0

    @classmethod
    def from_corners(cls, min_corner: np.ndarray, max_corner: np.ndarray) -> Box:
        lo = np.asarray(min_corner, dtype=np.float64)
        hi = np.asarray(max_corner, dtype=np.float64)
        return cls(Vector3.from_array((lo + hi) / 2.0), Vector3.from_array(hi - lo))

    def volume(self) -> float:
        return self.size.x * self.size.y * self.size.z

    def intersection_volume(self, other: Box) -> float:
        overlap = np.minimum(self.max_corner, other.max_corner) - np.maximum(
            self.min_corner, other.min_corner
        )
        return float(np.prod(np.clip(overlap, 0.0, None)))

    def iou(self, other: Box) -> float:
        """Intersection over union of the two volumes (0 when both are empty)."""
        inter = self.intersection_volume(other)
        union = self.volume() + other.volume() - inter
        return inter / union if union > 0 else 0.0

    def contains(self, point: Vector3, margin: float = 0.0) -> bool:
        p = point.as_array()
        return bool(np.all(p >= self.min_corner - margin) and np.all(p <= self.max_corner + margin))


@dataclass(frozen=True, slots=True)
class CameraIntrinsics:
    """Pinhole intrinsics of an image, in pixels, as in ``sensor_msgs/CameraInfo``'s K."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(f"image size must be positive, got {self.width}x{self.height}")
        _finite("CameraIntrinsics", self.fx, self.fy, self.cx, self.cy)
        if self.fx <= 0 or self.fy <= 0:
            raise InvalidInputError(f"focal lengths must be positive, got {self.fx}, {self.fy}")

    @classmethod
    def from_fov(cls, width: int, height: int, vertical_fov_deg: float) -> CameraIntrinsics:
        """Square-pixel intrinsics from a vertical field of view, as AI2-THOR specifies it."""
        fy = (height / 2.0) / math.tan(math.radians(vertical_fov_deg) / 2.0)
        return cls(width, height, fy, fy, width / 2.0, height / 2.0)

    def as_matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True, slots=True)
class ObjectObservation:
    """One object instance seen once, in the world frame.

    ``stamp`` is seconds since the epoch of the sensor clock; ``source`` says what produced it
    (``"gt_mask"``, ``"yolo"``, ``"action"``, ...).
    """

    object_id: str
    object_type: str
    world_T_object: Pose
    box: Box
    stamp: float
    confidence: float = 1.0
    states: dict[str, str] = field(default_factory=dict)
    source: str = ""
    source_frame_id: str = ""
    num_points: int = 0
    # What holds the object, when the source knows (the robot's own PutObject does).
    receptacle_id: str = ""
    receptacle_relation: str = ""

    def __post_init__(self) -> None:
        if not self.object_type:
            raise InvalidInputError("ObjectObservation.object_type must not be empty")
        if self.receptacle_relation not in ("", "on", "inside"):
            raise InvalidInputError(
                "ObjectObservation.receptacle_relation must be '', 'on' or 'inside', got "
                f"{self.receptacle_relation!r}"
            )
        _finite("ObjectObservation.stamp", self.stamp)
        if not 0.0 <= self.confidence <= 1.0:
            raise InvalidInputError(
                f"ObjectObservation.confidence must be in [0, 1], got {self.confidence}"
            )


# Type names: AI2-THOR's CamelCase and detector class names such as "cell phone".
_TYPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_ \-]{0,63}$")


def is_type_name(value: object) -> bool:
    """``value`` is an object type name: letters, digits, spaces, '_' or '-', 1 to 64 long."""
    return isinstance(value, str) and _TYPE_NAME.fullmatch(value) is not None


def frame_key(observation: ObjectObservation) -> str:
    """The frame an observation came from: sensor frame id and stamp.

    A camera's frame id names the sensor, not the image, so the stamp tells frames apart.
    Every confirmation counts distinct frame keys, so a frame sent again counts once.
    """
    return f"{observation.source_frame_id or 'frame'}@{observation.stamp:.6f}"


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """What memory knows of one object, with where the knowledge came from."""

    object_id: str
    object_type: str
    world_T_object: Pose
    box: Box
    confidence: float
    first_seen: float
    last_seen: float
    num_observations: int = 1
    states: dict[str, str] = field(default_factory=dict)
    receptacle_id: str = ""
    receptacle_relation: str = ""
    room_id: str = ""
    provenance: tuple[str, ...] = ()
    memory_source: MemorySource = MemorySource.LONG_TERM

    def __post_init__(self) -> None:
        if not self.object_id:
            raise InvalidInputError("ObjectRecord.object_id must not be empty")
        _finite("ObjectRecord.first_seen/last_seen", self.first_seen, self.last_seen)
        if self.last_seen < self.first_seen:
            raise InvalidInputError(
                f"ObjectRecord.last_seen ({self.last_seen}) precedes first_seen ({self.first_seen})"
            )

    def age(self, now: float) -> float:
        """Seconds since the object was last seen."""
        return max(0.0, now - self.last_seen)
