"""Where the package's data files live: ``config/``, ``weights/``, ``msg/``.

In a source checkout they sit beside the ``vl_tracking_ros/`` package. In an
installed package (colcon on a robot, or ``make`` into ``.venv``) they are in
``<prefix>/share/vl_tracking_ros/`` while the Python code is in
``site-packages``, so paths must not be derived from ``__file__`` alone.

Lookup order for :func:`share_dir`:
1. ``$VL_TRACKING_SHARE`` (an explicit override);
2. the source checkout this module belongs to (when it has ``config/models``);
3. the ament index (``get_package_share_directory``), when it knows the package;
4. ``<sys.prefix>/share/vl_tracking_ros`` (the venv / install prefix).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

PACKAGE = "vl_tracking_ros"
ENV_VAR = "VL_TRACKING_SHARE"


class ResourceNotFoundError(FileNotFoundError):
    """No directory with the package's config/weights was found."""


def _candidates():
    env = os.environ.get(ENV_VAR)
    if env:
        yield Path(env)
    yield Path(__file__).resolve().parents[1]
    try:
        from ament_index_python.packages import get_package_share_directory

        yield Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - ament index absent or package not indexed
        pass
    yield Path(sys.prefix) / "share" / PACKAGE


@lru_cache(maxsize=None)
def share_dir() -> Path:
    """The directory holding ``config/models/`` and ``weights/`` (see module doc)."""
    tried = []
    for cand in _candidates():
        tried.append(str(cand))
        if (cand / "config" / "models").is_dir():
            return cand
    raise ResourceNotFoundError(
        f"cannot find {PACKAGE}'s config/ and weights/ (looked in: {', '.join(tried)}); "
        f"set {ENV_VAR} to the directory that contains them")


def config_dir() -> Path:
    """``config/`` (node YAML, RViz config, ``models/`` presets)."""
    return share_dir() / "config"


def model_config_path(preset: str) -> Path:
    """``config/models/<preset>.yaml``."""
    return config_dir() / "models" / f"{preset}.yaml"


def weights_dir() -> Path:
    """``weights/`` (shipped safetensors + ``manifest.json``)."""
    return share_dir() / "weights"


def read_yaml_mapping(path: os.PathLike, what: str = "config", error: type = ValueError) -> dict:
    """The top-level mapping of the YAML file ``path`` ({} for an empty file).

    what: names the file in messages ("preset config", "rmot config", ...).
    Raises FileNotFoundError when the file is missing and ``error`` (a
    ValueError subclass) when its top level is not a mapping.
    """
    import yaml

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path} does not exist")
    with open(path, "r", encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise error(f"{path}: the top level of a {what} must be a mapping, got {type(data).__name__}")
    return data
