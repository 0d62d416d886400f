"""Short-term memory's move rule against things seen in parts and places the robot guessed.

A move beyond ``move_distance`` waits for a second frame, so a single contradiction never
replaces a confirmed place. But the centre of what the camera sees of a counter top, a
cabinet row or a half-hidden book jumps as the robot turns, and where the robot guessed it set
something down was never seen: neither is a contradiction. These tests hold both halves.
"""

from __future__ import annotations

import numpy as np
import pytest

from memory_nodes.core.object_taxonomy import Mobility, type_info
from memory_nodes.core.short_term import DEFAULT_OVERLAP_MARGIN, ObjectStateCache
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def _obs(object_id, center, size, stamp, states=None):
    box = Box(Vector3(*center), Vector3(*size))
    object_type = object_id.split("|")[0]
    return ObjectObservation(
        object_id, object_type, Pose(box.center), box, stamp=stamp, states=states or {},
        source_frame_id="camera",
    )  # fmt: skip


def _x(cache, object_id):
    return cache.find_entry(object_id).world_T_object.position.x


def test_parts_of_a_counter_top_are_taken_at_once_even_when_they_do_not_overlap():
    cache = ObjectStateCache(capacity=8)
    cache.put(_obs("CounterTop|1", (0.0, 0.0, 0.9), (1.0, 0.6, 0.1), 1.0))
    cache.put(_obs("CounterTop|1", (0.7, 0.0, 0.9), (1.2, 0.6, 0.1), 2.0))
    assert _x(cache, "CounterTop|1") == pytest.approx(0.7)
    cache.put(_obs("CounterTop|1", (2.5, 0.0, 0.9), (0.3, 0.6, 0.1), 3.0))  # the far end
    assert _x(cache, "CounterTop|1") == pytest.approx(2.5)
    assert cache.stats.pending_writes == 0


def test_a_book_half_hidden_is_seen_in_its_place():
    cache = ObjectStateCache(capacity=8)
    cache.put(_obs("Book|1", (0.63, -0.15, 1.14), (0.53, 0.52, 0.06), 1.0))
    cache.put(_obs("Book|1", (0.82, 0.08, 1.14), (0.13, 0.07, 0.06), 2.0))  # 0.30 m off
    assert _x(cache, "Book|1") == pytest.approx(0.82)
    assert not cache.find_entry("Book|1").has_pending


def test_a_single_frame_elsewhere_still_waits_for_a_second():
    cache = ObjectStateCache(capacity=8)
    cache.put(_obs("Mug|1", (0.0, 0.0, 0.9), (0.1, 0.1, 0.1), 1.0))
    cache.put(_obs("Mug|1", (0.4, 0.0, 0.9), (0.1, 0.1, 0.1), 2.0))  # clear of its place
    assert _x(cache, "Mug|1") == 0.0 and cache.find_entry("Mug|1").has_pending
    cache.put(_obs("Mug|1", (0.41, 0.0, 0.9), (0.1, 0.1, 0.1), 3.0))
    assert _x(cache, "Mug|1") == pytest.approx(0.41)


def test_a_box_blown_up_to_cover_the_confirmed_place_is_still_a_move():
    cache = ObjectStateCache(capacity=8)
    cache.put(_obs("Mug|1", (0.0, 0.0, 0.9), (0.1, 0.1, 0.1), 1.0))
    cache.put(_obs("Mug|1", (3.0, 0.0, 0.9), (7.0, 0.1, 0.1), 2.0))
    assert _x(cache, "Mug|1") == 0.0 and cache.find_entry("Mug|1").has_pending


