"""The robot skill interface the planner acts through.

The planner never speaks to a simulator or a driver: it calls skills (walk one cell ahead,
turn, tilt the camera, pick up, put, open, ...) on anything that implements
:class:`RobotSkills`, and reads the robot's :class:`~memory_nodes.planning.percept.Percept`
after each one. Every skill returns a :class:`SkillResult`: whether it worked and, when it did
not, why (:class:`SkillFailure`, which the planner acts on, and the robot's own message, which
it reports). Positions are in the memory's ``map`` frame (x forward, y left, z up).

Implementations: :class:`memory_nodes.adapters.ai2thor_skills.AI2ThorSkills` (AI2-THOR's
action dictionaries over our simulator, the ``ai2thor`` client or the simulator bridge).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from memory_nodes.planning.percept import Percept


class Skill(StrEnum):
    """The skills the planner uses; each value names the :class:`RobotSkills` method."""

    MOVE_AHEAD = "move_ahead"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"
    LOOK_UP = "look_up"
    LOOK_DOWN = "look_down"
    PICK_UP = "pick_up"
    PUT = "put"
    OPEN = "open"
    CLOSE = "close"
    TOGGLE_ON = "toggle_on"
    TOGGLE_OFF = "toggle_off"
    SLICE = "slice"
    EMPTY = "empty"
    DIRTY = "dirty"
    WAIT = "wait"


#: Skills that act on one object (their method takes its id).
OBJECT_SKILLS = frozenset(
    {
        Skill.PICK_UP,
        Skill.PUT,
        Skill.OPEN,
        Skill.CLOSE,
        Skill.TOGGLE_ON,
        Skill.TOGGLE_OFF,
        Skill.SLICE,
        Skill.EMPTY,
        Skill.DIRTY,
    }
)
#: Skills that only let time pass: they cost no action of the task's budget.
FREE_SKILLS = frozenset({Skill.WAIT})


class SkillFailure(StrEnum):
    """Why a skill did not work, as far as the planner acts on it."""

    NONE = "none"
    #: The object is not in view or not within reach from here.
    OUT_OF_REACH = "out_of_reach"
    #: The object is in the wanted state already (open, switched on, ...).
    ALREADY_DONE = "already_done"
    #: The object cannot be picked up at all.
    NOT_PICKUPABLE = "not_pickupable"
    #: The receptacle is closed: open it first.
    RECEPTACLE_CLOSED = "receptacle_closed"
    #: The receptacle has no room for the held object.
    NO_ROOM = "no_room"
    #: Nothing can be put on or in the object.
    NOT_A_RECEPTACLE = "not_a_receptacle"
    #: The way ahead is blocked.
    BLOCKED = "blocked"
    OTHER = "other"


@dataclass(frozen=True)
class SkillResult:
    """How one skill went: success, why not (``failure``), and the robot's own message."""

    success: bool
    failure: SkillFailure = SkillFailure.NONE
    message: str = ""


@dataclass(frozen=True)
class FloorMap:
    """Where the robot can stand: floor points (map x, y) on a square grid of ``grid_size``
    metres; ``camera_height`` is the camera's height above the floor (None: the default of
    :data:`memory_nodes.planning.navigation.CAMERA_HEIGHT`)."""

    positions: list[tuple[float, float]]
    grid_size: float
    camera_height: float | None = None


@runtime_checkable
class RobotSkills(Protocol):
    """What the planner needs from a robot.

    Navigation is on a square grid: :meth:`move_ahead` moves one cell along the heading,
    turns are 90°, camera tilts 30°. Object skills take the id perception gave the object.
    """

    def perceive(self, stamp: float) -> Percept:
        """What the sensors show now, stamped ``stamp`` (the memory clock)."""
        ...

    def floor_map(self) -> FloorMap:
        """The floor positions the robot can stand on."""
        ...

    def switch_for(self, object_id: str) -> str:
        """What to toggle to switch ``object_id`` on or off: itself, or its control (a stove
        burner's knob; appliance wiring is part of the home's description)."""
        ...

    def move_ahead(self) -> SkillResult: ...
    def turn_left(self) -> SkillResult: ...
    def turn_right(self) -> SkillResult: ...
    def look_up(self) -> SkillResult: ...
    def look_down(self) -> SkillResult: ...
    def pick_up(self, object_id: str) -> SkillResult: ...
    def put(self, receptacle_id: str) -> SkillResult: ...
    def open(self, object_id: str) -> SkillResult: ...
    def close(self, object_id: str) -> SkillResult: ...
    def toggle_on(self, object_id: str) -> SkillResult: ...
    def toggle_off(self, object_id: str) -> SkillResult: ...
    def slice(self, object_id: str) -> SkillResult: ...
    def empty(self, object_id: str) -> SkillResult: ...
    def dirty(self, object_id: str) -> SkillResult: ...

    def wait(self) -> SkillResult:
        """Let the world run one tick (its state rules: water runs, the microwave heats)."""
        ...
