"""Finding objects: the newest view first, then memory (with a task belief of where each
object is), then exploration; and what to do when memory was wrong.

Part of :class:`~memory_nodes.planning.executor.TaskExecutor`; builds on the task runner alone.
The task belief lives in the
shared state of :class:`~memory_nodes.planning.task_runner.TaskRunner`: which object each
subgoal's types are bound to (``bound``), where each was last known (``known``), what was
excluded or found misplaced, and which earlier places were looked at.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from memory_nodes.core.errors import SubgoalFailedError, TaskStoppedError
from memory_nodes.core.object_taxonomy import STORAGE_CONTAINER_TYPES, is_fixture
from memory_nodes.core.types import ObjectObservation, ObjectRecord
from memory_nodes.planning.exploration import receptacle_priors
from memory_nodes.planning.skills import Skill
from memory_nodes.planning.task_runner import FailureReason, TaskRunner, pieces_of

_LOG = logging.getLogger(__name__)

#: Memories older than this (seconds of the memory clock) may be stale: look around first.
STALE_AFTER_S = 3600.0
#: Remembered places nearer than this (metres) are walked to without looking around.
LOOK_AROUND_BEYOND_M = 2.5


class ObjectSearch(TaskRunner):
    """Binds subgoal types to objects: view, memory, search, re-plan."""

    def find(self, types: tuple[str, ...], exclude: set[str] | None = None) -> str:
        """Bind ``types`` to one object id: keep the bound one, else view, memory, search."""
        exclude = self.excluded | (exclude or set())
        held = self.held
        current = self.bound.get(types)
        if current is not None and current not in exclude:
            return current
        # Already in hand (a task left unfinished before): no need to look for another.
        # Perception drops the hand's object, so the binding is by id alone.
        if held is not None and held not in exclude and self._type_of(held) in types:
            self.bound[types] = held
            return held
        agent = self._agent_xyz()
        in_view = [
            o
            for o in self.percept.observed(types)
            if o.object_id not in exclude and o.object_id != held
        ]
        candidates: list[ObjectObservation | ObjectRecord] = list(in_view)
        not_from_memory = exclude | self._misplaced
        if not candidates:
            for object_type in types:
                candidates += [
                    self._unless_delivered(types, r)
                    for r in self.memory.where_is(object_type)
                    if r.object_id not in not_from_memory and r.object_id != held
                ]
        pieces = pieces_of(types)
        if not candidates and pieces:
            candidates = [o for o in self.percept.observed(pieces) if o.object_id not in exclude]
            for object_type in pieces if not candidates else ():
                candidates += [
                    r
                    for r in self.memory.where_is(object_type)
                    if r.object_id not in not_from_memory
                ]
        if candidates:
            best = min(
                candidates,
                key=lambda c: (np.linalg.norm(self._position(c)[:2] - agent[:2]), c.object_id),
            )
            if not in_view and self._worth_looking_around(best, agent):
                around = types + pieces if best.object_type in pieces else types
                seen = self._look_around_for(around, exclude | ({held} if held else set()))
                if seen is not None:
                    best = seen
            return self._bind(types, best)
        return self._search(types, types + pieces, exclude | ({held} if held else set()))

    def _search(self, types: tuple[str, ...], wanted: tuple[str, ...], exclude: set[str]) -> str:
        """Explore until an object of ``wanted`` is in view and bind it to ``types``."""
        self.result.searches += 1
        _LOG.debug("step %d: search for %s", self.result.actions, "/".join(wanted))
        search = self.explorer.search(
            wanted,
            self.budget_left,
            likely=self._likely_places(types),
            containers=self._remembered_containers(),
            exclude=exclude,
            seen=seen() if (seen := getattr(self.memory, "seen_places", None)) else None,
        )
        if search.found is None:
            if self.budget_left == 0:
                raise TaskStoppedError(
                    FailureReason.STEP_BUDGET, f"step budget of {self.max_steps} used up"
                )
            raise SubgoalFailedError(FailureReason.NOT_FOUND, search.message or "not found")
        return self._bind(types, search.found)

    def _worth_looking_around(
        self, item: ObjectObservation | ObjectRecord, agent: np.ndarray
    ) -> bool:
        """Turning in place (three actions) before a long walk to an old memory of a movable
        object: a changed household may have brought it closer, or taken it away."""
        if not isinstance(item, ObjectRecord):
            return False
        movable = "isPickedUp" in item.states if item.states else not is_fixture(item.object_type)
        if not movable:
            return False  # receptacles and furniture stay put: trust memory
        if self.stamp - item.last_seen < STALE_AFTER_S:
            return False
        if float(np.linalg.norm(self._position(item)[:2] - agent[:2])) < LOOK_AROUND_BEYOND_M:
            return False
        cell = self.grid.cell_of(agent[0], agent[1])
        if cell in self._looked_around:
            return False
        self._looked_around.add(cell)
        return True

    def _look_around_for(
        self, types: tuple[str, ...], exclude: set[str]
    ) -> ObjectObservation | None:
        """Turn in place until an object of ``types`` is in view (a full turn at most)."""
        for _ in range(3):
            self.act(Skill.TURN_RIGHT)
            seen = [o for o in self.percept.observed(types) if o.object_id not in exclude]
            if seen:
                camera = self._agent_xyz()
                return min(seen, key=lambda o: np.linalg.norm(self._position(o) - camera))
        return None

    def _unless_delivered(self, types: tuple[str, ...], record: ObjectRecord) -> ObjectRecord:
        """Where to look for ``record``'s object when the task is to bring it where it is.

        Memory placing the object, from before this task, in a receptacle the plan puts it
        into means someone took it out since (nobody asks for what is done already): its
        earlier resting place, when memory has one, is the better first look.
        """
        receptacle = record.receptacle_id.split("|")[0] if record.receptacle_id else ""
        if receptacle not in self.destinations.get(types, ()) or record.last_seen >= self._start:
            return record
        places = getattr(self.memory, "earlier_places", None)
        earlier = places(record.object_id) if places is not None else []
        if not earlier:
            return record
        self._if_not_there[record.object_id] = record  # unless it was done after all
        return earlier[0]

    def _bind(self, types: tuple[str, ...], item: ObjectObservation | ObjectRecord) -> str:
        _LOG.debug(
            "step %d: %s bound to %s from %s at %s",
            self.result.actions, "/".join(types), item.object_id,
            "memory" if isinstance(item, ObjectRecord) else "view",
            np.round(self._position(item), 2).tolist(),
        )  # fmt: skip
        self.bound[types] = item.object_id
        self.known[item.object_id] = item
        if isinstance(item, ObjectRecord) and item.receptacle_id:
            self.inside.setdefault(item.object_id, item.receptacle_id)
        return item.object_id

    def _likely_places(self, types: tuple[str, ...]) -> list[tuple[np.ndarray, float]]:
        priors = sorted(receptacle_priors(types).items(), key=lambda kv: -kv[1])[:3]
        places = []
        for receptacle_type, p in priors:
            for record in self.memory.where_is(receptacle_type):
                places.append((self._position(record), p))
        return places

    def _remembered_containers(
        self, container_types: Sequence[str] = STORAGE_CONTAINER_TYPES
    ) -> list[ObjectRecord]:
        """Every closed container of these types memory knows (the search ranks them)."""
        out = []
        for container_type in container_types:
            out += [
                r for r in self.memory.where_is(container_type) if r.states.get("isOpen") != "true"
            ]
        return out

    def _refind(
        self, types: tuple[str, ...], object_id: str, why: str, missing: bool = True
    ) -> str:
        """Memory was wrong about ``object_id``: tell it, forget the binding, search again.

        An object that cannot be used (a full plate) is excluded from the new search. One
        memory still places where it was not found (a memory that cannot learn) is only left
        out of memory's answers: the search may still see it (a knife too thin to show from
        where memory sent the robot). Else it may well be found elsewhere (the egg left in
        the sink is back in the fridge).
        """
        _LOG.debug("step %d: re-plan for %s: %s", self.result.actions, object_id, why)
        if (held_back := self._if_not_there.pop(object_id, None)) is not None:
            # Not at its earlier place: memory's newest place it is, the task done before.
            self.result.replans += 1
            self._look_at(object_id, held_back)
            return object_id
        if missing and ("not where remembered" in why or not is_fixture(self._type_of(object_id))):
            # A fridge or a full plate that refused a put is still there: only an absence
            # is news to memory.
            self.memory.report_missing(object_id, self.stamp)
        still_there = any(r.object_id == object_id for t in types for r in self.memory.where_is(t))
        if not still_there and (earlier := self._earlier_place(object_id)) is not None:
            self.result.replans += 1
            self._look_at(object_id, earlier)  # one look where it usually rests
            return object_id
        if "not where remembered" not in why:
            self.excluded.add(object_id)  # refused (a full plate): another one, or none
        elif still_there:
            self._misplaced.add(object_id)
        self.known.pop(object_id, None)
        self.bound.pop(types, None)
        self.result.replans += 1
        if self.result.replans > self.max_replans * 4:
            raise SubgoalFailedError(FailureReason.NOT_FOUND, f"too many re-plans ({why})")
        return self.find(types)

    def _old_news(self, object_id: str) -> bool:
        """Memory from before this task places a movable object: not worth many more looks."""
        item = self.known.get(object_id)
        return (
            isinstance(item, ObjectRecord)
            and item.last_seen < self._start
            and not is_fixture(self._type_of(object_id))
        )

    def _look_at(self, object_id: str, place: ObjectRecord) -> None:
        """Approach ``object_id`` at ``place`` next, as if nothing had been tried yet."""
        self.known[object_id] = place
        self.inside.pop(object_id, None)
        if place.receptacle_id:
            self.inside[object_id] = place.receptacle_id
        self._seen_empty.discard(object_id)
        self._tried_cells.pop(object_id, None)

    def _earlier_place(self, object_id: str) -> ObjectRecord | None:
        """The newest earlier resting place memory has for the object, not yet looked at.

        Optional: memories with a history offer ``earlier_places(object_id)``.
        """
        places = getattr(self.memory, "earlier_places", None)
        if places is None:
            return None
        if object_id in self._looked_at:
            return None  # one look at its usual place; after that a search is cheaper
        looked = self._looked_at.setdefault(object_id, [])
        if object_id in self.known:
            looked.append(self._position(self.known[object_id]))
        for record in places(object_id):
            position = self._position(record)
            if all(np.linalg.norm(position - q) > 0.25 for q in looked):
                looked.append(position)
                return record
        return None

    def _remembered(
        self, object_id: str, ask: bool = False
    ) -> ObjectObservation | ObjectRecord | None:
        """What this task knows of ``object_id``; with ``ask``, memory's record when this
        task has no record of it (a plate seen today, put in the fridge yesterday)."""
        item = self.known.get(object_id)
        if isinstance(item, ObjectRecord) or (item is not None and not ask):
            return item
        records = self.memory.where_is(self._type_of(object_id))
        return next((r for r in records if r.object_id == object_id), item)
