"""Per-frame cost of the stack, stage by stage, on real simulator frames.

A kitchen walk (FloorPlan1 by default: reachable cells spread over the room, four headings
each, camera 30 degrees down) is rendered with depth and instance masks at each resolution, and
every frame goes through the work each node does for it, in this process, one stage at a time:

perception node
    ``decode`` (Image messages -> arrays -> RGBDFrame), ``detect`` (the mask backend),
    ``backproject`` (the instances' and the cloud's pixels), ``outlier_filter``, ``summarise``
    (centroid, box, heading, confidence), ``observation_msgs`` (ObjectObservationArray,
    serialised) and ``cloud_pack`` (the labelled PointCloud2, serialised: what goes on the wire).
octree node
    ``cloud_unpack`` (deserialise, fields, label and object numbers as the node maps them) and
    ``octree_insert`` (``SparseOctree.insert_point_cloud`` with labels and object ids, ray cast;
    one ray per cell, as the node's ``discretize`` default, unless ``--octree-exact-rays``).
short-term memory node
    ``stm_update``: every observation into the cache (``ObjectStateCache.put``).
memory server
    ``memory_decode`` (observations and depth view from messages) and ``integrate_frame``
    (``LongTermMemory.integrate_frame`` with the depth view) with ``--memory-objects`` objects
    already in memory (the kitchen's plus synthetic ones in a second room, built through fusion).

The machine is shared, so a fixed numpy workload is timed after every frame and each stage's
p50 and p95 are also given divided by the workload's p50 (``*_vs_reference``); ``cpu_ms`` is
the thread's CPU time, which other processes disturb less than wall time. The previous outlier
filter (open3d's ``remove_statistical_outlier`` on every point of every instance) is timed on
the same instances as a second reference when open3d is installed. With
``--compare-frame-points N`` (default 5000; 0 skips it) the extraction is also timed, on the
same frames, with the per-frame point bound ``max_frame_points=N`` (``frame_point_bound``: its
time next to the default extraction's, and how far its observations move from the default's).

Usage: ``python bench/frame_pipeline.py [--quick] [--resolutions 320x240 640x480]
[--frames N] [--scene FloorPlan1] [--memory-objects 1000] [--max-instance-points N]
[--max-frame-points N] [--compare-frame-points N] [--cloud-cell-size M]
[--octree-exact-rays]``. ``--cloud-cell-size 0.05`` publishes one cloud point per octree cell
(perception's ``cloud_cell_size``; the same map under the discrete insert).
Prints JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MUJOCO_GL", "egl")

from memory_interfaces.msg import ObjectObservationArray  # noqa: E402
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from memory_nodes.adapters.ai2thor_perception import rgbd_frame_from_sim  # noqa: E402
from memory_nodes.core.change_detection import CameraView  # noqa: E402
from memory_nodes.core.long_term import LongTermMemory  # noqa: E402
from memory_nodes.core.object_taxonomy import KNOWN_TYPES, is_furniture  # noqa: E402
from memory_nodes.core.octree import SparseOctree  # noqa: E402
from memory_nodes.core.short_term import ObjectStateCache  # noqa: E402
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3  # noqa: E402
from memory_nodes.nodes import conversions  # noqa: E402
from memory_nodes.nodes.images import image_to_numpy, numpy_to_image  # noqa: E402
from memory_nodes.nodes.octree_node import LabelVocabulary, frame_object_ids  # noqa: E402
from memory_nodes.nodes.pointcloud import cloud_from_msg, cloud_to_msg  # noqa: E402
from memory_nodes.perception.backends import MaskBackend  # noqa: E402
from memory_nodes.perception.frames import RGBDFrame, color_to_rgb, depth_to_metres  # noqa: E402
from memory_nodes.perception.observations import (  # noqa: E402
    DEFAULT_MAX_FRAME_POINTS,
    DEFAULT_MAX_INSTANCE_POINTS,
    FrameObservations,
    ObservationExtractor,
    valid_depth,
)

TARGET_NODE_P95_MS = 50.0
TARGET_MEMORY_SERVER_P95_MS = 10.0
# As config/perception.yaml and config/octree.yaml set them.
CLOUD_STRIDE = 2
OCTREE_RESOLUTION = 0.05
OCTREE_MAX_RANGE = 5.0
MOVABLE_LABELS = ("Apple", "Bread", "Cup", "Egg", "Knife", "Lettuce", "Mug", "Plate", "Potato",
                  "Tomato", "Book", "CellPhone", "KeyChain", "Laptop", "Pen", "Pencil",
                  "RemoteControl", "Spoon", "Fork")  # fmt: skip
FRAME_PERIOD_S = 0.1
NODE_STAGES = {
    "perception_node": ("decode", "detect", "backproject", "outlier_filter", "summarise",
                        "observation_msgs", "cloud_pack"),
    "octree_node": ("cloud_unpack", "octree_insert"),
    "short_term_memory_node": ("stm_update",),
    "memory_server": ("memory_decode", "integrate_frame"),
}  # fmt: skip


def reference_workload() -> float:
    """A fixed numpy workload (sort of 200,000 sines): the yardstick, in seconds."""
    started = time.perf_counter()
    np.sort(np.sin(np.arange(200_000, dtype=np.float64) * 1e-3))
    return time.perf_counter() - started


def kitchen_walk(scene: str, width: int, height: int, count: int) -> list[RGBDFrame]:
    """``count`` frames from reachable cells spread over ``scene``, four headings per cell."""
    from memory_nodes.evaluation.fidelity import cover_positions
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim(
        scene,
        width=width,
        height=height,
        seed=0,
        renderDepthImage=True,
        renderInstanceSegmentation=True,
    )
    frames: list[RGBDFrame] = []
    try:
        metadata, _ = sim.step({"action": "GetReachablePositions"})
        cells = cover_positions(metadata["actionReturn"] or [], math.ceil(count / 4) + 2)
        for cell in cells:
            for heading in (0.0, 90.0, 180.0, 270.0):
                metadata, rendered = sim.step(
                    {
                        "action": "TeleportFull",
                        "position": cell,
                        "rotation": {"x": 0.0, "y": heading},
                        "horizon": 30.0,
                        "standing": True,
                    }
                )
                if metadata["lastActionSuccess"] and len(frames) < count:
                    frames.append(rgbd_frame_from_sim(rendered, 0.0))
    finally:
        sim.close()
    return frames


def frame_messages(frame: RGBDFrame, stamp: float) -> dict[str, Any]:
    """The Image messages and label map a camera driver and the bridge would publish."""
    header = Header(stamp=conversions.stamp_to_msg(stamp), frame_id="camera")
    return {
        "color": numpy_to_image(frame.rgb, "rgb8", header),
        "depth": numpy_to_image(frame.depth, "32FC1", header),
        "mask": numpy_to_image(frame.instance_ids, "32SC1", header),
        "labels": dict(frame.instance_labels),
        "frame": frame,
        "stamp": stamp,
    }


def decode_frame(msgs: dict[str, Any]) -> RGBDFrame:
    """What the perception node does with the synchronised messages before extraction."""
    source = msgs["frame"]
    return RGBDFrame(
        rgb=color_to_rgb(image_to_numpy(msgs["color"]), "rgb8"),
        depth=depth_to_metres(image_to_numpy(msgs["depth"]), "32FC1"),
        intrinsics=source.intrinsics,
        world_T_camera=source.world_T_camera,
        stamp=msgs["stamp"],
        frame_id="camera",
        instance_ids=image_to_numpy(msgs["mask"]),
        instance_labels=msgs["labels"],
    )


def pack_observations(header: Header, result: FrameObservations) -> bytes:
    """The perception node's ObjectObservationArray, serialised as rclpy publishes it."""
    observations = [conversions.observation_to_msg(o) for o in result.observations]
    return serialize_message(ObjectObservationArray(header=header, observations=observations))


