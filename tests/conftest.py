"""Shared fixtures: the ROS tests run with local-only DDS and skip cleanly without rclpy."""

from __future__ import annotations

import os

import pytest

from memory_nodes.ros_env import apply_local_dds_environment


def pytest_configure(config: pytest.Config) -> None:
    # Before any test imports rclpy: keep DDS on this machine even when pytest is run directly.
    apply_local_dds_environment()
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("YOLO_OFFLINE", "1")
