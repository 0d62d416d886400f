"""The short-term object-state cache: writes, reads, the read path, resizing, bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.policies import LruPolicy
from memory_nodes.core.short_term import EvictionReason, ObjectStateCache
from memory_nodes.core.types import (
    Box,
    MemorySource,
    ObjectObservation,
    ObjectRecord,
    Pose,
    Vector3,
)


def observe(object_id, t, object_type="Apple", x=0.0, states=None):
    pose = Pose(Vector3(x, 0.0, 0.0))
    return ObjectObservation(
        object_id, object_type, pose, Box(pose.position), stamp=t, states=states or {}
    )


def long_term_record(object_id, last_seen, x=5.0):
    pose = Pose(Vector3(x, 0.0, 0.0))
    return ObjectRecord(object_id, "Apple", pose, Box(pose.position), 0.9, 0.0, last_seen)


def snapshot(cache):
    return (
        [(e.object_id, e.write_count, e.access_count, e.last_written) for e in cache.entries()],
        dataclasses.astuple(cache.stats),
        cache.capacity,
        type(cache.policy),
        cache.step,
    )


def test_put_then_get_counts_hits_misses_and_metadata():
    cache = ObjectStateCache(4, "lru")
    cache.put(observe("a", 1.0), now=1.5)
    cache.put(observe("a", 2.0, x=0.1), now=2.5)
    entry = cache.get("a", now=3.0)
    assert cache.get("zzz", now=3.0) is None
    assert entry.first_inserted == 1.5 and entry.last_written == 2.0 and entry.last_accessed == 3.0
    assert (entry.write_count, entry.access_count) == (2, 1)
    assert entry.world_T_object.position.x == 0.1
    assert (cache.stats.hits, cache.stats.misses, cache.stats.hit_rate) == (1, 1, 0.5)


def test_out_of_order_observation_does_not_roll_state_back():
    cache = ObjectStateCache(4, "lru")
    cache.put(observe("a", 5.0, x=1.0))
    cache.put(observe("a", 4.0, x=9.0))
    assert cache.find_entry("a").world_T_object.position.x == 1.0
    assert cache.stats.out_of_order_writes == 1


def test_record_is_tagged_short_term():
    cache = ObjectStateCache(4, "lru")
    cache.put(observe("a", 1.0, states={"isSliced": "false"}))
    record = cache.find_entry("a").to_record()
    assert record.memory_source is MemorySource.SHORT_TERM
    assert record.last_seen == 1.0 and record.states == {"isSliced": "false"}


def test_action_effect_merges_states_and_is_marked_for_consolidation():
    effects = []
    cache = ObjectStateCache(4, "lru", on_action_effect=effects.append)
    cache.put(observe("Fridge|1", 1.0, "Fridge", states={"isOpen": "false", "isToggled": "x"}))
    entry = cache.record_action_effect("Fridge|1", states={"isOpen": "true"}, now=2.0)
    assert entry.states == {"isOpen": "true", "isToggled": "x"}
    assert entry.pending_consolidation and entry.last_written == 2.0
    assert [e.object_id for e in effects] == ["Fridge|1"]
    cache.record_action_effect("Apple|2", receptacle_id="Fridge|1", receptacle_relation="inside",
                               object_type="Apple", world_T_object=Pose(), now=3.0)  # fmt: skip
    assert sorted(e.object_id for e in cache.take_pending_consolidation()) == [
        "Apple|2",
        "Fridge|1",
    ]
    assert cache.take_pending_consolidation() == []
    assert cache.find_entry("Apple|2").receptacle_id == "Fridge|1"


def test_query_filters_by_type_distance_receptacle_and_age():
    cache = ObjectStateCache(8, "lru")
    cache.put(observe("a1", 1.0, "Apple", x=0.0))
    cache.put(observe("a2", 9.0, "Apple", x=3.0))
    cache.put(observe("m1", 9.0, "Mug", x=0.5))
    cache.record_action_effect("m1", receptacle_id="Sink|1", now=9.5)
    assert [e.object_id for e in cache.query(object_type="Apple", now=10.0)] == ["a1", "a2"]
    near = cache.query(near=Vector3(0.4, 0, 0), radius=1.0, now=10.0)
    assert [e.object_id for e in near] == ["m1", "a1"]
    assert [e.object_id for e in cache.query(receptacle_id="Sink|1", now=10.0)] == ["m1"]
    assert [e.object_id for e in cache.query(max_age=5.0, now=10.0)] == ["a2", "m1"]
    assert cache.stats.reads == 0  # queries are not lookups by id


def test_full_cache_evicts_through_the_sink():
    sink = []
    cache = ObjectStateCache(2, "fifo", on_evict=lambda e, r: sink.append((e.object_id, r)))
    for name, t in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        cache.put(observe(name, t))
    assert sink == [("a", EvictionReason.CAPACITY)]
    assert len(cache) == 2 and cache.stats.evictions == 1


def test_pop_aged_and_expire_take_out_old_entries():
    sink = []
    cache = ObjectStateCache(8, "lru", on_evict=lambda e, r: sink.append((e.object_id, r)))
    cache.put(observe("old", 1.0))
    cache.put(observe("older", 0.5))
    cache.put(observe("new", 9.0))
    assert sorted(e.object_id for e in cache.pop_aged(now=10.0, max_age=5.0)) == ["old", "older"]
    assert sink == []  # pulled, not pushed
    cache.put(observe("mid", 4.0))
    assert [e.object_id for e in cache.expire(now=10.0, max_age=5.0)] == ["mid"]
    assert sink == [("mid", EvictionReason.AGED)]
    assert [e.object_id for e in cache.entries()] == ["new"] and cache.stats.aged_out == 3


# ------------------------------------------------------------------------------ read path


def test_answer_serves_short_term_first():
    cache = ObjectStateCache(4, "lru")
    cache.put(observe("a", 5.0))
    answer = cache.answer("a", lambda _id: long_term_record("a", 1.0), now=6.0)
    assert answer.source is MemorySource.SHORT_TERM
    assert answer.record.memory_source is MemorySource.SHORT_TERM
    assert cache.stats.hits == 1


def test_answer_falls_back_to_long_term_or_nothing():
    cache = ObjectStateCache(4, "lru")
    answer = cache.answer("a", lambda _id: long_term_record("a", 1.0), now=6.0)
    assert answer.source is MemorySource.LONG_TERM and answer.long_term_lookups == 1
    nothing = cache.answer("b", lambda _id: None, now=6.0)
    assert nothing.record is None and nothing.source is None
    assert cache.stats.misses == 2


class MissRecorder(LruPolicy):
    def __init__(self) -> None:
        self.misses: list[tuple[str, float]] = []

    def on_miss(self, object_id: str, now: float) -> None:
        self.misses.append((object_id, now))


def test_misses_by_id_reach_the_policy_and_hits_do_not():
    policy = MissRecorder()
    cache = ObjectStateCache(4, policy)
    cache.put(observe("a", 1.0))
    cache.get("a", now=2.0)
    cache.get("b", now=3.0)
    cache.answer("a", lambda _id: None, now=4.0, verify=False)
    cache.answer("c", lambda _id: long_term_record("c", 1.0), now=5.0)
    cache.query(now=6.0, object_type="Mug")  # by type: no object was missed
    assert policy.misses == [("b", 3.0), ("c", 5.0)]


def test_a_picked_up_object_is_answered_as_held_not_at_a_place():
    # The pickup writes "in the hand, on nothing" at once; the old position stays only as the
    # last place the object was seen, and the record says it is held.
    cache = ObjectStateCache(4, "lru")
    cache.put(observe("Apple|1", 1.0, x=2.0))
    cache.record_action_effect("Apple|1", now=2.0, states={"isPickedUp": "true"}, receptacle_id="")
    answer = cache.answer("Apple|1", lambda _id: long_term_record("Apple|1", 1.0), now=3.0)
    assert answer.source is MemorySource.SHORT_TERM
    assert answer.record.states["isPickedUp"] == "true"
    assert answer.record.receptacle_id == "" and answer.record.last_seen == 2.0


def test_answer_does_not_serve_an_entry_older_than_long_term_memory():
    cache = ObjectStateCache(4, "lru")
    cache.put(observe("a", 2.0, x=0.0))
    answer = cache.answer("a", lambda _id: long_term_record("a", 3.0, x=5.0), now=4.0)
    assert answer.source is MemorySource.LONG_TERM and answer.stale_dropped
    assert answer.record.world_T_object.position.x == 5.0
    assert "a" not in cache and cache.stats.stale_dropped == 1


def test_unverified_answer_skips_the_lookup_and_relies_on_update_notes():
    lookups = []
    cache = ObjectStateCache(4, "lru")
    cache.put(observe("a", 2.0))
    answer = cache.answer("a", lambda i: lookups.append(i), now=3.0, verify=False)
    assert answer.source is MemorySource.SHORT_TERM and lookups == []
    assert not cache.note_long_term_update("a", last_seen=1.0)
    assert cache.note_long_term_update("a", last_seen=4.0)
    assert "a" not in cache


# ------------------------------------------------------------------------ run-time changes


def test_shrinking_capacity_evicts_by_policy_through_the_sink():
    sink = []
    cache = ObjectStateCache(4, "lru", on_evict=lambda e, r: sink.append(e.object_id))
    for name, t in (("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)):
        cache.put(observe(name, t))
    cache.get("a", now=5.0)
    cache.set_capacity(2)
    assert sink == ["b", "c"]
    assert sorted(e.object_id for e in cache.entries()) == ["a", "d"]
    cache.set_capacity(10)
    assert len(cache) == 2


def test_switching_policy_keeps_every_entry_and_uses_their_history():
    cache = ObjectStateCache(3, "fifo")
    for name, t in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        cache.put(observe(name, t))
    cache.get("a", now=4.0)
    assert cache.eviction_order()[0] == "a"
    for name in ("lru", "lfu", "mem4nav", "household", "karma"):
        cache.set_policy(name)
        assert sorted(e.object_id for e in cache.entries()) == ["a", "b", "c"]
    cache.set_policy("lru")
    assert cache.eviction_order() == ["b", "c", "a"]  # the read of a under fifo still counts
    cache.set_policy("household")
    assert cache.eviction_order()[-1] == "a"  # read entries are protected


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize("capacity", [0, -3, 2.5, True])
def test_bad_capacity_is_rejected(capacity):
    with pytest.raises(InvalidInputError, match="capacity"):
        ObjectStateCache(capacity)


def bad_calls():
    nan = float("nan")
    return [
        lambda c: c.set_capacity(0),
        lambda c: c.set_capacity(-1),
        lambda c: c.set_policy("random"),
        lambda c: c.put(observe("", 1.0)),
        lambda c: c.put(observe("x", 1.0), now=math.inf),
        lambda c: c.get("a", now=nan),
        lambda c: c.query(now=1.0, near=Vector3(), radius=None),
        lambda c: c.query(now=1.0, near=[0.0, nan, 0.0], radius=1.0),
        lambda c: c.query(now=1.0, near=Vector3(), radius=-1.0),
        lambda c: c.record_action_effect("unknown", states={"isOpen": "true"}, now=5.0),
        lambda c: c.record_action_effect("a", states={"isOpen": True}, now=5.0),
        lambda c: c.record_action_effect("a", now=0.5),
        lambda c: c.answer("a", lambda _i: None, now=nan),
        lambda c: c.pop_aged(now=5.0, max_age=-1.0),
        lambda c: c.note_long_term_update("a", last_seen=math.inf),
    ]


@pytest.mark.parametrize("call", bad_calls())
def test_bad_input_raises_and_leaves_the_cache_unchanged(call):
    cache = ObjectStateCache(2, "lru")
    cache.put(observe("a", 1.0))
    cache.put(observe("b", 2.0))
    before = snapshot(cache)
    with pytest.raises(InvalidInputError):
        call(cache)
    assert snapshot(cache) == before
