"""The planner's world and memory behind ROS topics and services.

:class:`~memory_nodes.planning.executor.TaskExecutor` wants a robot's skills and a
:class:`~memory_nodes.planning.memory_interface.TaskMemory`. On a robot both live in other
processes:

:class:`RosWorld`
    ``step(action) -> (metadata, frames)`` over the simulator bridge: sends each AI2-THOR action
    to ``/sim_bridge/execute``, reads the robot's own observation from the answer and pairs it,
    by header stamp, with the camera topics the bridge published for that action, in the frames
    layout :class:`~memory_nodes.adapters.ai2thor_perception.SimPerception` reads. The planner
    node drives it through :class:`~memory_nodes.adapters.ai2thor_skills.AI2ThorSkills`, the
    same skills the evaluation runs in-process.
:class:`RosMemory`
    Asks short-term memory, then long-term memory (``query_objects`` services), tells both
    what the robot did not find (``report_missing``), asks long-term memory for an object's
    earlier places (``object_history``), and publishes what the robot's actions did on
    ``action_effects``.

Both wait for answers from inside the action server's callback, so their clients and
subscriptions belong to a reentrant callback group and the waits are plain thread waits with a
deadline (never a nested spin): with a multi-threaded executor another thread delivers the
answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from memory_interfaces.msg import InstanceLabels, ObjectObservationArray
from memory_interfaces.srv import ExecuteAction, ObjectHistory, QueryObjects, ReportMissing
from rclpy.callback_groups import CallbackGroup, ReentrantCallbackGroup
from rclpy.client import Client
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, Image

from memory_nodes.adapters.ai2thor_perception import unity_to_map
from memory_nodes.core.errors import BridgeError, TaskCanceledError
from memory_nodes.core.types import ObjectObservation, ObjectRecord
from memory_nodes.nodes import conversions
from memory_nodes.nodes.images import image_to_numpy
from memory_nodes.nodes.service_qos import service_qos
from memory_nodes.perception.frames import color_to_rgb, depth_to_metres
from memory_nodes.planning.executor import TaskExecutor
from memory_nodes.planning.memory_interface import ActionEffect
from memory_nodes.planning.navigation import ReachableGrid
from memory_nodes.planning.percept import Percept
from memory_nodes.planning.subgoals import Subgoal

__all__ = [  # the errors are raised here; they live with the others in core/errors.py
    "BridgeError",
    "CameraTopics",
    "FrameBuffer",
    "MemoryMode",
    "ProgressTaskExecutor",
    "RosMemory",
    "RosWorld",
    "TaskCanceledError",
    "load_navigation_map",
]


def wait_for_future(
    future: Future, timeout_s: float, interrupt: threading.Event | None = None
) -> bool:
    """Block this thread until ``future`` is done or ``timeout_s`` passes (True if done).

    Another executor thread completes the future; this one must not spin, because the node
    is already being spun by the executor that called us. ``interrupt`` ends the wait early
    (the node is shutting down).
    """
    done = threading.Event()
    future.add_done_callback(lambda _future: done.set())
    deadline = time.monotonic() + timeout_s
    while not future.done():
        left = deadline - time.monotonic()
        if left <= 0 or (interrupt is not None and interrupt.is_set()):
            return False
        done.wait(min(left, 0.02))
    return True


def call_with_deadline(
    client: Client, request: Any, timeout_s: float, interrupt: threading.Event | None = None
) -> Any:
    """One service call with a deadline covering discovery and the answer.

    Raises
    ------
    TimeoutError
        The service did not appear or did not answer within ``timeout_s`` (or ``interrupt``
        was set).
    """
    deadline = time.monotonic() + timeout_s
    while not client.service_is_ready():
        if time.monotonic() >= deadline or (interrupt is not None and interrupt.is_set()):
            raise TimeoutError(f"service {client.srv_name} is not available")
        time.sleep(0.02)
    future = client.call_async(request)
    if not wait_for_future(future, max(0.0, deadline - time.monotonic()), interrupt):
        future.cancel()
        client.remove_pending_request(future)
        raise TimeoutError(f"service {client.srv_name} did not answer within {timeout_s:.1f} s")
    return future.result()


@dataclass(frozen=True)
class CameraTopics:
    """Topic names of one camera frame, as the simulator bridge publishes them."""

    color: str = "camera/color/image_raw"
    depth: str = "camera/depth/image_raw"
    camera_info: str = "camera/color/camera_info"
    pose: str = "camera/pose"
    instance_mask: str = "camera/instance_mask"
    instance_labels: str = "camera/instance_labels"


_STREAMS = ("color", "depth", "camera_info", "pose", "instance_mask", "instance_labels")
_STREAM_TYPES = {
    "color": Image,
    "depth": Image,
    "camera_info": CameraInfo,
    "pose": PoseStamped,
    "instance_mask": Image,
    "instance_labels": InstanceLabels,
}


class FrameBuffer:
    """The newest frames, one slot per header stamp, filled stream by stream.

    The bridge publishes every topic of a frame with one stamp before it answers the action,
    but DDS may deliver them after the answer: the world waits here until every stream of the
    stamp it was told has arrived. Old stamps (the bridge's periodic frames) fall out.
    """

    def __init__(self, streams: tuple[str, ...] = _STREAMS, max_stamps: int = 16) -> None:
        self.streams = streams
        self.max_stamps = max_stamps
        self._slots: OrderedDict[tuple[int, int], dict[str, Any]] = OrderedDict()
        self._changed = threading.Condition()

    def add(self, stream: str, stamp: tuple[int, int], msg: Any) -> None:
        with self._changed:
            slot = self._slots.setdefault(stamp, {})
            slot[stream] = msg
            self._slots.move_to_end(stamp)
            while len(self._slots) > self.max_stamps:
                self._slots.popitem(last=False)
            self._changed.notify_all()

    def wait_complete(self, stamp: tuple[int, int], timeout_s: float) -> dict[str, Any] | None:
        """Every stream's message of ``stamp``, or None when one is missing at the deadline."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                slot = self._slots.get(stamp, {})
                if all(s in slot for s in self.streams):
                    return dict(slot)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)


