"""Goal conditions (``ON``, ``INSIDE``, ``STATE``, ``TOGGLEON``, ``TOGGLEOFF``) and their checker.

Conditions name objects loosely ("apple", "toilet paper", "table"); :func:`resolve_object_name`
maps each name to the AI2-THOR types it may mean and records every repair it had to make, so a
task file's mistakes are visible rather than silently guessed. The checker reads AI2-THOR object
metadata (ground truth) and treats a task's conditions as ordered subgoals.

AI2-THOR metadata does not distinguish "on" from "inside" (both are ``parentReceptacles``), so
``ON(a, b)`` and ``INSIDE(a, b)`` both hold when an ``a`` has a ``b`` among its receptacles,
directly or through others (an apple on a plate in the fridge is inside the fridge).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from sim import scene_catalog

PREDICATES = ("ON", "INSIDE", "STATE", "TOGGLEON", "TOGGLEOFF", "NEAR_POINT")
PREDICATE_ALIASES = {
    "SWITCHON": "TOGGLEON",
    "SWITCHOFF": "TOGGLEOFF",
    "TURNON": "TOGGLEON",
    "TURNOFF": "TOGGLEOFF",
    "IN": "INSIDE",
}
STATES = (
    "sliced",
    "cooked",
    "clean",
    "dirty",
    "filled",
    "empty",
    "hot",
    "cold",
    "open",
    "closed",
    "on",
    "off",
    "pickedup",
)
STATE_ALIASES = {
    "washed": "clean",
    "melted": "cooked",
    "toasted": "cooked",
    "boiled": "cooked",
    "fried": "cooked",
    "chilled": "cold",
    "cool": "cold",
    "heated": "hot",
}
#: Free-text names that are not an AI2-THOR type by spelling, case or plural alone.
NAME_SYNONYMS: dict[str, tuple[str, ...]] = {
    "table": ("DiningTable", "CoffeeTable", "SideTable"),
    "counter": ("CounterTop",),
    "kitchencounter": ("CounterTop",),
    "trash": ("GarbageCan",),
    "trashcan": ("GarbageCan",),
    "bin": ("GarbageCan",),
    "refrigerator": ("Fridge",),
    "sink": ("Sink", "SinkBasin"),
    "card": ("CreditCard",),
    "phone": ("CellPhone",),
    "key": ("KeyChain",),
    "lamp": ("DeskLamp", "FloorLamp"),
    "dish": ("Plate", "Bowl"),
    "bag": ("GarbageBag",),
    "oven": ("Microwave",),
    "stove": ("StoveBurner",),
    "toast": ("BreadSliced",),
    "scoop": ("Ladle", "Spoon"),
    "shelf": ("Shelf", "ShelvingUnit"),
    "bottle": ("Bottle", "WineBottle"),
    "knife": ("Knife", "ButterKnife"),
    "tv": ("Television",),
    "light": ("LightSwitch",),
    "couch": ("Sofa",),
    "remote": ("RemoteControl",),
}
#: A receptacle name whose types a scene lacks falls back to the first of these groups the scene
#: has. iTHOR kitchens such as FloorPlan1, 2 and 5 have no table: their free-standing work
#: surface (the island) is a CounterTop, and a room without tables may have a Desk.
SCENE_FALLBACKS: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {
    NAME_SYNONYMS["table"]: (("Desk",), ("CounterTop",)),
}
#: Types that may also appear as their pieces once sliced.
SLICED_FORMS = {
    "Apple": "AppleSliced",
    "Bread": "BreadSliced",
    "Lettuce": "LettuceSliced",
    "Potato": "PotatoSliced",
    "Tomato": "TomatoSliced",
    "Egg": "EggCracked",
}


class GoalParseError(ValueError):
    """A goal-condition string could not be understood at all."""


@cache
def known_types() -> frozenset[str]:
    """Every AI2-THOR object type in the scene data, plus sliced forms."""
    types: set[str] = set(SLICED_FORMS.values())
    for name in scene_catalog.scene_names():
        types.update(scene_catalog.scene_object_types(name))
    return frozenset(types)


def resolve_object_name(name: str) -> tuple[tuple[str, ...], str | None]:
    """AI2-THOR types ``name`` may mean, and a note when the name needed repair (else None)."""
    text = name.strip()
    by_lower = {t.lower(): t for t in known_types()}
    key = re.sub(r"[\s_\-]+", "", text.lower())
    if text in known_types():
        return (text,), None
    if key in NAME_SYNONYMS:
        return NAME_SYNONYMS[key], f"'{text}' read as {' or '.join(NAME_SYNONYMS[key])}"
    if key in by_lower:
        # Case alone is not worth a note; spacing ("toilet paper") is.
        same = text.lower() == by_lower[key].lower()
        return (by_lower[key],), None if same else f"'{text}' read as {by_lower[key]}"
    for singular in (key[:-2] if key.endswith("es") else None, key[:-1]):
        if singular and singular in by_lower:
            return (by_lower[singular],), f"plural '{text}' read as {by_lower[singular]}"
        if singular and singular in NAME_SYNONYMS:
            types = NAME_SYNONYMS[singular]
            return types, f"plural '{text}' read as {' or '.join(types)}"
    raise GoalParseError(f"unknown object name '{text}'")


def adapt_to_scene(
    conditions: Iterable[Condition], scene_types: Iterable[str]
) -> tuple[list[Condition], list[str]]:
    """Replace receptacle names the scene lacks by their :data:`SCENE_FALLBACKS`.

    Returns the conditions (unchanged ones are the same objects) and a note per replacement,
    e.g. "'table' read as CounterTop (FloorPlan has no DiningTable/CoffeeTable/SideTable)".
    """
    present = set(scene_types)
    out: list[Condition] = []
    notes: list[str] = []
    for cond in conditions:
        fallbacks = SCENE_FALLBACKS.get(cond.target, ())
        if cond.predicate in ("ON", "INSIDE") and not present.intersection(cond.target):
            group = next((g for g in fallbacks if present.intersection(g)), None)
            if group is not None:
                note = (
                    f"'{'/'.join(cond.target)}' read as {' or '.join(group)}"
                    " (the scene has none of them)"
                )
                notes.append(note)
                cond = Condition(**{**cond.__dict__, "target": group, "fixes": (*cond.fixes, note)})
        out.append(cond)
    return out, notes


def with_sliced_forms(types: Iterable[str]) -> tuple[str, ...]:
    out = list(types)
    out += [SLICED_FORMS[t] for t in out if t in SLICED_FORMS and SLICED_FORMS[t] not in out]
    return tuple(out)


@dataclass(frozen=True)
class Condition:
    """One goal condition: ``predicate(subject, target)`` should evaluate to ``expected``."""

    predicate: str
    subject: tuple[str, ...]  # candidate AI2-THOR types
    target: tuple[str, ...] = ()  # receptacle types, or (state,) for STATE
    point: tuple[float, float, float] | None = None  # for NEAR_POINT
    expected: bool = True
    text: str = ""
    fixes: tuple[str, ...] = field(default=(), compare=False)

    def names(self) -> list[tuple[str, ...]]:
        """Object-type groups the condition needs to exist in the scene."""
        groups = [self.subject]
        if self.predicate in ("ON", "INSIDE"):
            groups.append(self.target)
        return groups


_CONDITION_RE = re.compile(
    r"(?P<pred>[A-Za-z_]+)\s*\((?P<args>(?:[^()]|\([^()]*\))*)\)\s*(?::\s*(?P<value>[^,\s]+))?"
)


def _split_args(args: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in args:
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    if current.strip():
        parts.append(current.strip())
    return parts


def parse_condition(text: str, value: str | None = None) -> tuple[Condition | None, list[str]]:
    """Parse one ``PRED(args)``; returns (condition or None when it must be dropped, fixes)."""
    match = _CONDITION_RE.fullmatch(text.strip())
    if match is None:
        raise GoalParseError(f"not a goal condition: {text!r}")
    fixes: list[str] = []
    pred = match.group("pred")
    if pred != pred.upper():
        fixes.append(f"predicate '{pred}' upper-cased")
        pred = pred.upper()
    if pred in PREDICATE_ALIASES:
        fixes.append(f"predicate {pred} read as {PREDICATE_ALIASES[pred]}")
        pred = PREDICATE_ALIASES[pred]
    if pred not in PREDICATES:
        raise GoalParseError(f"unknown predicate {pred} in {text!r}")
    args = _split_args(match.group("args"))
    value = value if value is not None else match.group("value")
    expected = value is None or value.strip() not in ("0", "false", "False")
    if value is None:
        fixes.append("missing ': 1' read as true")

    def obj(name: str) -> tuple[str, ...]:
        types, note = resolve_object_name(name)
        if note:
            fixes.append(note)
        return types

    if pred in ("TOGGLEON", "TOGGLEOFF"):
        if len(args) != 1:
            raise GoalParseError(f"{pred} takes one object: {text!r}")
        return Condition(
            pred, obj(args[0]), expected=expected, text=text, fixes=tuple(fixes)
        ), fixes
    if len(args) == 1:
        fixes.append(f"dropped {text!r}: {pred} names only one object")
        return None, fixes
    if len(args) != 2:
        raise GoalParseError(f"{pred} takes two arguments: {text!r}")
    subject, second = args
    point = re.fullmatch(r"\(\s*([-\d.]+)\s*,\s*([-\d.]+)\s*,\s*([-\d.]+)\s*\)", second)
    if point is not None:
        fixes.append(f"{pred} with a 3D point read as NEAR_POINT within 0.5 m")
        xyz = tuple(float(v) for v in point.groups())
        cond = Condition("NEAR_POINT", obj(subject), point=xyz, expected=expected, text=text)
        return Condition(**{**cond.__dict__, "fixes": tuple(fixes)}), fixes
    if pred == "STATE":
        state = second.strip().lower()
        if state in STATE_ALIASES:
            fixes.append(f"state '{state}' read as {STATE_ALIASES[state]}")
            state = STATE_ALIASES[state]
        if state not in STATES:
            try:
                place = obj(second)
            except GoalParseError:
                raise GoalParseError(f"unknown state '{second}' in {text!r}") from None
            fixes.append(f"STATE with a place '{second}' read as ON")
            cond = Condition("ON", obj(subject), place, expected=expected, text=text)
            return Condition(**{**cond.__dict__, "fixes": tuple(fixes)}), fixes
        cond = Condition("STATE", obj(subject), (state,), expected=expected, text=text)
        return Condition(**{**cond.__dict__, "fixes": tuple(fixes)}), fixes
    cond = Condition(pred, obj(subject), obj(second), expected=expected, text=text)
    return Condition(**{**cond.__dict__, "fixes": tuple(fixes)}), fixes


def parse_goal(text: str) -> tuple[list[Condition], list[str]]:
    """Parse a comma-separated goal string such as ``"ON(apple, table): 1, TOGGLEON(faucet): 1"``.

    Returns the conditions in order and every repair made (empty for a well-formed string).
    """
    conditions: list[Condition] = []
    fixes: list[str] = []
    pos = 0
    while pos < len(text):
        match = _CONDITION_RE.search(text, pos)
        if match is None:
            leftover = text[pos:].strip(" ,)")
            if leftover:
                raise GoalParseError(f"cannot read {leftover!r} in {text!r}")
            break
        between = text[pos : match.start()].strip(" ,")
        if between:
            raise GoalParseError(f"cannot read {between!r} in {text!r}")
        cond_text = text[match.start() : match.end()]
        body = cond_text.split(":")[0].strip() if match.group("value") else cond_text.strip()
        cond, notes = parse_condition(body, match.group("value"))
        fixes += notes
        if cond is not None:
            conditions.append(cond)
        pos = match.end()
        stray = re.match(r"\s*\)\s*(:\s*[^,\s]+)?", text[pos:])
        if stray and stray.group(0).strip():
            fixes.append("stray ')' after a condition ignored")
            pos += stray.end()
    if not conditions:
        raise GoalParseError(f"no goal conditions in {text!r}")
    return conditions, fixes


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
    sliced_types = {SLICED_FORMS[t] for t in types if t in SLICED_FORMS}
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


@cache
def _sim_rules() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """Cookable piece types, knife types and heat-source types, as the simulator defines them.

    Imported on first use: the simulator module loads MuJoCo, which parsing goals does not need.
    """
    from sim.household_sim import COOKABLE_PIECES, KNIFE_TYPES
    from sim.world_state import HEAT_SOURCE_TYPES

    return COOKABLE_PIECES, KNIFE_TYPES, HEAT_SOURCE_TYPES


def piece_metadata(meta: dict) -> dict:
    """Metadata flags of the pieces that slicing ``meta``'s object makes.

    The same flags as ``HouseholdSim.slice_object`` gives them: pieces can be picked up, hold
    nothing, cannot be cut again, and cook when their type is a cookable piece (toast, a fried
    egg) or the whole object was cookable; every other flag is the whole object's.
    """
    from sim.world_state import slice_type

    piece_type = slice_type(meta["objectType"])
    return {
        **meta,
        "objectType": piece_type,
        "sliceable": False,
        "isSliced": False,
        "pickupable": True,
        "receptacle": False,
        "cookable": piece_type in _sim_rules()[0] or bool(meta["cookable"]),
    }


def _can_be_cut(meta: dict, objects: list[dict]) -> bool:
    """The simulator breaks an egg by hand and cuts anything else with a knife in the hand."""
    if not meta["sliceable"] or meta["isSliced"]:
        return False
    knives = _sim_rules()[1]
    return meta["objectType"] == "Egg" or any(
        o["objectType"] in knives and o["pickupable"] for o in objects
    )


def _subject_forms(types: tuple[str, ...], objects: list[dict]) -> tuple[list[dict], list[dict]]:
    """What objects of ``types`` can be: themselves, and the pieces cutting one makes.

    Returns (the forms this scene allows, pieces that only a knife the scene lacks would make).
    """
    from sim.world_state import slice_type

    wanted = with_sliced_forms(types)
    forms: list[dict] = []
    uncut: list[dict] = []
    for o in objects:
        if o["isSliced"]:
            continue  # a cut object is gone; its pieces are objects of their own
        if o["objectType"] in wanted:
            forms.append(o)
        if o["sliceable"] and slice_type(o["objectType"]) in wanted:
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
            if o["objectType"] in _sim_rules()[2] and o["receptacle"] and _switchable(o, objects)
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
