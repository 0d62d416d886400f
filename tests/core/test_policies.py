"""Eviction order of every replacement policy on hand-made sequences."""

from __future__ import annotations

import pytest

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.core.policies import (
    HouseholdPolicy,
    Mem4NavPolicy,
    ReplacementPolicy,
    available_policies,
    make_policy,
    register_policy,
)
from memory_nodes.core.short_term import ObjectStateCache
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def observe(object_id: str, t: float, object_type: str = "Apple", x: float = 0.0):
    pose = Pose(Vector3(x, 0.0, 0.0))
    return ObjectObservation(object_id, object_type, pose, Box(pose.position), stamp=t)


def evicted_by(policy, capacity: int, script: list[tuple[str, str, float]]) -> list[str]:
    """Run (op, object_id, t) steps; return evicted ids in order."""
    evicted: list[str] = []
    cache = ObjectStateCache(capacity, policy, on_evict=lambda e, _r: evicted.append(e.object_id))
    for op, object_id, t in script:
        if op == "w":
            cache.put(observe(object_id, t))
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
    assert evicted_by("household", 3, script) == ["b"]
    assert evicted_by(HouseholdPolicy(sighting_horizon=0.0), 3, script) == ["a"]


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
    assert evicted_by("household", 2, script) == ["b", "a", "c", "d", "a"]
