"""The type taxonomy: one place for what each AI2-THOR type is, checked against the scene data."""

from __future__ import annotations

import pytest

from memory_nodes.core import object_taxonomy as tax


@pytest.fixture(scope="module")
def scene_objects() -> list[dict]:
    """Every object of every FloorPlan the simulator's scene data holds (initial states)."""
    scene_catalog = pytest.importorskip("sim.scene_catalog")
    pytest.importorskip("procthor")
    return [
        o for name in scene_catalog.scene_names() for o in scene_catalog.get_scene_objects(name)
    ]


def _types_with(objects: list[dict], flag: str) -> set[str]:
    return {o["objectType"] for o in objects if o[flag]}


def test_known_types_are_the_scene_types_and_their_sliced_forms(scene_objects):
    in_scenes = {o["objectType"] for o in scene_objects}
    assert tax.known_types() == in_scenes | set(tax.SLICED_FORMS.values())


def test_every_named_type_has_a_row_in_the_table():
    named = (
        tax.FIXTURE_TYPES
        | set(tax.PUT_DOWN_SURFACE_TYPES)
        | tax.FITS_INSIDE_TYPES
        | tax.NON_OBSTACLE_TYPES
        | tax.OPENABLE_RECEPTACLE_TYPES
        | set(tax.STORAGE_CONTAINER_TYPES)
        | set(tax.TALL_CONTAINER_TYPES)
        | set(tax.STORAGE_PRIORS)
        | set(tax.KNIFE_TYPES)
        | tax.COOKABLE_PIECE_TYPES
        | tax.BROKEN_BY_HAND_TYPES
        | tax.COOKED_AS_PIECES_TYPES
        | tax.HEAT_SOURCE_TYPES
        | set(tax.SLICE_COUNTS)
        | set(tax.WATER_BASIN_TYPES)
        | set(tax.BASIN_OF)
        | set(tax.BASIN_OF.values())
        | set(tax.SLICED_FORMS)
        | set(tax.SLICED_FORMS.values())
        | tax.PICKUPABLE_TYPES
        | tax.STATEFUL_FURNITURE_TYPES
    )
    assert named <= set(tax.KNOWN_TYPES)
    assert named <= tax.known_types()


def test_fixtures_are_furniture_and_put_down_surfaces_are_surfaces():
    assert all(tax.is_furniture(t) and tax.is_fixture(t) for t in tax.FIXTURE_TYPES)
    for t in tax.PUT_DOWN_SURFACE_TYPES:
        assert tax.is_put_down_surface(t)
        assert tax.receptacle_kind(t) == tax.ReceptacleKind.SURFACE
    assert len(set(tax.PUT_DOWN_SURFACE_TYPES)) == len(tax.PUT_DOWN_SURFACE_TYPES)
    assert not tax.is_fixture("Mug") and not tax.is_put_down_surface("Fridge")


def test_the_simulator_fits_more_inside_than_memory_calls_inside():
    """A dresser's drawers and a coffee machine's bay lie within their boxes, yet a robot puts
    things down on a dresser and memory says a mug is on the coffee machine."""
    assert tax.HOLDS_INSIDE_TYPES < tax.FITS_INSIDE_TYPES
    assert {"Dresser", "CoffeeMachine"} == tax.FITS_INSIDE_TYPES - tax.HOLDS_INSIDE_TYPES
    assert tax.holds_inside("Fridge") and tax.fits_inside("Fridge")
    assert not tax.holds_inside("Dresser") and tax.fits_inside("Dresser")
    assert tax.is_put_down_surface("Dresser")
    assert not tax.holds_inside("CounterTop") and not tax.fits_inside("CounterTop")
    assert all(tax.is_receptacle(t) for t in tax.FITS_INSIDE_TYPES)


