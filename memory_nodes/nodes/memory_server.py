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
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
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
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from memory_nodes.core.change_detection import CameraView
from memory_nodes.core.errors import InvalidInputError, MemoryStackError
from memory_nodes.core.long_term import (
    EARLIER_PLACE_MIN_DISTANCE_M,
    LongTermMemory,
    ObjectQuery,
)
from memory_nodes.core.store import JSON_FORMAT, JSON_VERSION, change_to_dict, graph_to_json
from memory_nodes.nodes import conversions
from memory_nodes.nodes.images import image_to_numpy
from memory_nodes.nodes.markers import scene_graph_markers
from memory_nodes.nodes.runtime import run_node
from memory_nodes.perception.frames import depth_to_metres
from memory_nodes.perception.sync import StampSynchronizer

DELTA_FORMAT = "memory_nodes.scene_graph_delta"


class MemoryServer(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("memory_server", **node_kwargs)
        declare = self.declare_parameter
        declare("database_path", str(Path.home() / ".ros" / "memory_nodes" / "memory.sqlite"))
        declare("change_detection", True)
        declare("depth_topic", "camera/depth/image_raw")
        declare("camera_info_topic", "camera/color/camera_info")
        declare("camera_pose_topic", "camera/pose")
        declare("sync_slop_s", 0.02)
        declare("marker_period_s", 1.0)
        param = self.get_parameter
        database = os.path.expandvars(os.path.expanduser(param("database_path").value))
        # The clock lets memory refuse observations stamped in the future (a bad clock).
        self.memory = LongTermMemory(database, clock=self._now)
        self.sequence = 0
        self.change_detection = bool(param("change_detection").value)
        self.record_msgs = conversions.RecordMessageCache()

        self.update_pub = self.create_publisher(SceneGraphUpdate, "scene_graph/updates", 10)
        self.marker_pub = self.create_publisher(MarkerArray, "scene_graph/markers", 1)
        self.create_subscription(ObjectObservationArray, "consolidations", self._on_consolidate, 10)
        self.create_subscription(ObjectObservationArray, "action_effects", self._on_effects, 10)
        streams = ["observations"]
        if self.change_detection:
            streams += ["depth", "info", "pose"]
            qos = qos_profile_sensor_data
            self.create_subscription(Image, param("depth_topic").value, self._feed("depth"), qos)
            self.create_subscription(
                CameraInfo, param("camera_info_topic").value, self._feed("info"), qos
            )
            self.create_subscription(
                PoseStamped, param("camera_pose_topic").value, self._feed("pose"), qos
            )
        self.sync = StampSynchronizer(streams, slop=float(param("sync_slop_s").value))
        self.create_subscription(
            ObjectObservationArray, "observations", self._feed("observations"), 10
        )
        self.create_service(QueryObjects, "~/query_objects", self._on_query)
        self.create_service(GetSceneGraph, "~/get_scene_graph", self._on_get_graph)
        self.create_service(WhatChanged, "~/what_changed", self._on_what_changed)
        self.create_service(SaveMemory, "~/save_memory", self._on_save)
        self.create_service(LoadMemory, "~/load_memory", self._on_load)
        self.create_service(ReportMissing, "~/report_missing", self._on_report_missing)
        self.create_service(ObjectHistory, "~/object_history", self._on_object_history)
        self.create_timer(max(float(param("marker_period_s").value), 0.1), self._publish_markers)
        self.get_logger().info(
            f"long-term memory ready: {self.memory.graph.num_nodes()} nodes from "
            f"{self.memory.database}"
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=conversions.WORLD_FRAME)

    # ----------------------------------------------------------------------------- inputs
    def _feed(self, stream: str):
        def _callback(msg: Any) -> None:
            stamp = conversions.stamp_from_msg(msg.header.stamp)
            complete = self.sync.add(stream, stamp, msg)
            if complete is not None:
                self._on_frame(complete)

        return _callback

    def _observations(self, msg: ObjectObservationArray, what: str) -> list:
        items = []
        for index, item in enumerate(msg.observations):
            try:
                items.append(conversions.observation_from_msg(item))
            except ValueError as error:
                self.get_logger().warning(f"{what} {index} rejected: {error}")
        return items

    def _on_frame(self, msgs: dict[str, Any]) -> None:
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
            self.memory.integrate_frame(observations, view)
        except (MemoryStackError, ValueError) as error:
            self.get_logger().warning(f"frame rejected: {error}")
            return
        self._publish_delta()

    def _on_consolidate(self, msg: ObjectObservationArray) -> None:
        entries = self._observations(msg, "consolidated entry")
        if not entries:
            return
        try:
            self.memory.consolidate(entries)
        except MemoryStackError as error:  # memory refused the batch and is unchanged
            self.get_logger().warning(f"consolidation rejected: {error}")
            return
        self._publish_delta()

    def _on_effects(self, msg: ObjectObservationArray) -> None:
        effects = self._observations(msg, "action effect")
        if not effects:
            return
        try:
            update = self.memory.apply_action_effects(effects)
        except MemoryStackError as error:  # e.g. a put that names no relation
            self.get_logger().warning(f"action effects rejected: {error}")
            return
        for object_id, receptacle in update.unknown_receptacles.items():
            self.get_logger().info(
                f"{object_id} was put in/on {receptacle}, which memory does not know yet: "
                "moved without a relation"
            )
        self._publish_delta()

    # ---------------------------------------------------------------------------- outputs
    def _publish_delta(self) -> None:
        changes = self.memory.graph.pop_changes()
        if not changes:
            return
        self.sequence += 1
        self.update_pub.publish(
            SceneGraphUpdate(
                header=self._header(),
                sequence=self.sequence,
                format_version=JSON_VERSION,
                format=DELTA_FORMAT,
                is_full=False,
                data=json.dumps([change_to_dict(c) for c in changes], sort_keys=True),
            )
        )

    def _publish_markers(self) -> None:
        if self.marker_pub.get_subscription_count():
            self.marker_pub.publish(scene_graph_markers(self.memory.graph, self._header()))

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
            records = self.memory.query(query, now=self._now())
        except (MemoryStackError, ValueError, KeyError) as error:
            response.success, response.message = False, str(error)
            return response
        conversions.fill_query_answer(response, records, request.compact, self.record_msgs)
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
        response.success, response.format = True, JSON_FORMAT
        response.format_version, response.sequence = JSON_VERSION, self.memory.graph.sequence
        response.data = graph_to_json(self.memory.graph)
        return response

    def _on_what_changed(
        self, request: WhatChanged.Request, response: WhatChanged.Response
    ) -> WhatChanged.Response:
        since = conversions.stamp_from_msg(request.since)
        response.changes = [
            json.dumps(change_to_dict(c), sort_keys=True) for c in self.memory.changes_since(since)
        ]
        response.success = True
        response.message = f"{len(response.changes)} changes since {since:.3f}"
        return response

    def _on_save(self, request: SaveMemory.Request, response: SaveMemory.Response):
        try:
            path = self.memory.save(request.path)
        except (MemoryStackError, OSError) as error:
            response.success, response.message = False, f"save failed: {error}"
            return response
        response.success, response.message = True, f"saved to {path}"
        self.get_logger().info(response.message)
        return response

    def _on_load(self, request: LoadMemory.Request, response: LoadMemory.Response):
        try:
            response.num_objects = self.memory.load(request.path)
        except (MemoryStackError, OSError, ValueError) as error:
            response.success, response.message = False, f"load failed, memory unchanged: {error}"
            return response
        response.success, response.message = True, f"loaded {request.path}"
        self.get_logger().info(f"{response.message}: {response.num_objects} objects")
        self._publish_delta()
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
        # Committed before the answer, like every write.
        response.known, marked = self.memory.report_missing(object_id, stamp)
        if not response.known:
            response.message = f"{object_id} is not in long-term memory"
        elif not marked:
            status = self.memory.graph.resolve(object_id).status.value
            response.message = f"{object_id} was already {status}"
        else:
            self._publish_delta()
            response.message = f"{object_id} marked missing"
        return response

    def _on_object_history(
        self, request: ObjectHistory.Request, response: ObjectHistory.Response
    ) -> ObjectHistory.Response:
        if not request.object_id:
            response.success, response.message = False, "object_id must not be empty"
            return response
        min_distance = float(request.min_distance) or EARLIER_PLACE_MIN_DISTANCE_M
        try:
            records = self.memory.earlier_places(request.object_id, min_distance)
        except InvalidInputError as error:
            response.success, response.message = False, str(error)
            return response
        # Not through the message cache: it keeps one message per object, and these are
        # the same object at other places.
        response.records = [conversions.record_to_msg(r) for r in records]
        response.success = True
        response.message = f"{len(records)} earlier places of {request.object_id}"
        return response

    def destroy_node(self) -> None:
        self.memory.close()
        super().destroy_node()


NODE_CLASS = MemoryServer


def main(args: list[str] | None = None) -> int:
    return run_node(MemoryServer, args)


if __name__ == "__main__":
    sys.exit(main())
