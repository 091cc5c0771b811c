"""Oracle tracker: answers every command with the ground-truth boxes.

A sanity check of the evaluation pipeline, not a model: run through the real
runner (frames fed one by one, commands parsed from the clip's schedule and
applied with ``set_commands`` / ``clear``), it must score PRE = AUC = 1 on
single-target suites and HOTA = 100 on ``rmot``. Any lower figure means the
runner, the command plumbing or the metrics are wrong.

The evaluator hands it the clip through :meth:`OracleTracker.attach_clip`
before the first frame. It only answers while it has a command (after "stop"
it is idle, like a real tracker), and it answers a command only while the
clip's active expression is the one the command names (same normalised text),
so a command the runner failed to deliver scores zero; it never sees the
future.

Preset ``oracle`` (``build``).
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

from ..core.commands import CommandError, normalize_expression
from ..core.tracker import Tracker
from ..core.types import SensorFrame, TargetQuery, TrackerOutput, TrackResult, TrackState
from ..eval.ground_truth import active_referent_boxes, sot_box


class OracleTracker(Tracker):
    """Reads ground truth from an attached clip (see module docstring)."""

    name = "oracle"
    supported_modalities = ("rgb", "depth", "thermal", "event")
    multi_target = True

    def __init__(self) -> None:
        self._clip: Any = None
        self._queries: List[TargetQuery] = []
        self._index = 0

    def attach_clip(self, clip: Any) -> None:
        """Use ``clip``'s ground truth from now on; the next ``step`` is its frame 0."""
        self._clip = clip
        self._index = 0
        self._queries = []

    def set_commands(self, queries: Sequence[TargetQuery]) -> None:
        self._queries = list(queries)

    def _expression_for(self, query: TargetQuery, frame_index: int) -> Optional[Any]:
        """The clip expression the query names (same normalised text and kind)
        that is active at ``frame_index``, else None."""
        active = self._clip.active_expression(frame_index)
        if active is None or bool(active.multi) != query.multi:
            return None
        try:
            same = normalize_expression(active.text) == normalize_expression(query.expression)
        except CommandError:
            same = False
        return active if same else None

    def step(self, frame: SensorFrame) -> TrackerOutput:
        if self._clip is None:
            raise RuntimeError("oracle tracker: call attach_clip(clip) before step()")
        i = self._index
        self._index += 1
        if i >= len(self._clip.gt):
            raise RuntimeError(f"oracle tracker: stepped past the attached clip's {len(self._clip.gt)} frames")
        tracks: List[TrackResult] = []
        for query in self._queries:
            expr = self._expression_for(query, i)
            if expr is None:
                continue
            if query.multi:
                boxes = active_referent_boxes(self._clip, i, expr)
            else:
                box = sot_box(self._clip, i)
                boxes = {} if box is None else {int(expr.referent_ids[0]): box}
            for oid, box in boxes.items():
                tracks.append(TrackResult(track_id=oid, box_xyxy=box.astype("float32"), confidence=1.0,
                                          state=TrackState.TRACKING, command=str(query), expression_score=1.0,
                                          label="oracle"))
        mode = "idle" if not self._queries else ("multi" if any(q.multi for q in self._queries) else "single")
        return TrackerOutput(tracks=tracks, mode=mode, search="local")


def build(**options: Any) -> OracleTracker:
    """Factory of the ``oracle`` preset; ignores device/modalities/backend options."""
    return OracleTracker()
