"""Eviction order of every replacement policy on hand-made sequences."""

from __future__ import annotations

import json

import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.policies import (
    HouseholdPolicy,
    Mem4NavPolicy,
    ReplacementPolicy,
    TypeKnowledge,
    available_policies,
    default_change_rate,
    make_policy,
    register_policy,
)
from memory_nodes.core.short_term import ObjectStateCache
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def observe(
    object_id: str,
    t: float,
    object_type: str = "Apple",
    x: float = 0.0,
    states: dict[str, str] | None = None,
    source: str = "",
):
    pose = Pose(Vector3(x, 0.0, 0.0))
    return ObjectObservation(
        object_id, object_type, pose, Box(pose.position), stamp=t, states=states or {},
        source=source,
    )  # fmt: skip


def evicted_by(policy, capacity: int, script: list[tuple]) -> list[str]:
    """Run (op, object_id, t[, object_type]) steps; return evicted ids in order."""
    evicted: list[str] = []
    cache = ObjectStateCache(capacity, policy, on_evict=lambda e, _r: evicted.append(e.object_id))
    for op, object_id, t, *object_type in script:
        if op == "w":
            cache.put(observe(object_id, t, *object_type))
        else:
            cache.get(object_id, now=t)
    return evicted


# a, b, c written; a read twice, b written again; d and e arrive into a cache of 3.
SCRIPT = [
    ("w", "a", 1.0),
    ("w", "b", 2.0),
    ("w", "c", 3.0),
    ("r", "a", 4.0),
    ("r", "a", 5.0),
    ("w", "b", 6.0),
    ("w", "d", 7.0),
    ("w", "e", 8.0),
]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fifo", ["a", "b"]),  # insertion order, updates do not move b
        ("lru", ["c", "a"]),  # last references: c@3, a@5, b@6, d@7
        ("lfu", ["c", "d"]),  # refs: a=3, b=2, c=1; then d=1 ties none lower
        ("karma", ["a", "c"]),  # last writes: a@1, c@3, b@6
        # at e's insertion a, b and d all score 0 (0.5*3-0.5*3, 0.5*2-0.5*2, 0.5*1-0.5*1):
        # the tie goes to the least recently referenced, a
        ("mem4nav", ["c", "a"]),
    ],
)
def test_policy_eviction_order_on_a_fixed_sequence(name, expected):
    assert evicted_by(name, 3, SCRIPT) == expected


def test_lfu_breaks_frequency_ties_by_recency():
    script = [("w", "a", 1.0), ("w", "b", 2.0), ("r", "a", 3.0), ("r", "b", 4.0), ("w", "c", 5.0)]
    # a and b both have 2 references; a was referenced less recently.
    assert evicted_by("lfu", 2, script) == ["a"]


def test_fifo_ties_on_equal_stamps_follow_insertion_order():
    script = [("w", "a", 1.0), ("w", "b", 1.0), ("w", "c", 1.0), ("w", "d", 1.0)]
    assert evicted_by("fifo", 2, script) == ["a", "b"]
    assert evicted_by("lru", 2, script) == ["a", "b"]


@pytest.mark.parametrize("name", available_policies())
def test_capacity_one_keeps_only_the_newest_entry(name):
    evicted = evicted_by(name, 1, [("w", "a", 1.0), ("r", "a", 2.0), ("w", "b", 3.0)])
    assert evicted == ["a"]


@pytest.mark.parametrize("name", ["fifo", "lru", "karma"])
def test_reinserted_entry_starts_fresh(name):
    script = [("w", "a", 1.0), ("w", "b", 2.0), ("w", "c", 3.0), ("w", "a", 4.0), ("w", "d", 5.0)]
    # a was evicted by c, re-inserted (evicting b); d then evicts c, the oldest left.
    assert evicted_by(name, 2, script) == ["a", "b", "c"]


