"""The environment that keeps DDS traffic on this machine.

Every process the stack starts (nodes, tests, the demo) gets the same three settings: the
Fast DDS profile in ``config/fastdds_local.xml`` (shared memory and 127.0.0.1 only),
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a ``ROS_DOMAIN_ID`` chosen per run so that two
runs on one machine never see each other. Values the user already exported are kept, which is
how a robot opts into its own network (see the README).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Mapping
from pathlib import Path

PACKAGE = "memory_nodes"
DDS_PROFILE_NAME = "fastdds_local.xml"
# Domain ids 1..100 map to distinct UDP port ranges with the default DDS port mapping.
_DOMAIN_RANGE = (1, 100)


def repository_root() -> Path:
    """The source tree this module runs from (editable installs and the work tree)."""
    return Path(__file__).resolve().parents[1]


def share_directory() -> Path | None:
    """``share/memory_nodes`` of an installed package, if there is one."""
    candidate = Path(sys.prefix) / "share" / PACKAGE
    return candidate if candidate.is_dir() else None


def find_config_file(name: str) -> Path:
    """A file of ``config/``: the work tree's first, then the installed share folder.

    Raises
    ------
    FileNotFoundError
        If neither holds it.
    """
    places = [repository_root() / "config" / name]
    share = share_directory()
    if share is not None:
        places.append(share / "config" / name)
    for place in places:
        if place.is_file():
            return place
    raise FileNotFoundError(f"config file {name!r} not found in: {', '.join(map(str, places))}")


def pick_domain_id(seed: int | None = None) -> int:
    """A domain id for one run; random unless seeded."""
    return random.Random(seed).randint(*_DOMAIN_RANGE)


def local_dds_environment(
    base: Mapping[str, str] | None = None, domain_id: int | None = None
) -> dict[str, str]:
    """``base`` (default: this process's environment) plus the local-only DDS settings.

    Settings already present in ``base`` win, except ``domain_id`` when it is given.
    """
    env = dict(os.environ if base is None else base)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(find_config_file(DDS_PROFILE_NAME)))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    else:
        env.setdefault("ROS_DOMAIN_ID", str(pick_domain_id()))
    return env


def apply_local_dds_environment(domain_id: int | None = None) -> dict[str, str]:
    """Set the local-only DDS settings in this process (before ``rclpy.init``)."""
    env = local_dds_environment(domain_id=domain_id)
    os.environ.update(env)
    return env
