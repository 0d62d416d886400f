"""Runs a subgoal plan in an AI2-THOR-like world, asking memory where things are.

For each subgoal the executor finds the object (fresh view first, then memory, then
exploration), walks to a pose from which it is within reach and in view, acts, and checks the
effect in the next observation. When memory was wrong (the robot stands where the mug should be
and does not see it, and no closed door hides it) the executor tells memory and searches
again. Every action goes through one place, which counts it, perceives the new frame, feeds
memory and enforces the step budget and the wall-clock deadline, so no loop can run forever.

The world is anything with ``step(action_dict) -> (metadata, frames)`` in AI2-THOR's layout
(:class:`sim.household_sim.HouseholdSim`, or a robot adapter); memory is any
:class:`~memory_nodes.planning.memory_interface.TaskMemory`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from memory_nodes.core.types import Box, ObjectObservation, ObjectRecord, Pose, Vector3
from memory_nodes.planning.exploration import (
    CONTAINER_TYPES,
    Explorer,
    is_tall,
    receptacle_priors,
)
from memory_nodes.planning.memory_interface import ActionEffect, TaskMemory
from memory_nodes.planning.navigation import (
    DEFAULT_REACH,
    HORIZONS,
    Navigator,
    ReachableGrid,
    StandingPose,
    path_costs,
    reach_distance,
    standing_poses,
)
from memory_nodes.adapters.ai2thor_perception import Percept, SimPerception, map_to_unity
from memory_nodes.planning.subgoals import (
    INTERACTION_ACTIONS,
    OPENABLE_RECEPTACLE_TYPES,
    SLICED_FORMS,
    STATE_CHECKS,
    Subgoal,
    SubgoalKind,
    SubgoalPlan,
)

_LOG = logging.getLogger(__name__)

#: Actions that ask the world something instead of moving the agent: not counted.
QUERY_ACTIONS = frozenset({"GetReachablePositions", "Pass", "Done"})
#: Memories older than this (seconds of the memory clock) may be stale: look around first.
STALE_AFTER_S = 3600.0
#: Remembered places nearer than this (metres) are walked to without looking around.
LOOK_AROUND_BEYOND_M = 2.5
#: Reach (metres) to stand within after the world said an object was out of reach.
CLOSER_REACH = 1.1
#: How far above a receptacle's top the lowest seen point of something lying on it may be.
LYING_ON_ABOVE_M = 0.12
#: Times a receptacle is cleared for one put before the refusal counts as final.
MAX_ROOM_TRIES = 2
#: Extent (metres) of the middle of a seen object, stood near when its edges were too far.
CORE_SIZE_M = 0.3
#: Types that stay where they are (memory of them does not go stale).
FIXTURES = frozenset({"Fridge", "Microwave", "Cabinet", "Drawer", "CounterTop", "DiningTable",
                      "Sink", "SinkBasin", "Faucet", "StoveBurner", "StoveKnob", "Toaster",
                      "CoffeeMachine", "GarbageCan", "Shelf", "ShelvingUnit", "Desk", "Dresser",
                      "SideTable", "CoffeeTable", "TVStand", "Bed", "Sofa", "ArmChair",
                      "Toilet", "Bathtub", "BathtubBasin", "LightSwitch", "FloorLamp"})  # fmt: skip
#: Flat receptacles a held object can be put down on.
SURFACE_TYPES = ("CounterTop", "DiningTable", "SideTable", "CoffeeTable", "Desk", "Shelf",
                 "Dresser", "TVStand", "Bed", "Sofa", "ArmChair", "Chair", "Stool")  # fmt: skip
#: Receptacles objects go inside (else on): matches the simulator and AI2-THOR.
INSIDE_TYPES = frozenset({"Fridge", "Cabinet", "Drawer", "Microwave", "Box", "GarbageCan", "Sink",
                          "SinkBasin", "Bathtub", "BathtubBasin", "Bowl", "Pot", "Pan", "Cup",
                          "Mug", "Toaster", "Safe", "LaundryHamper"})  # fmt: skip


class FailureReason(StrEnum):
    """Why a subgoal or a task failed."""

    NONE = "none"
    NOT_FOUND = "not_found"
    UNREACHABLE = "unreachable"
    NOT_VISIBLE = "not_visible"
    PRECONDITION = "precondition"
    ACTION_FAILED = "action_failed"
    VERIFY_FAILED = "verify_failed"
    STEP_BUDGET = "step_budget"
    DEADLINE = "deadline"
    UNSUPPORTED = "unsupported"


class World(Protocol):
    def step(self, action: dict[str, Any]) -> tuple[dict, dict]: ...


class _StopError(Exception):
    """Raised inside the action loop when the step budget or the deadline is reached."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class _SubgoalFailedError(Exception):
    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class SubgoalOutcome:
    """One subgoal's result: success, the object it acted on, actions used, why it failed."""

    subgoal: str
    success: bool
    object_id: str = ""
    actions: int = 0
    reason: FailureReason = FailureReason.NONE
    message: str = ""


@dataclass
class TaskResult:
    """Everything an evaluation reports about one task run."""

    success: bool
    subgoals: list[SubgoalOutcome] = field(default_factory=list)
    actions: int = 0
    path_length: float = 0.0
    memory_queries: int = 0
    time_s: float = 0.0
    failure_reason: FailureReason = FailureReason.NONE
    failure_message: str = ""
    replans: int = 0
    searches: int = 0
    action_counts: dict[str, int] = field(default_factory=dict)

    @property
    def subgoal_success(self) -> float:
        """Share of subgoals completed."""
        if not self.subgoals:
            return 0.0
        return sum(o.success for o in self.subgoals) / len(self.subgoals)


def _pieces_of(types: tuple[str, ...]) -> tuple[str, ...]:
    """The sliced forms that stand for ``types`` when no whole one is left (an apple sliced
    in an earlier task), as the goal checker accepts them."""
    return tuple(
        SLICED_FORMS[t] for t in types if t in SLICED_FORMS and SLICED_FORMS[t] not in types
    )


