"""Replay object-access traces through the short-term cache under every replacement policy.

Prints one JSON row per (trace, policy, capacity) with the hit rate, the stale answers (a hit on
an entry whose object had changed since it was written) and the long-term lookups saved, then a
summary row per trace and capacity naming the best policy. See bench/README_stm.md.

    python bench/stm_policies.py --json                 # replay bench/data/*.jsonl
    python bench/stm_policies.py --json --regenerate    # rewrite the seeded synthetic traces first

Not a test: pytest never runs it, and it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import math
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memory_nodes.core.policies import (
    HouseholdPolicy,
    ReplacementPolicy,
    TypeKnowledge,
    available_policies,
    make_policy,
)
from memory_nodes.core.short_term import CacheEntry, EvictionReason, ObjectStateCache
from memory_nodes.core.types import (
    Box,
    ObjectObservation,
    ObjectRecord,
    Pose,
    Vector3,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
TRACE_FORMAT = "memory_nodes.stm_trace"
TRACE_VERSION = 1
CAPACITIES = (16, 32, 64, 128)
BASELINES = ("fifo", "lru", "lfu", "mem4nav", "karma")
OWN_POLICY = "household"
#: Metres within which a long-term record states the same place as a cache entry: the planner
#: walks to either and finds the object within arm's reach.
AGREE_DISTANCE = 0.5

# ------------------------------------------------------------------------------ trace format


def _open_trace(path: Path, mode: str) -> IO[str]:
    """A text stream on a trace file; ``.gz`` files are gzip-compressed (with no timestamp in
    the gzip header, so the same events give the same bytes)."""
    if path.suffix == ".gz":
        raw = gzip.GzipFile(path, mode[0] + "b", mtime=0)
        return io.TextIOWrapper(raw, encoding="utf-8")
    return path.open(mode, encoding="utf-8")


def trace_files(data_dir: Path) -> list[Path]:
    """Trace files in ``data_dir`` (``*.jsonl`` and ``*.jsonl.gz``), sorted by name."""
    return sorted([*data_dir.glob("*.jsonl"), *data_dir.glob("*.jsonl.gz")])


def trace_name(path: Path) -> str:
    """The file name without ``.jsonl`` / ``.jsonl.gz``."""
    return path.name.removesuffix(".gz").removesuffix(".jsonl")


def write_trace(path: Path, events: list[dict], meta: dict) -> None:
    """JSON lines: a header line (format, version, generator settings), then one event a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_trace(path, "w") as stream:
        header = {"format": TRACE_FORMAT, "version": TRACE_VERSION, **meta}
        stream.write(json.dumps(header, sort_keys=True) + "\n")
        for event in events:
            stream.write(json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n")


def read_trace(path: Path) -> tuple[dict, list[dict]]:
    with _open_trace(path, "r") as stream:
        header = json.loads(stream.readline())
        if header.get("format") != TRACE_FORMAT or header.get("version") != TRACE_VERSION:
            raise ValueError(f"{path}: not a version {TRACE_VERSION} {TRACE_FORMAT} file")
        events = [json.loads(line) for line in stream if line.strip()]
    return header, events


# --------------------------------------------------------------------------- synthetic traces

ROOMS = {
    "Kitchen": (
        ["CounterTop", "Fridge", "Cabinet", "Cabinet", "Drawer", "Sink", "StoveBurner",
         "Microwave", "DiningTable", "Chair", "Toaster", "CoffeeMachine", "GarbageCan", "Shelf"],
        ["Apple", "Tomato", "Potato", "Lettuce", "Bread", "Egg", "Mug", "Cup", "Bowl", "Plate",
         "Knife", "ButterKnife", "Fork", "Spoon", "Spatula", "Pan", "Pot", "Kettle",
         "SaltShaker", "PepperShaker", "DishSponge", "SoapBottle", "WineBottle", "Bottle"],
    ),
    "LivingRoom": (
        ["Sofa", "ArmChair", "CoffeeTable", "SideTable", "TVStand", "Television", "Shelf",
         "FloorLamp", "Ottoman", "Dresser"],
        ["RemoteControl", "Book", "Newspaper", "Laptop", "KeyChain", "CreditCard", "Pillow",
         "Statue", "Vase", "Box", "Watch", "CellPhone", "TissueBox", "Candle"],
    ),
    "Bedroom": (
        ["Bed", "Desk", "Dresser", "Drawer", "SideTable", "DeskLamp", "Shelf", "Chair"],
        ["AlarmClock", "Book", "CellPhone", "Laptop", "Pen", "Pencil", "Pillow", "CD",
         "TeddyBear", "BaseballBat", "TennisRacket", "Mug", "KeyChain", "Watch"],
    ),
    "Bathroom": (
        ["Toilet", "Sink", "Bathtub", "ShowerCurtain", "Mirror", "CounterTop", "Cabinet",
         "TowelHolder"],
        ["Towel", "HandTowel", "SoapBar", "SoapBottle", "ToiletPaper", "SprayBottle", "Plunger",
         "ScrubBrush", "Cloth", "Candle"],
    ),
}  # fmt: skip


@dataclass
class _Object:
    object_id: str
    object_type: str
    room: str
    position: list[float]
    pickupable: bool
    version: int = 0
    states: dict[str, str] = field(default_factory=dict)


def _build_world(rng: random.Random, copies: int) -> list[_Object]:
    objects: list[_Object] = []
    for room_index, (room, (furniture, pickupable)) in enumerate(ROOMS.items()):
        origin = (room_index % 2) * 6.0, (room_index // 2) * 6.0
        for kind, types in (("f", furniture), ("p", pickupable)):
            for type_index, object_type in enumerate(types):
                for copy in range(copies if kind == "p" else 1):
                    position = [
                        round(origin[0] + rng.uniform(0.3, 5.7), 3),
                        round(origin[1] + rng.uniform(0.3, 5.7), 3),
                        round(rng.uniform(0.0, 1.5), 3),
                    ]
                    object_id = f"{object_type}|{room}|{type_index}|{copy}"
                    objects.append(_Object(object_id, object_type, room, position, kind == "p"))
    return objects


def _zipf_weights(count: int, exponent: float) -> list[float]:
    return [1.0 / (rank + 1) ** exponent for rank in range(count)]


def generate_trace(kind: str, seed: int, num_events: int = 6000) -> tuple[dict, list[dict]]:
    """A seeded household trace.

    The robot works through tasks, each in one room for a few minutes. Every 0.5 s it either
    observes an object in view (a write) or the planner asks where an object is (a read). A task
    reads a small, skewed working set: a few object types named by the task (every instance of
    them in the room) plus receptacles, and now and then a popular object elsewhere. People move
    pickupable objects (about once per 10 minutes each) and open/close furniture without the
    robot seeing it: ``truth_version`` goes up, and an entry written before is stale.

    ``kind="shifting"``: observations are of objects in the current room (the working set
    shifts with the room and the task). ``kind="noisy"``: most observations are noise, either
    one-off detections that get a fresh id (a detector's false positives, objects glimpsed
    through a door) or re-observations of furniture, so the objects worth keeping are written
    rarely compared with the ones that are not.
    """
    if kind not in ("shifting", "noisy"):
        raise ValueError(f"unknown trace kind {kind!r}")
    rng = random.Random(seed)
    world = _build_world(rng, copies=3)
    by_room: dict[str, list[_Object]] = {room: [] for room in ROOMS}
    for obj in world:
        by_room[obj.room].append(obj)
    popular = rng.sample([o for o in world if not o.pickupable], 6)
    read_share = 0.35 if kind == "shifting" else 0.3
    noise_share = 0.0 if kind == "shifting" else 0.75
    dt = 0.5
    move_rate, state_rate = 1.0 / 600.0, 1.0 / 1800.0
    events: list[dict] = []
    t = 0.0
    noise_counter = 0
    task_steps = 0
    room = "Kitchen"
    robot = [1.0, 1.0, 0.0]
    working: list[_Object] = []
    weights: list[float] = []
    while len(events) < num_events:
        if task_steps <= 0:
            # A new task: maybe another room, two or three object types, their receptacles.
            if rng.random() < 0.6:
                room = rng.choice(list(ROOMS))
            candidates = by_room[room]
            task_types = rng.sample(sorted({o.object_type for o in candidates if o.pickupable}), 3)
            targets = [o for o in candidates if o.object_type in task_types]
            receptacles = rng.sample([o for o in candidates if not o.pickupable], 3)
            working = targets + receptacles
            rng.shuffle(working)
            weights = _zipf_weights(len(working), 0.8)
            task_steps = rng.randint(300, 600)
        task_steps -= 1
        t = round(t + dt, 3)
        # The world changes without the robot looking.
        for obj in world:
            if obj.pickupable and rng.random() < move_rate * dt:
                obj.version += 1
                obj.position = [round(p + rng.uniform(-1.0, 1.0), 3) for p in obj.position]
            elif not obj.pickupable and rng.random() < state_rate * dt:
                obj.version += 1
                obj.states = {"isOpen": rng.choice(["true", "false"])}
        robot = [round(r + rng.uniform(-0.3, 0.3), 3) for r in robot[:2]] + [0.0]
        if rng.random() < read_share:
            obj = rng.choice(popular) if rng.random() < 0.1 else rng.choices(working, weights)[0]
            events.append(_event(t, "read", obj, robot))
            continue
        if rng.random() < noise_share:
            if rng.random() < 0.7:
                noise_counter += 1
                object_type = rng.choice(ROOMS[room][1])
                fake = _Object(f"{object_type}|noise|{noise_counter}", object_type, room,
                               [round(r + rng.uniform(-2, 2), 3) for r in robot], True)  # fmt: skip
                events.append(_event(t, "write", fake, robot, noise=True))
            else:
                obj = rng.choice([o for o in by_room[room] if not o.pickupable])
                events.append(_event(t, "write", obj, robot, noise=True))
            continue
        # An observation of something in view: task objects are in view more often.
        obj = rng.choice(working) if rng.random() < 0.3 else rng.choice(by_room[room])
        events.append(_event(t, "write", obj, robot))
    meta = {"kind": kind, "seed": seed, "num_events": len(events), "dt": dt}
    return meta, events


def _event(t: float, op: str, obj: _Object, robot: list[float], noise: bool = False) -> dict:
    event = {
        "t": t,
        "op": op,
        "object_id": obj.object_id,
        "object_type": obj.object_type,
        "position": obj.position,
        "truth_version": obj.version,
        "robot_position": robot,
    }
    if obj.states:
        event["states"] = obj.states
    if noise:
        event["noise"] = True
    return event


SYNTHETIC = {"stm_shifting.jsonl": ("shifting", 11), "stm_noisy.jsonl": ("noisy", 23)}


def regenerate(data_dir: Path) -> None:
    for filename, (kind, seed) in SYNTHETIC.items():
        meta, events = generate_trace(kind, seed)
        write_trace(data_dir / filename, events, meta)


# ------------------------------------------------------------------------------------ replay


@dataclass
class ReplayResult:
    reads: int = 0
    hits: int = 0
    stale_answers: int = 0
    long_term_answers: int = 0
    stale_long_term_answers: int = 0
    unanswered: int = 0
    evictions: int = 0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.reads if self.reads else 0.0

    def __add__(self, other: ReplayResult) -> ReplayResult:
        return ReplayResult(
            *(getattr(self, f) + getattr(other, f) for f in self.__dataclass_fields__)
        )


def _observations(events: list[dict]) -> Iterator[ObjectObservation | None]:
    for event in events:
        if event["op"] != "write":
            yield None
            continue
        position = Vector3.from_array(event["position"])
        yield ObjectObservation(
            object_id=event["object_id"],
            object_type=event["object_type"],
            world_T_object=Pose(position),
            box=Box(position, Vector3(0.1, 0.1, 0.1)),
            stamp=float(event["t"]),
            states=dict(event.get("states", {})),
            source=event.get("source", "trace"),
        )


def replay(
    events: list[dict],
    observations: list,
    policy_name: str,
    capacity: int,
    household_options: dict | None = None,
) -> ReplayResult:
    """Feed a trace through a cache; long-term memory is what the cache consolidated.

    A ``reset`` event (recorded traces: a new scene or session) restarts short-term memory: the
    entries go to long-term memory and a fresh cache and policy take over. A ``missing`` event
    (the robot looked and the object was not there) takes the object out of both memories, as
    ``LayeredMemory.report_missing`` does.

    Staleness is judged the same way for every policy, from the trace's truth versions, which
    no policy sees: an answer is stale when the object changed after the write the answer
    comes from (short-term: the entry's last write; long-term: the write it consolidated).
    """
    long_term: dict[str, ObjectRecord] = {}
    long_term_version: dict[str, int] = {}
    written_version: dict[str, int] = {}
    robot = Vector3()
    # What the robot learned about object types outlives a restart of its short-term memory.
    knowledge = TypeKnowledge()

    def consolidate(entry: CacheEntry, reason: EvictionReason | None = None) -> None:
        long_term[entry.object_id] = entry.to_record()
        long_term_version[entry.object_id] = written_version[entry.object_id]

    def long_term_agrees(entry: CacheEntry) -> bool:
        # From what memory holds, never from the truth versions (the policy must not see them).
        record = long_term.get(entry.object_id)
        return (
            record is not None
            and record.world_T_object.position.distance_to(entry.world_T_object.position)
            <= AGREE_DISTANCE
            and all(record.states.get(k) == v for k, v in entry.states.items())
        )

    def new_cache() -> ObjectStateCache:
        policy: ReplacementPolicy
        if policy_name == OWN_POLICY:
            options = {"knowledge": knowledge, **(household_options or {})}
            policy = HouseholdPolicy(
                robot_position=lambda: robot, long_term_agrees=long_term_agrees, **options
            )
        else:
            policy = make_policy(policy_name)
        return ObjectStateCache(capacity, policy, on_evict=consolidate)

    cache = new_cache()
    evictions = 0
    result = ReplayResult()
    for event, observation in zip(events, observations, strict=True):
        if "robot_position" in event:
            robot = Vector3.from_array(event["robot_position"])
        if observation is not None:
            cache.put(observation)
            written_version[observation.object_id] = event["truth_version"]
            continue
        if event["op"] == "reset":
            for entry in cache.entries():
                consolidate(entry)
            evictions += cache.stats.evictions
            cache = new_cache()
            continue
        if event["op"] == "missing":
            cache.remove(event["object_id"])
            long_term.pop(event["object_id"], None)
            long_term_version.pop(event["object_id"], None)
            continue
        if event["op"] != "read":
            continue
        result.reads += 1
        answer = cache.answer(event["object_id"], long_term.get, event["t"], verify=False)
        if answer.record is None:
            result.unanswered += 1
        elif answer.long_term_lookups == 0:
            result.hits += 1
            if written_version[event["object_id"]] < event["truth_version"]:
                result.stale_answers += 1
        else:
            result.long_term_answers += 1
            if long_term_version[event["object_id"]] < event["truth_version"]:
                result.stale_long_term_answers += 1
    result.evictions = evictions + cache.stats.evictions
    return result


RECORDED_PREFIX = "stm_recorded_"
POOLED_TRACE = "stm_recorded_pooled"
#: A capacity no trace reaches: the hit rate of a cache that never evicts.
UNBOUNDED = 1_000_000


def _row(trace: str, policy: str, capacity: int, result: ReplayResult, seconds: float) -> dict:
    return {
        "trace": trace,
        "policy": policy,
        "capacity": capacity,
        "reads": result.reads,
        "hit_rate": round(result.hit_rate, 4),
        "hits": result.hits,
        "stale_answers": result.stale_answers,
        "stale_long_term_answers": result.stale_long_term_answers,
        "long_term_lookups_saved": result.hits,
        "unanswered": result.unanswered,
        "evictions": result.evictions,
        "seconds": round(seconds, 3),
    }


def run(data_dir: Path, policies: list[str], capacities: tuple[int, ...]) -> list[dict]:
    """Rows per trace, policy and capacity, a summary per trace and capacity, and the same for
    all recorded traces pooled (their reads summed: one read is worth less than in any one)."""
    rows: list[dict] = []
    pooled: dict[int, dict[str, ReplayResult]] = {c: {} for c in capacities}
    pooled_unbounded = ReplayResult()
    for path in trace_files(data_dir):
        name = trace_name(path)
        recorded = name.startswith(RECORDED_PREFIX)
        _header, events = read_trace(path)
        observations = list(_observations(events))
        unbounded = replay(events, observations, "lru", UNBOUNDED)
        if recorded:
            pooled_unbounded += unbounded
        for capacity in capacities:
            per_policy = {}
            for policy_name in policies:
                started = time.perf_counter()
                result = replay(events, observations, policy_name, capacity)
                per_policy[policy_name] = result
                rows.append(
                    _row(name, policy_name, capacity, result, time.perf_counter() - started)
                )
                if recorded:
                    total = pooled[capacity].get(policy_name, ReplayResult())
                    pooled[capacity][policy_name] = total + result
            rows.append(_summary(name, capacity, per_policy, unbounded))
    if pooled_unbounded.reads:
        for capacity in capacities:
            for policy_name, result in pooled[capacity].items():
                rows.append(_row(POOLED_TRACE, policy_name, capacity, result, 0.0))
            rows.append(_summary(POOLED_TRACE, capacity, pooled[capacity], pooled_unbounded))
    return rows


def _summary(
    trace: str, capacity: int, results: dict[str, ReplayResult], unbounded: ReplayResult
) -> dict:
    best = max(results, key=lambda name: (results[name].hit_rate, -results[name].stale_answers))
    row: dict = {
        "trace": trace,
        "capacity": capacity,
        "best_policy": best,
        # No policy can do better than a cache that never evicts.
        "unbounded_hit_rate": round(unbounded.hit_rate, 4),
        "unbounded_stale_answers": unbounded.stale_answers,
    }
    baselines = [name for name in BASELINES if name in results]
    if OWN_POLICY in results and baselines:
        best_baseline = max(
            baselines, key=lambda name: (results[name].hit_rate, -results[name].stale_answers)
        )
        own, base = results[OWN_POLICY], results[best_baseline]
        row |= {
            "best_baseline": best_baseline,
            "own_minus_best_baseline_hit_rate": round(own.hit_rate - base.hit_rate, 4),
            "own_stale_minus_best_baseline_stale": own.stale_answers - base.stale_answers,
            "goal_met": own.hit_rate > base.hit_rate and own.stale_answers <= base.stale_answers,
        }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON rows (one per line)")
    parser.add_argument("--regenerate", action="store_true", help="rewrite the synthetic traces")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--policies", nargs="*", default=available_policies())
    parser.add_argument("--capacities", nargs="*", type=int, default=list(CAPACITIES))
    args = parser.parse_args(argv)
    if args.regenerate or not trace_files(args.data_dir):
        regenerate(args.data_dir)
    started = time.perf_counter()
    rows = run(args.data_dir, args.policies, tuple(args.capacities))
    for row in rows:
        if args.json:
            print(json.dumps(row, sort_keys=True))
        elif "policy" in row:
            print(
                f"{row['trace']:>14} {row['policy']:>9} cap={row['capacity']:>3} "
                f"hit={row['hit_rate']:.3f} stale={row['stale_answers']:>4} "
                f"saved={row['long_term_lookups_saved']:>5}"
            )
        else:
            print(f"{row['trace']:>14} cap={row['capacity']:>3} best={row['best_policy']} {row}")
    total = time.perf_counter() - started
    print(json.dumps({"total_seconds": round(total, 2)}) if args.json else f"{total:.1f} s")
    return 0 if math.isfinite(total) else 1


if __name__ == "__main__":
    raise SystemExit(main())
