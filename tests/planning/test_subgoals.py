"""Subgoal generation from hand-written goal conditions."""

from __future__ import annotations

from memory_nodes.planning.goals import parse_goal
from memory_nodes.planning.subgoals import SubgoalKind, plan_subgoals


def _plan(goal: str, **kw) -> list[str]:
    conditions, _ = parse_goal(goal)
    return [str(s) for s in plan_subgoals(conditions, **kw).subgoals]


def test_put_into_fridge_opens_it_before_putting_and_closes_after():
    assert _plan("INSIDE(apple, fridge): 1") == [
        "find(Apple)", "navigate(Apple)", "pickup(Apple)", "find(Fridge)", "navigate(Fridge)",
        "open(Fridge)", "put(Fridge)", "close(Fridge)",
    ]  # fmt: skip


def test_open_and_close_are_conditional_on_the_bound_receptacle():
    conditions, _ = parse_goal("INSIDE(apple, fridge): 1")
    plan = plan_subgoals(conditions).subgoals
    assert all(s.conditional for s in plan if s.kind in (SubgoalKind.OPEN, SubgoalKind.CLOSE))


def test_slicing_picks_up_a_knife_first_and_later_conditions_use_the_pieces():
    steps = _plan("STATE(apple, sliced): 1, INSIDE(apple, trash): 1")
    assert steps.index("pickup(Knife/ButterKnife)") < steps.index("slice(Apple)")
    # the knife leaves the hand before a slice is picked up
    assert steps.index("put_down(Knife/ButterKnife)") < steps.index("pickup(AppleSliced)")
    assert steps[-1] == "put(GarbageCan)"


def test_eggs_are_sliced_without_a_knife():
    assert "pickup(Knife/ButterKnife)" not in _plan("STATE(egg, sliced): 1")


def test_cleaning_puts_the_object_in_the_basin_and_runs_the_faucet():
    steps = _plan("STATE(mug, clean): 1")
    assert steps.index("put(SinkBasin)") < steps.index("toggle_on(Faucet)")
    assert steps.index("toggle_on(Faucet)") < steps.index("clean(Mug)")
    assert steps[-1] == "toggle_off(Faucet)"


def test_an_object_already_put_in_the_sink_is_not_put_there_again_to_wash_it():
    steps = _plan("INSIDE(tomato, sink): 1, STATE(tomato, clean): 1")
    assert sum(s.startswith("put(") for s in steps) == 1
    assert steps[-2:] == ["clean(Tomato)", "toggle_off(Faucet)"]


def test_cooking_uses_the_microwave_when_the_scene_has_one_else_the_stove():
    with_microwave = _plan("STATE(potato, cooked): 1", available_types={"Microwave", "Potato"})
    assert "toggle_on(Microwave)" in with_microwave
    assert with_microwave.index("close(Microwave)") < with_microwave.index("toggle_on(Microwave)")
    stove = _plan("STATE(potato, cooked): 1", available_types={"StoveBurner", "Potato"})
    assert "put(StoveBurner)" in stove and "toggle_on(StoveKnob)" in stove


def test_one_object_in_hand_at_a_time():
    steps = _plan("ON(apple, table): 1, ON(bread, counter): 1")
    assert steps.index("put(DiningTable/CoffeeTable/SideTable)") < steps.index("pickup(Bread)")
    assert "put_down(Apple)" not in steps


def test_toggle_conditions_walk_to_the_object_and_switch_it():
    assert _plan("TOGGLEON(faucet): 1") == ["find(Faucet)", "navigate(Faucet)",
                                            "toggle_on(Faucet)"]  # fmt: skip


def test_negated_conditions_are_reported_as_unsupported_not_guessed():
    conditions, _ = parse_goal("ON(apple, table): 0")
    plan = plan_subgoals(conditions)
    assert plan.subgoals == [] and "negated" in plan.unsupported[0]
