"""Goal conditions, task planning and exploration."""

from memory_nodes.planning.executor import FailureReason, SubgoalOutcome, TaskExecutor, TaskResult
from memory_nodes.planning.memory_interface import (
    ActionEffect,
    FullMemory,
    LayeredMemory,
    LongTermOnly,
    NoMemory,
    ShortTermOnly,
    TaskMemory,
)
from memory_nodes.planning.subgoals import Subgoal, SubgoalKind, SubgoalPlan, plan_subgoals

__all__ = [
    "ActionEffect",
    "FailureReason",
    "FullMemory",
    "LayeredMemory",
    "LongTermOnly",
    "NoMemory",
    "ShortTermOnly",
    "Subgoal",
    "SubgoalKind",
    "SubgoalOutcome",
    "SubgoalPlan",
    "TaskExecutor",
    "TaskMemory",
    "TaskResult",
    "plan_subgoals",
]
