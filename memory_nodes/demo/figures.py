"""Pictures of what people changed while the robot was away, for ``memstack demo``.

For every change the simulator made, the camera is sent (by teleport, the robot is "away")
to a pose that sees the object, once in the world before the change and once after: a close-up
pair a person can compare at a glance. The world is then restored exactly (``SetWorldState``),
so the robot's next session starts where it left off. Ground truth is used only here, to aim
the camera for the pictures; memory never sees it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.viewing_poses import facing_pose


@dataclass
class Snapshot:
    """The camera's picture of one step, with the instance mask and its id -> label map."""

    image: np.ndarray
    instance_ids: np.ndarray | None = None
    labels: dict[int, str] = field(default_factory=dict)

    def mask_of(self, label: str) -> np.ndarray | None:
        """Pixels of the instance labelled ``label``; None if it is not in the picture."""
        if self.instance_ids is None:
            return None
        ids = [i for i, name in self.labels.items() if name == label]
        return np.isin(self.instance_ids, ids) if ids else None


#: ``act(action, **args) -> (success, observation, action_return, snapshot)``: one simulator
#: step through the bridge and the camera frame published for it (None if none arrived).
ActFn = Callable[..., tuple[bool, dict[str, Any], Any, Snapshot | None]]

#: Distance (m) the camera keeps from an object it is pointed at: close, yet the object's
#: surroundings (the shelf, the open door) stay in the picture.
VIEW_DISTANCE_M = 1.0
MAX_POSES_TRIED = 10


@dataclass
class ChangeViews:
    """One change of the world and the camera's close-ups of it."""

    change: dict[str, Any]
    before: Snapshot | None = None
    after: Snapshot | None = None


def _objects(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["meta"]["objectId"]: o["meta"] for o in state.get("objects", []) if not o["hidden"]}


def _look_at(
    act: ActFn, reachable: list[dict[str, float]], object_id: str, centre: dict[str, float]
) -> tuple[dict[str, Any] | None, Snapshot | None]:
    """Teleport to the reachable cell nearest :data:`VIEW_DISTANCE_M` that sees the object."""

    def rank(p: dict[str, float]) -> tuple[float, float, float]:
        distance = math.hypot(p["x"] - centre["x"], p["z"] - centre["z"])
        return (round(abs(distance - VIEW_DISTANCE_M), 4), p["x"], p["z"])

    for position in sorted(reachable, key=rank)[:MAX_POSES_TRIED]:
        pose = facing_pose(position, centre)
        del pose["action"]
        ok, observation, _, image = act("TeleportFull", **pose)
        seen = {o.get("objectId") for o in observation.get("objects", [])}
        if ok and object_id in seen:
            return pose, image
    return None, None


def capture_change_views(
    act: ActFn, apply_changes: Callable[[], list[dict[str, Any]]]
) -> list[ChangeViews]:
    """Apply the changes (``apply_changes``) and take a before/after close-up of each.

    The world and the robot end exactly as ``apply_changes`` left them. A change whose object
    no pose sees (inside a closed drawer, say) keeps empty pictures.
    """
    _, observation, _, _ = act("Pass")
    home = observation.get("agent", {})
    _, _, state, _ = act("GetWorldState")
    before_state = state if isinstance(state, dict) else {}
    changes = apply_changes()
    _, _, state, _ = act("GetWorldState")
    after_state = state if isinstance(state, dict) else {}
    _, _, reachable, _ = act("GetReachablePositions")
    reachable = reachable if isinstance(reachable, list) else []
    views = [ChangeViews(change) for change in changes]
    if not (before_state and after_state and reachable):
        return views
    for slot, state in (("after", after_state), ("before", before_state)):
        if slot == "before":
            act("SetWorldState", state=before_state)
        objects = _objects(state)
        for item in views:
            meta = objects.get(item.change["object_id"])
            if meta is None:  # removed since, or added later: nothing to show in this world
                continue
            centre = meta["axisAlignedBoundingBox"]["center"]
            _, image = _look_at(act, reachable, item.change["object_id"], centre)
            setattr(item, slot, image)
    act("SetWorldState", state=after_state)
    if home:
        act(
            "TeleportFull",
            position=home["position"],
            rotation=home["rotation"],
            horizon=home.get("cameraHorizon", 0.0),
            standing=home.get("isStanding", True),
        )
    return views


