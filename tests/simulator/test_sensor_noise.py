"""Seeded sensor noise: determinism, ``none`` leaves frames untouched, statistics per preset."""

from __future__ import annotations

import math

import numpy as np
import pytest

from memory_nodes.adapters.ai2thor_perception import agent_pose
from memory_nodes.core.errors import InvalidInputError
from sim import HouseholdSim
from sim.sensor_noise import (
    NOISE_PRESETS,
    DepthNoiseModel,
    OdometryNoiseModel,
    OdometryTracker,
    SensorNoise,
    corrupt_depth,
    estimate_T_truth,
    stereo_occlusion,
)

SIZE = {"width": 96, "height": 72}
ROUTE = ["MoveAhead", "RotateRight", "MoveAhead", "MoveAhead", "RotateLeft", "LookDown"]


def _sim(noise: str | None, seed: int = 7) -> HouseholdSim:
    init = {} if noise is None else {"sensorNoise": noise}
    return HouseholdSim(
        "FloorPlan1",
        seed=seed,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
        **SIZE,
        **init,
    )


def _drive(sim: HouseholdSim) -> list[tuple[dict, dict]]:
    return [sim.step({"action": action}) for action in ROUTE]


def test_same_seed_gives_the_same_noisy_frames_and_pose_estimates():
    first, second = _sim("realistic", 3), _sim("realistic", 3)
    try:
        runs = [_drive(first), _drive(second)]
        first.reset("FloorPlan1", seed=4)
        runs.append(_drive(first))
        first.reset("FloorPlan1", seed=3)  # a reset with the same seed replays the same noise
        runs.append(_drive(first))
        for (m1, f1), (m2, f2), (_, f3), (m4, f4) in zip(*runs, strict=True):
            for metadata, frames in ((m2, f2), (m4, f4)):
                assert np.array_equal(f1["depth_frame"], frames["depth_frame"])
                assert np.array_equal(f1["world_T_camera"], frames["world_T_camera"])
                assert m1["agentPoseEstimate"] == metadata["agentPoseEstimate"]
            assert not np.array_equal(f1["depth_frame"], f3["depth_frame"])
    finally:
        first.close()
        second.close()


def test_noise_none_returns_the_rendered_frames_and_the_true_pose_bit_for_bit():
    default, explicit = _sim(None), _sim("none")
    try:
        for action in ROUTE:
            m1, f1 = default.step(action)
            m2, f2 = explicit.step(action)
            rendered = explicit.renderer.render(explicit.world)
            for frames in (f1, f2):
                assert np.array_equal(frames["depth_frame"], rendered.depth)
                assert frames["depth_frame"].dtype == rendered.depth.dtype
                assert np.array_equal(frames["world_T_camera"], rendered.world_T_camera)
                assert np.array_equal(frames["frame"], rendered.rgb)
            for metadata in (m1, m2):
                estimate = metadata["agentPoseEstimate"]
                assert estimate["position"] == metadata["agent"]["position"]
                assert estimate["rotation"] == metadata["agent"]["rotation"]
                assert estimate["cameraPosition"] == metadata["cameraPosition"]
                assert np.array_equal(metadata["world_T_camera"], rendered.world_T_camera)
            assert m1 == m2
    finally:
        default.close()
        explicit.close()


def test_the_robot_reads_the_drifting_estimate_while_metadata_keeps_the_truth():
    sim = _sim("heavy")
    try:
        for _ in range(3):
            metadata, frames = _drive(sim)[-1]
            sim.step("LookUp")
        estimate = metadata["agentPoseEstimate"]
        truth = metadata["agent"]
        assert estimate["position"] != truth["position"]
        pose = agent_pose(metadata)
        assert pose.position.x == pytest.approx(estimate["position"]["z"])
        assert pose.position.y == pytest.approx(-estimate["position"]["x"])
        # frames carry the camera the estimate implies; metadata the true camera
        assert not np.allclose(frames["world_T_camera"], metadata["world_T_camera"])
        camera = [estimate["cameraPosition"][k] for k in "xyz"]
        assert np.allclose(frames["world_T_camera"][:3, 3], camera)
        assert metadata["agentPoseEstimate"]["sensorNoise"] == "heavy"
        # a preset persists across resets until Initialize names another
        metadata, _ = sim.reset("FloorPlan1")
        assert metadata["agentPoseEstimate"]["sensorNoise"] == "heavy"
        assert metadata["agentPoseEstimate"]["position"] == metadata["agent"]["position"]
    finally:
        sim.close()


