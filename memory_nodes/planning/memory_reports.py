"""What the robot tells memory about its own actions: states it changed, where it put
something it cannot see, the pieces a slice made.

Part of :class:`~memory_nodes.planning.executor.TaskExecutor`; builds on the object search (the
pieces a slice made are bound to their type).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from memory_nodes.core.object_taxonomy import holds_inside, sliceable, sliced_form
from memory_nodes.core.types import Box, ObjectObservation, Pose, Vector3
from memory_nodes.planning.memory_interface import ActionEffect
from memory_nodes.planning.object_search import ObjectSearch
from memory_nodes.planning.skills import Skill

_LOG = logging.getLogger(__name__)


class MemoryReports(ObjectSearch):
    """Reports the effects of the robot's actions to memory."""

    def _report(
        self,
        object_id: str,
        action: str,
        states: dict[str, str] | None = None,
        receptacle_id: str | None = None,
        relation: str = "",
        observation: ObjectObservation | None = None,
    ) -> None:
        obs = self.percept.find(object_id) or observation
        # Memory takes states as text, AI2-THOR's way ("true"/"false"), never Python bools.
        text_states = {
            key: str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in (states or {}).items()
        }
        self.memory.report_action_effect(
            ActionEffect(
                object_id=object_id,
                object_type=object_id.split("|")[0] if "|" in object_id else object_id,
                action=action,
                stamp=self.stamp,
                states=text_states,
                receptacle_id=receptacle_id,
                receptacle_relation=relation,
                observation=obs,
            )
        )

    def _observation_at(
        self, object_id: str, object_type: str, centre: Vector3, size: Vector3
    ) -> ObjectObservation:
        """What the robot knows without seeing: ``object_id`` rests at ``centre``."""
        return ObjectObservation(
            object_id=object_id,
            object_type=object_type,
            world_T_object=Pose(centre),
            box=Box(centre, size),
            stamp=self.stamp,
            source="action",
        )

    def _report_put(self, held: str, receptacle: str) -> None:
        """Tell memory ``held`` was put on or into ``receptacle``, where the camera sees it
        or else where it was most likely set down."""
        relation = "inside" if holds_inside(receptacle.split("|")[0]) else "on"
        placed = self._placed_observation(held, receptacle)
        self._report(
            held, Skill.PUT, {"isPickedUp": "false"}, receptacle, relation, observation=placed
        )
        # Not where it was picked up: the next walk to it goes to the receptacle.
        if (seen := self.percept.find(held) or placed) is not None:
            self.known[held] = seen

    def _placed_observation(self, object_id: str, receptacle_id: str) -> ObjectObservation | None:
        """Where the robot just put an object it cannot see (a door hides it, the hand did).

        Without it memory keeps the object where it was picked up, and the next task walks
        there first. Inside a container its centre is the best guess; on a surface (a long
        counter), the point of its top nearest the robot, where things are set down.
        """
        holder = self.percept.find(receptacle_id) or self.known.get(receptacle_id)
        item = self.known.get(object_id)
        if holder is None or item is None:
            return None
        size = np.minimum(item.box.size.as_array(), holder.box.size.as_array())
        centre = holder.box.center.as_array()
        if not holds_inside(receptacle_id.split("|")[0]):
            lo = holder.box.min_corner[:2] + size[:2] / 2
            hi = np.maximum(lo, holder.box.max_corner[:2] - size[:2] / 2)
            centre = np.array([*np.clip(self._agent_xyz()[:2], lo, hi),
                               holder.box.max_corner[2] + size[2] / 2])  # fmt: skip
        placed = self._observation_at(
            object_id, object_id.split("|")[0], Vector3.from_array(centre), Vector3.from_array(size)
        )
        return replace(placed, receptacle_id=receptacle_id)

    def _note_pieces(self, object_id: str) -> None:
        """Bind the pieces a slice just made, seen where the whole object was.

        AI2-THOR names pieces after their object (``Apple|...|AppleSliced_0``), so pieces of
        an apple sliced on an earlier day carry the same ids: without this, the next
        ``find(AppleSliced)`` walks to where yesterday's piece was left.
        """
        if not sliceable(self._type_of(object_id)):
            return
        piece_type = sliced_form(self._type_of(object_id))
        prefix = f"{object_id}|"
        pieces: list[ObjectObservation] = [
            o for o in self.percept.observed((piece_type,)) if o.object_id.startswith(prefix)
        ]
        whole = self.known.get(object_id)
        if not pieces and whole is not None:
            # Out of view (in a sink, behind the knife): the pieces memory knows by these ids
            # now lie where the whole object was.
            pieces = [
                self._observation_at(r.object_id, r.object_type, whole.box.center, r.box.size)
                for r in self.memory.where_is(piece_type)
                if r.object_id.startswith(prefix)
            ]
        for piece in pieces:
            self.known[piece.object_id] = piece
            self._seen_empty.discard(piece.object_id)
            self._tried_cells.pop(piece.object_id, None)
            self.memory.report_action_effect(
                ActionEffect(
                    object_id=piece.object_id,
                    object_type=piece.object_type,
                    action="Observed",
                    stamp=self.stamp,
                    observation=piece,
                )
            )
        if pieces and (piece_type,) not in self.bound:
            camera = self._agent_xyz()
            nearest = min(pieces, key=lambda o: np.linalg.norm(self._position(o) - camera))
            self._bind((piece_type,), nearest)
