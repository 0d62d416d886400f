"""Seeded sensor noise: a stereo depth camera's errors and a drifting odometry pose estimate.

The renderer gives perfect depth and the agent's true pose. A robot gets neither: its depth
camera (modelled on an Intel RealSense D435, an active-IR stereo camera) has an error that grows
with the square of distance, millimetre depth units, no depth where one imager cannot see what
the other sees (the band left of near objects), at depth edges and beyond its range; its pose
comes from wheel odometry, whose error grows as a random walk with the distance travelled and
the angle turned. Figures and their sources are in ``docs/noise.md``.

Presets: ``none`` (perfect sensing, the renderer's output returned untouched), ``realistic``
(the sensor's published figures) and ``heavy`` (worse than the figures, for stress tests).
Every draw comes from generators seeded from the simulator's seed, one stream for depth and one
for odometry, so the same seed and actions give the same frames and the same pose estimates,
and whether depth is rendered does not change the pose estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from memory_nodes.core.errors import InvalidInputError

__all__ = [
    "NOISE_PRESETS",
    "DepthNoiseModel",
    "OdometryNoiseModel",
    "OdometryTracker",
    "SensorNoise",
    "SensorNoisePreset",
    "corrupt_depth",
    "stereo_occlusion",
]


@dataclass(frozen=True)
class DepthNoiseModel:
    """A stereo depth camera's error model (defaults: RealSense D435, see ``docs/noise.md``).

    Attributes
    ----------
    rms_error_per_m2
        RMS depth error divided by distance squared (1/m): stereo depth error is
        ``z**2 * subpixel_error / (focal_px * baseline)``. 0.01 gives 2 % at 2 m, the D435
        datasheet's bound.
    depth_unit_m
        Quantisation step (the camera's depth unit; 1 mm is the D400 default).
    min_range_m, max_range_m
        Depth outside this range reads 0 (invalid).
    baseline_m
        Distance between the imagers; sets the width of the occlusion band left of near objects.
    edge_jump
        Relative depth jump between neighbouring pixels that counts as a depth edge.
    edge_dropout
        Probability that a pixel on either side of a depth edge reads 0 (matching fails there).
    random_dropout
        Probability that any other pixel reads 0 (holes in the depth image).
    """

    rms_error_per_m2: float = 0.01
    depth_unit_m: float = 0.001
    min_range_m: float = 0.28
    max_range_m: float = 6.0
    baseline_m: float = 0.050
    edge_jump: float = 0.1
    edge_dropout: float = 0.5
    random_dropout: float = 0.002


@dataclass(frozen=True)
class OdometryNoiseModel:
    """Random-walk odometry drift: the error's variance grows linearly with motion.

    Attributes
    ----------
    translation_walk
        Position error std per square root of metre travelled (m/sqrt(m)), along and across the
        direction of travel: 0.02 is 2 cm after 1 m, 10 cm after 25 m.
    heading_walk_per_rad
        Heading error std per square root of radian turned (rad/sqrt(rad)).
    heading_walk_per_m
        Heading error std per square root of metre travelled (rad/sqrt(m)).
    """

    translation_walk: float = 0.02
    heading_walk_per_rad: float = 0.01
    heading_walk_per_m: float = 0.005


@dataclass(frozen=True)
class SensorNoisePreset:
    """A named pair of depth and odometry models; ``None`` means that sensor is perfect."""

    name: str
    depth: DepthNoiseModel | None
    odometry: OdometryNoiseModel | None


NOISE_PRESETS: dict[str, SensorNoisePreset] = {
    "none": SensorNoisePreset("none", None, None),
    "realistic": SensorNoisePreset("realistic", DepthNoiseModel(), OdometryNoiseModel()),
    "heavy": SensorNoisePreset(
        "heavy",
        DepthNoiseModel(
            rms_error_per_m2=0.02,
            min_range_m=0.3,
            max_range_m=4.0,
            edge_jump=0.05,
            edge_dropout=0.9,
            random_dropout=0.02,
        ),
        OdometryNoiseModel(
            translation_walk=0.05, heading_walk_per_rad=0.03, heading_walk_per_m=0.015
        ),
    ),
}


def noise_preset(name: str) -> SensorNoisePreset:
    """The preset called ``name``; raises :class:`InvalidInputError` naming the choices."""
    preset = NOISE_PRESETS.get(name) if isinstance(name, str) else None
    if preset is None:
        raise InvalidInputError(
            f"unknown sensor noise preset {name!r}; choose from {', '.join(NOISE_PRESETS)}"
        )
    return preset


# ----------------------------------------------------------------------------------- depth


def stereo_occlusion(disparity_px: np.ndarray) -> np.ndarray:
    """Pixels of the left (reference) imager that the right imager cannot see.

    A pixel at column ``u`` with disparity ``d`` appears at ``u - d`` in the right image. It is
    hidden there when a pixel to its right is nearer by at least their column gap
    (``d(u') - u' >= d(u) - u`` for some ``u' > u``), or when ``u - d`` falls off the image.
    One reverse running maximum per row finds both (the D435's invalid band left of near
    objects and along the image's left edge).
    """
    width = disparity_px.shape[1]
    columns = np.arange(width, dtype=disparity_px.dtype)
    reach = disparity_px - columns  # -(column in the right image)
    # running maximum from the right, over the columns strictly right of each pixel
    flipped = np.ascontiguousarray(reach[:, ::-1])
    right_max = np.maximum.accumulate(flipped, axis=1)[:, ::-1]
    hidden = np.zeros(reach.shape, dtype=bool)
    hidden[:, :-1] = right_max[:, 1:] >= reach[:, :-1]
    return hidden | (reach > 0.0)


def depth_edges(depth: np.ndarray, relative_jump: float) -> np.ndarray:
    """Pixels on either side of a jump larger than ``relative_jump`` times the nearer depth."""
    edges = np.zeros(depth.shape, dtype=bool)
    down = np.abs(depth[1:] - depth[:-1]) > relative_jump * np.minimum(depth[1:], depth[:-1])
    edges[:-1] |= down
    edges[1:] |= down
    across = np.abs(depth[:, 1:] - depth[:, :-1]) > relative_jump * np.minimum(
        depth[:, 1:], depth[:, :-1]
    )
    edges[:, :-1] |= across
    edges[:, 1:] |= across
    return edges


def corrupt_depth(
    depth: np.ndarray, focal_px: float, model: DepthNoiseModel, rng: np.random.Generator
) -> np.ndarray:
    """``depth`` (metres, float32, true) as the modelled camera reads it; 0 means no depth.

    Noise is added in disparity (what a stereo camera measures), so its depth RMS grows with
    the square of distance: ``rms_error_per_m2 * z**2`` to first order. Computed in float32,
    the depth image's own precision.
    """
    true_depth = np.asarray(depth, dtype=np.float32)
    finite = np.isfinite(true_depth) & (true_depth > 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(finite, np.float32(1.0) / true_depth, np.float32(0.0))
    invalid = ~finite
    invalid |= stereo_occlusion(inverse * np.float32(focal_px * model.baseline_m))
    edges = depth_edges(np.where(finite, true_depth, np.float32(0.0)), model.edge_jump)
    draws = rng.random(true_depth.shape, dtype=np.float32)
    invalid |= draws < np.where(edges, model.edge_dropout, model.random_dropout)
    noise = rng.standard_normal(true_depth.shape, dtype=np.float32)
    noisy_inverse = inverse + noise * np.float32(model.rms_error_per_m2)
    invalid |= noisy_inverse <= 0.0
    noisy = np.float32(1.0) / np.where(invalid, np.float32(1.0), noisy_inverse)
    unit = np.float32(model.depth_unit_m)
    noisy = np.round(noisy / unit) * unit
    invalid |= (true_depth < model.min_range_m) | (noisy > model.max_range_m)
    noisy[invalid] = 0.0
    return noisy


# -------------------------------------------------------------------------------- odometry


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


class OdometryTracker:
    """The pose a robot integrates from noisy odometry, beside the true pose it follows.

    Poses are Unity floor poses ``(x, z, yaw)``, yaw in radians clockwise from +z (AI2-THOR's
    ``rotation.y``). Each true motion (a step, a turn, a teleport taken as driving straight to
    the target) is measured in the robot's previous frame, perturbed, and composed onto the
    estimate. The first pose seen is known exactly (the map's origin is where the robot starts).
    """

    def __init__(self, model: OdometryNoiseModel, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        self.truth: tuple[float, float, float] | None = None
        self.estimate: tuple[float, float, float] | None = None

    def restart(self) -> None:
        """Forget both poses: the next pose is the new, exactly known, start."""
        self.truth = self.estimate = None

    def update(self, x: float, z: float, yaw: float) -> tuple[float, float, float]:
        """Follow the robot to true pose ``(x, z, yaw)``; returns the estimate there."""
        if self.truth is None or self.estimate is None:
            self.truth = self.estimate = (x, z, yaw)
            return self.estimate
        px, pz, pyaw = self.truth
        dx, dz = x - px, z - pz
        # Unity: forward (sin yaw, cos yaw), right (cos yaw, -sin yaw) on the floor.
        forward = dx * math.sin(pyaw) + dz * math.cos(pyaw)
        right = dx * math.cos(pyaw) - dz * math.sin(pyaw)
        turn = _wrap(yaw - pyaw)
        distance = math.hypot(dx, dz)
        m = self.model
        walk = self.rng.normal(0.0, 1.0, 3)
        forward += walk[0] * m.translation_walk * math.sqrt(distance)
        right += walk[1] * m.translation_walk * math.sqrt(distance)
        turn += walk[2] * math.sqrt(
            m.heading_walk_per_rad**2 * abs(turn) + m.heading_walk_per_m**2 * distance
        )
        ex, ez, eyaw = self.estimate
        ex += forward * math.sin(eyaw) + right * math.cos(eyaw)
        ez += forward * math.cos(eyaw) - right * math.sin(eyaw)
        self.truth = (x, z, yaw)
        self.estimate = (ex, ez, eyaw + turn)
        return self.estimate


def estimate_T_truth(
    truth: tuple[float, float, float], estimate: tuple[float, float, float]
) -> np.ndarray:
    """4x4 Unity transform taking the true agent pose onto the estimated one (about +y)."""
    angle = estimate[2] - truth[2]
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    transform = np.eye(4)
    transform[:3, :3] = rotation
    true_position = np.array([truth[0], 0.0, truth[1]])
    transform[:3, 3] = np.array([estimate[0], 0.0, estimate[1]]) - rotation @ true_position
    return transform


# ---------------------------------------------------------------------------- the process


class SensorNoise:
    """The simulator's sensor noise: a preset, seeded generators and the odometry state.

    Parameters
    ----------
    preset
        A name from :data:`NOISE_PRESETS`.
    seed
        Seeds the depth and odometry streams (``None``: fresh entropy, as ``default_rng``).
    """

    def __init__(self, preset: str = "none", seed: int | None = None) -> None:
        self.preset = noise_preset(preset)
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        depth_seed, odometry_seed = np.random.SeedSequence(seed).spawn(2)
        self.depth_rng = np.random.default_rng(depth_seed)
        self.odometry_rng = np.random.default_rng(odometry_seed)
        self._tracker: OdometryTracker | None = None

    def set_preset(self, name: str) -> None:
        """Switch presets (validated first); the odometry restarts from the current pose."""
        preset = noise_preset(name)
        if preset != self.preset:
            self.preset = preset
            self._tracker = None

    def restart(self) -> None:
        """A new episode: the next pose seen is known exactly."""
        if self._tracker is not None:
            self._tracker.restart()

    @property
    def name(self) -> str:
        return self.preset.name

    def pose_estimate(self, x: float, z: float, yaw_deg: float) -> tuple[float, float, float]:
        """The estimated ``(x, z, yaw_deg)`` for the true pose; the truth itself without drift."""
        model = self.preset.odometry
        if model is None:
            return x, z, yaw_deg
        if self._tracker is None:
            self._tracker = OdometryTracker(model, self.odometry_rng)
        ex, ez, eyaw = self._tracker.update(x, z, math.radians(yaw_deg))
        return ex, ez, math.degrees(eyaw) % 360.0

    def depth(self, depth: np.ndarray, focal_px: float) -> np.ndarray:
        """The camera's reading of true ``depth``; the very same array without depth noise."""
        model = self.preset.depth
        if model is None:
            return depth
        return corrupt_depth(depth, focal_px, model, self.depth_rng)
