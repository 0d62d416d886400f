#!/usr/bin/env bash
# `make demo`: the main job, with local-only DDS (see memory_nodes/ros_env.py).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEMSTACK_VENV:-$ROOT/.venv}"
cd "$ROOT"
export MUJOCO_GL="${MUJOCO_GL:-egl}" YOLO_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$VENV/bin/memstack" demo "$@"
