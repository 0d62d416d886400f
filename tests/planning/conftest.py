"""Headless rendering for the planning tests that drive the simulator."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")
