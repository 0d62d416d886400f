"""Short-term memory keeps no observation that long-term memory refuses.

Both memories get the same hostile observations (``bench/reliability_hostile_messages.py``'s
strategy: each carries NaN, infinite or absurd coordinates, a bad size, a bad type name, a bad
quaternion or a stamp years ahead), converted as the nodes convert them, with the same clock.
Whatever long-term memory refuses, the short-term cache must refuse too: what it keeps, the
planner reads first and consolidation hands to long-term memory.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.long_term import MAX_FUTURE_S, LongTermMemory
from memory_nodes.core.short_term import ObjectStateCache
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3

hostile = pytest.importorskip("bench.reliability_hostile_messages")
conversions = pytest.importorskip("memory_nodes.nodes.conversions")

NOW = 1_000_000.0


def observation(stamp: float, position=(1.0, 2.0, 0.9), size=(0.1, 0.1, 0.1)) -> ObjectObservation:
    box = Box(Vector3(*position), Vector3(*size))
    return ObjectObservation("Fridge|1", "Fridge", Pose(box.center), box, stamp=stamp)


def long_term_refuses(memory: LongTermMemory, obs: ObjectObservation) -> bool:
    try:
        memory._validate([obs], None)
    except InvalidInputError:
        return True
    return False


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(message=hostile.observation_messages())
def test_a_hostile_observation_long_term_refuses_is_not_cached(message) -> None:
    try:
        obs = conversions.observation_from_msg(message)
    except ValueError:  # refused before either memory sees it
        return
    clock_now = hostile.NOW  # the nodes' clock when the messages are sent
    memory = LongTermMemory(None, clock=lambda: clock_now)
    cache = ObjectStateCache(capacity=4)
    refused = long_term_refuses(memory, obs)
    try:
        cache.put(dataclasses.replace(obs, source="perception"), now=clock_now)
    except (InvalidInputError, ValueError):
        assert len(cache) == 0
        return
    assert not refused, f"short-term memory kept what long-term memory refuses: {obs}"
    memory.close()


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(message=hostile.observation_messages())
def test_a_hostile_action_effect_long_term_refuses_is_not_cached(message) -> None:
    """As the short-term node records a message on ``action_effects`` (at its own clock)."""
    try:
        effect = conversions.observation_from_msg(message)
    except ValueError:
        return
    memory = LongTermMemory(None, clock=lambda: hostile.NOW)
    refused = long_term_refuses(memory, effect)
    cache = ObjectStateCache(capacity=4)
    try:
        cache.record_action_effect(
            effect.object_id,
            now=hostile.NOW,
            states=effect.states,
            receptacle_id=effect.receptacle_id or None,
            receptacle_relation=effect.receptacle_relation or None,
            world_T_object=effect.world_T_object,
            box=effect.box,
            object_type=effect.object_type,
            stamp=effect.stamp,
        )
    except (InvalidInputError, ValueError):
        assert len(cache) == 0
        return
    assert not refused, f"short-term memory kept an effect long-term memory refuses: {effect}"
    memory.close()


@pytest.mark.parametrize("ahead_s", [MAX_FUTURE_S + 0.5, 3600.0, 10 * 365 * 86_400.0])
def test_an_observation_stamped_ahead_of_the_clock_is_refused_by_both(ahead_s) -> None:
    obs = observation(NOW + ahead_s, position=(0.0, 1.0, 2.28e-163))
    memory = LongTermMemory(None, clock=lambda: NOW)
    assert long_term_refuses(memory, obs)
    cache = ObjectStateCache(capacity=4)
    with pytest.raises(InvalidInputError, match="in the future"):
        cache.put(obs, now=NOW)
    assert len(cache) == 0 and cache.find_entry("Fridge|1") is None
    with pytest.raises(InvalidInputError, match="in the future"):
        cache.record_action_effect(
            "Fridge|1",
            now=NOW,
            states={"isOpen": "true"},
            world_T_object=obs.world_T_object,
            box=obs.box,
            object_type="Fridge",
            stamp=obs.stamp,
        )
    assert len(cache) == 0
    memory.close()


@given(ahead_s=st.floats(-1e6, MAX_FUTURE_S), tiny=st.floats(-1e-300, 1e-300))
@settings(max_examples=50, deadline=None, database=None)
def test_stamps_within_the_tolerance_and_tiny_coordinates_are_taken_by_both(ahead_s, tiny) -> None:
    obs = observation(NOW + ahead_s, position=(tiny, 1.0, tiny))
    memory = LongTermMemory(None, clock=lambda: NOW)
    assert not long_term_refuses(memory, obs)
    cache = ObjectStateCache(capacity=4)
    cache.put(obs, now=NOW)
    assert cache.find_entry("Fridge|1") is not None
    memory.close()
