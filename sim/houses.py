"""Multi-room houses composed of iTHOR single-room scenes joined by doorways.

A house takes one kitchen, living room, bedroom and bathroom FloorPlan and shifts each room's
objects so the rooms sit side by side without overlapping. The living room is placed first and
every other room is attached to a room already placed, on the first side and offset (tried in a
fixed order) where a doorway has free floor leading into both rooms, so layouts are
deterministic and every room is reachable. Rooms are shifted by multiples of 0.25 m, so every
object keeps its grid-relative position and its AI2-THOR id (which encodes the position) can be
shifted exactly; walls between neighbours fill the 0.10-0.35 m gap this leaves, with a 1 m
doorway cut out.

``HouseholdSim("House1")`` and ``controller.reset("House1")`` load a house like any FloorPlan;
the event metadata then lists the rooms and each object's room (see ``sim/README.md``).
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import numpy as np

from memory_nodes.core.errors import HouseLayoutError
from sim.scene_catalog import HOUSES, HouseSpec
from sim.world_state import AGENT_RADIUS, WALL_HEIGHT, Room, SimObject, StructureBox, World

#: Rooms are shifted by multiples of this (metres): the agent grid, and exact for ids.
PLACEMENT_STEP = 0.25
WALL_THICKNESS = 0.1
DOOR_WIDTH = 1.0
#: Facing sides at most this far apart share one wall (placement leaves 0.10-0.35 m).
MAX_WALL_GAP = WALL_THICKNESS + PLACEMENT_STEP + 1e-6
#: Minimum wall left between a doorway and the end of the shared wall.
DOOR_MARGIN = 0.3
GRID = 0.25  # the default gridSize, on which doorways are centred
ROOM_TYPES = ("Kitchen", "LivingRoom", "Bedroom", "Bathroom")
START_ROOM = 1  # the living room: placed first, the agent starts there
#: Sides of a room, (axis, sign): east, west, north, south.
_EAST, _WEST, _NORTH, _SOUTH = (0, 1), (0, -1), (1, 1), (1, -1)
#: (room, rooms it may hang off, sides tried in order): kitchen beside the living room,
#: bedroom behind it, bathroom off the bedroom (or, failing that, off another room).
ATTACH_ORDER = (
    (0, (1,), (_WEST, _EAST, _SOUTH, _NORTH)),
    (2, (1, 0), (_NORTH, _EAST, _SOUTH, _WEST)),
    (3, (2, 1, 0), (_EAST, _WEST, _NORTH, _SOUTH)),
)
#: Cells walked from a doorway into a room looking for its main free region.
ACCESS_DEPTH = 4

_NUMBER = re.compile(r"^[+-]?\d+\.\d+$")


def room_id(index: int) -> str:
    """Room ids in ProcTHOR's style (``room|0`` is the kitchen, see ``ROOM_TYPES``)."""
    return f"room|{index}"


# ---- ids ------------------------------------------------------------------------------------
def _format_coordinate(value: Decimal) -> str:
    """AI2-THOR's id number format: sign, two integer and two decimal digits (``-00.47``)."""
    value = value.quantize(Decimal("0.01"))
    if value == 0:
        return "+00.00"
    sign = "+" if value > 0 else "-"
    return f"{sign}{abs(value):05.2f}"


def shifted_object_id(object_id: str, dx: float, dz: float) -> str:
    """The id an object gets when its room is shifted by ``(dx, dz)``.

    AI2-THOR ids are ``Type|x|y|z`` (sub-objects append ``|SinkBasin``), the numbers being the
    position when the scene was built, so a shifted object's id carries its shifted position.
    """
    parts = object_id.split("|")
    if len(parts) < 4 or not all(_NUMBER.match(p) for p in parts[1:4]):
        return object_id
    parts[1] = _format_coordinate(Decimal(parts[1]) + Decimal(str(dx)))
    parts[3] = _format_coordinate(Decimal(parts[3]) + Decimal(str(dz)))
    return "|".join(parts)


def _shift_room_objects(scene: str, dx: float, dz: float) -> list[SimObject]:
    """The scene's objects moved by ``(dx, dz)`` with ids and id references rewritten."""
    objects = list(World.from_catalog(scene).objects.values())
    new_ids = {o.object_id: shifted_object_id(o.object_id, dx, dz) for o in objects}
    delta = np.array([dx, 0.0, dz])
    for obj in objects:
        obj.translate(delta)
        m = obj.meta
        m["objectId"] = new_ids[m["objectId"]]
        for key in ("parentReceptacles", "receptacleObjectIds", "controlledObjects"):
            if m.get(key):
                m[key] = [new_ids.get(i, i) for i in m[key]]
    return objects


