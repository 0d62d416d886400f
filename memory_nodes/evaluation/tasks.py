"""Task evaluation of memory modes on KARMA-format household tasks, over two sessions.

Two protocols (``protocol=``):

``persistent`` (default): the home persists as a real one does. Within a scene the world is
never reset between tasks or sessions. Session 1 runs the scene's tasks in order on the
original scene with empty memory; then the robot is away: a seeded household change
(``sim/household_changes.py``, seed ``seed * 1000 + (CRC-32 of the scene name) % 1000``, so
a run of one scene meets the same change as a run of all) is applied to the world as
session 1 left it, memory is written to SQLite and loaded again (a restart: short-term memory
is lost), and session 2 runs the same tasks again. When a task's goal already holds further in
the session-2 world than it did at that task's start in session 1 (the robot achieved it the
day before), the evaluation first undoes it, without robot actions: the task's subject objects
go back to their pose, relation and states at that task's start in session 1 (slices cut since
vanish, the whole object returns), as when a fresh apple sits in the fruit bowl the next day.
Each mode runs on its own simulator with identical seeds. Modes whose session-2 knowledge
comes from their own session 1 (``memory``, ``long_term``) continue from their own session-1
end state; the other modes (``no_memory``, ``oracle``, ``short_term``) start session 2 from the
reference mode's session-1 end state (the first persistent mode run, else the first mode), so
with the same seed their session-2 worlds are the reference's, object for object
(``HouseholdSim.set_state``).

``reset``: the older protocol; every task starts from its FloorPlan's initial state and the
household change (seed ``seed * 1000 + (CRC-32 of scene, task set and id) % 1000``) is applied
to that state in session 2.

Success is judged on ground truth with the task's goal conditions, in order (``GoalChecker``,
advanced after every action: a later condition may undo an earlier one, as "heat the bread,
then put it on the table" does).

Reports per task, per category (task set) and per mode and session: success rate over all
tasks, over the feasible ones (``success_rate_feasible``: the FloorPlan has every named object)
and over the achievable ones (``success_rate_achievable``: feasible, and the simulator's object
rules allow every goal condition from the scene's start, as
``sim.goal_conditions.unachievable_reason`` judges: no apple can be cooked, no desk lamp
moved), subgoal success, actions, path length, memory queries and time, and per session and
category the ratio of the no-memory agent's actions to each memory mode's actions. Each task
row says ``feasible``, ``achievable`` and ``unachievable_reasons``; achievability is judged
once per task on the scene as loaded, before any robot acts, so every mode and session shares
the same denominator.

Usage: ``python -m memory_nodes.evaluation.tasks --tasks FILE... --modes memory no_memory --seed 0
--json out.json --limit 3``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memory_nodes.adapters.ai2thor_perception import SimPerception
from memory_nodes.adapters.ai2thor_skills import AI2ThorSkills
from memory_nodes.core.errors import InvalidInputError, MemoryStackError
from memory_nodes.core.policies import TypeKnowledge
from memory_nodes.evaluation.oracle_memory import OracleMemory
from memory_nodes.planning.executor import FailureReason, TaskExecutor
from memory_nodes.planning.memory_interface import (
    FullMemory,
    LayeredMemory,
    LongTermOnly,
    NoMemory,
    ShortTermOnly,
    TaskMemory,
)
from memory_nodes.planning.subgoals import plan_subgoals

MODES = ("no_memory", "oracle", "short_term", "long_term", "memory")
#: ``wrap_memory(memory, sim, mode=..., scene=..., session=...)`` -> the memory the planner uses.
MemoryWrapper = Callable[..., TaskMemory]
#: Memory clock at the start of each session: far apart, as two days are.
SESSION_START_STAMPS = {1: 0.0, 2: 100_000.0}
PROTOCOLS = ("persistent", "reset")
#: Modes whose session-2 knowledge comes from their own session 1 (memory survives a restart).
PERSISTENT_MODES = ("memory", "long_term")
SESSION_2_COUNTERPART = (
    "same tasks; a goal that already holds further than at the task's session-1 start is "
    "first undone by the evaluation (no robot actions): the task's subject objects return to "
    "their pose, relation and states at that task's session-1 start"
)


def make_memory(
    mode: str, sim: Any, path: Path, knowledge: TypeKnowledge | None = None
) -> TaskMemory:
    """A fresh memory of ``mode``.

    The persistent modes (``long_term``, ``memory``) run the robot's long-term memory,
    :class:`memory_nodes.core.long_term.LongTermMemory`, on the SQLite file ``path`` (reloaded
    when it exists, committed on every change: the file the ``memory_server`` node would
    write). ``oracle`` reads the simulator's truth.

    ``knowledge`` is what the short-term policy learned about object types so far; one per
    mode and run carries it across scenes and sessions, as the node keeps it across restarts.
    """
    if mode == "no_memory":
        return NoMemory()
    if mode == "oracle":
        return OracleMemory(sim)
    if mode == "short_term":
        return ShortTermOnly(knowledge=knowledge)
    if mode == "long_term":
        return LongTermOnly(path)
    if mode == "memory":
        return FullMemory(path, knowledge=knowledge)
    raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")


def _success_rate_where(rows: list[dict], flag: str) -> float:
    """Success rate over the rows whose ``flag`` is true (rows without it count as true)."""
    chosen = [r["success"] for r in rows if r.get(flag, True)]
    return float(np.mean(chosen)) if chosen else 0.0


def _summary(rows: list[dict]) -> dict[str, float]:
    if not rows:
        return {}
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    return {
        "num_tasks": len(rows),
        "success_rate": mean("success"),
        "subgoal_success_rate": mean("subgoal_success"),
        "mean_actions": mean("actions"),
        "mean_path_length": mean("path_length"),
        "mean_memory_queries": mean("memory_queries"),
        "mean_time_s": mean("time_s"),
        "success_rate_feasible": _success_rate_where(rows, "feasible"),
        "success_rate_achievable": _success_rate_where(rows, "achievable"),
    }


class _Simulators:
    """One simulator per scene, created on first use and reset per task."""

    def __init__(self, width: int, height: int, seed: int, noise: str = "none") -> None:
        self.width, self.height, self.seed, self.noise = width, height, seed, noise
        self._sims: dict[str, Any] = {}

    def get(self, scene: str) -> Any:
        from sim.household_sim import HouseholdSim

        if scene not in self._sims:
            self._sims[scene] = HouseholdSim(
                scene,
                width=self.width,
                height=self.height,
                seed=self.seed,
                renderDepthImage=True,
                renderInstanceSegmentation=True,
                sensorNoise=self.noise,
            )
        sim = self._sims[scene]
        sim.reset(scene, seed=self.seed, renderDepthImage=True, renderInstanceSegmentation=True)
        return sim

    def close(self) -> None:
        for sim in self._sims.values():
            sim.close()
        self._sims.clear()


class _CheckedWorld:
    """The world as the planner sees it, with the goal checker advanced after every step.

    Conditions are ordered subgoals met one after another during the run (KARMA's "put the
    bread in the microwave, then on the table, then in the trash"), so checking only the final
    state would fail every task whose later conditions undo earlier ones.
    """

    def __init__(self, sim: Any, checker: Any) -> None:
        self.sim = sim
        self.checker = checker

    def step(self, action: dict[str, Any]) -> tuple[dict, dict]:
        metadata, frames = self.sim.step(action)
        self.checker.update(metadata["objects"])
        return metadata, frames


def world_objects(sim: Any) -> list[dict]:
    """Object metadata of ``sim``'s world as it is now, read without stepping it."""
    return [item["meta"] for item in sim.get_state()["objects"]]


def task_unachievable_reasons(task: Any, objects: list[dict]) -> list[str]:
    """Why the simulator's object rules forbid ``task``'s goal (each reason once; none if not).

    ``objects`` is the metadata of the task's scene at its start (:func:`world_objects`); see
    :func:`sim.goal_conditions.unachievable_reason`.
    """
    from sim.goal_conditions import unachievable_reason

    reasons = (unachievable_reason(condition, objects) for condition in task.conditions)
    return list(dict.fromkeys(r for r in reasons if r is not None))


def run_task(
    task: Any, sim: Any, memory: TaskMemory, *, max_steps: int, start_stamp: float,
    deadline_s: float, perception: SimPerception, unachievable_reasons: Sequence[str],
) -> tuple[dict, float]:  # fmt: skip
    """Run one task; returns its report row and the memory clock after it.

    ``unachievable_reasons`` come from the scene's start (:func:`task_unachievable_reasons`),
    judged once per task so that every mode and session shares them.
    """
    from sim import scene_catalog
    from sim.goal_conditions import GoalChecker

    feasible = not task.missing_objects()
    plan = plan_subgoals(
        task.conditions, available_types=scene_catalog.scene_object_types(task.scene)
    )
    started = time.monotonic()
    checker = GoalChecker(task.conditions)
    robot = AI2ThorSkills(_CheckedWorld(sim, checker), perception)
    executor = TaskExecutor(
        robot, memory, max_steps=max_steps, deadline_s=deadline_s, start_stamp=start_stamp
    )
    try:
        result = executor.run(plan)
        reason, message = result.failure_reason.value, result.failure_message
    except Exception as error:  # a bug in one task must not end the evaluation; it is reported
        result = executor.result
        reason, message = "error", f"{type(error).__name__}: {error}"
    metadata, _ = sim.step({"action": "Pass"})
    checker.update(metadata["objects"])
    if not checker.success and reason == FailureReason.NONE.value:
        # Every subgoal went through, yet the ordered goal did not hold: say which part.
        pending = checker.conditions[checker.num_done]
        reason = FailureReason.VERIFY_FAILED.value
        message = (
            f"plan done, but goal condition {checker.num_done + 1} of "
            f"{len(checker.conditions)} ({pending.text or pending.predicate}) never held "
            "after the ones before it"
        )
    row = {
        "task_set": task.task_set,
        "task_id": task.task_id,
        "scene": task.scene,
        "goal": task.goal_text,
        "feasible": feasible,
        "achievable": feasible and not unachievable_reasons,
        "unachievable_reasons": list(unachievable_reasons),
        "success": bool(checker.success),
        "subgoal_success": float(checker.progress),
        "plan_success": bool(result.success),
        "plan_subgoal_success": float(result.subgoal_success),
        "actions": int(result.actions),
        "path_length": float(result.path_length),
        "memory_queries": int(result.memory_queries),
        "time_s": float(time.monotonic() - started),
        "replans": int(result.replans),
        "searches": int(result.searches),
        "failure_reason": reason if not checker.success else FailureReason.NONE.value,
        "failure_message": message if not checker.success else "",
        "subgoals": [
            {
                "subgoal": o.subgoal,
                "success": o.success,
                "actions": o.actions,
                "object_id": o.object_id,
            }
            for o in result.subgoals
        ],
    }
    return row, executor.stamp + 10.0


def _wrapped(
    wrap_memory: MemoryWrapper | None,
    memory: TaskMemory,
    sim: Any,
    mode: str,
    task: Any,
    session: int,
) -> TaskMemory:
    if wrap_memory is None:
        return memory
    return wrap_memory(memory, sim, mode=mode, scene=task.scene, session=session)


def _scene_state_progress(sim: Any, task: Any) -> int:
    """How many of ``task``'s ordered goal conditions hold in the world as it is now."""
    from sim.goal_conditions import GoalChecker

    checker = GoalChecker(task.conditions)
    return checker.update(sim.step({"action": "Pass"})[0]["objects"])


def _subject_object_ids(task: Any, *states: dict[str, Any]) -> list[str]:
    """Ids of objects (in ``states``) that a condition of ``task`` is about, slices included."""
    from memory_nodes.planning.goals import with_sliced_forms

    types = set()
    for condition in task.conditions:
        types |= set(with_sliced_forms(condition.subject))
    ids: dict[str, None] = {}
    for state in states:
        for item in state["objects"]:
            if item["meta"]["objectType"] in types:
                ids[item["meta"]["objectId"]] = None
    return list(ids)


def _undo_goal(sim: Any, task: Any, start: tuple[dict, int]) -> list[str]:
    """Undo what the goal of ``task`` already has in the world (see the module docstring).

    ``start`` is the world state and goal progress at the task's session-1 start; returns the
    ids of the objects put back (none when the goal holds no further than it did then).
    """
    state, progress = start
    if _scene_state_progress(sim, task) <= progress:
        return []
    ids = _subject_object_ids(task, state, sim.get_state())
    sim.set_state(state, ids)
    return ids


def change_seed(seed: int, key: str) -> int:
    """Seed of the household change for ``key`` (a scene, or a task): fixed by its name, not
    by its position among the tasks run, so a run of one scene reproduces a run of all."""
    return seed * 1000 + zlib.crc32(key.encode()) % 1000


def _new_sim(scene: str, width: int, height: int, seed: int, noise: str = "none") -> Any:
    from sim.household_sim import HouseholdSim

    return HouseholdSim(scene, width=width, height=height, seed=seed, sensorNoise=noise,
                        renderDepthImage=True, renderInstanceSegmentation=True)  # fmt: skip


def run_evaluation(
    task_files: Sequence[str | Path],
    modes: Sequence[str] = ("memory", "no_memory"),
    seed: int = 0,
    *,
    limit: int | None = None,
    scenes: Sequence[str] | None = None,
    width: int = 160,
    height: int = 120,
    max_steps: int = 400,
    deadline_s: float = 120.0,
    num_changes: int = 5,
    sessions: Sequence[int] = (1, 2),
    workdir: str | Path | None = None,
    progress: bool = True,
    wrap_memory: MemoryWrapper | None = None,
    protocol: str = "persistent",
    noise: str = "none",
) -> dict[str, Any]:
    """Run every task in every mode and session; returns the report as a dict.

    Parameters
    ----------
    task_files
        KARMA-format JSON files (:func:`sim.karma_tasks.load_tasks`).
    modes
        Memory modes from :data:`MODES`.
    seed
        Seeds the household changes before session 2 (per scene, or per task with ``reset``).
    limit
        Run only the first ``limit`` tasks (over all files).
    scenes
        Run only the tasks of these scenes (``FloorPlan1``, ...); applied before ``limit``.
    workdir
        Where the per-mode, per-scene SQLite memories are written (a temporary folder if None).
    wrap_memory
        Called as ``wrap_memory(memory, sim, mode=..., scene=..., session=...)`` once per
        memory (per mode, session and scene; per task for the oracle); the planner then talks
        to what it returns (e.g. a recorder of memory traffic). Saving and closing still go to
        the memory itself.
    protocol
        ``"persistent"`` (the home persists; see the module docstring) or ``"reset"``.
    noise
        The simulator's sensor noise preset (``none``, ``realistic``, ``heavy``).
    """
    from tqdm import tqdm

    from sim.karma_tasks import load_tasks

    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    tasks = [t for path in task_files for t in load_tasks(path)]
    if scenes:
        tasks = [t for t in tasks if t.scene in set(scenes)]
    tasks = tasks[:limit] if limit is not None else tasks
    if not tasks:
        raise InvalidInputError("no task to run: the task files hold none for these scenes")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="memory_eval_")
        workdir = tmp.name
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = dict(
        seed=seed, num_changes=num_changes, protocol=protocol, width=width, height=height,
        max_steps=max_steps, noise=noise,
    )  # fmt: skip
    bar = tqdm(total=len(tasks) * len(modes) * len(sessions), disable=not progress, desc="eval")
    try:
        run = _run_persistent if protocol == "persistent" else _run_reset
        rows, extra = run(
            tasks, modes, seed, sessions, workdir, bar, wrap_memory, width=width, height=height,
            max_steps=max_steps, deadline_s=deadline_s, num_changes=num_changes, noise=noise,
        )  # fmt: skip
        settings.update(extra)
    finally:
        bar.close()
        if tmp is not None:
            tmp.cleanup()
    return summarise(rows, modes, sessions, **settings)