def test_mem4nav_score_is_lam_frequency_minus_age_in_steps():
    cache = ObjectStateCache(4, Mem4NavPolicy(lam=0.5))
    cache.put(observe("a", 1.0))  # step 1
    cache.put(observe("b", 2.0))  # step 2
    cache.get("a", now=3.0)  # step 3
    entry = cache.find_entry("a")
    policy = cache.policy
    assert isinstance(policy, Mem4NavPolicy)
    # 2 references, age 5 - 3 = 2 steps at step 5.
    assert policy.score(entry, now=3.0, step=5) == pytest.approx(0.5 * 2 - 0.5 * 2)
    seconds = Mem4NavPolicy(lam=0.25, age_unit="seconds")
    assert seconds.score(entry, now=7.0, step=0) == pytest.approx(0.25 * 2 - 0.75 * 4.0)


def test_mem4nav_lambda_one_is_lfu_lambda_zero_is_lru():
    script = [("w", "a", 1.0), ("r", "a", 2.0), ("r", "a", 3.0), ("w", "b", 4.0), ("w", "c", 5.0)]
    assert evicted_by(Mem4NavPolicy(lam=1.0), 2, script) == ["b"]
    assert evicted_by(Mem4NavPolicy(lam=0.0), 2, script) == ["a"]


def test_household_evicts_never_read_entries_before_read_ones():
    script = [("w", "a", 1.0), ("r", "a", 2.0), ("w", "b", 3.0), ("w", "c", 4.0)]
    assert evicted_by("household", 2, script) == ["b"]  # LRU/KARMA would evict a
    assert evicted_by("lru", 2, script) == ["a"]


def test_household_relevance_and_type_demand_protect_new_objects():
    policy = HouseholdPolicy(relevance={"Apple": 5.0, "Book": 0.1}, protected_share=0.0)
    cache = ObjectStateCache(3, policy)
    cache.put(observe("apple1", 1.0, "Apple"))
    cache.get("apple1", now=2.0)  # Apple is in demand
    cache.put(observe("book1", 3.0, "Book"))
    cache.put(observe("apple2", 3.0, "Apple"))  # never read, but its type is
    assert cache.eviction_order(now=4.0)[0] == "book1"


def test_household_evicts_what_long_term_memory_already_agrees_with():
    agreed = {"a"}
    policy = HouseholdPolicy(long_term_agrees=lambda e: e.object_id in agreed, protected_share=0)
    cache = ObjectStateCache(3, policy)
    for name in ("a", "b"):
        cache.put(observe(name, 1.0))
        cache.get(name, now=2.0)
    assert cache.eviction_order(now=3.0)[0] == "a"
    agreed.clear()
    agreed.add("b")
    assert cache.eviction_order(now=3.0)[0] == "b"


def test_household_prefers_objects_near_the_robot():
    robot = Vector3(10.0, 0.0, 0.0)
    policy = HouseholdPolicy(robot_position=lambda: robot, protected_share=0.0)
    cache = ObjectStateCache(3, policy)
    for name, x in (("far", 0.0), ("near", 10.0)):
        cache.put(observe(name, 1.0, x=x))
        cache.get(name, now=2.0)
    assert cache.eviction_order(now=3.0) == ["far", "near"]


def test_household_loses_protection_for_facts_that_probably_changed():
    policy = HouseholdPolicy(change_rate={"Apple": 0.01, "Fridge": 0.0})
    cache = ObjectStateCache(3, policy)
    cache.put(observe("apple", 1.0, "Apple"))
    cache.get("apple", now=1.0)
    cache.put(observe("fridge", 1.0, "Fridge"))
    cache.get("fridge", now=1.0)
    entry = cache.find_entry("apple")
    assert policy.is_protected(entry, now=2.0)
    assert not policy.is_protected(entry, now=100.0)  # exp(-0.99) < 0.8
    assert policy.is_protected(cache.find_entry("fridge"), now=1e6)


def test_unknown_policy_name_raises_with_the_known_names():
    with pytest.raises(InvalidInputError, match="known: fifo"):
        make_policy("random")


@pytest.mark.parametrize("kwargs", [{"lam": 1.5}, {"lam": float("nan")}, {"age_unit": "hours"}])
def test_mem4nav_rejects_bad_parameters(kwargs):
    with pytest.raises(InvalidInputError):
        Mem4NavPolicy(**kwargs)


