"""What the evaluator scores against, read from a generated or loaded clip.

One place defines "the target at frame i" so the runner, the metrics and the
oracle agree:

* single target: ``clip.sot_target_box(i)`` (the referent of the expression
  active at ``i``; ``None`` when absent: fully occluded, out of view, or no
  command / after "stop");
* several targets: every referent of the active expression that is in view
  and not fully occluded (``ObjectGT.in_view`` and ``visibility > 0``).

Works on any object with the ``vl_tracking_ros.data`` clip interface
(``gt``, ``expressions``, ``active_expression(i)``, ``sot_target_box(i)``).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np


def object_present(obj_gt: Any) -> bool:
    """True when an ObjectGT is in view and at least partly visible."""
    return bool(getattr(obj_gt, "in_view", True)) and float(getattr(obj_gt, "visibility", 1.0)) > 0.0


def sot_box(clip: Any, frame_index: int) -> Optional[np.ndarray]:
    """(4,) float64 xyxy px of the single target at ``frame_index``, or None if absent."""
    box = clip.sot_target_box(frame_index)
    return None if box is None else np.asarray(box, dtype=np.float64).reshape(4)


def active_referent_boxes(clip: Any, frame_index: int, expression: Any = None) -> Dict[int, np.ndarray]:
    """``{object id: (4,) xyxy box}`` of the present referents of ``expression``
    (default: the clip's active expression at ``frame_index``)."""
    expr = clip.active_expression(frame_index) if expression is None else expression
    if expr is None:
        return {}
    objects = clip.gt[frame_index].objects
    out: Dict[int, np.ndarray] = {}
    for oid in expr.referent_ids:
        obj = objects.get(oid)
        if obj is not None and object_present(obj):
            out[int(oid)] = np.asarray(obj.box_xyxy, dtype=np.float64).reshape(4)
    return out


def clip_is_multi(clip: Any) -> bool:
    """True when the clip's commands are "track all ..." (referring MOT scoring)."""
    exprs: List[Any] = list(getattr(clip, "expressions", []) or [])
    return any(bool(getattr(e, "multi", False)) for e in exprs)