def _memory_for(
    mode: str, sim: Any, path: Path, wrap_memory: MemoryWrapper | None, task: Any, session: int,
    knowledge: TypeKnowledge,
) -> tuple[TaskMemory, TaskMemory]:  # fmt: skip
    memory = make_memory(mode, sim, path, knowledge)
    return memory, _wrapped(wrap_memory, memory, sim, mode, task, session)


def _run_persistent(
    tasks: list[Any], modes: Sequence[str], seed: int, sessions: Sequence[int], workdir: Path,
    bar: Any, wrap_memory: MemoryWrapper | None, *, width: int, height: int, max_steps: int,
    deadline_s: float, num_changes: int, noise: str = "none",
) -> tuple[list[dict], dict[str, Any]]:  # fmt: skip
    """The persistent-home protocol: per scene, session 1 for every mode, then session 2."""
    reference = next((m for m in modes if m in PERSISTENT_MODES), modes[0])
    ordered = [reference, *(m for m in modes if m != reference)]
    lineage = {m: m if m in PERSISTENT_MODES or m == reference else reference for m in modes}
    perception = SimPerception()
    knowledge = {mode: TypeKnowledge() for mode in modes}
    rows: list[dict] = []
    scenes = list(dict.fromkeys(t.scene for t in tasks))
    for scene in scenes:
        scene_tasks = [(i, t) for i, t in enumerate(tasks) if t.scene == scene]
        sims = {mode: _new_sim(scene, width, height, seed, noise) for mode in ordered}
        start = world_objects(sims[reference])
        reasons = {index: task_unachievable_reasons(task, start) for index, task in scene_tasks}
        starts: dict[str, dict[int, tuple[dict, int]]] = defaultdict(dict)
        end_states: dict[str, dict] = {}
        try:
            for session in sessions:
                for mode in ordered:
                    sim = sims[mode]
                    if session >= 2:
                        if lineage[mode] != mode and lineage[mode] in end_states:
                            sim.set_state(end_states[lineage[mode]])
                        sim.step({"action": "SimulateHouseholdChanges", "numChanges": num_changes,
                                  "seed": change_seed(seed, scene)})  # fmt: skip
                    path = workdir / f"{mode}_{scene}.sqlite"
                    memory = planner_memory = None
                    stamp = SESSION_START_STAMPS.get(session, 0.0)
                    for index, task in scene_tasks:
                        undone: list[str] = []
                        if session == 1:
                            starts[mode][index] = (
                                sim.get_state(),
                                _scene_state_progress(sim, task),
                            )
                        elif index in starts[lineage[mode]]:
                            undone = _undo_goal(sim, task, starts[lineage[mode]][index])
                        if mode == "oracle" or memory is None:
                            memory, planner_memory = _memory_for(
                                mode, sim, path, wrap_memory, task, session, knowledge[mode]
                            )
                        row, stamp = run_task(
                            task, sim, planner_memory, max_steps=max_steps, start_stamp=stamp,
                            deadline_s=deadline_s, perception=perception,
                            unachievable_reasons=reasons[index],
                        )  # fmt: skip
                        row.update(mode=mode, session=session, goal_undone=bool(undone),
                                   undone_objects=undone)  # fmt: skip
                        rows.append(row)
                        bar.update(1)
                    if isinstance(memory, LayeredMemory):
                        memory.close()  # the restart: only what is in SQLite survives
                    if session == 1:
                        end_states[mode] = sim.get_state()
        finally:
            for sim in sims.values():
                sim.close()
    extra = {
        "reference_mode": reference,
        "session_2_world_from": lineage,
        "session_2_counterpart": SESSION_2_COUNTERPART,
        "household_change_seed": "seed * 1000 + crc32(scene) % 1000",
    }
    return rows, extra


