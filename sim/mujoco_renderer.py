"""Headless MuJoCo rendering of a household scene: RGB, metric depth and instance segmentation.

Every object is drawn as boxes built from its AABB. Static structure and furniture are geoms of
MuJoCo's world body; an openable's door is a body on a ``hinge`` joint (a drawer's front on a
``slide`` joint) whose joint position follows ``isOpen``/``openness``; pickupable objects are
bodies with a ``freejoint`` posed from their metadata, which :meth:`SceneRenderer.settle`
lets fall and come to rest on a support surface with a fixed number of physics steps. A scene
has at most :data:`MAX_BODIES` bodies: when doors and pickupables would exceed it, the smallest
pickupables stay world-body geoms (placed, not settled). Openable objects own three geoms (a
closed box, or a back panel and a bottom panel when open) plus the door; any other box that
holds something within its bounds (a sink, a bowl, a shelving unit, a sofa) is drawn hollow, a
base and two end walls, so what it holds stays visible.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np

from sim.world_state import WALL_HEIGHT, World

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco

HIDDEN_POS = np.array([0.0, 0.0, -100.0])
HIDDEN_SIZE = np.array([1e-3, 1e-3, 1e-3])
PANEL = 0.03
#: Open containers whose floor is higher than this (metres) are drawn without a floor panel.
UPPER_CABINET_FLOOR = 1.4
#: Thinnest base drawn under the contents of a hollow box (see ``content_floors``).
CONTENT_FLOOR_SLAB = 0.01
#: Receptacles inside another object's box (a sink's or bathtub's frame) that must show.
BASIN_TYPES = frozenset({"SinkBasin", "BathtubBasin"})
GEOMS_PER_OBJECT = 3
#: Most bodies one scene model may hold (the world body included).
MAX_BODIES = 150
#: Physics settling: fixed timestep (s) and number of ``mj_step`` calls per placement.
PHYSICS_TIMESTEP = 0.002
SETTLE_STEPS = 300
#: A closed door lies this far (m) inside its object's box, so the closed box hides it.
DOOR_INSET = 0.001
#: Thickness (m) of the temporary support box an object settles on.
SUPPORT_DEPTH = 0.2
#: Geom group that is never rendered (the support box used while settling).
HIDDEN_GROUP = 3
NEAR_PLANE, FAR_PLANE = 0.05, 30.0
STRUCTURE_COLOURS = {
    "Wall": (200, 196, 186),
    "Ceiling": (235, 235, 235),
    "Floor": (150, 120, 90),
}


def type_colour(object_type: str) -> tuple[int, int, int]:
    """Stable, well-spread RGB colour for an object type (same type -> same colour)."""
    h = int(hashlib.md5(object_type.encode()).hexdigest()[:8], 16)
    hue = (h % 997) / 997.0
    sat = 0.45 + 0.4 * ((h >> 10) % 100) / 100.0
    val = 0.55 + 0.4 * ((h >> 20) % 100) / 100.0
    i = int(hue * 6) % 6
    f = hue * 6 - int(hue * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    rgb = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)][i]
    return tuple(round(255 * c) for c in rgb)  # type: ignore[return-value]


def instance_colours(names: list[str]) -> dict[str, tuple[int, int, int]]:
    """Unique segmentation colour per name, derived from the name so it is stable across runs."""
    out: dict[str, tuple[int, int, int]] = {}
    used: set[tuple[int, int, int]] = {(0, 0, 0)}
    for name in names:
        salt = 0
        while True:
            d = hashlib.md5(f"{name}#{salt}".encode()).digest()
            colour = (d[0], d[1], d[2])
            if colour not in used:
                break
            salt += 1
        used.add(colour)
        out[name] = colour
    return out


def _to_mj(v: np.ndarray) -> np.ndarray:
    """AI2-THOR (x, y up, z) -> MuJoCo (x, y, z up); the axis swap also fixes handedness."""
    return np.asarray(v, dtype=float)[..., [0, 2, 1]]


#: Metres above an openable's bottom below which a neighbour's object counts as standing on the
#: same floor beside it, not poking into it from above.
FLOOR_NEIGHBOUR_TOLERANCE = 0.05


def content_floors(world: World) -> dict[str, float]:
    """Object id -> lowest bottom of the contents whose centres lie inside its box.

    Contents are pickupable objects and basins (a ``Sink`` box holds its ``SinkBasin``).
    AI2-THOR meshes have shelves, seats and basins; our boxes are solid. A box drawn whole
    would swallow what rests inside its bounds (objects on a shelving unit's lower shelves, on
    a sofa's seat, in a sink, thin cutlery sunk into a counter slab's AABB), and those objects
    could never be seen. The renderer draws such boxes hollow instead: a base up to the
    returned height and two end walls. The held object and hidden objects count for nothing.
    """
    items = [
        o
        for o in world.objects.values()
        if not o.hidden and o.object_type != "Floor" and o.object_id != world.agent.held_object_id
    ]
    contents = [o for o in items if o.meta["pickupable"] or o.object_type in BASIN_TYPES]
    if not contents:
        return {}
    centres = np.array([o.center for o in contents])
    bottoms = np.array([o.aabb_min[1] for o in contents])
    holders = [{a.object_id for a in world.ancestors(o)} for o in contents]
    out: dict[str, float] = {}
    for obj in items:
        lo, hi = obj.aabb_min, obj.aabb_max
        inside = np.all((centres > lo) & (centres < hi), axis=1)
        inside &= np.array([o is not obj for o in contents])
        if obj.meta["openable"]:
            # A closed box hides what it holds on purpose, but not what merely pokes into its
            # AABB from a neighbour (an apple in a sink basin that overlaps the cabinet below).
            inside &= np.array([obj.object_id not in h for h in holders])
            # What stands on the floor beside it (a plunger by a toilet) would flatten the box
            # to a slab and make the object vanish: such neighbours stay hidden instead.
            inside &= bottoms > lo[1] + FLOOR_NEIGHBOUR_TOLERANCE
        if inside.any():
            out[obj.object_id] = float(bottoms[inside].min())
    return out


def _from_mj(v: np.ndarray) -> np.ndarray:
    """MuJoCo (x, y, z up) -> AI2-THOR (x, y up, z); the swap is its own inverse."""
    return np.asarray(v, dtype=float)[..., [0, 2, 1]]


@dataclass
class DoorGeometry:
    """A door panel in AI2-THOR axes: its joint frame, closed pose and fully open position.

    ``pivot`` is the body origin (the hinge line, or the closed panel's centre for a slide),
    ``local`` the closed panel's centre relative to it, ``half`` its closed half size,
    ``joint`` ``"hinge"`` (vertical axis) or ``"slide"`` (along ``axis``, a unit vector), and
    ``open_qpos`` the joint position at ``openness`` 1 (radians or metres).
    """

    pivot: np.ndarray
    local: np.ndarray
    half: np.ndarray
    joint: str
    axis: np.ndarray
    open_qpos: float

    def box(self, openness: float) -> tuple[np.ndarray, np.ndarray]:
        """(centre, half size) of the panel at ``openness`` (0 closed .. 1 open)."""
        q = self.open_qpos * float(openness)
        if self.joint == "slide":
            return self.pivot + self.local + q * self.axis, self.half.copy()
        # Rotation about the vertical; AI2-THOR's y is MuJoCo's z (right-handed there).
        local_mj = _to_mj(self.local)
        cos, sin = np.cos(q), np.sin(q)
        rot = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
        centre = self.pivot + _from_mj(rot @ local_mj)
        half_mj = np.abs(rot) @ _to_mj(self.half)
        return centre, _from_mj(half_mj)


def door_geometry(world: World, obj) -> DoorGeometry:
    """Door of an openable object: a panel across the front that faces the room centre.

    The front is the side along the thinner horizontal axis facing the room centre. Closed, the
    panel lies just inside the front face (the closed box hides it); a hinged door turns a
    quarter turn about the vertical edge at the low end of the other axis and ends up
    perpendicular to the front, a drawer's front slides out by the drawer's depth.
    """
    c, h = obj.center, np.maximum(obj.size / 2, 0.005)
    room = world.interior_centre(c)
    axis = 0 if h[0] <= h[2] else 2
    other = 2 - axis
    sign = 1.0 if room[axis] >= c[axis] else -1.0
    half = h - DOOR_INSET
    half[axis] = PANEL / 2
    front = c[axis] + sign * (h[axis] - DOOR_INSET - PANEL / 2)
    unit_axis, unit_other = np.zeros(3), np.zeros(3)
    unit_axis[axis], unit_other[other] = sign, 1.0
    if obj.object_type == "Drawer":
        pivot = c.copy()
        pivot[axis] = front
        return DoorGeometry(pivot, np.zeros(3), half, "slide", unit_axis, 2 * float(h[axis]))
    pivot = c.copy()
    pivot[other] = c[other] - h[other] + PANEL / 2
    pivot[axis] = front
    local = np.zeros(3)
    local[other] = c[other] - pivot[other]
    u, v = _to_mj(unit_other), _to_mj(unit_axis)
    angle = float(np.arctan2(u[0] * v[1] - u[1] * v[0], u @ v))
    return DoorGeometry(pivot, local, half, "hinge", np.array([0.0, 1.0, 0.0]), angle)


def _subtract(rect: list[float], hole: list[float]) -> list[list[float]]:
    """``rect`` minus ``hole`` (both min_x, max_x, min_z, max_z) as up to four rectangles."""
    x0, x1, z0, z1 = rect
    h0, h1, k0, k1 = max(hole[0], x0), min(hole[1], x1), max(hole[2], z0), min(hole[3], z1)
    if h0 >= h1 or k0 >= k1:
        return [rect]
    pieces = [[x0, h0, z0, z1], [h1, x1, z0, z1], [h0, h1, z0, k0], [h0, h1, k1, z1]]
    return [r for r in pieces if r[1] - r[0] > 1e-3 and r[3] - r[2] > 1e-3]


def _slab_pieces(world: World, obj) -> list[list[float]] | None:
    """Floor-plan rectangles to draw a counter-top slab with, or None to draw its box.

    An L- or U-shaped slab is drawn as its arms (:meth:`World.slab_arms`), and a slab is cut
    open above the sinks and basins set into it (its AABB covers them, AI2-THOR's mesh has a
    hole there), keeping the largest pieces that fit the object's geoms.
    """
    size = obj.size
    if not (size[1] < 0.1 and obj.aabb_min[1] > 0.5 and not obj.meta["pickupable"]):
        return None
    lo, hi = obj.aabb_min, obj.aabb_max
    arms = world.slab_arms(obj)
    rects = arms if arms is not None else [[lo[0], hi[0], lo[2], hi[2]]]
    holes = [
        [o.aabb_min[0], o.aabb_max[0], o.aabb_min[2], o.aabb_max[2]]
        for o in world.objects.values()
        if (o.object_type in BASIN_TYPES or o.object_type in ("Sink", "Bathtub"))
        and not o.hidden
        and o.aabb_max[1] <= hi[1] + 0.05
        and o.aabb_min[1] < lo[1]
    ]
    if not holes and arms is None:
        return None
    for hole in holes:
        rects = [piece for rect in rects for piece in _subtract(rect, hole)]
    rects.sort(key=lambda r: -(r[1] - r[0]) * (r[3] - r[2]))
    return rects[:GEOMS_PER_OBJECT]


@dataclass
class RenderedFrames:
    """One camera's images; row 0 is the top of the image."""

    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres along the optical axis
    instance_segmentation: np.ndarray  # (H, W, 3) uint8 colours, see ``colour_to_object_id``
    colour_to_object_id: dict[tuple[int, int, int], str]
    intrinsics: np.ndarray  # 3x3 pinhole matrix
    world_T_camera: np.ndarray  # 4x4, camera axes x right, y down, z forward (OpenCV)


class SceneRenderer:
    """Owns the MuJoCo model and GL context for one scene at one resolution."""

    def __init__(self, world: World, width: int, height: int, field_of_view: float = 90.0):
        self.width, self.height, self.field_of_view = width, height, field_of_view
        self._object_ids: list[str] = []
        self._model: mujoco.MjModel | None = None
        self._context: mujoco.MjrContext | None = None
        self._gl = None
        self._build(world)

    # ---- model -----------------------------------------------------------------------------
    def _build(self, world: World) -> None:
        self.close()
        self._object_ids = list(world.objects)
        if world.structure is not None:  # a house: walls with doorways, one floor per room
            structure = [kind for kind, _, _, _ in world.structure]
            structure_boxes = [(c, s) for _, _, c, s in world.structure]
        else:
            structure, structure_boxes = self._single_room_structure(world)
        geoms = []
        for name, (c, s) in zip(structure, structure_boxes, strict=True):
            r, g, b = (v / 255 for v in STRUCTURE_COLOURS[name])
            pos = " ".join(f"{v:.4f}" for v in _to_mj(np.array(c)))
            size = " ".join(f"{v:.4f}" for v in _to_mj(np.array(s)))
            geoms.append(f'<geom type="box" pos="{pos}" size="{size}" rgba="{r} {g} {b} 1"/>')
        self._doors, self._free = self._plan_bodies(world)
        bodies = []
        inertial = '<inertial pos="0 0 0" mass="0.2" diaginertia="1e-3 1e-3 1e-3"/>'
        for k, oid in enumerate(self._object_ids):
            r, g, b = (v / 255 for v in type_colour(world.objects[oid].object_type))
            own = [
                f'<geom name="o{k}_{j}" type="box" size=".001 .001 .001" rgba="{r} {g} {b} 1"/>'
                for j in range(GEOMS_PER_OBJECT)
            ]
            if oid in self._free:
                bodies.append(f'<body name="b{k}"><freejoint/>{inertial}{"".join(own)}</body>')
                continue
            geoms.extend(own)
            if oid in self._doors:
                door = door_geometry(world, world.objects[oid])
                axis = " ".join(f"{v:.6f}" for v in _to_mj(door.axis))
                bodies.append(
                    f'<body name="d{k}"><joint name="j{k}" type="{door.joint}" axis="{axis}"/>'
                    f'{inertial}<geom name="o{k}_door" type="box" size=".001 .001 .001" '
                    f'rgba="{r} {g} {b} 1"/></body>'
                )
        geoms.append(
            f'<geom name="support" type="box" size=".001 .001 .001" pos="0 0 -100" '
            f'group="{HIDDEN_GROUP}" rgba="0 0 0 0"/>'
        )
        xml = f"""
<mujoco>
  <option timestep="{PHYSICS_TIMESTEP}"><flag midphase="disable"/></option>
  <statistic extent="1" center="0 0 1"/>
  <visual>
    <global fovy="{self.field_of_view}" offwidth="{self.width}" offheight="{self.height}"/>
    <quality offsamples="0" shadowsize="0"/>
    <map znear="{NEAR_PLANE}" zfar="{FAR_PLANE}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.35 0.35 0.35" specular="0 0 0"/>
  </visual>
  <worldbody>
    <light directional="true" pos="0 0 3" dir="0.3 0.2 -1" castshadow="false"
           diffuse="0.35 0.35 0.35" specular="0 0 0"/>
    {"".join(geoms)}
    {"".join(bodies)}
  </worldbody>
</mujoco>"""
        self._model = mujoco.MjModel.from_xml_string(xml)
        self._model.geom_contype[:] = 0
        self._model.geom_conaffinity[:] = 0
        # Geom poses are rewritten at run time: make mj_kinematics apply every geom's offset.
        self._model.geom_sameframe[:] = 0
        self._data = mujoco.MjData(self._model)
        # Low-level rendering: one pass gives segmentation and depth together, a second RGB.
        self._gl = mujoco.GLContext(self.width, self.height)
        self._gl.make_current()
        self._context = mujoco.MjrContext(self._model, mujoco.mjtFontScale.mjFONTSCALE_150)
        mujoco.mjr_setBuffer(mujoco.mjtFramebuffer.mjFB_OFFSCREEN, self._context)
        self._context.readDepthMap = mujoco.mjtDepthMap.mjDEPTH_ZEROFAR
        self._scene = mujoco.MjvScene(self._model, maxgeom=self._model.ngeom + 16)
        self._option = mujoco.MjvOption()
        self._option.geomgroup[HIDDEN_GROUP] = 0
        self._rect = mujoco.MjrRect(0, 0, self.width, self.height)
        for flag in (
            mujoco.mjtRndFlag.mjRND_SHADOW,
            mujoco.mjtRndFlag.mjRND_REFLECTION,
            mujoco.mjtRndFlag.mjRND_SKYBOX,
            mujoco.mjtRndFlag.mjRND_FOG,
        ):
            self._scene.flags[flag] = 0
        self._rgb = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._seg = np.empty((self.height, self.width, 3), dtype=np.uint8)
        self._zbuf = np.empty((self.height, self.width), dtype=np.float32)
        if world.structure is not None:
            names = [name for _, name, _, _ in world.structure]
        else:
            names = ["Floor" if n == "Floor" else n for n in structure]
            floor_ids = [o for o in self._object_ids if world.objects[o].object_type == "Floor"]
            if floor_ids:
                names[-1] = floor_ids[0]
        logical = names + [o for o in self._object_ids for _ in range(GEOMS_PER_OBJECT)]
        self._colours = instance_colours(list(dict.fromkeys(logical)))
        # Geom ids: structure first, then each object's three boxes, its door, the support.
        m = self._model
        gid = {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, i): i for i in range(m.ngeom)}
        self._obj_geoms = np.array(
            [
                [gid[f"o{k}_{j}"] for j in range(GEOMS_PER_OBJECT)]
                for k in range(len(self._object_ids))
            ],
            dtype=np.int64,
        ).reshape(-1, GEOMS_PER_OBJECT)
        self._support_geom = gid["support"]
        self._geom_names: list[str | None] = [None] * m.ngeom
        for i, name in enumerate(names):
            self._geom_names[i] = name
        for k, oid in enumerate(self._object_ids):
            for g in self._obj_geoms[k]:
                self._geom_names[g] = oid
            if oid in self._doors:
                self._geom_names[gid[f"o{k}_door"]] = oid
        self._door_parts = {
            k: (
                mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, f"d{k}"),
                int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"j{k}")]),
                mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, f"j{k}"),
                gid[f"o{k}_door"],
            )
            for k, oid in enumerate(self._object_ids)
            if oid in self._doors
        }
        body_id = {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, i): i for i in range(m.nbody)}
        self._free_qpos = {
            k: int(m.jnt_qposadr[m.body_jntadr[body_id[f"b{k}"]]])
            for k, oid in enumerate(self._object_ids)
            if oid in self._free
        }
        lut = np.zeros((m.ngeom + 1, 3), dtype=np.uint8)
        for i, name in enumerate(self._geom_names):
            if name is not None:
                lut[i + 1] = self._colours[name]
        self._seg_lut = lut  # index geom id + 1; row 0 is the background

    @staticmethod
    def _plan_bodies(world: World) -> tuple[set[str], set[str]]:
        """Object ids that get a door body and those that become free bodies.

        Openables that are not pickupable get a door; visible pickupables become free bodies,
        largest first while the scene stays within :data:`MAX_BODIES` (the world body and the
        doors included); the smallest beyond that stay world-body geoms.
        """
        objects = [o for o in world.objects.values() if not o.hidden and o.object_type != "Floor"]
        doors = {o.object_id for o in objects if o.meta["openable"] and not o.meta["pickupable"]}
        free = [o for o in objects if o.meta["pickupable"]]
        free.sort(key=lambda o: (-round(float(np.prod(o.size)), 9), o.object_id))
        budget = max(MAX_BODIES - 1 - len(doors), 0)
        return doors, {o.object_id for o in free[:budget]}

    @staticmethod
    def _single_room_structure(world: World) -> tuple[list[str], list[tuple]]:
        """Four walls just outside the room extent, a ceiling and a floor slab."""
        structure = ["Wall"] * 4 + ["Ceiling", "Floor"]
        min_x, max_x, min_z, max_z = world.extent
        cx, cz = (min_x + max_x) / 2, (min_z + max_z) / 2
        sx, sz = (max_x - min_x) / 2, (max_z - min_z) / 2
        t, h = 0.05, WALL_HEIGHT / 2
        # (centre, half size) in AI2-THOR axes.
        structure_boxes = [
            ((min_x - t, h, cz), (t, h, sz + 2 * t)),
            ((max_x + t, h, cz), (t, h, sz + 2 * t)),
            ((cx, h, min_z - t), (sx + 2 * t, h, t)),
            ((cx, h, max_z + t), (sx + 2 * t, h, t)),
            ((cx, WALL_HEIGHT + t, cz), (sx + 2 * t, t, sz + 2 * t)),
            ((cx, -t, cz), (sx + 2 * t, t, sz + 2 * t)),
        ]
        return structure, structure_boxes

    def colours(self) -> list[dict]:
        """AI2-THOR ``metadata['colors']``: instance colours plus one colour per object type."""
        out = [{"name": n, "color": list(c)} for n, c in self._colours.items()]
        return out

    def close(self) -> None:
        """Free the GL context now rather than at garbage collection."""
        if self._context is not None:
            with self._gl.as_current():
                self._context.free()
            self._gl.free()
            self._context = None
            self._gl = None

    # ---- per-frame sync ----------------------------------------------------------------------
    def _object_boxes(
        self, world: World, oid: str, content_floor: float | None = None, with_door: bool = True
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Up to three (centre, half size) boxes in AI2-THOR axes for one object.

        An open openable's last box is its door at the current ``openness``
        (:func:`door_geometry`); ``with_door=False`` leaves it out (the door body draws it).

        ``content_floor`` is the lowest bottom of what lies in this object's box
        (:func:`content_floors`); such a box is drawn hollow instead of solid, so it does not
        swallow what it holds (a knife sunk into a counter slab, a vase on a shelving unit's
        lower shelf, a sponge in a sink, the sink's own basin).
        """
        obj = world.objects[oid]
        if obj.hidden or obj.object_type == "Floor":  # the floor slab is drawn as structure
            return []
        c, h = obj.center, np.maximum(obj.size / 2, 0.005)
        if obj.meta["openable"] and obj.meta["isOpen"]:
            # Front faces the room centre along the thinner horizontal axis.
            room = world.interior_centre(c)
            axis = 0 if h[0] <= h[2] else 2
            sign = 1.0 if room[axis] >= c[axis] else -1.0
            back_c, back_h = c.copy(), h.copy()
            # Back and bottom panels lie just outside the box, so contents resting on the
            # bottom or against the back (a plate in an upper cabinet) are never inside them.
            back_c[axis] = c[axis] - sign * (h[axis] + PANEL / 2)
            back_h[axis] = PANEL / 2
            bottom_c, bottom_h = c.copy(), h.copy()
            bottom_c[1] = c[1] - h[1] - PANEL / 2
            bottom_h[1] = PANEL / 2
            door = [door_geometry(world, obj).box(obj.meta["openness"])] if with_door else []
            if c[1] - h[1] > UPPER_CABINET_FLOOR:
                # Above eye level the floor panel would hide what lies on it from the
                # agent below (a plate in FloorPlan1's upper cabinet), which AI2-THOR's
                # agent sees and takes: leave it out.
                return [(back_c, back_h), *door]
            return [(back_c, back_h), (bottom_c, bottom_h), *door]
        arms = _slab_pieces(world, obj)
        if arms:  # a counter top: its arms and the rim around its sinks, no floor, no basin
            top = obj.aabb_max[1] if content_floor is None else min(obj.aabb_max[1], content_floor)
            bottom = min(obj.aabb_min[1], top - CONTENT_FLOOR_SLAB)
            return [
                (
                    np.array([(a[0] + a[1]) / 2, (top + bottom) / 2, (a[2] + a[3]) / 2]),
                    np.array([(a[1] - a[0]) / 2, (top - bottom) / 2, (a[3] - a[2]) / 2]),
                )
                for a in arms
            ]
        if content_floor is None:
            return [(c, h)]
        if obj.meta["openable"]:  # closed, with a neighbour's contents reaching into it
            top = min(c[1] + h[1], content_floor)
            bottom = min(c[1] - h[1], top - CONTENT_FLOOR_SLAB)
            c, h = c.copy(), h.copy()
            c[1], h[1] = (top + bottom) / 2, (top - bottom) / 2
            return [(c, h)]
        # Hollow: a base up to the contents, and two full-height end walls just outside the
        # ends of the longer horizontal axis (a sink's rim, a sofa's arms, a shelving unit's
        # sides), so the drawn extent stays the object's and the contents show.
        top = min(c[1] + h[1], content_floor)
        bottom = min(c[1] - h[1], top - CONTENT_FLOOR_SLAB)
        base_c, base_h = c.copy(), h.copy()
        base_c[1], base_h[1] = (top + bottom) / 2, (top - bottom) / 2
        axis = 0 if h[0] >= h[2] else 2
        boxes = [(base_c, base_h)]
        for sign in (-1.0, 1.0):
            wall_c, wall_h = c.copy(), h.copy()
            wall_c[axis] = c[axis] + sign * (h[axis] + PANEL / 2)
            wall_h[axis] = PANEL / 2
            boxes.append((wall_c, wall_h))
        return boxes

    def sync(self, world: World) -> None:
        """Copy object poses into the model; rebuild only when objects were added/removed.

        World-body geoms get their poses directly, free bodies their ``freejoint`` position
        (the AABB centre, unrotated) with their boxes relative to it, doors their joint
        position from ``openness``; then ``mj_kinematics`` computes the drawn poses.
        """
        if list(world.objects) != self._object_ids:
            self._build(world)
        m, d = self._model, self._data
        n = len(self._object_ids)
        pos = np.tile(HIDDEN_POS, (n, GEOMS_PER_OBJECT, 1))
        size = np.tile(HIDDEN_SIZE, (n, GEOMS_PER_OBJECT, 1))
        floors = content_floors(world)
        for k, oid in enumerate(self._object_ids):
            obj = world.objects[oid]
            door = k in self._door_parts
            boxes = self._object_boxes(world, oid, floors.get(oid), with_door=not door)
            for j, (c, h) in enumerate(boxes):
                pos[k, j] = _to_mj(c)
                size[k, j] = _to_mj(h)
            if k in self._free_qpos:
                origin = _to_mj(obj.center)
                adr = self._free_qpos[k]
                d.qpos[adr : adr + 3] = origin
                d.qpos[adr + 3 : adr + 7] = (1.0, 0.0, 0.0, 0.0)
                pos[k] -= origin
            if door:
                self._sync_door(world, obj, k, boxes)
        ids = self._obj_geoms.ravel()
        size = size.reshape(-1, 3)
        m.geom_pos[ids] = pos.reshape(-1, 3)
        m.geom_size[ids] = size
        m.geom_rbound[ids] = np.linalg.norm(size, axis=1)
        mujoco.mj_kinematics(m, d)

    def _sync_door(self, world: World, obj, k: int, boxes: list) -> None:
        """Pose object ``k``'s door body and set its joint from ``isOpen``/``openness``.

        Closed, the panel spans the height of the drawn box (a box cut down for a neighbour's
        contents keeps its door inside it); hidden objects hide their door.
        """
        m, d = self._model, self._data
        body, qadr, joint, geom = self._door_parts[k]
        door = door_geometry(world, obj)
        local, half = door.local.copy(), door.half.copy()
        is_open = bool(obj.meta["isOpen"])
        if not boxes:
            local, half = HIDDEN_POS - _to_mj(door.pivot), HIDDEN_SIZE
            local, half = _from_mj(local), _from_mj(half)
        elif not is_open:
            c, h = boxes[0]
            local[1] = c[1] - door.pivot[1]
            half[1] = max(h[1] - DOOR_INSET, 0.0005)
        m.body_pos[body] = _to_mj(door.pivot)
        m.jnt_axis[joint] = _to_mj(door.axis)
        m.geom_pos[geom] = _to_mj(local)
        m.geom_size[geom] = _to_mj(half)
        m.geom_rbound[geom] = float(np.linalg.norm(half))
        openness = float(obj.meta.get("openness") or 0.0) if is_open else 0.0
        d.qpos[qadr] = door.open_qpos * openness

    def joint_position(self, object_id: str) -> float | None:
        """Current position of an object's door joint (radians or metres), None if it has none."""
        k = self._object_ids.index(object_id) if object_id in self._object_ids else -1
        if k not in self._door_parts:
            return None
        return float(self._data.qpos[self._door_parts[k][1]])

    def is_free_body(self, object_id: str) -> bool:
        """Whether the object is simulated as a free body (else it is a world-body geom)."""
        return object_id in self._free

    def settle(
        self,
        world: World,
        object_id: str,
        support_top: float,
        footprint: tuple[float, float, float, float],
        start: np.ndarray,
    ) -> np.ndarray | None:
        """Let a free body fall from ``start`` onto a support and return where it rests.

        The support is a box whose top is ``support_top`` over ``footprint`` (min_x, max_x,
        min_z, max_z); the object is its full AABB box. Only these two collide, so settling
        never disturbs other objects. The data are reset first and :data:`SETTLE_STEPS` steps
        of :data:`PHYSICS_TIMESTEP` follow, so the result depends only on the inputs. Returns
        the resting AABB centre (AI2-THOR axes; rotation is dropped), or None when the object
        is not a free body. Poses of the model are left for the next :meth:`sync`.
        """
        if list(world.objects) != self._object_ids:
            self._build(world)
        if object_id not in self._free:
            return None
        k = self._object_ids.index(object_id)
        obj = world.objects[object_id]
        m, d = self._model, self._data
        body_geom, support = int(self._obj_geoms[k, 0]), self._support_geom
        half = _to_mj(np.maximum(obj.size / 2, 0.005))
        x0, x1, z0, z1 = footprint
        support_c = np.array([(x0 + x1) / 2, support_top - SUPPORT_DEPTH / 2, (z0 + z1) / 2])
        support_h = _to_mj(np.array([(x1 - x0) / 2, SUPPORT_DEPTH / 2, (z1 - z0) / 2]))
        for g, c, h in ((body_geom, np.zeros(3), half), (support, _to_mj(support_c), support_h)):
            m.geom_pos[g], m.geom_size[g] = c, h
            m.geom_aabb[g] = (0.0, 0.0, 0.0, *h)
            m.geom_rbound[g] = float(np.linalg.norm(h))
            m.geom_contype[g] = m.geom_conaffinity[g] = 1
        mujoco.mj_resetData(m, d)
        adr = self._free_qpos[k]
        d.qpos[adr : adr + 3] = _to_mj(start)
        d.qpos[adr + 3 : adr + 7] = (1.0, 0.0, 0.0, 0.0)
        for _ in range(SETTLE_STEPS):
            mujoco.mj_step(m, d)
        rest = _from_mj(d.qpos[adr : adr + 3].copy())
        for g in (body_geom, support):
            m.geom_contype[g] = m.geom_conaffinity[g] = 0
        m.geom_pos[support], m.geom_size[support] = HIDDEN_POS, HIDDEN_SIZE
        mujoco.mj_resetData(m, d)
        return rest

    # ---- rendering ---------------------------------------------------------------------------
    def intrinsics(self) -> np.ndarray:
        f = (self.height / 2) / np.tan(np.radians(self.field_of_view) / 2)
        return np.array([[f, 0, self.width / 2], [0, f, self.height / 2], [0, 0, 1.0]])

    def _camera(self, world: World) -> mujoco.MjvCamera:
        agent = world.agent
        eye = _to_mj(agent.camera_position())
        fwd = _to_mj(agent.forward())
        cam = mujoco.MjvCamera()
        cam.type = mujoco.mjtCamera.mjCAMERA_FREE
        cam.distance = 1.0
        cam.lookat[:] = eye + fwd
        cam.azimuth = float(np.degrees(np.arctan2(fwd[1], fwd[0])))
        cam.elevation = float(np.degrees(np.arcsin(np.clip(fwd[2], -1, 1))))
        return cam

    def _metric_depth(self, zbuf: np.ndarray) -> np.ndarray:
        """Reverse-Z buffer -> metres along the optical axis (as mujoco.Renderer computes it)."""
        extent = self._model.stat.extent
        znear = np.float32(self._model.vis.map.znear * extent)
        zfar = np.float32(self._model.vis.map.zfar * extent)
        c_coef = np.float32(-0.5) * (-(zfar + znear) / (zfar - znear)) - np.float32(0.5)
        d_coef = np.float32(-0.5) * (-(np.float32(2) * zfar * znear) / (zfar - znear))
        return (d_coef / (zbuf.astype(np.float64) + c_coef)).astype(np.float32)

    def render(self, world: World) -> RenderedFrames:
        """Render all three images from the agent camera (the world must be synced first)."""
        self._gl.make_current()
        scene, flags = self._scene, self._scene.flags
        mujoco.mjv_updateScene(
            self._model,
            self._data,
            self._option,
            None,
            self._camera(world),
            mujoco.mjtCatBit.mjCAT_ALL,
            scene,
        )
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 1
        flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 1
        mujoco.mjr_render(self._rect, scene, self._context)
        mujoco.mjr_readPixels(self._seg, self._zbuf, self._rect, self._context)
        flags[mujoco.mjtRndFlag.mjRND_SEGMENT] = 0
        flags[mujoco.mjtRndFlag.mjRND_IDCOLOR] = 0
        mujoco.mjr_render(self._rect, scene, self._context)
        mujoco.mjr_readPixels(self._rgb, None, self._rect, self._context)
        # Scene segment id + 1 -> model geom id (-1 for background and non-geoms).
        segid_to_geom = np.full(scene.ngeom + 1, -1, dtype=np.int64)
        for g in scene.geoms[: scene.ngeom]:
            if g.segid >= 0 and g.objtype == int(mujoco.mjtObj.mjOBJ_GEOM):
                segid_to_geom[g.segid + 1] = g.objid
        seg = self._seg.astype(np.int64)
        segimage = seg[..., 0] | (seg[..., 1] << 8) | (seg[..., 2] << 16)
        geom_ids = segid_to_geom[np.minimum(segimage, scene.ngeom)][::-1]
        self._last_geom_ids = geom_ids
        world_T_camera = np.eye(4)
        world_T_camera[:3, :3] = world.agent.world_R_camera()
        world_T_camera[:3, 3] = world.agent.camera_position()
        return RenderedFrames(
            rgb=self._rgb[::-1].copy(),
            depth=self._metric_depth(self._zbuf[::-1]),
            instance_segmentation=self._seg_lut[geom_ids + 1],
            colour_to_object_id={c: n for n, c in self._colours.items()},
            intrinsics=self.intrinsics(),
            world_T_camera=world_T_camera,
        )

    def object_at_pixel(self, row: int, col: int) -> str | None:
        """The object seen at pixel (``row``, ``col``) of the last rendered frame (None for
        walls, floor, background and unnamed structure)."""
        geom = int(self._last_geom_ids[row, col])
        return None if geom < 0 else self._geom_names[geom]

    def pixel_counts(self) -> dict[str, int]:
        """Pixels each named object covers in the last rendered segmentation frame."""
        counts = np.bincount(self._last_geom_ids.ravel() + 1, minlength=len(self._geom_names) + 1)
        out: dict[str, int] = {}
        for geom in np.flatnonzero(counts[1:]).tolist():
            name = self._geom_names[geom]
            if name is not None:
                out[name] = out.get(name, 0) + int(counts[geom + 1])
        return out
