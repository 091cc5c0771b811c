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

from .types import SensorFrame, TargetQuery, TrackerOutput


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
    def set_commands(self, queries: Sequence[TargetQuery]) -> None:
        """Replace the active queries (parsed commands). An empty sequence
        means idle. A single-target tracker follows the first non-multi query;
        a referring tracker answers every multi query. A new query resets the
        target memory and forces a global search."""

    @abc.abstractmethod
    def step(self, frame: SensorFrame) -> TrackerOutput:
        """Process one synchronized frame and return the tracks."""

    def clear(self) -> None:
        """Drop all commands and target memory (the "stop" command)."""
        self.set_commands([])

    @property
    def active_commands(self) -> List[TargetQuery]:
        """The queries set by the last ``set_commands`` call."""
        return list(getattr(self, "_queries", []))

    def close(self) -> None:
        """Free backend resources."""
