"""Household tasks in the KARMA / ALFRED-L JSON format, with goal conditions and scene checks.

A task file is ``{"<SetName>": [{"FloorPlan": 1, "ID": 1, "Goal Condition": "...",
"Instruction": "..."}, ...]}`` (a bare list of tasks is accepted too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from memory_nodes.core.errors import GoalParseError, InvalidInputError, SceneNotFoundError
from memory_nodes.core.object_taxonomy import sliceable, sliced_form
from memory_nodes.planning.goals import Condition, adapt_to_scene, parse_goal
from sim import scene_catalog


@dataclass
class HouseholdTask:
    """One task: where it happens, what to achieve, and the repairs its goal string needed."""

    task_set: str
    task_id: int
    scene: str
    instruction: str
    goal_text: str
    conditions: list[Condition]
    fixes: list[str] = field(default_factory=list)

    def missing_objects(self) -> list[str]:
        """Condition names whose types the scene lacks (sliced forms count when sliceable)."""
        types = set(scene_catalog.scene_object_types(self.scene))
        types |= {sliced_form(t) for t in types if sliceable(t)}
        missing = []
        for cond in self.conditions:
            for group in cond.names():
                if not types.intersection(group):
                    name = "/".join(group)
                    if name not in missing:
                        missing.append(name)
        return missing


def scene_name(floorplan: int | str) -> str:
    """``1`` -> ``FloorPlan1``; scene names (``FloorPlan1``, ``House1``) pass unchanged."""
    text = str(floorplan)
    return text if text.startswith(("FloorPlan", "House")) else f"FloorPlan{int(text)}"


def _read_task_groups(path: Path) -> list[tuple[str, list[dict]]]:
    """The file's task sets, checked for shape; ``InvalidInputError`` names what is wrong."""
    if not path.is_file():
        raise InvalidInputError(f"{path}: task file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInputError(f"{path}: not a JSON task file: {error}") from None
    groups = list(data.items()) if isinstance(data, dict) else [(path.stem, data)]
    for task_set, entries in groups:
        if not isinstance(entries, list):
            raise InvalidInputError(f"{path}: task set {task_set!r}: expected a list of tasks")
        for index, entry in enumerate(entries):
            where = f"{path}: task set {task_set!r}, task {index}"
            if not isinstance(entry, dict):
                raise InvalidInputError(f"{where}: expected an object, got {type(entry).__name__}")
            if not isinstance(entry.get("Goal Condition"), str):
                raise InvalidInputError(f"{where}: 'Goal Condition' must be a string")
            if not isinstance(entry.get("FloorPlan"), int | str) or isinstance(
                entry.get("FloorPlan"), bool
            ):
                raise InvalidInputError(f"{where}: 'FloorPlan' must be a number or scene name")
            if not isinstance(entry.get("ID", 0), int) or isinstance(entry.get("ID"), bool):
                raise InvalidInputError(f"{where}: 'ID' must be an integer")
    return groups


def load_tasks(path: str | Path) -> list[HouseholdTask]:
    """Parse every task in one file.

    Raises
    ------
    InvalidInputError
        The file is missing, not JSON, not shaped as tasks, or a task names an unknown scene,
        predicate or object type; the message names the file and the task.
    """
    path = Path(path)
    tasks = []
    for task_set, entries in _read_task_groups(path):
        for index, entry in enumerate(entries):
            goal = entry["Goal Condition"]
            try:
                conditions, fixes = parse_goal(goal)
                scene = scene_name(entry["FloorPlan"])
                types = scene_catalog.scene_object_types(scene)
            except (GoalParseError, SceneNotFoundError, ValueError) as error:
                message = error.args[0] if error.args else str(error)
                raise InvalidInputError(
                    f"{path}: task set {task_set!r}, task {index}: {message}"
                ) from None
            conditions, notes = adapt_to_scene(conditions, types)
            fixes += notes
            tasks.append(
                HouseholdTask(
                    task_set=task_set,
                    task_id=int(entry.get("ID", len(tasks) + 1)),
                    scene=scene,
                    instruction=entry.get("Instruction", ""),
                    goal_text=goal,
                    conditions=conditions,
                    fixes=fixes,
                )
            )
    return tasks


def coverage_report(paths: list[str | Path]) -> list[dict]:
    """Per task: scene, whether the scene has every named object, and the repairs made."""
    rows = []
    for path in paths:
        for task in load_tasks(path):
            missing = task.missing_objects()
            rows.append(
                {
                    "set": task.task_set,
                    "id": task.task_id,
                    "scene": task.scene,
                    "has_all_objects": not missing,
                    "missing": missing,
                    "fixes": task.fixes,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.karma_tasks FILE...`` prints the coverage report as JSON lines."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    for row in coverage_report(args.files):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