def test_an_unknown_preset_fails_the_action_and_keeps_the_current_one():
    sim = _sim("realistic")
    try:
        metadata, _ = sim.step({"action": "Initialize", "sensorNoise": "foggy"})
        assert not metadata["lastActionSuccess"]
        assert "none, realistic, heavy" in metadata["errorMessage"]
        assert sim.sensor_noise.name == "realistic"
    finally:
        sim.close()
    with pytest.raises(InvalidInputError):
        SensorNoise("foggy")


def test_depth_error_grows_with_the_square_of_distance_as_the_d435_figure_says():
    model = DepthNoiseModel(edge_dropout=0.0, random_dropout=0.0, max_range_m=10.0)
    rng = np.random.default_rng(0)
    errors = {}
    for distance in (1.0, 2.0, 4.0):
        plane = np.full((200, 400), distance, dtype=np.float32)
        noisy = corrupt_depth(plane, 200.0, model, rng)
        valid = noisy > 0
        errors[distance] = float(np.sqrt(np.mean((noisy[valid] - distance) ** 2)))
    # 2 % RMS at 2 m (0.04 m), and RMS ~ z^2: x4 per doubling of distance
    assert errors[2.0] == pytest.approx(0.04, rel=0.1)
    assert errors[1.0] == pytest.approx(0.01, rel=0.15)
    assert errors[4.0] / errors[2.0] == pytest.approx(4.0, rel=0.15)
    # quantised to the 1 mm depth unit
    assert np.allclose(np.round(noisy[noisy > 0] * 1000.0), noisy[noisy > 0] * 1000.0, atol=1e-3)


def test_depth_goes_missing_beside_near_objects_at_edges_and_out_of_range():
    depth = np.full((60, 120), 3.0, dtype=np.float32)
    depth[20:40, 60:80] = 1.0  # a box 1 m away in front of a wall 3 m away
    depth[:, 110:] = 12.0  # beyond the range
    focal, model = 60.0, DepthNoiseModel(random_dropout=0.0)
    noisy = corrupt_depth(depth, focal, model, np.random.default_rng(1))
    band = int(focal * model.baseline_m * (1.0 / 1.0 - 1.0 / 3.0))  # disparity gap, pixels
    assert band >= 1
    assert np.all(noisy[22:38, 60 - band : 59] == 0.0)  # occlusion band left of the box
    assert np.all(noisy[22:38, 81:100] > 0.0)  # nothing hidden right of it
    assert np.all(noisy[:, 111:] == 0.0)
    edges = np.zeros(depth.shape, dtype=bool)
    edges[[19, 20, 39, 40], 62:78] = True
    assert 0.3 < float(np.mean(noisy[edges] == 0.0)) < 0.7  # edge dropout 0.5
    assert np.mean(noisy[45:, 10:50] == 0.0) == 0.0  # plain wall away from the left border


def test_stereo_occlusion_matches_a_pixel_by_pixel_reference_on_random_scenes():
    rng = np.random.default_rng(5)
    for _ in range(20):
        disparity = rng.uniform(0.5, 12.0, (6, 40))
        expected = np.zeros(disparity.shape, dtype=bool)
        for row in range(disparity.shape[0]):
            for u in range(disparity.shape[1]):
                d = disparity[row, u]
                hidden = u - d < 0
                for v in range(u + 1, disparity.shape[1]):
                    hidden |= disparity[row, v] - disparity[row, u] >= v - u
                expected[row, u] = hidden
        assert np.array_equal(stereo_occlusion(disparity), expected)


