"""ROS adapter of long-term memory (:mod:`memory_nodes.core.long_term`).

Subscribes
    ``observations`` (ObjectObservationArray, one message per camera frame). With change
    detection on, each is paired by stamp with ``camera/depth/image_raw``,
    ``camera/color/camera_info`` and ``camera/pose`` so that objects that should have been
    seen but were not lose confidence.
    ``consolidations`` (from short-term memory) and ``action_effects`` (the robot's actions).
Publishes
    ``scene_graph/updates`` (SceneGraphUpdate deltas, JSON) and ``scene_graph/markers``
    (MarkerArray for RViz).
Serves
    ``~/query_objects``, ``~/get_scene_graph``, ``~/what_changed``, ``~/save_memory``,
    ``~/load_memory``, ``~/report_missing`` (the robot did not find an object where memory
    placed it: marked missing and committed) and ``~/object_history`` (an object's earlier
    resting places, newest first).

Ingestion and services run in separate callback groups on the multi-threaded executor (the
services' group is reentrant), and one :class:`MemoryGate` guards memory between them: a long
frame lets queued queries in after each observation, so no query waits for a whole frame. A
frame is refused whole, before its observations are converted, when it carries more than
``max_observations_per_frame``.
Services keep ``service_queue_depth`` requests queued: a shallow queue (ROS's default, 10)
silently dropped requests under twenty clients.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from geometry_msgs.msg import PoseStamped
from memory_interfaces.msg import ObjectObservationArray, SceneGraphUpdate
from memory_interfaces.srv import (
    GetSceneGraph,
    LoadMemory,
    ObjectHistory,
    QueryObjects,
    ReportMissing,
    SaveMemory,
    WhatChanged,
)
from rcl_interfaces.msg import (
    ParameterDescriptor,
)
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import (
    qos_profile_sensor_data,
)
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from memory_nodes.core.change_detection import CameraView
from memory_nodes.core.errors import InvalidInputError, MemoryStackError, clip_text
from memory_nodes.core.long_term import (
    EARLIER_PLACE_MIN_DISTANCE_M,
    MAP_EXTENT_M,
    MAX_OBSERVATIONS_PER_FRAME,
    LongTermMemory,
    ObjectQuery,
)
from memory_nodes.core.scene_graph import (
    DEFAULT_POSE_CHANGE_MIN_ANGLE_RAD,
    DEFAULT_POSE_CHANGE_MIN_DISTANCE_M,
)
from memory_nodes.core.store import (
    DEFAULT_MAX_CHANGE_ROWS,
    JSON_FORMAT,
    JSON_VERSION,
    change_to_dict,
    graph_to_json,
)
from memory_nodes.nodes import conversions
from memory_nodes.nodes.images import image_to_numpy
from memory_nodes.nodes.markers import scene_graph_markers
from memory_nodes.nodes.parameters import float_parameter, int_parameter
from memory_nodes.nodes.runtime import run_node
from memory_nodes.nodes.service_qos import SERVICE_QUEUE_DEPTH, service_qos
from memory_nodes.nodes.service_thread import ServiceThread
from memory_nodes.perception.frames import depth_to_metres
from memory_nodes.perception.sync import StampSynchronizer

DELTA_FORMAT = "memory_nodes.scene_graph_delta"
#: Characters of message-supplied text quoted in a log line.
LOG_TEXT_CHARS = 120
#: Python's thread switch interval in this process (default 5 ms): a query thread waiting for
#: the interpreter while a frame is fused gets it within this long, not 5 ms per hand-over
#: (10k objects, 10 Hz frames: query p99 14 ms at 0.1 ms against 22 ms at 0.5 ms; frames no
#: slower).
THREAD_SWITCH_INTERVAL_S = 0.0001
#: Longest a free-text query waits for the model's background load before loading it itself.
TEXT_MODEL_WAIT_S = 120.0


class _CdrReader:
    """Reads CDR (XCDR1) primitives; alignment counts from the end of the 4-byte header."""

    __slots__ = ("data", "order", "pos")

    def __init__(self, raw: bytes) -> None:
        if len(raw) < 4 or raw[0] != 0 or raw[1] not in (0, 1):
            raise ValueError("not a CDR-encapsulated message")
        self.data, self.pos, self.order = raw, 4, "<" if raw[1] == 1 else ">"

    def _take(self, fmt: str, size: int, align: int) -> tuple:
        self.pos += -(self.pos - 4) % align
        values = struct.unpack_from(self.order + fmt, self.data, self.pos)
        self.pos += size
        return values

    def u32(self) -> int:
        return self._take("I", 4, 4)[0]

    def i32(self) -> int:
        return self._take("i", 4, 4)[0]

    def f32(self) -> float:
        return self._take("f", 4, 4)[0]

    def f64s(self, n: int) -> tuple:
        return self._take(f"{n}d", 8 * n, 8)

    def string(self) -> str:
        length = self.u32()
        end = self.pos + length
        if end > len(self.data):
            raise ValueError("string runs past the end of the message")
        text = self.data[self.pos : max(end - 1, self.pos)].decode("utf-8")
        self.pos = end
        return text


def _xyz(values: tuple) -> SimpleNamespace:
    return SimpleNamespace(x=values[0], y=values[1], z=values[2])


def decode_observation_array(raw: bytes) -> SimpleNamespace:
    """An ObjectObservationArray from its CDR bytes, read in Python.

    rclpy's deserialiser is C code that holds the interpreter lock for the whole message
    (about 50 ms for 300 observations on a loaded machine), so no query thread could run
    meanwhile; this reader is interrupted like any Python code. The result has the message's
    attributes (``header.stamp``, ``observations[i].pose.position.x``, ...), so the same
    conversions apply. Raises ValueError (or struct.error) on bytes it cannot read.
    """
    reader = _CdrReader(raw)

    def _header() -> SimpleNamespace:
        sec, nanosec = reader.i32(), reader.u32()
        return SimpleNamespace(
            stamp=SimpleNamespace(sec=sec, nanosec=nanosec), frame_id=reader.string()
        )

    header = _header()
    observations = []
    for _ in range(reader.u32()):
        item = SimpleNamespace(header=_header())
        item.object_id, item.object_type = reader.string(), reader.string()
        pose = reader.f64s(7)
        item.pose = SimpleNamespace(
            position=_xyz(pose[:3]),
            orientation=SimpleNamespace(x=pose[3], y=pose[4], z=pose[5], w=pose[6]),
        )
        item.box_center, item.box_size = _xyz(reader.f64s(3)), _xyz(reader.f64s(3))
        item.states = [
            SimpleNamespace(key=reader.string(), value=reader.string()) for _ in range(reader.u32())
        ]
        item.confidence = reader.f32()
        item.source, item.source_frame_id = reader.string(), reader.string()
        item.num_points = reader.u32()
        item.receptacle_id, item.receptacle_relation = reader.string(), reader.string()
        observations.append(item)
    if len(raw) - reader.pos >= 4:  # only alignment padding may follow
        raise ValueError("bytes left after the last observation")
    return SimpleNamespace(header=header, observations=observations)


def observation_count(raw: bytes) -> int | None:
    """How many observations a serialised ObjectObservationArray holds, read from its CDR
    bytes without deserialising it (None if the bytes are not what is expected).

    Layout: 4-byte encapsulation header, then the Header (int32 sec, uint32 nanosec, string
    frame_id as uint32 length + bytes), padding to 4 bytes, and the sequence's uint32 length.
    Deserialising 10,000 observations takes seconds in Python; this takes microseconds.
    """
    if len(raw) < 20 or raw[0] != 0 or raw[1] not in (0, 1):
        return None
    order = "little" if raw[1] == 1 else "big"
    body = 4
    length = int.from_bytes(raw[body + 8 : body + 12], order)
    offset = 12 + length
    offset += -offset % 4
    if body + offset + 4 > len(raw):
        return None
    return int.from_bytes(raw[body + offset : body + offset + 4], order)


class MemoryGate:
    """One lock over memory, granted in arrival order (a plain lock is not fair).

    Writers (a frame, a batch, a load) and readers (queries) queue for it by ticket. A writer
    in a long frame calls :meth:`checkpoint` after each observation, when the graph is
    consistent: if readers are queued it steps aside until every reader that queued before
    the checkpoint has run, then resumes. Readers that arrive later wait for the next
    checkpoint, so a steady stream of queries cannot starve ingestion. While a writer is in
    its :meth:`commit_window` (writing to disk what it changed, reading the graph only),
    readers of the graph alone (``read(graph_only=True)``) go in too. Callers hold the gate
    one at a time otherwise (readers do not share it): answers convert through one message
    cache.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._turn = 0
        self._waiting_readers: set[int] = set()
        self._waiting_graph_readers = 0
        self._served_early: set[int] = set()
        self._pause_below: int | None = None
        self._commit_open = False
        self._reader_inside_early = False

    @contextmanager
    def write(self) -> Iterator[None]:
        ticket, _ = self._enter(reader=False, graph_only=False)
        try:
            yield
        finally:
            self._leave(ticket, early=False)

    @contextmanager
    def read(self, graph_only: bool = False) -> Iterator[None]:
        """Hold memory for reading; ``graph_only``: the caller reads the in-memory graph and
        nothing else (not the database), so it may also go in during a commit window."""
        ticket, early = self._enter(reader=True, graph_only=graph_only)
        try:
            yield
        finally:
            self._leave(ticket, early=early)

    def checkpoint(self) -> None:
        """Let queued readers run (only the writer holding the gate calls this)."""
        with self._cond:
            if not self._waiting_readers:
                return
            mark = self._next_ticket
            self._pause_below = mark
            self._cond.notify_all()
            while self._reader_inside_early or any(t < mark for t in self._waiting_readers):
                self._cond.wait()
            self._pause_below = None

    @contextmanager
    def commit_window(self) -> Iterator[None]:
        """The writer holding the gate only reads the graph meanwhile: graph readers go in.

        On leaving, the writer waits for the reader inside, so it never changes the graph
        under a reader.
        """
        with self._cond:
            self._commit_open = True
            if self._waiting_graph_readers:
                self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._commit_open = False
                while self._reader_inside_early:
                    self._cond.wait()

    def _enter(self, *, reader: bool, graph_only: bool) -> tuple[int, bool]:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            if reader:
                self._waiting_readers.add(ticket)
                self._waiting_graph_readers += graph_only
            while True:
                if self._turn == ticket:
                    early = False
                    break
                if reader and not self._reader_inside_early:
                    paused = self._pause_below is not None and ticket < self._pause_below
                    if paused or (graph_only and self._commit_open):
                        early = self._reader_inside_early = True
                        break
                self._cond.wait()
            if reader:
                self._waiting_readers.discard(ticket)
                self._waiting_graph_readers -= graph_only
            return ticket, early

    def _leave(self, ticket: int, *, early: bool) -> None:
        with self._cond:
            if early:
                self._reader_inside_early = False
                self._served_early.add(ticket)
            else:
                self._turn += 1
                while self._turn in self._served_early:
                    self._served_early.discard(self._turn)
                    self._turn += 1
            self._cond.notify_all()


