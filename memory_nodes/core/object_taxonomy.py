"""What kind of thing an AI2-THOR object type is, as far as memory cares.

The scene graph puts furniture and fixed receptacles (Fridge, CounterTop, Cabinet, ...) in the
``F`` layer and everything a robot can pick up in the ``O`` layer. Change detection needs to
know how quickly a remembered fact goes stale: a counter top does not walk away, a mug does.
Text queries need a short description of each type so that "something to cut bread with" can
find a Knife. All three facts live here, in one table, so they cannot disagree.

Unknown types (a detector's class names, new simulator assets) fall back to a movable small
object whose description is the type name split into words: memory degrades, it never fails.

The planner, the replacement policies and the simulator need more facts about types (what opens,
what a knife cuts, where a put object goes inside, what heats): they are the named sets and
predicates after the table, so each rule lives here once. Where two parts of the stack mean
different things by a similar word (what memory calls ``inside`` and what the simulator fits
within a box), each meaning has its own name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType


class Mobility(StrEnum):
    """How often objects of a type change place in a household."""

    STATIC = "static"
    """Furniture and fixtures: move only when someone renovates."""
    MOVABLE = "movable"
    """Pickupable but usually left alone (a vase, a book on a shelf)."""
    FREQUENTLY_MOVED = "frequently_moved"
    """Used every day and carried around (mugs, knives, phones, food)."""


class ReceptacleKind(StrEnum):
    """How a receptacle holds things, which names the scene-graph edge."""

    NONE = "none"
    SURFACE = "surface"
    """Things rest ``on`` it (CounterTop, Table, Shelf)."""
    CONTAINER = "container"
    """Things are ``inside`` it (Fridge, Cabinet, Drawer)."""


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """Everything memory knows about one object type."""

    object_type: str
    is_furniture: bool
    receptacle: ReceptacleKind
    mobility: Mobility
    description: str


@dataclass(frozen=True, slots=True)
class DecayRates:
    """Negative-evidence parameters of one mobility class.

    ``miss_probability`` is the OctoMap-style probability that the object is still there given
    one frame in which it should have been seen and was not (below 0.5 lowers confidence; the
    closer to 0.5 the slower). ``misses_to_missing`` consecutive misses mark it missing.
    """

    miss_probability: float
    misses_to_missing: int


DEFAULT_DECAY_RATES: dict[Mobility, DecayRates] = {
    Mobility.STATIC: DecayRates(miss_probability=0.48, misses_to_missing=20),
    Mobility.MOVABLE: DecayRates(miss_probability=0.40, misses_to_missing=5),
    Mobility.FREQUENTLY_MOVED: DecayRates(miss_probability=0.35, misses_to_missing=3),
}

_S, _C, _N = ReceptacleKind.SURFACE, ReceptacleKind.CONTAINER, ReceptacleKind.NONE
_ST, _MV, _FM = Mobility.STATIC, Mobility.MOVABLE, Mobility.FREQUENTLY_MOVED

# type: (is_furniture, receptacle kind, mobility, description)
_TABLE: dict[str, tuple[bool, ReceptacleKind, Mobility, str]] = {
    # Furniture and fixed receptacles (F layer).
    "ArmChair": (True, _S, _ST, "an armchair, a padded seat with arms to sit on"),
    "Bathtub": (True, _C, _ST, "a bathtub for bathing"),
    "BathtubBasin": (True, _C, _ST, "the basin of a bathtub that holds water"),
    "Bed": (True, _S, _ST, "a bed to sleep on"),
    "Cabinet": (True, _C, _ST, "a kitchen cabinet with a door to store dishes and food"),
    "Cart": (True, _S, _ST, "a cart with shelves"),
    "Chair": (True, _S, _ST, "a chair to sit on"),
    "CoffeeMachine": (True, _S, _ST, "a coffee machine that brews coffee into a mug"),
    "CoffeeTable": (True, _S, _ST, "a low coffee table in a living room"),
    "CounterTop": (True, _S, _ST, "a kitchen counter top, a work surface to prepare food"),
    "Desk": (True, _S, _ST, "a desk to work at"),
    "DiningTable": (True, _S, _ST, "a dining table to eat meals at"),
    "DogBed": (True, _S, _ST, "a bed for a dog"),
    "Drawer": (True, _C, _ST, "a drawer that slides open to store cutlery and small things"),
    "Dresser": (True, _S, _ST, "a dresser, a chest of drawers for clothes"),
    "Floor": (True, _S, _ST, "the floor of a room"),
    "Fridge": (True, _C, _ST, "a fridge, a refrigerator that keeps food and drinks cold"),
    "GarbageCan": (True, _C, _ST, "a garbage can, a trash bin for waste"),
    "HandTowelHolder": (True, _S, _ST, "a holder for a hand towel"),
    "LaundryHamper": (True, _C, _ST, "a laundry hamper, a basket for dirty clothes"),
    "Microwave": (True, _C, _ST, "a microwave oven to heat food quickly"),
    "Ottoman": (True, _S, _ST, "an ottoman, a padded footstool"),
    "Safe": (True, _C, _ST, "a safe, a locked box for valuables"),
    "Shelf": (True, _S, _ST, "a shelf to put things on"),
    "ShelvingUnit": (True, _S, _ST, "a shelving unit with several shelves"),
    "SideTable": (True, _S, _ST, "a small side table next to a bed or sofa"),
    "Sink": (True, _C, _ST, "a sink with a faucet to wash dishes and hands"),
    "SinkBasin": (True, _C, _ST, "the basin of a sink that holds water to wash dishes"),
    "Sofa": (True, _S, _ST, "a sofa, a couch to sit or lie on"),
    "Stool": (True, _S, _ST, "a stool to sit on"),
    "StoveBurner": (True, _S, _ST, "a stove burner to cook food in a pan or pot"),
    "TVStand": (True, _S, _ST, "a stand for a television"),
    "Toaster": (True, _C, _ST, "a toaster to toast slices of bread"),
    "Toilet": (True, _C, _ST, "a toilet"),
    "ToiletPaperHanger": (True, _S, _ST, "a holder for a toilet paper roll"),
    "TowelHolder": (True, _S, _ST, "a rail to hang a towel on"),
    # Furniture and fixtures that hold nothing (still F layer: they do not move).
    "Blinds": (True, _N, _ST, "window blinds"),
    "Curtains": (True, _N, _ST, "curtains over a window"),
    "DeskLamp": (True, _N, _ST, "a desk lamp that gives light"),
    "Desktop": (True, _N, _ST, "a desktop computer with a screen"),
    "Faucet": (True, _N, _ST, "a faucet, a tap that gives water"),
    "FloorLamp": (True, _N, _ST, "a floor lamp that gives light"),
    "HousePlant": (True, _N, _ST, "a house plant in a pot"),
    "LightSwitch": (True, _N, _ST, "a light switch to turn the lights on and off"),
    "Mirror": (True, _N, _ST, "a mirror to see yourself"),
    "Painting": (True, _N, _ST, "a painting hanging on the wall"),
    "Poster": (True, _N, _ST, "a poster on the wall"),
    "ShowerCurtain": (True, _N, _ST, "a shower curtain"),
    "ShowerDoor": (True, _N, _ST, "a glass shower door"),
    "ShowerGlass": (True, _N, _ST, "a glass wall of a shower"),
    "ShowerHead": (True, _N, _ST, "a shower head"),
    "StoveKnob": (True, _N, _ST, "a knob that turns a stove burner on"),
    "Television": (True, _N, _ST, "a television to watch shows"),
    "Window": (True, _N, _ST, "a window"),
    # Small objects that are receptacles themselves (O layer).
    "Bowl": (False, _C, _FM, "a bowl for soup, cereal or salad"),
    "Box": (False, _C, _MV, "a cardboard box to store things"),
    "Cup": (False, _C, _FM, "a cup to drink water from"),
    "Mug": (False, _C, _FM, "a mug to drink coffee or tea from"),
    "Pan": (False, _S, _FM, "a frying pan to cook eggs and fry food"),
    "Plate": (False, _S, _FM, "a plate to serve and eat food from"),
    "Pot": (False, _C, _FM, "a cooking pot to boil water, soup or pasta"),
    # Small objects (O layer).
    "AlarmClock": (False, _N, _MV, "an alarm clock that tells the time and wakes you up"),
    "AluminumFoil": (False, _N, _MV, "a roll of aluminum foil to wrap food"),
    "Apple": (False, _N, _FM, "an apple, a fruit to eat"),
    "AppleSliced": (False, _N, _FM, "a slice of apple"),
    "BaseballBat": (False, _N, _MV, "a baseball bat for sport"),
    "BasketBall": (False, _N, _MV, "a basketball to play with"),
    "Book": (False, _N, _MV, "a book to read"),
    "Boots": (False, _N, _MV, "a pair of boots to wear"),
    "Bottle": (False, _N, _FM, "a bottle for drinks"),
    "Bread": (False, _N, _FM, "a loaf of bread to eat"),
    "BreadSliced": (False, _N, _FM, "a slice of bread"),
    "ButterKnife": (False, _N, _FM, "a butter knife to spread butter on bread"),
    "CD": (False, _N, _MV, "a compact disc with music"),
    "Candle": (False, _N, _MV, "a candle that gives light when lit"),
    "CellPhone": (False, _N, _FM, "a cell phone, a mobile phone to call people"),
    "Cloth": (False, _N, _FM, "a cleaning cloth to wipe surfaces"),
    "CreditCard": (False, _N, _FM, "a credit card to pay with"),
    "DishSponge": (False, _N, _FM, "a dish sponge to wash and scrub dishes"),
    "Dumbbell": (False, _N, _MV, "a dumbbell weight for exercise"),
    "Egg": (False, _N, _FM, "an egg to cook"),
    "EggCracked": (False, _N, _FM, "a cracked egg"),
    "Footstool": (False, _N, _MV, "a small footstool"),
    "Fork": (False, _N, _FM, "a fork to eat food with"),
    "GarbageBag": (False, _N, _MV, "a bag of garbage to take out"),
    "HandTowel": (False, _N, _FM, "a hand towel to dry your hands"),
    "Kettle": (False, _N, _FM, "a kettle to boil water for tea"),
    "KeyChain": (False, _N, _FM, "a key chain with house keys"),
    "Knife": (False, _N, _FM, "a sharp kitchen knife to cut and slice bread, fruit and vegetables"),
    "Ladle": (False, _N, _FM, "a ladle to serve soup"),
    "Laptop": (False, _N, _MV, "a laptop computer"),
    "Lettuce": (False, _N, _FM, "a head of lettuce, a vegetable for salad"),
    "LettuceSliced": (False, _N, _FM, "sliced lettuce"),
    "Newspaper": (False, _N, _MV, "a newspaper to read the news"),
    "PaperTowelRoll": (False, _N, _FM, "a roll of paper towels to wipe spills"),
    "Pen": (False, _N, _FM, "a pen to write with"),
    "Pencil": (False, _N, _FM, "a pencil to write or draw with"),
    "PepperShaker": (False, _N, _FM, "a pepper shaker to season food"),
    "Pillow": (False, _N, _MV, "a pillow to rest your head on"),
    "Plunger": (False, _N, _MV, "a plunger to unclog a toilet"),
    "Potato": (False, _N, _FM, "a potato, a vegetable to cook"),
    "PotatoSliced": (False, _N, _FM, "a slice of potato"),
    "RemoteControl": (False, _N, _FM, "a remote control for the television"),
    "RoomDecor": (False, _N, _MV, "a decoration for the room"),
    "SaltShaker": (False, _N, _FM, "a salt shaker to season food"),
    "ScrubBrush": (False, _N, _MV, "a scrub brush to clean the toilet"),
    "SoapBar": (False, _N, _FM, "a bar of soap to wash your hands"),
    "SoapBottle": (False, _N, _FM, "a bottle of liquid soap or dish soap"),
    "Spatula": (False, _N, _FM, "a spatula to flip food in a pan"),
    "Spoon": (False, _N, _FM, "a spoon to eat soup or stir"),
    "SprayBottle": (False, _N, _FM, "a spray bottle of cleaner"),
    "Statue": (False, _N, _MV, "a small statue, a decoration"),
    "TableTopDecor": (False, _N, _MV, "a decoration on a table"),
    "TeddyBear": (False, _N, _MV, "a teddy bear, a soft toy"),
    "TennisRacket": (False, _N, _MV, "a tennis racket for sport"),
    "TissueBox": (False, _N, _MV, "a box of tissues to blow your nose"),
    "ToiletPaper": (False, _N, _FM, "a roll of toilet paper"),
    "Tomato": (False, _N, _FM, "a tomato, a red vegetable for salad"),
    "TomatoSliced": (False, _N, _FM, "a slice of tomato"),
    "Towel": (False, _N, _FM, "a bath towel to dry yourself"),
    "Vase": (False, _N, _MV, "a vase for flowers"),
    "VacuumCleaner": (False, _N, _MV, "a vacuum cleaner to clean the floor"),
    "Watch": (False, _N, _FM, "a wrist watch that tells the time"),
    "WateringCan": (False, _N, _MV, "a watering can to water plants"),
    "WineBottle": (False, _N, _FM, "a bottle of wine"),
}

KNOWN_TYPES: tuple[str, ...] = tuple(sorted(_TABLE))


#: Receptacles things hang from rather than rest on: a towel's box surrounds its holder.
HANGING_RECEPTACLES = frozenset({"HandTowelHolder", "TowelHolder", "ToiletPaperHanger"})


def split_type_name(object_type: str) -> str:
    """``"ButterKnife"`` -> ``"butter knife"``: a readable name for any CamelCase type."""
    words = re.findall(r"[A-Z]+(?=[A-Z][a-z]|\b|\d)|[A-Z]?[a-z]+|\d+", object_type)
    return " ".join(w.lower() for w in words) or object_type.lower()


def type_info(object_type: str) -> TypeInfo:
    """Facts about ``object_type``; unknown types are movable small objects."""
    entry = _TABLE.get(object_type)
    if entry is None:
        name = split_type_name(object_type)
        return TypeInfo(object_type, False, ReceptacleKind.NONE, Mobility.MOVABLE, f"a {name}")
    is_furniture, receptacle, mobility, description = entry
    return TypeInfo(object_type, is_furniture, receptacle, mobility, description)


def is_furniture(object_type: str) -> bool:
    """True for furniture and fixtures, which go to the scene graph's ``F`` layer."""
    return type_info(object_type).is_furniture


