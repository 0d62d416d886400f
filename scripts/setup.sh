#!/usr/bin/env bash
# Idempotent setup used by `make demo` and `make test`: Debian packages, the venv, the pinned
# Python packages, the memory_interfaces build and the memory_nodes install. Each step keeps a
# stamp holding the hash of its inputs, so a second run only checks and skips.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MEMSTACK_VENV:-$ROOT/.venv}"
STAMPS="$VENV/.memstack-stamps"
PYTHON_BIN="${MEMSTACK_PYTHON:-}"

# Runtime libraries: libusb for open3d, EGL/GL for headless MuJoCo, iproute2 for the private
# network namespace of the ROS tests. Build tools: cmake and g++ for memory_interfaces.
APT_PACKAGES=(libusb-1.0-0 libegl1 libgl1 libgles2 libegl-mesa0 libgl1-mesa-dri libglu1-mesa
  iproute2 cmake g++ make)

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }

install_apt_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "Debian packages present"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

find_python() {
  if [ -n "$PYTHON_BIN" ]; then echo "$PYTHON_BIN"; return; fi
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null \
      && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      command -v "$candidate"
      return
    fi
  done
  die "Python 3.11 not found (the ROS 2 wheels are built for CPython 3.11); set MEMSTACK_PYTHON"
}

create_venv() {
  if [ -x "$VENV/bin/python" ]; then
    log "venv present at $VENV"
    return
  fi
  local python
  python="$(find_python)"
  log "creating venv at $VENV with $python"
  "$python" -m venv "$VENV"
}

install_requirements() {
  local digest
  digest="$(hash_of "$ROOT/requirements.lock")"
  if stamp_ok requirements "$digest"; then
    log "pinned Python packages present"
    return
  fi
  log "installing pinned Python packages from requirements.lock (first run: several minutes)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade "pip==26.3"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r "$ROOT/requirements.lock" \
    2> >(grep -v "is ignored: it is neither" >&2)
  stamp_set requirements "$digest"
}

build_interfaces() {
  local digest
  digest="$(cd "$ROOT" && hash_of $(find memory_interfaces -type f | sort) requirements.lock)"
  if stamp_ok interfaces "$digest" \
    && "$VENV/bin/python" -c 'import memory_interfaces.msg' 2>/dev/null; then
    log "memory_interfaces built"
    return
  fi
  log "building memory_interfaces (about 30 s)"
  local build_dir="$ROOT/build/memory_interfaces"
  rm -rf "$build_dir"
  (
    export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV"
    cmake -S "$ROOT/memory_interfaces" -B "$build_dir" -DCMAKE_PREFIX_PATH="$VENV" \
      -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VENV/bin/python" \
      -DBUILD_TESTING=OFF > "$build_dir.configure.log" 2>&1 \
      || { tail -30 "$build_dir.configure.log" >&2; exit 1; }
    cmake --build "$build_dir" -j "$(nproc)" > "$build_dir.build.log" 2>&1 \
      || { tail -30 "$build_dir.build.log" >&2; exit 1; }
    cmake --install "$build_dir" > "$build_dir.install.log" 2>&1 \
      || { tail -30 "$build_dir.install.log" >&2; exit 1; }
  ) || die "memory_interfaces build failed (logs in $ROOT/build/)"
  stamp_set interfaces "$digest"
}

install_package() {
  local digest
  digest="$(cd "$ROOT" && hash_of setup.py setup.cfg package.xml)"
  if stamp_ok package "$digest" && [ -x "$VENV/bin/memstack" ]; then
    log "memory_nodes installed (editable)"
    return
  fi
  log "installing memory_nodes (editable)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps \
    --no-build-isolation -e "$ROOT"
  stamp_set package "$digest"
}

mkdir -p "$ROOT/build"
install_apt_packages
create_venv
install_requirements
build_interfaces
install_package
log "ready: $VENV"
