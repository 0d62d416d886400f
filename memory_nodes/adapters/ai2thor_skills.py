"""The robot skills of an AI2-THOR agent: action dictionaries in, skill results out.

:class:`AI2ThorSkills` implements :class:`~memory_nodes.planning.skills.RobotSkills` over
anything with ``step(action) -> (metadata, frames)`` in AI2-THOR's layout: our
:class:`sim.household_sim.HouseholdSim`, or the planner node's
:class:`~memory_nodes.nodes.planner_ros_adapters.RosWorld`, which sends the same dictionaries
to the simulator bridge (and so to the ``ai2thor`` client's ``Controller`` behind it). Only
this module knows action names, metadata keys and AI2-THOR's error texts; the Unity <-> map
conversions live in :mod:`memory_nodes.adapters.ai2thor_perception`.
"""

from __future__ import annotations

from typing import Any, Protocol

from memory_nodes.adapters.ai2thor_perception import SimPerception, unity_to_map
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.skills import FloorMap, SkillFailure, SkillResult

#: Skill -> AI2-THOR action.
ACTIONS = {
    "move_ahead": "MoveAhead",
    "turn_left": "RotateLeft",
    "turn_right": "RotateRight",
    "look_up": "LookUp",
    "look_down": "LookDown",
    "pick_up": "PickupObject",
    "put": "PutObject",
    "open": "OpenObject",
    "close": "CloseObject",
    "toggle_on": "ToggleObjectOn",
    "toggle_off": "ToggleObjectOff",
    "slice": "SliceObject",
    "empty": "EmptyLiquidFromObject",
    "dirty": "DirtyObject",
    "wait": "Pass",
}
#: Parts of AI2-THOR's error messages -> why the skill failed, first match wins.
FAILURE_TEXTS = (
    ("visible", SkillFailure.OUT_OF_REACH),
    ("CanPickup", SkillFailure.NOT_PICKUPABLE),
    ("CLOSED", SkillFailure.RECEPTACLE_CLOSED),
    ("No valid positions", SkillFailure.NO_ROOM),
    ("not a receptacle", SkillFailure.NOT_A_RECEPTACLE),
    ("already", SkillFailure.ALREADY_DONE),
)


class StepWorld(Protocol):
    def step(self, action: dict[str, Any]) -> tuple[dict, dict]: ...


def failure_of(action: str, error_message: str) -> SkillFailure:
    """Why an AI2-THOR action failed, from its error message."""
    for text, failure in FAILURE_TEXTS:
        if text in error_message:
            return failure
    return SkillFailure.BLOCKED if action == "MoveAhead" else SkillFailure.OTHER


class AI2ThorSkills:
    """Robot skills over an AI2-THOR-like world.

    Parameters
    ----------
    world
        ``step(action) -> (metadata, frames)``.
    perception
        Frames -> percepts; the default reads the simulator's instance masks.
    """

    def __init__(self, world: StepWorld, perception: SimPerception | None = None) -> None:
        self.world = world
        self.perception = perception or SimPerception()
        self.metadata: dict[str, Any] = {}
        self.frames: dict[str, Any] = {}

    def _step(self, action: dict[str, Any]) -> dict[str, Any]:
        self.metadata, self.frames = self.world.step(action)
        return self.metadata

    def _do(self, skill: str, object_id: str | None = None) -> SkillResult:
        action: dict[str, Any] = {"action": ACTIONS[skill]}
        if object_id is not None:
            action["objectId"] = object_id
        metadata = self._step(action)
        if metadata["lastActionSuccess"]:
            return SkillResult(True)
        message = str(metadata.get("errorMessage") or "")
        return SkillResult(False, failure_of(action["action"], message), message)

    # ---- what the robot knows ------------------------------------------------------------
    def perceive(self, stamp: float) -> Percept:
        return self.perception.perceive(self.metadata, self.frames, stamp)

    def floor_map(self) -> FloorMap:
        """``GetReachablePositions``, in the map frame."""
        metadata = self._step({"action": "GetReachablePositions"})
        positions = []
        for p in metadata.get("actionReturn") or []:
            x, y, _ = unity_to_map([p["x"], p.get("y", 0.0), p["z"]])
            positions.append((float(x), float(y)))
        return FloorMap(positions, float(metadata.get("gridSize", 0.25)))

    def switch_for(self, object_id: str) -> str:
        """An object AI2-THOR cannot toggle (a StoveBurner) is switched by the object whose
        ``controlledObjects`` lists it (its StoveKnob)."""
        objects = self.metadata.get("objects") or []
        target = next((o for o in objects if o["objectId"] == object_id), None)
        if target is None or target.get("toggleable"):
            return object_id
        control = next(
            (o for o in objects if object_id in (o.get("controlledObjects") or [])), None
        )
        return control["objectId"] if control is not None else object_id

    # ---- skills --------------------------------------------------------------------------
    def move_ahead(self) -> SkillResult:
        return self._do("move_ahead")

    def turn_left(self) -> SkillResult:
        return self._do("turn_left")

    def turn_right(self) -> SkillResult:
        return self._do("turn_right")

    def look_up(self) -> SkillResult:
        return self._do("look_up")

    def look_down(self) -> SkillResult:
        return self._do("look_down")

    def pick_up(self, object_id: str) -> SkillResult:
        return self._do("pick_up", object_id)

    def put(self, receptacle_id: str) -> SkillResult:
        return self._do("put", receptacle_id)

    def open(self, object_id: str) -> SkillResult:
        return self._do("open", object_id)

    def close(self, object_id: str) -> SkillResult:
        return self._do("close", object_id)

    def toggle_on(self, object_id: str) -> SkillResult:
        return self._do("toggle_on", object_id)

    def toggle_off(self, object_id: str) -> SkillResult:
        return self._do("toggle_off", object_id)

    def slice(self, object_id: str) -> SkillResult:
        return self._do("slice", object_id)

    def empty(self, object_id: str) -> SkillResult:
        return self._do("empty", object_id)

    def dirty(self, object_id: str) -> SkillResult:
        return self._do("dirty", object_id)

    def wait(self) -> SkillResult:
        return self._do("wait")