def receptacle_kind(object_type: str) -> ReceptacleKind:
    return type_info(object_type).receptacle


def mobility(object_type: str) -> Mobility:
    return type_info(object_type).mobility


def describe_type(object_type: str) -> str:
    """Text embedded for free-text queries: the readable name and what it is for."""
    info = type_info(object_type)
    return f"{split_type_name(object_type)}: {info.description}"


def decay_rates(
    object_type: str, overrides: dict[Mobility, DecayRates] | None = None
) -> DecayRates:
    """Negative-evidence rates for a type, with optional per-mobility overrides."""
    rates = DEFAULT_DECAY_RATES if overrides is None else {**DEFAULT_DECAY_RATES, **overrides}
    return rates[mobility(object_type)]


# ---- the types goal names resolve to -------------------------------------------------------
#: Types of the table that no scene of the simulator's AI2-THOR data holds (goal names do not
#: resolve to them).
_ABSENT_FROM_SCENES = frozenset({"Cart"})

#: Whole type -> the type of its pieces once sliced (an egg cracks rather than slices).
SLICED_FORMS: Mapping[str, str] = MappingProxyType(
    {
        "Apple": "AppleSliced",
        "Bread": "BreadSliced",
        "Lettuce": "LettuceSliced",
        "Potato": "PotatoSliced",
        "Tomato": "TomatoSliced",
        "Egg": "EggCracked",
    }
)

