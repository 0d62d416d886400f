"""The simulator bridge gives the robot's camera pose from the pose estimate, not the truth."""

from __future__ import annotations

import numpy as np

from memory_nodes.nodes.sim_bridge_node import ROBOT_KEYS, unity_T_camera
from sim.household_sim import HouseholdSim


def _camera_after_moves(noise: str) -> tuple[np.ndarray, dict]:
    sim = HouseholdSim("FloorPlan1", width=48, height=36, renderDepthImage=True, sensorNoise=noise)
    try:
        for action in ("MoveAhead", "RotateRight", "MoveAhead", "MoveAhead", "RotateLeft") * 3:
            metadata, _ = sim.step(action)
        return unity_T_camera(metadata), metadata
    finally:
        sim.close()


def test_camera_pose_follows_the_estimate_under_noise() -> None:
    camera, metadata = _camera_after_moves("realistic")
    estimate = metadata["agentPoseEstimate"]["cameraPosition"]
    truth = metadata["cameraPosition"]
    assert np.allclose(camera[:3, 3], [estimate["x"], estimate["y"], estimate["z"]])
    assert not np.allclose(camera[:3, 3], [truth["x"], truth["y"], truth["z"]], atol=1e-4)
    assert "agentPoseEstimate" in ROBOT_KEYS  # forwarded to the planner's side


def test_without_noise_the_camera_pose_is_the_true_one() -> None:
    camera, metadata = _camera_after_moves("none")
    truth = metadata["cameraPosition"]
    assert np.allclose(camera[:3, 3], [truth["x"], truth["y"], truth["z"]])
