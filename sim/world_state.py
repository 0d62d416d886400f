"""Objects, receptacle relations and the agent of one household scene, without rendering.

Coordinates follow AI2-THOR (Unity): metres, ``x`` right, ``y`` up, ``z`` forward, yaw in degrees
clockwise seen from above. Each object keeps its AI2-THOR metadata dict (the same 42 keys as the
scene dump) as the single source of truth; geometry helpers read and update it in place.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import msgpack
import numpy as np

from memory_nodes.core.object_taxonomy import fits_inside, is_non_obstacle
from sim import scene_catalog

AGENT_Y = 0.9009992
CAMERA_HEIGHT_ABOVE_AGENT = 0.675
AGENT_RADIUS = 0.2
WALL_HEIGHT = 2.8
#: Objects thinner than this (metres) do not block placing something over them.
FLAT_THICKNESS = 0.04
#: Depth of one counter run (metres): see ``World._floor_footprints``.
SLAB_RUN_DEPTH = 0.65


def _is_long_slab(obj: SimObject) -> bool:
    """A thin, raised slab deeper than two counter runs both ways (an L- or U-shaped top)."""
    size = obj.size
    return bool(
        size[1] < 0.1
        and obj.aabb_min[1] > 0.5
        and min(size[0], size[2]) > 2 * SLAB_RUN_DEPTH
        and not obj.meta["pickupable"]
    )


def _vec(d: dict[str, float]) -> np.ndarray:
    return np.array([d["x"], d["y"], d["z"]], dtype=float)


def _dict(v: np.ndarray) -> dict[str, float]:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


def _corner_points(center: np.ndarray, size: np.ndarray) -> list[list[float]]:
    h = size / 2
    return [
        [float(center[0] + sx * h[0]), float(center[1] + sy * h[1]), float(center[2] + sz * h[2])]
        for sx in (1, -1)
        for sy in (1, -1)
        for sz in (1, -1)
    ]


def copy_as_sent(value: Any) -> Any:
    """Deep copy through msgpack so the Python API returns exactly what the pipe carries."""
    return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False)


@dataclass
class SimObject:
    """One AI2-THOR object: its metadata dict plus cached AABB geometry."""

    meta: dict[str, Any]
    hidden: bool = False  # sliced originals stay in metadata but have no geometry

    @property
    def object_id(self) -> str:
        return self.meta["objectId"]

    @property
    def object_type(self) -> str:
        return self.meta["objectType"]

    @property
    def center(self) -> np.ndarray:
        return _vec(self.meta["axisAlignedBoundingBox"]["center"])

    @property
    def size(self) -> np.ndarray:
        return _vec(self.meta["axisAlignedBoundingBox"]["size"])

    @property
    def aabb_min(self) -> np.ndarray:
        return self.center - self.size / 2

    @property
    def aabb_max(self) -> np.ndarray:
        return self.center + self.size / 2

    def turn_quarter(self) -> None:
        """Turn a quarter turn about the vertical through the AABB centre (x and z swap)."""
        m, centre = self.meta, self.center
        size = self.size[[2, 1, 0]]
        box = m["axisAlignedBoundingBox"]
        box["size"] = _dict(size)
        box["cornerPoints"] = _corner_points(centre, size)
        if m.get("objectOrientedBoundingBox"):
            rel = np.asarray(m["objectOrientedBoundingBox"]["cornerPoints"], dtype=float) - centre
            turned = np.stack([rel[:, 2], rel[:, 1], -rel[:, 0]], axis=1) + centre
            m["objectOrientedBoundingBox"]["cornerPoints"] = turned.tolist()
        if m.get("rotation"):
            m["rotation"]["y"] = (float(m["rotation"]["y"]) + 90.0) % 360.0

    def translate(self, delta: np.ndarray) -> None:
        """Move pose, AABB and OOBB together so the metadata stays self-consistent."""
        m = self.meta
        m["position"] = _dict(_vec(m["position"]) + delta)
        box = m["axisAlignedBoundingBox"]
        box["center"] = _dict(self.center + delta)
        box["cornerPoints"] = _corner_points(self.center, self.size)
        if m.get("objectOrientedBoundingBox"):
            pts = np.asarray(m["objectOrientedBoundingBox"]["cornerPoints"], dtype=float) + delta
            m["objectOrientedBoundingBox"]["cornerPoints"] = pts.tolist()


@dataclass
class AgentState:
    """Pose of the single agent; rotation and horizon in degrees like AI2-THOR."""

    x: float = 0.0
    z: float = 0.0
    rotation: float = 0.0
    horizon: float = 0.0
    standing: bool = True
    held_object_id: str | None = None

    def camera_position(self) -> np.ndarray:
        return np.array([self.x, AGENT_Y + CAMERA_HEIGHT_ABOVE_AGENT, self.z])

    def forward(self) -> np.ndarray:
        """Unit view direction including the camera horizon (positive looks down)."""
        yaw, pitch = np.radians(self.rotation), np.radians(self.horizon)
        return np.array([np.sin(yaw) * np.cos(pitch), -np.sin(pitch), np.cos(yaw) * np.cos(pitch)])

    def world_R_camera(self) -> np.ndarray:
        """Columns: camera right, down, forward (OpenCV axes) in AI2-THOR world coordinates."""
        yaw, pitch = np.radians(self.rotation), np.radians(self.horizon)
        right = np.array([np.cos(yaw), 0.0, -np.sin(yaw)])
        up = np.array([np.sin(yaw) * np.sin(pitch), np.cos(pitch), np.cos(yaw) * np.sin(pitch)])
        return np.stack([right, -up, self.forward()], axis=1)


@dataclass(frozen=True)
class Room:
    """One room of a multi-room house: its id, kind, source FloorPlan and floor rectangle."""

    room_id: str
    room_type: str
    source_scene: str
    extent: tuple[float, float, float, float]  # min_x, max_x, min_z, max_z of its floor

    @property
    def centre(self) -> tuple[float, float]:
        min_x, max_x, min_z, max_z = self.extent
        return ((min_x + max_x) / 2, (min_z + max_z) / 2)

    def contains(self, x: float, z: float) -> bool:
        min_x, max_x, min_z, max_z = self.extent
        return min_x <= x <= max_x and min_z <= z <= max_z

    def distance(self, x: float, z: float) -> float:
        """Distance from a floor point to the room rectangle (0 inside)."""
        min_x, max_x, min_z, max_z = self.extent
        dx = max(min_x - x, 0.0, x - max_x)
        dz = max(min_z - z, 0.0, z - max_z)
        return math.hypot(dx, dz)


#: One static structure box for the renderer: (kind, segmentation name, centre, half size), the
#: kind being "Wall", "Ceiling" or "Floor" and both vectors in AI2-THOR axes.
StructureBox = tuple[str, str, tuple[float, float, float], tuple[float, float, float]]


@dataclass
class World:
    """All mutable state of one scene: objects, agent and the static room extent.

    A single-room scene leaves the house fields empty; a house (see :mod:`sim.houses`) fills
    ``rooms``, ``walls`` (inner and outer wall footprints, which block the agent), ``walkable``
    (floor rectangles: rooms plus doorway passages, outside which the agent cannot stand),
    ``structure`` (the wall/floor/ceiling boxes the renderer draws) and ``object_rooms`` (the
    room each object was built in).
    """

    scene_name: str
    objects: dict[str, SimObject]
    extent: tuple[float, float, float, float]  # min_x, max_x, min_z, max_z of the room
    agent: AgentState = field(default_factory=AgentState)
    grid_size: float = 0.25
    rooms: list[Room] = field(default_factory=list)
    walls: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    walkable: np.ndarray | None = None
    structure: list[StructureBox] | None = None
    doorways: list[dict[str, Any]] = field(default_factory=list)
    object_rooms: dict[str, str] = field(default_factory=dict)
    start_room: str | None = None

    @classmethod
    def from_catalog(cls, scene_name: str) -> World:
        metas = scene_catalog.get_scene_objects(scene_name)
        objects = {m["objectId"]: SimObject(m) for m in metas}
        floor = [o for o in objects.values() if o.object_type == "Floor"]
        boxes = floor or list(objects.values())
        lo = np.min([o.aabb_min for o in boxes], axis=0)
        hi = np.max([o.aabb_max for o in boxes], axis=0)
        world = cls(
            scene_name=scene_catalog.normalize_scene_name(scene_name),
            objects=objects,
            extent=(float(lo[0]), float(hi[0]), float(lo[2]), float(hi[2])),
        )
        for obj in objects.values():
            obj.meta["isInteractable"] = False
            obj.meta["visible"] = False
        return world

    # ---- rooms -----------------------------------------------------------------------------
    def room_at(self, x: float, z: float) -> Room | None:
        """Room whose floor holds ``(x, z)``, else the nearest room; None in single-room scenes."""
        if not self.rooms:
            return None
        inside = [r for r in self.rooms if r.contains(x, z)]
        if inside:
            return inside[0]
        return min(self.rooms, key=lambda r: (round(r.distance(x, z), 6), r.room_id))

    def room_of(self, obj: SimObject) -> Room | None:
        """Room an object is in now: the agent's while held, else where its centre stands.

        Objects whose centre is on no room's floor (windows and paintings on walls, things in a
        doorway) keep the room they were built in, so wall-mounted objects are never assigned to
        the room behind the wall.
        """
        if not self.rooms:
            return None
        if obj.object_id == self.agent.held_object_id:
            return self.room_at(self.agent.x, self.agent.z)
        c = obj.center
        inside = [r for r in self.rooms if r.contains(float(c[0]), float(c[2]))]
        if inside:
            return inside[0]
        home = self.object_rooms.get(obj.object_id)
        by_id = {r.room_id: r for r in self.rooms}
        return by_id[home] if home in by_id else self.room_at(float(c[0]), float(c[2]))

    def interior_centre(self, point: np.ndarray) -> np.ndarray:
        """Centre of the room around ``point`` (x, 0, z): open doors swing towards it."""
        room = self.room_at(float(point[0]), float(point[2]))
        if room is None:
            min_x, max_x, min_z, max_z = self.extent
            return np.array([(min_x + max_x) / 2, 0.0, (min_z + max_z) / 2])
        cx, cz = room.centre
        return np.array([cx, 0.0, cz])

    # ---- lookups -------------------------------------------------------------------------
    def find_object(self, object_id: str) -> SimObject | None:
        return self.objects.get(object_id)

    def objects_of_type(self, object_type: str) -> list[SimObject]:
        return [o for o in self.objects.values() if o.object_type == object_type]

    def parent_of(self, obj: SimObject) -> SimObject | None:
        parents = obj.meta.get("parentReceptacles") or []
        return self.objects.get(parents[0]) if parents else None

    def ancestors(self, obj: SimObject) -> list[SimObject]:
        """Receptacles containing ``obj``, nearest first (apple -> plate -> fridge)."""
        chain: list[SimObject] = []
        parent = self.parent_of(obj)
        while parent is not None and parent not in chain:
            chain.append(parent)
            parent = self.parent_of(parent)
        return chain

    def descendants(self, obj: SimObject) -> list[SimObject]:
        out: list[SimObject] = []
        queue = deque(obj.meta.get("receptacleObjectIds") or [])
        while queue:
            child = self.objects.get(queue.popleft())
            if child is not None and child not in out:
                out.append(child)
                queue.extend(child.meta.get("receptacleObjectIds") or [])
        return out

    # ---- relations -----------------------------------------------------------------------
    def detach(self, obj: SimObject) -> None:
        """Remove ``obj`` from its receptacle's contents."""
        for pid in obj.meta.get("parentReceptacles") or []:
            parent = self.objects.get(pid)
            if parent is not None and parent.meta.get("receptacleObjectIds"):
                ids = [i for i in parent.meta["receptacleObjectIds"] if i != obj.object_id]
                parent.meta["receptacleObjectIds"] = ids
        obj.meta["parentReceptacles"] = None

    def attach(self, obj: SimObject, receptacle: SimObject) -> None:
        obj.meta["parentReceptacles"] = [receptacle.object_id]
        ids = list(receptacle.meta.get("receptacleObjectIds") or [])
        if obj.object_id not in ids:
            ids.append(obj.object_id)
        receptacle.meta["receptacleObjectIds"] = ids

    def move_with_contents(self, obj: SimObject, delta: np.ndarray) -> None:
        for o in [obj, *self.descendants(obj)]:
            o.translate(delta)

    def remove_object(self, obj: SimObject) -> None:
        """Delete ``obj`` and everything it contains from the scene."""
        for o in [obj, *self.descendants(obj)]:
            self.detach(o)
            if self.agent.held_object_id == o.object_id:
                self.agent.held_object_id = None
            self.objects.pop(o.object_id, None)

    # ---- placement -----------------------------------------------------------------------
    def find_placement(
        self, obj: SimObject, receptacle: SimObject, near: np.ndarray | None = None
    ) -> np.ndarray | None:
        """AABB centre for ``obj`` on/in ``receptacle`` that overlaps no sibling, or None.

        Candidates lie on a 5 cm lattice over the receptacle's footprint, tried nearest to
        ``near`` first (AI2-THOR also places at the spot closest to the agent that fits). An
        object wider than a surface it goes *on* is centred on it and overhangs (a pot on a
        stove burner, as AI2-THOR allows); what goes *inside* must fit, turned a quarter turn
        if only that way (a loaf into a narrow microwave): then ``obj`` is turned
        (:meth:`SimObject.turn_quarter`) before the centre is returned.
        """
        size, r_min, r_max = obj.size, receptacle.aabb_min, receptacle.aabb_max
        inside = fits_inside(receptacle.object_type)
        room = (r_max - r_min)[[0, 2]]
        if inside and np.any(size[[0, 2]] > room) and np.all(size[[2, 0]] <= room):
            obj.turn_quarter()
            size = obj.size
        half = size[[0, 2]] / 2
        lo = r_min[[0, 2]] + half
        hi = r_max[[0, 2]] - half
        if not inside:
            middle = (r_min[[0, 2]] + r_max[[0, 2]]) / 2
            too_wide = hi < lo
            lo, hi = np.where(too_wide, middle, lo), np.where(too_wide, middle, hi)
        if np.any(hi < lo - 1e-6):
            return None
        if inside:
            bottom = r_min[1] + 0.02 * (r_max[1] - r_min[1])
            if r_max[1] - bottom < size[1] * 0.5:
                return None
        else:
            bottom = r_max[1]
        xs = np.arange(lo[0], hi[0] + 1e-6, 0.05) if hi[0] > lo[0] else np.array([lo[0]])
        zs = np.arange(lo[1], hi[1] + 1e-6, 0.05) if hi[1] > lo[1] else np.array([lo[1]])
        gx, gz = np.meshgrid(xs, zs, indexing="ij")
        cand = np.stack([gx.ravel(), gz.ravel()], axis=1)
        tiles = self.slab_tiles(receptacle)
        if tiles:  # an L-shaped counter: on its arms, not in the air between them
            t = np.asarray(tiles)
            on_arm = (
                (cand[:, None, 0] >= t[None, :, 0])
                & (cand[:, None, 0] <= t[None, :, 1])
                & (cand[:, None, 1] >= t[None, :, 2])
                & (cand[:, None, 1] <= t[None, :, 3])
            )
            cand = cand[on_arm.any(axis=1)]
            if len(cand) == 0:
                return None
        target = (r_min[[0, 2]] + r_max[[0, 2]]) / 2 if near is None else near[[0, 2]]
        order = np.lexsort(
            (cand[:, 1], cand[:, 0], np.round(np.linalg.norm(cand - target, axis=1), 6))
        )
        # Some dumps list a receptacle's surroundings among its contents (FloorPlan28's sink
        # basin "holds" the counter top around it); what is wider than the receptacle both
        # ways cannot be in it and does not block placement.
        siblings = [
            self.objects[i]
            for i in receptacle.meta.get("receptacleObjectIds") or []
            if i in self.objects
            and i != obj.object_id
            and not self.objects[i].hidden
            and np.any(self.objects[i].size[[0, 2]] < receptacle.size[[0, 2]])
            # Flat things (a fork in the sink, a card on the table) end up under what is put
            # there, as AI2-THOR's physics lets a bowl rest on a spoon.
            and self.objects[i].size[1] >= FLAT_THICKNESS
        ]
        s_lo = np.array([s.aabb_min[[0, 2]] for s in siblings]).reshape(-1, 2)
        s_hi = np.array([s.aabb_max[[0, 2]] for s in siblings]).reshape(-1, 2)
        for k in order:
            c = cand[k]
            overlap = np.all((c - half < s_hi) & (c + half > s_lo), axis=1)
            if not overlap.any():
                return np.array([c[0], bottom + size[1] / 2, c[1]])
        return None

    def place(self, obj: SimObject, receptacle: SimObject, center: np.ndarray) -> None:
        self.detach(obj)
        self.move_with_contents(obj, center - obj.center)
        self.attach(obj, receptacle)

    # ---- navigation ----------------------------------------------------------------------
    def obstacle_boxes(self) -> np.ndarray:
        """Floor footprints (min_x, max_x, min_z, max_z) the agent cannot enter."""
        rows = []
        for o in self.objects.values():
            if o.hidden or o.meta["pickupable"] or is_non_obstacle(o.object_type):
                continue
            lo, hi = o.aabb_min, o.aabb_max
            if lo[1] < 1.5 and hi[1] > 0.15:
                rows += self._floor_footprints(o)
        boxes = np.array(rows, dtype=float).reshape(-1, 4)
        if len(self.walls):
            boxes = np.concatenate([boxes, self.walls], axis=0)
        return boxes

    def _floor_footprints(self, obj: SimObject) -> list[list[float]]:
        """Footprints one obstacle blocks: its AABB's, or a long slab's tiles (``slab_tiles``)."""
        tiles = self.slab_tiles(obj)
        if tiles is None:
            lo, hi = obj.aabb_min, obj.aabb_max
            return [[lo[0], hi[0], lo[2], hi[2]]]
        return tiles

    def slab_tiles(self, obj: SimObject) -> list[list[float]] | None:
        """Grid tiles (min_x, max_x, min_z, max_z) an L- or U-shaped slab really covers.

        A counter top that runs along two or three walls is one object whose AABB spans the
        kitchen floor between its arms (FloorPlan3's covers nearly the whole room). For a
        thin, raised slab deeper than two counter runs both ways, only the tiles of its AABB
        that something fixed under or on it overlaps (cabinets, drawers, a stove, a sink) are
        its arms. None for any other object.
        """
        lo, hi = obj.aabb_min, obj.aabb_max
        if not _is_long_slab(obj):
            return None
        others = np.array(
            [
                [o.aabb_min[0], o.aabb_max[0], o.aabb_min[2], o.aabb_max[2]]
                for o in self.objects.values()
                if o is not obj
                and not o.hidden
                and not o.meta["pickupable"]  # what the agent moves must not move the arms
                and not is_non_obstacle(o.object_type)
                and not (o.size[1] < 0.1 and o.aabb_min[1] > 0.5)  # other slabs
            ]
        ).reshape(-1, 4)
        g = self.grid_size
        tiles = []
        for x0 in np.arange(lo[0], hi[0], g):
            for z0 in np.arange(lo[2], hi[2], g):
                x1, z1 = min(x0 + g, hi[0]), min(z0 + g, hi[2])
                overlaps = (
                    (others[:, 0] < x1)
                    & (others[:, 1] > x0)
                    & (others[:, 2] < z1)
                    & (others[:, 3] > z0)
                )
                if overlaps.any():
                    tiles.append([float(x0), float(x1), float(z0), float(z1)])
        return tiles

    def slab_arms(self, obj: SimObject, max_arms: int = 3) -> list[list[float]] | None:
        """Up to ``max_arms`` boxes (min_x, max_x, min_z, max_z) drawing a long slab's arms.

        One box per AABB edge strip (one counter run deep) holding tiles of
        :meth:`slab_tiles`, spanning those tiles along the edge; the largest first. None for
        any object that is not a long slab.
        """
        tiles = self.slab_tiles(obj)
        if tiles is None:
            return None
        lo, hi, d = obj.aabb_min, obj.aabb_max, SLAB_RUN_DEPTH
        strips = [
            [lo[0], lo[0] + d, lo[2], hi[2]],
            [hi[0] - d, hi[0], lo[2], hi[2]],
            [lo[0], hi[0], lo[2], lo[2] + d],
            [lo[0], hi[0], hi[2] - d, hi[2]],
        ]
        arms = []
        for k, strip in enumerate(strips):
            inside = [
                t
                for t in tiles
                if t[0] >= strip[0] - 1e-6
                and t[1] <= strip[1] + 1e-6
                and t[2] >= strip[2] - 1e-6
                and t[3] <= strip[3] + 1e-6
            ]
            if not inside:
                continue
            arm = list(strip)
            if k < 2:  # runs along z
                arm[2], arm[3] = min(t[2] for t in inside), max(t[3] for t in inside)
            else:
                arm[0], arm[1] = min(t[0] for t in inside), max(t[1] for t in inside)
            arms.append(arm)
        arms.sort(key=lambda a: -(a[1] - a[0]) * (a[3] - a[2]))
        return arms[:max_arms]

    def on_walkable_floor(self, x: float, z: float) -> bool:
        """True inside a room or doorway of a house (always true in a single-room scene)."""
        if self.walkable is None:
            return True
        w = self.walkable
        return bool(np.any((w[:, 0] <= x) & (x <= w[:, 1]) & (w[:, 2] <= z) & (z <= w[:, 3])))

    def is_free(self, x: float, z: float, boxes: np.ndarray | None = None) -> bool:
        min_x, max_x, min_z, max_z = self.extent
        r = AGENT_RADIUS
        if not (min_x + r <= x <= max_x - r and min_z + r <= z <= max_z - r):
            return False
        if not self.on_walkable_floor(x, z):
            return False
        boxes = self.obstacle_boxes() if boxes is None else boxes
        if len(boxes) == 0:
            return True
        dx = np.maximum(np.maximum(boxes[:, 0] - x, x - boxes[:, 1]), 0.0)
        dz = np.maximum(np.maximum(boxes[:, 2] - z, z - boxes[:, 3]), 0.0)
        return bool(np.all(dx * dx + dz * dz >= r * r))

    def free_grid_cells(self) -> list[tuple[float, float]]:
        g = self.grid_size
        min_x, max_x, min_z, max_z = self.extent
        boxes = self.obstacle_boxes()
        cells = []
        for i in range(int(np.ceil(min_x / g)), int(np.floor(max_x / g)) + 1):
            for j in range(int(np.ceil(min_z / g)), int(np.floor(max_z / g)) + 1):
                if self.is_free(i * g, j * g, boxes):
                    cells.append((round(i * g, 4), round(j * g, 4)))
        return cells

    def reachable_positions(
        self, start: tuple[float, float] | None = None, cells: set | None = None
    ) -> list[tuple]:
        """Grid cells connected to ``start`` (the agent by default) by 4-neighbour moves."""
        cells = set(self.free_grid_cells()) if cells is None else cells
        g = self.grid_size
        sx, sz = start if start is not None else (self.agent.x, self.agent.z)
        seed = (round(round(sx / g) * g, 4), round(round(sz / g) * g, 4))
        if seed not in cells:
            return sorted(cells)
        seen, queue = {seed}, deque([seed])
        while queue:
            x, z = queue.popleft()
            for nb in ((x + g, z), (x - g, z), (x, z + g), (x, z - g)):
                nb = (round(nb[0], 4), round(nb[1], 4))
                if nb in cells and nb not in seen:
                    seen.add(nb)
                    queue.append(nb)
        return sorted(seen)

    def default_start(self) -> tuple[float, float]:
        """Deterministic start: the free cell of the largest region nearest the room centre."""
        cells = set(self.free_grid_cells())
        if not cells:
            min_x, max_x, min_z, max_z = self.extent
            return ((min_x + max_x) / 2, (min_z + max_z) / 2)
        best: list[tuple[float, float]] = []
        remaining = set(cells)
        while remaining:
            region = self.reachable_positions(min(remaining), cells)
            region = [c for c in region if c in remaining]
            remaining -= set(region)
            if len(region) > len(best):
                best = region
        min_x, max_x, min_z, max_z = self.extent
        centre = np.array([(min_x + max_x) / 2, (min_z + max_z) / 2])
        start_room = next((r for r in self.rooms if r.room_id == self.start_room), None)
        if start_room is not None:  # a house starts in its living room, not in a wall gap
            centre = np.array(start_room.centre)
        return min(best, key=lambda c: (round(float(np.linalg.norm(np.array(c) - centre)), 6), c))