# ---- layout ---------------------------------------------------------------------------------
Extent = tuple[float, float, float, float]


def _shift(extent: Extent, dx: float, dz: float) -> Extent:
    return (extent[0] + dx, extent[1] + dx, extent[2] + dz, extent[3] + dz)


@dataclass(frozen=True)
class _RoomGrid:
    """One FloorPlan's free floor as the single-room simulator sees it (before any shift)."""

    extent: Extent
    main: frozenset[tuple[float, float]]  # largest connected set of free grid cells
    object_boxes: np.ndarray  # obstacle footprints (min_x, max_x, min_z, max_z)


@cache
def _room_grid(scene: str) -> _RoomGrid:
    world = World.from_catalog(scene)
    cells = set(world.free_grid_cells())
    best: set = set()
    remaining = set(cells)
    while remaining:
        region = set(world.reachable_positions(min(remaining), cells)) & remaining
        remaining -= region
        if len(region) > len(best):
            best = region
    return _RoomGrid(world.extent, frozenset(best), world.obstacle_boxes())


def _clear(boxes: np.ndarray, x: float, z: float) -> bool:
    dx = np.maximum(np.maximum(boxes[:, 0] - x, x - boxes[:, 1]), 0.0)
    dz = np.maximum(np.maximum(boxes[:, 2] - z, z - boxes[:, 3]), 0.0)
    return bool(np.all(dx * dx + dz * dz >= AGENT_RADIUS * AGENT_RADIUS))


def _door_access(room: _RoomGrid, axis: int, sign: int, along: float) -> bool:
    """Whether a doorway centred at ``along`` (room-local) in this side leads into the room.

    Walks grid cells from the wall inwards (at most ``ACCESS_DEPTH`` of them): each must be
    clear of furniture until one belongs to the room's main free region. A door behind a bed
    or into a pocket cut off by furniture fails.
    """
    g = GRID
    coord, _ = _side(room.extent, axis, sign)
    first = math.floor(coord / g + 1e-9) if sign > 0 else math.ceil(coord / g - 1e-9)
    for k in range(ACCESS_DEPTH):
        u = round((first - sign * k) * g, 4)
        cell = (u, round(along, 4)) if axis == 0 else (round(along, 4), u)
        if cell in room.main:
            return True
        if not _clear(room.object_boxes, *cell):
            return False
    return False


def _overlaps(a: Extent, b: Extent, clearance: float) -> bool:
    return (
        a[0] < b[1] + clearance
        and b[0] < a[1] + clearance
        and a[2] < b[3] + clearance
        and b[2] < a[3] + clearance
    )


def _attach(
    grids: list[_RoomGrid],
    placed: dict[int, tuple[float, float]],
    new: int,
    anchor: int,
    axis: int,
    sign: int,
) -> tuple[tuple[float, float], float] | None:
    """Shift for room ``new`` on side ``(axis, sign)`` of ``anchor`` and its doorway centre."""
    q, t = PLACEMENT_STEP, WALL_THICKNESS
    a_ext = _shift(grids[anchor].extent, *placed[anchor])
    raw = grids[new].extent
    a_side, (p0, p1) = _side(a_ext, axis, sign)
    n_side, (m0, m1) = _side(raw, axis, -sign)
    if sign > 0:
        across = math.ceil((a_side + t - n_side) / q - 1e-9) * q
    else:
        across = math.floor((a_side - t - n_side) / q + 1e-9) * q
    need = DOOR_WIDTH + 2 * DOOR_MARGIN
    lo = math.ceil((p0 + need - m1) / q)
    hi = math.floor((p1 - need - m0) / q)
    preferred = [round((p0 - m0) / q), round((p1 - m1) / q)]
    centred = ((p0 + p1) - (m0 + m1)) / 2 / q
    order = preferred + sorted(range(lo, hi + 1), key=lambda k: (abs(k - centred), k))
    a_along = placed[anchor][1 - axis]
    for k in dict.fromkeys(order):
        if not lo <= k <= hi:
            continue
        along = k * q
        shift = (across, along) if axis == 0 else (along, across)
        ext = _shift(raw, *shift)
        others = [_shift(grids[i].extent, *s) for i, s in placed.items()]
        if any(_overlaps(ext, o, t - 1e-6) for o in others):
            continue
        o0, o1 = max(p0, m0 + along), min(p1, m1 + along)
        c_lo = math.ceil((o0 + DOOR_WIDTH / 2 + DOOR_MARGIN) / GRID)
        c_hi = math.floor((o1 - DOOR_WIDTH / 2 - DOOR_MARGIN) / GRID)
        middle = (o0 + o1) / 2 / GRID
        for c in sorted(range(c_lo, c_hi + 1), key=lambda c: (abs(c - middle), c)):
            centre = c * GRID
            if _door_access(grids[anchor], axis, sign, centre - a_along) and _door_access(
                grids[new], axis, -sign, centre - along
            ):
                return shift, centre
    return None