class _Stopwatch:
    """Wall time of the start and the seconds between successive marks."""

    __slots__ = ("_last", "laps", "wall")

    def __init__(self) -> None:
        self.wall = time.time()
        self._last = time.perf_counter()
        self.laps: list[float] = []

    def mark(self) -> None:
        now = time.perf_counter()
        self.laps.append(now - self._last)
        self._last = now


class ServerTiming:
    """Where queries' and frames' time went (debugging; off when ``path`` is empty).

    Rows are ``[wall start, lap, lap, ...]`` kept in memory (bounded) and written as JSON at
    :meth:`write`; recording costs a few microseconds.
    """

    MAX_ROWS = 200_000

    def __init__(self, path: str) -> None:
        self.path = path
        self.rows: dict[str, list[list[float]]] = {"queries": [], "frames": []}

    @property
    def enabled(self) -> bool:
        return bool(self.path)

    def start(self) -> _Stopwatch:
        return _Stopwatch()

    def add_query(self, watch: _Stopwatch) -> None:
        """Laps: gate wait, query, conversion; and the callback's whole time."""
        self._add("queries", watch, [sum(watch.laps)])

    def add_frame(self, watch: _Stopwatch) -> None:
        """Laps: conversion, gate wait, time memory was held."""
        self._add("frames", watch, [])

    def _add(self, kind: str, watch: _Stopwatch, extra: list[float]) -> None:
        rows = self.rows[kind]
        if self.enabled and len(rows) < self.MAX_ROWS:
            rows.append([watch.wall, *watch.laps, *extra])

    def write(self) -> None:
        if self.enabled:
            Path(self.path).write_text(json.dumps(self.rows))


