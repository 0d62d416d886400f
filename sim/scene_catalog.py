"""Real AI2-THOR scene data shipped in the ``procthor`` wheel, addressed by FloorPlan name.

The wheel's ``procthor/databases/ai2thor-object-metadata.json`` holds ``event.metadata['objects']``
dumps of 120 iTHOR rooms and 75 RoboTHOR apartments, grouped by room kind. Each group is a list
ordered like AI2-THOR's own scene numbering, so list index ``i`` of ``kitchens`` is
``FloorPlan{i + 1}``, of ``living_rooms`` ``FloorPlan{201 + i}`` and so on (see ``sim/README.md``
for how this was checked). The multi-room houses (``House1``..) are named here by the FloorPlans
they join; :mod:`sim.houses` lays them out.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from memory_nodes.core.errors import SceneNotFoundError

#: Room kind in the dump -> number of the first FloorPlan of that kind.
ITHOR_FIRST_FLOORPLAN: dict[str, int] = {
    "kitchens": 1,
    "living_rooms": 201,
    "bedrooms": 301,
    "bathrooms": 401,
}


@dataclass(frozen=True)
class HouseSpec:
    """Which FloorPlans make up a house, in ``sim.houses.ROOM_TYPES`` order."""

    name: str
    kitchen: str
    living_room: str
    bedroom: str
    bathroom: str

    @property
    def scenes(self) -> tuple[str, str, str, str]:
        return (self.kitchen, self.living_room, self.bedroom, self.bathroom)


#: Fixed combinations; chosen so that every doorway has free floor on both sides (the layout
#: itself is built by :mod:`sim.houses`).
HOUSES: dict[str, HouseSpec] = {
    spec.name: spec
    for spec in (
        HouseSpec("House1", "FloorPlan1", "FloorPlan201", "FloorPlan301", "FloorPlan401"),
        HouseSpec("House2", "FloorPlan2", "FloorPlan202", "FloorPlan302", "FloorPlan402"),
        HouseSpec("House3", "FloorPlan5", "FloorPlan206", "FloorPlan303", "FloorPlan403"),
        HouseSpec("House4", "FloorPlan10", "FloorPlan211", "FloorPlan310", "FloorPlan410"),
        HouseSpec("House5", "FloorPlan20", "FloorPlan222", "FloorPlan320", "FloorPlan420"),
    )
}


def procthor_database_dir() -> Path:
    """Folder of the procthor databases; found through the installed package, not a fixed path."""
    import importlib.util

    spec = importlib.util.find_spec("procthor")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "The household simulator needs the 'procthor' package for its scene data: "
            "pip install procthor"
        )
    return Path(spec.origin).parent / "databases"


@cache
def _object_dump() -> dict[str, list[list[dict[str, Any]]]]:
    with open(procthor_database_dir() / "ai2thor-object-metadata.json") as f:
        return json.load(f)


@cache
def receptacle_statistics() -> dict[str, dict[str, dict[str, float]]]:
    """Receptacle type -> object type -> ``{"count", "p"}`` observed in AI2-THOR scenes."""
    with open(procthor_database_dir() / "receptacles.json") as f:
        return json.load(f)


def robothor_scene_names() -> list[str]:
    """RoboTHOR names in AI2-THOR's order: 12 train apartments x 5, then 3 val x 5."""
    names = [f"FloorPlan_Train{i}_{j}" for i in range(1, 13) for j in range(1, 6)]
    return names + [f"FloorPlan_Val{i}_{j}" for i in range(1, 4) for j in range(1, 6)]


@cache
def _scene_index() -> dict[str, tuple[str, int]]:
    index: dict[str, tuple[str, int]] = {}
    dump = _object_dump()
    for group, first in ITHOR_FIRST_FLOORPLAN.items():
        for i in range(len(dump[group])):
            index[f"FloorPlan{first + i}"] = (group, i)
    for i, name in enumerate(robothor_scene_names()[: len(dump["robothor"])]):
        index[name] = ("robothor", i)
    return index


def ithor_scene_names() -> list[str]:
    """The 120 iTHOR FloorPlans, kitchens first, as ``Controller.ithor_scenes()`` orders them."""
    return [name for name, (group, _) in _scene_index().items() if group != "robothor"]


def scene_names() -> list[str]:
    """Every scene the simulator can load (iTHOR then RoboTHOR)."""
    return list(_scene_index())


def normalize_scene_name(name: str) -> str:
    """Strip the ``_physics`` suffix the ai2thor client appends to iTHOR scene names."""
    return name.removesuffix("_physics")


def has_scene(name: str) -> bool:
    """True when ``name`` (with or without ``_physics``) is a known scene."""
    return normalize_scene_name(name) in _scene_index()


def house_names() -> list[str]:
    """The multi-room houses, ``House1`` first."""
    return list(HOUSES)


def has_house(name: str) -> bool:
    """True when ``name`` is a multi-room house rather than a single FloorPlan."""
    return name in HOUSES


def _get_entry(name: str) -> tuple[str, int]:
    try:
        return _scene_index()[normalize_scene_name(name)]
    except KeyError:
        raise SceneNotFoundError(
            f"Scene '{name}' is not available; choose FloorPlan1-30, 201-230, 301-330, "
            "401-430 or a RoboTHOR FloorPlan_Train/Val name."
        ) from None


def get_scene_objects(name: str) -> list[dict[str, Any]]:
    """A fresh deep copy of the scene's object metadata, safe to mutate."""
    group, i = _get_entry(name)
    return copy.deepcopy(_object_dump()[group][i])


def scene_object_types(name: str) -> frozenset[str]:
    """Object types present in a scene's initial state (no copy of the metadata is made).

    A multi-room house (``House1``) has the types of its rooms' FloorPlans.
    """
    if has_house(name):
        return frozenset().union(*(scene_object_types(r) for r in HOUSES[name].scenes))
    group, i = _get_entry(name)
    return frozenset(o["objectType"] for o in _object_dump()[group][i])
