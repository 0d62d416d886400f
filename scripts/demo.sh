#!/usr/bin/env bash
# `make demo`: the main job (memory_nodes/demo.py). DDS stays on this machine: the local-only
# profile always, and a private network namespace with only loopback when the machine allows.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEMSTACK_VENV:-$ROOT/.venv}"
cd "$ROOT"
export MUJOCO_GL="${MUJOCO_GL:-egl}" YOLO_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/build/numba_cache}"
mkdir -p "$NUMBA_CACHE_DIR"
if unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
  exec unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$VENV/bin/memstack" demo "$@"
fi
echo "[demo] no private network namespace here: DDS limited by the loopback-only profile"
exec "$VENV/bin/memstack" demo "$@"