class MemoryServer(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("memory_server", **node_kwargs)
        if sys.getswitchinterval() > THREAD_SWITCH_INTERVAL_S:
            sys.setswitchinterval(THREAD_SWITCH_INTERVAL_S)
        declare = self.declare_parameter
        declare("database_path", str(Path.home() / ".ros" / "memory_nodes" / "memory.sqlite"))
        declare("change_detection", True)
        declare("depth_topic", "camera/depth/image_raw")
        declare("camera_info_topic", "camera/color/camera_info")
        declare("camera_pose_topic", "camera/pose")
        declare("sync_slop_s", 0.02)
        declare("marker_period_s", 1.0)
        declare(
            "max_observations_per_frame",
            MAX_OBSERVATIONS_PER_FRAME,
            int_parameter(
                "A frame, consolidation or action-effects message with more observations is "
                "refused whole, before conversion (bounds a frame's cost)",
                1,
                100_000,
            ),
        )
        declare(
            "map_extent_m",
            MAP_EXTENT_M,
            float_parameter(
                "Observations with a coordinate farther than this from the map origin (m) are "
                "refused",
                1.0,
                1.0e6,
            ),
        )
        declare(
            "change_history_max_rows",
            DEFAULT_MAX_CHANGE_ROWS,
            int_parameter(
                "Changes the database keeps for what_changed (older ones are pruned; 0 keeps all)",
                0,
                1_000_000_000,
            ),
        )
        declare(
            "change_history_max_age_s",
            0.0,
            float_parameter(
                "Changes older than this before the newest one are pruned (0: no age limit)",
                0.0,
                1.0e9,
            ),
        )
        declare(
            "pose_change_min_distance_m",
            DEFAULT_POSE_CHANGE_MIN_DISTANCE_M,
            float_parameter(
                "Pose updates smaller than this (m) are sensor jitter: the fused pose is kept "
                "and written, no change is logged (0 logs every update)",
                0.0,
                1.0,
            ),
        )
        declare(
            "service_queue_depth",
            SERVICE_QUEUE_DEPTH,
            int_parameter("Requests each service keeps queued (reliable)", 1, 100_000),
        )
        declare(
            "warm_up_text_model",
            False,
            ParameterDescriptor(
                description="Load the free-text query model in the background at start (several "
                "seconds of CPU), so no text query pays for it; off: the first text query loads it"
            ),
        )
        declare(
            "query_service_thread",
            True,
            ParameterDescriptor(
                description="Answer query_objects from a thread of its own (drains every queued "
                "request per wake); off: from the node's executor like the other services",
                read_only=True,
            ),
        )
        declare(
            "timing_report_path",
            "",
            ParameterDescriptor(
                description="Debugging: where each query's and frame's time went is written to "
                "this JSON file when the node stops ('' records nothing)"
            ),
        )
        param = self.get_parameter
        database = os.path.expandvars(os.path.expanduser(param("database_path").value))
        self.max_observations = int(param("max_observations_per_frame").value)
        self.pose_change_min_distance = float(param("pose_change_min_distance_m").value)
        # The clock lets memory refuse observations stamped in the future (a bad clock).
        self.memory = LongTermMemory(
            database,
            clock=self._now,
            max_observations_per_frame=self.max_observations,
            map_extent_m=float(param("map_extent_m").value),
        )
        self.memory.store.set_change_history(
            int(param("change_history_max_rows").value),
            float(param("change_history_max_age_s").value),
        )
        self._configure_graph()
        self.gate = MemoryGate()
        # Every store write happens inside gate.write(), so the store may yield there too.
        self.memory.store.set_checkpoint(self.gate.checkpoint)
        # Queries need not wait for the disk: a commit only reads the graph.
        self.memory.store.set_commit_window(self.gate.commit_window)
        self.sequence = 0
        self._pending_deltas: deque[tuple[int, list]] = deque()
        self._publish_lock = threading.Lock()
        self.change_detection = bool(param("change_detection").value)
        self.record_msgs = conversions.RecordMessageCache()
        self._refused_since_warning = 0
        self.timing = ServerTiming(str(param("timing_report_path").value))

        ingestion = MutuallyExclusiveCallbackGroup()
        # Reentrant: the gate orders the callbacks that touch memory, and a free-text query
        # waiting for the model (outside the gate) does not hold back the queries behind it.
        services = ReentrantCallbackGroup()
        self.update_pub = self.create_publisher(SceneGraphUpdate, "scene_graph/updates", 10)
        self.marker_pub = self.create_publisher(MarkerArray, "scene_graph/markers", 1)
        # Observation arrays arrive serialised: their size is checked before deserialising.
        self.create_subscription(
            ObjectObservationArray,
            "consolidations",
            self._raw(self._on_consolidate, "consolidation"),
            10,
            callback_group=ingestion,
            raw=True,
        )
        self.create_subscription(
            ObjectObservationArray,
            "action_effects",
            self._raw(self._on_effects, "action effects message"),
            10,
            callback_group=ingestion,
            raw=True,
        )
        streams = ["observations"]
        if self.change_detection:
            streams += ["depth", "info", "pose"]
            qos = qos_profile_sensor_data
            for msg_type, topic, stream in (
                (Image, param("depth_topic").value, "depth"),
                (CameraInfo, param("camera_info_topic").value, "info"),
                (PoseStamped, param("camera_pose_topic").value, "pose"),
            ):
                self.create_subscription(
                    msg_type, topic, self._feed(stream), qos, callback_group=ingestion
                )
        self.sync = StampSynchronizer(streams, slop=float(param("sync_slop_s").value))
        self.create_subscription(
            ObjectObservationArray,
            "observations",
            self._raw(self._feed("observations"), "frame"),
            10,
            callback_group=ingestion,
            raw=True,
        )
        queue_qos = service_qos(int(param("service_queue_depth").value))
        services_on_executor = [
            (GetSceneGraph, "~/get_scene_graph", self._on_get_graph),
            (WhatChanged, "~/what_changed", self._on_what_changed),
            (SaveMemory, "~/save_memory", self._on_save),
            (LoadMemory, "~/load_memory", self._on_load),
            (ReportMissing, "~/report_missing", self._on_report_missing),
            (ObjectHistory, "~/object_history", self._on_object_history),
        ]
        # The hot service gets a thread of its own: the executor's per-request overhead is
        # several times a query's cost (see service_thread).
        self.query_thread: ServiceThread | None = None
        if param("query_service_thread").value:
            self.query_thread = ServiceThread(self, "memory_queries")
            self.query_thread.add(
                QueryObjects,
                "~/query_objects",
                self._on_query,
                queue_qos,
                # A text query may wait for the model or spend tens of ms encoding: a worker
                # answers it, so the queries behind it are not held back.
                defer=lambda request: bool(request.text),
            )
        else:
            services_on_executor.append((QueryObjects, "~/query_objects", self._on_query))
        for srv_type, name, callback in services_on_executor:
            self.create_service(
                srv_type, name, callback, qos_profile=queue_qos, callback_group=services
            )
        self.create_timer(
            max(float(param("marker_period_s").value), 0.1),
            self._publish_markers,
            callback_group=services,
        )
        self.get_logger().info(
            f"long-term memory ready: {self.memory.graph.num_nodes()} nodes from "
            f"{self.memory.database}"
        )
        self.text_model_ready = threading.Event()
        # Set once the background load has ended, loaded or not (at once without one).
        self.text_model_settled = threading.Event()
        if not param("warm_up_text_model").value:
            self.text_model_settled.set()
        else:
            # In the background: loading takes seconds and every other query is answered now.
            threading.Thread(
                target=self._warm_up_text_model, name="text_model_warm_up", daemon=True
            ).start()
        if self.query_thread is not None:
            self.query_thread.start()

    def _warm_up_text_model(self) -> None:
        started = time.perf_counter()
        try:
            loaded = self.memory.warm_up()
        except Exception as error:  # a broken model must not take the node down
            self.get_logger().warning(f"free-text model failed to load: {_clip(error)}")
            return
        finally:
            self.text_model_settled.set()
        if not loaded:
            self.get_logger().warning(
                "free-text model not installed: text queries will be refused, others work"
            )
            return
        self.text_model_ready.set()
        self.get_logger().info(f"free-text model loaded in {time.perf_counter() - started:.1f} s")

    def _configure_graph(self) -> None:
        """Settings of the graph object, which a load replaces."""
        self.memory.graph.set_jitter_threshold(
            self.pose_change_min_distance, DEFAULT_POSE_CHANGE_MIN_ANGLE_RAD
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=conversions.WORLD_FRAME)

    # ----------------------------------------------------------------------------- inputs
    def _raw(self, callback, what: str):
        """A callback of serialised observation arrays: refused whole when over the limit,
        else deserialised and passed on."""

        def _callback(raw: bytes) -> None:
            count = observation_count(raw)
            if count is not None and count > self.max_observations:
                self._refuse(count, what)
                return
            try:
                msg = decode_observation_array(raw)
            except (ValueError, struct.error):  # not the layout expected: rclpy's reader
                try:
                    msg = deserialize_message(raw, ObjectObservationArray)
                except Exception as error:  # rclpy raises several kinds for bad bytes
                    self.get_logger().warning(f"{what} does not deserialise: {_clip(error)}")
                    return
            callback(msg)

        return _callback

    def _feed(self, stream: str):
        def _callback(msg: Any) -> None:
            if stream == "observations" and not self._within_limit(msg, "frame"):
                return
            stamp = conversions.stamp_from_msg(msg.header.stamp)
            complete = self.sync.add(stream, stamp, msg)
            if complete is not None:
                self._on_frame(complete)

        return _callback

    def _within_limit(self, msg: ObjectObservationArray, what: str) -> bool:
        """False (with one warning) for a message over ``max_observations_per_frame``.

        Checked on the message, before any observation is converted: converting a
        10,000-observation flood is already most of its cost.
        """
        count = len(msg.observations)
        if count <= self.max_observations:
            return True
        self._refuse(count, what)
        return False

    def _refuse(self, count: int, what: str) -> None:
        self.get_logger().warning(
            f"{what} with {count} observations refused whole: more than "
            f"max_observations_per_frame ({self.max_observations})"
        )

    def _observations(self, msg: ObjectObservationArray, what: str) -> list:
        """The message's observations that convert; one warning line for those that do not."""
        items, rejected = [], []
        for index, item in enumerate(msg.observations):
            try:
                items.append(conversions.observation_from_msg(item))
            except ValueError as error:
                rejected.append((index, error))
        if rejected:
            index, error = rejected[0]
            self.get_logger().warning(
                f"{len(rejected)} of {len(msg.observations)} {what}s rejected; first, "
                f"{what} {index}: {_clip(error)}"
            )
        return items

    def _on_frame(self, msgs: dict[str, Any]) -> None:
        # Conversion happens outside the gate: queries need not wait for it.
        timing = self.timing.start()
        observations = self._observations(msgs["observations"], "observation")
        try:
            view = None
            if self.change_detection:
                view = CameraView(
                    intrinsics=conversions.intrinsics_from_msg(msgs["info"]),
                    world_T_camera=conversions.pose_from_msg(msgs["pose"].pose),
                    depth=depth_to_metres(image_to_numpy(msgs["depth"]), msgs["depth"].encoding),
                    stamp=conversions.stamp_from_msg(msgs["observations"].header.stamp),
                )
        except (MemoryStackError, ValueError) as error:
            self.get_logger().warning(f"frame rejected: {_clip(error)}")
            return
        timing.mark()
        with self._writing():
            timing.mark()
            try:
                # The topic names the source; whatever the message claims is not trusted.
                self.memory.integrate_frame(
                    observations, view, source="perception", checkpoint=self.gate.checkpoint
                )
            except (MemoryStackError, ValueError) as error:
                self.get_logger().warning(f"frame rejected: {_clip(error)}")
                return
            self._publish_delta()
            timing.mark()
        self.timing.add_frame(timing)

    def _on_consolidate(self, msg: ObjectObservationArray) -> None:
        if not self._within_limit(msg, "consolidation"):
            return
        entries = self._observations(msg, "consolidated entry")
        if not entries:
            return
        with self._writing():
            try:
                self.memory.consolidate(
                    entries, source="consolidation", checkpoint=self.gate.checkpoint
                )
            except MemoryStackError as error:  # memory refused the batch and is unchanged
                self.get_logger().warning(f"consolidation rejected: {_clip(error)}")
                return
            self._publish_delta()

    def _on_effects(self, msg: ObjectObservationArray) -> None:
        if not self._within_limit(msg, "action effects message"):
            return
        effects = self._observations(msg, "action effect")
        if not effects:
            return
        with self._writing():
            try:
                # Only this topic carries the robot's own actions: memory records "action".
                update = self.memory.apply_action_effects(effects, checkpoint=self.gate.checkpoint)
            except MemoryStackError as error:  # e.g. a put that names no relation
                self.get_logger().warning(f"action effects rejected: {_clip(error)}")
                return
            self._publish_delta()
        unknown = update.unknown_receptacles
        if unknown:
            object_id, receptacle = next(iter(unknown.items()))
            self.get_logger().info(
                f"{len(unknown)} object(s) put in/on receptacles memory does not know yet, "
                f"moved without a relation; first: {_clip(object_id)} in/on {_clip(receptacle)}"
            )

    # ---------------------------------------------------------------------------- outputs
    def _publish_delta(self) -> None:
        """Take the graph's changes as the next delta (called holding the gate).

        Only taking them and numbering the delta need the gate; the delta is serialised and
        published after the gate is released (:meth:`_flush_deltas`), so queries do not wait
        for the JSON of a large frame.
        """
        changes = self.memory.graph.pop_changes()
        if not changes:
            return
        self.sequence += 1
        self._pending_deltas.append((self.sequence, changes))

    def _flush_deltas(self) -> None:
        """Publish the deltas taken so far, in sequence order, whichever thread took them."""
        with self._publish_lock:
            while self._pending_deltas:
                sequence, changes = self._pending_deltas.popleft()
                self.update_pub.publish(
                    SceneGraphUpdate(
                        header=self._header(),
                        sequence=sequence,
                        format_version=JSON_VERSION,
                        format=DELTA_FORMAT,
                        is_full=False,
                        data=json.dumps([change_to_dict(c) for c in changes], sort_keys=True),
                    )
                )

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Memory held for a write; the deltas it took are published once it is released."""
        try:
            with self.gate.write():
                yield
        finally:
            self._flush_deltas()

    def _publish_markers(self) -> None:
        if self.marker_pub.get_subscription_count():
            with self.gate.read():
                markers = scene_graph_markers(self.memory.graph, self._header())
            self.marker_pub.publish(markers)

    # --------------------------------------------------------------------------- services
    def _on_query(
        self, request: QueryObjects.Request, response: QueryObjects.Response
    ) -> QueryObjects.Response:
        try:
            query = ObjectQuery(
                object_type=request.object_type,
                text=request.text,
                near=conversions.point_to_vector(request.near) if request.use_near else None,
                radius=float(request.radius),
                receptacle=request.receptacle_id,
                room=request.room_id,
                max_age_s=float(request.max_age_s),
                max_results=int(request.max_results),
            )
            if request.text:
                # Waits for the model here, not holding memory: other queries and frames go on.
                self.text_model_settled.wait(TEXT_MODEL_WAIT_S)
            timing = self.timing.start()
            now = self._now()
            with self.gate.read(graph_only=True):  # reads the graph, never the database
                timing.mark()
                records = self.memory.query(query, now=now)
                timing.mark()
                conversions.fill_query_answer(response, records, request.compact, self.record_msgs)
                timing.mark()
            self.timing.add_query(timing)
        except (MemoryStackError, ValueError, KeyError) as error:
            response.success, response.message = False, _clip(error)
            return response
        response.success = True
        response.message = f"{len(records)} from long-term memory"
        return response

    def _on_get_graph(
        self, request: GetSceneGraph.Request, response: GetSceneGraph.Response
    ) -> GetSceneGraph.Response:
        if request.format not in ("", JSON_FORMAT, "json"):
            response.success = False
            response.message = f"unknown format {request.format!r}; available: {JSON_FORMAT}"
            return response
        with self.gate.read():
            response.format_version, response.sequence = JSON_VERSION, self.memory.graph.sequence
            response.data = graph_to_json(self.memory.graph)
        response.success, response.format = True, JSON_FORMAT
        return response

    def _on_what_changed(
        self, request: WhatChanged.Request, response: WhatChanged.Response
    ) -> WhatChanged.Response:
        since = conversions.stamp_from_msg(request.since)
        # A frame commits only after its last checkpoint: the file holds no open transaction.
        with self.gate.read():
            changes = self.memory.changes_since(since)
        response.changes = [json.dumps(change_to_dict(c), sort_keys=True) for c in changes]
        response.success = True
        response.message = f"{len(response.changes)} changes since {since:.3f}"
        return response

    def _on_save(self, request: SaveMemory.Request, response: SaveMemory.Response):
        try:
            with self.gate.read():  # the graph is consistent at a checkpoint
                path = self.memory.save(request.path)
        except (MemoryStackError, OSError) as error:
            response.success, response.message = False, f"save failed: {error}"
            return response
        response.success, response.message = True, f"saved to {path}"
        self.get_logger().info(response.message)
        return response

    def _on_load(self, request: LoadMemory.Request, response: LoadMemory.Response):
        try:
            with self._writing():
                response.num_objects = self.memory.load(request.path)
                self._configure_graph()
                self._publish_delta()
        except (MemoryStackError, OSError, ValueError) as error:
            response.success = False
            response.message = f"load failed, memory unchanged: {_clip(error)}"
            return response
        response.success, response.message = True, f"loaded {_clip(request.path)}"
        self.get_logger().info(f"{response.message}: {response.num_objects} objects")
        return response

    def _on_report_missing(
        self, request: ReportMissing.Request, response: ReportMissing.Response
    ) -> ReportMissing.Response:
        object_id, stamp = request.object_id, float(request.stamp) or self._now()
        # The same guard as for observations: a stamp from the future would outrank every
        # later sighting of the object in its history.
        latest = self._now() + self.memory.max_future_s
        response.success = False
        response.message = conversions.report_missing_error(object_id, stamp, latest)
        if response.message:
            return response
        response.success = True
        with self._writing():
            # Committed before the answer, like every write.
            response.known, marked = self.memory.report_missing(object_id, stamp)
            if not response.known:
                response.message = f"{_clip(object_id)} is not in long-term memory"
            elif not marked:
                status = self.memory.graph.resolve(object_id).status.value
                response.message = f"{_clip(object_id)} was already {status}"
            else:
                self._publish_delta()
                response.message = f"{_clip(object_id)} marked missing"
        return response

    def _on_object_history(
        self, request: ObjectHistory.Request, response: ObjectHistory.Response
    ) -> ObjectHistory.Response:
        if not request.object_id:
            response.success, response.message = False, "object_id must not be empty"
            return response
        min_distance = float(request.min_distance) or EARLIER_PLACE_MIN_DISTANCE_M
        try:
            with self.gate.read():
                records = self.memory.earlier_places(request.object_id, min_distance)
        except InvalidInputError as error:
            response.success, response.message = False, _clip(error)
            return response
        # Not through the message cache: it keeps one message per object, and these are
        # the same object at other places.
        response.records = [conversions.record_to_msg(r) for r in records]
        response.success = True
        response.message = f"{len(records)} earlier places of {_clip(request.object_id)}"
        return response

    def destroy_node(self) -> None:
        query_thread = getattr(self, "query_thread", None)
        if query_thread is not None:
            query_thread.stop()
        timing = getattr(self, "timing", None)
        if timing is not None:
            timing.write()
        memory = getattr(self, "memory", None)  # None when a bad parameter stopped __init__
        if memory is not None:
            memory.close()
        super().destroy_node()


def _clip(value: object) -> str:
    """Text for a log line or answer, cut so that a huge message cannot flood the log."""
    text = str(value)
    return text if len(text) <= LOG_TEXT_CHARS else clip_text(text, LOG_TEXT_CHARS)


NODE_CLASS = MemoryServer


def main(args: list[str] | None = None) -> int:
    return run_node(MemoryServer, args)


if __name__ == "__main__":
    sys.exit(main())
