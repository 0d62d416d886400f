"""The executor's action loop: one place runs every skill, counts it, perceives the new
frame, feeds memory and enforces the step budget and the wall-clock deadline, so no loop can
run forever; and the results a task run reports.

:class:`TaskRunner` holds the state the parts of
:class:`~memory_nodes.planning.executor.TaskExecutor` share (object search, approach,
manipulation, clearing, memory reports): the robot, memory, the grid, the newest percept and
the task's belief about objects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from memory_nodes.core.errors import SubgoalFailedError, TaskStoppedError
from memory_nodes.core.object_taxonomy import sliceable, sliced_form
from memory_nodes.core.types import ObjectObservation, ObjectRecord
from memory_nodes.planning.exploration import Explorer
from memory_nodes.planning.memory_interface import TaskMemory
from memory_nodes.planning.navigation import Navigator, ReachableGrid
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.skills import FREE_SKILLS, OBJECT_SKILLS, RobotSkills, Skill, SkillResult
from memory_nodes.planning.subgoals import Subgoal, SubgoalKind, SubgoalPlan

_LOG = logging.getLogger(__name__)


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
    """Everything an evaluation reports about one task run.

    ``action_counts`` counts the skills run, by :class:`~memory_nodes.planning.skills.Skill`
    name (``move_ahead``, ``turn_right``, ``pick_up``, ...); waiting is not counted.
    """

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


def pieces_of(types: tuple[str, ...]) -> tuple[str, ...]:
    """The sliced forms that stand for ``types`` when no whole one is left (an apple sliced
    in an earlier task), as the goal checker accepts them."""
    return tuple(sliced_form(t) for t in types if sliceable(t) and sliced_form(t) not in types)


class TaskRunner:
    """Runs skills for a task and keeps the state the executor's parts share; see
    :class:`~memory_nodes.planning.executor.TaskExecutor` for the parameters.
    """

    def __init__(
        self,
        robot: RobotSkills,
        memory: TaskMemory,
        max_steps: int = 600,
        deadline_s: float = 300.0,
        start_stamp: float = 0.0,
        grid: ReachableGrid | None = None,
        max_replans: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.robot = robot
        self.memory = memory
        self.max_steps = max_steps
        self.deadline_s = deadline_s
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
        self.robot.wait()
        self.sync()
        if grid is None:
            floor = self.robot.floor_map()
            self.sync()  # the frame that answered, perceived as after every step
            grid = ReachableGrid(floor.positions, floor.grid_size)
            if floor.camera_height is not None:
                grid.camera_height = floor.camera_height
        self.grid = grid
        self.navigator = Navigator(grid, self.act, lambda: self.percept)
        self.explorer = Explorer(grid, self.navigator, self.act, lambda: self.percept)

    def sync(self) -> Percept:
        """Perceive what the robot sees now and feed memory (no action, nothing counted)."""
        self.percept: Percept = self.robot.perceive(self.stamp)
        self.memory.observe(self.percept)
        return self.percept

    def act(self, skill: Skill, object_id: str | None = None) -> SkillResult:
        """Run one skill: count it, perceive, feed memory, enforce the budgets."""
        if self.result.actions >= self.max_steps:
            raise TaskStoppedError(
                FailureReason.STEP_BUDGET, f"step budget of {self.max_steps} used up"
            )
        if self._clock() - self._started > self.deadline_s:
            raise TaskStoppedError(
                FailureReason.DEADLINE, f"deadline of {self.deadline_s:.0f} s passed"
            )
        if skill not in FREE_SKILLS:
            self.result.actions += 1
            self.result.action_counts[skill.value] = (
                self.result.action_counts.get(skill.value, 0) + 1
            )
            self.stamp += 1.0
        run = getattr(self.robot, skill.value)
        outcome: SkillResult = run(object_id) if skill in OBJECT_SKILLS else run()
        self.sync()
        if skill == Skill.MOVE_AHEAD and outcome.success:
            self.result.path_length += self.grid.grid_size
        elif skill == Skill.CLOSE and outcome.success:
            self._shut.add(object_id)
        elif skill == Skill.OPEN and outcome.success:
            self._shut.discard(object_id)
        for oid in set(self.bound.values()):
            if (obs := self.percept.find(oid)) is not None:
                self.known[oid] = obs
        return outcome

    def _run_subgoal(self, subgoal: Subgoal) -> str | None:
        """Run one subgoal and return the object it acted on (the executor dispatches)."""
        raise NotImplementedError

    @property
    def budget_left(self) -> int:
        return max(0, self.max_steps - self.result.actions)

    @property
    def held(self) -> str | None:
        """The object in the robot's hand, as the newest percept says."""
        return self.percept.held_object_id

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
            except (SubgoalFailedError, TaskStoppedError) as failure:
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

    def _agent_xyz(self) -> np.ndarray:
        return self.percept.map_T_agent.position.as_array()

    def _position(self, item: ObjectObservation | ObjectRecord) -> np.ndarray:
        return item.world_T_object.position.as_array()

    @staticmethod
    def _type_of(object_id: str) -> str:
        """AI2-THOR ids name the type first; a piece names it last (``Apple|...|AppleSliced_1``)."""
        parts = object_id.split("|")
        return parts[-1].rsplit("_", 1)[0] if len(parts) > 4 else parts[0]