_PIECE_TYPES = frozenset(SLICED_FORMS.values())
_KNOWN_TYPES = frozenset(_TABLE) - _ABSENT_FROM_SCENES


def known_types() -> frozenset[str]:
    """Every AI2-THOR object type the simulator's scenes hold, plus the sliced forms.

    Goal names resolve against these. ``tests/core/test_object_taxonomy.py`` checks them
    against the scene data, so a new scene with a new type fails a test rather than a parse.
    """
    return _KNOWN_TYPES


def is_receptacle(object_type: str) -> bool:
    """True when things can be put on or into objects of this type."""
    return receptacle_kind(object_type) != ReceptacleKind.NONE


# ---- what stays put, where things are put down ---------------------------------------------
#: Types that stay where they are: the planner's memory of them does not go stale.
FIXTURE_TYPES = frozenset(
    {
        "Fridge", "Microwave", "Cabinet", "Drawer", "CounterTop", "DiningTable", "Sink",
        "SinkBasin", "Faucet", "StoveBurner", "StoveKnob", "Toaster", "CoffeeMachine",
        "GarbageCan", "Shelf", "ShelvingUnit", "Desk", "Dresser", "SideTable", "CoffeeTable",
        "TVStand", "Bed", "Sofa", "ArmChair", "Toilet", "Bathtub", "BathtubBasin", "LightSwitch",
        "FloorLamp",
    }
)  # fmt: skip

