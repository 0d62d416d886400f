"""A* over reachable cells with turns, and standing poses within reach."""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.types import Pose, Quaternion, Vector3
from memory_nodes.planning.navigation import (
    CAMERA_HEIGHT,
    Navigator,
    NoPathError,
    StandingPose,
    actions_to_horizon,
    astar,
    path_costs,
    standing_poses,
    yaw_of,
)
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.skills import Skill, SkillFailure, SkillResult
from tests.planning.conftest import grid_from_text

MOVE, LEFT, RIGHT = Skill.MOVE_AHEAD, Skill.TURN_LEFT, Skill.TURN_RIGHT


def test_astar_goes_straight_when_already_facing_the_goal():
    grid = grid_from_text("....\n....")
    assert astar(grid, (0, 0, 1), [(3, 0)]) == [MOVE] * 3


def test_astar_counts_turns_and_goes_round_a_wall():
    grid = grid_from_text(
        """
        .#...
        .#...
        .....
        """
    )
    plan = astar(grid, (0, 0, 0), [(2, 0)])  # heading 0: j grows (down the rows)
    assert plan.count(MOVE) == 6  # down 2, across 2, up 2
    assert plan.count(LEFT) + plan.count(RIGHT) == 2
    assert len(plan) == path_costs(grid, (0, 0, 0))[(2, 0)]


def test_astar_reaches_a_required_heading():
    grid = grid_from_text("...")
    plan = astar(grid, (0, 0, 1), [(2, 0, 3)])
    assert plan[:2] == [MOVE, MOVE] and len(plan) == 4


def test_astar_raises_when_the_goal_is_walled_off():
    grid = grid_from_text(".#.")
    with pytest.raises(NoPathError):
        astar(grid, (0, 0, 1), [(2, 0)])


def test_standing_poses_keep_the_camera_within_reach_and_face_the_object():
    grid = grid_from_text("\n".join(["........"] * 8))
    lo, hi = np.array([1.0, -1.2, 0.8]), np.array([1.2, -1.0, 1.0])  # map frame, z up
    poses = standing_poses(grid, lo, hi, reach=1.5)
    assert poses
    for pose in poses:
        x, y = grid.position_of(pose.cell)
        camera = np.array([x, y, CAMERA_HEIGHT])
        assert np.linalg.norm(camera - np.clip(camera, lo, hi)) <= 1.5
        yaw = np.radians(yaw_of(pose.heading))
        forward = np.array([np.cos(yaw), np.sin(yaw)])
        to_object = np.array([1.1 - x, -1.1 - y])
        assert np.dot(forward, to_object) > 0  # the object is in front
        assert pose.horizon > 0  # it lies below the camera: look down


def test_horizon_changes_in_thirty_degree_steps():
    assert actions_to_horizon(0.0, 60.0) == [Skill.LOOK_DOWN, Skill.LOOK_DOWN]
    assert actions_to_horizon(30.0, -30.0) == [Skill.LOOK_UP, Skill.LOOK_UP]


class _GridAgent:
    """A robot on a reachable grid that steps, turns and tilts as AI2-THOR's agent does."""

    def __init__(self, grid, cell=(0, 0), heading=1, horizon=0.0) -> None:
        self.grid, self.cell, self.heading, self.horizon = grid, cell, heading, horizon
        self.sent: list[Skill] = []

    def percept(self) -> Percept:
        x, y = self.grid.position_of(self.cell)
        pose = Pose(Vector3(x, y, 0.9), Quaternion.from_yaw(np.radians(yaw_of(self.heading))))
        return Percept(0.0, [], None, pose, camera_tilt_deg=self.horizon)

    def act(self, skill: Skill) -> SkillResult:
        self.sent.append(skill)
        if skill == MOVE:
            di, dj = [(0, 1), (1, 0), (0, -1), (-1, 0)][self.heading]
            ahead = (self.cell[0] + di, self.cell[1] + dj)
            if not self.grid.is_free(ahead):
                return SkillResult(False, SkillFailure.BLOCKED)
            self.cell = ahead
        elif skill in (RIGHT, LEFT):
            self.heading = (self.heading + (1 if skill == RIGHT else -1)) % 4
        elif skill in (Skill.LOOK_DOWN, Skill.LOOK_UP):
            self.horizon += 30.0 if skill == Skill.LOOK_DOWN else -30.0
        return SkillResult(True)


def test_go_to_pose_walks_then_tilts_to_the_horizon_of_the_pose_reached():
    grid = grid_from_text("....\n....")
    agent = _GridAgent(grid)
    navigator = Navigator(grid, agent.act, agent.percept)
    far = StandingPose((3, 1), 0, 30.0, 0.8)
    near = StandingPose((2, 0), 1, 60.0, 0.8)
    nav, pose = navigator.go_to_pose([far, near], budget=50)
    assert nav.reached and pose == near  # the cheaper of the two
    assert agent.sent == [MOVE, MOVE, Skill.LOOK_DOWN, Skill.LOOK_DOWN]
    assert nav.actions == 4 and agent.percept().camera_tilt_deg == 60.0

    tilts = navigator.tilt(-30.0)
    assert tilts == 3 and agent.sent[-3:] == [Skill.LOOK_UP] * 3
    assert navigator.tilt(-30.0) == 0  # already there: nothing sent


def test_go_to_pose_reports_no_pose_when_it_cannot_get_there():
    grid = grid_from_text(".#.")
    agent = _GridAgent(grid)
    nav, pose = Navigator(grid, agent.act, agent.percept).go_to_pose(
        [StandingPose((2, 0), 1, 30.0, 0.8)], budget=50, default_horizon=30.0
    )
    assert not nav.reached and pose is None and nav.message.startswith("no path")
    assert agent.sent == []  # no tilt either
