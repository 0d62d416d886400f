"""Making room on a full receptacle: set the held object down, move what lies on the
receptacle aside (carrying the receptacle into the open when its contents do not show), pick
the held object up again and go back to where the put was tried.

Part of :class:`~memory_nodes.planning.executor.TaskExecutor`; builds on manipulation (setting
down, picking up) and provides the :meth:`Manipulation._make_room` a refused put calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from memory_nodes.core.errors import SubgoalFailedError
from memory_nodes.core.object_taxonomy import is_fixture
from memory_nodes.core.types import ObjectObservation, ObjectRecord
from memory_nodes.planning.manipulation import Manipulation
from memory_nodes.planning.navigation import StandingPose

_LOG = logging.getLogger(__name__)

#: How far above a receptacle's top the lowest seen point of something lying on it may be.
LYING_ON_ABOVE_M = 0.12
#: Times a receptacle is cleared for one put before the refusal counts as final.
MAX_ROOM_TRIES = 2


class Clearing(Manipulation):
    """Clears receptacles that refuse a put for lack of room."""

    def _lying_on(self, receptacle: str) -> list[ObjectObservation]:
        """Movable objects in view resting on ``receptacle``'s top (on a plate, a shelf)."""
        holder = self.percept.find(receptacle)
        if holder is None:
            return []
        lo, hi = holder.box.min_corner, holder.box.max_corner
        out = []
        for o in self.percept.observations:
            o_lo, o_hi = o.box.min_corner, o.box.max_corner
            if o.object_id in (receptacle, self.held) or "isPickedUp" not in o.states:
                continue
            # Footprints overlap, not centre inside: what lies on a plate hides part of the
            # plate, so the plate's seen box may end short of what is on it.
            over = bool(np.all(o_lo[:2] <= hi[:2]) and np.all(o_hi[:2] >= lo[:2]))
            # The bottom the camera sees: a piece half hidden behind the rim or behind other
            # pieces shows only its upper part, above the receptacle's top.
            if over and lo[2] + 0.005 < o_lo[2] <= hi[2] + LYING_ON_ABOVE_M:
                out.append(o)
        return out

    def _make_room(self, receptacle: str, held: str) -> bool:
        """A full receptacle (a plate with yesterday's slice on it): set the held object
        down, move what lies on the receptacle aside (not what this task put there), pick the
        held object up again. True when something was moved and the hand holds it again.

        When nothing on it can be reached from where it stands (a plate low in the fridge),
        or the put is refused again after clearing there, and the receptacle itself can be
        carried, it is carried, contents and all, to an open surface where what lies on it
        is in view, and cleared there.
        """
        tries = self._room_tries.get(receptacle, 0)
        if tries >= MAX_ROOM_TRIES:
            return False  # cleared twice and still refused: not for lack of room
        self._room_tries[receptacle] = tries + 1
        blockers = self._blockers_on(receptacle, held)
        item = self.percept.find(receptacle) or self.known.get(receptacle)
        carryable = item is not None and "isPickedUp" in (item.states or {})
        if not blockers and not carryable:
            return False
        _LOG.debug(
            "step %d: making room on %s (%d in the way, carryable: %s)",
            self.result.actions, receptacle, len(blockers), carryable,
        )  # fmt: skip
        (i, j, heading), horizon = self.navigator.state()
        put_from = StandingPose((i, j), heading, horizon, 0.0)
        try:
            self.put_down(avoid={receptacle})
        except SubgoalFailedError:
            return False
        if tries > 0 and carryable:
            # Cleared here once and still refused: clear what is in view, else what is left
            # is out of view and the receptacle is carried into the open.
            blockers = [b for b in blockers if isinstance(b, ObjectObservation)]
        moved = self._clear(receptacle, held, blockers) if blockers else 0
        if moved == 0 and carryable and self.held is None:
            _LOG.debug("step %d: carrying %s into the open", self.result.actions, receptacle)
            try:
                if self._pick_up(receptacle):
                    self.put_down()
                    moved = self._clear(receptacle, held)
            except SubgoalFailedError:
                pass
        _LOG.debug("step %d: moved %d off %s", self.result.actions, moved, receptacle)
        try:  # whatever happened, the object to put goes back into the hand
            if self.held not in (None, held):
                self.put_down(avoid={receptacle})
            if not self._pick_up(held) or self.held != held:
                return False
        except SubgoalFailedError:
            return False
        return moved > 0 and self._back_to(put_from, receptacle)

    def _blockers_on(self, receptacle: str, held: str) -> list[ObjectObservation | ObjectRecord]:
        """What lies on ``receptacle`` in view, and what memory put there the camera does
        not see, except what this task put there."""
        lying: list[ObjectObservation | ObjectRecord] = list(self._lying_on(receptacle))
        # Optional: memories with relations offer ``contents_of``.
        contents = getattr(self.memory, "contents_of", None)
        seen_ids = {o.object_id for o in lying}
        for record in contents(receptacle) if contents is not None else []:
            movable = "isPickedUp" in record.states or not is_fixture(record.object_type)
            if record.object_id not in seen_ids and record.object_id != held and movable:
                lying.append(record)
        # Not what this task put there, nor what it just set down beside it (footprints of
        # things beside a plate overlap the plate's).
        moved = self._moved_off.get(receptacle, set())
        return [
            o
            for o in lying
            if o.object_id != held
            and o.object_id not in moved
            and self.inside.get(o.object_id) != receptacle
        ]

    def _clear(
        self,
        receptacle: str,
        held: str,
        blockers: Sequence[ObjectObservation | ObjectRecord] | None = None,
        rounds: int = 3,
    ) -> int:
        """Move blockers off ``receptacle`` in a few rounds: pieces stacked on pieces come
        into view once those on top are gone. How many were moved."""
        moved = 0
        for _ in range(rounds):
            batch = self._blockers_on(receptacle, held) if blockers is None else blockers
            blockers = None
            done = self._move_aside(batch, held, receptacle) if batch else 0
            moved += done
            if done == 0 or self.held is not None:
                break
        return moved

    def _move_aside(
        self, blockers: Sequence[ObjectObservation | ObjectRecord], held: str, receptacle: str
    ) -> int:
        """Pick up each blocker and set it down off ``receptacle``; how many were moved."""
        moved = 0
        for blocker in blockers[:3]:
            self.known[blocker.object_id] = blocker
            try:
                if not self._pick_up(blocker.object_id):
                    continue
                self.put_down(avoid={receptacle})
                self._moved_off.setdefault(receptacle, set()).add(blocker.object_id)
                moved += 1
            except SubgoalFailedError:
                if self.held not in (None, held):
                    break  # a blocker stuck in hand: the caller sets it down
        return moved
