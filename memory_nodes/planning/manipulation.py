"""Acting on objects: pick up, put, open, close, toggle, slice, empty, dirty, set down, and
checking that a state emerged.

Part of :class:`~memory_nodes.planning.executor.TaskExecutor`; builds on the approach (and so
on the object search and the memory reports). A put a full receptacle refuses calls
:meth:`Manipulation._make_room`, which :class:`~memory_nodes.planning.clearing.Clearing`
provides.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from memory_nodes.core.errors import SubgoalFailedError
from memory_nodes.core.object_taxonomy import (
    PUT_DOWN_SURFACE_TYPES,
    SLICED_FORMS,
    breaks_by_hand,
    is_knife,
)
from memory_nodes.core.types import Box, ObjectObservation, Vector3
from memory_nodes.planning.approach import Approach
from memory_nodes.planning.memory_interface import ActionEffect
from memory_nodes.planning.skills import Skill, SkillFailure, SkillResult
from memory_nodes.planning.subgoals import STATE_CHECKS, Subgoal, SubgoalKind
from memory_nodes.planning.task_runner import FailureReason

_LOG = logging.getLogger(__name__)

#: Reach (metres) to stand within after the robot said an object was out of reach.
CLOSER_REACH = 1.1
#: Extent (metres) of the middle of a seen object, stood near when its edges were too far.
CORE_SIZE_M = 0.3
#: Subgoal kinds that run one skill on their object.
INTERACTION_SKILLS = {
    SubgoalKind.OPEN: Skill.OPEN,
    SubgoalKind.CLOSE: Skill.CLOSE,
    SubgoalKind.PICKUP: Skill.PICK_UP,
    SubgoalKind.PUT: Skill.PUT,
    SubgoalKind.TOGGLE_ON: Skill.TOGGLE_ON,
    SubgoalKind.TOGGLE_OFF: Skill.TOGGLE_OFF,
    SubgoalKind.SLICE: Skill.SLICE,
    SubgoalKind.EMPTY: Skill.EMPTY,
    SubgoalKind.DIRTY: Skill.DIRTY,
}
#: Surfaces searched for to set a held object down when none is in reach.
SET_DOWN_SURFACE_TYPES = ("CounterTop", "DiningTable", "SideTable", "Desk", "CoffeeTable")


class Manipulation(Approach):
    """Runs the skills that change objects, and checks their effects."""

    def _make_room(self, receptacle: str, held: str) -> bool:
        """Make room on ``receptacle`` for ``held``; True when the put is worth trying again.

        No room is made here: :class:`~memory_nodes.planning.clearing.Clearing` makes it.
        """
        return False

    def _act_on(self, skill: Skill, object_id: str) -> SkillResult:
        """Run a skill on an object, approaching again once if the robot says it is out of
        reach."""
        if not self.in_reach(object_id) and not self.approach(object_id):
            raise SubgoalFailedError(FailureReason.NOT_VISIBLE, f"{object_id} not in reach")
        outcome = self.act(skill, object_id)
        if outcome.failure == SkillFailure.OUT_OF_REACH:
            # The robot measures reach to the object itself, perception to what it saw of
            # it (an open door included): stand nearer, somewhere else.
            if object_id not in self.known and (seen := self.percept.find(object_id)):
                self.known[object_id] = seen
            if self.approach(object_id, max_poses=2, reach=CLOSER_REACH, move=True):
                outcome = self.act(skill, object_id)
        if outcome.failure == SkillFailure.OUT_OF_REACH:
            # Still too far: what was seen of it may reach well beyond its body (an open
            # fridge door swings a metre out). Its middle is nearer the body: stand near that.
            item = self.known.get(object_id)
            if item is not None:
                middle = Vector3(*np.minimum(item.box.size.as_array(), CORE_SIZE_M))
                self.known[object_id] = replace(item, box=Box(item.box.center, middle))
                try:
                    near = self.approach(object_id, max_poses=2, reach=CLOSER_REACH, move=True)
                finally:
                    self.known[object_id] = item
                if near:
                    outcome = self.act(skill, object_id)
        return outcome

    def interact(self, subgoal: Subgoal) -> str:
        kind = subgoal.kind
        skill = INTERACTION_SKILLS[kind]
        if kind == SubgoalKind.PICKUP:
            return self.pickup(subgoal.target)
        object_id = self.bound.get(subgoal.target) or self.find(subgoal.target)
        if kind == SubgoalKind.EMPTY and self.held == object_id:
            return self._require(self.act(skill, object_id), object_id)
        states = self.percept.object_states.get(object_id, {})
        key, wanted = {
            SubgoalKind.OPEN: ("isOpen", "true"),
            SubgoalKind.CLOSE: ("isOpen", "false"),
            SubgoalKind.TOGGLE_ON: ("isToggled", "true"),
            SubgoalKind.TOGGLE_OFF: ("isToggled", "false"),
        }.get(kind, ("", ""))
        if subgoal.conditional and key:
            if key not in states and object_id in [o.object_id for o in self.percept.observations]:
                return object_id  # seen and has no such state: not openable/toggleable
            if states.get(key) == wanted:
                return object_id
        if key == "isToggled":
            switch = self.robot.switch_for(object_id)
            if switch != object_id:
                self._toggle_switch(skill, switch, object_id, wanted)
                return object_id
        if kind == SubgoalKind.SLICE and any(f"|{p}_" in object_id for p in SLICED_FORMS.values()):
            return object_id  # a piece: sliced already
        if kind == SubgoalKind.SLICE and not breaks_by_hand(object_id.split("|")[0]):
            held = self.held or ""
            if not is_knife(held.split("|")[0]):
                raise SubgoalFailedError(
                    FailureReason.PRECONDITION, "slicing needs a knife in hand"
                )
        outcome = self._act_on(skill, object_id)
        if outcome.failure == SkillFailure.ALREADY_DONE:
            return object_id
        self._require(outcome, object_id)
        if key:
            self._report(object_id, skill, {key: wanted})
        elif kind == SubgoalKind.SLICE:
            self._report(object_id, skill, {"isSliced": "true"})
            self.memory.report_missing(object_id, self.stamp)  # the whole object is gone
            self.excluded.add(object_id)
            self._note_pieces(object_id)
        elif kind == SubgoalKind.DIRTY:
            self._report(object_id, skill, {"isDirty": "true"})
        return object_id

    def _toggle_switch(self, skill: Skill, switch: str, controlled: str, wanted: str) -> None:
        """Toggle ``switch`` (seen near ``controlled`` or remembered), then report both."""
        if switch not in self.known:
            seen = self.percept.find(switch)
            remembered = [
                r for r in self.memory.where_is(switch.split("|")[0]) if r.object_id == switch
            ]
            if seen is not None or remembered:
                self.known[switch] = seen if seen is not None else remembered[0]
            elif not self.approach(controlled) or self.percept.find(switch) is None:
                raise SubgoalFailedError(FailureReason.NOT_VISIBLE, f"{switch} not in view")
            else:
                self.known[switch] = self.percept.find(switch)
        outcome = self._act_on(skill, switch)
        if outcome.failure == SkillFailure.ALREADY_DONE:
            return
        self._require(outcome, switch)
        self._report(switch, skill, {"isToggled": wanted})
        self._report(controlled, skill, {"isToggled": wanted})

    def _require(self, outcome: SkillResult, object_id: str) -> str:
        if not outcome.success:
            raise SubgoalFailedError(FailureReason.ACTION_FAILED, outcome.message or "failed")
        return object_id

    def pickup(self, types: tuple[str, ...]) -> str:
        object_id = self.bound.get(types) or self.find(types)
        if self.held == object_id:
            return object_id
        if self.held is not None:
            self.put_down()
        for _ in range(self.max_replans + 1):
            if not self.in_reach(object_id) and not (
                self.approach(object_id) or self._open_hiding_container(object_id)
            ):
                object_id = self._refind(types, object_id, "not in reach for pickup")
                continue
            resting = self.percept.find(object_id)
            outcome = self._act_on(Skill.PICK_UP, object_id)
            if outcome.success:
                if resting is not None:  # where it rested: its usual place, in memory's history
                    self.memory.report_action_effect(
                        ActionEffect(
                            object_id=object_id,
                            object_type=resting.object_type,
                            action="Observed",
                            stamp=self.stamp - 0.5,
                            observation=resting,
                        )
                    )
                self._report(object_id, Skill.PICK_UP, {"isPickedUp": "true"}, "", "")
                self.inside.pop(object_id, None)
                if self.held != object_id:
                    raise SubgoalFailedError(FailureReason.VERIFY_FAILED, "hand does not hold it")
                return object_id
            if outcome.failure == SkillFailure.NOT_PICKUPABLE:
                raise SubgoalFailedError(FailureReason.ACTION_FAILED, outcome.message)
            object_id = self._refind(types, object_id, outcome.message)
        raise SubgoalFailedError(FailureReason.ACTION_FAILED, f"could not pick up {types}")

    def put(self, types: tuple[str, ...]) -> str:
        held = self.held
        if held is None:
            raise SubgoalFailedError(FailureReason.PRECONDITION, "nothing in hand to put")
        receptacle = self.bound.get(types) or self.find(types, exclude={held})
        for _ in range(self.max_replans + 1):
            outcome = self._act_on(Skill.PUT, receptacle)
            if outcome.failure == SkillFailure.RECEPTACLE_CLOSED:
                self.act(Skill.OPEN, receptacle)
                self._report(receptacle, Skill.OPEN, {"isOpen": "true"})
                outcome = self.act(Skill.PUT, receptacle)
            if outcome.success:
                self._report_put(held, receptacle)
                self.inside[held] = receptacle
                return receptacle
            if outcome.failure == SkillFailure.NO_ROOM and self._make_room(receptacle, held):
                continue  # the same receptacle again, with room on it now
            if self.held != held:
                raise SubgoalFailedError(
                    FailureReason.ACTION_FAILED,
                    f"{held} could not be picked up again after making room on {receptacle}",
                )
            refused = f"could not put {held} into {receptacle}: {outcome.message}"
            if outcome.failure == SkillFailure.NOT_A_RECEPTACLE and types == (
                self._type_of(receptacle),
            ):
                # No object of this type holds things (a cloth): another one will not either.
                raise SubgoalFailedError(FailureReason.ACTION_FAILED, refused)
            try:
                receptacle = self._refind(types, receptacle, outcome.message, missing=False)
                self.navigate(types)
            except SubgoalFailedError as error:
                if error.reason != FailureReason.NOT_FOUND:
                    raise
                # No other receptacle of the kind: the refused put is the reason, not a search.
                raise SubgoalFailedError(FailureReason.ACTION_FAILED, refused) from None
        raise SubgoalFailedError(FailureReason.ACTION_FAILED, f"could not put into {types}")

    def _pick_up(self, object_id: str) -> bool:
        """Pick ``object_id`` up (approaching if needed) and tell memory; False if refused."""
        outcome = self._act_on(Skill.PICK_UP, object_id)
        if outcome.success:
            self._report(object_id, Skill.PICK_UP, {"isPickedUp": "true"}, "", "")
        return outcome.success

    def put_down(self, avoid: set[str] | frozenset[str] = frozenset()) -> str:
        """Free the hand on the nearest surface in reach (found and walked to if needed),
        never on one of ``avoid``."""
        held = self.held
        if held is None:
            return ""
        refused = {held, *avoid}
        in_view = [
            o
            for o in self.percept.observed(PUT_DOWN_SURFACE_TYPES)
            if o.object_id not in refused and self.in_reach(o.object_id)
        ]
        message = ""
        for surface in in_view[:3]:
            outcome = self.act(Skill.PUT, surface.object_id)
            if outcome.success:
                self._report_put(held, surface.object_id)
                return surface.object_id
            refused.add(surface.object_id)
            message = outcome.message
        surface_types = SET_DOWN_SURFACE_TYPES
        for _ in range(3):  # a cluttered counter refuses: another surface may not
            surface = self.find(surface_types, exclude=refused)
            self.navigate(surface_types)
            outcome = self.act(Skill.PUT, surface)
            self.bound.pop(surface_types, None)
            if outcome.success:
                self._report_put(held, surface)
                return surface
            refused.add(surface)
            message = outcome.message
        raise SubgoalFailedError(FailureReason.ACTION_FAILED, message)

    def check_state(self, subgoal: Subgoal) -> str:
        """The state should have emerged (washed, heated, ...): check it when in view."""
        object_id = self.bound.get(subgoal.target) or self.find(subgoal.target)
        key, wanted = STATE_CHECKS[subgoal.kind]
        self.act(Skill.WAIT)  # one more tick of the world's state rules
        states = self.percept.object_states.get(object_id)
        seen = self.known.get(object_id)
        classified = states or (seen.states if isinstance(seen, ObjectObservation) else None)
        # A state classifier reports isCooked only for things that cook (no apple does):
        # heating cannot have cooked what was seen close up without it.
        if subgoal.note == "cooked" and classified and key not in classified:
            raise SubgoalFailedError(
                FailureReason.VERIFY_FAILED, f"{object_id} is not something that cooks"
            )
        if states is None or key not in states:
            return object_id  # out of sight (behind the microwave door): trust the actions
        want = str(wanted).lower() if isinstance(wanted, bool) else str(wanted)
        if states[key] != want:
            raise SubgoalFailedError(
                FailureReason.VERIFY_FAILED, f"{object_id} has {key}={states[key]}, want {want}"
            )
        self._report(object_id, subgoal.kind.value, {key: want})
        return object_id
