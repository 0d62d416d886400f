"""A* over reachable cells with turns, and standing poses within reach."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.planning.navigation import (
    CAMERA_HEIGHT,
    Navigator,
    NoPathError,
    StandingPose,
    actions_to_horizon,
    astar,
    path_costs,
    standing_poses,
)
from tests.planning.conftest import grid_from_text


def test_astar_goes_straight_when_already_facing_the_goal():
    grid = grid_from_text("....\n....")
    assert astar(grid, (0, 0, 1), [(3, 0)]) == ["MoveAhead"] * 3


def test_astar_counts_turns_and_goes_round_a_wall():
    grid = grid_from_text(
        """
        .#...
        .#...
        .....
        """
    )
    plan = astar(grid, (0, 0, 0), [(2, 0)])  # heading 0 faces +z (down the rows)
    assert plan.count("MoveAhead") == 6  # down 2, across 2, up 2
    assert plan.count("RotateLeft") + plan.count("RotateRight") == 2
    assert len(plan) == path_costs(grid, (0, 0, 0))[(2, 0)]


def test_astar_reaches_a_required_heading():
    grid = grid_from_text("...")
    plan = astar(grid, (0, 0, 1), [(2, 0, 3)])
    assert plan[:2] == ["MoveAhead", "MoveAhead"] and len(plan) == 4


def test_astar_raises_when_the_goal_is_walled_off():
    grid = grid_from_text(".#.")
    with pytest.raises(NoPathError):
        astar(grid, (0, 0, 1), [(2, 0)])


def test_standing_poses_keep_the_camera_within_reach_and_face_the_object():
    grid = grid_from_text("\n".join(["........"] * 8))
    lo, hi = np.array([1.0, 0.8, 1.0]), np.array([1.2, 1.0, 1.2])
    poses = standing_poses(grid, lo, hi, reach=1.5)
    assert poses
    for pose in poses:
        x, z = grid.position_of(pose.cell)
        camera = np.array([x, CAMERA_HEIGHT, z])
        assert np.linalg.norm(camera - np.clip(camera, lo, hi)) <= 1.5
        forward = [(0, 1), (1, 0), (0, -1), (-1, 0)][pose.heading]
        to_object = np.array([1.1 - x, 1.1 - z])
        assert np.dot(forward, to_object) > 0  # the object is in front
        assert pose.horizon > 0  # it lies below the camera: look down


def test_horizon_changes_in_thirty_degree_steps():
    assert actions_to_horizon(0.0, 60.0) == ["LookDown", "LookDown"]
    assert actions_to_horizon(30.0, -30.0) == ["LookUp", "LookUp"]


class _GridAgent:
    """An agent on a reachable grid that steps, turns and tilts as AI2-THOR's does."""

    def __init__(self, grid, cell=(0, 0), heading=1, horizon=0.0) -> None:
        self.grid, self.cell, self.heading, self.horizon = grid, cell, heading, horizon
        self.sent: list[str] = []

    def metadata(self, success: bool = True) -> dict:
        x, z = self.grid.position_of(self.cell)
        agent = {"position": {"x": x, "y": 0.9, "z": z}, "rotation": {"y": 90.0 * self.heading}}
        agent["cameraHorizon"] = self.horizon
        return {"agent": agent, "lastActionSuccess": success}

    def act(self, action: dict) -> dict:
        name = action["action"]
        self.sent.append(name)
        if name == "MoveAhead":
            di, dj = [(0, 1), (1, 0), (0, -1), (-1, 0)][self.heading]
            ahead = (self.cell[0] + di, self.cell[1] + dj)
            if not self.grid.is_free(ahead):
                return self.metadata(success=False)
            self.cell = ahead
        elif name in ("RotateRight", "RotateLeft"):
            self.heading = (self.heading + (1 if name == "RotateRight" else -1)) % 4
        elif name in ("LookDown", "LookUp"):
            self.horizon += 30.0 if name == "LookDown" else -30.0
        return self.metadata()


def test_go_to_pose_walks_then_tilts_to_the_horizon_of_the_pose_reached():
    grid = grid_from_text("....\n....")
    agent = _GridAgent(grid)
    navigator = Navigator(grid, agent.act)
    far = StandingPose((3, 1), 0, 30.0, 0.8)
    near = StandingPose((2, 0), 1, 60.0, 0.8)
    nav, metadata, pose = navigator.go_to_pose(agent.metadata(), [far, near], budget=50)
    assert nav.reached and pose == near  # the cheaper of the two
    assert agent.sent == ["MoveAhead", "MoveAhead", "LookDown", "LookDown"]
    assert nav.actions == 4 and metadata["agent"]["cameraHorizon"] == 60.0

    tilts, metadata = navigator.tilt(metadata, -30.0)
    assert tilts == 3 and agent.sent[-3:] == ["LookUp"] * 3
    assert navigator.tilt(metadata, -30.0)[0] == 0  # already there: nothing sent


def test_go_to_pose_reports_no_pose_when_it_cannot_get_there():
    grid = grid_from_text(".#.")
    agent = _GridAgent(grid)
    nav, _, pose = Navigator(grid, agent.act).go_to_pose(
        agent.metadata(), [StandingPose((2, 0), 1, 30.0, 0.8)], budget=50, default_horizon=30.0
    )
    assert not nav.reached and pose is None and nav.message.startswith("no path")
    assert agent.sent == []  # no tilt either
