"""Household simulator built from real AI2-THOR scene data, drivable by the ai2thor client.

``HouseholdSim`` is the Python API; ``executable_path()`` gives the program to pass to
``ai2thor.controller.Controller(local_executable_path=...)``. Importing this package is cheap:
MuJoCo and the scene data load only when a simulator is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.executable import executable_path

if TYPE_CHECKING:
    from sim.household_sim import HouseholdSim

__all__ = ["HouseholdSim", "executable_path"]


def __getattr__(name: str) -> Any:
    if name == "HouseholdSim":
        from sim.household_sim import HouseholdSim

        return HouseholdSim
    raise AttributeError(name)
