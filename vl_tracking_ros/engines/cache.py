"""Where exported ONNX files and TensorRT engines live, and how they are named.

Default directory: ``$VL_TRACKING_ENGINE_DIR`` if set, else
``$XDG_CACHE_HOME/vl_tracking_ros/engines`` (``~/.cache/...``). ``vl-tracking
export`` writes there by default and the tracker node looks there, so an
engine is built once offline and found at start-up (never built silently).

Names: ``<preset>-<variant>.onnx`` and
``<preset>-<variant>-<precision>-b<max_batch>.engine``, each with a
``.json`` metadata sidecar (``engines.metadata``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional


def default_engine_dir(env: Optional[Mapping[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    if env.get("VL_TRACKING_ENGINE_DIR"):
        return Path(env["VL_TRACKING_ENGINE_DIR"]).expanduser()
    base = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vl_tracking_ros" / "engines"


def onnx_path(engine_dir: os.PathLike, preset: str, variant: str) -> Path:
    return Path(engine_dir) / f"{preset}-{variant}.onnx"


def engine_path(engine_dir: os.PathLike, preset: str, variant: str, precision: str, max_batch: int) -> Path:
    return Path(engine_dir) / f"{preset}-{variant}-{precision}-b{int(max_batch)}.engine"


def calibration_cache_path(engine_dir: os.PathLike, preset: str, variant: str) -> Path:
    return Path(engine_dir) / f"{preset}-{variant}-int8.calib"
