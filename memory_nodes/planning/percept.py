"""What the planner sees after each action, in the memory stack's ``map`` frame.

A robot skill implementation (:mod:`memory_nodes.planning.skills`) turns its sensors into a
:class:`Percept`: object observations, the RGB-D frame they came from (for reach and for
negative evidence), the agent pose, the camera tilt, the object in hand, and the states a
state classifier reports for the objects in view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memory_nodes.core.types import ObjectObservation, Pose
from memory_nodes.perception.frames import RGBDFrame


@dataclass
class Percept:
    """One step's perception: observations (map frame), the frame, and the agent pose.

    ``camera_tilt_deg`` is the camera's angle below the horizontal (positive looks down);
    ``object_states`` maps an object id in view to its states as text (``isOpen`` ->
    ``"true"``).
    """

    stamp: float
    observations: list[ObjectObservation]
    frame: RGBDFrame | None
    map_T_agent: Pose
    held_object_id: str | None = None
    object_states: dict[str, dict[str, str]] = field(default_factory=dict)
    camera_tilt_deg: float = 0.0

    def observed(self, object_types: tuple[str, ...] | None = None) -> list[ObjectObservation]:
        """Observations of any of ``object_types`` (all when None)."""
        if object_types is None:
            return list(self.observations)
        return [o for o in self.observations if o.object_type in object_types]

    def find(self, object_id: str) -> ObjectObservation | None:
        return next((o for o in self.observations if o.object_id == object_id), None)
