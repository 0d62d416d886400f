"""Goal conditions -> an ordered list of subgoals a robot's skills can execute.

KARMA goal conditions say *what* must hold (``INSIDE(apple, fridge)``, ``STATE(tomato, clean)``);
an agent needs *how*: find the apple, walk to it, pick it up, find the fridge, walk there, open
it, put the apple in. This module adds the preconditions of household physics (as AI2-THOR
enforces them):

* one object in hand at a time, so a held object is put down before the next pick-up;
* slicing needs a knife in hand (eggs crack without one);
* putting into an openable receptacle (Fridge, Microwave, Cabinet, Drawer, ...) needs it open;
* cooking and heating happen in a switched-on Microwave (or on a StoveBurner whose knob is on);
* cleaning and filling happen in a SinkBasin under a running faucet; cooling in the Fridge.

Open and close subgoals are conditional: the executor skips them when the bound receptacle is
not openable or already in the wanted state, because a type list such as ``table`` may mean a
DiningTable (not openable) as well as a cabinet-like receptacle. Once an object is sliced, later
conditions about it refer to its pieces (``Apple`` -> ``AppleSliced``), as KARMA's tasks do.

The generator is pure: no simulator, no memory. Example:

>>> from memory_nodes.planning.goals import parse_goal
>>> conditions, _ = parse_goal("INSIDE(apple, fridge): 1")
>>> [str(s) for s in plan_subgoals(conditions).subgoals]  # doctest: +NORMALIZE_WHITESPACE
['find(Apple)', 'navigate(Apple)', 'pickup(Apple)', 'find(Fridge)', 'navigate(Fridge)',
 'open(Fridge)', 'put(Fridge)', 'close(Fridge)']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from memory_nodes.core.object_taxonomy import (
    BASIN_OF,
    KNIFE_TYPES,
    WATER_BASIN_TYPES,
    basin_of,
    breaks_by_hand,
    cooked_as_pieces,
    is_storage_container,
    opens,
    sliceable,
    sliced_form,
)
from memory_nodes.planning.goals import Condition


class SubgoalKind(StrEnum):
    """One step of a plan. Interaction kinds map one-to-one to robot skills; the state
    kinds (``clean``, ``heat``, ``cool``, ``fill``) act on nothing and check that the state
    emerged from the previous steps (the faucet ran, the microwave heated)."""

    FIND = "find"
    NAVIGATE = "navigate"
    OPEN = "open"
    CLOSE = "close"
    PICKUP = "pickup"
    PUT = "put"
    PUT_DOWN = "put_down"
    TOGGLE_ON = "toggle_on"
    TOGGLE_OFF = "toggle_off"
    SLICE = "slice"
    CLEAN = "clean"
    HEAT = "heat"
    COOL = "cool"
    FILL = "fill"
    EMPTY = "empty"
    DIRTY = "dirty"


#: State subgoals and the perceived state they check (key, wanted value).
STATE_CHECKS = {
    SubgoalKind.CLEAN: ("isDirty", False),
    SubgoalKind.HEAT: ("isCooked", True),
    SubgoalKind.COOL: ("temperature", "Cold"),
    SubgoalKind.FILL: ("isFilledWithLiquid", True),
}


@dataclass(frozen=True)
class Subgoal:
    """One step: ``kind`` applied to an object of one of ``target`` types.

    ``condition_index`` is the goal condition the step serves (for per-condition reports);
    ``conditional`` steps are skipped when they do not apply to the bound object.
    """

    kind: SubgoalKind
    target: tuple[str, ...]
    condition_index: int = -1
    conditional: bool = False
    note: str = ""

    def __str__(self) -> str:
        return f"{self.kind.value}({'/'.join(self.target)})"


@dataclass
class SubgoalPlan:
    """The subgoals of a task, and the conditions no subgoal could be generated for (why)."""

    subgoals: list[Subgoal] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.subgoals)


def receptacle_types(types: Iterable[str]) -> tuple[str, ...]:
    """Receptacle candidates with basins first (``sink`` -> SinkBasin before Sink)."""
    out: list[str] = []
    for t in types:
        basin = basin_of(t)
        if basin and basin not in out:
            out.insert(0, basin)
        if t not in out:
            out.append(t)
    return tuple(out)


class _PlanBuilder:
    """Emits subgoals while tracking what the hand holds, where the agent is, what is sliced."""

    def __init__(self, available_types: frozenset[str] | None, close_after_put: bool) -> None:
        self.available = available_types
        self.close_after_put = close_after_put
        self.plan = SubgoalPlan()
        self.holding: tuple[str, ...] | None = None
        self.at: tuple[str, ...] | None = None
        self.sliced: set[str] = set()
        self.placed: dict[tuple[str, ...], tuple[str, ...]] = {}  # object -> receptacle types
        self.index = -1

    # ---- helpers -------------------------------------------------------------------------
    def emit(self, kind: SubgoalKind, target: Sequence[str], **kw: object) -> None:
        self.plan.subgoals.append(Subgoal(kind, tuple(target), self.index, **kw))  # type: ignore[arg-type]

    def forms(self, types: tuple[str, ...]) -> tuple[str, ...]:
        """Once sliced, an object is its pieces."""
        pieces = tuple(sliced_form(t) for t in types if t in self.sliced and sliceable(t))
        return pieces or types

    def has(self, types: Iterable[str]) -> bool:
        return self.available is None or any(t in self.available for t in types)

    def goto(self, target: tuple[str, ...]) -> None:
        if self.at != target:
            self.emit(SubgoalKind.FIND, target)
            self.emit(SubgoalKind.NAVIGATE, target)
            self.at = target

    def free_hand(self) -> None:
        if self.holding is not None:
            self.emit(SubgoalKind.PUT_DOWN, self.holding)
            self.holding = None

    def pickup(self, target: tuple[str, ...]) -> None:
        if self.holding == target:
            return
        self.free_hand()
        self.goto(target)
        self.emit(SubgoalKind.PICKUP, target)
        self.holding = target
        self.placed.pop(target, None)

    def put_into(self, obj: tuple[str, ...], receptacle: tuple[str, ...], close: bool) -> None:
        receptacle = receptacle_types(receptacle)
        self.pickup(obj)
        self.goto(receptacle)
        openable = any(opens(t) for t in receptacle)
        if openable:
            self.emit(SubgoalKind.OPEN, receptacle, conditional=True)
        self.emit(SubgoalKind.PUT, receptacle)
        self.holding = None
        self.placed[obj] = receptacle
        # Closed storage is shut again (a fridge left open is a household failure); a
        # microwave is closed anyway because it only heats when closed.
        if openable and close and any(is_storage_container(t) for t in receptacle):
            self.emit(SubgoalKind.CLOSE, receptacle, conditional=True)

    def is_in(self, obj: tuple[str, ...], receptacles: Iterable[str]) -> bool:
        """True when the plan itself last put ``obj`` into one of ``receptacles``."""
        return bool(set(self.placed.get(obj, ())) & set(receptacles))

    def interact(self, kind: SubgoalKind, target: tuple[str, ...]) -> None:
        self.goto(target)
        self.emit(kind, target, conditional=kind in (SubgoalKind.OPEN, SubgoalKind.CLOSE))

    # ---- conditions ----------------------------------------------------------------------
    def add(self, cond: Condition) -> None:
        if not cond.expected:
            self.plan.unsupported.append(f"{cond.text}: negated conditions are not planned")
            return
        subject = self.forms(cond.subject)
        pred = cond.predicate
        if pred in ("ON", "INSIDE"):
            self.put_into(subject, cond.target, self.close_after_put)
        elif pred in ("TOGGLEON", "TOGGLEOFF"):
            kind = SubgoalKind.TOGGLE_ON if pred == "TOGGLEON" else SubgoalKind.TOGGLE_OFF
            self.interact(kind, subject)
        elif pred == "STATE":
            self.add_state(cond, subject, cond.target[0])
        else:
            self.plan.unsupported.append(f"{cond.text}: {pred} is not planned")

    def add_state(self, cond: Condition, subject: tuple[str, ...], state: str) -> None:
        if state == "sliced":
            if subject != cond.subject:  # already pieces
                return
            if any(not breaks_by_hand(t) for t in subject):
                self.pickup(KNIFE_TYPES)
            elif self.holding is not None and self.holding == subject:
                self.free_hand()
            self.goto(subject)
            self.emit(SubgoalKind.SLICE, subject)
            self.sliced.update(cond.subject)
        elif state in ("cooked", "hot"):
            if state == "cooked" and any(cooked_as_pieces(t) for t in subject):
                self.add_state(cond, subject, "sliced")  # crack the egg, slice the bread
                subject = self.forms(cond.subject)
            self.heat(subject, state)
        elif state == "cold":
            if not self.is_in(subject, ["Fridge"]):
                self.put_into(subject, ("Fridge",), close=True)
            self.emit(SubgoalKind.COOL, subject)
        elif state in ("clean", "filled"):
            basins = tuple(t for t in WATER_BASIN_TYPES if self.has([t])) or WATER_BASIN_TYPES
            if not self.is_in(subject, [*WATER_BASIN_TYPES, *BASIN_OF]):
                self.put_into(subject, basins[:1], close=False)
            self.goto(("Faucet",))
            self.emit(SubgoalKind.TOGGLE_ON, ("Faucet",), conditional=True)
            kind = SubgoalKind.CLEAN if state == "clean" else SubgoalKind.FILL
            self.emit(kind, subject)
            self.emit(SubgoalKind.TOGGLE_OFF, ("Faucet",), conditional=True)
        elif state == "empty":
            self.pickup(subject)
            self.emit(SubgoalKind.EMPTY, subject)
        elif state == "dirty":
            self.interact(SubgoalKind.DIRTY, subject)
        elif state in ("open", "closed"):
            kind = SubgoalKind.OPEN if state == "open" else SubgoalKind.CLOSE
            self.interact(kind, subject)
        elif state in ("on", "off"):
            kind = SubgoalKind.TOGGLE_ON if state == "on" else SubgoalKind.TOGGLE_OFF
            self.interact(kind, subject)
        elif state == "pickedup":
            self.pickup(subject)
        else:
            self.plan.unsupported.append(f"{cond.text}: state {state} is not planned")

    def heat(self, subject: tuple[str, ...], state: str) -> None:
        if self.has(["Microwave"]) or not self.has(["StoveBurner"]):
            if not self.is_in(subject, ["Microwave"]):
                self.put_into(subject, ("Microwave",), close=True)
            self.goto(("Microwave",))
            self.emit(SubgoalKind.TOGGLE_ON, ("Microwave",), conditional=True)
            self.emit(SubgoalKind.HEAT, subject, note=state)
            self.emit(SubgoalKind.TOGGLE_OFF, ("Microwave",), conditional=True)
        else:
            if not self.is_in(subject, ["StoveBurner"]):
                self.put_into(subject, ("StoveBurner",), close=False)
            self.goto(("StoveKnob",))
            self.emit(SubgoalKind.TOGGLE_ON, ("StoveKnob",), conditional=True)
            self.emit(SubgoalKind.HEAT, subject, note=state)
            self.emit(SubgoalKind.TOGGLE_OFF, ("StoveKnob",), conditional=True)


def plan_subgoals(
    conditions: Sequence[Condition],
    *,
    available_types: Iterable[str] | None = None,
    close_after_put: bool = True,
) -> SubgoalPlan:
    """Ordered subgoals achieving ``conditions`` in order.

    Parameters
    ----------
    conditions
        Parsed goal conditions (:func:`memory_nodes.planning.goals.parse_goal`).
    available_types
        Object types of the scene, when known: picks the Microwave or the StoveBurner for
        cooking and the SinkBasin or BathtubBasin for washing. ``None`` assumes a kitchen.
    close_after_put
        Close a fridge, cabinet or drawer after putting something in it.
    """
    builder = _PlanBuilder(
        frozenset(available_types) if available_types is not None else None, close_after_put
    )
    for index, cond in enumerate(conditions):
        builder.index = index
        builder.add(cond)
    return builder.plan
