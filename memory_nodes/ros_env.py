"""The environment that keeps DDS traffic on this machine, for the processes this project starts.

The nodes themselves leave the DDS environment to the user, as ROS users expect: a node
executable reads ``ROS_DOMAIN_ID``, ``FASTDDS_DEFAULT_PROFILES_FILE`` and the rest from the
environment it is started in and sets none of them. What this project starts itself (the test
suite, ``make demo``, ``memstack up`` and the launcher) gives its children three settings: the
Fast DDS profile in ``config/fastdds_local.xml`` (shared memory and 127.0.0.1 only),
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a ``ROS_DOMAIN_ID`` chosen per run so that two
runs on one machine never see each other. Values the user already exported are kept, which is
how a robot opts into its own network (see docs/environment.md).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Mapping
from pathlib import Path

from memory_nodes.core.errors import NotFoundError, StackConfigError

PACKAGE = "memory_nodes"
DDS_PROFILE_NAME = "fastdds_local.xml"
#: The variables :func:`local_dds_environment` sets; ``memstack env`` prints these.
DDS_VARIABLES = (
    "FASTDDS_DEFAULT_PROFILES_FILE",
    "RMW_IMPLEMENTATION",
    "ROS_AUTOMATIC_DISCOVERY_RANGE",
    "ROS_DOMAIN_ID",
)
# Domain ids 1..100 map to distinct UDP port ranges with the default DDS port mapping.
_DOMAIN_RANGE = (1, 100)
# The largest domain id whose ports fit in 16 bits with the default mapping (RTPS: 232).
MAX_DOMAIN_ID = 232


def repository_root() -> Path:
    """The source tree this module runs from (editable installs and the work tree)."""
    return Path(__file__).resolve().parents[1]


def _ament_share_directory() -> Path | None:
    """``share/memory_nodes`` as the ament index knows it (colcon and full ROS installs)."""
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:  # the index is optional: pip installs find the share folder below
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, ValueError, KeyError, OSError):
        return None


def share_directories() -> list[Path]:
    """Every ``share/memory_nodes`` this package may have been installed with, best first.

    First the prefixes above this module, whose share folder was installed with this very code
    (``pip install --target T`` puts the package in ``T/memory_nodes`` and the data in
    ``T/share``; ``--prefix P`` and colcon put it in ``P/lib/python3.X/site-packages``); then
    the ament index (a ``ros2 run`` overlay); then ``sys.prefix`` (a plain install into a venv).
    """
    module_dir = Path(__file__).resolve().parent
    candidates = [parent / "share" / PACKAGE for parent in module_dir.parents[:5]]
    candidates += [_ament_share_directory(), Path(sys.prefix) / "share" / PACKAGE]
    found: list[Path] = []
    for candidate in candidates:
        if candidate is not None and candidate.is_dir() and candidate not in found:
            found.append(candidate)
    return found


def share_directory() -> Path | None:
    """``share/memory_nodes`` of an installed package, if there is one."""
    places = share_directories()
    return places[0] if places else None


def find_config_file(name: str) -> Path:
    """A file of ``config/``: the work tree's first, then the installed share folders.

    Raises
    ------
    NotFoundError
        If none holds it; the message lists where it looked.
    """
    places = [repository_root() / "config" / name]
    places += [share / "config" / name for share in share_directories()]
    for place in places:
        if place.is_file():
            return place
    raise NotFoundError(f"config file {name!r} not found in: {', '.join(map(str, places))}")


def pick_domain_id(seed: int | None = None) -> int:
    """A domain id for one run; random unless seeded."""
    return random.Random(seed).randint(*_DOMAIN_RANGE)


def check_domain_id(value: int | str, where: str = "ROS_DOMAIN_ID") -> int:
    """``value`` as a domain id, or a :class:`StackConfigError` that names ``where``."""
    try:
        domain_id = int(str(value).strip())
    except ValueError:
        raise StackConfigError(f"{where}: not an integer: {value!r}") from None
    if not 0 <= domain_id <= MAX_DOMAIN_ID:
        raise StackConfigError(f"{where}: {domain_id} is outside 0..{MAX_DOMAIN_ID}")
    return domain_id


def local_dds_environment(
    base: Mapping[str, str] | None = None, domain_id: int | None = None
) -> dict[str, str]:
    """``base`` (default: this process's environment) plus the local-only DDS settings.

    Settings already present in ``base`` win, except ``domain_id`` when it is given. The
    profile is only looked up when ``FASTDDS_DEFAULT_PROFILES_FILE`` is not set, so an
    installed package whose share folder cannot be found still runs with the user's profile.

    Raises
    ------
    StackConfigError
        The domain id (given or exported) is not one, or the exported profile is missing.
    NotFoundError
        No profile is exported and the shipped one cannot be found.
    """
    env = dict(os.environ if base is None else base)
    if env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        profile = Path(env["FASTDDS_DEFAULT_PROFILES_FILE"])
        if not profile.is_file():
            raise StackConfigError(f"FASTDDS_DEFAULT_PROFILES_FILE: file not found: {profile}")
    else:
        try:
            env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(find_config_file(DDS_PROFILE_NAME))
        except NotFoundError as error:
            raise NotFoundError(
                f"{error}; export FASTDDS_DEFAULT_PROFILES_FILE to a Fast DDS profile"
            ) from None
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(check_domain_id(domain_id, "--domain-id"))
    elif env.get("ROS_DOMAIN_ID", "").strip():
        env["ROS_DOMAIN_ID"] = str(check_domain_id(env["ROS_DOMAIN_ID"]))
    else:
        env["ROS_DOMAIN_ID"] = str(pick_domain_id())
    return env


def apply_local_dds_environment(domain_id: int | None = None) -> dict[str, str]:
    """Set the local-only DDS settings in this process (before ``rclpy.init``).

    For the programs that start nodes (tests, the demo, benchmarks); nodes never call it.
    """
    env = local_dds_environment(domain_id=domain_id)
    os.environ.update(env)
    return env
