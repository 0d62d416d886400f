"""Ground truth as a memory: the upper bound a perfect memory reaches.

:class:`OracleMemory` answers the planner's questions from the simulator's world, so it is
evaluation tooling (it reads truth) and lives here, not in ``planning/``. It implements
:class:`~memory_nodes.planning.memory_interface.TaskMemory` and needs no perception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from memory_nodes.adapters.ai2thor_perception import observable_states, unity_to_map
from memory_nodes.core.types import Box, MemorySource, ObjectRecord, Pose, Vector3
from memory_nodes.planning.memory_interface import NoMemory

if TYPE_CHECKING:
    from sim.household_sim import HouseholdSim


def record_from_metadata(obj: dict[str, Any], stamp: float) -> ObjectRecord:
    """One AI2-THOR object dict (Unity frame) as a memory record in the map frame."""
    box = obj["axisAlignedBoundingBox"]
    centre = unity_to_map(box["center"])
    size = unity_to_map(box["size"])
    parents = obj.get("parentReceptacles") or []
    return ObjectRecord(
        object_id=obj["objectId"],
        object_type=obj["objectType"],
        world_T_object=Pose(Vector3.from_array(centre)),
        box=Box(Vector3.from_array(centre), Vector3.from_array(abs(size))),
        confidence=1.0,
        first_seen=stamp,
        last_seen=stamp,
        states=observable_states(obj),
        receptacle_id=parents[0] if parents else "",
        receptacle_relation="inside" if parents else "",
        provenance=("oracle",),
        memory_source=MemorySource.LONG_TERM,
    )


class OracleMemory(NoMemory):
    """Ground truth from the simulator's world: the upper bound a perfect memory reaches.

    It learns nothing (what the robot sees, does or misses changes no answer): only
    :meth:`where_is` differs from :class:`NoMemory`.
    """

    name = "oracle"

    def __init__(self, sim: HouseholdSim) -> None:
        super().__init__()
        self.sim = sim

    def where_is(self, object_type: str) -> list[ObjectRecord]:
        self.num_queries += 1
        return [
            record_from_metadata(o.meta, 0.0)
            for o in self.sim.world.objects.values()
            if o.object_type == object_type and not o.hidden
        ]
