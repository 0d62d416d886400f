"""The KARMA task files' goals as the simulator reads them, and ordered-subgoal checking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import memory_nodes.planning.goals as goal_language
import sim.goal_conditions
from memory_nodes.planning.goals import parse_goal
from sim.goal_conditions import GoalChecker, condition_holds
from sim.karma_tasks import coverage_report, load_tasks

TASK_DIR = Path("/work/shared/benchmarks/karma_alfred_l")
TASK_FILES = sorted(TASK_DIR.glob("*.json"))
needs_tasks = pytest.mark.skipif(not TASK_FILES, reason="KARMA task files not on this machine")


def _obj(object_id: str, object_type: str, parents=None, **state) -> dict:
    base = {
        "objectId": object_id,
        "objectType": object_type,
        "parentReceptacles": parents,
        "isSliced": False,
        "isCooked": False,
        "isDirty": False,
        "isFilledWithLiquid": False,
        "isToggled": False,
        "toggleable": True,
        "isOpen": False,
        "openable": False,
        "isPickedUp": False,
        "temperature": "RoomTemp",
        "position": {"x": 0.0, "y": 0.0, "z": 0.0},
    }
    base.update(state)
    return base


@needs_tasks
def test_all_48_karma_tasks_parse():
    tasks = [t for f in TASK_FILES for t in load_tasks(f)]
    assert len(tasks) == 48
    assert all(t.conditions for t in tasks)


@needs_tasks
def test_malformed_task_entries_are_repaired_and_each_repair_is_reported():
    fixes = {(t.task_set, t.task_id): t.fixes for f in TASK_FILES for t in load_tasks(f)}
    assert "predicate SWITCHON read as TOGGLEON" in fixes[("SimpleTasks", 3)]
    assert "'toilet paper' read as ToiletPaper" in fixes[("SimpleTasks", 2)]
    assert any("DiningTable" in f for f in fixes[("SimpleTasks", 1)])
    assert any("dropped 'ON(desk)'" in f for f in fixes[("ComplexTasks", 4)])
    assert any("NEAR_POINT" in f for f in fixes[("ComplexTasks", 13)])
    assert "predicate 'On' upper-cased" in fixes[("ComplexTasks", 17)]


@needs_tasks
def test_coverage_report_says_per_task_whether_its_floorplan_has_the_named_objects():
    rows = coverage_report(TASK_FILES)
    assert len(rows) == 48
    by_key = {(r["set"], r["id"]): r for r in rows}
    assert by_key[("SimpleTasks", 4)]["has_all_objects"]  # FloorPlan1: potato and apple
    assert "Desk" in by_key[("ComplexTasks", 3)]["missing"]  # a kitchen has no desk


def test_any_task_file_in_the_same_format_loads(tmp_path):
    path = tmp_path / "mine.json"
    entry = {"FloorPlan": 402, "ID": 1, "Goal Condition": "ON(soapbar, countertop): 1"}
    path.write_text(json.dumps({"Mine": [entry]}))
    (task,) = load_tasks(path)
    assert task.scene == "FloorPlan402" and task.conditions[0].target == ("CounterTop",)


def test_house_task_files_name_multi_room_houses_and_their_objects():
    # A house has every type of its four rooms: a kitchen tomato and a bedroom phone.
    rows = coverage_report([Path(__file__).parents[2] / "bench/data/house_tasks.json"])
    assert len(rows) == 15 and all(r["has_all_objects"] for r in rows)
    assert {r["scene"] for r in rows} == {f"House{i}" for i in range(1, 6)}
    from sim import scene_catalog

    house = scene_catalog.scene_object_types("House1")
    assert {"Tomato", "Fridge", "CellPhone", "Bed", "Toilet"} <= house
    assert not {"Toilet"} & scene_catalog.scene_object_types("FloorPlan1")


def test_the_checker_reads_the_planners_goal_language():
    """One language: the names the simulator re-exports are the planner's own objects."""
    for name in goal_language.__all__:
        assert getattr(sim.goal_conditions, name) is getattr(goal_language, name)


def test_on_and_inside_hold_through_nested_receptacles():
    (cond,), _ = parse_goal("INSIDE(apple, fridge): 1")
    objects = [
        _obj("Fridge|1", "Fridge"),
        _obj("Plate|1", "Plate", ["Fridge|1"]),
        _obj("Apple|1", "Apple", ["Plate|1"]),
    ]
    assert condition_holds(cond, objects)
    assert not condition_holds(cond, [_obj("Apple|1", "Apple", None), objects[0]])


def test_conditions_are_ordered_subgoals():
    conditions, _ = parse_goal("TOGGLEON(DeskLamp): 1, TOGGLEOFF(DeskLamp): 1")
    checker = GoalChecker(conditions)
    assert checker.update([_obj("DeskLamp|1", "DeskLamp", isToggled=False)]) == 0
    assert checker.update([_obj("DeskLamp|1", "DeskLamp", isToggled=True)]) == 1
    assert checker.update([_obj("DeskLamp|1", "DeskLamp", isToggled=False)]) == 2
    assert checker.success


def test_state_conditions_cover_sliced_pieces_and_synonyms():
    conditions, fixes = parse_goal("STATE(bread, sliced): 1, STATE(plate, washed): 1")
    assert "state 'washed' read as clean" in fixes
    objects = [_obj("Bread|1|BreadSliced_0", "BreadSliced"), _obj("Plate|1", "Plate")]
    assert all(condition_holds(c, objects) for c in conditions)
