"""Build trackers by preset name (the node's ``model.preset`` parameter).

Each entry maps a preset to ``"module:factory"``; the module is imported on
first use, so building the numpy-only heuristic tracker never imports torch.
A factory takes keyword options (``device``, ``backend``, ``weights_dir``,
``modalities``, ...) and returns a :class:`vl_tracking_ros.core.tracker.Tracker`.
"""
from __future__ import annotations

import importlib
from typing import Any, Dict

from ..core.tracker import Tracker

PRESETS: Dict[str, str] = {
    # default routing: "track ..." -> single-target model, "track all ..." -> referring MOT
    "default": "vl_tracking_ros.trackers.router:build_default",
    # trained models (issue 4 / issue 5)
    "mvlm-small": "vl_tracking_ros.trackers.language_tracker:build_small",
    "mvlm-large": "vl_tracking_ros.trackers.language_tracker:build_large",
    "rmot-small": "vl_tracking_ros.trackers.referring_tracker:build_small",
    # no-network fallbacks and baselines
    "heuristic": "vl_tracking_ros.trackers.heuristic:build",
    "oracle": "vl_tracking_ros.trackers.oracle:build",
    "mil": "vl_tracking_ros.trackers.classical:build_mil",
}


class UnknownPresetError(ValueError):
    pass


def build_tracker(preset: str, **options: Any) -> Tracker:
    """Instantiate the tracker preset ``preset``; raises UnknownPresetError
    (listing the valid names) for an unknown name."""
    if preset not in PRESETS:
        raise UnknownPresetError(f"unknown tracker preset {preset!r}; valid presets: {', '.join(sorted(PRESETS))}")
    module_name, factory_name = PRESETS[preset].split(":")
    module = importlib.import_module(module_name)
    return getattr(module, factory_name)(**options)
