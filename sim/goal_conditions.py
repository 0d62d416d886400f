"""The checker of goal conditions: does a condition hold in AI2-THOR object metadata, and can
the simulator's rules ever make it hold?

The goal language itself (:class:`Condition`, :func:`parse_goal`, name resolution) lives in
:mod:`memory_nodes.planning.goals`, since the planner reads goals without a simulator; it is
re-exported here so that a simulator user needs one import. The checker reads AI2-THOR object
metadata (ground truth) and treats a task's conditions as ordered subgoals.

AI2-THOR metadata does not distinguish "on" from "inside" (both are ``parentReceptacles``), so
``ON(a, b)`` and ``INSIDE(a, b)`` both hold when an ``a`` has a ``b`` among its receptacles,
directly or through others (an apple on a plate in the fridge is inside the fridge).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from memory_nodes.core.object_taxonomy import (
    breaks_by_hand,
    cookable_piece,
    heats,
    is_knife,
    sliceable,
    sliced_form,
)
from memory_nodes.planning.goals import (
    NAME_SYNONYMS,
    PREDICATE_ALIASES,
    PREDICATES,
    SCENE_FALLBACKS,
    STATE_ALIASES,
    STATES,
    Condition,
    GoalParseError,
    adapt_to_scene,
    parse_condition,
    parse_goal,
    resolve_object_name,
    with_sliced_forms,
)

__all__ = [
    "NAME_SYNONYMS",
    "NEGATED_STATES",
    "PREDICATES",
    "PREDICATE_ALIASES",
    "SCENE_FALLBACKS",
    "STATES",
    "STATE_ALIASES",
    "STATE_FLAGS",
    "Condition",
    "GoalChecker",
    "GoalParseError",
    "adapt_to_scene",
    "condition_holds",
    "parse_condition",
    "parse_goal",
    "piece_metadata",
    "resolve_object_name",
    "unachievable_reason",
    "with_sliced_forms",
]


# ---- checking -------------------------------------------------------------------------------
def _matches(obj: dict, types: tuple[str, ...]) -> bool:
    return obj["objectType"] in with_sliced_forms(types)


def _receptacle_chain(obj: dict, by_id: dict[str, dict]) -> list[dict]:
    chain, seen = [], set()
    frontier = list(obj.get("parentReceptacles") or [])
    while frontier:
        rid = frontier.pop(0)
        if rid in seen or rid not in by_id:
            continue
        seen.add(rid)
        chain.append(by_id[rid])
        frontier += by_id[rid].get("parentReceptacles") or []
    return chain


def _state_holds(objs: list[dict], state: str, types: tuple[str, ...]) -> bool:
    sliced_types = {sliced_form(t) for t in types if sliceable(t)}
    tests = {
        "sliced": lambda o: o["isSliced"] or o["objectType"] in sliced_types,
        "cooked": lambda o: o["isCooked"],
        "clean": lambda o: not o["isDirty"],
        "dirty": lambda o: o["isDirty"],
        "filled": lambda o: o["isFilledWithLiquid"],
        "empty": lambda o: not o["isFilledWithLiquid"],
        "hot": lambda o: o["temperature"] == "Hot",
        "cold": lambda o: o["temperature"] == "Cold",
        "open": lambda o: o["isOpen"],
        "closed": lambda o: o["openable"] and not o["isOpen"],
        "on": lambda o: o["isToggled"],
        "off": lambda o: o["toggleable"] and not o["isToggled"],
        "pickedup": lambda o: o["isPickedUp"],
    }
    return any(tests[state](o) for o in objs)


def condition_holds(condition: Condition, objects: list[dict]) -> bool:
    """Evaluate one condition against AI2-THOR object metadata (ground truth)."""
    by_id = {o["objectId"]: o for o in objects}
    subjects = [o for o in objects if _matches(o, condition.subject)]
    pred = condition.predicate
    if pred in ("ON", "INSIDE"):
        result = any(
            any(_matches(r, condition.target) for r in _receptacle_chain(o, by_id))
            for o in subjects
        )
    elif pred == "STATE":
        result = _state_holds(subjects, condition.target[0], condition.subject)
    elif pred == "TOGGLEON":
        result = any(o["isToggled"] for o in subjects)
    elif pred == "TOGGLEOFF":
        # A StoveBurner is not toggleable itself; the StoveKnob that controls it switches it.
        controlled = {c for o in objects for c in (o.get("controlledObjects") or [])}
        result = any(
            (o["toggleable"] or o["objectId"] in controlled) and not o["isToggled"]
            for o in subjects
        )
    else:  # NEAR_POINT
        p = condition.point
        result = any(
            math.dist((o["position"]["x"], o["position"]["y"], o["position"]["z"]), p) <= 0.5
            for o in subjects
        )
    return result == condition.expected


class GoalChecker:
    """Tracks ordered subgoals: condition ``i`` counts only once ``0..i-1`` have been met."""

    def __init__(self, conditions: list[Condition]):
        self.conditions = list(conditions)
        self.num_done = 0

    def update(self, objects: list[dict]) -> int:
        """Advance past every next condition that holds now; returns how many are done."""
        while self.num_done < len(self.conditions) and condition_holds(
            self.conditions[self.num_done], objects
        ):
            self.num_done += 1
        return self.num_done

    @property
    def success(self) -> bool:
        return self.num_done == len(self.conditions)

    @property
    def progress(self) -> float:
        return self.num_done / len(self.conditions) if self.conditions else 1.0


# ---- achievability --------------------------------------------------------------------------
#: Per state: the flag some form of the subject needs to change into it, and a reason's words.
STATE_FLAGS: dict[str, tuple[str, str, str]] = {
    "cooked": ("cookable", "cooked", "cookable"),
    "clean": ("dirtyable", "cleaned", "dirtyable"),
    "dirty": ("dirtyable", "made dirty", "dirtyable"),
    "filled": ("canFillWithLiquid", "filled", "fillable"),
    "empty": ("canFillWithLiquid", "emptied", "fillable"),
    "open": ("openable", "opened", "openable"),
    "closed": ("openable", "closed", "openable"),
    # condition_holds counts only toggleable objects as "off", not a burner its knob controls.
    "off": ("toggleable", "switched off", "toggleable"),
}
#: A condition expected false is met by the opposite change. Switching off what is on needs a
#: switch just as switching on does; slicing and cooking cannot be undone (no entry).
NEGATED_STATES = {
    "clean": "dirty",
    "dirty": "clean",
    "filled": "empty",
    "empty": "filled",
    "hot": "cold",
    "cold": "hot",
    "open": "closed",
    "closed": "open",
    "on": "switched off",
    "off": "on",
}


def piece_metadata(meta: dict) -> dict:
    """Metadata flags of the pieces that slicing ``meta``'s object makes.

    The same flags as ``HouseholdSim.slice_object`` gives them: pieces can be picked up, hold
    nothing, cannot be cut again, and cook when their type is a cookable piece (toast, a fried
    egg) or the whole object was cookable; every other flag is the whole object's.
    """
    piece_type = sliced_form(meta["objectType"])
    return {
        **meta,
        "objectType": piece_type,
        "sliceable": False,
        "isSliced": False,
        "pickupable": True,
        "receptacle": False,
        "cookable": cookable_piece(piece_type) or bool(meta["cookable"]),
    }


def _can_be_cut(meta: dict, objects: list[dict]) -> bool:
    """The simulator breaks an egg by hand and cuts anything else with a knife in the hand."""
    if not meta["sliceable"] or meta["isSliced"]:
        return False
    return breaks_by_hand(meta["objectType"]) or any(
        is_knife(o["objectType"]) and o["pickupable"] for o in objects
    )


def _subject_forms(types: tuple[str, ...], objects: list[dict]) -> tuple[list[dict], list[dict]]:
    """What objects of ``types`` can be: themselves, and the pieces cutting one makes.

    Returns (the forms this scene allows, pieces that only a knife the scene lacks would make).
    """
    wanted = with_sliced_forms(types)
    forms: list[dict] = []
    uncut: list[dict] = []
    for o in objects:
        if o["isSliced"]:
            continue  # a cut object is gone; its pieces are objects of their own
        if o["objectType"] in wanted:
            forms.append(o)
        if o["sliceable"] and sliced_form(o["objectType"]) in wanted:
            (forms if _can_be_cut(o, objects) else uncut).append(piece_metadata(o))
    return forms, uncut


def _type_names(types: tuple[str, ...], objects: list[dict], wanted: Iterable[str]) -> str:
    """The scene's own types among ``wanted`` (else ``types``), for a reason's wording."""
    present = list(dict.fromkeys(o["objectType"] for o in objects if o["objectType"] in wanted))
    return "/".join(present or types)


def _switchable(meta: dict, objects: list[dict]) -> bool:
    """Toggleable itself, or switched by a toggleable object (a StoveKnob and its burner)."""
    return bool(meta["toggleable"]) or any(
        o["toggleable"] and meta["objectId"] in (o.get("controlledObjects") or []) for o in objects
    )


def _move_reason(forms: list[dict], uncut: list[dict], name: str) -> str | None:
    if any(f["pickupable"] for f in forms):
        return None
    if uncut:
        return f"{name} cannot be moved (only its slices could be, and no knife cuts it)"
    return f"{name} cannot be moved (not pickupable)"


def _receptacle_reason(target: tuple[str, ...], objects: list[dict]) -> str | None:
    targets = [o for o in objects if _matches(o, target) and not o["isSliced"]]
    if any(o["receptacle"] for o in targets):
        return None
    name = _type_names(target, targets, with_sliced_forms(target))
    if not targets:
        return f"no {name} in the scene"
    return f"nothing can be put on or in {name} (not a receptacle)"


def _temperature_reason(
    state: str, forms: list[dict], name: str, objects: list[dict]
) -> str | None:
    """The simulator heats what is in or on a switched-on heat source and chills the fridge's."""
    if state == "hot":
        places = [
            o
            for o in objects
            if heats(o["objectType"]) and o["receptacle"] and _switchable(o, objects)
        ]
        word, lacking = "heated", "no Microwave, StoveBurner or Toaster that switches on"
    else:
        places = [o for o in objects if o["objectType"] == "Fridge" and o["receptacle"]]
        word, lacking = "chilled", "no Fridge"
    by_id = {o["objectId"]: o for o in objects}
    place_ids = {o["objectId"] for o in places}
    if any(r["objectId"] in place_ids for f in forms for r in _receptacle_chain(f, by_id)):
        return None
    if places and any(f["pickupable"] for f in forms):
        return None
    if not places:
        return f"{name} cannot be {word} ({lacking} in the scene)"
    return f"{name} cannot be {word} (cannot be put in one: not pickupable)"


