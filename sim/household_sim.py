"""AI2-THOR-like household simulator: actions, object-state rules and metadata, in plain Python.

``HouseholdSim`` is the single implementation behind both entry points: called directly from
Python, or driven by the unmodified ``ai2thor`` client through :mod:`sim.thor_pipe_server`. Both
return metadata in AI2-THOR's layout (the event ``metadata`` dict), so code written against
AI2-THOR runs unchanged. Failures never raise: they set ``lastActionSuccess=False`` with an
``errorMessage`` worded like AI2-THOR's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from memory_nodes.core.errors import ActionFailedError, InvalidInputError, SceneNotFoundError
from memory_nodes.core.object_taxonomy import (
    basin_of,
    breaks_by_hand,
    cookable_piece,
    fits_inside,
    heats,
    is_knife,
    is_water_basin,
    slice_count,
    sliced_form,
)
from sim import houses, scene_catalog
from sim.household_changes import HouseholdChangeProcess
from sim.mujoco_renderer import FAR_PLANE, NEAR_PLANE, SceneRenderer
from sim.sensor_noise import SensorNoise, estimate_T_truth
from sim.world_state import (
    AGENT_Y,
    SimObject,
    World,
    copy_as_sent,
)

#: errorCodes for which the ai2thor client raises ValueError instead of returning the event.
INVALID_ACTION = "InvalidAction"
DEFAULT_INIT = {
    "gridSize": 0.25,
    "visibilityDistance": 1.5,
    "renderDepthImage": False,
    "renderInstanceSegmentation": False,
    "fieldOfView": 90.0,
    "rotateStepDegrees": 90.0,
}
HORIZON_LIMITS = (-30.0, 60.0)
#: A put object starts settling this far (m) above its placed pose.
SETTLE_LIFT = 0.02
#: Largest move (m, per axis) settling may make; beyond it the placed pose is kept.
SETTLE_TOLERANCE = 0.02


def _under_running_water(object_type: str) -> bool:
    """A basin under a faucet, or the sink or bathtub around one."""
    return is_water_basin(object_type) or basin_of(object_type) is not None


class HouseholdSim:
    """One agent in one scene, stepping like AI2-THOR's ``Controller.step``.

    Parameters
    ----------
    scene
        FloorPlan name (``FloorPlan1``..``FloorPlan430``, RoboTHOR names; ``_physics`` allowed)
        or a multi-room house (``House1``..``House5``, see :mod:`sim.houses`).
    width, height
        Image size in pixels.
    seed
        Seeds the random generator used by world-change processes; the scene itself is fixed.
    **init
        AI2-THOR ``Initialize`` parameters (gridSize, visibilityDistance, renderDepthImage, ...).
    """

    def __init__(
        self,
        scene: str = "FloorPlan1",
        width: int = 300,
        height: int = 300,
        seed: int | None = None,
        **init: Any,
    ):
        self.width, self.height = int(width), int(height)
        self.init_params: dict[str, Any] = dict(DEFAULT_INIT)
        self.world: World | None = None
        self.renderer: SceneRenderer | None = None
        self.rng = np.random.default_rng(seed)
        self.sensor_noise = SensorNoise("none", seed)
        self.sequence_id = 0
        self._actions: dict[str, Callable[[dict], Any]] = {
            "Initialize": self._initialize,
            "Pass": self._noop,
            "Done": self._noop,
            "GetScenesInBuild": lambda a: self.scenes_in_build(),
            "ChangeResolution": self._change_resolution,
            "MoveAhead": lambda a: self._move(a, 0.0),
            "MoveRight": lambda a: self._move(a, 90.0),
            "MoveBack": lambda a: self._move(a, 180.0),
            "MoveLeft": lambda a: self._move(a, 270.0),
            "RotateRight": lambda a: self._rotate(a, 1.0),
            "RotateLeft": lambda a: self._rotate(a, -1.0),
            "LookDown": lambda a: self._look(a, 1.0),
            "LookUp": lambda a: self._look(a, -1.0),
            "Teleport": lambda a: self._teleport(a, full=False),
            "TeleportFull": lambda a: self._teleport(a, full=True),
            "GetReachablePositions": self._get_reachable_positions,
            "PickupObject": self._pickup,
            "PutObject": self._put,
            "DropHandObject": self._drop,
            "OpenObject": lambda a: self._open(a, True),
            "CloseObject": lambda a: self._open(a, False),
            "ToggleObjectOn": lambda a: self._toggle(a, True),
            "ToggleObjectOff": lambda a: self._toggle(a, False),
            "SliceObject": self._slice,
            "CleanObject": lambda a: self._set_dirty(a, False),
            "DirtyObject": lambda a: self._set_dirty(a, True),
            "CookObject": self._cook,
            "FillObjectWithLiquid": lambda a: self._fill(a, True),
            "EmptyLiquidFromObject": lambda a: self._fill(a, False),
            "RemoveFromScene": self._remove,
            "SimulateHouseholdChanges": self._household_changes,
            "GetWorldState": lambda a: self.get_state(),
            "SetWorldState": lambda a: self.set_state(a["state"], a.get("objectIds")),
        }
        self.reset(scene, seed=seed, **init)

    # ---- public API ----------------------------------------------------------------------
    @staticmethod
    def scenes_in_build() -> list[str]:
        """Scene names as the ai2thor client expects them (iTHOR names carry ``_physics``)."""
        names = scene_catalog.scene_names()
        ithor = [f"{n}_physics" if n[9:].isdigit() else n for n in names]
        return ithor + scene_catalog.house_names()

    def reset(
        self, scene: str | None = None, seed: int | None = None, **init: Any
    ) -> tuple[dict, dict]:
        """Load ``scene`` fresh (agent at the scene's default start) and apply ``init``.

        An unknown scene leaves the current one loaded and reports the failure in metadata.
        """
        if seed is not None:
            self.rng = np.random.default_rng(seed)
            self.sensor_noise.reseed(seed)
        name = scene or (self.world.scene_name if self.world else "FloorPlan1")
        is_house = scene_catalog.has_house(name)
        if not is_house and not scene_catalog.has_scene(name):
            message = str(SceneNotFoundError(name).args[0])
            if self.world is None:
                raise SceneNotFoundError(message)
            return self._finish({"action": "Reset", "sceneName": name}, False, message, "")
        self.world = houses.build_house(name) if is_house else World.from_catalog(name)
        self.world.grid_size = float(self.init_params["gridSize"])
        sx, sz = self.world.default_start()
        self.world.agent.x, self.world.agent.z = sx, sz
        self.sensor_noise.restart()
        self._rebuild_renderer()
        self.sequence_id = 0
        action = {"action": "Initialize", **init}
        return self.step(action)

    def step(self, action: dict[str, Any] | str, **kwargs: Any) -> tuple[dict, dict]:
        """Run one AI2-THOR action; returns ``(metadata, frames)``.

        ``frames`` has ``frame`` (RGB uint8), ``depth_frame`` (metres, float32) and
        ``instance_segmentation_frame`` (uint8 colours) when enabled, plus ``intrinsics`` and
        ``world_T_camera``. With a ``sensorNoise`` preset other than ``none`` (an ``Initialize``
        argument), depth and ``world_T_camera`` are what the robot's camera and pose estimate
        give (``metadata["agentPoseEstimate"]``); ``metadata["agent"]`` stays the truth.
        """
        action = {"action": action} if isinstance(action, str) else dict(action)
        action.update(kwargs)
        self.sequence_id = int(action.get("sequenceId", self.sequence_id + 1))
        name = action.get("action")
        handler = self._actions.get(name) if isinstance(name, str) else None
        if handler is None:
            return self._finish(action, False, f"Invalid action: {name}", INVALID_ACTION)
        try:
            result = handler(action)
        except ActionFailedError as failure:
            return self._finish(action, False, str(failure), failure.error_code)
        return self._finish(action, True, "", "", result)

    def get_state(self) -> dict[str, Any]:
        """A snapshot of everything that changes in a scene: objects (in order) and the agent.

        The snapshot is plain data (what the pipe carries); :meth:`set_state` restores it, so
        an evaluation can give several agents the very same world.
        """
        agent = self.world.agent
        return copy_as_sent(
            {
                "sceneName": self.world.scene_name,
                "objects": [
                    {"meta": o.meta, "hidden": o.hidden} for o in self.world.objects.values()
                ],
                "agent": {
                    "x": agent.x,
                    "z": agent.z,
                    "rotation": agent.rotation,
                    "horizon": agent.horizon,
                    "standing": agent.standing,
                    "heldObjectId": agent.held_object_id,
                },
            }
        )

    def set_state(self, state: dict[str, Any], object_ids: list[str] | None = None) -> None:
        """Restore a :meth:`get_state` snapshot of the loaded scene, whole or in part.

        With ``object_ids``, only those objects go back to their snapshot pose, relation and
        states (objects absent from the snapshot, such as slices cut since, are removed; ones
        gone since are brought back) and the agent stays; contents of a restored receptacle
        move with it. This is how a world is "tidied back" without the agent acting.
        """
        if state.get("sceneName") != self.world.scene_name:
            raise ActionFailedError(
                f"state of {state.get('sceneName')} cannot be set in {self.world.scene_name}",
                "InvalidArgument",
            )
        world = self.world
        saved = {o["meta"]["objectId"]: o for o in state["objects"]}
        if object_ids is None:
            world.objects = {
                oid: SimObject(copy_as_sent(o["meta"]), bool(o["hidden"]))
                for oid, o in saved.items()
            }
            a = state["agent"]
            agent = world.agent
            agent.x, agent.z = float(a["x"]), float(a["z"])
            agent.rotation, agent.horizon = float(a["rotation"]), float(a["horizon"])
            agent.standing, agent.held_object_id = bool(a["standing"]), a["heldObjectId"]
            return
        for oid in object_ids:
            current = world.find_object(oid)
            if oid not in saved:
                if current is not None:
                    world.remove_object(current)
                continue
            meta = copy_as_sent(saved[oid]["meta"])
            if world.agent.held_object_id == oid:
                world.agent.held_object_id = None
            if current is None:
                current = SimObject(meta, bool(saved[oid]["hidden"]))
                current.meta["receptacleObjectIds"] = [] if meta["receptacle"] else None
                world.objects[oid] = current
            else:
                world.detach(current)
                children = current.meta.get("receptacleObjectIds")
                for child in world.descendants(current):
                    child.translate(
                        _vec3(meta["axisAlignedBoundingBox"]["center"]) - current.center
                    )
                current.meta = meta
                current.hidden = bool(saved[oid]["hidden"])
                meta["receptacleObjectIds"] = children
            meta["parentReceptacles"] = None
            meta["isPickedUp"] = False
            parents = saved[oid]["meta"].get("parentReceptacles") or []
            parent = world.find_object(parents[0]) if parents else None
            if parent is not None and not current.hidden:
                world.attach(current, parent)

    def close(self) -> None:
        if self.renderer is not None:
            self.renderer.close()
            self.renderer = None

    # ---- metadata ------------------------------------------------------------------------
    def _rebuild_renderer(self) -> None:
        self.close()
        self.renderer = SceneRenderer(
            self.world, self.width, self.height, float(self.init_params["fieldOfView"])
        )

    def _finish(
        self, action: dict, success: bool, message: str, code: str, result: Any = None
    ) -> tuple[dict, dict]:
        world, agent = self.world, self.world.agent
        self._update_held_pose()
        self._apply_state_rules()
        self.renderer.sync(world)
        frames = self.renderer.render(world)
        counts = self.renderer.pixel_counts()
        cam = agent.camera_position()
        vis_dist = float(self.init_params["visibilityDistance"])
        objects = []
        for obj in world.objects.values():
            m = obj.meta
            m["distance"] = float(np.linalg.norm(obj.center - cam))
            # AI2-THOR's reach is a cylinder of radius visibilityDistance around the agent's
            # vertical axis: height does not count, so the floor of a fridge is in reach.
            nearest = np.clip(cam, obj.aabb_min, obj.aabb_max)
            in_reach = float(np.hypot(*(nearest - cam)[[0, 2]])) <= vis_dist
            held = obj.object_id == agent.held_object_id
            m["visible"] = bool(
                not obj.hidden and (held or (counts.get(obj.object_id, 0) > 0 and in_reach))
            )
            m["isInteractable"] = m["visible"]
            m["isPickedUp"] = held
            if world.rooms:
                m["roomId"] = world.room_of(obj).room_id
            objects.append(m)
        held_obj = world.find_object(agent.held_object_id) if agent.held_object_id else None
        metadata = {
            "objects": objects,
            "agent": {
                "name": "agent",
                "position": {"x": agent.x, "y": AGENT_Y, "z": agent.z},
                "rotation": {"x": 0.0, "y": agent.rotation, "z": 0.0},
                "cameraHorizon": agent.horizon,
                "isStanding": agent.standing,
                "inHighFrictionArea": False,
            },
            "heldObjectPose": None,
            "inventoryObjects": (
                [{"objectId": held_obj.object_id, "objectType": held_obj.object_type}]
                if held_obj
                else []
            ),
            "sceneName": world.scene_name,
            "lastAction": action.get("action"),
            "lastActionSuccess": success,
            "errorMessage": message,
            "errorCode": code,
            "actionReturn": result,
            "screenWidth": self.width,
            "screenHeight": self.height,
            "cameraPosition": {"x": float(cam[0]), "y": float(cam[1]), "z": float(cam[2])},
            "fov": float(self.init_params["fieldOfView"]),
            "cameraNearPlane": NEAR_PLANE,
            "cameraFarPlane": FAR_PLANE,
            "cameraIntrinsics": frames.intrinsics.tolist(),
            "world_T_camera": frames.world_T_camera.tolist(),
            "depthFormat": "Meters",
            "colors": self.renderer.colours(),
            "sceneBounds": self._scene_bounds(),
            "isSceneAtRest": True,
            "collided": False,
            "collidedObjects": [],
            "thirdPartyCameras": [],
            "agentId": 0,
            "sequenceId": self.sequence_id,
            "gridSize": float(self.init_params["gridSize"]),
        }
        if world.rooms:
            metadata["rooms"] = houses.rooms_metadata(world)
            metadata["doorways"] = world.doorways
            metadata["agentRoomId"] = world.room_at(agent.x, agent.z).room_id
        # What the robot's localisation reports; metadata["agent"] stays the truth.
        estimate = self.sensor_noise.pose_estimate(agent.x, agent.z, agent.rotation)
        world_T_camera_estimate = frames.world_T_camera
        if estimate != (agent.x, agent.z, agent.rotation):
            correction = estimate_T_truth(
                (agent.x, agent.z, math.radians(agent.rotation)),
                (estimate[0], estimate[1], math.radians(estimate[2])),
            )
            world_T_camera_estimate = correction @ frames.world_T_camera
        camera_estimate = world_T_camera_estimate[:3, 3]
        metadata["agentPoseEstimate"] = {
            "position": {"x": estimate[0], "y": AGENT_Y, "z": estimate[1]},
            "rotation": {"x": 0.0, "y": estimate[2], "z": 0.0},
            "cameraHorizon": agent.horizon,
            "cameraPosition": {k: float(v) for k, v in zip("xyz", camera_estimate, strict=True)},
            "sensorNoise": self.sensor_noise.name,
        }
        metadata = copy_as_sent(metadata)
        depth = None
        if self.init_params["renderDepthImage"]:
            depth = self.sensor_noise.depth(frames.depth, float(frames.intrinsics[0, 0]))
        out_frames: dict[str, Any] = {
            "frame": frames.rgb,
            "depth_frame": depth,
            "instance_segmentation_frame": (
                frames.instance_segmentation
                if self.init_params["renderInstanceSegmentation"]
                else None
            ),
            "color_to_object_id": frames.colour_to_object_id,
            "intrinsics": frames.intrinsics,
            "world_T_camera": world_T_camera_estimate,
        }
        return metadata, out_frames

    def _scene_bounds(self) -> dict:
        min_x, max_x, min_z, max_z = self.world.extent
        centre = {"x": (min_x + max_x) / 2, "y": 1.4, "z": (min_z + max_z) / 2}
        size = {"x": max_x - min_x, "y": 2.8, "z": max_z - min_z}
        return {"center": centre, "size": size}

    # ---- object state rules --------------------------------------------------------------
    def _apply_state_rules(self) -> None:
        """Heat sources cook, the fridge cools, running water cleans and fills."""
        world = self.world
        faucet_on = any(f.meta["isToggled"] for f in world.objects_of_type("Faucet"))
        for obj in world.objects.values():
            if obj.hidden:
                continue
            chain = world.ancestors(obj)
            m = obj.meta
            if any(heats(a.object_type) and a.meta["isToggled"] for a in chain):
                m["temperature"] = "Hot"
                if m["cookable"]:
                    m["isCooked"] = True
            elif any(a.object_type == "Fridge" for a in chain):
                m["temperature"] = "Cold"
            if faucet_on and any(_under_running_water(a.object_type) for a in chain):
                if m["dirtyable"]:
                    m["isDirty"] = False
                if m["canFillWithLiquid"]:
                    m["isFilledWithLiquid"] = True
                    m["fillLiquid"] = "water"

    def _update_held_pose(self) -> None:
        """Keep the held object in front of the agent camera, as AI2-THOR's hand does.

        The hand pitches with the camera, so the object stays at the bottom of the view
        whatever the horizon instead of covering what the agent looks down at.
        """
        agent = self.world.agent
        obj = self.world.find_object(agent.held_object_id) if agent.held_object_id else None
        if obj is None:
            agent.held_object_id = None
            return
        world_R_camera = agent.world_R_camera()  # columns: right, down, forward
        target = agent.camera_position() + world_R_camera @ np.array([0.0, 0.3, 0.45])
        self.world.move_with_contents(obj, target - obj.center)

    # ---- argument helpers ----------------------------------------------------------------
    def _target(self, action: dict, key: str = "objectId") -> SimObject:
        """The object an interaction names: by ``key`` (an objectId), or, as AI2-THOR allows,
        by a point ``x``, ``y`` in [0, 1] of the current image (0, 0 top left): the object
        seen at that pixel of the last frame. A robot has no simulator ids; it points."""
        object_id = action.get(key)
        if object_id is None and "x" in action and "y" in action:
            object_id = self._object_at_point(action["x"], action["y"])
        if object_id is None:
            raise ActionFailedError(f"Missing argument: {key}", "MissingArguments")
        obj = self.world.find_object(object_id)
        if obj is None or obj.hidden:
            raise ActionFailedError("Object ID appears to be invalid.")
        return obj

    def _object_at_point(self, x: Any, y: Any) -> str:
        try:
            u, v = float(x), float(y)
        except (TypeError, ValueError):
            raise ActionFailedError(
                f"x and y must be numbers in [0, 1], got {x!r}, {y!r}", "InvalidArgument"
            ) from None
        if not (0.0 <= u <= 1.0 and 0.0 <= v <= 1.0):
            raise ActionFailedError(f"x and y must be in [0, 1], got {u}, {v}", "InvalidArgument")
        row = min(int(v * self.height), self.height - 1)
        col = min(int(u * self.width), self.width - 1)
        object_id = self.renderer.object_at_pixel(row, col)
        if object_id is None or self.world.find_object(object_id) is None:  # walls, floor
            raise ActionFailedError(f"No object at screen point ({u:.3f}, {v:.3f})")
        return object_id

    def _require_visible(self, obj: SimObject, action: dict) -> None:
        if action.get("forceAction"):
            return
        if not obj.meta.get("visible"):
            raise ActionFailedError(f"{obj.object_id} is not visible")

    def _held(self) -> SimObject | None:
        held = self.world.agent.held_object_id
        return self.world.find_object(held) if held else None

    # ---- agent actions -------------------------------------------------------------------
    def _noop(self, action: dict) -> None:
        return None

    def _initialize(self, action: dict) -> dict:
        if "sensorNoise" in action:  # a preset of sim/sensor_noise.py; kept across resets
            try:
                self.sensor_noise.set_preset(action["sensorNoise"])
            except InvalidInputError as error:
                raise ActionFailedError(str(error), "InvalidArgument") from None
        for key in DEFAULT_INIT:
            if key in action:
                self.init_params[key] = action[key]
        self.world.grid_size = float(self.init_params["gridSize"])
        if self.renderer.field_of_view != float(self.init_params["fieldOfView"]):
            self._rebuild_renderer()
        return {"cameraNearPlane": NEAR_PLANE, "cameraFarPlane": FAR_PLANE}

    def _change_resolution(self, action: dict) -> None:
        width, height = int(action.get("x", self.width)), int(action.get("y", self.height))
        if width <= 0 or height <= 0:
            raise ActionFailedError("Resolution must be positive", "InvalidArgument")
        self.width, self.height = width, height
        self._rebuild_renderer()

    def _move(self, action: dict, offset_deg: float) -> None:
        agent = self.world.agent
        magnitude = float(action.get("moveMagnitude", self.init_params["gridSize"]))
        yaw = math.radians(agent.rotation + offset_deg)
        x = round(agent.x + magnitude * math.sin(yaw), 4)
        z = round(agent.z + magnitude * math.cos(yaw), 4)
        if not self.world.is_free(x, z):
            raise ActionFailedError(
                f"{action['action']} failed: the agent would collide at ({x}, {z})"
            )
        agent.x, agent.z = x, z

    def _rotate(self, action: dict, sign: float) -> None:
        agent = self.world.agent
        degrees = float(action.get("degrees", self.init_params["rotateStepDegrees"]))
        agent.rotation = round((agent.rotation + sign * degrees) % 360.0, 4)

    def _look(self, action: dict, sign: float) -> None:
        agent = self.world.agent
        horizon = agent.horizon + sign * float(action.get("degrees", 30.0))
        if not HORIZON_LIMITS[0] - 1e-6 <= horizon <= HORIZON_LIMITS[1] + 1e-6:
            raise ActionFailedError(
                f"can't look {'down' if sign > 0 else 'up'} beyond "
                f"{HORIZON_LIMITS[1] if sign > 0 else -HORIZON_LIMITS[0]:g} degrees"
            )
        agent.horizon = round(horizon, 4)

    def _teleport(self, action: dict, full: bool) -> None:
        agent = self.world.agent
        required = ("position", "rotation", "horizon", "standing")
        missing = [k for k in required if k not in action] if full else []
        if missing:
            raise ActionFailedError(
                f"Missing argument(s): {', '.join(missing)}", "MissingArguments"
            )
        pos = action.get("position") or {"x": agent.x, "z": agent.z}
        x, z = float(pos.get("x", agent.x)), float(pos.get("z", agent.z))
        if not self.world.is_free(x, z):
            raise ActionFailedError(f"Teleport failed: position ({x}, {z}) is not free")
        rotation = action.get("rotation", agent.rotation)
        if isinstance(rotation, dict):
            rotation = rotation.get("y", agent.rotation)
        horizon = float(action.get("horizon", agent.horizon))
        if not HORIZON_LIMITS[0] - 1e-6 <= horizon <= HORIZON_LIMITS[1] + 1e-6:
            raise ActionFailedError(
                f"horizon {horizon} is outside {HORIZON_LIMITS}", "InvalidArgument"
            )
        agent.x, agent.z = x, z
        agent.rotation = float(rotation) % 360.0
        agent.horizon = horizon
        agent.standing = bool(action.get("standing", True))

    def _get_reachable_positions(self, action: dict) -> list[dict]:
        return [{"x": x, "y": AGENT_Y, "z": z} for x, z in self.world.reachable_positions()]

    # ---- object interactions -------------------------------------------------------------
    def _pickup(self, action: dict) -> None:
        obj = self._target(action)
        if not obj.meta["pickupable"]:
            raise ActionFailedError(
                f"{obj.object_id} must have the property CanPickup to be picked up."
            )
        if self._held() is not None:
            raise ActionFailedError("Agent's hand is already holding an object.")
        self._require_visible(obj, action)
        self.world.detach(obj)
        self.world.agent.held_object_id = obj.object_id
        obj.meta["isPickedUp"] = True

    def _put(self, action: dict) -> None:
        held = self._held()
        if held is None:
            raise ActionFailedError("Can't place an object if Agent isn't holding anything")
        key = "objectId" if "objectId" in action else "receptacleObjectId"
        receptacle = self._target(action, key)
        if not receptacle.meta["receptacle"]:
            raise ActionFailedError(f"{receptacle.object_id} is not a receptacle.")
        if receptacle.object_id == held.object_id:
            raise ActionFailedError("Can't place an object on itself.")
        self._require_visible(receptacle, action)
        if receptacle.meta["openable"] and not receptacle.meta["isOpen"]:
            raise ActionFailedError(
                f"Target openable Receptacle {receptacle.object_id} is CLOSED, can't place if "
                "target is closed!"
            )
        self._place_held(held, receptacle)

    def _place_held(self, held: SimObject, receptacle: SimObject) -> None:
        agent = self.world.agent
        near = np.array([agent.x, 0.0, agent.z])
        centre = self.world.find_placement(held, receptacle, near=near)
        if centre is None:
            raise ActionFailedError("No valid positions to place object found")
        self.world.agent.held_object_id = None
        held.meta["isPickedUp"] = False
        self.world.place(held, receptacle, centre)
        self.settle_object(held, receptacle)

    def settle_object(
        self, obj: SimObject, receptacle: SimObject, drop_height: float | None = None
    ) -> bool:
        """Let a just-placed object come to rest on its receptacle with MuJoCo physics.

        The object (a free body, see :meth:`SceneRenderer.settle`) falls from its placed pose
        lifted by :data:`SETTLE_LIFT`, or from ``drop_height`` (its centre's y when dropped
        from the hand), onto the surface it was placed on: the receptacle's footprint at the
        height of the object's placed bottom. The resting pose is kept only if it moved less
        than :data:`SETTLE_TOLERANCE` along each axis and its centre stays over the receptacle;
        otherwise the placed pose stays, so receptacle relations never change. Contents move
        with the object. Returns whether the settled pose was taken.
        """
        placed = obj.center
        start = placed.copy()
        start[1] = placed[1] + SETTLE_LIFT if drop_height is None else max(drop_height, placed[1])
        lo, hi = receptacle.aabb_min, receptacle.aabb_max
        rest = self.renderer.settle(
            self.world,
            obj.object_id,
            float(obj.aabb_min[1]),
            (float(lo[0]), float(hi[0]), float(lo[2]), float(hi[2])),
            start,
        )
        if rest is None or not np.all(np.isfinite(rest)):
            return False
        if np.any(np.abs(rest - placed) > SETTLE_TOLERANCE):
            return False
        if np.any(rest[[0, 2]] < lo[[0, 2]]) or np.any(rest[[0, 2]] > hi[[0, 2]]):
            return False
        self.world.move_with_contents(obj, rest - placed)
        return True

    def _drop(self, action: dict) -> None:
        held = self._held()
        if held is None:
            raise ActionFailedError("Can't drop an object if Agent isn't holding anything")
        below = [
            o
            for o in self.world.objects.values()
            if o.meta["receptacle"]
            and not o.hidden
            and o is not held
            and not fits_inside(o.object_type)
            and np.all(o.aabb_min[[0, 2]] <= held.center[[0, 2]])
            and np.all(held.center[[0, 2]] <= o.aabb_max[[0, 2]])
            and o.aabb_max[1] <= held.aabb_min[1]
        ]
        below.sort(key=lambda o: (-o.aabb_max[1], o.object_id))
        for receptacle in below:
            centre = self.world.find_placement(held, receptacle, near=held.center)
            if centre is not None:
                drop_height = float(held.center[1])
                self.world.agent.held_object_id = None
                held.meta["isPickedUp"] = False
                self.world.place(held, receptacle, centre)
                self.settle_object(held, receptacle, drop_height)
                return
        raise ActionFailedError("No valid positions to place object found")

    def _open(self, action: dict, open_: bool) -> None:
        obj = self._target(action)
        if not obj.meta["openable"]:
            raise ActionFailedError(f"{obj.object_id} is not an Openable object")
        self._require_visible(obj, action)
        if obj.meta["isOpen"] == open_:
            state = "open" if open_ else "closed"
            raise ActionFailedError(f"{obj.object_id} is already {state}")
        obj.meta["isOpen"] = open_
        obj.meta["openness"] = float(action.get("openness", 1.0)) if open_ else 0.0

    def _toggle(self, action: dict, on: bool) -> None:
        obj = self._target(action)
        if not obj.meta["toggleable"]:
            raise ActionFailedError(f"{obj.object_id} is not a Toggleable object")
        self._require_visible(obj, action)
        if obj.meta["isToggled"] == on:
            word = "on" if on else "off"
            raise ActionFailedError(f"can't toggle object {word} if it's already {word}!")
        obj.meta["isToggled"] = on
        for controlled in obj.meta.get("controlledObjects") or []:
            target = self.world.find_object(controlled)
            if target is not None:
                target.meta["isToggled"] = on

    def _slice(self, action: dict) -> None:
        obj = self._target(action)
        if not obj.meta["sliceable"]:
            raise ActionFailedError(f"{obj.object_id} is not a Sliceable object")
        self._require_visible(obj, action)
        held = self._held()
        if not breaks_by_hand(obj.object_type) and (held is None or not is_knife(held.object_type)):
            raise ActionFailedError("Agent must be holding a Knife or ButterKnife to slice")
        if obj is held:
            raise ActionFailedError("Can't slice an object while holding it")
        self.slice_object(obj)

    def slice_object(self, obj: SimObject) -> list[SimObject]:
        """Replace ``obj`` by its pieces (kept in metadata with ``isSliced=True``, hidden)."""
        world = self.world
        parent = world.parent_of(obj)
        n = slice_count(obj.object_type)
        piece_type = sliced_form(obj.object_type)
        axis = 0 if obj.size[0] >= obj.size[2] else 2
        pieces = []
        for i in range(n):
            meta = copy_as_sent(obj.meta)
            piece_id = f"{obj.object_id}|{piece_type}_{i}"
            meta.update(
                objectId=piece_id,
                objectType=piece_type,
                name=f"{meta['name']}_{piece_type}_{i}",
                sliceable=False,
                isSliced=False,
                pickupable=True,
                receptacle=False,
                receptacleObjectIds=None,
                parentReceptacles=None,
                objectOrientedBoundingBox=None,
                cookable=cookable_piece(piece_type) or obj.meta["cookable"],
            )
            piece = SimObject(meta)
            size = obj.size.copy()
            size[axis] = obj.size[axis] / n
            centre = obj.center.copy()
            centre[axis] = obj.aabb_min[axis] + (i + 0.5) * size[axis]
            meta["axisAlignedBoundingBox"] = {"center": {}, "size": {}, "cornerPoints": []}
            meta["axisAlignedBoundingBox"]["size"] = {"x": size[0], "y": size[1], "z": size[2]}
            meta["axisAlignedBoundingBox"]["center"] = {
                "x": centre[0],
                "y": centre[1],
                "z": centre[2],
            }
            meta["position"] = {"x": centre[0], "y": centre[1], "z": centre[2]}
            piece.translate(np.zeros(3))
            world.objects[piece_id] = piece
            if parent is not None:
                world.attach(piece, parent)
            pieces.append(piece)
        world.detach(obj)
        obj.meta["isSliced"] = True
        obj.hidden = True
        return pieces

    def _set_dirty(self, action: dict, dirty: bool) -> None:
        obj = self._target(action)
        if not obj.meta["dirtyable"]:
            raise ActionFailedError(f"{obj.object_id} is not a Dirtyable object")
        self._require_visible(obj, action)
        obj.meta["isDirty"] = dirty

    def _cook(self, action: dict) -> None:
        obj = self._target(action)
        if not obj.meta["cookable"]:
            raise ActionFailedError(f"{obj.object_id} is not a Cookable object")
        self._require_visible(obj, action)
        obj.meta["isCooked"] = True

    def _fill(self, action: dict, fill: bool) -> None:
        obj = self._target(action)
        if not obj.meta["canFillWithLiquid"]:
            raise ActionFailedError(f"{obj.object_id} can't be filled with liquid")
        self._require_visible(obj, action)
        obj.meta["isFilledWithLiquid"] = fill
        obj.meta["fillLiquid"] = action.get("fillLiquid", "water") if fill else None

    def _remove(self, action: dict) -> None:
        self.world.remove_object(self._target(action))

    def _household_changes(self, action: dict) -> list[dict]:
        process = HouseholdChangeProcess(self, seed=int(action.get("seed", 0)))
        return [c.to_dict() for c in process.run(int(action.get("numChanges", 5)))]


def _vec3(d: dict[str, float]) -> np.ndarray:
    return np.array([d["x"], d["y"], d["z"]], dtype=float)
