"""Which goal conditions the simulator's object rules allow at all, on real scene metadata."""

from __future__ import annotations

import copy
from functools import cache

import pytest

from memory_nodes.planning.goals import Condition, parse_goal
from sim.goal_conditions import piece_metadata, unachievable_reason

#: Metadata flags the object rules read.
FLAGS = (
    "objectType",
    "pickupable",
    "receptacle",
    "sliceable",
    "isSliced",
    "cookable",
    "dirtyable",
    "canFillWithLiquid",
    "toggleable",
    "openable",
)


@cache
def _start_objects(scene: str) -> tuple[dict, ...]:
    """The scene's object metadata as the simulator reports it right after loading."""
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim(scene, width=32, height=24)
    try:
        return tuple(sim.step({"action": "Pass"})[0]["objects"])
    finally:
        sim.close()


def _objects(scene: str) -> list[dict]:
    return copy.deepcopy(list(_start_objects(scene)))


def _condition(text: str) -> Condition:
    (condition,), _ = parse_goal(text)
    return condition


def _reason(text: str, scene: str) -> str | None:
    return unachievable_reason(_condition(text), _objects(scene))


@pytest.mark.parametrize(
    ("goal", "scene", "name"),
    [("STATE(apple, cooked): 1", "FloorPlan1", "Apple"),
     ("STATE(lettuce, cooked): 1", "FloorPlan28", "Lettuce")],
)  # fmt: skip
def test_neither_an_apple_nor_a_lettuce_nor_their_slices_can_be_cooked(goal, scene, name):
    assert _reason(goal, scene) == f"{name} cannot be cooked (not cookable, nor its slices)"


@pytest.mark.parametrize("food", ["potato", "egg", "bread"])
def test_potato_egg_and_bread_can_be_cooked_whole_or_as_pieces(food):
    assert _reason(f"STATE({food}, cooked): 1", "FloorPlan1") is None


def test_an_egg_cooks_only_once_broken():
    egg = next(o for o in _objects("FloorPlan1") if o["objectType"] == "Egg")
    assert not egg["cookable"] and piece_metadata(egg)["cookable"]
    assert piece_metadata(egg)["objectType"] == "EggCracked"


def test_a_desk_lamp_cannot_be_put_on_a_cellphone():
    reason = _reason("ON(lamp, cellphone): 1", "FloorPlan224")
    assert reason == "DeskLamp/FloorLamp cannot be moved (not pickupable)"


@pytest.mark.parametrize(
    ("goal", "scene", "target"),
    [("ON(vase, key): 1", "FloorPlan227", "KeyChain"),
     ("ON(soapbar, cloth): 1", "FloorPlan422", "Cloth")],
)  # fmt: skip
def test_nothing_can_be_put_on_what_is_not_a_receptacle(goal, scene, target):
    assert _reason(goal, scene) == f"nothing can be put on or in {target} (not a receptacle)"


def test_an_apple_can_be_sliced_only_with_a_knife_in_the_scene():
    condition = _condition("STATE(apple, sliced): 1")
    objects = _objects("FloorPlan1")
    assert unachievable_reason(condition, objects) is None
    no_knife = [o for o in objects if o["objectType"] not in ("Knife", "ButterKnife")]
    reason = unachievable_reason(condition, no_knife)
    assert reason == "Apple cannot be sliced (no Knife or ButterKnife in the scene)"
    # The pieces need the knife too: toast cannot be made without one.
    toast = unachievable_reason(_condition("STATE(bread, cooked): 1"), no_knife)
    assert toast == "Bread cannot be cooked (only its slices are cookable, and no knife cuts it)"


def test_a_condition_true_at_the_start_is_achievable_whatever_the_rules():
    objects = _objects("FloorPlan224")
    lamp = next(o for o in objects if o["objectType"] == "DeskLamp")
    (parent_id,) = lamp["parentReceptacles"]
    parent = next(o for o in objects if o["objectId"] == parent_id)
    # The lamp cannot be moved, but it already stands where the goal wants it.
    on_parent = _condition(f"ON(DeskLamp, {parent['objectType']}): 1")
    assert unachievable_reason(on_parent, objects) is None
    # An apple cannot get dirty, and it is already clean.
    assert _reason("STATE(apple, clean): 1", "FloorPlan1") is None
    reason = _reason("STATE(apple, dirty): 1", "FloorPlan1")
    assert reason == "Apple cannot be made dirty (not dirtyable, nor its slices)"


def test_a_burner_switches_through_its_knob_and_heats_what_is_put_on_it():
    assert _reason("TOGGLEON(StoveBurner): 1", "FloorPlan28") is None
    assert _reason("TOGGLEOFF(StoveBurner): 1", "FloorPlan28") is None
    assert _reason("STATE(lettuce, hot): 1", "FloorPlan28") is None
    assert _reason("STATE(lettuce, cold): 1", "FloorPlan28") is None
    objects = [o for o in _objects("FloorPlan28") if o["objectType"] != "StoveKnob"]
    reason = unachievable_reason(_condition("TOGGLEON(StoveBurner): 1"), objects)
    assert reason == "StoveBurner cannot be switched on (not toggleable, nor switched by anything)"


def test_a_negated_condition_needs_the_opposite_change():
    objects = _objects("FloorPlan1")
    apple_away = _condition("ON(apple, countertop): 0")
    assert unachievable_reason(apple_away, objects) is None  # it can be picked up
    for o in objects:
        if o["objectType"] == "Potato":
            o["isCooked"] = True
    reason = unachievable_reason(_condition("STATE(potato, cooked): 0"), objects)
    assert reason == "Potato cannot stop being cooked (it cannot be undone)"


def test_piece_flags_are_those_of_the_pieces_the_simulator_cuts():
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim("FloorPlan1", width=32, height=24)
    try:
        for object_type in ("Apple", "Potato", "Egg", "Bread"):
            (whole,) = sim.world.objects_of_type(object_type)
            expected = piece_metadata(copy.deepcopy(whole.meta))
            pieces = sim.slice_object(whole)
            for piece in pieces:
                assert {k: piece.meta[k] for k in FLAGS} == {k: expected[k] for k in FLAGS}
    finally:
        sim.close()
