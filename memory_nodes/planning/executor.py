"""Runs a subgoal plan through a robot's skills, asking memory where things are.

For each subgoal the executor finds the object (fresh view first, then memory, then
exploration), walks to a pose from which it is within reach and in view, acts, and checks the
effect in the next observation. When memory was wrong (the robot stands where the mug should be
and does not see it, and no closed door hides it) the executor tells memory and searches
again. Every skill goes through one place, which counts it, perceives the new frame, feeds
memory and enforces the step budget and the wall-clock deadline, so no loop can run forever.

The robot is anything that implements :class:`~memory_nodes.planning.skills.RobotSkills`
(:class:`memory_nodes.adapters.ai2thor_skills.AI2ThorSkills` for the simulator); memory is any
:class:`~memory_nodes.planning.memory_interface.TaskMemory`. Everything is in the memory's
``map`` frame.

:class:`TaskExecutor` is built from parts with one job each, each part a class that builds on
the one before it and shares the state of
:class:`~memory_nodes.planning.task_runner.TaskRunner` (in this order):

=============================================  =============================================
:mod:`~memory_nodes.planning.task_runner`      the skill loop, budget, deadline, results
:mod:`~memory_nodes.planning.object_search`    finding objects with memory and a task belief
:mod:`~memory_nodes.planning.memory_reports`   telling memory what the robot's actions did
:mod:`~memory_nodes.planning.approach`         standing poses, doors, hiding containers
:mod:`~memory_nodes.planning.manipulation`     pick up, put, open, toggle, slice, set down
:mod:`~memory_nodes.planning.clearing`         making room on a full receptacle
=============================================  =============================================
"""

from __future__ import annotations

from memory_nodes.core.errors import SubgoalFailedError
from memory_nodes.planning.clearing import Clearing
from memory_nodes.planning.manipulation import INTERACTION_SKILLS
from memory_nodes.planning.object_search import STALE_AFTER_S
from memory_nodes.planning.subgoals import STATE_CHECKS, Subgoal, SubgoalKind
from memory_nodes.planning.task_runner import FailureReason, SubgoalOutcome, TaskResult

__all__ = [
    "STALE_AFTER_S",
    "FailureReason",
    "SubgoalOutcome",
    "TaskExecutor",
    "TaskResult",
]


class TaskExecutor(Clearing):
    """Executes subgoals with a memory; one instance per task run.

    Parameters
    ----------
    robot
        The robot's skills (:class:`~memory_nodes.planning.skills.RobotSkills`).
    memory
        Where objects are; told what the robot saw, did and did not find.
    max_steps
        Action budget of the whole task.
    deadline_s
        Wall-clock budget of the whole task.
    start_stamp
        Memory clock at the first action; one second passes per action.
    grid
        Reachable cells; asked from the robot (``RobotSkills.floor_map``) when None.
    max_replans
        Re-plans per subgoal before a search, or before giving up.
    clock
        Wall clock of the deadline.
    """

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
        if kind in INTERACTION_SKILLS:
            return self.interact(subgoal)
        raise SubgoalFailedError(FailureReason.UNSUPPORTED, f"no executor for {kind}")
