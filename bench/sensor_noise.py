"""Sensor noise presets: what they do to depth and pose, and what they cost per frame.

Prints JSON with, per preset:

* ``depth_rms_m``: RMS depth error of valid pixels on flat planes at 1, 2, 4 m (the D435 figure
  is 2 % at 2 m, growing with distance squared) and the share of pixels without depth;
* ``drift``: the pose estimate's error (position m, heading deg; median and p95 over seeds)
  after the fidelity evaluation's tour of one FloorPlan (12 viewpoints, 12 views each);
* ``cost_ms``: per-frame time of the depth corruption at 320x240 and 640x480, against the
  simulator's own step (render + metadata) at the same size timed in the same run.

``--quick`` uses fewer seeds and repetitions. Usage: ``python bench/sensor_noise.py [--quick]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import time

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")

from memory_nodes.evaluation.fidelity import HORIZONS, ROTATIONS, cover_positions
from sim import HouseholdSim
from sim.sensor_noise import NOISE_PRESETS, OdometryTracker, corrupt_depth


def depth_statistics(preset: str, seed: int) -> dict[str, float]:
    model = NOISE_PRESETS[preset].depth
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for distance in (1.0, 2.0, 4.0):
        plane = np.full((240, 320), distance, dtype=np.float32)
        noisy = corrupt_depth(plane, 160.0, model, rng)
        valid = noisy > 0
        out[f"rms_at_{distance:g}m"] = float(np.sqrt(np.mean((noisy[valid] - distance) ** 2)))
        out[f"missing_at_{distance:g}m"] = float(1.0 - valid.mean())
    return out


def tour_poses(scene: str, viewpoints: int) -> list[tuple[float, float, float]]:
    """The true poses of the fidelity evaluation's tour, in order (Unity x, z, yaw rad)."""
    sim = HouseholdSim(scene, width=32, height=24)
    try:
        metadata, _ = sim.step({"action": "GetReachablePositions"})
    finally:
        sim.close()
    poses = []
    for position in cover_positions(metadata["actionReturn"] or [], viewpoints):
        for rotation in ROTATIONS:
            for _ in HORIZONS:
                poses.append((position["x"], position["z"], math.radians(rotation)))
    return poses


def drift_statistics(preset: str, poses: list, seeds: int) -> dict[str, float]:
    model = NOISE_PRESETS[preset].odometry
    position_errors, heading_errors = [], []
    travelled = sum(math.dist(a[:2], b[:2]) for a, b in itertools.pairwise(poses))
    for seed in range(seeds):
        tracker = OdometryTracker(model, np.random.default_rng(seed))
        for x, z, yaw in poses:
            ex, ez, eyaw = tracker.update(x, z, yaw)
        position_errors.append(math.hypot(ex - x, ez - z))
        heading_errors.append(abs(math.degrees((eyaw - yaw + math.pi) % (2 * math.pi) - math.pi)))
    return {
        "path_m": travelled,
        "frames": len(poses),
        "position_error_m_p50": float(np.median(position_errors)),
        "position_error_m_p95": float(np.percentile(position_errors, 95)),
        "heading_error_deg_p50": float(np.median(heading_errors)),
        "heading_error_deg_p95": float(np.percentile(heading_errors, 95)),
    }


def cost(width: int, height: int, repeats: int) -> dict[str, float]:
    """Median ms of one step without noise (the reference) and of the depth corruption."""
    sim = HouseholdSim("FloorPlan1", width=width, height=height, seed=0, renderDepthImage=True)
    try:
        step_times, noise_times = [], []
        model = NOISE_PRESETS["realistic"].depth
        rng = np.random.default_rng(0)
        for i in range(repeats):
            started = time.perf_counter()
            _, frames = sim.step({"action": "RotateRight" if i % 2 else "RotateLeft"})
            step_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            corrupt_depth(frames["depth_frame"], float(frames["intrinsics"][0, 0]), model, rng)
            noise_times.append(time.perf_counter() - started)
    finally:
        sim.close()
    step_ms, noise_ms = 1e3 * np.median(step_times), 1e3 * np.median(noise_times)
    return {
        "step_without_noise_ms_p50": float(step_ms),
        "depth_noise_ms_p50": float(noise_ms),
        "depth_noise_over_step": float(noise_ms / step_ms),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer seeds and repetitions")
    parser.add_argument("--scene", default="FloorPlan1", help="FloorPlan of the drift tour")
    args = parser.parse_args(argv)
    seeds, repeats = (50, 10) if args.quick else (500, 40)
    poses = tour_poses(args.scene, 12)
    report: dict[str, object] = {"scene": args.scene, "seeds": seeds, "presets": {}}
    for preset in ("realistic", "heavy"):
        report["presets"][preset] = {
            "depth": depth_statistics(preset, 0),
            "drift_after_tour": drift_statistics(preset, poses, seeds),
        }
    report["cost"] = {f"{w}x{h}": cost(w, h, repeats) for w, h in ((320, 240), (640, 480))}
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
