"""Real AI2-THOR scene data shipped in the ``procthor`` wheel, addressed by FloorPlan name.

The wheel's ``procthor/databases/ai2thor-object-metadata.json`` holds ``event.metadata['objects']``
dumps of 120 iTHOR rooms and 75 RoboTHOR apartments, grouped by room kind. Each group is a list
ordered like AI2-THOR's own scene numbering, so list index ``i`` of ``kitchens`` is
``FloorPlan{i + 1}``, of ``living_rooms`` ``FloorPlan{201 + i}`` and so on (see ``sim/README.md``
for how this was checked).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

#: Room kind in the dump -> number of the first FloorPlan of that kind.
ITHOR_FIRST_FLOORPLAN: dict[str, int] = {
    "kitchens": 1,
    "living_rooms": 201,
    "bedrooms": 301,
    "bathrooms": 401,
}
ROOM_KIND_OF_GROUP: dict[str, str] = {
    "kitchens": "Kitchen",
    "living_rooms": "LivingRoom",
    "bedrooms": "Bedroom",
    "bathrooms": "Bathroom",
    "robothor": "RoboTHOR",
}


class SceneNotFoundError(KeyError):
    """Raised when a scene name is not one of the FloorPlans built from the dump."""


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


def room_kind(name: str) -> str:
    """Kitchen, LivingRoom, Bedroom, Bathroom or RoboTHOR."""
    group, _ = _get_entry(name)
    return ROOM_KIND_OF_GROUP[group]


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
    from sim import houses  # houses builds on this catalogue

    if houses.has_house(name):
        return frozenset().union(*(scene_object_types(r) for r in houses.HOUSES[name].scenes))
    group, i = _get_entry(name)
    return frozenset(o["objectType"] for o in _object_dump()[group][i])