#: Flat receptacles a held object can be put down on, in the order they are tried.
PUT_DOWN_SURFACE_TYPES: tuple[str, ...] = (
    "CounterTop", "DiningTable", "SideTable", "CoffeeTable", "Desk", "Shelf", "Dresser",
    "TVStand", "Bed", "Sofa", "ArmChair", "Chair", "Stool",
)  # fmt: skip

#: Receptacles memory records what is put in them as ``inside`` (else ``on``).
HOLDS_INSIDE_TYPES = frozenset(
    {
        "Fridge", "Cabinet", "Drawer", "Microwave", "Box", "GarbageCan", "Sink", "SinkBasin",
        "Bathtub", "BathtubBasin", "Bowl", "Pot", "Pan", "Cup", "Mug", "Toaster", "Safe",
        "LaundryHamper",
    }
)  # fmt: skip

#: Receptacles whose contents the simulator fits within their box rather than sets on top:
#: :data:`HOLDS_INSIDE_TYPES` and also a Dresser (its drawers lie within its box) and a
#: CoffeeMachine (the mug stands in its bay). Memory still says a mug is ``on`` the coffee
#: machine and a robot puts things down on top of a dresser, so the two sets differ on purpose.
FITS_INSIDE_TYPES = HOLDS_INSIDE_TYPES | {"Dresser", "CoffeeMachine"}