def _place_rooms(spec: HouseSpec) -> tuple[list[tuple[float, float]], list[tuple]]:
    """Room shifts (multiples of ``PLACEMENT_STEP``) and doorways ``(low, high, axis, centre)``.

    Rooms are attached one by one (``ATTACH_ORDER``) to a room already placed, trying its
    sides and offsets in a fixed order; the first spot that overlaps no room (gaps are at least
    one wall thick) and has a doorway with access on both sides wins, so layouts are
    deterministic.
    """
    grids = [_room_grid(scene) for scene in spec.scenes]
    placed: dict[int, tuple[float, float]] = {START_ROOM: (0.0, 0.0)}
    doors = []
    for new, anchors, sides in ATTACH_ORDER:
        found = None
        for anchor in anchors:
            for axis, sign in sides:
                found = _attach(grids, placed, new, anchor, axis, sign)
                if found is not None:
                    placed[new] = found[0]
                    low, high = (anchor, new) if sign > 0 else (new, anchor)
                    doors.append((low, high, axis, found[1]))
                    break
            if found is not None:
                break
        if found is None:
            raise HouseLayoutError(
                f"{spec.name}: {spec.scenes[new]} fits nowhere with a usable doorway"
            )
    # Move the whole house so its south-west corner is near the origin.
    q = PLACEMENT_STEP
    extents = [_shift(grids[i].extent, *placed[i]) for i in range(len(grids))]
    ox = -round(min(e[0] for e in extents) / q) * q
    oz = -round(min(e[2] for e in extents) / q) * q
    shifts = [(placed[i][0] + ox, placed[i][1] + oz) for i in range(len(grids))]
    doors = [(lo, hi, axis, c + (ox if axis == 1 else oz)) for lo, hi, axis, c in doors]
    return shifts, doors


def _side(extent: Extent, axis: int, sign: int) -> tuple[float, tuple[float, float]]:
    """(coordinate across, interval along) of one side of a room rectangle."""
    min_x, max_x, min_z, max_z = extent
    if axis == 0:
        return (max_x if sign > 0 else min_x), (min_z, max_z)
    return (max_z if sign > 0 else min_z), (min_x, max_x)


def _box(axis: int, across: tuple[float, float], along: tuple[float, float]) -> Extent:
    """Footprint (min_x, max_x, min_z, max_z) of a wall perpendicular to ``axis``."""
    if axis == 0:
        return (across[0], across[1], along[0], along[1])
    return (along[0], along[1], across[0], across[1])


@dataclass(frozen=True)
class SharedWall:
    """The wall between room ``low`` (on the minus side) and room ``high`` along ``axis``."""

    low: int
    high: int
    axis: int
    across: tuple[float, float]  # from the low room's side to the high room's side
    along: tuple[float, float]  # where both rooms face each other


def _shared_walls(extents: list[Extent]) -> list[SharedWall]:
    walls = []
    for i, a in enumerate(extents):
        for j, b in enumerate(extents):
            for axis in (0, 1):
                hi_side, (a0, a1) = _side(a, axis, +1)
                lo_side, (b0, b1) = _side(b, axis, -1)
                gap = lo_side - hi_side
                lo, hi = max(a0, b0), min(a1, b1)
                if i != j and 0 < gap <= MAX_WALL_GAP and hi - lo > 1e-6:
                    walls.append(SharedWall(i, j, axis, (hi_side, lo_side), (lo, hi)))
    return walls


def _subtract(interval: tuple[float, float], cuts: list[tuple[float, float]]) -> list:
    pieces = [interval]
    for c0, c1 in cuts:
        pieces = [
            p
            for q0, q1 in pieces
            for p in ((q0, min(q1, c0)), (max(q0, c1), q1))
            if p[1] - p[0] > 1e-6
        ]
    return pieces