def test_openable_receptacles_open_in_the_scene_data(scene_objects):
    assert _types_with(scene_objects, "openable") >= tax.OPENABLE_RECEPTACLE_TYPES
    assert set(tax.STORAGE_CONTAINER_TYPES) <= tax.OPENABLE_RECEPTACLE_TYPES
    assert all(tax.opens(t) for t in tax.STORAGE_CONTAINER_TYPES)
    assert tax.is_storage_container("Fridge") and not tax.is_storage_container("Toilet")
    assert tax.opens("Toilet") and not tax.opens("CounterTop")
    assert tax.is_tall_container("Fridge") and not tax.is_tall_container("Drawer")


def test_storage_priors_are_small_floors_for_cabinets_and_drawers():
    assert tax.storage_prior("Cabinet") == tax.storage_prior("Drawer") == 0.05
    assert tax.storage_prior("Fridge") == 0.0


def test_receptacle_statistics_come_from_the_scene_data():
    scene_catalog = pytest.importorskip("sim.scene_catalog")
    pytest.importorskip("procthor")
    stats = tax.receptacle_statistics()
    assert stats == scene_catalog.receptacle_statistics()
    assert stats["Fridge"]["Egg"]["p"] > 0


def test_sliceable_types_match_the_scene_data_and_name_their_pieces(scene_objects):
    assert set(tax.SLICED_FORMS) == _types_with(scene_objects, "sliceable")
    for whole, piece in tax.SLICED_FORMS.items():
        assert tax.sliceable(whole) and not tax.sliceable(piece)
        assert tax.sliced_form(whole) == piece
        assert tax.is_sliced_form(piece) and not tax.is_sliced_form(whole)
    assert tax.sliced_form("Egg") == "EggCracked"
    # A type the table does not list follows AI2-THOR's naming.
    assert tax.sliced_form("Orange") == "OrangeSliced"
    assert tax.slice_count("Bread") == 6 and tax.slice_count("Egg") == 1
    assert tax.slice_count("Orange") == 2


def test_cutting_cooking_and_water_rules():
    assert [t for t in tax.KNIFE_TYPES if tax.is_knife(t)] == ["Knife", "ButterKnife"]
    assert not tax.is_knife("Fork")
    assert {t for t in tax.SLICED_FORMS if tax.breaks_by_hand(t)} == {"Egg"}
    assert all(tax.is_sliced_form(t) for t in tax.COOKABLE_PIECE_TYPES)
    assert tax.cookable_piece("BreadSliced") and not tax.cookable_piece("AppleSliced")
    assert all(tax.sliceable(t) for t in tax.COOKED_AS_PIECES_TYPES)
    assert tax.cooked_as_pieces("Egg") and not tax.cooked_as_pieces("Potato")
    assert {t for t in tax.KNOWN_TYPES if tax.heats(t)} == {"Microwave", "StoveBurner", "Toaster"}
    assert all(tax.is_receptacle(t) for t in tax.HEAT_SOURCE_TYPES)
    assert tax.basin_of("Sink") == "SinkBasin" and tax.basin_of("CounterTop") is None
    assert all(tax.is_water_basin(b) for b in tax.BASIN_OF.values())


def test_pickupable_types_are_pickupable_in_the_scene_data(scene_objects):
    pickupable = _types_with(scene_objects, "pickupable")
    assert pickupable >= tax.PICKUPABLE_TYPES
    assert pickupable - tax.PICKUPABLE_TYPES == {"Footstool"}
    assert tax.is_pickupable("Mug") and not tax.is_pickupable("Fridge")
    assert tax.is_stateful_furniture("Fridge") and not tax.is_stateful_furniture("Mug")


def test_non_obstacles_and_unknown_types():
    assert tax.is_non_obstacle("Floor") and not tax.is_non_obstacle("Chair")
    unknown = "Teapot"
    assert not any(
        f(unknown)
        for f in (
            tax.is_receptacle,
            tax.is_fixture,
            tax.holds_inside,
            tax.opens,
            tax.sliceable,
            tax.is_knife,
            tax.heats,
            tax.is_pickupable,
        )
    )
    assert unknown not in tax.known_types()
