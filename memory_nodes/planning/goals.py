"""The goal language: conditions (``ON``, ``INSIDE``, ``STATE``, ``TOGGLEON``, ``TOGGLEOFF``,
``NEAR_POINT``) and their parser.

Conditions name objects loosely ("apple", "toilet paper", "table"); :func:`resolve_object_name`
maps each name to the AI2-THOR types it may mean (:func:`memory_nodes.core.object_taxonomy.
known_types`) and records every repair it had to make, so a task file's mistakes are visible
rather than silently guessed. Checking whether a condition holds needs the world's truth, which
the planner never has: the simulator's checker (``sim.goal_conditions``) does that.

>>> conditions, fixes = parse_goal("INSIDE(apple, fridge): 1, TOGGLEON(faucet)")
>>> [(c.predicate, c.subject, c.target) for c in conditions]
[('INSIDE', ('Apple',), ('Fridge',)), ('TOGGLEON', ('Faucet',), ())]
>>> fixes
["missing ': 1' read as true"]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from memory_nodes.core.errors import GoalParseError
from memory_nodes.core.object_taxonomy import KNIFE_TYPES, known_types, sliceable, sliced_form

__all__ = [
    "NAME_SYNONYMS",
    "PREDICATES",
    "PREDICATE_ALIASES",
    "SCENE_FALLBACKS",
    "STATES",
    "STATE_ALIASES",
    "Condition",
    "GoalParseError",
    "adapt_to_scene",
    "parse_condition",
    "parse_goal",
    "resolve_object_name",
    "with_sliced_forms",
]

#: What a condition can say, and the other spellings task files use for it.
PREDICATES = ("ON", "INSIDE", "STATE", "TOGGLEON", "TOGGLEOFF", "NEAR_POINT")
PREDICATE_ALIASES = {
    "SWITCHON": "TOGGLEON",
    "SWITCHOFF": "TOGGLEOFF",
    "TURNON": "TOGGLEON",
    "TURNOFF": "TOGGLEOFF",
    "IN": "INSIDE",
}
#: The states ``STATE(x, state)`` can ask for, and the words task files use for them.
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
    "knife": KNIFE_TYPES,
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
    """``types`` and, after them, the pieces of the sliceable ones (Apple -> AppleSliced):
    what a condition about an apple accepts once the apple has been cut."""
    out = list(types)
    out += [sliced_form(t) for t in out if sliceable(t) and sliced_form(t) not in out]
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
