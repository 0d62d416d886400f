"""Memory built with the spatial indexes equals memory built by full scans.

``scale_equivalence_reference.json`` holds the graph, change log and per-frame results of a
scripted run (furniture seen in parts, moves, state changes, objects taken away, id-less
detections, the robot's own actions) as the code before the indexes built it (every node and
edge, every float to the last bit). The run below must build exactly that again. Run this file
as a script with an older ``memory_nodes`` first on ``PYTHONPATH`` to record it anew.

The other tests compare association, ``derive_location`` and the ``near`` edges with
brute-force scans on random data.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

import numpy as np

from memory_nodes.core.change_detection import CameraView
from memory_nodes.core.fusion import ObjectFusion
from memory_nodes.core.long_term import LongTermMemory
from memory_nodes.core.scene_graph import EdgeType, Layer, NodeStatus, SceneGraph
from memory_nodes.core.types import Box, CameraIntrinsics, ObjectObservation, Pose, Vector3

REFERENCE = Path(__file__).with_name("scale_equivalence_reference.json")
INTRINSICS = CameraIntrinsics.from_fov(640, 480, 60.0)
# Optical frame looking along world +x: z_opt = +x, x_opt = -y, y_opt = -z.
ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])

# (id, type, centre, size, states): two rooms of furniture, a container, a hanger.
FURNITURE = [
    ("CounterTop|1", "CounterTop", (1.5, 0.5, 0.45), (3.0, 0.6, 0.9), {}),
    ("Fridge|1", "Fridge", (4.2, 0.5, 0.9), (0.8, 0.8, 1.8), {"isOpen": "false"}),
    ("DiningTable|1", "DiningTable", (2.5, 3.0, 0.375), (1.6, 1.0, 0.75), {}),
    ("Desk|1", "Desk", (8.0, 2.0, 0.375), (1.5, 1.0, 0.75), {}),
    ("Shelf|1", "Shelf", (10.0, 3.5, 1.2), (1.0, 0.4, 0.04), {}),
    ("TowelHolder|1", "TowelHolder", (11.0, 0.2, 1.2), (0.5, 0.1, 0.1), {}),
]
OBJECT_TYPES = ["Apple", "Mug", "Egg", "Knife", "Bowl", "Plate", "Bread", "CellPhone"]
SIZES = {"Bowl": (0.2, 0.2, 0.08), "Plate": (0.25, 0.25, 0.03), "Knife": (0.3, 0.04, 0.02)}
ID_LESS_TYPES = {"Egg", "Apple"}  # seen by a detector that gives no ids


def camera_at(x: float, y: float, z: float) -> Pose:
    matrix = np.eye(4)
    matrix[:3, :3] = ROTATION
    matrix[:3, 3] = (x, y, z)
    return Pose.from_matrix(matrix)


def _surfaces() -> list[tuple[tuple[float, float, float], tuple[float, float, float]]]:
    return [(centre, size) for _, t, centre, size, _ in FURNITURE if t != "TowelHolder"]


def _place(rng: random.Random, object_type: str) -> tuple[float, float, float]:
    centre, size = rng.choice(_surfaces())
    height = SIZES.get(object_type, (0.08, 0.08, 0.1))[2]
    x = centre[0] + rng.uniform(-0.45, 0.45) * size[0]
    y = centre[1] + rng.uniform(-0.45, 0.45) * size[1]
    if size[2] > 1.0:  # the fridge: inside, on its floor
        z = centre[2] - size[2] / 2.0 + 0.3 + height / 2.0
    else:
        z = centre[2] + size[2] / 2.0 + height / 2.0
    return round(x, 3), round(y, 3), round(z, 4)


def _observation(
    rng: random.Random,
    object_id: str,
    object_type: str,
    centre: tuple[float, float, float],
    size: tuple[float, float, float],
    stamp: float,
    states: dict[str, str],
    frame: str,
) -> ObjectObservation:
    noisy = Vector3(*(c + rng.uniform(-0.004, 0.004) for c in centre))
    box = Box(noisy, Vector3(*(s * rng.uniform(0.97, 1.03) for s in size)))
    seen_id = "" if object_type in ID_LESS_TYPES else object_id
    return ObjectObservation(
        object_id=seen_id,
        object_type=object_type,
        world_T_object=Pose(noisy),
        box=box,
        stamp=stamp,
        confidence=round(rng.uniform(0.6, 1.0), 3),
        states=dict(states),
        source="gt_mask",
        source_frame_id="camera",
    )


def run_scenario(seed: int = 7, num_objects: int = 90, num_frames: int = 14) -> dict:
    """Build memory from a scripted run and return everything it holds, as plain data."""
    rng = random.Random(seed)
    memory = LongTermMemory(None)
    memory.add_room("kitchen", Box(Vector3(3.0, 2.0, 1.5), Vector3(6.0, 4.0, 3.0)), 99.0)
    memory.add_room("study", Box(Vector3(9.0, 2.0, 1.5), Vector3(6.0, 4.0, 3.0)), 99.0)
    world: dict[str, dict] = {}
    for index in range(num_objects):
        object_type = OBJECT_TYPES[index % len(OBJECT_TYPES)]
        world[f"{object_type}|{index}"] = {
            "type": object_type,
            "centre": _place(rng, object_type),
            "size": SIZES.get(object_type, (0.08, 0.08, 0.1)),
            "states": {"isDirty": "false"} if object_type in ("Mug", "Plate") else {},
        }
    world["Towel|1"] = {
        "type": "Towel",
        "centre": (11.0, 0.2, 0.88),
        "size": (0.4, 0.06, 0.55),
        "states": {},
    }
    furniture_states = {f[0]: dict(f[4]) for f in FURNITURE}
    frames = []
    for frame in range(num_frames):
        stamp = 100.0 + frame
        if frame == 5:  # five objects move to other surfaces
            for object_id in sorted(world)[:50:10]:
                world[object_id]["centre"] = _place(rng, world[object_id]["type"])
        if frame == 6:  # four are taken away
            for object_id in sorted(world)[3:40:10]:
                del world[object_id]
        if frame == 4:
            furniture_states["Fridge|1"]["isOpen"] = "true"
        if frame == 7:
            for object_id in sorted(world)[::7]:
                if "isDirty" in world[object_id]["states"]:
                    world[object_id]["states"]["isDirty"] = "true"
        observations = []
        for object_id, _type, centre, size, _states in FURNITURE:
            if object_id == "CounterTop|1" and frame < 3:
                # Seen in parts first: the left two thirds, then the right two thirds.
                shift = -0.5 if frame % 2 == 0 else 0.5
                centre = (centre[0] + shift, centre[1], centre[2])
                size = (size[0] * 2 / 3, size[1], size[2])
            if rng.random() < 0.9:
                observations.append(
                    _observation(
                        rng,
                        object_id,
                        _type,
                        centre,
                        size,
                        stamp,
                        furniture_states[object_id],
                        str(frame),
                    )
                )
        for object_id in sorted(world):
            item = world[object_id]
            if rng.random() < 0.75:
                observations.append(
                    _observation(
                        rng,
                        object_id,
                        item["type"],
                        item["centre"],
                        item["size"],
                        stamp,
                        item["states"],
                        str(frame),
                    )
                )
        rng.shuffle(observations)
        camera = camera_at(-1.0 if frame % 2 == 0 else 5.0, 2.0, 1.2)
        depth = np.full((INTRINSICS.height, INTRINSICS.width), 20.0)
        update = memory.integrate_frame(
            observations, CameraView(INTRINSICS, camera, depth, stamp), source="gt_mask"
        )
        fused = update.fusion
        frames.append(
            {
                "observed": dict(sorted(fused.observed.items())),
                "created": fused.created,
                "moved": fused.moved,
                "state_changes": [list(c) for c in fused.state_changes],
                "relation_changes": fused.relation_changes,
                "tentative": fused.tentative,
                "missed": update.changes.missed if update.changes else None,
                "marked_missing": update.changes.marked_missing if update.changes else None,
            }
        )
        if frame == 9:  # the robot puts an egg in the fridge and takes a mug
            mug = next(i for i in sorted(world) if world[i]["type"] == "Mug")
            fridge = next(f for f in FURNITURE if f[0] == "Fridge|1")
            egg_box = Box(Vector3(4.1, 0.45, 0.5), Vector3(0.05, 0.05, 0.06))
            effects = [
                ObjectObservation(
                    object_id=mug,
                    object_type="Mug",
                    world_T_object=Pose(Vector3(0.0, 2.0, 1.0)),
                    box=Box(Vector3(0.0, 2.0, 1.0), Vector3(0.08, 0.08, 0.1)),
                    stamp=stamp + 0.5,
                    states={"isPickedUp": "true"},
                ),
                ObjectObservation(
                    object_id="Egg|robot",
                    object_type="Egg",
                    world_T_object=Pose(egg_box.center),
                    box=egg_box,
                    stamp=stamp + 0.5,
                    receptacle_id=fridge[0],
                    receptacle_relation="inside",
                ),
            ]
            memory.apply_action_effects(effects)
            world[mug]["centre"] = (0.0, 2.0, 1.0)
    return {"frames": frames, **dump_graph(memory.graph)}


def dump_graph(graph: SceneGraph) -> dict:
    """Every node, edge and change of the graph as plain data (floats exact)."""
    nodes = []
    for node in graph.nodes():
        nodes.append(
            {
                "id": node.node_id,
                "layer": node.layer.value,
                "type": node.node_type,
                "external_id": node.external_id,
                "status": node.status.value,
                "pose": [*_xyz(node.position), *_quaternion(node.world_T_object)],
                "box": [*_xyz(node.box.center), *_xyz(node.box.size)],
                "states": dict(sorted(node.states.items())),
                "log_odds": node.log_odds,
                "num_observations": node.num_observations,
                "consecutive_misses": node.consecutive_misses,
                "seen": [node.first_seen, node.last_seen],
                "provenance": [p.observation_id for p in node.provenance],
                "history": [
                    [h.stamp, h.parent_id, h.relation, h.room_id, h.status.value, h.reason]
                    for h in node.history
                ],
            }
        )
    edges = [[e.source, e.target, e.edge_type.value, e.stamp, e.origin] for e in graph.edges()]
    changes = [
        [c.sequence, c.stamp, c.kind.value, c.node_id, c.target_id, c.edge_type, c.detail]
        for c in graph.changes_after(0)
    ]
    return {"nodes": nodes, "edges": edges, "changes": changes}


def _xyz(v: Vector3) -> list[float]:
    return [v.x, v.y, v.z]


def _quaternion(pose: Pose) -> list[float]:
    q = pose.orientation
    return [q.x, q.y, q.z, q.w]


def test_scripted_run_builds_the_same_graph_changes_and_frame_results_as_full_scans():
    expected = json.loads(REFERENCE.read_text())
    built = json.loads(json.dumps(run_scenario()))
    assert built["frames"] == expected["frames"]
    assert [n["id"] for n in built["nodes"]] == [n["id"] for n in expected["nodes"]]
    for node, reference in zip(built["nodes"], expected["nodes"], strict=True):
        assert node == reference, node["id"]
    assert built["edges"] == expected["edges"]
    assert built["changes"] == expected["changes"]
    kinds = {n["status"] for n in built["nodes"]}
    assert kinds == {"present", "missing"}  # the run exercises both
    assert {e[2] for e in built["edges"]} == {"in_room", "on", "inside", "near"}


# ------------------------------------------------------------------ random comparisons


def _random_holder_graph(rng: random.Random, count: int) -> SceneGraph:
    graph = SceneGraph()
    holder_types = ["CounterTop", "Fridge", "Shelf", "Bowl", "Plate", "TowelHolder", "Sink"]
    for i in range(count):
        node_type = rng.choice([*holder_types, "Apple", "Mug"])
        layer = Layer.FURNITURE if node_type in ("CounterTop", "Fridge", "Shelf", "Sink") else None
        size = Vector3(rng.uniform(0.05, 3.0), rng.uniform(0.05, 2.0), rng.uniform(0.02, 1.8))
        centre = Vector3(rng.uniform(-6, 6), rng.uniform(-6, 6), rng.uniform(0.0, 2.0))
        graph.add_node(
            layer or Layer.OBJECT,
            node_type,
            world_T_object=Pose(centre),
            box=Box(centre, size),
            stamp=float(i),
            states={"isOpen": rng.choice(["true", "false"])} if node_type == "Fridge" else {},
        )
    return graph


def test_derive_location_from_the_footprint_index_equals_a_scan_of_every_holder():
    rng = random.Random(23)
    graph = _random_holder_graph(rng, 250)
    for node in list(graph.nodes())[::9]:  # boxes change after they were indexed
        centre = Vector3(node.position.x + rng.uniform(-1, 1), node.position.y, node.position.z)
        graph.update_node(
            node.node_id, 1000.0, world_T_object=Pose(centre), box=Box(centre, node.box.size)
        )
    for node in list(graph.nodes())[::13]:
        graph.mark_missing(node.node_id, 1001.0)
    every_holder = [n for n in graph.nodes() if graph._holds(n.node_type)]
    for _ in range(300):
        centre = Vector3(rng.uniform(-7, 7), rng.uniform(-7, 7), rng.uniform(0.0, 2.2))
        box = Box(centre, Vector3(*(rng.uniform(0.02, 0.4) for _ in range(3))))
        indexed = graph.derive_location(box)
        graph._possible_holders = lambda x, y: iter(every_holder)  # type: ignore[method-assign]
        scanned = graph.derive_location(box)
        del graph._possible_holders
        assert indexed == scanned


def test_gated_association_picks_the_same_matches_as_the_full_cost_matrix():
    from scipy.optimize import linear_sum_assignment

    rng = random.Random(31)
    graph = SceneGraph()
    for i in range(1500):
        node_type = rng.choice(["Mug", "Apple", "CounterTop"])
        extent = 2.5 if node_type == "CounterTop" else rng.uniform(0.05, 0.3)
        centre = Vector3(rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(0, 2))
        graph.add_node(
            Layer.FURNITURE if node_type == "CounterTop" else Layer.OBJECT,
            node_type,
            world_T_object=Pose(centre),
            box=Box(centre, Vector3(extent, extent * 0.5, 0.1)),
            stamp=float(i),
            external_id=f"{node_type}|{i}" if rng.random() < 0.5 else "",
        )
    fusion = ObjectFusion(graph)
    for trial in range(60):
        node_type = rng.choice(["Mug", "Apple", "CounterTop"])
        observations = []
        for _ in range(rng.randint(1, 8)):
            anchor = rng.choice(graph.nodes_of_type(node_type))
            jitter = rng.choice([0.01, 0.2, 0.6, 3.0])
            centre = Vector3(*(c + rng.uniform(-jitter, jitter) for c in _xyz(anchor.position)))
            object_id = rng.choice(["", anchor.external_id, f"{node_type}|{rng.randrange(1500)}"])
            observations.append(
                ObjectObservation(
                    object_id=object_id,
                    object_type=node_type,
                    world_T_object=Pose(centre),
                    box=Box(
                        centre, Vector3(*(s * rng.uniform(0.8, 1.2) for s in _xyz(anchor.box.size)))
                    ),
                    stamp=float(trial),
                )
            )
        layer = Layer.FURNITURE if node_type == "CounterTop" else Layer.OBJECT
        every = [n for n in graph.nodes(layer) if n.node_type == node_type]
        gated = fusion._gated_nodes(node_type, observations, set())
        assert {n.node_id for n in gated} <= {n.node_id for n in every}
        full = fusion._cost_matrix(observations, every)
        feasible = {every[c].node_id for c in np.nonzero((full < 1e5).any(axis=0))[0]}
        assert feasible <= {n.node_id for n in gated}, "a feasible node was gated away"
        rows, cols = linear_sum_assignment(full)
        by_full = {
            int(r): every[c].node_id for r, c in zip(rows, cols, strict=True) if full[r, c] < 1e5
        }
        if gated:
            cost = fusion._cost_matrix(observations, gated)
            rows, cols = linear_sum_assignment(cost)
            by_gate = {
                int(r): gated[c].node_id
                for r, c in zip(rows, cols, strict=True)
                if cost[r, c] < 1e5
            }
        else:
            by_gate = {}
        assert by_gate == by_full


def test_near_edges_from_the_index_equal_a_pairwise_scan_after_random_moves():
    rng = random.Random(41)
    graph = SceneGraph(near_radius=0.3)
    for i in range(300):
        centre = Vector3(rng.uniform(0, 4), rng.uniform(0, 4), rng.uniform(0, 1))
        graph.add_node(
            Layer.OBJECT, "Apple", world_T_object=Pose(centre), box=Box(centre), stamp=float(i)
        )
    stamp = 1000.0
    for _ in range(400):
        node = rng.choice(list(graph.nodes(Layer.OBJECT)))
        stamp += 1.0
        if rng.random() < 0.1:
            graph.mark_missing(node.node_id, stamp)
            continue
        centre = Vector3(rng.uniform(0, 4), rng.uniform(0, 4), rng.uniform(0, 1))
        graph.update_node(node.node_id, stamp, world_T_object=Pose(centre), box=Box(centre))
        if node.status == NodeStatus.MISSING:
            graph.record_hit(node.node_id, stamp)
        graph.refresh_relations(node.node_id, stamp, location=False)
    # Every refreshed pair agrees with the distance; pairs never refreshed since a move may lag
    # (as before), so check each node's edges after refreshing all of them.
    for node in graph.nodes(Layer.OBJECT):
        graph.refresh_relations(node.node_id, stamp + 1.0, location=False)
    objects = [n for n in graph.nodes(Layer.OBJECT) if n.status == NodeStatus.PRESENT]
    expected = {
        (a.node_id, b.node_id)
        for i, a in enumerate(objects)
        for b in objects[i + 1 :]
        if a.position.distance_to(b.position) <= 0.3
    }
    found = {(e.source, e.target) for e in graph.edges(EdgeType.NEAR)}
    assert found == expected


def write_reference() -> None:
    REFERENCE.write_text(json.dumps(run_scenario(), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    write_reference()
    print(f"wrote {REFERENCE} with memory_nodes from {sys.modules['memory_nodes'].__file__}")


def test_change_detection_from_the_index_classifies_every_node_as_a_full_scan_does():
    from memory_nodes.core.change_detection import (
        Visibility,
        expected_visibility,
        visibility_in_range,
    )

    rng = random.Random(53)
    graph = SceneGraph()
    for i in range(1500):
        furniture = i % 15 == 0
        size = Vector3(
            *(rng.uniform(0.5, 2.5) if furniture else rng.uniform(0.03, 0.3) for _ in range(3))
        )
        centre = Vector3(rng.uniform(-12, 12), rng.uniform(-12, 12), rng.uniform(0.0, 2.0))
        graph.add_node(
            Layer.FURNITURE if furniture else Layer.OBJECT,
            "CounterTop" if furniture else "Apple",
            world_T_object=Pose(centre),
            box=Box(centre, size),
            stamp=float(i),
        )
    for node in list(graph.nodes(Layer.OBJECT))[::17]:
        graph.mark_missing(node.node_id, 2000.0)
    for trial in range(12):
        yaw = rng.uniform(-math.pi, math.pi)
        turn = np.array(
            [
                [math.cos(yaw), -math.sin(yaw), 0.0],
                [math.sin(yaw), math.cos(yaw), 0.0],
                [0.0, 0.0, 1.0],
            ]
        )
        matrix = np.eye(4)
        matrix[:3, :3] = turn @ ROTATION
        matrix[:3, 3] = (rng.uniform(-8, 8), rng.uniform(-8, 8), 1.2)
        depth = np.full((INTRINSICS.height, INTRINSICS.width), rng.choice([0.0, 3.0, 20.0]))
        view = CameraView(INTRINSICS, Pose.from_matrix(matrix), depth, 3000.0 + trial)
        full = expected_visibility(graph, view)
        indexed = visibility_in_range(graph, view)
        assert set(indexed) <= set(full)
        assert {n: indexed.get(n, Visibility.OUT_OF_VIEW) for n in full} == full
        assert sum(v != Visibility.OUT_OF_VIEW for v in full.values()) > 0