#: The building itself: mapped by the octree, never remembered as objects.
STRUCTURE_TYPES = frozenset({"Floor", "Wall", "Ceiling", "Room"})

#: Types never treated as floor obstacles (flat, on walls, or the floor itself).
NON_OBSTACLE_TYPES = frozenset(
    {"Floor", "Window", "Painting", "LightSwitch", "Blinds", "Mirror", "Poster", "ShowerHead"}
)


def is_fixture(object_type: str) -> bool:
    """True for types that stay where they are, so memory of where they are does not go stale."""
    return object_type in FIXTURE_TYPES


def is_put_down_surface(object_type: str) -> bool:
    """True for flat receptacles a held object can be put down on (see
    :data:`PUT_DOWN_SURFACE_TYPES` for the order to try them in)."""
    return object_type in PUT_DOWN_SURFACE_TYPES


def holds_inside(object_type: str) -> bool:
    """True when what is put in this receptacle is ``inside`` it for memory (else ``on``)."""
    return object_type in HOLDS_INSIDE_TYPES


def fits_inside(object_type: str) -> bool:
    """True when the simulator fits contents within this receptacle's box (see
    :data:`FITS_INSIDE_TYPES`); a released object never lands on top of one."""
    return object_type in FITS_INSIDE_TYPES


def is_structure(object_type: str) -> bool:
    """True for the building itself (floor, walls), which memory does not hold as objects."""
    return object_type in STRUCTURE_TYPES


def is_non_obstacle(object_type: str) -> bool:
    """True for types that never block the floor (flat, hung on walls, the floor itself)."""
    return object_type in NON_OBSTACLE_TYPES


