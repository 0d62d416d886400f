#!/usr/bin/env bash
# Runs the test suite with local-only DDS. When the machine allows it, the whole run happens in
# a private network namespace whose only interface is loopback, so no DDS packet can leave.
# Extra arguments go to pytest. Exit code 5 (no tests collected) is turned into a failure.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEMSTACK_VENV:-$ROOT/.venv}"
cd "$ROOT"

export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export YOLO_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export YOLO_CONFIG_DIR="${YOLO_CONFIG_DIR:-$ROOT/build/ultralytics}"
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$ROOT/build/numba_cache}"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export FASTDDS_DEFAULT_PROFILES_FILE="$ROOT/config/fastdds_local.xml"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"
mkdir -p "$YOLO_CONFIG_DIR" "$NUMBA_CACHE_DIR"

PYTEST=("$VENV/bin/python" -m pytest "$@")
if unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
  echo "[test] private network namespace: loopback only, ROS_DOMAIN_ID=$ROS_DOMAIN_ID"
  export MEMSTACK_NETNS=1
  unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${PYTEST[@]}"
  code=$?
else
  echo "[test] no private network namespace here (unshare -n not permitted): DDS is limited by"
  echo "[test] the loopback-only profile and ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST instead"
  "${PYTEST[@]}"
  code=$?
fi
if [ "$code" -eq 5 ]; then
  echo "[test] error: pytest collected no tests" >&2
  exit 1
fi
exit "$code"
