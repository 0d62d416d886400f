"""Fixtures for the simulator tests: headless MuJoCo and one FloorPlan1 simulator."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture()
def floorplan1_sim():
    """A fresh small-resolution FloorPlan1 with all three frames enabled."""
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim(
        "FloorPlan1", width=96, height=72, renderDepthImage=True, renderInstanceSegmentation=True
    )
    yield sim
    sim.close()