def test_a_contradicting_state_of_a_fixture_still_waits_for_a_second_frame():
    cache = ObjectStateCache(capacity=8)
    fridge = ("Fridge|1", (0.0, 0.0, 0.9), (0.7, 0.7, 1.8))
    cache.put(_obs(*fridge, 1.0, {"isOpen": "false"}))
    cache.put(_obs("Fridge|1", (0.3, 0.0, 0.9), (0.5, 0.7, 1.8), 2.0, {"isOpen": "true"}))
    assert _x(cache, "Fridge|1") == pytest.approx(0.3)  # another part: taken
    assert cache.find_entry("Fridge|1").states["isOpen"] == "false"  # the state waits
    cache.put(_obs("Fridge|1", (0.3, 0.0, 0.9), (0.5, 0.7, 1.8), 3.0, {"isOpen": "true"}))
    assert cache.find_entry("Fridge|1").states["isOpen"] == "true"


@pytest.mark.parametrize("place_seen", [False, True])
def test_the_first_sighting_after_a_guessed_put_is_taken_at_once(place_seen):
    cache = ObjectStateCache(capacity=8)
    cache.put(_obs("Plate|1", (0.0, 0.0, 0.9), (0.25, 0.25, 0.03), 1.0))
    guess = Pose(Vector3(2.0, 0.0, 0.95))
    box = Box(guess.position, Vector3(0.25, 0.25, 0.03))
    cache.record_action_effect(
        "Plate|1", now=2.0, world_T_object=guess, box=box, receptacle_id="CounterTop|1",
        receptacle_relation="on", place_seen=place_seen,
    )  # fmt: skip
    cache.put(_obs("Plate|1", (2.6, 0.0, 0.95), (0.25, 0.25, 0.03), 3.0))
    entry = cache.find_entry("Plate|1")
    # A guess is not a confirmed place; a place the camera saw the robot put it is.
    assert entry.world_T_object.position.x == (2.6 if not place_seen else 2.0)
    assert entry.receptacle_id == "CounterTop|1"
    cache.put(_obs("Plate|1", (2.0, 0.0, 0.95), (0.25, 0.25, 0.03), 4.0))
    if not place_seen:  # once seen, the place is confirmed: a jump back waits again
        assert _x(cache, "Plate|1") == pytest.approx(2.6)


def _reference_takes(confirmed: Box, seen: Box, object_type: str, move_distance: float) -> bool:
    """Whether one frame replaces the confirmed place, written out with corners."""
    jump = float(np.linalg.norm(seen.center.as_array() - confirmed.center.as_array()))
    if jump <= move_distance or type_info(object_type).mobility == Mobility.STATIC:
        return True
    margin = DEFAULT_OVERLAP_MARGIN
    overlap = np.all(seen.min_corner <= confirmed.max_corner + margin) and np.all(
        confirmed.min_corner <= seen.max_corner + margin
    )
    grown = np.all(seen.size.as_array() <= confirmed.size.as_array() + 2 * move_distance)
    return bool(overlap and grown)


def test_one_frame_replaces_a_place_exactly_when_the_corner_reference_says_so():
    rng = np.random.default_rng(17)
    outcomes = set()
    for i in range(600):
        object_type = ("CounterTop", "Cabinet", "Book", "Mug", "Apple", "Box")[i % 6]
        centers = rng.uniform(-1.5, 1.5, size=(2, 3))
        sizes = rng.uniform(0.05, 1.5, size=(2, 3))
        confirmed = Box(Vector3(*centers[0]), Vector3(*sizes[0]))
        seen = Box(Vector3(*centers[1]), Vector3(*sizes[1]))
        cache = ObjectStateCache(capacity=2)
        cache.put(ObjectObservation("x", object_type, Pose(confirmed.center), confirmed, stamp=1.0))
        cache.put(ObjectObservation("x", object_type, Pose(seen.center), seen, stamp=2.0))
        taken = cache.find_entry("x").world_T_object.position == seen.center
        expected = _reference_takes(confirmed, seen, object_type, cache.move_distance)
        assert taken == expected, (object_type, confirmed, seen)
        outcomes.add((type_info(object_type).mobility == Mobility.STATIC, taken))
    assert outcomes == {(True, True), (False, True), (False, False)}