# ---- doors and lids ------------------------------------------------------------------------
#: Receptacles with a door or lid: they must be open to put something in.
OPENABLE_RECEPTACLE_TYPES = frozenset(
    {"Fridge", "Microwave", "Cabinet", "Drawer", "Box", "Safe", "Laptop", "Toilet", "Kettle"}
)
#: Closed storage: what is in it is hidden until it is opened, so a search opens it, and a plan
#: shuts it again after putting something in (a fridge left open is a household failure; a
#: microwave only heats when shut). In the order a search considers them.
STORAGE_CONTAINER_TYPES: tuple[str, ...] = (
    "Fridge",
    "Microwave",
    "Cabinet",
    "Drawer",
    "Box",
    "Safe",
)
#: Containers tall whatever part of them has been seen (a fridge door glimpsed from the side).
TALL_CONTAINER_TYPES: tuple[str, ...] = ("Fridge",)
#: Where things are put away when the receptacle statistics list no container for them: they
#: record where things are left out, yet plates, knives and spoons live in cabinets and drawers.
STORAGE_PRIORS: Mapping[str, float] = MappingProxyType({"Cabinet": 0.05, "Drawer": 0.05})


def opens(object_type: str) -> bool:
    """True for receptacles with a door or lid, which must be open to put something in."""
    return object_type in OPENABLE_RECEPTACLE_TYPES


def is_storage_container(object_type: str) -> bool:
    """True for closed storage (see :data:`STORAGE_CONTAINER_TYPES`): searched by opening it,
    shut again after a put."""
    return object_type in STORAGE_CONTAINER_TYPES


def is_tall_container(object_type: str) -> bool:
    """True for containers that are tall however little of them has been seen."""
    return object_type in TALL_CONTAINER_TYPES


def storage_prior(object_type: str) -> float:
    """Floor probability that something is put away in a receptacle of this type."""
    return STORAGE_PRIORS.get(object_type, 0.0)


