"""The goal language: parsing, name resolution through the taxonomy, scene fallbacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from memory_nodes.core.errors import GoalParseError, MemoryStackError
from memory_nodes.planning.goals import (
    Condition,
    adapt_to_scene,
    parse_condition,
    parse_goal,
    resolve_object_name,
    with_sliced_forms,
)


def test_the_goal_language_imports_without_the_simulator():
    code = (
        "import sys; sys.modules['sim'] = None\n"
        "from memory_nodes.planning.goals import parse_goal\n"
        "from memory_nodes.planning.subgoals import plan_subgoals\n"
        "conditions, _ = parse_goal('INSIDE(apple, fridge): 1')\n"
        "assert len(plan_subgoals(conditions)) == 8\n"
        "assert not [m for m in sys.modules if m.startswith('sim.')]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unreadable_goals_raise_a_named_error():
    with pytest.raises(GoalParseError):
        parse_goal("FLY(apple): 1")
    with pytest.raises(GoalParseError):
        parse_goal("ON(unicornhorn, table): 1")
    with pytest.raises(GoalParseError):
        parse_goal("ON(apple, fridge): 1 and then some")
    with pytest.raises(GoalParseError):
        parse_goal("")


def test_goal_parse_errors_are_memory_stack_errors_and_value_errors():
    assert issubclass(GoalParseError, MemoryStackError)
    assert issubclass(GoalParseError, ValueError)


def test_names_resolve_to_taxonomy_types_and_each_repair_is_noted():
    assert resolve_object_name("Apple") == (("Apple",), None)
    assert resolve_object_name("apple") == (("Apple",), None)  # case alone is no repair
    assert resolve_object_name("toilet paper") == (
        ("ToiletPaper",),
        "'toilet paper' read as ToiletPaper",
    )
    types, note = resolve_object_name("table")
    assert types == ("DiningTable", "CoffeeTable", "SideTable") and note
    assert resolve_object_name("apples")[0] == ("Apple",)
    assert resolve_object_name("dishes")[0] == ("Plate", "Bowl")
    with pytest.raises(GoalParseError):
        resolve_object_name("cart")  # in the taxonomy's table, in no scene


def test_sliced_forms_follow_their_whole_types():
    assert with_sliced_forms(("Apple", "Mug")) == ("Apple", "Mug", "AppleSliced")
    assert with_sliced_forms(("Egg", "EggCracked")) == ("Egg", "EggCracked")
    assert resolve_object_name("AppleSliced") == (("AppleSliced",), None)


def test_malformed_conditions_are_repaired_or_dropped():
    cond, fixes = parse_condition("On(apple, countertop)")
    assert cond == Condition("ON", ("Apple",), ("CounterTop",), text="On(apple, countertop)")
    assert "predicate 'On' upper-cased" in fixes and "missing ': 1' read as true" in fixes
    cond, fixes = parse_condition("ON(desk)", "1")
    assert cond is None and any("dropped" in f for f in fixes)
    cond, _ = parse_condition("STATE(apple, countertop)", "1")
    assert cond is not None and (cond.predicate, cond.target) == ("ON", ("CounterTop",))
    cond, _ = parse_condition("ON(apple, (1.0, 0.9, -2.5))", "1")
    assert cond is not None and cond.predicate == "NEAR_POINT" and cond.point == (1.0, 0.9, -2.5)
    cond, _ = parse_condition("SWITCHOFF(faucet)", "0")
    assert cond is not None and cond.predicate == "TOGGLEOFF" and not cond.expected
    with pytest.raises(GoalParseError):
        parse_condition("TOGGLEON(faucet, sink)", "1")


def test_a_scene_without_tables_reads_table_as_its_desk_or_counter():
    conditions, _ = parse_goal("ON(apple, table): 1, INSIDE(apple, fridge): 1")
    adapted, notes = adapt_to_scene(conditions, {"Apple", "Fridge", "CounterTop"})
    assert adapted[0].target == ("CounterTop",) and len(notes) == 1
    assert adapted[1] is conditions[1]
    adapted, _ = adapt_to_scene(conditions, {"Apple", "Desk", "CounterTop"})
    assert adapted[0].target == ("Desk",)
    adapted, notes = adapt_to_scene(conditions, {"Apple", "SideTable"})
    assert adapted[0] is conditions[0] and not notes
