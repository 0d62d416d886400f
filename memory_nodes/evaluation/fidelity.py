"""How faithfully long-term memory mirrors the house, measured against simulator ground truth.

For each FloorPlan the robot explores from perception only: it teleports to a set of reachable
cells that cover the room, turns 4 x 90 degrees at a few camera horizons, and feeds every frame
through :class:`~memory_nodes.perception.observations.ObservationExtractor` (positions from
depth and instance masks) plus ``observable_states`` (a stand-in for a state classifier) into
:meth:`LongTermMemory.integrate_frame`, with the depth view as negative evidence. Memory is then
compared with the simulator's metadata:

recall
    share of ground-truth objects that AI2-THOR calls visible from some explored viewpoint
    (rendered and within 1.5 m) that memory holds; the building itself (the floor) is the
    octree's and is not counted.
precision
    share of memory's present objects that are a real object of that type at that place: the
    remembered centre within ``--tolerance`` of the true box centre, or inside the true box
    (a counter top three metres long is seen in parts, so its centre drifts along it).
state accuracy
    remembered observable states equal to the truth.
relation accuracy
    for pickupable objects resting on or in something, the remembered receptacle is one of the
    truth's ``parentReceptacles`` (on the bare floor: no receptacle, since perception treats
    the floor as structure).
stale
    after seeded household changes (``sim/household_changes.py``) while the robot was away and
    one look-around over the same viewpoints: the share of remembered facts (position, states)
    that are now false.

Usage:
``python -m memory_nodes.evaluation.fidelity [--scenes FloorPlan1 ...] [--limit N] [--json OUT]``.
Ground truth is read only to score; memory never sees it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memory_nodes.adapters.ai2thor_perception import SimPerception, observable_states, unity_to_map
from memory_nodes.core.change_detection import CameraView
from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.object_taxonomy import is_structure
from memory_nodes.core.scene_graph import Layer, NodeStatus, SceneNode
from memory_nodes.core.types import Pose

#: Three scenes of each room type; the default run covers twelve FloorPlans.
DEFAULT_SCENES = (
    "FloorPlan1",
    "FloorPlan5",
    "FloorPlan10",
    "FloorPlan201",
    "FloorPlan205",
    "FloorPlan210",
    "FloorPlan301",
    "FloorPlan305",
    "FloorPlan310",
    "FloorPlan401",
    "FloorPlan405",
    "FloorPlan410",
)
ROTATIONS = (0.0, 90.0, 180.0, 270.0)
HORIZONS = (0.0, 30.0, 60.0)
TARGETS = {
    "recall": (">=", 0.95),
    "precision": (">=", 0.99),
    "state_accuracy": (">=", 0.98),
    "relation_accuracy": (">=", 0.95),
    "stale": ("<=", 0.02),
}
#: Seconds of memory clock per frame, and the time the robot is away while the house changes.
FRAME_PERIOD_S = 0.2
AWAY_S = 3600.0


@dataclass
class Counts:
    """Numerator and denominator of one metric, so scenes add up before dividing."""

    hits: int = 0
    total: int = 0

    def add(self, ok: bool) -> None:
        self.hits += int(ok)
        self.total += 1

    def merge(self, other: Counts) -> None:
        self.hits += other.hits
        self.total += other.total

    @property
    def ratio(self) -> float:
        return self.hits / self.total if self.total else float("nan")


@dataclass
class SceneResult:
    """Every metric of one FloorPlan, with the failures that explain a miss."""

    scene: str
    frames: int = 0
    seconds: float = 0.0
    recall: Counts = field(default_factory=Counts)
    precision: Counts = field(default_factory=Counts)
    state_accuracy: Counts = field(default_factory=Counts)
    relation_accuracy: Counts = field(default_factory=Counts)
    stale: Counts = field(default_factory=Counts)
    """``hits`` counts stale facts, ``total`` all facts checked after the changes."""
    changes: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, metric: str, what: str) -> None:
        self.failures.setdefault(metric, []).append(what)


# --------------------------------------------------------------------------- exploration


def cover_positions(positions: Sequence[dict[str, float]], count: int) -> list[dict[str, float]]:
    """``count`` reachable cells spread over the room (farthest-point sampling).

    Starts from the cell nearest the centre so the choice is deterministic and the first
    viewpoints already see most of a small room.
    """
    if not positions:
        return []
    xz = np.array([[p["x"], p["z"]] for p in positions])
    chosen = [int(np.argmin(np.linalg.norm(xz - xz.mean(axis=0), axis=1)))]
    distance = np.linalg.norm(xz - xz[chosen[0]], axis=1)
    while len(chosen) < min(count, len(positions)):
        index = int(np.argmax(distance))
        chosen.append(index)
        distance = np.minimum(distance, np.linalg.norm(xz - xz[index], axis=1))
    return [positions[i] for i in chosen]


class Explorer:
    """Drives the simulator over viewpoints and feeds what the camera sees into memory."""

    def __init__(self, sim: Any, memory: LongTermMemory, start_stamp: float = 1000.0) -> None:
        self.sim = sim
        self.memory = memory
        self.perception = SimPerception()
        self.stamp = start_stamp
        self.frames = 0
        self.visible_ids: set[str] = set()

    def look_around(self, position: dict[str, float]) -> None:
        """One turn on the spot: every rotation at every horizon, each frame into memory."""
        for rotation in ROTATIONS:
            for horizon in HORIZONS:
                metadata, frames = self.sim.step(
                    {
                        "action": "TeleportFull",
                        "position": position,
                        "rotation": {"x": 0.0, "y": rotation},
                        "horizon": horizon,
                        "standing": True,
                    }
                )
                if metadata["lastActionSuccess"]:
                    self.integrate(metadata, frames)

    def integrate(self, metadata: dict[str, Any], frames: dict[str, Any]) -> None:
        self.stamp += FRAME_PERIOD_S
        self.frames += 1
        self.visible_ids.update(o["objectId"] for o in metadata["objects"] if o["visible"])
        percept = self.perception.perceive(metadata, frames, self.stamp)
        if percept.frame is None:
            return
        frame = percept.frame
        view = CameraView(
            intrinsics=frame.intrinsics,
            world_T_camera=Pose.from_matrix(frame.world_T_camera),
            depth=frame.depth,
            stamp=self.stamp,
        )
        self.memory.integrate_frame(percept.observations, view)

    def tour(self, positions: Iterable[dict[str, float]]) -> None:
        for position in positions:
            self.look_around(position)


# ------------------------------------------------------------------------------- scoring


def _truth_center(obj: dict[str, Any]) -> np.ndarray:
    return unity_to_map(obj["axisAlignedBoundingBox"]["center"])


def _truth_box(obj: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    centre = _truth_center(obj)
    size = obj["axisAlignedBoundingBox"]["size"]
    half = np.abs(np.array([size["z"], size["x"], size["y"]])) / 2.0  # (z, -x, y) of Unity
    return centre - half, centre + half


def at_true_place(node: SceneNode, obj: dict[str, Any], tolerance: float) -> bool:
    """Remembered centre near the true centre, or inside the true box (large furniture)."""
    centre = node.position.as_array()
    if float(np.linalg.norm(centre - _truth_center(obj))) <= tolerance:
        return True
    lo, hi = _truth_box(obj)
    return bool(np.all(centre >= lo - 0.05) and np.all(centre <= hi + 0.05))


def _present_things(memory: LongTermMemory) -> list[SceneNode]:
    return [
        n
        for layer in (Layer.FURNITURE, Layer.OBJECT)
        for n in memory.graph.nodes(layer)
        if n.status == NodeStatus.PRESENT
    ]


def score_memory(
    memory: LongTermMemory,
    truth: dict[str, dict[str, Any]],
    visible_ids: set[str],
    result: SceneResult,
    tolerance: float,
) -> None:
    """Recall, precision, state and relation accuracy of memory against ``truth``."""
    graph = memory.graph
    nodes = _present_things(memory)
    remembered = {n.external_id for n in nodes if n.external_id}
    for object_id in sorted(visible_ids & truth.keys()):
        if is_structure(truth[object_id]["objectType"]):
            continue  # the floor is mapped by the octree, not remembered as an object
        found = object_id in remembered
        result.recall.add(found)
        if not found:
            result.fail("recall", object_id)
    for node in nodes:
        obj = truth.get(node.external_id)
        correct = (
            obj is not None
            and obj["objectType"] == node.node_type
            and at_true_place(node, obj, tolerance)
        )
        result.precision.add(correct)
        if not correct:
            result.fail("precision", f"{node.node_id} {node.node_type} {node.external_id}")
            continue
        assert obj is not None
        true_states = observable_states(obj)
        for key, value in sorted(node.states.items()):
            if key in true_states:
                ok = true_states[key] == value
                result.state_accuracy.add(ok)
                if not ok:
                    result.fail("state_accuracy", f"{node.external_id} {key}={value}")
        parents = [p for p in obj.get("parentReceptacles") or [] if p in truth]
        if not obj["pickupable"] or not parents:
            continue
        location = graph.find_location(node.node_id)
        holder = graph.get_node(location[0]).external_id if location else ""
        if all(truth[p]["objectType"] == "Floor" for p in parents):
            # Perception treats the floor as structure, not an object: on the floor, memory
            # rightly names no receptacle.
            ok = holder in ("", *parents)
        else:
            ok = holder in parents
        result.relation_accuracy.add(ok)
        if not ok:
            result.fail("relation_accuracy", f"{node.external_id} on {holder or '-'} not {parents}")


def score_stale(
    memory: LongTermMemory,
    truth: dict[str, dict[str, Any]],
    result: SceneResult,
    tolerance: float,
) -> None:
    """Share of remembered facts (a present object's place, each of its states) now false."""
    for node in _present_things(memory):
        obj = truth.get(node.external_id) if node.external_id else None
        if obj is None:
            result.stale.add(bool(node.external_id))  # remembered, but removed from the house
            if node.external_id:
                result.fail("stale", f"{node.external_id} removed, still remembered")
            continue
        moved = not at_true_place(node, obj, tolerance)
        result.stale.add(moved)
        if moved:
            result.fail("stale", f"{node.external_id} remembered at the old place")
        true_states = observable_states(obj)
        for key, value in sorted(node.states.items()):
            if key in true_states:
                wrong = true_states[key] != value
                result.stale.add(wrong)
                if wrong:
                    result.fail("stale", f"{node.external_id} {key}={value}")


# --------------------------------------------------------------------------------- scenes


def evaluate_scene(
    scene: str,
    *,
    seed: int = 0,
    width: int = 224,
    height: int = 168,
    viewpoints: int = 12,
    num_changes: int = 5,
    tolerance: float = 0.5,
    workdir: Path | None = None,
) -> SceneResult:
    """Explore ``scene``, score memory, change the house, look around once, score staleness."""
    from sim import HouseholdSim

    started = time.perf_counter()
    result = SceneResult(scene)
    sim = HouseholdSim(
        scene,
        width=width,
        height=height,
        seed=seed,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
    )
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        memory = LongTermMemory(Path(folder) / f"{scene}.sqlite")
        try:
            metadata, _ = sim.step({"action": "GetReachablePositions"})
            positions = cover_positions(metadata["actionReturn"] or [], viewpoints)
            explorer = Explorer(sim, memory)
            explorer.tour(positions)
            metadata, _ = sim.step({"action": "Pass"})
            truth = {o["objectId"]: o for o in metadata["objects"]}
            score_memory(memory, truth, explorer.visible_ids, result, tolerance)

            metadata, _ = sim.step(
                {"action": "SimulateHouseholdChanges", "seed": seed, "numChanges": num_changes}
            )
            result.changes = list(metadata["actionReturn"] or [])
            explorer.stamp += AWAY_S
            explorer.tour(positions)
            metadata, _ = sim.step({"action": "Pass"})
            truth = {o["objectId"]: o for o in metadata["objects"]}
            score_stale(memory, truth, result, tolerance)
            result.frames = explorer.frames
        finally:
            memory.close()
            sim.close()
    result.seconds = time.perf_counter() - started
    return result


def summarise(results: Sequence[SceneResult]) -> dict[str, Any]:
    """Pooled metrics over scenes (sums of counts, then ratios) and whether targets are met."""
    pooled = {name: Counts() for name in TARGETS}
    for result in results:
        for name in TARGETS:
            pooled[name].merge(getattr(result, name))
    summary: dict[str, Any] = {}
    for name, (op, target) in TARGETS.items():
        value = pooled[name].ratio
        met = value >= target if op == ">=" else value <= target
        summary[name] = {
            "value": value,
            "hits": pooled[name].hits,
            "total": pooled[name].total,
            "target": f"{op} {target}",
            "met": bool(met) if math.isfinite(value) else False,
        }
    return summary


def format_table(results: Sequence[SceneResult], summary: dict[str, Any]) -> str:
    names = list(TARGETS)
    header = f"{'scene':<14}" + "".join(f"{n[:12]:>13}" for n in names) + f"{'frames':>8}{'s':>7}"
    lines = [header, "-" * len(header)]
    for r in results:
        cells = "".join(f"{getattr(r, n).ratio:>13.3f}" for n in names)
        lines.append(f"{r.scene:<14}{cells}{r.frames:>8d}{r.seconds:>7.1f}")
    lines.append("-" * len(header))
    lines.append(f"{'all':<14}" + "".join(f"{summary[n]['value']:>13.3f}" for n in names))
    lines.append(f"{'target':<14}" + "".join(f"{summary[n]['target']:>13}" for n in names))
    lines.append(
        f"{'met':<14}" + "".join(f"{'yes' if summary[n]['met'] else 'NO':>13}" for n in names)
    )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memstack eval fidelity", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--scenes", nargs="+", default=list(DEFAULT_SCENES), help="FloorPlans")
    parser.add_argument("--limit", type=int, default=0, help="only the first N scenes")
    parser.add_argument("--seed", type=int, default=0, help="seed of the household changes")
    parser.add_argument("--width", type=int, default=224)
    parser.add_argument("--height", type=int, default=168)
    parser.add_argument("--viewpoints", type=int, default=12, help="cells visited per scene")
    parser.add_argument("--changes", type=int, default=5, help="household changes per scene")
    parser.add_argument("--tolerance", type=float, default=0.5, help="metres, for precision")
    parser.add_argument("--json", type=Path, default=None, help="write results to this file")
    parser.add_argument("--verbose", action="store_true", help="print every failure")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; exit code 0 when every target is met, 1 otherwise."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from sim import scene_catalog

    known = [s for s in args.scenes if scene_catalog.has_scene(s) or scene_catalog.has_house(s)]
    unknown = [s for s in args.scenes if s not in known]
    problem = None  # bad input is refused in one line before any scene is built
    if unknown:
        problem = f"unknown scene {unknown[0]!r} (FloorPlan1-30, 201-230, 301-330, 401-430)"
    elif min(args.width, args.height, args.viewpoints) < 1:
        problem = "--width, --height and --viewpoints must be at least 1"
    elif args.changes < 0 or args.limit < 0 or not args.tolerance > 0:
        problem = "--changes and --limit must not be negative, --tolerance must be positive"
    if problem is not None:
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        return 2
    scenes = args.scenes[: args.limit] if args.limit > 0 else args.scenes
    results = []
    for scene in scenes:
        result = evaluate_scene(
            scene,
            seed=args.seed,
            width=args.width,
            height=args.height,
            viewpoints=args.viewpoints,
            num_changes=args.changes,
            tolerance=args.tolerance,
        )
        results.append(result)
        if args.verbose:
            for metric, failures in sorted(result.failures.items()):
                for failure in failures:
                    print(f"  {scene} {metric}: {failure}", file=sys.stderr)
    summary = summarise(results)
    print(format_table(results, summary))
    if args.json is not None:
        report = {
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "summary": summary,
            "scenes": [
                {
                    **{k: v for k, v in asdict(r).items() if k not in TARGETS},
                    **{n: asdict(getattr(r, n)) | {"ratio": getattr(r, n).ratio} for n in TARGETS},
                }
                for r in results
            ],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True, default=str) + "\n")
    return 0 if all(s["met"] for s in summary.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
