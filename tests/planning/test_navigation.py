"""A* over reachable cells with turns, and standing poses within reach."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.planning.navigation import (
    CAMERA_HEIGHT,
    NoPathError,
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
