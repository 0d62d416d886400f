"""Fixtures for the simulator tests: headless MuJoCo and one FloorPlan1 simulator.

This folder is named ``sim`` like the package under test, and pytest puts ``tests/`` on
``sys.path`` (rootdir conftest without ``__init__.py``), so a bare ``import sim`` would find this
folder as a namespace package. Import the real package first so every test gets it.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


def _import_real_sim_package() -> None:
    current = sys.modules.get("sim")
    if current is not None and getattr(current, "__file__", None):
        return
    sys.modules.pop("sim", None)
    tests_dir = Path(__file__).resolve().parent.parent
    saved = sys.path[:]
    sys.path[:] = [str(tests_dir.parent)] + [
        p for p in saved if Path(p or ".").resolve() not in (tests_dir, tests_dir / "sim")
    ]
    try:
        importlib.import_module("sim")
    finally:
        sys.path[:] = saved


_import_real_sim_package()


@pytest.fixture()
def floorplan1_sim():
    """A fresh small-resolution FloorPlan1 with all three frames enabled."""
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim(
        "FloorPlan1", width=96, height=72, renderDepthImage=True, renderInstanceSegmentation=True
    )
    yield sim
    sim.close()