def _wall_footprints(
    extents: list[Extent], shared: list[SharedWall], doors: dict[tuple[int, int], float]
) -> list[Extent]:
    """Outer walls around every room plus one wall per shared side, with doorways cut out.

    Every piece extends one wall thickness past its ends so corners close; the gap between two
    rooms is at least that thick, so no wall reaches into a room.
    """
    t = WALL_THICKNESS
    boxes: list[Extent] = []
    for i, extent in enumerate(extents):
        for axis in (0, 1):
            for sign in (-1, 1):
                coord, interval = _side(extent, axis, sign)
                cuts = [
                    w.along
                    for w in shared
                    if w.axis == axis and (w.low == i if sign > 0 else w.high == i)
                ]
                across = (coord, coord + t) if sign > 0 else (coord - t, coord)
                for p0, p1 in _subtract(interval, cuts):
                    boxes.append(_box(axis, across, (p0 - t, p1 + t)))
    for w in shared:
        along = (w.along[0] - t, w.along[1] + t)
        centre = doors.get((w.low, w.high))
        cuts = [] if centre is None else [(centre - DOOR_WIDTH / 2, centre + DOOR_WIDTH / 2)]
        for p0, p1 in _subtract(along, cuts):
            boxes.append(_box(w.axis, w.across, (p0, p1)))
    return boxes


@dataclass(frozen=True)
class HouseLayout:
    """Everything static about a house: room shifts and extents, walls, doorways."""

    spec: HouseSpec
    shifts: tuple[tuple[float, float], ...]
    extents: tuple[Extent, ...]
    walls: tuple[Extent, ...]
    doorways: tuple[tuple[int, int, Extent], ...]  # (low room, high room, passage footprint)


def _objects(spec: HouseSpec, shifts) -> tuple[dict[str, SimObject], dict[str, str]]:
    objects: dict[str, SimObject] = {}
    rooms: dict[str, str] = {}
    for i, (scene, (dx, dz)) in enumerate(zip(spec.scenes, shifts, strict=True)):
        for obj in _shift_room_objects(scene, dx, dz):
            if obj.object_id in objects:
                raise HouseLayoutError(f"{spec.name}: object id {obj.object_id} is not unique")
            objects[obj.object_id] = obj
            rooms[obj.object_id] = room_id(i)
    return objects, rooms


@cache
def house_layout(name: str) -> HouseLayout:
    """Place the rooms and cut the doorways (computed once per house name)."""
    spec = HOUSES[name]
    shifts, doors = _place_rooms(spec)
    extents = [
        _shift(_room_grid(sc).extent, *sh) for sc, sh in zip(spec.scenes, shifts, strict=True)
    ]
    shared = _shared_walls(extents)
    centres: dict[tuple[int, int], float] = {}
    passages = []
    for low, high, axis, centre in doors:
        wall = next(w for w in shared if (w.low, w.high, w.axis) == (low, high, axis))
        centres[(low, high)] = centre
        half = DOOR_WIDTH / 2
        passages.append((low, high, _box(axis, wall.across, (centre - half, centre + half))))
    return HouseLayout(
        spec=spec,
        shifts=tuple(shifts),
        extents=tuple(extents),
        walls=tuple(_wall_footprints(extents, shared, centres)),
        doorways=tuple(passages),
    )


def _structure(objects: dict[str, SimObject], extents, walls, passages) -> list[StructureBox]:
    """Walls, one ceiling, and a floor slab per room (named by its Floor object) and doorway."""
    t, h = WALL_THICKNESS / 2, WALL_HEIGHT / 2
    out: list[StructureBox] = []
    for min_x, max_x, min_z, max_z in walls:
        centre = ((min_x + max_x) / 2, h, (min_z + max_z) / 2)
        out.append(("Wall", "Wall", centre, ((max_x - min_x) / 2, h, (max_z - min_z) / 2)))
    lo = np.min(np.array(walls), axis=0)
    hi = np.max(np.array(walls), axis=0)
    cx, cz = float(lo[0] + hi[1]) / 2, float(lo[2] + hi[3]) / 2
    size = (float(hi[1] - lo[0]) / 2, t, float(hi[3] - lo[2]) / 2)
    out.append(("Ceiling", "Ceiling", (cx, WALL_HEIGHT + t, cz), size))
    floors = [o for o in objects.values() if o.object_type == "Floor"]

    def floor_name(x: float, z: float) -> str:
        for f in floors:
            if f.aabb_min[0] - 1e-6 <= x <= f.aabb_max[0] + 1e-6 and (
                f.aabb_min[2] - 1e-6 <= z <= f.aabb_max[2] + 1e-6
            ):
                return f.object_id
        return "Floor"

    slabs = list(extents) + [p for _, _, p in passages]
    names = [floor_name((e[0] + e[1]) / 2, (e[2] + e[3]) / 2) for e in extents]
    names += [names[low] for low, _, _ in passages]
    for (min_x, max_x, min_z, max_z), name in zip(slabs, names, strict=True):
        centre = ((min_x + max_x) / 2, -t, (min_z + max_z) / 2)
        out.append(("Floor", name, centre, ((max_x - min_x) / 2, t, (max_z - min_z) / 2)))
    return out