class TaskExecutor:
    """Executes subgoals with a memory; one instance per task run.

    Parameters
    ----------
    sim
        The world (``step(action) -> (metadata, frames)``).
    memory
        Where objects are; told what the robot saw, did and did not find.
    max_steps
        Action budget of the whole task.
    deadline_s
        Wall-clock budget of the whole task.
    perception
        Frames -> percepts; the default reads the simulator's instance masks.
    start_stamp
        Memory clock at the first action; one second passes per action.
    grid
        Reachable cells; asked from the world (``GetReachablePositions``) when None.
    """

    def __init__(
        self,
        sim: World,
        memory: TaskMemory,
        max_steps: int = 600,
        deadline_s: float = 300.0,
        perception: SimPerception | None = None,
        start_stamp: float = 0.0,
        grid: ReachableGrid | None = None,
        max_replans: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sim = sim
        self.memory = memory
        self.max_steps = max_steps
        self.deadline_s = deadline_s
        self.perception = perception or SimPerception()
        self.stamp = float(start_stamp)
        self._start = float(start_stamp)
        self.destinations: dict[tuple[str, ...], set[str]] = {}
        self.max_replans = max_replans
        self._clock = clock
        self._started = clock()
        self.result = TaskResult(False)
        self.bound: dict[tuple[str, ...], str] = {}
        self.known: dict[str, ObjectObservation | ObjectRecord] = {}
        self.inside: dict[str, str] = {}  # object -> container the robot put it in
        self._shut: set[str] = set()  # containers whose doors the robot closed itself
        self.excluded: set[str] = set()
        # Objects memory keeps placing where the robot did not find them: its places for them
        # are ignored; a sighting still counts.
        self._misplaced: set[str] = set()
        self._tried_cells: dict[str, set] = {}  # object -> cells approached without success
        self._seen_empty: set[str] = set()  # objects whose remembered place was seen empty
        self._looked_at: dict[str, list[np.ndarray]] = {}  # object -> places looked at
        self._looked_around: set[tuple[int, int]] = set()  # cells turned round at
        self._if_not_there: dict[str, ObjectRecord] = {}  # object -> memory's place, held back
        self._room_tries: dict[str, int] = {}  # receptacle -> times cleared for a put
        self._moved_off: dict[str, set[str]] = {}  # receptacle -> objects moved off it
        self.metadata, _ = self._step({"action": "Pass"})
        if grid is None:
            meta, _ = self._step({"action": "GetReachablePositions"})
            grid = ReachableGrid(meta["actionReturn"] or [], float(meta.get("gridSize", 0.25)))
        self.grid = grid
        self.navigator = Navigator(grid, self.act)
        self.explorer = Explorer(grid, self.navigator, self.act, lambda: self.percept)

    # ---- the one action loop ----------------------------------------------------------------
    def _step(self, action: dict) -> tuple[dict, dict]:
        metadata, frames = self.sim.step(action)
        self.percept: Percept = self.perception.perceive(metadata, frames, self.stamp)
        self.memory.observe(self.percept)
        self.metadata = metadata
        return metadata, frames

    def act(self, action: dict) -> dict:
        """Send one action: count it, perceive, feed memory, enforce the budgets."""
        if self.result.actions >= self.max_steps:
            raise _StopError(FailureReason.STEP_BUDGET, f"step budget of {self.max_steps} used up")
        if self._clock() - self._started > self.deadline_s:
            raise _StopError(FailureReason.DEADLINE, f"deadline of {self.deadline_s:.0f} s passed")
        name = action["action"]
        if name not in QUERY_ACTIONS:
            self.result.actions += 1
            self.result.action_counts[name] = self.result.action_counts.get(name, 0) + 1
            self.stamp += 1.0
        metadata, _ = self._step(action)
        if name == "MoveAhead" and metadata["lastActionSuccess"]:
            self.result.path_length += float(metadata.get("gridSize", self.grid.grid_size))
        elif name == "CloseObject" and metadata["lastActionSuccess"]:
            self._shut.add(action["objectId"])
        elif name == "OpenObject" and metadata["lastActionSuccess"]:
            self._shut.discard(action["objectId"])
        for oid in set(self.bound.values()):
            if (obs := self.percept.find(oid)) is not None:
                self.known[oid] = obs
        return metadata

    @property
    def budget_left(self) -> int:
        return max(0, self.max_steps - self.result.actions)

    @property
    def held(self) -> str | None:
        inventory = self.metadata.get("inventoryObjects") or []
        return inventory[0]["objectId"] if inventory else None

    # ---- running --------------------------------------------------------------------------
    def run(self, plan: SubgoalPlan | Sequence[Subgoal]) -> TaskResult:
        """Execute every subgoal in order; stops at the first that fails."""
        subgoals = plan.subgoals if isinstance(plan, SubgoalPlan) else list(plan)
        picked: tuple[str, ...] | None = None
        for subgoal in subgoals:  # where the plan puts each object it picks up
            if subgoal.kind == SubgoalKind.PICKUP:
                picked = subgoal.target
            elif subgoal.kind == SubgoalKind.PUT and picked is not None:
                self.destinations.setdefault(picked, set()).update(subgoal.target)
        queries_before = self.memory.num_queries
        result = self.result
        if isinstance(plan, SubgoalPlan) and plan.unsupported:
            result.failure_reason = FailureReason.UNSUPPORTED
            result.failure_message = "; ".join(plan.unsupported)
        for subgoal in subgoals:
            before = result.actions
            outcome = SubgoalOutcome(str(subgoal), False)
            try:
                outcome.object_id = self._run_subgoal(subgoal) or ""
                outcome.success = True
            except (_SubgoalFailedError, _StopError) as failure:
                outcome.reason = failure.reason
                outcome.message = str(failure)
            outcome.actions = result.actions - before
            result.subgoals.append(outcome)
            if not outcome.success:
                result.failure_reason = outcome.reason
                result.failure_message = f"{subgoal}: {outcome.message}"
                break
        result.success = bool(subgoals) and all(o.success for o in result.subgoals)
        result.success &= len(result.subgoals) == len(subgoals)
        if result.success and not (isinstance(plan, SubgoalPlan) and plan.unsupported):
            result.failure_reason = FailureReason.NONE
        result.memory_queries = self.memory.num_queries - queries_before
        result.time_s = self._clock() - self._started
        return result

    def _run_subgoal(self, subgoal: Subgoal) -> str | None:
        kind = subgoal.kind
        if kind == SubgoalKind.FIND:
            return self.find(subgoal.target)
        if kind == SubgoalKind.NAVIGATE:
            return self.navigate(subgoal.target)
        if kind == SubgoalKind.PUT_DOWN:
            return self.put_down()
        if kind in STATE_CHECKS:
            return self.check_state(subgoal)
        if kind == SubgoalKind.PUT:
            return self.put(subgoal.target)
        if kind in INTERACTION_ACTIONS:
            return self.interact(subgoal)
        raise _SubgoalFailedError(FailureReason.UNSUPPORTED, f"no executor for {kind}")

    # ---- finding ----------------------------------------------------------------------------
    def _agent_xyz(self) -> np.ndarray:
        return self.percept.map_T_agent.position.as_array()

    def _position(self, item: ObjectObservation | ObjectRecord) -> np.ndarray:
        return item.world_T_object.position.as_array()

    def find(self, types: tuple[str, ...], exclude: set[str] | None = None) -> str:
        """Bind ``types`` to one object id: keep the bound one, else view, memory, search."""
        exclude = self.excluded | (exclude or set())
        held = self.held
        current = self.bound.get(types)
        if current is not None and current not in exclude:
            return current
        # Already in hand (a task left unfinished before): no need to look for another.
        # Perception drops the hand's object, so the binding is by id alone.
        if held is not None and held not in exclude and self._type_of(held) in types:
            self.bound[types] = held
            return held
        agent = self._agent_xyz()
        in_view = [
            o
            for o in self.percept.observed(types)
            if o.object_id not in exclude and o.object_id != held
        ]
        candidates: list[ObjectObservation | ObjectRecord] = list(in_view)
        not_from_memory = exclude | self._misplaced
        if not candidates:
            for object_type in types:
                candidates += [
                    self._unless_delivered(types, r)
                    for r in self.memory.where_is(object_type)
                    if r.object_id not in not_from_memory and r.object_id != held
                ]
        pieces = _pieces_of(types)
        if not candidates and pieces:
            candidates = [o for o in self.percept.observed(pieces) if o.object_id not in exclude]
            for object_type in pieces if not candidates else ():
                candidates += [
                    r
                    for r in self.memory.where_is(object_type)
                    if r.object_id not in not_from_memory
                ]
        if candidates:
            best = min(
                candidates,
                key=lambda c: (np.linalg.norm(self._position(c)[:2] - agent[:2]), c.object_id),
            )
            if not in_view and self._worth_looking_around(best, agent):
                around = types + pieces if best.object_type in pieces else types
                seen = self._look_around_for(around, exclude | ({held} if held else set()))
                if seen is not None:
                    best = seen
            return self._bind(types, best)
        return self._search(types, types + pieces, exclude | ({held} if held else set()))

    def _search(self, types: tuple[str, ...], wanted: tuple[str, ...], exclude: set[str]) -> str:
        """Explore until an object of ``wanted`` is in view and bind it to ``types``."""
        self.result.searches += 1
        _LOG.debug("step %d: search for %s", self.result.actions, "/".join(wanted))
        search, self.metadata = self.explorer.search(
            self.metadata,
            wanted,
            self.budget_left,
            likely=self._likely_places(types),
            containers=self._remembered_containers(),
            exclude=exclude,
            seen=seen() if (seen := getattr(self.memory, "seen_places", None)) else None,
        )
        if search.found is None:
            if self.budget_left == 0:
                raise _StopError(
                    FailureReason.STEP_BUDGET, f"step budget of {self.max_steps} used up"
                )
            raise _SubgoalFailedError(FailureReason.NOT_FOUND, search.message or "not found")
        return self._bind(types, search.found)

    def _worth_looking_around(
        self, item: ObjectObservation | ObjectRecord, agent: np.ndarray
    ) -> bool:
        """Turning in place (three actions) before a long walk to an old memory of a movable
        object: a changed household may have brought it closer, or taken it away."""
        if not isinstance(item, ObjectRecord):
            return False
        movable = "isPickedUp" in item.states if item.states else item.object_type not in FIXTURES
        if not movable:
            return False  # receptacles and furniture stay put: trust memory
        if self.stamp - item.last_seen < STALE_AFTER_S:
            return False
        if float(np.linalg.norm(self._position(item)[:2] - agent[:2])) < LOOK_AROUND_BEYOND_M:
            return False
        cell = self.grid.cell_of(*map_to_unity(agent)[[0, 2]])
        if cell in self._looked_around:
            return False
        self._looked_around.add(cell)
        return True

    def _look_around_for(
        self, types: tuple[str, ...], exclude: set[str]
    ) -> ObjectObservation | None:
        """Turn in place until an object of ``types`` is in view (a full turn at most)."""
        for _ in range(3):
            self.act({"action": "RotateRight"})
            seen = [o for o in self.percept.observed(types) if o.object_id not in exclude]
            if seen:
                camera = self._agent_xyz()
                return min(seen, key=lambda o: np.linalg.norm(self._position(o) - camera))
        return None

    @staticmethod
    def _type_of(object_id: str) -> str:
        """AI2-THOR ids name the type first; a piece names it last (``Apple|...|AppleSliced_1``)."""
        parts = object_id.split("|")
        return parts[-1].rsplit("_", 1)[0] if len(parts) > 4 else parts[0]

    def _unless_delivered(self, types: tuple[str, ...], record: ObjectRecord) -> ObjectRecord:
        """Where to look for ``record``'s object when the task is to bring it where it is.

        Memory placing the object, from before this task, in a receptacle the plan puts it
        into means someone took it out since (nobody asks for what is done already): its
        earlier resting place, when memory has one, is the better first look.
        """
        receptacle = record.receptacle_id.split("|")[0] if record.receptacle_id else ""
        if receptacle not in self.destinations.get(types, ()) or record.last_seen >= self._start:
            return record
        places = getattr(self.memory, "earlier_places", None)
        earlier = places(record.object_id) if places is not None else []
        if not earlier:
            return record
        self._if_not_there[record.object_id] = record  # unless it was done after all
        return earlier[0]

    def _bind(self, types: tuple[str, ...], item: ObjectObservation | ObjectRecord) -> str:
        _LOG.debug(
            "step %d: %s bound to %s from %s at %s",
            self.result.actions, "/".join(types), item.object_id,
            "memory" if isinstance(item, ObjectRecord) else "view",
            np.round(self._position(item), 2).tolist(),
        )  # fmt: skip
        self.bound[types] = item.object_id
        self.known[item.object_id] = item
        if isinstance(item, ObjectRecord) and item.receptacle_id:
            self.inside.setdefault(item.object_id, item.receptacle_id)
        return item.object_id

    def _likely_places(self, types: tuple[str, ...]) -> list[tuple[np.ndarray, float]]:
        priors = sorted(receptacle_priors(types).items(), key=lambda kv: -kv[1])[:3]
        places = []
        for receptacle_type, p in priors:
            for record in self.memory.where_is(receptacle_type):
                places.append((self._position(record), p))
        return places

    def _remembered_containers(
        self, container_types: Sequence[str] = CONTAINER_TYPES
    ) -> list[ObjectRecord]:
        """Every closed container of these types memory knows (the search ranks them)."""
        out = []
        for container_type in container_types:
            out += [
                r for r in self.memory.where_is(container_type) if r.states.get("isOpen") != "true"
            ]
        return out

    def _refind(
        self, types: tuple[str, ...], object_id: str, why: str, missing: bool = True
    ) -> str:
        """Memory was wrong about ``object_id``: tell it, forget the binding, search again.

        An object that cannot be used (a full plate) is excluded from the new search. One
        memory still places where it was not found (a memory that cannot learn) is only left
        out of memory's answers: the search may still see it (a knife too thin to show from
        where memory sent the robot). Else it may well be found elsewhere (the egg left in
        the sink is back in the fridge).
        """
        _LOG.debug("step %d: re-plan for %s: %s", self.result.actions, object_id, why)
        if (held_back := self._if_not_there.pop(object_id, None)) is not None:
            # Not at its earlier place: memory's newest place it is, the task done before.
            self.result.replans += 1
            self._look_at(object_id, held_back)
            return object_id
        if missing and ("not where remembered" in why or self._type_of(object_id) not in FIXTURES):
            # A fridge or a full plate that refused a put is still there: only an absence
            # is news to memory.
            self.memory.report_missing(object_id, self.stamp)
        still_there = any(r.object_id == object_id for t in types for r in self.memory.where_is(t))
        if not still_there and (earlier := self._earlier_place(object_id)) is not None:
            self.result.replans += 1
            self._look_at(object_id, earlier)  # one look where it usually rests
            return object_id
        if "not where remembered" not in why:
            self.excluded.add(object_id)  # refused (a full plate): another one, or none
        elif still_there:
            self._misplaced.add(object_id)
        self.known.pop(object_id, None)
        self.bound.pop(types, None)
        self.result.replans += 1
        if self.result.replans > self.max_replans * 4:
            raise _SubgoalFailedError(FailureReason.NOT_FOUND, f"too many re-plans ({why})")
        return self.find(types)

    def _old_news(self, object_id: str) -> bool:
        """Memory from before this task places a movable object: not worth many more looks."""
        item = self.known.get(object_id)
        return (
            isinstance(item, ObjectRecord)
            and item.last_seen < self._start
            and self._type_of(object_id) not in FIXTURES
        )

    def _look_at(self, object_id: str, place: ObjectRecord) -> None:
        """Approach ``object_id`` at ``place`` next, as if nothing had been tried yet."""
        self.known[object_id] = place
        self.inside.pop(object_id, None)
        if place.receptacle_id:
            self.inside[object_id] = place.receptacle_id
        self._seen_empty.discard(object_id)
        self._tried_cells.pop(object_id, None)

    def _earlier_place(self, object_id: str) -> ObjectRecord | None:
        """The newest earlier resting place memory has for the object, not yet looked at.

        Optional: memories with a history offer ``earlier_places(object_id)``.
        """
        places = getattr(self.memory, "earlier_places", None)
        if places is None:
            return None
        if object_id in self._looked_at:
            return None  # one look at its usual place; after that a search is cheaper
        looked = self._looked_at.setdefault(object_id, [])
        if object_id in self.known:
            looked.append(self._position(self.known[object_id]))
        for record in places(object_id):
            position = self._position(record)
            if all(np.linalg.norm(position - q) > 0.25 for q in looked):
                looked.append(position)
                return record
        return None

    # ---- moving -----------------------------------------------------------------------------
    def in_reach(self, object_id: str, reach: float = DEFAULT_REACH) -> bool:
        """Seen in the newest frame with the nearest seen point within reach of the camera."""
        if object_id == self.held:
            return True
        obs = self.percept.find(object_id)
        if obs is None or self.percept.frame is None:
            return False
        camera = self.percept.frame.camera_position
        distance = reach_distance(camera, obs.box.min_corner, obs.box.max_corner, up_axis=2)
        return distance <= reach

    def navigate(self, types: tuple[str, ...]) -> str:
        """Get the bound object within reach and in view, re-planning when it is not there."""
        object_id = self.bound.get(types) or self.find(types)
        # Behind a shut door: walking round the object cannot show it, opening the door can.
        door = self._shut_door_before(object_id)
        if door is not None and not self.in_reach(object_id):
            self._open_door(door)
        for _ in range(self.max_replans + 1):
            if self.approach(object_id):
                return object_id
            if self._open_hiding_container(object_id):
                return object_id
            # Hidden from where we stood (a shelf above it, a counter in front): more poses;
            # seen empty, or an old memory of something that moves: search at once.
            fresh = object_id not in self._seen_empty and not self._old_news(object_id)
            if fresh and self.approach(object_id, max_poses=4):
                return object_id
            object_id = self._refind(types, object_id, f"{object_id} not where remembered")
        # Memory kept sending the robot to places where the object could not be reached: look
        # for one as a robot without memory would, once, before giving up.
        held = {self.held} if self.held else set()
        object_id = self._search(types, types + _pieces_of(types), self.excluded | held)
        if self.approach(object_id) or self._open_hiding_container(object_id):
            return object_id
        raise _SubgoalFailedError(FailureReason.NOT_VISIBLE, f"could not get {types} in view")

    def _shut_door_before(self, object_id: str) -> str | None:
        """The container ``object_id`` was put or remembered in (directly or on something in
        it), when the robot closed it or memory knows it is closed; else None."""
        container = next(
            (c for c in self._holders_of(object_id) if c.split("|")[0] in CONTAINER_TYPES), None
        )
        if container is None:
            return None
        item = self._remembered(container)
        if item is not None:
            self.known.setdefault(container, item)  # to walk to it
        if container in self._shut or (item is not None and item.states.get("isOpen") == "false"):
            return container
        return None

    def _holders_of(self, object_id: str) -> list[str]:
        """What ``object_id`` rests on or in, then what that rests in (an egg on a plate in the
        fridge): where this task put each, else where memory last placed it."""
        item = self.known.get(object_id)
        first = self.inside.get(object_id) or (
            item.receptacle_id if isinstance(item, ObjectRecord) else ""
        )
        if not first:
            return []
        holder = self.inside.get(first)
        carried = self._type_of(first) not in FIXTURES  # a counter is never carried anywhere
        if not holder and carried and (record := self._remembered(first, ask=True)) is not None:
            holder = record.receptacle_id if isinstance(record, ObjectRecord) else ""
        return [first, holder] if holder and holder not in (first, object_id) else [first]

    def _remembered(
        self, object_id: str, ask: bool = False
    ) -> ObjectObservation | ObjectRecord | None:
        """What this task knows of ``object_id``; with ``ask``, memory's record when this
        task has no record of it (a plate seen today, put in the fridge yesterday)."""
        item = self.known.get(object_id)
        if isinstance(item, ObjectRecord) or (item is not None and not ask):
            return item
        records = self.memory.where_is(self._type_of(object_id))
        return next((r for r in records if r.object_id == object_id), item)

    def _open_door(self, container: str) -> bool:
        """Stand where the inside of ``container`` shows and open it unless it is seen open;
        False when it cannot be faced or refuses to open."""
        if not self._face(container):
            _LOG.debug("step %d: cannot face %s", self.result.actions, container)
            return False
        if self.percept.metadata_states.get(container, {}).get("isOpen") == "true":
            return True
        meta = self.act({"action": "OpenObject", "objectId": container})
        _LOG.debug(
            "step %d: open %s: %s", self.result.actions, container, meta["errorMessage"] or "ok"
        )
        if meta["lastActionSuccess"]:
            self._report(container, "OpenObject", {"isOpen": "true"})
        return bool(meta["lastActionSuccess"])

    def approach(
        self, object_id: str, max_poses: int = 3, reach: float = DEFAULT_REACH, move: bool = False
    ) -> bool:
        """Walk to standing poses of the object until it is in reach; False if none works.

        Stops after the first look that sees the remembered place empty (``_seen_empty``):
        a stale memory costs one look, then a search.
        """
        if not move and self.in_reach(object_id, reach):
            self._tried_cells.pop(object_id, None)
            return True
        item = self.known.get(object_id)
        if item is None:
            return False
        a, b = map_to_unity(item.box.min_corner), map_to_unity(item.box.max_corner)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        # Low objects far from any cell (a plunger by the wall, keys on a low table) are
        # only within reach at the limit itself.
        poses = standing_poses(self.grid, lo, hi, reach) or standing_poses(
            self.grid, lo, hi, reach, margin=0.0
        )
        tried = self._tried_cells.setdefault(object_id, set())
        if move:  # where the robot stands did not do: somewhere else
            tried.add(self.navigator.state(self.metadata)[0][:2])
        for _ in range(max_poses):
            options = [p for p in poses if p.cell not in tried][:24]
            if not options:
                break
            nav, self.metadata, pose = self.navigator.go_to_pose(
                self.metadata, options, self.budget_left, default_horizon=30.0
            )
            (i, j, h), _ = self.navigator.state(self.metadata)
            tried.add((i, j))
            if not nav.reached:
                if nav.message.startswith("no path"):
                    break
                continue
            wanted = pose.horizon if pose is not None else 30.0
            if self.in_reach(object_id, reach):
                self._tried_cells.pop(object_id, None)
                return True
            _LOG.debug(
                "step %d: %s not in reach from %s at %.0f° (%s)",
                self.result.actions, object_id, (i, j, h), wanted,
                "seen" if self.percept.find(object_id) is not None else "not seen",
            )  # fmt: skip
            if self._place_seen_empty(item):
                _LOG.debug("step %d: %s seen empty", self.result.actions, object_id)
                self._seen_empty.add(object_id)
                return False
            for other in sorted(HORIZONS, key=lambda v: abs(v - wanted))[1:3]:
                _, self.metadata = self.navigator.tilt(self.metadata, other)
                if self.in_reach(object_id, reach):
                    self._tried_cells.pop(object_id, None)
                    return True
        return False

    def _place_seen_empty(
        self, item: ObjectObservation | ObjectRecord, margin: float = 0.02, min_pixels: int = 16
    ) -> bool:
        """The newest frame sees the remembered centre of ``item``, unoccluded, without it.

        Only when the object would cover at least ``min_pixels`` there: a watch across the
        room is too small to be missed for sure, so its absence proves nothing.
        """
        frame = self.percept.frame
        if frame is None or self.percept.find(item.object_id) is not None:
            return False
        if isinstance(item, ObjectObservation) and item.source == "action":
            return False  # where the robot guessed it set the object down: no proof either way
        world_T_camera = np.asarray(frame.world_T_camera, dtype=float)
        in_camera = world_T_camera[:3, :3].T @ (self._position(item) - world_T_camera[:3, 3])
        depth_expected = float(in_camera[2])
        if not 0.1 < depth_expected <= DEFAULT_REACH:
            return False
        k = frame.intrinsics
        u = k.fx * in_camera[0] / depth_expected + k.cx
        v = k.fy * in_camera[1] / depth_expected + k.cy
        if not (0 <= u < k.width and 0 <= v < k.height):
            return False
        dims = np.sort(item.box.size.as_array())[1:]  # the two largest extents
        if k.fx * k.fy * dims[0] * dims[1] / depth_expected**2 < min_pixels:
            return False
        depth_seen = float(frame.depth[int(v), int(u)])
        return bool(np.isfinite(depth_seen) and depth_seen >= depth_expected - margin)

    def _hiding_container(self, object_id: str) -> str | None:
        """The openable container ``object_id`` is in, directly or on something carried in
        (an apple on a plate in the fridge)."""
        for container in self._holders_of(object_id):
            if container.split("|")[0] in OPENABLE_RECEPTACLE_TYPES:
                return container
        if (item := self.known.get(object_id)) is not None:
            return self._closed_container_around(item.world_T_object.position)
        return None

    def _open_hiding_container(self, object_id: str) -> bool:
        """The object may be behind a closed door memory knows of: open it and look."""
        container = self._hiding_container(object_id)
        if container is None:
            return False
        if container not in self.known and (record := self._remembered(container)) is not None:
            self.known[container] = record
        if not self._open_door(container):
            return False
        if self.in_reach(object_id):
            return True
        # Inside, the object may rest far from where memory placed it (on the container's
        # floor, behind the door): look in at other tilts before walking anywhere.
        for wanted in (30.0, 60.0, 0.0):
            _, self.metadata = self.navigator.tilt(self.metadata, wanted)
            if (seen := self.percept.find(object_id)) is not None:
                self.known[object_id] = seen
                self._seen_empty.discard(object_id)
                self._tried_cells.pop(object_id, None)
                return self.in_reach(object_id) or self.approach(object_id, max_poses=2)
        _LOG.debug("step %d: %s not seen inside %s", self.result.actions, object_id, container)
        return self.approach(object_id, max_poses=1)

    def _face(self, container: str) -> bool:
        """Stand where the inside of ``container`` shows: a tall one (a fridge) squarely in
        front and close, as a search opens it; others anywhere within reach."""
        item = self.known.get(container)
        if item is None or not is_tall(item):
            return self.approach(container)
        state, _ = self.navigator.state(self.metadata)
        poses = self.explorer.container_poses(item, path_costs(self.grid, state))[:12]
        if not poses:
            return self.approach(container)
        nav, self.metadata, _ = self.navigator.go_to_pose(
            self.metadata, poses, self.budget_left, default_horizon=30.0
        )
        if not nav.reached:
            return self.approach(container)
        return self.in_reach(container) or self.approach(container)

    def _closed_container_around(self, point: Vector3, margin: float = 0.05) -> str | None:
        """The smallest closed container memory knows whose box holds ``point``, if any."""
        around = [
            r
            for r in self._remembered_containers(sorted(OPENABLE_RECEPTACLE_TYPES))
            if r.box.contains(point, margin)
        ]
        if not around:
            return None
        best = min(around, key=lambda r: float(np.prod(r.box.size.as_array())))
        self.known.setdefault(best.object_id, best)
        return best.object_id

    # ---- acting -----------------------------------------------------------------------------
    def _report(
        self,
        object_id: str,
        action: str,
        states: dict[str, str] | None = None,
        receptacle_id: str | None = None,
        relation: str = "",
        observation: ObjectObservation | None = None,
    ) -> None:
        obs = self.percept.find(object_id) or observation
        # Memory takes states as text, AI2-THOR's way ("true"/"false"), never Python bools.
        text_states = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in (states or {}).items()
        }
        self.memory.report_action_effect(
            ActionEffect(
                object_id=object_id,
                object_type=object_id.split("|")[0] if "|" in object_id else object_id,
                action=action,
                stamp=self.stamp,
                states=text_states,
                receptacle_id=receptacle_id,
                receptacle_relation=relation,
                observation=obs,
            )
        )

    def _observation_at(
        self, object_id: str, object_type: str, centre: Vector3, size: Vector3
    ) -> ObjectObservation:
        """What the robot knows without seeing: ``object_id`` rests at ``centre``."""
        return ObjectObservation(
            object_id=object_id,
            object_type=object_type,
            world_T_object=Pose(centre),
            box=Box(centre, size),
            stamp=self.stamp,
            source="action",
        )

    def _report_put(self, held: str, receptacle: str) -> None:
        """Tell memory ``held`` was put on or into ``receptacle``, where the camera sees it
        or else where it was most likely set down."""
        relation = "inside" if receptacle.split("|")[0] in INSIDE_TYPES else "on"
        placed = self._placed_observation(held, receptacle)
        self._report(
            held, "PutObject", {"isPickedUp": "false"}, receptacle, relation, observation=placed
        )
        # Not where it was picked up: the next walk to it goes to the receptacle.
        if (seen := self.percept.find(held) or placed) is not None:
            self.known[held] = seen

    def _placed_observation(self, object_id: str, receptacle_id: str) -> ObjectObservation | None:
        """Where the robot just put an object it cannot see (a door hides it, the hand did).

        Without it memory keeps the object where it was picked up, and the next task walks
        there first. Inside a container its centre is the best guess; on a surface (a long
        counter), the point of its top nearest the robot, where things are set down.
        """
        holder = self.percept.find(receptacle_id) or self.known.get(receptacle_id)
        item = self.known.get(object_id)
        if holder is None or item is None:
            return None
        size = np.minimum(item.box.size.as_array(), holder.box.size.as_array())
        centre = holder.box.center.as_array()
        if receptacle_id.split("|")[0] not in INSIDE_TYPES:
            lo = holder.box.min_corner[:2] + size[:2] / 2
            hi = np.maximum(lo, holder.box.max_corner[:2] - size[:2] / 2)
            centre = np.array([*np.clip(self._agent_xyz()[:2], lo, hi),
                               holder.box.max_corner[2] + size[2] / 2])  # fmt: skip
        placed = self._observation_at(
            object_id, object_id.split("|")[0], Vector3.from_array(centre), Vector3.from_array(size)
        )
        return replace(placed, receptacle_id=receptacle_id)

    def _act_on(self, action: str, object_id: str, **extra: Any) -> dict:
        """Send an interaction, approaching again once if the world says it is not visible."""
        if not self.in_reach(object_id) and not self.approach(object_id):
            raise _SubgoalFailedError(FailureReason.NOT_VISIBLE, f"{object_id} not in reach")
        meta = self.act({"action": action, "objectId": object_id, **extra})
        if not meta["lastActionSuccess"] and "visible" in meta["errorMessage"]:
            # The world measures reach to the object itself, perception to what it saw of
            # it (an open door included): stand nearer, somewhere else.
            if object_id not in self.known and (seen := self.percept.find(object_id)):
                self.known[object_id] = seen
            if self.approach(object_id, max_poses=2, reach=CLOSER_REACH, move=True):
                meta = self.act({"action": action, "objectId": object_id, **extra})
        if not meta["lastActionSuccess"] and "visible" in meta["errorMessage"]:
            # Still too far: what was seen of it may reach well beyond its body (an open
            # fridge door swings a metre out). Its middle is nearer the body: stand near that.
            item = self.known.get(object_id)
            if item is not None:
                middle = Vector3(*np.minimum(item.box.size.as_array(), CORE_SIZE_M))
                self.known[object_id] = replace(item, box=Box(item.box.center, middle))
                try:
                    near = self.approach(object_id, max_poses=2, reach=CLOSER_REACH, move=True)
                finally:
                    self.known[object_id] = item
                if near:
                    meta = self.act({"action": action, "objectId": object_id, **extra})
        return meta

    def interact(self, subgoal: Subgoal) -> str:
        kind = subgoal.kind
        action = INTERACTION_ACTIONS[kind]
        if kind == SubgoalKind.PICKUP:
            return self.pickup(subgoal.target)
        object_id = self.bound.get(subgoal.target) or self.find(subgoal.target)
        if kind == SubgoalKind.EMPTY and self.held == object_id:
            meta = self.act({"action": action, "objectId": object_id})
            return self._require(meta, object_id)
        states = self.percept.metadata_states.get(object_id, {})
        key, wanted = {
            SubgoalKind.OPEN: ("isOpen", "true"),
            SubgoalKind.CLOSE: ("isOpen", "false"),
            SubgoalKind.TOGGLE_ON: ("isToggled", "true"),
            SubgoalKind.TOGGLE_OFF: ("isToggled", "false"),
        }.get(kind, ("", ""))
        if subgoal.conditional and key:
            if key not in states and object_id in [o.object_id for o in self.percept.observations]:
                return object_id  # seen and has no such state: not openable/toggleable
            if states.get(key) == wanted:
                return object_id
        if key == "isToggled":
            switch = self._switch_of(object_id)
            if switch != object_id:
                self._toggle_switch(action, switch, object_id, wanted)
                return object_id
        if kind == SubgoalKind.SLICE and any(f"|{p}_" in object_id for p in SLICED_FORMS.values()):
            return object_id  # a piece: sliced already
        if kind == SubgoalKind.SLICE and object_id.split("|")[0] != "Egg":
            held = self.held or ""
            if held.split("|")[0] not in ("Knife", "ButterKnife"):
                raise _SubgoalFailedError(
                    FailureReason.PRECONDITION, "slicing needs a knife in hand"
                )
        meta = self._act_on(action, object_id)
        if not meta["lastActionSuccess"] and "already" in meta["errorMessage"]:
            return object_id
        self._require(meta, object_id)
        if key:
            self._report(object_id, action, {key: wanted})
        elif kind == SubgoalKind.SLICE:
            self._report(object_id, action, {"isSliced": "true"})
            self.memory.report_missing(object_id, self.stamp)  # the whole object is gone
            self.excluded.add(object_id)
            self._note_pieces(object_id)
        elif kind == SubgoalKind.DIRTY:
            self._report(object_id, action, {"isDirty": "true"})
        return object_id

    def _note_pieces(self, object_id: str) -> None:
        """Bind the pieces a slice just made, seen where the whole object was.

        AI2-THOR names pieces after their object (``Apple|...|AppleSliced_0``), so pieces of
        an apple sliced on an earlier day carry the same ids: without this, the next
        ``find(AppleSliced)`` walks to where yesterday's piece was left.
        """
        piece_type = SLICED_FORMS.get(self._type_of(object_id))
        if piece_type is None:
            return
        prefix = f"{object_id}|"
        pieces: list[ObjectObservation] = [
            o for o in self.percept.observed((piece_type,)) if o.object_id.startswith(prefix)
        ]
        whole = self.known.get(object_id)
        if not pieces and whole is not None:
            # Out of view (in a sink, behind the knife): the pieces memory knows by these ids
            # now lie where the whole object was.
            pieces = [
                self._observation_at(r.object_id, r.object_type, whole.box.center, r.box.size)
                for r in self.memory.where_is(piece_type)
                if r.object_id.startswith(prefix)
            ]
        for piece in pieces:
            self.known[piece.object_id] = piece
            self._seen_empty.discard(piece.object_id)
            self._tried_cells.pop(piece.object_id, None)
            self.memory.report_action_effect(
                ActionEffect(
                    object_id=piece.object_id,
                    object_type=piece.object_type,
                    action="Observed",
                    stamp=self.stamp,
                    observation=piece,
                )
            )
        if pieces and (piece_type,) not in self.bound:
            camera = self._agent_xyz()
            nearest = min(pieces, key=lambda o: np.linalg.norm(self._position(o) - camera))
            self._bind((piece_type,), nearest)

    def _switch_of(self, object_id: str) -> str:
        """What to toggle to switch ``object_id``: itself, or the control that switches it.

        A StoveBurner is not toggleable in AI2-THOR; the StoveKnob whose ``controlledObjects``
        lists it is (appliance wiring is part of the scene, not something perception finds).
        """
        objects = self.metadata.get("objects") or []
        target = next((o for o in objects if o["objectId"] == object_id), None)
        if target is None or target.get("toggleable"):
            return object_id
        control = next(
            (o for o in objects if object_id in (o.get("controlledObjects") or [])), None
        )
        return control["objectId"] if control is not None else object_id

    def _toggle_switch(self, action: str, switch: str, controlled: str, wanted: str) -> None:
        """Toggle ``switch`` (seen near ``controlled`` or remembered), then report both."""
        if switch not in self.known:
            seen = self.percept.find(switch)
            remembered = [
                r for r in self.memory.where_is(switch.split("|")[0]) if r.object_id == switch
            ]
            if seen is not None or remembered:
                self.known[switch] = seen if seen is not None else remembered[0]
            elif not self.approach(controlled) or self.percept.find(switch) is None:
                raise _SubgoalFailedError(FailureReason.NOT_VISIBLE, f"{switch} not in view")
            else:
                self.known[switch] = self.percept.find(switch)
        meta = self._act_on(action, switch)
        if not meta["lastActionSuccess"] and "already" in meta["errorMessage"]:
            return
        self._require(meta, switch)
        self._report(switch, action, {"isToggled": wanted})
        self._report(controlled, action, {"isToggled": wanted})

    def _require(self, meta: dict, object_id: str) -> str:
        if not meta["lastActionSuccess"]:
            raise _SubgoalFailedError(FailureReason.ACTION_FAILED, meta["errorMessage"] or "failed")
        return object_id

    def pickup(self, types: tuple[str, ...]) -> str:
        object_id = self.bound.get(types) or self.find(types)
        if self.held == object_id:
            return object_id
        if self.held is not None:
            self.put_down()
        for _ in range(self.max_replans + 1):
            if not self.in_reach(object_id) and not (
                self.approach(object_id) or self._open_hiding_container(object_id)
            ):
                object_id = self._refind(types, object_id, "not in reach for pickup")
                continue
            resting = self.percept.find(object_id)
            meta = self._act_on("PickupObject", object_id)
            if meta["lastActionSuccess"]:
                if resting is not None:  # where it rested: its usual place, in memory's history
                    self.memory.report_action_effect(
                        ActionEffect(
                            object_id=object_id,
                            object_type=resting.object_type,
                            action="Observed",
                            stamp=self.stamp - 0.5,
                            observation=resting,
                        )
                    )
                self._report(object_id, "PickupObject", {"isPickedUp": "true"}, "", "")
                self.inside.pop(object_id, None)
                if self.held != object_id:
                    raise _SubgoalFailedError(FailureReason.VERIFY_FAILED, "hand does not hold it")
                return object_id
            if "CanPickup" in meta["errorMessage"]:
                raise _SubgoalFailedError(FailureReason.ACTION_FAILED, meta["errorMessage"])
            object_id = self._refind(types, object_id, meta["errorMessage"])
        raise _SubgoalFailedError(FailureReason.ACTION_FAILED, f"could not pick up {types}")

    def put(self, types: tuple[str, ...]) -> str:
        held = self.held
        if held is None:
            raise _SubgoalFailedError(FailureReason.PRECONDITION, "nothing in hand to put")
        receptacle = self.bound.get(types) or self.find(types, exclude={held})
        for _ in range(self.max_replans + 1):
            meta = self._act_on("PutObject", receptacle)
            if not meta["lastActionSuccess"] and "CLOSED" in meta["errorMessage"]:
                self.act({"action": "OpenObject", "objectId": receptacle})
                self._report(receptacle, "OpenObject", {"isOpen": "true"})
                meta = self.act({"action": "PutObject", "objectId": receptacle})
            if meta["lastActionSuccess"]:
                self._report_put(held, receptacle)
                self.inside[held] = receptacle
                return receptacle
            if "No valid positions" in meta["errorMessage"] and self._make_room(receptacle, held):
                continue  # the same receptacle again, with room on it now
            if self.held != held:
                raise _SubgoalFailedError(
                    FailureReason.ACTION_FAILED,
                    f"{held} could not be picked up again after making room on {receptacle}",
                )
            refused = f"could not put {held} into {receptacle}: {meta['errorMessage']}"
            if "not a receptacle" in meta["errorMessage"] and types == (self._type_of(receptacle),):
                # No object of this type holds things (a cloth): another one will not either.
                raise _SubgoalFailedError(FailureReason.ACTION_FAILED, refused)
            try:
                receptacle = self._refind(types, receptacle, meta["errorMessage"], missing=False)
                self.navigate(types)
            except _SubgoalFailedError as error:
                if error.reason != FailureReason.NOT_FOUND:
                    raise
                # No other receptacle of the kind: the refused put is the reason, not a search.
                raise _SubgoalFailedError(FailureReason.ACTION_FAILED, refused) from None
        raise _SubgoalFailedError(FailureReason.ACTION_FAILED, f"could not put into {types}")

    def _lying_on(self, receptacle: str) -> list[ObjectObservation]:
        """Movable objects in view resting on ``receptacle``'s top (on a plate, a shelf)."""
        holder = self.percept.find(receptacle)
        if holder is None:
            return []
        lo, hi = holder.box.min_corner, holder.box.max_corner
        out = []
        for o in self.percept.observations:
            o_lo, o_hi = o.box.min_corner, o.box.max_corner
            if o.object_id in (receptacle, self.held) or "isPickedUp" not in o.states:
                continue
            # Footprints overlap, not centre inside: what lies on a plate hides part of the
            # plate, so the plate's seen box may end short of what is on it.
            over = bool(np.all(o_lo[:2] <= hi[:2]) and np.all(o_hi[:2] >= lo[:2]))
            # The bottom the camera sees: a piece half hidden behind the rim or behind other
            # pieces shows only its upper part, above the receptacle's top.
            if over and lo[2] + 0.005 < o_lo[2] <= hi[2] + LYING_ON_ABOVE_M:
                out.append(o)
        return out

    def _make_room(self, receptacle: str, held: str) -> bool:
        """A full receptacle (a plate with yesterday's slice on it): set the held object
        down, move what lies on the receptacle aside (not what this task put there), pick the
        held object up again. True when something was moved and the hand holds it again.

        When nothing on it can be reached from where it stands (a plate low in the fridge),
        or the put is refused again after clearing there, and the receptacle itself can be
        carried, it is carried, contents and all, to an open surface where what lies on it
        is in view, and cleared there.
        """
        tries = self._room_tries.get(receptacle, 0)
        if tries >= MAX_ROOM_TRIES:
            return False  # cleared twice and still refused: not for lack of room
        self._room_tries[receptacle] = tries + 1
        blockers = self._blockers_on(receptacle, held)
        item = self.percept.find(receptacle) or self.known.get(receptacle)
        carryable = item is not None and "isPickedUp" in (item.states or {})
        if not blockers and not carryable:
            return False
        _LOG.debug(
            "step %d: making room on %s (%d in the way, carryable: %s)",
            self.result.actions, receptacle, len(blockers), carryable,
        )  # fmt: skip
        (i, j, heading), horizon = self.navigator.state(self.metadata)
        put_from = StandingPose((i, j), heading, horizon, 0.0)
        try:
            self.put_down(avoid={receptacle})
        except _SubgoalFailedError:
            return False
        if tries > 0 and carryable:
            # Cleared here once and still refused: clear what is in view, else what is left
            # is out of view and the receptacle is carried into the open.
            blockers = [b for b in blockers if isinstance(b, ObjectObservation)]
        moved = self._clear(receptacle, held, blockers) if blockers else 0
        if moved == 0 and carryable and self.held is None:
            _LOG.debug("step %d: carrying %s into the open", self.result.actions, receptacle)
            try:
                if self._pick_up(receptacle):
                    self.put_down()
                    moved = self._clear(receptacle, held)
            except _SubgoalFailedError:
                pass
        _LOG.debug("step %d: moved %d off %s", self.result.actions, moved, receptacle)
        try:  # whatever happened, the object to put goes back into the hand
            if self.held not in (None, held):
                self.put_down(avoid={receptacle})
            if not self._pick_up(held) or self.held != held:
                return False
        except _SubgoalFailedError:
            return False
        return moved > 0 and self._back_to(put_from, receptacle)

    def _back_to(self, pose: StandingPose, object_id: str) -> bool:
        """Stand at ``pose`` again, where ``object_id`` was in reach (a plate low in the open
        fridge shows from few places); elsewhere only if it is not in reach from there."""
        if self.in_reach(object_id):
            return True
        _, self.metadata, _ = self.navigator.go_to_pose(self.metadata, [pose], self.budget_left)
        return self.in_reach(object_id) or self.approach(object_id)

    def _blockers_on(self, receptacle: str, held: str) -> list[ObjectObservation | ObjectRecord]:
        """What lies on ``receptacle`` in view, and what memory put there the camera does
        not see, except what this task put there."""
        lying: list[ObjectObservation | ObjectRecord] = list(self._lying_on(receptacle))
        # Optional: memories with relations offer ``contents_of``.
        contents = getattr(self.memory, "contents_of", None)
        seen_ids = {o.object_id for o in lying}
        for record in contents(receptacle) if contents is not None else []:
            movable = "isPickedUp" in record.states or record.object_type not in FIXTURES
            if record.object_id not in seen_ids and record.object_id != held and movable:
                lying.append(record)
        # Not what this task put there, nor what it just set down beside it (footprints of
        # things beside a plate overlap the plate's).
        moved = self._moved_off.get(receptacle, set())
        return [
            o
            for o in lying
            if o.object_id != held
            and o.object_id not in moved
            and self.inside.get(o.object_id) != receptacle
        ]

    def _clear(
        self,
        receptacle: str,
        held: str,
        blockers: Sequence[ObjectObservation | ObjectRecord] | None = None,
        rounds: int = 3,
    ) -> int:
        """Move blockers off ``receptacle`` in a few rounds: pieces stacked on pieces come
        into view once those on top are gone. How many were moved."""
        moved = 0
        for _ in range(rounds):
            batch = self._blockers_on(receptacle, held) if blockers is None else blockers
            blockers = None
            done = self._move_aside(batch, held, receptacle) if batch else 0
            moved += done
            if done == 0 or self.held is not None:
                break
        return moved

    def _move_aside(
        self, blockers: Sequence[ObjectObservation | ObjectRecord], held: str, receptacle: str
    ) -> int:
        """Pick up each blocker and set it down off ``receptacle``; how many were moved."""
        moved = 0
        for blocker in blockers[:3]:
            self.known[blocker.object_id] = blocker
            try:
                if not self._pick_up(blocker.object_id):
                    continue
                self.put_down(avoid={receptacle})
                self._moved_off.setdefault(receptacle, set()).add(blocker.object_id)
                moved += 1
            except _SubgoalFailedError:
                if self.held not in (None, held):
                    break  # a blocker stuck in hand: the caller sets it down
        return moved

    def _pick_up(self, object_id: str) -> bool:
        """Pick ``object_id`` up (approaching if needed) and tell memory; False if refused."""
        meta = self._act_on("PickupObject", object_id)
        if meta["lastActionSuccess"]:
            self._report(object_id, "PickupObject", {"isPickedUp": "true"}, "", "")
        return bool(meta["lastActionSuccess"])

    def put_down(self, avoid: set[str] | frozenset[str] = frozenset()) -> str:
        """Free the hand on the nearest surface in reach (found and walked to if needed),
        never on one of ``avoid``."""
        held = self.held
        if held is None:
            return ""
        refused = {held, *avoid}
        in_view = [
            o
            for o in self.percept.observed(SURFACE_TYPES)
            if o.object_id not in refused and self.in_reach(o.object_id)
        ]
        message = ""
        for surface in in_view[:3]:
            meta = self.act({"action": "PutObject", "objectId": surface.object_id})
            if meta["lastActionSuccess"]:
                self._report_put(held, surface.object_id)
                return surface.object_id
            refused.add(surface.object_id)
            message = meta["errorMessage"]
        surface_types = ("CounterTop", "DiningTable", "SideTable", "Desk", "CoffeeTable")
        for _ in range(3):  # a cluttered counter refuses: another surface may not
            surface = self.find(surface_types, exclude=refused)
            self.navigate(surface_types)
            meta = self.act({"action": "PutObject", "objectId": surface})
            self.bound.pop(surface_types, None)
            if meta["lastActionSuccess"]:
                self._report_put(held, surface)
                return surface
            refused.add(surface)
            message = meta["errorMessage"]
        raise _SubgoalFailedError(FailureReason.ACTION_FAILED, message)

    def check_state(self, subgoal: Subgoal) -> str:
        """The state should have emerged (washed, heated, ...): check it when in view."""
        object_id = self.bound.get(subgoal.target) or self.find(subgoal.target)
        key, wanted = STATE_CHECKS[subgoal.kind]
        self.act({"action": "Pass"})  # one more tick of the world's state rules
        states = self.percept.metadata_states.get(object_id)
        seen = self.known.get(object_id)
        classified = states or (seen.states if isinstance(seen, ObjectObservation) else None)
        # A state classifier reports isCooked only for things that cook (no apple does):
        # heating cannot have cooked what was seen close up without it.
        if subgoal.note == "cooked" and classified and key not in classified:
            raise _SubgoalFailedError(
                FailureReason.VERIFY_FAILED, f"{object_id} is not something that cooks"
            )
        if states is None or key not in states:
            return object_id  # out of sight (behind the microwave door): trust the actions
        want = str(wanted).lower() if isinstance(wanted, bool) else str(wanted)
        if states[key] != want:
            raise _SubgoalFailedError(
                FailureReason.VERIFY_FAILED, f"{object_id} has {key}={states[key]}, want {want}"
            )
        self._report(object_id, subgoal.kind.value, {key: want})
        return object_id
