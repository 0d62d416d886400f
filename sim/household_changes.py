"""World changes while the robot is away: people move, open, switch, use and tidy things.

A seeded process applies plausible changes to a running :class:`~sim.household_sim.HouseholdSim`
and logs each one as ground truth, so memory systems can be scored on noticing them. Objects move
between receptacles in proportion to how often AI2-THOR scenes hold that object type in that
receptacle type (procthor's ``receptacles.json``), so mugs go to cabinets and sinks, not to beds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from sim import scene_catalog
from sim.world_state import SimObject, World, copy_as_sent

CHANGE_KINDS = ("move", "open", "close", "toggle", "dirty", "remove", "add")
CHANGE_WEIGHTS = np.array([0.45, 0.1, 0.1, 0.1, 0.1, 0.07, 0.08])


@dataclass(frozen=True)
class WorldChange:
    """One ground-truth change: what happened to which object, and the relation before/after."""

    step: int
    kind: str
    object_id: str
    object_type: str
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChangeableSim(Protocol):
    """What the process needs of a simulator (:class:`~sim.household_sim.HouseholdSim` is one).

    A protocol rather than the class itself, so the simulator can import this module.
    """

    world: World

    def settle_object(
        self, obj: SimObject, receptacle: SimObject, drop_height: float | None = None
    ) -> bool: ...


class HouseholdChangeProcess:
    """Seeded generator of household changes applied directly to a simulator's world.

    Parameters
    ----------
    sim
        The simulator whose world is changed (the agent's held object is never touched).
    seed
        Same seed and same world state -> same changes, in the same order.
    """

    def __init__(self, sim: ChangeableSim, seed: int = 0):
        self.sim = sim
        self.rng = np.random.default_rng(seed)
        self.log: list[WorldChange] = []
        self._num_added = 0

    # ---- candidates ------------------------------------------------------------------------
    def _free_objects(self) -> list[SimObject]:
        held = self.sim.world.agent.held_object_id
        return [o for o in self.sim.world.objects.values() if not o.hidden and o.object_id != held]

    def _pick(self, items: list) -> Any:
        return items[int(self.rng.integers(len(items)))] if items else None

    def _receptacle_weights(self, obj: SimObject, receptacles: list[SimObject]) -> np.ndarray:
        stats = scene_catalog.receptacle_statistics()
        w = np.array(
            [
                stats.get(r.object_type, {}).get(obj.object_type, {}).get("p", 0.0)
                for r in receptacles
            ]
        )
        return w if w.sum() > 0 else np.ones(len(receptacles))

    def _place_somewhere(self, obj: SimObject, exclude: str | None = None) -> SimObject | None:
        world = self.sim.world
        receptacles = [
            r
            for r in self._free_objects()
            if r.meta["receptacle"]
            and r is not obj
            and r.object_id != exclude
            and r not in world.descendants(obj)
            and r.object_type != "Floor"
        ]
        if not receptacles:
            return None
        weights = self._receptacle_weights(obj, receptacles)
        receptacles = [r for r, w in zip(receptacles, weights, strict=True) if w > 0]
        weights = weights[weights > 0]
        order = self.rng.choice(
            len(receptacles), size=len(receptacles), replace=False, p=weights / weights.sum()
        )
        for k in order[:8]:
            target = receptacles[int(k)]
            centre = world.find_placement(obj, target)
            if centre is not None:
                world.place(obj, target, centre)
                self.sim.settle_object(obj, target)
                return target
        return None

    # ---- changes ---------------------------------------------------------------------------
    def _move(self, step: int) -> WorldChange | None:
        obj = self._pick([o for o in self._free_objects() if o.meta["pickupable"]])
        if obj is None:
            return None
        before = obj.meta.get("parentReceptacles")
        target = self._place_somewhere(obj, exclude=(before or [None])[0])
        if target is None:
            return None
        return WorldChange(step, "move", obj.object_id, obj.object_type, before, [target.object_id])

    def _set_flag(self, step: int, kind: str) -> WorldChange | None:
        key, want, able = {
            "open": ("isOpen", True, "openable"),
            "close": ("isOpen", False, "openable"),
            "toggle": ("isToggled", None, "toggleable"),
            "dirty": ("isDirty", True, "dirtyable"),
        }[kind]
        pool = [
            o
            for o in self._free_objects()
            if o.meta[able] and (want is None or o.meta[key] != want)
        ]
        obj = self._pick(pool)
        if obj is None:
            return None
        before = obj.meta[key]
        after = (not before) if want is None else want
        obj.meta[key] = after
        if key == "isOpen":
            obj.meta["openness"] = 1.0 if after else 0.0
        for controlled in obj.meta.get("controlledObjects") or []:
            target = self.sim.world.find_object(controlled)
            if target is not None and key == "isToggled":
                target.meta["isToggled"] = after
        return WorldChange(step, kind, obj.object_id, obj.object_type, before, after)

    def _remove(self, step: int) -> WorldChange | None:
        obj = self._pick([o for o in self._free_objects() if o.meta["pickupable"]])
        if obj is None:
            return None
        before = obj.meta.get("parentReceptacles")
        self.sim.world.remove_object(obj)
        return WorldChange(step, "remove", obj.object_id, obj.object_type, before, None)

    def _add(self, step: int) -> WorldChange | None:
        """Bring in a copy of a pickupable object type seen in this scene (a new mug, ...)."""
        template = self._pick([o for o in self._free_objects() if o.meta["pickupable"]])
        if template is None:
            return None
        self._num_added += 1
        meta = copy_as_sent(template.meta)
        new_id = f"{template.object_type}|added|{self._num_added:03d}"
        meta.update(
            objectId=new_id,
            name=f"{template.object_type}_added_{self._num_added}",
            parentReceptacles=None,
            receptacleObjectIds=[] if meta["receptacle"] else None,
            isPickedUp=False,
        )
        obj = SimObject(meta)
        self.sim.world.objects[new_id] = obj
        target = self._place_somewhere(obj)
        if target is None:
            del self.sim.world.objects[new_id]
            return None
        return WorldChange(step, "add", new_id, obj.object_type, None, [target.object_id])

    def run(self, num_changes: int) -> list[WorldChange]:
        """Apply up to ``num_changes`` changes (kinds with no candidate are redrawn)."""
        made: list[WorldChange] = []
        attempts = 0
        while len(made) < num_changes and attempts < num_changes * 10:
            attempts += 1
            kind = CHANGE_KINDS[int(self.rng.choice(len(CHANGE_KINDS), p=CHANGE_WEIGHTS))]
            step = len(self.log)
            if kind == "move":
                change = self._move(step)
            elif kind == "remove":
                change = self._remove(step)
            elif kind == "add":
                change = self._add(step)
            else:
                change = self._set_flag(step, kind)
            if change is not None:
                self.log.append(change)
                made.append(change)
        return made