def _state_reason(
    state: str, forms: list[dict], uncut: list[dict], name: str, objects: list[dict]
) -> str | None:
    """Why no form of the subject can change into ``state`` (see :func:`unachievable_reason`)."""
    if state == "sliced":
        whole = [f for f in forms if f["sliceable"]]
        if any(_can_be_cut(f, objects) for f in whole):
            return None
        missing = "no Knife or ButterKnife in the scene" if whole else "not sliceable"
        return f"{name} cannot be sliced ({missing})"
    if state in ("hot", "cold"):
        return _temperature_reason(state, forms, name, objects)
    if state in ("on", "switched off"):
        if any(_switchable(f, objects) for f in forms):
            return None
        word = "switched on" if state == "on" else state
        return f"{name} cannot be {word} (not toggleable, nor switched by anything)"
    flag, word, adjective = STATE_FLAGS[state]
    if any(f[flag] for f in forms):
        return None
    if any(f[flag] for f in uncut):
        return f"{name} cannot be {word} (only its slices are {adjective}, and no knife cuts it)"
    nor = ", nor its slices" if uncut or any(f["sliceable"] for f in forms) else ""
    return f"{name} cannot be {word} (not {adjective}{nor})"


def unachievable_reason(condition: Condition, objects: list[dict]) -> str | None:
    """Why the simulator's object rules never let ``condition`` hold, or None when they may.

    ``objects`` is the scene's AI2-THOR object metadata at the start. A condition is achievable
    when it holds already, or when some object of its subject types, whole or as the pieces
    cutting it makes (flags as :func:`piece_metadata`), allows the change it needs:

    * ``ON``/``INSIDE``: the subject is pickupable and some target-type object is a receptacle;
      ``NEAR_POINT`` and ``pickedup``: pickupable;
    * ``sliced``: sliceable, with a Knife or ButterKnife in the scene (an egg breaks by hand);
      ``cooked``: cookable; ``clean``/``dirty``: dirtyable; ``filled``/``empty``:
      canFillWithLiquid; ``open``/``closed``: openable;
    * ``on``, ``TOGGLEON``, ``TOGGLEOFF``: toggleable or controlled by a toggleable object (a
      StoveKnob's burner); ``off``: toggleable, as :func:`condition_holds` counts it;
    * ``hot``: in or on a Microwave, StoveBurner or Toaster that switches on, or pickupable
      and such a heat source is there; ``cold``: the same with a Fridge.

    A condition expected false needs the opposite change (moving away, ``clean`` for ``dirty``,
    switching off, ...); slicing and cooking cannot be undone. Each condition is judged on its
    own from the start; what the robot can reach, find or fit where does not count.
    """
    if condition_holds(condition, objects):
        return None
    forms, uncut = _subject_forms(condition.subject, objects)
    name = _type_names(condition.subject, objects, condition.subject)
    if not forms and not uncut:
        return f"no {name} in the scene"
    pred = condition.predicate
    state = condition.target[0] if pred == "STATE" else ""
    if pred in ("ON", "INSIDE", "NEAR_POINT") or state == "pickedup":
        reason = _move_reason(forms, uncut, name)
        if reason is None and pred in ("ON", "INSIDE") and condition.expected:
            reason = _receptacle_reason(condition.target, objects)
        return reason
    if pred in ("TOGGLEON", "TOGGLEOFF"):
        state = "on" if (pred == "TOGGLEON") == condition.expected else "switched off"
    elif not condition.expected:
        if state not in NEGATED_STATES:
            return f"{name} cannot stop being {state} (it cannot be undone)"
        state = NEGATED_STATES[state]
    return _state_reason(state, forms, uncut, name, objects)