def _run_reset(
    tasks: list[Any], modes: Sequence[str], seed: int, sessions: Sequence[int], workdir: Path,
    bar: Any, wrap_memory: MemoryWrapper | None, *, width: int, height: int, max_steps: int,
    deadline_s: float, num_changes: int, noise: str = "none",
) -> tuple[list[dict], dict[str, Any]]:  # fmt: skip
    """The older protocol: every task starts from its FloorPlan's initial state."""
    sims = _Simulators(width, height, seed, noise)
    perception = SimPerception()
    knowledge = {mode: TypeKnowledge() for mode in modes}
    rows: list[dict] = []
    reasons: dict[int, list[str]] = {}
    try:
        for mode in modes:
            for session in sessions:
                memories: dict[str, TaskMemory] = {}
                planner_memories: dict[str, TaskMemory] = {}
                stamps: dict[str, float] = {}
                for index, task in enumerate(tasks):
                    sim = sims.get(task.scene)
                    if index not in reasons:  # the FloorPlan's start, before any household change
                        reasons[index] = task_unachievable_reasons(task, world_objects(sim))
                    if session >= 2:
                        change = {"action": "SimulateHouseholdChanges", "numChanges": num_changes}
                        key = f"{task.scene}/{task.task_set}/{task.task_id}"
                        sim.step({**change, "seed": change_seed(seed, key)})
                    path = workdir / f"{mode}_{task.scene}.sqlite"
                    if mode == "oracle":
                        memory = OracleMemory(sim)
                        planner_memory = _wrapped(wrap_memory, memory, sim, mode, task, session)
                    else:
                        if task.scene not in memories:
                            memories[task.scene] = make_memory(mode, sim, path, knowledge[mode])
                            planner_memories[task.scene] = _wrapped(
                                wrap_memory, memories[task.scene], sim, mode, task, session
                            )
                        memory = memories[task.scene]
                        planner_memory = planner_memories[task.scene]
                    stamp = stamps.get(task.scene, SESSION_START_STAMPS.get(session, 0.0))
                    row, stamps[task.scene] = run_task(
                        task, sim, planner_memory, max_steps=max_steps, start_stamp=stamp,
                        deadline_s=deadline_s, perception=perception,
                        unachievable_reasons=reasons[index],
                    )  # fmt: skip
                    row.update(mode=mode, session=session)
                    rows.append(row)
                    bar.update(1)
                for memory in memories.values():
                    if isinstance(memory, LayeredMemory):
                        memory.close()
    finally:
        sims.close()
    return rows, {"household_change_seed": "seed * 1000 + crc32('scene/task_set/task_id') % 1000"}