def test_household_rejects_bad_parameters():
    with pytest.raises(InvalidInputError):
        HouseholdPolicy(half_life=0.0)
    with pytest.raises(InvalidInputError):
        HouseholdPolicy(relevance={"Apple": -1.0})
    with pytest.raises(InvalidInputError):
        HouseholdPolicy(protected_share=2.0)
    with pytest.raises(InvalidInputError):
        HouseholdPolicy(sighting_horizon=-1.0)
    with pytest.raises(InvalidInputError):
        HouseholdPolicy(sighting_half_life=0.0)
    with pytest.raises(InvalidInputError):
        HouseholdPolicy(ghost_horizon=float("nan"))


def test_registered_policy_is_constructible_by_name():
    class NewestFirst(ReplacementPolicy):
        name = "newest_first"

        def eviction_key(self, entry, now, step):
            return (-entry.insert_step,)

    register_policy("newest_first", NewestFirst)
    assert "newest_first" in available_policies()
    assert evicted_by("newest_first", 2, [("w", "a", 1), ("w", "b", 2), ("w", "c", 3)]) == ["b"]


def test_household_keeps_often_seen_entries_over_newer_one_off_sightings():
    # a is seen twice, then b, c and d once each, none read: LRU evicts a, household b.
    script = [("w", "a", 1.0), ("w", "a", 2.0), ("w", "b", 3.0), ("w", "c", 4.0), ("w", "d", 5.0)]
    assert evicted_by("lru", 3, script) == ["a"]
    assert evicted_by(HouseholdPolicy(sighting_horizon=30.0), 3, script) == ["b"]
    assert evicted_by("household", 3, script) == ["a"]  # the sighting term is off by default


def test_household_ties_on_one_stamp_follow_reference_then_insertion_order():
    script = [("w", "a", 1.0), ("w", "b", 1.0), ("w", "c", 1.0), ("w", "d", 1.0)]
    assert evicted_by("household", 2, script) == ["a", "b"]


def test_household_capacity_one_evicts_even_an_often_seen_entry():
    script = [("w", "a", 1.0), ("w", "a", 2.0), ("w", "a", 3.0), ("w", "b", 4.0)]
    assert evicted_by("household", 1, script) == ["a"]


def test_household_reinserted_entry_does_not_keep_its_old_sightings():
    script = [
        *[("w", "a", 1.0)] * 4,  # 4 sightings: 60 s of recency, decaying with a 300 s half-life
        ("w", "b", 2.0),
        ("w", "c", 100.0),  # a: 1 + 30 * log2(4 * 0.5 ** (99 / 300)) = 51 > b: 2
        ("w", "d", 200.0),  # a: 1 + 30 * log2(4 * 0.5 ** (199 / 300)) = 41 < c: 100
        ("w", "a", 201.0),  # back with one sighting, evicts c (100 < d: 200)
        ("w", "e", 202.0),  # d: 200 < a: 201
        ("w", "f", 203.0),  # a: 201 < e: 202, no bonus carried over from its first stay
    ]
    policy = HouseholdPolicy(sighting_horizon=30.0, type_horizon=0.0)
    assert evicted_by(policy, 2, script) == ["b", "a", "c", "d", "a"]


# ------------------------------------------------------------------ type knowledge, type term


def test_type_knowledge_read_probability_starts_at_the_prior_and_follows_reads():
    knowledge = TypeKnowledge(prior_read=0.1, prior_weight=2.0, memory=1e9)
    assert knowledge.read_probability("CounterTop") == pytest.approx(0.1)
    for _ in range(3):
        knowledge.note_insert("CounterTop")
        knowledge.note_first_read("CounterTop")
        knowledge.note_insert("Cabinet")
    assert knowledge.read_probability("CounterTop") == pytest.approx((3 + 0.2) / (3 + 2))
    assert knowledge.read_probability("Cabinet") == pytest.approx(0.2 / (3 + 2))