def changes_figure(
    views: list[ChangeViews],
    verdicts: list[str],
    memory: tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]],
    octree_file: Path,
    out_png: Path,
) -> Path:
    """Left: one row per change, before | after, the object outlined. Right: memory's belief,
    numbered like the rows. A verdict starting with ``STALE`` is red: memory missed that change.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from memory_nodes.core.octree import SparseOctree
    from memory_nodes.viz.map_views import map_layers

    rows = max(len(views), 1)
    row_height = 2.9
    figure = Figure(figsize=(14, 1.0 + row_height * rows), dpi=90)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, 3, width_ratios=(1, 1, 1.5), wspace=0.15, hspace=0.35)
    grid.update(left=0.02, right=0.98, top=1 - 0.9 / figure.get_figheight(), bottom=0.04)
    for row, (item, verdict) in enumerate(zip(views, verdicts, strict=True)):
        object_id = item.change["object_id"]
        name = object_id.split("|")[0]
        colour = "tab:red" if verdict.startswith("STALE") else "tab:green"
        for column, (shot, when) in enumerate(((item.before, "before"), (item.after, "after"))):
            axis = figure.add_subplot(grid[row, column])
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{row + 1}. {item.change['kind']} {name}: {when}", fontsize=10)
            if shot is None:
                axis.text(0.5, 0.5, "no pose sees it", ha="center", va="center", fontsize=9)
                continue
            axis.imshow(shot.image)
            mask = shot.mask_of(object_id)
            if mask is not None and mask.any():
                axis.contour(mask.astype(float), levels=[0.5], colors="red", linewidths=1.5)
            if column == 1:
                text = verdict if verdict.startswith("memory") else f"memory: {verdict}"
                axis.set_xlabel(text, fontsize=9, color=colour)

    axis = figure.add_subplot(grid[:, 2])
    if octree_file.is_file():
        layers = map_layers(SparseOctree.load(octree_file))
        if layers.projection.size:
            shade = np.where(layers.projection == 1, 0.35, np.where(layers.projection == 0, 1, 0.8))
            axis.imshow(shade, origin="lower", extent=layers.extent, cmap="gray", vmin=0, vmax=1)
    before, after = memory
    for number, (item, verdict) in enumerate(zip(views, verdicts, strict=True), start=1):
        object_id = item.change["object_id"]
        then, now = before.get(object_id), after.get(object_id)
        colour = "tab:red" if verdict.startswith("STALE") else "tab:green"
        if then:
            axis.plot(*then["position"][:2], "o", mfc="none", mec="tab:blue", ms=12)
        if now:
            axis.plot(*now["position"][:2], "o", color=colour, ms=8)
        if (
            then
            and now
            and np.hypot(*np.subtract(now["position"][:2], then["position"][:2])) > 0.05
        ):
            axis.annotate(
                "", xy=now["position"][:2], xytext=then["position"][:2],
                arrowprops={"arrowstyle": "->", "color": colour},
            )  # fmt: skip
        anchor = (now or then or {}).get("position")
        if anchor:
            # Alternate sides so numbers of neighbouring objects do not cover each other.
            offset = (8, 6) if number % 2 else (-16, -14)
            axis.annotate(
                str(number), anchor[:2], xytext=offset, textcoords="offset points",
                fontsize=12, weight="bold", color=colour,
            )  # fmt: skip
    axis.plot([], [], "o", mfc="none", mec="tab:blue", ms=10, label="memory after session 1")
    axis.plot([], [], "o", color="tab:green", label="after session 2: caught the change")
    axis.plot([], [], "o", color="tab:red", label="after session 2: stale")
    axis.legend(loc="upper left", fontsize=9)
    axis.set_aspect("equal")
    axis.set_title("Where memory places the changed objects (numbers = rows)", fontsize=11)
    axis.set_xlabel("x [m] (map)")
    axis.set_ylabel("y [m] (map)")
    figure.suptitle(
        "What people changed while the robot was away (object outlined in red), and what "
        "memory made of it",
        fontsize=13,
    )
    figure.savefig(out_png)
    return out_png


def parse_json(text: str) -> Any:
    """The bridge's JSON fields; empty or malformed text is None (the picture is skipped)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
