#!/usr/bin/env bash
# Build the package's messages with rosidl (ROS 2 Kilted wheels from PyPI) and
# install them, with the Python package, launch/config/weights and the node
# executables, into the virtual environment's prefix -- the same install a
# robot's colcon build does into its workspace. See docs/ros2-from-pypi.md.
set -euo pipefail
VENV=${1:?usage: build_msgs.sh VENV}
VENV=$(cd "$VENV" && pwd)
PY="$VENV/bin/python"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build/cmake"
mkdir -p "$BUILD"

# 1. The wheels' CMake exports carry their builder's Python/numpy include paths.
#    Point them at this interpreter (inside the venv only; idempotent).
stamp="$VENV/.cmake-paths-fixed"
if [ ! -f "$stamp" ]; then
  inc=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  npinc=$("$PY" -c 'import numpy; print(numpy.get_include())')
  grep -rlE '/opt/python/cp311-cp311' "$VENV/share" --include='*.cmake' 2>/dev/null | while read -r f; do
    sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${npinc}#g" \
           -e "s#/opt/python/cp311-cp311/include/python3.11#${inc}#g" "$f"
  done
  touch "$stamp"
fi

# 2. Configure (once), build, install into the venv prefix.
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  AMENT_PREFIX_PATH="$VENV" cmake -S "$ROOT" -B "$BUILD" \
    -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" -DBUILD_TESTING=OFF >"$ROOT/build/cmake-configure.log" 2>&1 \
    || { cat "$ROOT/build/cmake-configure.log"; exit 1; }
fi
AMENT_PREFIX_PATH="$VENV" cmake --build "$BUILD" -j2 >"$ROOT/build/cmake-build.log" 2>&1 \
  || { tail -50 "$ROOT/build/cmake-build.log"; exit 1; }
cmake --install "$BUILD" >"$ROOT/build/cmake-install.log" 2>&1 \
  || { tail -50 "$ROOT/build/cmake-install.log"; exit 1; }
