"""Language-specific tracking metrics: command-switch latency, relocalization
time after a full occlusion, and results broken down by scene condition.

All functions work on per-frame boolean "locked" arrays so they apply to the
single-target and the referring (multi-target) case alike:

* ``locked[t]`` is True when, at frame ``t``, the referent of the command that
  is active at ``t`` is tracked with IoU >= ``LOCK_IOU`` (single target: the
  prediction against the target box; several referents: every present
  referent is matched one-to-one, see :func:`multi_locked`).
* ``present[t]`` is True when that referent is visible (in view and not fully
  occluded) at ``t``.

**Command-switch latency** of a command issued at frame ``c`` is ``f - c``
where ``f`` is the first frame in ``[c, next command)`` with ``locked[f]``; if
the tracker never locks before the next command (or the clip ends) the latency
is ``inf`` (never re-locked). Frames where the new referent is itself not
visible count: the figure is wall-clock frames a user waits.

**Relocalization time**: for each run of frames where the referent is absent
(full occlusion or out of view) that starts and ends inside one command's
segment, the frames from its reappearance ``r`` to the first ``locked`` frame
``>= r`` in that segment (``inf`` if never).

Medians are over events; ``inf`` enters the median like any large value
(a median of ``inf`` means more than half the events never re-locked).
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, TypeVar

import numpy as np
from scipy.optimize import linear_sum_assignment

from .sot_metrics import box_iou_xyxy, iou_matrix_xyxy

#: IoU at which a referent counts as (re-)acquired
LOCK_IOU = 0.5
#: "re-locked within N frames" horizon for ``switch_relock_30``
RELOCK_WITHIN_FRAMES = 30

T = TypeVar("T")

#: condition keys results are broken down by (when a clip has them): day/night,
#: modality set, object size, speed, distractors, and the other categorical knobs.
#: Continuous knobs (e.g. distractor_similarity) would give one group per clip.
BREAKDOWN_KEYS = ("lighting", "modalities", "target_size", "target_speed", "distractors", "occlusion",
                  "leave_reenter", "motion_blur", "ego_motion", "scale_change", "target_switches")


def breakdown_conditions(conditions: Mapping[str, Any], keys: Sequence[str] = BREAKDOWN_KEYS) -> Dict[str, Any]:
    """The subset of ``conditions`` to break results down by: the ``keys``
    present, or every condition when none of them is (e.g. a real dataset's
    own attribute names)."""
    conditions = dict(conditions or {})
    picked = {k: conditions[k] for k in keys if k in conditions}
    return picked if picked else conditions


def sot_locked(pred_boxes_xyxy: Sequence[Optional[np.ndarray]], gt_boxes_xyxy: Sequence[Optional[np.ndarray]],
               iou_threshold: float = LOCK_IOU) -> np.ndarray:
    """(T,) bool: prediction and target box both exist and IoU >= iou_threshold.

    Raising ``iou_threshold`` demands tighter boxes before a switch counts as done.
    """
    if len(pred_boxes_xyxy) != len(gt_boxes_xyxy):
        raise ValueError(f"{len(pred_boxes_xyxy)} predictions vs {len(gt_boxes_xyxy)} ground-truth frames")
    out = np.zeros(len(gt_boxes_xyxy), dtype=bool)
    for t, (p, g) in enumerate(zip(pred_boxes_xyxy, gt_boxes_xyxy)):
        if p is not None and g is not None:
            out[t] = box_iou_xyxy(np.asarray(p)[None], np.asarray(g)[None])[0] >= iou_threshold
    return out


def multi_locked(pred_boxes_xyxy: Sequence[np.ndarray], gt_boxes_xyxy: Sequence[np.ndarray],
                 iou_threshold: float = LOCK_IOU) -> np.ndarray:
    """(T,) bool for several referents: every GT box of the frame has its own
    prediction (one-to-one, Hungarian on IoU) with IoU >= iou_threshold.

    pred_boxes_xyxy[t]: (P_t, 4); gt_boxes_xyxy[t]: (G_t, 4). A frame with no
    GT box is not locked (there is nothing to lock onto).
    """
    if len(pred_boxes_xyxy) != len(gt_boxes_xyxy):
        raise ValueError(f"{len(pred_boxes_xyxy)} predictions vs {len(gt_boxes_xyxy)} ground-truth frames")
    out = np.zeros(len(gt_boxes_xyxy), dtype=bool)
    for t, (p, g) in enumerate(zip(pred_boxes_xyxy, gt_boxes_xyxy)):
        g = np.asarray(g, dtype=np.float64).reshape(-1, 4)
        p = np.asarray(p, dtype=np.float64).reshape(-1, 4)
        if g.shape[0] == 0 or p.shape[0] < g.shape[0]:
            continue
        iou = iou_matrix_xyxy(g, p)
        rows, cols = linear_sum_assignment(-iou)
        out[t] = len(rows) == g.shape[0] and bool(np.all(iou[rows, cols] >= iou_threshold))
    return out


def _segments(command_frames: Sequence[int], num_frames: int) -> List[Tuple[int, int]]:
    starts = sorted(int(c) for c in command_frames)
    if any(c < 0 or c >= num_frames for c in starts):
        raise ValueError(f"command frames {starts} outside the clip's {num_frames} frames")
    return [(s, starts[k + 1] if k + 1 < len(starts) else num_frames) for k, s in enumerate(starts)]


def switch_latencies(locked: np.ndarray, command_frames: Sequence[int]) -> List[float]:
    """Latency in frames for each command frame (``inf`` when never locked
    before the next command or the clip's end)."""
    locked = np.asarray(locked, dtype=bool)
    out: List[float] = []
    for s, e in _segments(command_frames, len(locked)):
        hits = np.flatnonzero(locked[s:e])
        out.append(float(hits[0]) if hits.size else float("inf"))
    return out


def relocalization_times(locked: np.ndarray, present: np.ndarray, command_frames: Sequence[int]) -> List[float]:
    """Frames from each reappearance after an absence to the first locked frame.

    Only absences with the referent present right before and after them, inside
    one command segment, count (the referent must have been seen, lost, seen).
    """
    locked = np.asarray(locked, dtype=bool)
    present = np.asarray(present, dtype=bool)
    if locked.shape != present.shape:
        raise ValueError(f"locked {locked.shape} and present {present.shape} differ")
    out: List[float] = []
    for s, e in _segments(command_frames, len(locked)):
        t = s
        seen = False
        while t < e:
            if present[t]:
                seen = True
                t += 1
                continue
            gap_start = t
            while t < e and not present[t]:
                t += 1
            if seen and gap_start > s and t < e:  # absence closed by a reappearance at t
                hits = np.flatnonzero(locked[t:e])
                out.append(float(hits[0]) if hits.size else float("inf"))
    return out


def latency_summary(latencies: Sequence[float], within: int = RELOCK_WITHIN_FRAMES
                    ) -> Tuple[Optional[float], Optional[float]]:
    """(median, fraction <= ``within`` frames); (None, None) when there are no events."""
    if len(latencies) == 0:
        return None, None
    arr = np.asarray(latencies, dtype=np.float64)
    return float(np.median(arr)), float(np.mean(arr <= within))


def condition_value_label(value: Any) -> str:
    """Stable text label of a condition value (lists/sets -> "a+b", sorted)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return "+".join(sorted(str(v) for v in value))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def group_by_condition(items: Sequence[T], conditions_of: Callable[[T], Mapping[str, Any]]
                       ) -> Dict[str, Dict[str, List[T]]]:
    """``{condition key: {value label: [items]}}`` over every key any item has."""
    groups: Dict[str, Dict[str, List[T]]] = defaultdict(lambda: defaultdict(list))
    for item in items:
        for key, value in (conditions_of(item) or {}).items():
            groups[str(key)][condition_value_label(value)].append(item)
    return {k: dict(sorted(v.items())) for k, v in sorted(groups.items())}
