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