def _world(name, objects, extents, walls, passages, object_rooms=None) -> World:
    spec = HOUSES[name]
    all_boxes = np.array(list(extents) + [p for _, _, p in passages])
    extent = (
        float(all_boxes[:, 0].min()),
        float(all_boxes[:, 1].max()),
        float(all_boxes[:, 2].min()),
        float(all_boxes[:, 3].max()),
    )
    rooms = [
        Room(room_id(i), ROOM_TYPES[i], spec.scenes[i], tuple(float(v) for v in e))
        for i, e in enumerate(extents)
    ]
    doorways = [
        {
            "doorwayId": f"doorway|{low}|{high}",
            "rooms": [room_id(low), room_id(high)],
            "center": {"x": (p[0] + p[1]) / 2, "y": WALL_HEIGHT / 2, "z": (p[2] + p[3]) / 2},
            "size": {"x": p[1] - p[0], "y": WALL_HEIGHT, "z": p[3] - p[2]},
        }
        for low, high, p in passages
    ]
    world = World(
        scene_name=name,
        objects=objects,
        extent=extent,
        rooms=rooms,
        walls=np.array(walls, dtype=float).reshape(-1, 4),
        walkable=all_boxes.astype(float),
        structure=_structure(objects, extents, walls, passages),
        doorways=doorways,
        object_rooms=dict(object_rooms or {}),
        start_room=room_id(START_ROOM),
    )
    return world


def build_house(name: str) -> World:
    """A fresh world of house ``name`` (objects copied from the catalog, safe to mutate)."""
    layout = house_layout(name)
    objects, object_rooms = _objects(layout.spec, layout.shifts)
    return _world(
        name, objects, layout.extents, list(layout.walls), list(layout.doorways), object_rooms
    )


def rooms_metadata(world: World) -> list[dict]:
    """``metadata["rooms"]``: id, type, source FloorPlan, floor polygon and box per room."""
    out = []
    for room in world.rooms:
        min_x, max_x, min_z, max_z = room.extent
        corners = [(min_x, min_z), (min_x, max_z), (max_x, max_z), (max_x, min_z)]
        out.append(
            {
                "roomId": room.room_id,
                "roomType": room.room_type,
                "sourceScene": room.source_scene,
                "floorPolygon": [{"x": x, "y": 0.0, "z": z} for x, z in corners],
                "aabb": {
                    "center": {
                        "x": (min_x + max_x) / 2,
                        "y": WALL_HEIGHT / 2,
                        "z": (min_z + max_z) / 2,
                    },
                    "size": {"x": max_x - min_x, "y": WALL_HEIGHT, "z": max_z - min_z},
                },
            }
        )
    return out


def doorway_box(doorway: dict) -> Extent:
    """Footprint (min_x, max_x, min_z, max_z) of a ``metadata["doorways"]`` entry."""
    c, s = doorway["center"], doorway["size"]
    return (c["x"] - s["x"] / 2, c["x"] + s["x"] / 2, c["z"] - s["z"] / 2, c["z"] + s["z"] / 2)


def connected_rooms(world: World, cells: list[tuple[float, float]] | None = None) -> set[str]:
    """Rooms holding at least one of ``cells`` (default: cells reachable from the agent)."""
    cells = world.reachable_positions() if cells is None else cells
    return {world.room_at(x, z).room_id for x, z in cells if world.room_at(x, z) is not None}


def grid_components(cells: list[tuple[float, float]], grid: float = GRID) -> int:
    """Number of 4-connected components of a set of grid cells."""
    todo = {(round(x / grid), round(z / grid)) for x, z in cells}
    count = 0
    while todo:
        count += 1
        queue = deque([todo.pop()])
        while queue:
            i, j = queue.popleft()
            for nb in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                if nb in todo:
                    todo.remove(nb)
                    queue.append(nb)
    return count
