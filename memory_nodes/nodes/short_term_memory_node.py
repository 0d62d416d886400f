"""ROS adapter of the short-term object-state cache (:mod:`memory_nodes.core.short_term`).

Subscribes
    ``observations`` (ObjectObservationArray): what perception sees; each one refreshes the cache
    (source "perception"; a move or state change needs two distinct frames).
    ``action_effects`` (ObjectObservationArray): what the robot's own actions did (source
    "action"); recorded at once and handed on for consolidation. The source of an entry is the
    topic it came on, never what the message claims.
Publishes
    ``consolidations`` (ObjectObservationArray): entries leaving the cache (evicted, aged) and
    action effects, for long-term memory to fuse.
Serves
    ``~/query_objects`` (QueryObjects): the planner asks here first; answers are tagged
    ``short_term``.
    ``~/report_missing`` (ReportMissing): the robot did not find an object where the cache
    placed it; its entry is dropped without being consolidated.
Parameters (changeable at run time: capacity, policy, max_age_s)
    ``capacity`` (int), ``policy`` (str), ``max_age_s`` (float, 0 = never age out),
    ``consolidation_period_s`` (float), ``type_knowledge_path`` (str; empty = not kept): a JSON
    file with what the ``household`` policy learned about object types (how often the planner
    reads them, how often they change). It is loaded at start, kept across policy switches and
    written every ``type_knowledge_save_period_s`` and at shutdown, so a restart loses the
    entries but not the experience.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from memory_interfaces.msg import ObjectObservationArray
from memory_interfaces.srv import QueryObjects, ReportMissing
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter

from memory_nodes.core.errors import InvalidInputError, clip_text
from memory_nodes.core.policies import (
    ReplacementPolicy,
    TypeKnowledge,
    available_policies,
    make_policy,
)
from memory_nodes.core.short_term import CacheEntry, ObjectStateCache
from memory_nodes.nodes import conversions
from memory_nodes.nodes.runtime import run_node

#: Sources an entry gets from the topic it arrived on.
PERCEPTION_SOURCE = "perception"
ACTION_SOURCE = "action"


class ShortTermMemoryNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("short_term_memory", **node_kwargs)
        self.declare_parameter("capacity", 32)
        self.declare_parameter("policy", "household")
        self.declare_parameter("max_age_s", 60.0)
        self.declare_parameter("consolidation_period_s", 1.0)
        self.declare_parameter("type_knowledge_path", "")
        self.declare_parameter("type_knowledge_save_period_s", 30.0)
        self._outbox: list[tuple[CacheEntry, str]] = []
        path = str(self.get_parameter("type_knowledge_path").value)
        self.knowledge_path = Path(os.path.expandvars(os.path.expanduser(path))) if path else None
        self.knowledge = self._load_knowledge()
        self.cache = ObjectStateCache(
            capacity=self.get_parameter("capacity").value,
            policy=self._policy(self.get_parameter("policy").value),
            on_evict=lambda entry, reason: self._outbox.append((entry, f"short_term:{reason}")),
            on_action_effect=lambda entry: self._outbox.append((entry, "action")),
        )
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.consolidation_pub = self.create_publisher(ObjectObservationArray, "consolidations", 10)
        self.create_subscription(ObjectObservationArray, "observations", self._on_observations, 10)
        self.create_subscription(ObjectObservationArray, "action_effects", self._on_effects, 10)
        self.create_service(QueryObjects, "~/query_objects", self._on_query)
        self.create_service(ReportMissing, "~/report_missing", self._on_report_missing)
        period = float(self.get_parameter("consolidation_period_s").value)
        self.create_timer(max(period, 0.05), self._consolidate)
        if self.knowledge_path is not None:
            save_period = float(self.get_parameter("type_knowledge_save_period_s").value)
            self.create_timer(max(save_period, 1.0), self.save_knowledge)
        self.get_logger().info(
            f"short-term memory ready: capacity {self.cache.capacity}, "
            f"policy {self.cache.policy.name}"
        )

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _policy(self, name: str) -> ReplacementPolicy | str:
        # One TypeKnowledge for every household policy this node makes: switching policy
        # must not forget what was learned.
        return make_policy(name, knowledge=self.knowledge) if name == "household" else name

    def _load_knowledge(self) -> TypeKnowledge:
        knowledge = TypeKnowledge()
        if self.knowledge_path is None or not self.knowledge_path.is_file():
            return knowledge
        try:
            knowledge.load_dict(json.loads(self.knowledge_path.read_text()))
        except (OSError, ValueError, InvalidInputError) as error:
            self.get_logger().warning(
                f"type knowledge in {self.knowledge_path} not loaded ({error}); starting fresh"
            )
        else:
            self.get_logger().info(f"type knowledge loaded from {self.knowledge_path}")
        return knowledge

    def save_knowledge(self) -> None:
        """Write the learned type knowledge atomically (a kill mid-write keeps the old file)."""
        if self.knowledge_path is None:
            return
        try:
            self.knowledge_path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.knowledge_path.with_name(self.knowledge_path.name + ".partial")
            partial.write_text(json.dumps(self.knowledge.to_dict(), sort_keys=True))
            os.replace(partial, self.knowledge_path)
        except OSError as error:
            self.get_logger().warning(f"type knowledge not saved to {self.knowledge_path}: {error}")

    def destroy_node(self) -> None:
        self.save_knowledge()
        super().destroy_node()

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        # Validate everything first so a rejected change leaves the cache untouched.
        for param in params:
            if param.name == "capacity" and (not isinstance(param.value, int) or param.value < 1):
                return SetParametersResult(successful=False, reason="capacity must be an int >= 1")
            if param.name == "policy" and param.value not in available_policies():
                return SetParametersResult(
                    successful=False,
                    reason=(
                        f"unknown policy {clip_text(param.value)}; known: {available_policies()}"
                    ),
                )
        for param in params:
            if param.name == "capacity":
                self.cache.set_capacity(param.value, now=self._now())
            elif param.name == "policy":
                self.cache.set_policy(self._policy(param.value), now=self._now())
        return SetParametersResult(successful=True)

    def _on_observations(self, msg: ObjectObservationArray) -> None:
        for index, item in enumerate(msg.observations):
            try:
                observation = conversions.observation_from_msg(item)
                # The topic, not the sender, says where a fact came from.
                observation = dataclasses.replace(observation, source=PERCEPTION_SOURCE)
                self.cache.put(observation, now=self._now())
            except (InvalidInputError, ValueError) as error:
                self.get_logger().warning(f"observation {index} rejected: {error}")

    def _on_effects(self, msg: ObjectObservationArray) -> None:
        for index, item in enumerate(msg.observations):
            try:
                effect = conversions.observation_from_msg(item)
                receptacle = effect.receptacle_id or None
                if effect.states.get("isPickedUp") == "true":
                    receptacle = ""  # in the hand: no longer on or in anything
                self.cache.record_action_effect(
                    effect.object_id,
                    now=self._now(),
                    states=effect.states,
                    receptacle_id=receptacle,
                    receptacle_relation=effect.receptacle_relation or None,
                    world_T_object=effect.world_T_object,
                    box=effect.box,
                    object_type=effect.object_type,
                    source=ACTION_SOURCE,
                    stamp=effect.stamp,
                )
            except (InvalidInputError, ValueError) as error:
                self.get_logger().warning(f"action effect {index} rejected: {error}")
        self._consolidate()

    def _consolidate(self) -> None:
        max_age = float(self.get_parameter("max_age_s").value)
        if max_age > 0:
            self.cache.expire(self._now(), max_age)
        self.cache.take_pending_consolidation()
        if not self._outbox:
            return
        out = ObjectObservationArray()
        out.header.stamp = self.get_clock().now().to_msg()
        out.header.frame_id = conversions.WORLD_FRAME
        out.observations = [
            conversions.observation_to_msg(conversions.entry_to_observation(entry, source))
            for entry, source in self._outbox
        ]
        self._outbox.clear()
        self.consolidation_pub.publish(out)

    def _on_query(
        self, request: QueryObjects.Request, response: QueryObjects.Response
    ) -> QueryObjects.Response:
        if request.text or request.room_id:
            response.success = False
            response.message = "short-term memory filters by type, place, receptacle and age only"
            return response
        try:
            entries = self.cache.query(
                now=self._now(),
                object_type=request.object_type or None,
                near=conversions.point_to_vector(request.near) if request.use_near else None,
                radius=float(request.radius) if request.use_near else None,
                receptacle_id=request.receptacle_id or None,
                max_age=request.max_age_s if request.max_age_s > 0 else None,
            )
        except (InvalidInputError, ValueError) as error:
            response.success = False
            response.message = str(error)
            return response
        if request.max_results:
            entries = entries[: request.max_results]
        # No message cache: the cache holds a few dozen entries, rewritten at frame rate.
        records = [entry.to_record() for entry in entries]
        conversions.fill_query_answer(response, records, request.compact)
        response.success = True
        response.message = f"{len(entries)} from short-term memory"
        return response

    def _on_report_missing(
        self, request: ReportMissing.Request, response: ReportMissing.Response
    ) -> ReportMissing.Response:
        object_id = request.object_id
        response.message = conversions.report_missing_error(object_id, float(request.stamp))
        if response.message:
            response.success = False
            return response
        response.known = self.cache.remove(object_id) is not None
        # What waits for consolidation is older than this report: sent on, it would put the
        # object back where it was just not found.
        self._outbox[:] = [item for item in self._outbox if item[0].object_id != object_id]
        response.success = True
        response.message = (
            f"{clip_text(object_id)} forgotten"
            if response.known
            else f"{clip_text(object_id)} is not in the cache"
        )
        return response


NODE_CLASS = ShortTermMemoryNode


def main(args: list[str] | None = None) -> int:
    return run_node(ShortTermMemoryNode, args)


if __name__ == "__main__":
    sys.exit(main())