def frames_from_msgs(msgs: dict[str, Any]) -> dict[str, Any]:
    """Camera messages of one stamp -> the frames dict :class:`SimPerception` reads.

    The pose is already the optical frame in ``map``, and the instance mask already holds ids
    with their labels, so they go in as ``map_T_camera`` and ``instance_ids`` +
    ``instance_labels`` instead of being turned back into Unity poses and colour masks.
    """
    color, depth = msgs["color"], msgs["depth"]
    labels: InstanceLabels = msgs["instance_labels"]
    if len(labels.ids) != len(labels.labels):
        raise ValueError(f"{len(labels.ids)} instance ids but {len(labels.labels)} labels")
    return {
        "frame": color_to_rgb(image_to_numpy(color), color.encoding),
        "depth_frame": depth_to_metres(image_to_numpy(depth), depth.encoding),
        "intrinsics": np.asarray(msgs["camera_info"].k, dtype=float).reshape(3, 3),
        "map_T_camera": conversions.pose_from_msg(msgs["pose"].pose).as_matrix(),
        "instance_ids": image_to_numpy(msgs["instance_mask"]).astype(np.int32),
        "instance_labels": dict(zip(map(int, labels.ids), map(str, labels.labels), strict=True)),
    }


def action_request(action: dict[str, Any]) -> ExecuteAction.Request:
    """An AI2-THOR action dict as an ExecuteAction request (``objectId`` travels apart)."""
    request = ExecuteAction.Request(action=str(action["action"]))
    request.object_id = str(action.get("objectId") or "")
    extra = {k: v for k, v in action.items() if k not in ("action", "objectId")}
    request.args_json = json.dumps(extra, sort_keys=True) if extra else ""
    return request


