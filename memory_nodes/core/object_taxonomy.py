"""What kind of thing an AI2-THOR object type is, as far as memory cares.

The scene graph puts furniture and fixed receptacles (Fridge, CounterTop, Cabinet, ...) in the
``F`` layer and everything a robot can pick up in the ``O`` layer. Change detection needs to
know how quickly a remembered fact goes stale: a counter top does not walk away, a mug does.
Text queries need a short description of each type so that "something to cut bread with" can
find a Knife. All three facts live here, in one table, so they cannot disagree.

Unknown types (a detector's class names, new simulator assets) fall back to a movable small
object whose description is the type name split into words: memory degrades, it never fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


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
