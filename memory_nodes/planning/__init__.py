"""Goal conditions, task planning and exploration, acting through a robot skill interface."""

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
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.skills import RobotSkills, Skill, SkillFailure, SkillResult
from memory_nodes.planning.subgoals import Subgoal, SubgoalKind, SubgoalPlan, plan_subgoals

__all__ = [
    "ActionEffect",
    "FailureReason",
    "FullMemory",
    "LayeredMemory",
    "LongTermOnly",
    "NoMemory",
    "Percept",
    "RobotSkills",
    "ShortTermOnly",
    "Skill",
    "SkillFailure",
    "SkillResult",
    "Subgoal",
    "SubgoalKind",
    "SubgoalOutcome",
    "SubgoalPlan",
    "TaskExecutor",
    "TaskMemory",
    "TaskResult",
    "plan_subgoals",
]