@cache
def receptacle_statistics() -> dict[str, dict[str, dict[str, float]]]:
    """Receptacle type -> object type -> ``{"count", "p"}`` observed in AI2-THOR scenes.

    Read from the ``procthor`` package's data when it is installed; empty otherwise (searching
    then goes by distance alone). The returned dict is shared: do not modify it.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("procthor")
    if spec is None or spec.origin is None:
        return {}
    try:
        with open(Path(spec.origin).parent / "databases" / "receptacles.json") as f:
            return json.load(f)
    except OSError:
        return {}


# ---- cutting, cooking, water ---------------------------------------------------------------
#: What the robot picks up to slice with, in the order a plan names them.
KNIFE_TYPES: tuple[str, ...] = ("Knife", "ButterKnife")
#: Sliceable types broken by hand, without a knife (an egg is cracked).
BROKEN_BY_HAND_TYPES = frozenset({"Egg"})
#: Pieces AI2-THOR cooks (toast, a fried egg, fried potato).
COOKABLE_PIECE_TYPES = frozenset({"BreadSliced", "EggCracked", "PotatoSliced"})
#: Types AI2-THOR cooks only as pieces: an Egg is cracked, Bread sliced, then cooked.
COOKED_AS_PIECES_TYPES = frozenset({"Egg", "Bread"})
#: Receptacles that heat what is in or on them while switched on.
HEAT_SOURCE_TYPES = frozenset({"Microwave", "StoveBurner", "Toaster"})
#: Pieces one slicing makes (an Egg cracks into one EggCracked); other types make two.
SLICE_COUNTS: Mapping[str, int] = MappingProxyType(
    {"Apple": 3, "Bread": 6, "Lettuce": 5, "Potato": 4, "Tomato": 5, "Egg": 1}
)
#: Where water runs: the basin receives objects, the faucet switches the water.
WATER_BASIN_TYPES: tuple[str, ...] = ("SinkBasin", "BathtubBasin")
#: The basin of a sink or bathtub: AI2-THOR puts objects into the basin, not the frame.
BASIN_OF: Mapping[str, str] = MappingProxyType({"Sink": "SinkBasin", "Bathtub": "BathtubBasin"})


def is_knife(object_type: str) -> bool:
    """True for what can slice (an egg needs none: it cracks by hand)."""
    return object_type in KNIFE_TYPES


def breaks_by_hand(object_type: str) -> bool:
    """True for sliceable types that need no knife (an egg cracks in the hand)."""
    return object_type in BROKEN_BY_HAND_TYPES


def sliceable(object_type: str) -> bool:
    """True for types that slicing turns into pieces of another type (:func:`sliced_form`)."""
    return object_type in SLICED_FORMS


def sliced_form(object_type: str) -> str:
    """``"Apple"`` -> ``"AppleSliced"``: the type of the pieces slicing an object makes.

    Types :data:`SLICED_FORMS` does not list follow AI2-THOR's naming (``<Type>Sliced``), so a
    scene whose metadata calls something else sliceable still names its pieces.
    """
    return SLICED_FORMS.get(object_type, f"{object_type}Sliced")


def is_sliced_form(object_type: str) -> bool:
    """True for the pieces of a sliced type (``AppleSliced``, ``EggCracked``)."""
    return object_type in _PIECE_TYPES


def slice_count(object_type: str) -> int:
    """How many pieces slicing one object of this type makes."""
    return SLICE_COUNTS.get(object_type, 2)


def cookable_piece(object_type: str) -> bool:
    """True for pieces that cook even when their whole object did not (toast, a fried egg)."""
    return object_type in COOKABLE_PIECE_TYPES


def cooked_as_pieces(object_type: str) -> bool:
    """True for types cooked only once cut (an Egg is cracked, Bread sliced, then cooked)."""
    return object_type in COOKED_AS_PIECES_TYPES


def heats(object_type: str) -> bool:
    """True for receptacles that heat what is in or on them while switched on."""
    return object_type in HEAT_SOURCE_TYPES


def is_water_basin(object_type: str) -> bool:
    """True for basins under a faucet, where things are washed and filled."""
    return object_type in WATER_BASIN_TYPES


def basin_of(object_type: str) -> str | None:
    """The basin that receives objects put in a sink or bathtub, else None."""
    return BASIN_OF.get(object_type)


# ---- how often things change, for the short-term memory ------------------------------------
#: Types a person picks up and carries around: AI2-THOR's pickupable types but Footstool.
#: Their cached states go stale fastest.
PICKUPABLE_TYPES = frozenset(
    {
        "AlarmClock", "AluminumFoil", "Apple", "BaseballBat", "BasketBall", "Book", "Boots",
        "Bottle", "Bowl", "Box", "Bread", "ButterKnife", "CD", "Candle", "CellPhone", "Cloth",
        "CreditCard", "Cup", "DishSponge", "Dumbbell", "Egg", "Fork", "HandTowel", "Kettle",
        "KeyChain", "Knife", "Ladle", "Laptop", "Lettuce", "Mug", "Newspaper", "Pan",
        "PaperTowelRoll", "Pen", "Pencil", "PepperShaker", "Pillow", "Plate", "Plunger", "Pot",
        "Potato", "RemoteControl", "SaltShaker", "ScrubBrush", "SoapBar", "SoapBottle", "Spatula",
        "Spoon", "SprayBottle", "Statue", "TableTopDecor", "TeddyBear", "TennisRacket",
        "TissueBox", "ToiletPaper", "Tomato", "Towel", "Vase", "Watch", "WateringCan",
        "WineBottle",
    }
)  # fmt: skip
#: Openable or toggleable furniture: it changes state but stays put.
STATEFUL_FURNITURE_TYPES = frozenset(
    {
        "Blinds", "Cabinet", "CoffeeMachine", "Drawer", "Faucet", "Fridge", "Microwave",
        "ShowerCurtain", "ShowerDoor", "Sink", "StoveBurner", "StoveKnob", "Television", "Toaster",
        "Toilet", "LightSwitch", "DeskLamp", "FloorLamp", "Safe", "Laptop",
    }
)  # fmt: skip


def is_pickupable(object_type: str) -> bool:
    """True for types a person picks up and carries around (see :data:`PICKUPABLE_TYPES`)."""
    return object_type in PICKUPABLE_TYPES


def is_stateful_furniture(object_type: str) -> bool:
    """True for furniture that opens or switches: its state changes, its place does not."""
    return object_type in STATEFUL_FURNITURE_TYPES