class RosWorld:
    """``step(action) -> (metadata, frames)`` through the simulator bridge's action service.

    Parameters
    ----------
    node
        Owns the client and subscriptions (created once, here).
    service
        The bridge's ExecuteAction service.
    topics
        Camera topics; relative names resolve in the node's namespace, as the bridge's do.
    service_timeout_s
        Deadline of one action, discovery included: a bridge that does not answer ends the
        task with :class:`BridgeError` instead of hanging it.
    frame_timeout_s
        How long to wait for the camera messages of an action's frame; a frame that does not
        arrive counts in :attr:`num_missed_frames` and the step is perceived without images.
    callback_group
        Reentrant group shared with the action server's callbacks (a fresh one by default).
    interrupt
        Set by the node when it shuts down, so no wait outlives it.
    """

    def __init__(
        self,
        node: Node,
        service: str = "/sim_bridge/execute",
        topics: CameraTopics | None = None,
        service_timeout_s: float = 10.0,
        frame_timeout_s: float = 2.0,
        callback_group: CallbackGroup | None = None,
        interrupt: threading.Event | None = None,
    ) -> None:
        self.node = node
        self.service_timeout_s = service_timeout_s
        self.frame_timeout_s = frame_timeout_s
        group = callback_group or ReentrantCallbackGroup()
        self.client = node.create_client(ExecuteAction, service, callback_group=group)
        self.buffer = FrameBuffer()
        topics = topics or CameraTopics()
        for stream in _STREAMS:
            node.create_subscription(
                _STREAM_TYPES[stream],
                getattr(topics, stream),
                self._on_message(stream),
                10,
                callback_group=group,
            )
        #: Checked before every action; returns True to cancel the running task.
        self.should_stop: Callable[[], bool] = lambda: False
        #: Set when the node shuts down: ends waits for answers at once.
        self.interrupt = interrupt or threading.Event()
        #: Calls sent, frames that did not arrive, seconds waiting for answers and frames.
        self.num_actions = 0
        self.num_missed_frames = 0
        self.bridge_time_s = 0.0
        self.frame_wait_s = 0.0
        self._connected = False
        self._metadata: dict[str, Any] = {}
        self._frames: dict[str, Any] = {}

    def _on_message(self, stream: str) -> Callable[[Any], None]:
        def _callback(msg: Any) -> None:
            stamp = msg.header.stamp
            self.buffer.add(stream, (stamp.sec, stamp.nanosec), msg)

        return _callback

    def reset_counters(self) -> None:
        self.num_actions = 0
        self.num_missed_frames = 0
        self.bridge_time_s = 0.0
        self.frame_wait_s = 0.0

    def _handshake(self, attempt_s: float = 2.0) -> None:
        """Send ``Pass`` until one answer comes back, within :attr:`service_timeout_s`.

        Right after discovery a service can look ready while its answer to this client is
        still lost (the reply reader is not matched yet). ``Pass`` changes nothing, so it is
        safe to repeat; real actions are sent once and never retried.
        """
        deadline = time.monotonic() + self.service_timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                call_with_deadline(
                    self.client,
                    ExecuteAction.Request(action="Pass"),
                    min(attempt_s, max(left, 0.0)),
                    self.interrupt,
                )
                self._connected = True
                return
            except TimeoutError as error:
                if time.monotonic() >= deadline or self.interrupt.is_set():
                    raise TimeoutError(
                        f"{error} (no answer within {self.service_timeout_s:.1f} s)"
                    ) from None
                self.node.get_logger().warning(f"bridge handshake: {error}; trying again")

    def step(self, action: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Execute one action; raises :class:`TaskCanceledError` or :class:`BridgeError`."""
        if self.should_stop():
            raise TaskCanceledError(f"canceled before {action['action']}")
        started = time.monotonic()
        try:
            if not self._connected:
                self._handshake()
            answer = call_with_deadline(
                self.client, action_request(action), self.service_timeout_s, self.interrupt
            )
        except TimeoutError as error:
            self._connected = False
            raise BridgeError(f"{action['action']}: {error}") from None
        finally:
            self.bridge_time_s += time.monotonic() - started
        self.num_actions += 1
        if not answer.observation_json:
            # Rejected before reaching the simulator (unknown action, bad arguments): nothing
            # moved, so the last observation and frame still hold.
            metadata = dict(self._metadata, lastActionSuccess=False)
            metadata["errorMessage"] = answer.error_message or "action rejected by the bridge"
            metadata["lastAction"] = action["action"]
            return metadata, self._frames
        try:
            metadata = json.loads(answer.observation_json)
        except ValueError as error:
            raise BridgeError(f"{action['action']}: bad observation_json: {error}") from None
        if not isinstance(metadata, dict) or "agent" not in metadata:
            raise BridgeError(f"{action['action']}: observation_json lacks the agent's state")
        metadata.setdefault("objects", [])
        if action["action"] == "GetReachablePositions" and "actionReturn" not in metadata:
            raise BridgeError(
                "the bridge does not report reachable positions (actionReturn of "
                "GetReachablePositions); give the planner a navigation map file instead"
            )
        stamp = (answer.frame_stamp.sec, answer.frame_stamp.nanosec)
        started = time.monotonic()
        msgs = self.buffer.wait_complete(stamp, self.frame_timeout_s)
        self.frame_wait_s += time.monotonic() - started
        frames: dict[str, Any] = {}
        if msgs is None:
            self.num_missed_frames += 1
            self.node.get_logger().warning(
                f"no complete camera frame for {action['action']} within "
                f"{self.frame_timeout_s:.1f} s; perceiving this step without images"
            )
        else:
            try:
                frames = frames_from_msgs(msgs)
            except ValueError as error:  # InvalidInputError too: a bad image is a missed frame
                self.num_missed_frames += 1
                self.node.get_logger().warning(f"camera frame rejected: {error}")
        self._metadata, self._frames = metadata, frames
        return metadata, frames


def load_navigation_map(path: str | Path) -> ReachableGrid:
    """A navigation map file: JSON ``{"grid_size": m, "positions": [{"x": .., "z": ..}, ..]}``.

    The layout is AI2-THOR's ``GetReachablePositions`` answer (Unity floor coordinates), for a
    robot whose driver cannot compute reachability on request but has a map made beforehand;
    the grid is in the map frame.
    """
    try:
        data = json.loads(Path(path).expanduser().read_text())
        positions = []
        for p in data["positions"]:
            x, y, _ = unity_to_map([p["x"], p.get("y", 0.0), p["z"]])
            positions.append((float(x), float(y)))
        return ReachableGrid(positions, float(data.get("grid_size", 0.25)))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"navigation map {path}: {error}") from None


class ProgressTaskExecutor(TaskExecutor):
    """A :class:`TaskExecutor` that reports each subgoal as it starts and ends.

    ``on_subgoal(index, subgoal, status, actions)`` is called with status ``running``, then
    ``succeeded`` or ``failed``; the action server turns it into feedback.
    """

    def __init__(
        self, *args: Any, on_subgoal: Callable[[int, Subgoal, str, int], None], **kwargs: Any
    ) -> None:
        self._on_subgoal = on_subgoal
        self._subgoal_index = -1
        super().__init__(*args, **kwargs)

    def _run_subgoal(self, subgoal: Subgoal) -> str | None:
        self._subgoal_index += 1
        index = self._subgoal_index
        self._on_subgoal(index, subgoal, "running", self.result.actions)
        try:
            object_id = super()._run_subgoal(subgoal)
        except Exception:
            self._on_subgoal(index, subgoal, "failed", self.result.actions)
            raise
        self._on_subgoal(index, subgoal, "succeeded", self.result.actions)
        return object_id


class MemoryMode(StrEnum):
    """Which memories the planner asks (``none`` explores for everything)."""

    FULL = "full"
    LONG_TERM = "long_term"
    SHORT_TERM = "short_term"
    NONE = "none"


def sibling_service(service: str, name: str) -> str:
    """``name`` in the namespace of ``service`` (``/memory_server/query_objects`` ->
    ``/memory_server/<name>``): a memory node serves all its services side by side."""
    namespace, _, _ = service.rpartition("/")
    return f"{namespace}/{name}" if namespace or service.startswith("/") else name


class RosMemory:
    """:class:`TaskMemory` over the memory nodes' services and ``action_effects`` topic.

    Besides the protocol it offers what the in-process
    :class:`~memory_nodes.planning.memory_interface.LayeredMemory` offers the executor:
    ``earlier_places`` (long-term memory's ``object_history``), ``contents_of`` (QueryObjects
    by receptacle) and ``seen_places`` (a compact QueryObjects of long-term memory).

    Parameters
    ----------
    node
        Owns the clients and the publisher.
    mode
        ``full`` asks short-term memory (newest facts) and then long-term memory; the others ask
        one memory or none. Action effects are published in every mode but ``none``.
    short_term_service, long_term_service
        QueryObjects services of the two memories; their ``report_missing`` and
        ``object_history`` services are found next to them.
    effects_topic
        ObjectObservationArray topic both memories subscribe to.
    timeout_s
        Deadline of one call; a memory that does not answer counts as knowing nothing (the
        robot can still explore), is logged, and is counted in :attr:`num_failed_queries`
        (:attr:`num_failed_reports` for missing reports).
    seen_places_ttl_s
        How long one answer of :meth:`seen_places` is reused: re-plans search again within
        seconds, and the answer lists everything memory holds.
    """

    def __init__(
        self,
        node: Node,
        mode: MemoryMode | str = MemoryMode.FULL,
        short_term_service: str = "/short_term_memory/query_objects",
        long_term_service: str = "/memory_server/query_objects",
        effects_topic: str = "action_effects",
        timeout_s: float = 2.0,
        callback_group: CallbackGroup | None = None,
        interrupt: threading.Event | None = None,
        seen_places_ttl_s: float = 5.0,
    ) -> None:
        self.node = node
        self.mode = MemoryMode(mode)
        self.name = f"ros_{self.mode.value}"
        self.timeout_s = timeout_s
        self.seen_places_ttl_s = seen_places_ttl_s
        group = callback_group or ReentrantCallbackGroup()
        # Query and report clients in the order memories are asked: short-term first.
        self.clients: list[Client] = []
        self.report_clients: list[Client] = []
        self.long_term_client: Client | None = None
        self.history_client: Client | None = None
        services = []
        if self.mode in (MemoryMode.FULL, MemoryMode.SHORT_TERM):
            services.append(short_term_service)
        if self.mode in (MemoryMode.FULL, MemoryMode.LONG_TERM):
            services.append(long_term_service)
        for service in services:
            self.clients.append(
                node.create_client(
                    QueryObjects, service, qos_profile=service_qos(), callback_group=group
                )
            )
            self.report_clients.append(
                node.create_client(
                    ReportMissing,
                    sibling_service(service, "report_missing"),
                    qos_profile=service_qos(),
                    callback_group=group,
                )
            )
        if self.mode in (MemoryMode.FULL, MemoryMode.LONG_TERM):
            self.long_term_client = self.clients[-1]
            self.history_client = node.create_client(
                ObjectHistory,
                sibling_service(long_term_service, "object_history"),
                qos_profile=service_qos(),
                callback_group=group,
            )
        self.effects_pub = node.create_publisher(ObjectObservationArray, effects_topic, 10)
        self.interrupt = interrupt or threading.Event()
        self.num_queries = 0
        self.num_failed_queries = 0
        self.num_missing_reports = 0
        self.num_failed_reports = 0
        self.num_effects = 0
        self.missing: dict[str, float] = {}
        # Where each object was last seen by the planner's own perception: an effect on an
        # object now out of view (in the hand) still needs a position for memory's fusion.
        self._last_seen: dict[str, ObjectObservation | ObjectRecord] = {}
        self._seen_places: tuple[float, np.ndarray] | None = None

    def _now(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _call(self, client: Client, request: Any, what: str) -> Any | None:
        """One call; None (logged, counted as a failed query) when it times out."""
        try:
            return call_with_deadline(client, request, self.timeout_s, self.interrupt)
        except TimeoutError as error:
            self.num_failed_queries += 1
            self.node.get_logger().warning(f"memory query for {what} failed: {error}")
            return None

    def _records(self, msgs: list[Any], seen: set[str] | None = None) -> list[ObjectRecord]:
        """Messages -> records; bad messages are logged and skipped, and so are ids already
        in ``seen`` (which gains the ids returned) when it is given."""
        records = []
        for msg in msgs:
            if seen is not None and msg.object_id in seen:
                continue
            try:
                record = conversions.record_from_msg(msg)
            except ValueError as error:
                self.node.get_logger().warning(f"record {msg.object_id} rejected: {error}")
                continue
            records.append(record)
            if seen is not None:
                seen.add(record.object_id)
        return records

    def _ask_each(
        self, request: QueryObjects.Request, what: str, refusal_means_unknown: bool = False
    ) -> list[ObjectRecord]:
        """Every memory's answer to ``request``: short-term first, duplicates dropped.

        ``refusal_means_unknown``: a refusal says memory does not know what was asked about
        (a receptacle it never saw), which is no failure.
        """
        records: list[ObjectRecord] = []
        seen: set[str] = set()
        for client in self.clients:
            answer = self._call(client, request, what)
            if answer is None:
                continue
            if not answer.success:
                if refusal_means_unknown:
                    self.node.get_logger().debug(f"{client.srv_name}: {answer.message}")
                    continue
                self.num_failed_queries += 1
                self.node.get_logger().warning(
                    f"{client.srv_name} refused {what}: {answer.message}"
                )
                continue
            records += self._records(answer.records, seen)
        for record in records:
            self._last_seen.setdefault(record.object_id, record)
        return records

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        """Records of ``object_type``: short-term answers first, duplicates dropped."""
        self.num_queries += 1
        return self._ask_each(QueryObjects.Request(object_type=object_type), object_type)

    def contents_of(self, receptacle_id: str) -> list[ObjectRecord]:
        """What memory places on or in ``receptacle_id``: short-term memory's newest facts
        (the robot's own puts among them), then long-term memory's; empty for a receptacle
        memory does not know."""
        if not receptacle_id:
            return []
        return self._ask_each(
            QueryObjects.Request(receptacle_id=receptacle_id),
            f"contents of {receptacle_id}",
            refusal_means_unknown=True,
        )

    def earlier_places(self, object_id: str) -> list[ObjectRecord]:
        """Earlier resting places of an object, newest first (long-term memory's history);
        empty in modes without long-term memory or when it does not answer."""
        if self.history_client is None or not object_id:
            return []
        answer = self._call(
            self.history_client, ObjectHistory.Request(object_id=object_id), f"{object_id}'s past"
        )
        if answer is None:
            return []
        if not answer.success:
            self.num_failed_queries += 1
            self.node.get_logger().warning(
                f"{self.history_client.srv_name} refused {object_id}: {answer.message}"
            )
            return []
        # The same object at other places: no duplicates to drop, and not where it is now
        # (so not remembered as last seen there).
        return self._records(answer.records)

    def seen_places(self) -> np.ndarray:
        """Map positions (N x 3) of everything long-term memory holds: where the robot has
        looked, so a search for something memory does not know looks elsewhere first.

        Empty without long-term memory or when it does not answer. An answer is reused for
        :attr:`seen_places_ttl_s` seconds.
        """
        empty = np.zeros((0, 3))
        if self.long_term_client is None:
            return empty
        now = time.monotonic()
        if self._seen_places is not None and now - self._seen_places[0] < self.seen_places_ttl_s:
            return self._seen_places[1]
        answer = self._call(
            self.long_term_client, QueryObjects.Request(compact=True), "everything it holds"
        )
        if answer is None:
            return empty
        table = answer.table
        if not answer.success or len(table.positions) != 3 * len(table.object_ids):
            self.num_failed_queries += 1
            self.node.get_logger().warning(
                f"{self.long_term_client.srv_name} gave no positions: "
                f"{answer.message or 'malformed table'}"
            )
            return empty
        points = np.asarray(table.positions, dtype=float).reshape(-1, 3)
        self._seen_places = (now, points)
        return points

    def report_missing(self, object_id: str, stamp: float) -> None:
        """Tell each memory of the mode that ``object_id`` is not where it placed it.

        Long-term memory marks it missing, short-term memory forgets it (short-term first, so
        nothing it still holds is consolidated back). The request carries this node's clock,
        the clock memory checks stamps against; ``stamp`` (the planner's step clock, which
        runs ahead of it) is kept in :attr:`missing`. A memory that does not answer or
        refuses is logged and counted in :attr:`num_failed_reports`: the planner searches on.
        """
        self.num_missing_reports += 1
        self.missing[object_id] = stamp
        self.node.get_logger().info(
            f"{object_id} is not where memory placed it; excluded for the rest of this task"
        )
        request = ReportMissing.Request(object_id=object_id, stamp=self._now())
        for client in self.report_clients:
            try:
                answer = call_with_deadline(client, request, self.timeout_s, self.interrupt)
            except TimeoutError as error:
                self.num_failed_reports += 1
                self.node.get_logger().warning(f"missing report of {object_id} failed: {error}")
                continue
            if not answer.success:
                self.num_failed_reports += 1
                self.node.get_logger().warning(
                    f"{client.srv_name} refused the missing report of {object_id}: {answer.message}"
                )
        # What memory holds changed: the next search asks again.
        self._seen_places = None

    def report_action_effect(self, effect: ActionEffect) -> None:
        """Publish the effect as an observation with source ``action`` (memory trusts it)."""
        if self.mode == MemoryMode.NONE:
            return
        where = effect.observation or self._last_seen.get(effect.object_id)
        if where is None and effect.receptacle_id:
            where = self._last_seen.get(effect.receptacle_id)
        if where is None:
            self.node.get_logger().warning(
                f"{effect.action} on {effect.object_id}: never seen, so no position to report"
            )
            return
        now = self._now()
        observation = ObjectObservation(
            object_id=effect.object_id,
            object_type=effect.object_type,
            world_T_object=where.world_T_object,
            box=where.box,
            stamp=now,
            confidence=1.0,
            states=dict(effect.states),
            source="action",
            receptacle_id=effect.receptacle_id or "",
            receptacle_relation=effect.receptacle_relation if effect.receptacle_id else "",
        )
        msg = ObjectObservationArray()
        msg.header.stamp = conversions.stamp_to_msg(now)
        msg.header.frame_id = conversions.WORLD_FRAME
        msg.observations = [conversions.observation_to_msg(observation)]
        self.effects_pub.publish(msg)
        self.num_effects += 1

    def observe(self, percept: Percept) -> None:
        """Remembers only where objects were last seen; the perception node feeds memory."""
        for observation in percept.observations:
            self._last_seen[observation.object_id] = observation
