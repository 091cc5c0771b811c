"""The tracker contract the node, the evaluator and the benchmark use.

Every tracker -- the trained MVLM/COST/XTrack single-target tracker, the
OneTrack-M + FlexHook referring tracker, the classical baselines and the
oracle -- implements :class:`Tracker`. Trackers are built by name through
``vl_tracking_ros.trackers.registry.build_tracker(preset, **options)`` so the
node swaps models with one parameter.
"""
from __future__ import annotations

import abc
from typing import List, Sequence, Tuple

from .types import SensorFrame, TrackerOutput


class Tracker(abc.ABC):
    """Stateful, single-stream tracker.

    Life cycle: ``set_commands([...])`` (any time; a new command resets target
    memory and forces a global search), then ``step(frame)`` once per frame,
    ``clear()`` on "stop". IDs are owned by the instance, never global.
    """

    #: preset name, e.g. "mvlm-small"
    name: str = "tracker"
    #: modalities the tracker can use, e.g. ("rgb", "thermal")
    supported_modalities: Tuple[str, ...] = ("rgb",)
    #: True when the tracker answers "track all ..." (several targets)
    multi_target: bool = False

    @abc.abstractmethod
    def set_commands(self, expressions: Sequence[str]) -> None:
        """Replace the active expressions (already parsed, without "track")."""

    @abc.abstractmethod
    def step(self, frame: SensorFrame) -> TrackerOutput:
        """Process one synchronized frame and return the tracks."""

    def clear(self) -> None:
        """Drop all commands and target memory (the "stop" command)."""
        self.set_commands([])

    @property
    def active_commands(self) -> List[str]:
        return list(getattr(self, "_commands", []))

    def close(self) -> None:
        """Free backend resources."""