def test_type_knowledge_forgets_old_insertions():
    knowledge = TypeKnowledge(memory=2.0)
    knowledge.note_insert("Mug")
    knowledge.note_first_read("Mug")
    read_at_once = knowledge.read_probability("Mug")
    for _ in range(20):
        knowledge.note_insert("Mug")  # never read again
    assert knowledge.read_probability("Mug") < knowledge.prior_read < read_at_once


def test_type_knowledge_fades_with_re_observations_too():
    # A cache that inserts rarely (large, or a quiet scene) still forgets at the pace of what
    # the robot sees.
    knowledge = TypeKnowledge(memory=2.0)
    knowledge.note_insert("Mug")
    knowledge.note_first_read("Mug")
    read_at_once = knowledge.read_probability("Mug")
    for _ in range(20):
        knowledge.note_rewrite()
    assert knowledge.read_probability("Mug") == pytest.approx(knowledge.prior_read, abs=1e-3)
    assert read_at_once == pytest.approx(1.2 / 3)


def test_type_knowledge_change_rate_ignores_furniture_moves_but_not_its_states():
    knowledge = TypeKnowledge(prior_rate=lambda _type: 0.0, prior_seconds=100.0)
    knowledge.note_sighting("CounterTop", 100.0, moved=2.0, states_changed=False)
    assert knowledge.change_rate("CounterTop") == 0.0  # a partly seen counter, not a move
    knowledge.note_sighting("Fridge", 100.0, moved=0.0, states_changed=True)
    assert knowledge.change_rate("Fridge") == pytest.approx(1 / 200)
    knowledge.note_sighting("Mug", 100.0, moved=0.1, states_changed=False)  # noise
    assert knowledge.change_rate("Mug") == 0.0
    knowledge.note_sighting("Mug", 100.0, moved=1.0, states_changed=False)
    assert knowledge.change_rate("Mug") == pytest.approx(1 / 300)
    knowledge.note_sighting("Mug", 0.0, moved=1.0, states_changed=False)  # same frame: no time
    assert knowledge.change_rate("Mug") == pytest.approx(1 / 300)


def test_type_knowledge_change_rate_starts_at_the_prior():
    knowledge = TypeKnowledge()
    assert knowledge.change_rate("Apple") == pytest.approx(default_change_rate("Apple"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"prior_read": 1.5},
        {"prior_weight": 0.0},
        {"prior_seconds": -1.0},
        {"move_tolerance": float("nan")},
        {"memory": 0.0},
    ],
)
def test_type_knowledge_rejects_bad_parameters(kwargs):
    with pytest.raises(InvalidInputError):
        TypeKnowledge(**kwargs)


def test_household_learns_change_rates_from_sightings_not_from_its_own_actions():
    knowledge = TypeKnowledge(prior_rate=lambda _type: 0.0, prior_seconds=100.0, memory=1e9)
    cache = ObjectStateCache(4, HouseholdPolicy(knowledge=knowledge))
    cache.put(observe("mug", 0.0, "Mug", x=0.0))
    moved = Pose(Vector3(1.0, 0.0, 0.0))
    cache.record_action_effect("mug", now=100.0, world_T_object=moved)  # the robot moved it
    assert knowledge.change_rate("Mug") == 0.0
    for t in (199.0, 200.0):  # moved while nobody watched (a move needs two frames)
        cache.put(observe("mug", t, "Mug", x=2.0))
    # One change in the 100 s watched since the action, plus the prior's 100 s.
    assert knowledge.change_rate("Mug") == pytest.approx(1 / 200)


def test_household_keeps_types_the_planner_asks_about_over_newer_entries():
    # counter read (its type learned as asked about), then newer cabinets arrive: LRU and
    # KARMA evict the counter top, household the oldest cabinet. protected_share=0 and
    # horizon=0 leave the type term alone to decide.
    script = [
        ("w", "counter", 1.0, "CounterTop"),
        ("r", "counter", 1.0),
        ("w", "cab1", 2.0, "Cabinet"),
        ("w", "cab2", 3.0, "Cabinet"),
        ("w", "cab3", 4.0, "Cabinet"),
    ]
    assert evicted_by("lru", 3, script) == ["counter"]
    alone = {"protected_share": 0.0, "horizon": 0.0}
    assert evicted_by(HouseholdPolicy(**alone), 3, script) == ["cab1"]
    assert evicted_by(HouseholdPolicy(**alone, type_horizon=0.0), 3, script) == ["counter"]