def pack_cloud(header: Header, result: FrameObservations) -> bytes:
    """The perception node's labelled PointCloud2, serialised as rclpy publishes it."""
    cloud = cloud_to_msg(
        header,
        result.cloud_points,
        label=result.cloud_labels.astype(np.int32),
        object_id=result.cloud_object_ids.astype(np.int32),
    )
    return serialize_message(cloud)


def unpack_cloud(
    cloud_bytes: bytes,
    result: FrameObservations,
    vocabulary: LabelVocabulary,
    octree: SparseOctree,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points, map label numbers and octree object ids, as the octree node derives them."""
    fields = cloud_from_msg(deserialize_message(cloud_bytes, PointCloud2))
    points = np.column_stack([fields["x"], fields["y"], fields["z"]]).astype(np.float64)
    labels = vocabulary.map_frame_labels(fields["label"].astype(np.int64), result.label_names)
    objects = frame_object_ids(octree, fields["object_id"].astype(np.int64), result.object_keys)
    return points, labels, objects


def update_short_term(
    cache: ObjectStateCache, received: ObjectObservationArray, stamp: float
) -> None:
    for item in received.observations:
        cache.put(conversions.observation_from_msg(item), now=stamp)


def decode_for_memory(
    received: ObjectObservationArray, msgs: dict[str, Any]
) -> tuple[list[ObjectObservation], CameraView]:
    """The memory server's conversions: observations and the depth view for change detection."""
    frame = msgs["frame"]
    observations = [conversions.observation_from_msg(o) for o in received.observations]
    view = CameraView(
        intrinsics=frame.intrinsics,
        world_T_camera=Pose.from_matrix(frame.world_T_camera),
        depth=depth_to_metres(image_to_numpy(msgs["depth"]), "32FC1"),
        stamp=msgs["stamp"],
    )
    return observations, view


def synthetic_objects(count: int, stamp: float) -> list[list[ObjectObservation]]:
    """``count`` small objects on a 0.3 m grid in a room 20 m from the kitchen, 100 a frame."""
    types = [t for t in KNOWN_TYPES if not is_furniture(t)]
    rng = np.random.default_rng(0)
    batches: list[list[ObjectObservation]] = []
    side = math.ceil(math.sqrt(count))
    for first in range(0, count, 100):
        batch = []
        for j in range(first, min(first + 100, count)):
            centre = Vector3(20.0 + 0.3 * (j % side), 0.3 * (j // side), 0.9)
            object_type = types[int(rng.integers(len(types)))]
            batch.append(
                ObjectObservation(
                    object_id=f"{object_type}|synthetic|{j}",
                    object_type=object_type,
                    world_T_object=Pose(centre),
                    box=Box(centre, Vector3(0.08, 0.08, 0.08)),
                    stamp=stamp,
                    confidence=0.9,
                    source="gt_mask",
                    source_frame_id="camera",
                )
            )
        batches.append(batch)
    return batches


def restamped(observations: list[ObjectObservation], stamp: float) -> list[ObjectObservation]:
    return [dataclasses.replace(o, stamp=stamp) for o in observations]


class Timer:
    """Wall and thread-CPU milliseconds per named stage, one list entry per frame."""

    def __init__(self) -> None:
        self.wall: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}

    def run(self, stage: str, work: Callable[..., Any], *args: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        result = work(*args)
        self.add(stage, time.perf_counter() - wall, time.thread_time() - cpu)
        return result

    def add(self, stage: str, wall_s: float, cpu_s: float) -> None:
        self.wall.setdefault(stage, []).append(1e3 * wall_s)
        self.cpu.setdefault(stage, []).append(1e3 * cpu_s)


def percentiles(values: list[float], reference_ms: float) -> dict[str, float]:
    p50, p95 = float(np.percentile(values, 50)), float(np.percentile(values, 95))
    return {
        "p50_ms": round(p50, 2),
        "p95_ms": round(p95, 2),
        "p50_vs_reference": round(p50 / reference_ms, 2),
        "p95_vs_reference": round(p95 / reference_ms, 2),
    }


def build_memory(
    memory: LongTermMemory, walk: list[dict[str, Any]], extractor: ObservationExtractor, count: int
) -> tuple[int, float]:
    """Memory holding the kitchen (one pass of the walk) plus synthetic objects up to ``count``."""
    stamp = 1000.0
    for msgs in walk:
        stamp += FRAME_PERIOD_S
        observations = restamped(extractor.extract(msgs["frame"]).observations, stamp)
        memory.integrate_frame(observations, source="perception")
    from memory_nodes.core.scene_graph import Layer

    missing = max(0, count - memory.graph.num_nodes(Layer.OBJECT))
    for batch in synthetic_objects(missing, stamp):
        for _ in range(2):  # a new object is confirmed by its second frame
            stamp += FRAME_PERIOD_S
            memory.integrate_frame(restamped(batch, stamp), source="perception")
    return memory.graph.num_nodes(Layer.OBJECT), stamp


def run_resolution(
    width: int,
    height: int,
    num_frames: int,
    scene: str,
    memory_objects: int,
    max_instance_points: int,
    workdir: Path,
    max_frame_points: int = DEFAULT_MAX_FRAME_POINTS,
    compare_frame_points: int = 0,
    cloud_cell_size: float = 0.0,
    octree_discretize: bool = True,
) -> dict[str, Any]:
    started = time.perf_counter()
    frames = kitchen_walk(scene, width, height, num_frames)
    render_s = time.perf_counter() - started
    walk = [frame_messages(frame, 0.0) for frame in frames]
    extractor = ObservationExtractor(
        MaskBackend(),
        cloud_stride=CLOUD_STRIDE,
        max_instance_points=max_instance_points,
        max_frame_points=max_frame_points,
        cloud_cell_size=cloud_cell_size,
    )
    bounded = FrameBoundComparison(extractor, compare_frame_points)
    memory = LongTermMemory(workdir / f"memory_{width}x{height}.sqlite")
    objects_in_memory, stamp = build_memory(memory, walk, extractor, memory_objects)
    vocabulary = LabelVocabulary(["", *MOVABLE_LABELS])
    octree = SparseOctree(
        resolution=OCTREE_RESOLUTION,
        static_decay_rate=0.0,
        movable_decay_rate=0.05,
        movable_labels=[vocabulary.id_of(name) for name in MOVABLE_LABELS],
    )
    cache = ObjectStateCache(capacity=32, policy="household")
    old_filter = OldFilter()
    timer = Timer()
    reference: list[float] = []
    counts = {"observations": [], "cloud_points": [], "instances": [], "subsampled": []}
    # The first frame runs once untimed: the octree compiles its kernels on first use.
    untimed = Timer()
    for index, msgs in enumerate([walk[0], *walk]):
        clock = untimed if index == 0 else timer
        stamp += FRAME_PERIOD_S
        msgs = {**msgs, "stamp": stamp}
        header = Header(stamp=conversions.stamp_to_msg(stamp), frame_id=conversions.WORLD_FRAME)
        # --- perception node
        frame = clock.run("decode", decode_frame, msgs)
        cpu = time.thread_time()
        result = extractor.extract(frame)
        cpu = time.thread_time() - cpu
        stats = result.stats
        for stage in ("detect", "backproject", "outlier_filter", "summarise"):
            wall = getattr(stats, f"{stage}_s")
            clock.add(stage, wall, cpu * wall / stats.total_s if stats.total_s else 0.0)
        observation_bytes = clock.run("observation_msgs", pack_observations, header, result)
        cloud_bytes = clock.run("cloud_pack", pack_cloud, header, result)
        # --- octree node: as OctreeNode._cloud_points and _insert do it
        points, labels, objects = clock.run(
            "cloud_unpack", unpack_cloud, cloud_bytes, result, vocabulary, octree
        )
        clock.run(
            "octree_insert",
            octree.insert_point_cloud,
            points,
            np.asarray(frame.world_T_camera)[:3, 3],
            OCTREE_MAX_RANGE,
            labels,
            objects,
            stamp,
            False,
            octree_discretize,
        )
        # --- short-term memory node
        received = deserialize_message(observation_bytes, ObjectObservationArray)
        clock.run("stm_update", update_short_term, cache, received, stamp)
        # --- memory server
        observations, view = clock.run("memory_decode", decode_for_memory, received, msgs)
        clock.run("integrate_frame", memory.integrate_frame, observations, view)
        old_filter.time_frame(frame, extractor, clock)
        bounded.time_frame(frame, result, 1e3 * cpu, clock)
        if index == 0:
            continue
        reference.append(1e3 * reference_workload())
        for name, value in (
            ("observations", len(result.observations)),
            ("cloud_points", len(result.cloud_points)),
            ("instances", stats.instances),
            ("subsampled", stats.subsampled),
        ):
            counts[name].append(value)
    memory.close()
    reference_ms = float(np.percentile(reference, 50))
    stages = {
        stage: {
            **percentiles(timer.wall[stage], reference_ms),
            "cpu_p50_ms": round(float(np.percentile(timer.cpu[stage], 50)), 2),
        }
        for stage in timer.wall
    }
    nodes = {}
    for node, names_ in NODE_STAGES.items():
        wall = np.sum([timer.wall[s] for s in names_], axis=0).tolist()
        cpu = np.sum([timer.cpu[s] for s in names_], axis=0).tolist()
        nodes[node] = {
            **percentiles(wall, reference_ms),
            "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 2),
            "cpu_p95_ms": round(float(np.percentile(cpu, 95)), 2),
        }
    return {
        "resolution": f"{width}x{height}",
        "scene": scene,
        "frames": len(walk),
        "render_s": round(render_s, 1),
        "objects_in_memory": objects_in_memory,
        "per_frame": {name: round(float(np.mean(v)), 1) for name, v in counts.items()},
        "reference_p50_ms": round(reference_ms, 2),
        "stages": stages,
        "nodes": nodes,
        "old_outlier_filter": old_filter.summary(timer, reference_ms),
        "frame_point_bound": bounded.summary(timer, reference_ms),
        "targets_met": {
            "each_node_p95_le_50ms": all(n["p95_ms"] <= TARGET_NODE_P95_MS for n in nodes.values()),
            "memory_server_p95_le_10ms": nodes["memory_server"]["p95_ms"]
            <= TARGET_MEMORY_SERVER_P95_MS,
        },
    }


class OldFilter:
    """open3d's filter on every valid point of every instance: what perception ran before."""

    def __init__(self) -> None:
        try:
            import open3d
        except ImportError:
            self.open3d = None
        else:
            self.open3d = open3d

    def time_frame(self, frame: RGBDFrame, extractor: ObservationExtractor, timer: Timer) -> None:
        if self.open3d is None:
            return
        from memory_nodes.perception.observations import backproject_pixels

        valid, _ = valid_depth(frame, extractor.max_depth)
        clouds = []
        for instance in extractor.backend.detect(frame):
            pixels = instance.pixels[valid[instance.pixels]]
            if len(pixels) >= extractor.min_points:
                clouds.append(backproject_pixels(frame, pixels))

        def run() -> None:
            for points in clouds:
                if len(points) > extractor.outlier_neighbours:
                    cloud = self.open3d.geometry.PointCloud(
                        self.open3d.utility.Vector3dVector(points)
                    )
                    cloud.remove_statistical_outlier(
                        nb_neighbors=extractor.outlier_neighbours,
                        std_ratio=extractor.outlier_std_ratio,
                    )

        timer.run("old_outlier_filter", run)

    def summary(self, timer: Timer, reference_ms: float) -> dict[str, Any] | None:
        if self.open3d is None or "old_outlier_filter" not in timer.wall:
            return None
        old, new = timer.wall["old_outlier_filter"], timer.wall["outlier_filter"]
        return {
            **percentiles(old, reference_ms),
            "p50_old_over_new": round(float(np.percentile(old, 50) / np.percentile(new, 50)), 1),
        }


class FrameBoundComparison:
    """The extraction again with the per-frame point bound, on the same frames: its time next to
    the extraction's as configured, and how far its observations move from those."""

    def __init__(self, extractor: ObservationExtractor, max_frame_points: int) -> None:
        self.max_frame_points = max_frame_points
        self.extractor = ObservationExtractor(
            extractor.backend,
            max_depth=extractor.max_depth,
            min_points=extractor.min_points,
            outlier_neighbours=extractor.outlier_neighbours,
            outlier_std_ratio=extractor.outlier_std_ratio,
            cloud_stride=extractor.cloud_stride,
            max_instance_points=extractor.max_instance_points,
            max_frame_points=max_frame_points,
        )
        self.configured_cpu_ms: list[float] = []
        self.centroid_m: list[float] = []
        self.box_corner_m: list[float] = []

    def time_frame(
        self,
        frame: RGBDFrame,
        configured: FrameObservations,
        configured_cpu_ms: float,
        timer: Timer,
    ) -> None:
        if self.max_frame_points <= 0:
            return
        timer.add("extract_configured", configured.stats.total_s, 1e-3 * configured_cpu_ms)
        result = timer.run("extract_frame_bound", self.extractor.extract, frame)
        by_id = {o.object_id: o for o in configured.observations}
        for observation in result.observations:
            other = by_id[observation.object_id]
            self.centroid_m.append(
                observation.world_T_object.position.distance_to(other.world_T_object.position)
            )
            self.box_corner_m.append(
                float(
                    max(
                        np.abs(
                            np.asarray(observation.box.min_corner)
                            - np.asarray(other.box.min_corner)
                        ).max(),
                        np.abs(
                            np.asarray(observation.box.max_corner)
                            - np.asarray(other.box.max_corner)
                        ).max(),
                    )
                )
            )

    def summary(self, timer: Timer, reference_ms: float) -> dict[str, Any] | None:
        if self.max_frame_points <= 0 or "extract_frame_bound" not in timer.wall:
            return None
        bounded, configured = timer.wall["extract_frame_bound"], timer.wall["extract_configured"]
        centroid_cm, box_cm = 100 * np.asarray(self.centroid_m), 100 * np.asarray(self.box_corner_m)
        return {
            "max_frame_points": self.max_frame_points,
            "extract": {
                **percentiles(bounded, reference_ms),
                "cpu_p50_ms": round(float(np.percentile(timer.cpu["extract_frame_bound"], 50)), 2),
                "cpu_p95_ms": round(float(np.percentile(timer.cpu["extract_frame_bound"], 95)), 2),
            },
            "extract_as_configured": {
                **percentiles(configured, reference_ms),
                "cpu_p50_ms": round(float(np.percentile(timer.cpu["extract_configured"], 50)), 2),
                "cpu_p95_ms": round(float(np.percentile(timer.cpu["extract_configured"], 95)), 2),
            },
            "p95_bound_over_configured": round(
                float(np.percentile(bounded, 95) / np.percentile(configured, 95)), 2
            ),
            "observations_moved": int(np.count_nonzero(centroid_cm > 1e-7)),
            "observations": len(centroid_cm),
            "centroid_cm_p50_p95_max": [
                round(float(np.percentile(centroid_cm, q)), 2) for q in (50, 95, 100)
            ],
            "box_corner_cm_p50_p95_max": [
                round(float(np.percentile(box_cm, q)), 2) for q in (50, 95, 100)
            ],
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="8 frames per resolution")
    parser.add_argument("--resolutions", nargs="+", default=["320x240", "640x480"])
    parser.add_argument("--frames", type=int, default=30, help="frames per resolution")
    parser.add_argument("--scene", default="FloorPlan1")
    parser.add_argument("--memory-objects", type=int, default=1000)
    parser.add_argument(
        "--max-instance-points",
        type=int,
        default=DEFAULT_MAX_INSTANCE_POINTS,
        help="perception's per-instance point bound (0: every pixel)",
    )
    parser.add_argument(
        "--max-frame-points",
        type=int,
        default=DEFAULT_MAX_FRAME_POINTS,
        help="perception's per-frame point bound (0: none), for every stage",
    )
    parser.add_argument(
        "--compare-frame-points",
        type=int,
        default=5000,
        help="also time the extraction with this per-frame point bound (0: skip)",
    )
    parser.add_argument(
        "--cloud-cell-size",
        type=float,
        default=0.0,
        help="perception's cloud_cell_size: one cloud point per cell of this size (0: none)",
    )
    parser.add_argument(
        "--octree-exact-rays",
        action="store_true",
        help="the octree casts a ray per point instead of one per cell (discretize off)",
    )
    args = parser.parse_args(argv)
    num_frames = min(args.frames, 8) if args.quick else args.frames
    if num_frames < 1 or num_frames > 200:
        parser.error("--frames must be within 1..200")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for resolution in args.resolutions:
            try:
                width, height = (int(v) for v in resolution.lower().split("x"))
            except ValueError:
                parser.error(f"resolution {resolution!r} is not WIDTHxHEIGHT")
            results.append(
                run_resolution(
                    width,
                    height,
                    num_frames,
                    args.scene,
                    args.memory_objects,
                    args.max_instance_points,
                    Path(folder),
                    args.max_frame_points,
                    args.compare_frame_points,
                    args.cloud_cell_size,
                    not args.octree_exact_rays,
                )
            )
    print(
        json.dumps(
            {
                "benchmark": "frame_pipeline",
                "max_instance_points": args.max_instance_points,
                "max_frame_points": args.max_frame_points,
                "cloud_cell_size": args.cloud_cell_size,
                "octree_discretize": not args.octree_exact_rays,
                "cloud_stride": CLOUD_STRIDE,
                "reference": "np.sort(np.sin(200,000 float64)), timed after every frame",
                "targets": {
                    "node_p95_ms": TARGET_NODE_P95_MS,
                    "memory_server_p95_ms": TARGET_MEMORY_SERVER_P95_MS,
                },
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
