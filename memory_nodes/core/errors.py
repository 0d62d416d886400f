"""The exceptions the memory core raises on purpose, in one place (as networkx does)."""


class MemoryStackError(Exception):
    """Base class of every error the memory stack raises on purpose."""


class InvalidInputError(MemoryStackError, ValueError):
    """An input failed validation; the message names the field and why."""


class NotFoundError(MemoryStackError, KeyError):
    """A `get_` lookup found nothing (the `find_` variants return None instead)."""

    def __str__(self) -> str:
        # KeyError quotes its argument; a message reads better plain.
        return str(self.args[0]) if self.args else ""


class DependencyNotInstalledError(MemoryStackError, ImportError):
    """An optional dependency is missing; the message says what to install."""


class SchemaVersionError(MemoryStackError):
    """The store was written by a newer version of memory_nodes than this one."""


class StoreWriteError(MemoryStackError, OSError):
    """The memory file could not be written (disk full, locked, read-only); the transaction
    was rolled back and memory is as it was."""


class StackConfigError(MemoryStackError, ValueError):
    """A stack or parameters file is invalid; the message names the file and the key."""


# The simulator's errors live here too, so the whole project raises from one module.


class SceneNotFoundError(MemoryStackError, KeyError):
    """Raised when a scene name is not one of the FloorPlans built from the dump."""


class HouseLayoutError(MemoryStackError, ValueError):
    """Raised when two rooms that need a doorway have no spot with free floor on both sides."""


class ActionFailedError(MemoryStackError):
    """Internal signal: an action failed with an AI2-THOR style message (never escapes step)."""

    def __init__(self, message: str, error_code: str = ""):
        super().__init__(message)
        self.error_code = error_code


class PlanningError(MemoryStackError):
    """Base class of the errors the planner raises while it runs a task."""


class NoPathError(PlanningError):
    """No sequence of moves reaches the goal from the start on the navigation grid."""


class TaskStoppedError(PlanningError):
    """The task's step budget or deadline is used up; ``reason`` says which
    (a :class:`memory_nodes.planning.task_runner.FailureReason`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class SubgoalFailedError(PlanningError):
    """One subgoal could not be achieved; ``reason`` says why (a ``FailureReason``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TaskCanceledError(PlanningError):
    """The running task was canceled (by its client, or because the node shuts down)."""


class BridgeError(MemoryStackError, RuntimeError):
    """The simulator bridge (or robot driver) did not answer in time or answered nonsense."""


class GoalParseError(MemoryStackError, ValueError):
    """A goal-condition string could not be understood at all."""


#: Characters of user-supplied text an error message quotes; the rest is counted, not copied.
CLIPPED_TEXT_CHARS = 64


def clip_text(value: object, limit: int = CLIPPED_TEXT_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters for an error message.

    Messages quote what the sender wrote (type names, ids, state keys); a 1 MB type name must
    not become a 1 MB log line.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
