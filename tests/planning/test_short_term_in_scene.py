"""Short-term memory's move rule in a real scene: when nothing moves, it changes no answer.

The robot walks and turns in FloorPlan1 with the simulator's perception; the cache with the
two-frame move rule must answer exactly as a cache that takes every frame (the answers before
the rule), although the centres of counter tops and cabinets seen in parts jump by more than
the move distance. A real move of an object still waits for its second frame.
"""

from __future__ import annotations

import pytest

from memory_nodes.adapters.ai2thor_skills import AI2ThorSkills
from memory_nodes.core.object_taxonomy import is_furniture
from memory_nodes.core.short_term import ObjectStateCache
from tests.planning.conftest import small_sim

pytestmark = pytest.mark.slow  # renders a few dozen frames

WALK = (
    ["turn_left"] * 4 + ["move_ahead", "move_ahead", "turn_right", "look_down"] + ["turn_right"] * 3
)


def _answers(cache: ObjectStateCache) -> dict[str, tuple]:
    return {
        e.object_id: (e.world_T_object, e.box, dict(e.states))
        for e in sorted(cache.entries(), key=lambda e: e.object_id)
    }


def test_a_still_scene_seen_in_parts_gets_the_answers_of_a_cache_that_takes_every_frame():
    sim = small_sim("FloorPlan1")
    try:
        robot = AI2ThorSkills(sim)
        with_rule = ObjectStateCache(capacity=256)
        every_frame = ObjectStateCache(capacity=256, change_confirmations=1)
        furniture_jumps = 0
        for stamp, skill in enumerate(["wait", *WALK], start=1):
            getattr(robot, skill)()
            for obs in robot.perceive(float(stamp)).observations:
                before = every_frame.find_entry(obs.object_id)
                if before is not None and is_furniture(obs.object_type):
                    jump = obs.world_T_object.position.distance_to(before.world_T_object.position)
                    furniture_jumps += jump > with_rule.move_distance
                with_rule.put(obs)
                every_frame.put(obs)
        assert furniture_jumps >= 3  # parts of one piece seen far apart: the case at stake
        assert _answers(with_rule) == _answers(every_frame)
        assert with_rule.stats.pending_writes == 0
    finally:
        sim.close()