def test_household_type_knowledge_survives_a_new_cache():
    knowledge = TypeKnowledge()
    first = ObjectStateCache(4, HouseholdPolicy(knowledge=knowledge))
    first.put(observe("counter", 1.0, "CounterTop"))
    first.get("counter", now=2.0)
    # A restart: a new cache, entries gone, what was learned about counter tops kept.
    evicted: list[str] = []
    second = ObjectStateCache(
        2, HouseholdPolicy(knowledge=knowledge), on_evict=lambda e, _r: evicted.append(e.object_id)
    )
    script = [
        ("counter2", 10.0, "CounterTop"),
        ("cab1", 30.0, "Cabinet"),
        ("cab2", 31.0, "Cabinet"),
    ]
    for name, t, object_type in script:
        second.put(observe(name, t, object_type))
    assert evicted == ["cab1"]
    fresh: list[str] = []
    third = ObjectStateCache(2, "household", on_evict=lambda e, _r: fresh.append(e.object_id))
    for name, t, object_type in script:
        third.put(observe(name, t, object_type))
    assert fresh == ["counter2"]  # nothing learned: the older entry goes


def test_household_type_term_counts_only_what_will_still_hold():
    # Both types are always asked about; mugs change about every 2 minutes, so a mug's fact
    # will not hold for another type_horizon and its type term is worth little.
    rates = {"Mug": 1 / 120, "CounterTop": 0.0}
    script = [
        ("w", "counter", 1.0, "CounterTop"),
        ("r", "counter", 1.0),
        ("w", "mug", 2.0, "Mug"),
        ("r", "mug", 2.0),
        ("w", "book", 3.0, "Book"),
        ("w", "vase", 4.0, "Vase"),
    ]
    alone = {"protected_share": 0.0, "horizon": 0.0}  # the type term alone decides
    assert evicted_by(HouseholdPolicy(change_rate=rates, **alone), 3, script) == ["mug"]
    still = HouseholdPolicy(change_rate={"Mug": 0.0, "CounterTop": 0.0}, **alone)
    assert evicted_by(still, 3, script) == ["book"]


def test_household_type_term_ties_follow_write_order():
    script = [
        ("w", "c1", 1.0, "CounterTop"),
        ("r", "c1", 1.0),
        ("w", "c2", 1.0, "CounterTop"),
        ("w", "c3", 1.0, "CounterTop"),
        ("w", "c4", 1.0, "CounterTop"),
    ]
    # c2, c3 share stamp, type and reads (none): the one referenced first goes first.
    assert evicted_by(HouseholdPolicy(), 3, script) == ["c2"]


def test_household_with_type_knowledge_capacity_one_keeps_the_newest():
    script = [("w", "counter", 1.0, "CounterTop"), ("r", "counter", 1.0)]
    script += [("w", "cab", 2.0, "Cabinet")]
    assert evicted_by(HouseholdPolicy(), 1, script) == ["counter"]


def test_household_reinserted_entry_is_read_again_as_a_new_stay():
    knowledge = TypeKnowledge(memory=1e9)
    script = [
        ("w", "a", 1.0, "Apple"),
        ("r", "a", 1.0),
        ("r", "a", 2.0),  # a second read of one stay is not a second entry read
        ("w", "b", 3.0, "Book"),
        ("w", "c", 4.0, "Book"),
        ("w", "a", 5.0, "Apple"),
        ("r", "a", 6.0),
    ]
    evicted = evicted_by(HouseholdPolicy(knowledge=knowledge, protected_share=0.0), 1, script)
    assert evicted == ["a", "b", "c"]
    # Two stays of Apple, both read; two Books, never read.
    assert knowledge.read_probability("Apple") == pytest.approx((2 + 0.2) / (2 + 2))
    assert knowledge.read_probability("Book") == pytest.approx(0.2 / (2 + 2))


