"""The core must import and work in an environment without rclpy or any message package."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_every_core_module_imports_with_ros_packages_blocked() -> None:
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys

        class BlockRos:
            blocked = ("rclpy", "memory_interfaces", "builtin_interfaces")

            def find_spec(self, name, path=None, target=None):
                root = name.split(".")[0]
                if root in self.blocked or root.endswith("_msgs") or root.endswith("_srvs"):
                    raise ImportError(f"ROS package {name} imported by the core")
                return None

        sys.meta_path.insert(0, BlockRos())
        import memory_nodes.core as core
        names = [m.name for m in pkgutil.walk_packages(core.__path__, "memory_nodes.core.")]
        for name in names:
            importlib.import_module(name)
        print(len(names))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip().splitlines()[-1]) >= 2