def _action_ratios(rows: list[dict], mode: str) -> dict[str, float]:
    """No-memory actions over ``mode``'s actions: over all tasks, and where both succeeded."""
    base = {(r["task_set"], r["task_id"]): r for r in rows if r["mode"] == "no_memory"}
    other = [r for r in rows if r["mode"] == mode and (r["task_set"], r["task_id"]) in base]
    out: dict[str, float] = {}
    total = sum(r["actions"] for r in other)
    if total:
        key = f"action_ratio_no_memory_to_{mode}"
        out[key] = sum(base[(r["task_set"], r["task_id"])]["actions"] for r in other) / total
    both = [r for r in other if r["success"] and base[(r["task_set"], r["task_id"])]["success"]]
    total = sum(r["actions"] for r in both)
    if total:
        key = f"action_ratio_no_memory_to_{mode}_both_succeeded"
        out[key] = sum(base[(r["task_set"], r["task_id"])]["actions"] for r in both) / total
    return out


def summarise(
    rows: list[dict], modes: Sequence[str], sessions: Sequence[int], **settings: Any
) -> dict[str, Any]:
    """Per mode, per session, per category summaries and the action ratios."""
    by_mode: dict[str, dict] = {}
    for mode in modes:
        mode_rows = [r for r in rows if r["mode"] == mode]
        entry: dict[str, Any] = {"overall": _summary(mode_rows)}
        entry["success_rate"] = entry["overall"].get("success_rate", 0.0)
        entry["success_rate_feasible"] = entry["overall"].get("success_rate_feasible", 0.0)
        entry["success_rate_achievable"] = entry["overall"].get("success_rate_achievable", 0.0)
        for session in sessions:
            session_rows = [r for r in mode_rows if r["session"] == session]
            categories = defaultdict(list)
            for r in session_rows:
                categories[r["task_set"]].append(r)
            entry[f"session_{session}"] = {
                **_summary(session_rows),
                "by_category": {k: _summary(v) for k, v in sorted(categories.items())},
            }
        by_mode[mode] = entry
    ratios: dict[str, dict[str, Any]] = {}
    if "no_memory" in modes:
        for session in sessions:
            session_rows = [r for r in rows if r["session"] == session]
            out: dict[str, Any] = {}
            for mode in modes:
                if mode != "no_memory":
                    out.update(_action_ratios(session_rows, mode))
            categories = sorted({r["task_set"] for r in session_rows})
            out["by_category"] = {
                category: {
                    k: v
                    for mode in modes
                    if mode != "no_memory"
                    for k, v in _action_ratios(
                        [r for r in session_rows if r["task_set"] == category], mode
                    ).items()
                }
                for category in categories
            }
            ratios[f"session_{session}"] = out
    return {
        "settings": {"modes": list(modes), "sessions": list(sessions), **settings},
        "modes": by_mode,
        "action_ratios": ratios,
        "tasks": rows,
    }


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    """Command line: run the evaluation and print (or write) the JSON report.

    Bad input (a task file that is missing, not JSON, or names an unknown predicate, object
    type or FloorPlan) ends with one line on stderr and exit code 2.
    """
    parser = argparse.ArgumentParser(description="Evaluate memory modes on household tasks.")
    parser.add_argument("--tasks", nargs="+", required=True, help="KARMA-format task files")
    parser.add_argument("--modes", nargs="+", default=["memory", "no_memory"], choices=MODES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--limit", type=_count(1), default=None, help="first N tasks only")
    parser.add_argument("--scenes", nargs="+", default=None, help="only these scenes' tasks")
    parser.add_argument("--max-steps", type=_count(1), default=400)
    parser.add_argument(
        "--deadline-s", type=float, default=120.0,
        help="wall-clock limit per task (a safety net; raise it on a busy machine)",
    )  # fmt: skip
    parser.add_argument("--width", type=_count(1), default=160)
    parser.add_argument("--height", type=_count(1), default=120)
    parser.add_argument("--num-changes", type=_count(0), default=5)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the SQLite memories")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--protocol", choices=PROTOCOLS, default="persistent",
        help="persistent: the home persists across tasks and sessions; reset: the older one",
    )  # fmt: skip
    parser.add_argument(
        "--noise", choices=("none", "realistic", "heavy"), default="none",
        help="sensor noise preset: depth errors and odometry drift (sim/sensor_noise.py)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not math.isfinite(args.deadline_s) or args.deadline_s <= 0:
        print(f"error: --deadline-s must be > 0, got {args.deadline_s}", file=sys.stderr)
        return 2
    os.environ.setdefault("MUJOCO_GL", "egl")
    from sim.karma_tasks import load_tasks

    try:  # every task file is read before anything runs
        tasks = [task for path in args.tasks for task in load_tasks(path)]
    except MemoryStackError as error:  # one line, however long the input it quotes
        print(f"error: {' '.join(str(error).split())[:400]}", file=sys.stderr)
        return 2
    if args.scenes and not any(task.scene in args.scenes for task in tasks):
        print(f"error: no task in the task files is in {', '.join(args.scenes)}", file=sys.stderr)
        return 2
    report = run_evaluation(
        args.tasks, args.modes, args.seed, limit=args.limit, scenes=args.scenes,
        width=args.width,
        height=args.height, max_steps=args.max_steps, num_changes=args.num_changes,
        workdir=args.workdir, progress=not args.no_progress, protocol=args.protocol,
        deadline_s=args.deadline_s, noise=args.noise,
    )  # fmt: skip
    text = json.dumps(report, indent=2, sort_keys=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    summary = {
        mode: {k: v for k, v in entry.items() if k.startswith("success_rate")}
        for mode, entry in report["modes"].items()
    }
    print(json.dumps({"success": summary, "action_ratios": report["action_ratios"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