def test_type_knowledge_round_trips_through_plain_data_and_refuses_damage() -> None:
    knowledge = TypeKnowledge()
    for _ in range(3):
        knowledge.note_insert("Apple")
    knowledge.note_first_read("Apple")
    knowledge.note_sighting("Apple", 10.0, moved=1.0, states_changed=False)
    copy = TypeKnowledge()
    copy.load_dict(json.loads(json.dumps(knowledge.to_dict())))
    assert copy.read_probability("Apple") == knowledge.read_probability("Apple")
    assert copy.change_rate("Apple") == knowledge.change_rate("Apple")
    before = copy.to_dict()
    for damaged in ({}, {"version": 2}, {**before, "clock": float("nan")}, {**before, "read": []}):
        with pytest.raises(InvalidInputError, match="type knowledge"):
            copy.load_dict(damaged)
    assert copy.to_dict() == before  # a refused load changes nothing


# ------------------------------------------------------------------------ misses after eviction


def cabinets_evicted_unread(policy: HouseholdPolicy) -> ObjectStateCache:
    """A cache of 1 in which cab1 was evicted unread at t=1 by cab2."""
    cache = ObjectStateCache(1, policy)
    cache.put(observe("cab1", 0.0, "Cabinet"))
    cache.put(observe("cab2", 1.0, "Cabinet"))
    assert not cache.has_object("cab1")
    return cache


def test_household_counts_a_miss_soon_after_an_unread_eviction_as_a_read_of_its_type():
    knowledge = TypeKnowledge(memory=1e9)
    cache = cabinets_evicted_unread(HouseholdPolicy(knowledge=knowledge, type_horizon=300.0))
    assert knowledge.read_probability("Cabinet") == pytest.approx(0.2 / (2 + 2))
    cache.get("cab1", now=100.0)  # asked about: it would have been read had it stayed
    assert knowledge.read_probability("Cabinet") == pytest.approx(1.2 / (2 + 2))
    cache.get("cab1", now=101.0)  # the same stay is not read twice
    cache.get("never-cached", now=101.0)
    assert knowledge.read_probability("Cabinet") == pytest.approx(1.2 / (2 + 2))


def test_household_ignores_a_miss_long_after_the_eviction_or_on_a_read_entry():
    knowledge = TypeKnowledge(memory=1e9)
    cache = cabinets_evicted_unread(HouseholdPolicy(knowledge=knowledge, ghost_horizon=50.0))
    cache.get("cab1", now=52.0)  # 51 s after it left: the bonus would not have kept it
    assert knowledge.read_probability("Cabinet") == pytest.approx(0.2 / (2 + 2))

    knowledge = TypeKnowledge(memory=1e9)
    cache = ObjectStateCache(1, HouseholdPolicy(knowledge=knowledge))
    cache.put(observe("cab1", 0.0, "Cabinet"))
    cache.get("cab1", now=0.5)  # read before it left: counted once, now
    cache.put(observe("cab2", 1.0, "Cabinet"))
    cache.get("cab1", now=2.0)
    assert knowledge.read_probability("Cabinet") == pytest.approx(1.2 / (2 + 2))


def test_household_forgets_an_evicted_entry_that_comes_back():
    knowledge = TypeKnowledge(memory=1e9)
    cache = cabinets_evicted_unread(HouseholdPolicy(knowledge=knowledge))
    cache.put(observe("cab1", 2.0, "Cabinet"))  # a new stay; cab2 leaves unread
    cache.put(observe("cab2", 3.0, "Cabinet"))  # cab1 leaves again, unread
    cache.get("cab1", now=4.0)  # one read, for the newest of cab1's stays
    assert knowledge.read_probability("Cabinet") == pytest.approx(1.2 / (4 + 2))


def test_household_miss_feedback_is_off_with_a_zero_ghost_horizon():
    knowledge = TypeKnowledge(memory=1e9)
    cache = cabinets_evicted_unread(HouseholdPolicy(knowledge=knowledge, ghost_horizon=0.0))
    cache.get("cab1", now=1.0)
    assert knowledge.read_probability("Cabinet") == pytest.approx(0.2 / (2 + 2))