def test_odometry_drift_grows_as_a_random_walk_with_distance_travelled():
    model = OdometryNoiseModel(
        translation_walk=0.02, heading_walk_per_rad=0.0, heading_walk_per_m=0.0
    )
    final_errors = {10: [], 40: []}
    rng = np.random.default_rng(2)
    for steps in final_errors:
        for _ in range(300):
            tracker = OdometryTracker(model, rng)
            tracker.update(0.0, 0.0, 0.0)
            for i in range(1, steps + 1):
                estimate = tracker.update(0.0, 0.25 * i, 0.0)  # straight ahead in 0.25 m steps
            final_errors[steps].append(math.hypot(estimate[0], estimate[1] - 0.25 * steps))
    rms = {n: float(np.sqrt(np.mean(np.square(e)))) for n, e in final_errors.items()}
    # two axes of 0.02 m/sqrt(m): rms = 0.02 * sqrt(2 * distance)
    assert rms[10] == pytest.approx(0.02 * math.sqrt(2 * 2.5), rel=0.15)
    assert rms[40] == pytest.approx(0.02 * math.sqrt(2 * 10.0), rel=0.15)
    assert rms[40] / rms[10] == pytest.approx(2.0, rel=0.2)


def test_heading_drift_grows_with_the_angle_turned_and_standing_still_adds_none():
    model = NOISE_PRESETS["realistic"].odometry
    rng = np.random.default_rng(3)
    errors = []
    for _ in range(400):
        tracker = OdometryTracker(model, rng)
        yaw = 0.0
        tracker.update(1.0, 2.0, yaw)
        for _ in range(16):  # four full turns on the spot
            yaw += math.pi / 2
            estimate = tracker.update(1.0, 2.0, yaw)
        assert tracker.update(1.0, 2.0, yaw) == estimate  # no motion, no drift
        errors.append(estimate[2] - yaw)
    expected = model.heading_walk_per_rad * math.sqrt(8 * math.pi)
    assert float(np.std(errors)) == pytest.approx(expected, rel=0.15)


def test_estimate_T_truth_maps_the_true_pose_onto_the_estimate():
    truth, estimate = (1.0, -2.0, 0.3), (1.2, -1.9, 0.35)
    transform = estimate_T_truth(truth, estimate)
    moved = transform @ np.array([truth[0], 0.7, truth[1], 1.0])
    assert np.allclose(moved[[0, 2]], estimate[:2]) and moved[1] == pytest.approx(0.7)
    forward = transform[:3, :3] @ np.array([math.sin(truth[2]), 0.0, math.cos(truth[2])])
    assert np.allclose(forward, [math.sin(estimate[2]), 0.0, math.cos(estimate[2])])


@pytest.mark.slow
def test_fidelity_runs_with_realistic_noise_on_one_floorplan(capsys):
    from memory_nodes.evaluation import fidelity

    code = fidelity.main(
        ["--scenes", "FloorPlan1", "--noise", "realistic", "--viewpoints", "3", "--changes", "1"]
    )
    assert code in (0, 1)
    table = capsys.readouterr().out
    assert "FloorPlan1" in table and "recall" in table
    assert fidelity.build_parser().parse_args(["--noise", "heavy"]).noise == "heavy"


def test_task_evaluation_accepts_the_noise_presets():
    from memory_nodes.evaluation import tasks

    with pytest.raises(SystemExit):
        tasks.main(["--tasks", "x.json", "--noise", "foggy"])
    simulator = tasks._new_sim("FloorPlan1", 64, 48, 0, "realistic")
    try:
        assert simulator.sensor_noise.name == "realistic"
    finally:
        simulator.close()
