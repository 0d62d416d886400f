"""The planner stands on its own: no simulator, no ROS, a small fake robot behind the skills.

:class:`FakeKitchen` implements :class:`~memory_nodes.planning.skills.RobotSkills` in the map
frame: a floor grid, an apple on a counter and a fridge that opens; pick and put change the
fake world, and each percept lists what is in view directly (no rendering). The proof runs in
a fresh interpreter that refuses to import ``sim``, rclpy and every message package.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from memory_nodes.core.types import (
    Box,
    CameraIntrinsics,
    ObjectObservation,
    Pose,
    Quaternion,
    Vector3,
)
from memory_nodes.perception.frames import RGBDFrame
from memory_nodes.planning.navigation import CAMERA_HEIGHT, DEFAULT_REACH, reach_distance
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.skills import FloorMap, SkillFailure, SkillResult

REPO = Path(__file__).resolve().parents[2]
GRID = 0.25
#: Half the horizontal field of view, degrees.
HALF_FOV = 45.0


@dataclass
class _Thing:
    object_type: str
    centre: np.ndarray
    size: np.ndarray
    states: dict[str, str] = field(default_factory=dict)
    inside: str = ""  # the container it is in


class FakeKitchen:
    """A 3 m x 3 m kitchen floor, a counter with an apple at its far end, a fridge to the right.

    The robot starts at the origin facing +x (the counter). Reach is measured from the camera
    to the nearest point of an object's box, as the planner measures it.
    """

    def __init__(self) -> None:
        self.cells = {
            (round(x * GRID, 4), round(y * GRID, 4)) for x in range(0, 13) for y in range(-6, 7)
        }
        self.x, self.y, self.heading, self.tilt = 0.0, 0.0, 0, 0.0  # heading: yaw / 90°
        self.held: str | None = None
        self.things = {
            "CounterTop|1": _Thing("CounterTop", np.array([3.65, 0.0, 0.45]),
                                   np.array([0.6, 3.0, 0.9])),
            "Apple|1": _Thing("Apple", np.array([3.5, 0.5, 0.94]), np.array([0.08, 0.08, 0.08]),
                              {"isPickedUp": "false"}),
            "Fridge|1": _Thing("Fridge", np.array([1.5, -2.0, 0.9]), np.array([0.7, 0.7, 1.8]),
                               {"isOpen": "false"}),
        }  # fmt: skip
        self.sent: list[str] = []

    # ---- what the robot sees -------------------------------------------------------------
    def _yaw(self) -> float:
        return math.radians(90.0 * self.heading)

    def _camera(self) -> np.ndarray:
        return np.array([self.x, self.y, CAMERA_HEIGHT])

    def _in_view(self, object_id: str) -> bool:
        thing = self.things[object_id]
        if object_id == self.held:
            return False
        if thing.inside and self.things[thing.inside].states.get("isOpen") != "true":
            return False  # behind a shut door
        dx, dy = thing.centre[0] - self.x, thing.centre[1] - self.y
        angle = math.degrees(math.atan2(dy, dx) - self._yaw())
        return abs((angle + 180.0) % 360.0 - 180.0) <= HALF_FOV and math.hypot(dx, dy) < 5.0

    def _in_reach(self, object_id: str) -> bool:
        thing = self.things[object_id]
        lo, hi = thing.centre - thing.size / 2, thing.centre + thing.size / 2
        near = reach_distance(self._camera(), lo, hi, up_axis=2) <= DEFAULT_REACH
        return self._in_view(object_id) and near

    def _frame(self, stamp: float) -> RGBDFrame:
        """A tiny blank frame: only the camera pose matters to the planner here."""
        yaw, tilt = self._yaw(), math.radians(self.tilt)
        forward = np.array([math.cos(yaw) * math.cos(tilt), math.sin(yaw) * math.cos(tilt),
                            -math.sin(tilt)])  # fmt: skip
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        down = np.cross(forward, right)
        world_T_camera = np.eye(4)
        world_T_camera[:3, :3] = np.column_stack([right, down, forward])
        world_T_camera[:3, 3] = self._camera()
        return RGBDFrame(
            rgb=np.zeros((6, 8, 3), np.uint8),
            depth=np.zeros((6, 8), np.float32),  # no depth return: nothing is seen empty
            intrinsics=CameraIntrinsics(8, 6, 4.0, 4.0, 4.0, 3.0),
            world_T_camera=world_T_camera,
            stamp=stamp,
        )

    def perceive(self, stamp: float) -> Percept:
        observations, states = [], {}
        for object_id, thing in self.things.items():
            if not self._in_view(object_id):
                continue
            centre = Vector3.from_array(thing.centre)
            observations.append(
                ObjectObservation(
                    object_id=object_id,
                    object_type=thing.object_type,
                    world_T_object=Pose(centre),
                    box=Box(centre, Vector3.from_array(thing.size)),
                    stamp=stamp,
                    states=dict(thing.states),
                    source="fake",
                )
            )
            states[object_id] = dict(thing.states)
        pose = Pose(Vector3(self.x, self.y, 0.9), Quaternion.from_yaw(self._yaw()))
        return Percept(stamp, observations, self._frame(stamp), pose, self.held, states, self.tilt)

    def floor_map(self) -> FloorMap:
        return FloorMap(sorted(self.cells), GRID)

    def switch_for(self, object_id: str) -> str:
        return object_id

    # ---- skills --------------------------------------------------------------------------
    def _done(self, name: str, ok: bool = True, why: SkillFailure = SkillFailure.NONE,
              message: str = "") -> SkillResult:  # fmt: skip
        self.sent.append(name)
        return SkillResult(ok, why, message)

    def _unreachable(self, name: str, object_id: str) -> SkillResult | None:
        if object_id not in self.things or not self._in_reach(object_id):
            return self._done(name, False, SkillFailure.OUT_OF_REACH, f"{object_id} not in reach")
        return None

    def move_ahead(self) -> SkillResult:
        step = (round(math.cos(self._yaw())), round(math.sin(self._yaw())))
        ahead = (round(self.x + step[0] * GRID, 4), round(self.y + step[1] * GRID, 4))
        if ahead not in self.cells:
            return self._done("move_ahead", False, SkillFailure.BLOCKED, "blocked")
        self.x, self.y = ahead
        return self._done("move_ahead")

    def turn_left(self) -> SkillResult:
        self.heading = (self.heading + 1) % 4
        return self._done("turn_left")

    def turn_right(self) -> SkillResult:
        self.heading = (self.heading - 1) % 4
        return self._done("turn_right")

    def look_up(self) -> SkillResult:
        self.tilt -= 30.0
        return self._done("look_up")

    def look_down(self) -> SkillResult:
        self.tilt += 30.0
        return self._done("look_down")

    def pick_up(self, object_id: str) -> SkillResult:
        if (refused := self._unreachable("pick_up", object_id)) is not None:
            return refused
        thing = self.things[object_id]
        if "isPickedUp" not in thing.states or self.held is not None:
            return self._done("pick_up", False, SkillFailure.NOT_PICKUPABLE, "cannot pick up")
        self.held, thing.inside = object_id, ""
        thing.states["isPickedUp"] = "true"
        return self._done("pick_up")

    def put(self, receptacle_id: str) -> SkillResult:
        if (refused := self._unreachable("put", receptacle_id)) is not None:
            return refused
        holder = self.things[receptacle_id]
        if self.held is None:
            return self._done("put", False, SkillFailure.OTHER, "nothing in hand")
        if holder.states.get("isOpen") == "false":
            return self._done("put", False, SkillFailure.RECEPTACLE_CLOSED, "it is closed")
        thing = self.things[self.held]
        thing.centre = holder.centre.copy()
        thing.inside = receptacle_id if "isOpen" in holder.states else ""
        thing.states["isPickedUp"] = "false"
        self.held = None
        return self._done("put")

    def _set_open(self, name: str, object_id: str, wanted: str) -> SkillResult:
        if (refused := self._unreachable(name, object_id)) is not None:
            return refused
        states = self.things[object_id].states
        if "isOpen" not in states:
            return self._done(name, False, SkillFailure.OTHER, "does not open")
        if states["isOpen"] == wanted:
            return self._done(name, False, SkillFailure.ALREADY_DONE, "already so")
        states["isOpen"] = wanted
        return self._done(name)

    def open(self, object_id: str) -> SkillResult:
        return self._set_open("open", object_id, "true")

    def close(self, object_id: str) -> SkillResult:
        return self._set_open("close", object_id, "false")

    def _cannot(self, name: str) -> SkillResult:
        return self._done(name, False, SkillFailure.OTHER, f"the fake kitchen has no {name}")

    def toggle_on(self, object_id: str) -> SkillResult:
        return self._cannot("toggle_on")

    def toggle_off(self, object_id: str) -> SkillResult:
        return self._cannot("toggle_off")

    def slice(self, object_id: str) -> SkillResult:
        return self._cannot("slice")

    def empty(self, object_id: str) -> SkillResult:
        return self._cannot("empty")

    def dirty(self, object_id: str) -> SkillResult:
        return self._cannot("dirty")

    def wait(self) -> SkillResult:
        return SkillResult(True)


def put_the_apple_in_the_fridge(memory_name: str) -> dict:
    """Plan and run the task against a fresh :class:`FakeKitchen`; what happened."""
    from memory_nodes.planning import FullMemory, NoMemory, TaskExecutor, plan_subgoals
    from memory_nodes.planning.goals import parse_goal
    from memory_nodes.planning.skills import RobotSkills

    kitchen = FakeKitchen()
    assert isinstance(kitchen, RobotSkills)
    memory = FullMemory() if memory_name == "memory" else NoMemory()
    conditions, _ = parse_goal("INSIDE(apple, fridge): 1")
    result = TaskExecutor(kitchen, memory, max_steps=200).run(plan_subgoals(conditions))
    apple = kitchen.things["Apple|1"]
    remembered = [
        (r.receptacle_id, r.world_T_object.position.as_array().tolist())
        for r in memory.where_is("Apple")
    ]
    return {
        "success": result.success,
        "message": result.failure_message,
        "actions": result.actions,
        "counts": result.action_counts,
        "apple_inside": apple.inside,
        "fridge_open": kitchen.things["Fridge|1"].states["isOpen"],
        "remembered": remembered,
    }


def _check(outcome: dict, memory_name: str) -> None:
    assert outcome["success"], outcome["message"]
    assert outcome["apple_inside"] == "Fridge|1"
    assert outcome["fridge_open"] == "false"  # shut again after the put
    assert outcome["counts"]["pick_up"] == 1 and outcome["counts"]["put"] == 1
    if memory_name == "memory":
        ((receptacle, position),) = outcome["remembered"]
        assert receptacle == "Fridge|1"
        assert np.linalg.norm(np.array(position[:2]) - [1.5, -2.0]) < 0.4
    else:
        assert outcome["remembered"] == []


@pytest.mark.parametrize("memory_name", ["no_memory", "memory"])
def test_the_fake_robot_puts_the_apple_in_the_fridge(memory_name):
    _check(put_the_apple_in_the_fridge(memory_name), memory_name)


def test_the_planner_runs_a_task_with_sim_rclpy_and_messages_blocked():
    script = textwrap.dedent(
        f"""
        import importlib, json, pkgutil, sys

        class Block:
            blocked = ("sim", "rclpy", "memory_interfaces", "builtin_interfaces")

            def find_spec(self, name, path=None, target=None):
                root = name.split(".")[0]
                if root in self.blocked or root.endswith(("_msgs", "_srvs")):
                    raise ImportError(f"{{name}} imported by the planner")
                return None

        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(REPO)!r})
        import memory_nodes.planning as planning
        names = [m.name for m in pkgutil.walk_packages(planning.__path__, "memory_nodes.planning.")]
        for name in names:
            importlib.import_module(name)
        from tests.planning.test_planner_without_sim import put_the_apple_in_the_fridge
        outcomes = {{m: put_the_apple_in_the_fridge(m) for m in ("no_memory", "memory")}}
        print(json.dumps({{"modules": names, "outcomes": outcomes}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "memory_nodes.planning.executor" in report["modules"]
    assert "memory_nodes.planning.skills" in report["modules"]
    for memory_name, outcome in report["outcomes"].items():
        _check(outcome, memory_name)
