"""Forged facts against the memory core: how many contradicting facts each memory adopts.

Runs on the core (``LongTermMemory`` and ``ObjectStateCache``, the objects the nodes serve; no
ROS, so the figures are exact counts, not a race with DDS queues). ``tests/reliability/
test_forged_facts_ros.py`` checks the same through the real nodes. Each case starts from
``--objects`` mugs confirmed on a grid (two frames, clean), then sends every mug 30 m away and
dirty:

* ``forged_source``: one such frame whose observations claim ``source: "action"``;
* ``repeated_frame``: one such frame sent ``--repeats`` times with one stamp;
* ``single_frame``: one such frame (a single unconfirmed contradiction);
* ``second_frame``: then a second, distinct frame that agrees (this one must be adopted: the
  rule delays a real change by one frame, it does not block it).

A fact counts as adopted when the memory's answer (long-term: the node; short-term: the entry)
moved or turned dirty. It also times one frame of 1,000 new objects of one type into an empty
long-term memory, the same frame again, and a second frame that confirms them, with the
association cost matrix against the per-pair rule measured in the same run (the machine is
shared: the ratio is what to compare).

Usage: ``python bench/reliability_forged_facts.py [--objects 100] [--repeats 100]``; prints
JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

from memory_nodes.core.fusion import ObjectFusion
from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.scene_graph import Layer, SceneGraph
from memory_nodes.core.short_term import ObjectStateCache
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3


def _obs(
    index: int, xyz: tuple[float, float, float], stamp: float, dirty: bool, source: str = "gt_mask"
) -> ObjectObservation:
    centre = Vector3(*xyz)
    return ObjectObservation(
        object_id=f"Mug|{index}",
        object_type="Mug",
        world_T_object=Pose(centre),
        box=Box(centre, Vector3(0.1, 0.1, 0.1)),
        stamp=stamp,
        states={"isDirty": "true" if dirty else "false"},
        source=source,
        source_frame_id="camera",
    )


def _place(index: int) -> tuple[float, float, float]:
    return (float(index % 10), float(index // 10), 0.9)


def _frame(count: int, stamp: float, forged: bool, source: str = "gt_mask") -> list:
    offset = 30.0 if forged else 0.0
    return [
        _obs(i, (_place(i)[0] + offset, _place(i)[1] + offset, 0.9), stamp, forged, source)
        for i in range(count)
    ]


class _LongTerm:
    name = "long_term"

    def __init__(self, count: int) -> None:
        self.memory = LongTermMemory(None)
        for stamp in (1.0, 2.0):
            self.memory.integrate_frame(_frame(count, stamp, forged=False))

    def send(self, frame: list[ObjectObservation]) -> None:
        self.memory.integrate_frame(frame)

    def adopted(self) -> int:
        mugs = [n for n in self.memory.graph.nodes(Layer.OBJECT) if n.node_type == "Mug"]
        return sum(n.position.x >= 20.0 or n.states.get("isDirty") == "true" for n in mugs)


class _ShortTerm:
    name = "short_term"

    def __init__(self, count: int) -> None:
        self.cache = ObjectStateCache(capacity=max(count, 1))
        for stamp in (1.0, 2.0):
            for observation in _frame(count, stamp, forged=False):
                self.cache.put(observation)

    def send(self, frame: list[ObjectObservation]) -> None:
        for observation in frame:
            self.cache.put(observation)

    def adopted(self) -> int:
        entries = self.cache.entries()
        return sum(
            e.world_T_object.position.x >= 20.0 or e.states.get("isDirty") == "true"
            for e in entries
        )


def forged_facts(count: int, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for memory_class in (_LongTerm, _ShortTerm):
        figures: dict[str, str] = {}
        memory = memory_class(count)
        memory.send(_frame(count, 3.0, forged=True, source="action"))
        figures["forged_source"] = f"{memory.adopted()}/{count}"
        memory = memory_class(count)
        for _ in range(repeats):
            memory.send(_frame(count, 3.0, forged=True))
        figures["repeated_frame"] = f"{memory.adopted()}/{count}"
        memory = memory_class(count)
        memory.send(_frame(count, 3.0, forged=True))
        figures["single_frame"] = f"{memory.adopted()}/{count}"
        memory.send(_frame(count, 4.0, forged=True))
        figures["second_frame"] = f"{memory.adopted()}/{count}"
        out[memory_class.name] = figures
    return out


def big_frame(count: int = 1000) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    centres = rng.uniform(-20.0, 20.0, size=(count, 3))

    def frame(stamp: float, with_ids: bool = True) -> list[ObjectObservation]:
        return [
            ObjectObservation(
                f"Mug|{i}" if with_ids else "", "Mug", Pose(Vector3(*c)),
                Box(Vector3(*c), Vector3(0.1, 0.1, 0.1)), stamp, source_frame_id="camera",
            )
            for i, c in enumerate(centres)
        ]  # fmt: skip

    memory = LongTermMemory(None)
    timings = {}
    for label, stamp in (
        ("new_frame_s", 1.0),
        ("same_frame_again_s", 1.0),
        ("confirming_frame_s", 2.0),
    ):
        start = time.perf_counter()
        memory.integrate_frame(frame(stamp))
        timings[label] = round(time.perf_counter() - start, 3)
    timings["objects_confirmed"] = sum(1 for _ in memory.graph.nodes(Layer.OBJECT))
    # Association alone, without ids (a detector's frame: every pair costed by geometry).
    fusion = ObjectFusion(SceneGraph())
    fusion.integrate_frame(frame(1.0, with_ids=False))
    targets = list(fusion._candidates.values())
    observations = frame(2.0, with_ids=False)
    start = time.perf_counter()
    fusion._cost_matrix(observations, targets)
    vectorised = time.perf_counter() - start
    start = time.perf_counter()
    for obs in observations[:100]:
        for target in targets[:100]:
            fusion._cost(obs, target)
    per_pair_estimate = (time.perf_counter() - start) / 10_000 * count * len(targets)
    timings["cost_matrix_s"] = round(vectorised, 4)
    timings["per_pair_cost_estimate_s"] = round(per_pair_estimate, 3)
    timings["per_pair_over_matrix"] = round(per_pair_estimate / vectorised, 1)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    if not 1 <= args.objects <= 1000 or not 1 <= args.repeats <= 1000:
        parser.error("--objects and --repeats must be in 1..1000")
    report = {
        "runs_on": "core (LongTermMemory, ObjectStateCache)",
        "objects": args.objects,
        "repeats": args.repeats,
        "adopted": forged_facts(args.objects, args.repeats),
        "frame_of_1000_new_objects": big_frame(1000),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
