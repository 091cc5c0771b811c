"""Single-object tracking metrics: success plot / AUC, precision, normalized precision.

Pure numpy. Definitions follow the LaSOT evaluation toolkit (Fan et al.,
CVPR 2019; ``utils/eval_tracker.m`` and ``utils/calc_seq_err_robust.m``),
which TNL2K and OTB99-lang reuse:

* **Success plot**: for each overlap threshold ``t`` in ``[0, 1]`` the fraction
  of frames whose IoU(pred, gt) is *greater than* ``t``. **AUC** is the mean of
  the success plot over its thresholds (21 points ``0:0.05:1`` by default, or
  101 points ``0:0.01:1``).
* **Precision plot**: fraction of frames whose centre error (pixels) is
  ``<= t`` for ``t = 0..50`` px. **PRE** is the value at 20 px.
* **Normalized precision** (LaSOT): centres are divided by the ground-truth
  width/height before the distance is taken, thresholds ``0..0.5`` (51
  points). **NPRE** is the area under that curve (its mean), as LaSOT ranks
  trackers; the value at 0.2 (the figure pytracking prints) is ``npre_at_0p2``.

Absent frames (the target is fully occluded or out of view; ground truth
``None``) are removed before scoring, exactly as the LaSOT toolkit does: a
prediction on an absent frame is neither rewarded nor penalised. We divide by
the number of *present* frames; the MATLAB toolkit divides by all frames, which
caps a perfect tracker below 1 on sequences with absent frames, so we do not
copy that.

Two further deliberate, documented differences from the toolkit:

* A missing prediction (``None``: the tracker reports nothing, or only LOST
  tracks) on a present frame is a miss (IoU 0, infinite centre error). The
  toolkit instead carries the previous box forward; a language tracker that
  says "not found" should not get credit for a stale box.
* The last success threshold ``t = 1`` uses ``IoU >= 1`` (a perfect overlap
  passes every threshold), so a perfect tracker scores AUC = 1. The toolkit's
  strict ``IoU > 1`` can never pass and caps AUC at 20/21 = 0.952; pass
  ``toolkit_compat=True`` to reproduce that exactly.

Boxes are ``xyxy`` float pixels (see :mod:`vl_tracking_ros.core.types`).
Per-sequence curves are averaged over sequences (each sequence weighs the
same), as the toolkit does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

#: precision thresholds in pixels (0..50), PRE is read at 20 px
PRECISION_THRESHOLDS_PX = np.arange(0, 51, dtype=np.float64)
#: normalized-precision thresholds (0..0.5, 51 points)
NORM_PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
PRE_AT_PX = 20.0


class FrameCountMismatchError(ValueError):
    """Predictions and ground truth do not cover the same frames."""


def success_thresholds(num_points: int = 21) -> np.ndarray:
    """Overlap thresholds ``linspace(0, 1, num_points)``; 21 (LaSOT/OTB) or 101.

    More points give a smoother success plot; the AUC of a given set of IoUs
    changes by at most ~1/num_points between the two grids.
    """
    if num_points < 2:
        raise ValueError(f"num_points must be >= 2, got {num_points}")
    return np.linspace(0.0, 1.0, int(num_points))


def box_iou_xyxy(boxes_a_xyxy: np.ndarray, boxes_b_xyxy: np.ndarray) -> np.ndarray:
    """Row-wise IoU of two (N, 4) float xyxy box arrays -> (N,) float64 in [0, 1].

    Degenerate boxes (zero area) give IoU 0 unless both are the same point-box.
    """
    a = np.asarray(boxes_a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b_xyxy, dtype=np.float64).reshape(-1, 4)
    if a.shape != b.shape:
        raise ValueError(f"box arrays differ in shape: {a.shape} vs {b.shape}")
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0.0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0.0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter
    out = np.zeros(a.shape[0], dtype=np.float64)
    ok = union > 0
    out[ok] = inter[ok] / union[ok]
    same = (~ok) & np.all(a == b, axis=1)
    out[same] = 1.0
    return np.clip(out, 0.0, 1.0)


def iou_matrix_xyxy(boxes_a_xyxy: np.ndarray, boxes_b_xyxy: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes -> (N, M) float64."""
    a = np.asarray(boxes_a_xyxy, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b_xyxy, dtype=np.float64).reshape(-1, 4)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]), dtype=np.float64)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0.0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0.0, None)
    inter = iw * ih
    area_a = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]))[:, None]
    area_b = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]))[None, :]
    union = area_a + area_b - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return np.clip(out, 0.0, 1.0)


@dataclass
class SequenceErrors:
    """Per-frame errors of one sequence, restricted to present frames.

    iou: (P,) float64 IoU per present frame (0 for a missing prediction).
    center_err_px: (P,) float64 centre distance in pixels (inf if missing).
    norm_center_err: (P,) float64 centre distance after dividing x by the GT
        width and y by the GT height (inf if missing).
    num_frames: total frames in the sequence (present + absent).
    """

    iou: np.ndarray
    center_err_px: np.ndarray
    norm_center_err: np.ndarray
    num_frames: int

    @property
    def num_present(self) -> int:
        return int(self.iou.shape[0])


def _as_optional_box(value, what: str, index: int) -> Optional[np.ndarray]:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{what} box at frame {index} must be 4 finite xyxy numbers or None, got {value!r}")
    return arr


def sequence_errors(pred_boxes_xyxy: Sequence[Optional[np.ndarray]],
                    gt_boxes_xyxy: Sequence[Optional[np.ndarray]]) -> SequenceErrors:
    """Per-frame IoU and centre errors for one sequence.

    pred_boxes_xyxy / gt_boxes_xyxy: length-T sequences, each item a (4,)
    xyxy box in pixels or ``None`` (no prediction / target absent).
    Raises :class:`FrameCountMismatchError` if the lengths differ.
    """
    if len(pred_boxes_xyxy) != len(gt_boxes_xyxy):
        raise FrameCountMismatchError(
            f"{len(pred_boxes_xyxy)} predicted frames but {len(gt_boxes_xyxy)} ground-truth frames; "
            "refusing to align them")
    ious: List[float] = []
    errs: List[float] = []
    nerrs: List[float] = []
    for i, (p_raw, g_raw) in enumerate(zip(pred_boxes_xyxy, gt_boxes_xyxy)):
        g = _as_optional_box(g_raw, "ground-truth", i)
        if g is None:
            continue  # absent frame: excluded, whatever was predicted
        p = _as_optional_box(p_raw, "predicted", i)
        if p is None:
            ious.append(0.0)
            errs.append(np.inf)
            nerrs.append(np.inf)
            continue
        ious.append(float(box_iou_xyxy(p[None], g[None])[0]))
        pc = np.array([(p[0] + p[2]) / 2.0, (p[1] + p[3]) / 2.0])
        gc = np.array([(g[0] + g[2]) / 2.0, (g[1] + g[3]) / 2.0])
        errs.append(float(np.hypot(*(pc - gc))))
        wh = np.maximum(np.array([g[2] - g[0], g[3] - g[1]]), 1e-9)
        nerrs.append(float(np.hypot(*((pc - gc) / wh))))
    return SequenceErrors(np.asarray(ious, dtype=np.float64), np.asarray(errs, dtype=np.float64),
                          np.asarray(nerrs, dtype=np.float64), len(gt_boxes_xyxy))


def success_curve(iou: np.ndarray, thresholds: np.ndarray, toolkit_compat: bool = False) -> np.ndarray:
    """Fraction of frames with IoU > t for each threshold (see module doc for t = 1).

    iou: (P,) IoUs of present frames; thresholds: (K,) in [0, 1].
    Returns (K,) float64; all zeros when P = 0.
    """
    iou = np.asarray(iou, dtype=np.float64).reshape(-1)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if iou.size == 0:
        return np.zeros_like(thr)
    passed = iou[:, None] > thr[None, :]
    if not toolkit_compat:
        passed |= (iou[:, None] >= 1.0 - 1e-9) & (thr[None, :] >= 1.0 - 1e-12)
    return passed.mean(axis=0)


def precision_curve(center_err: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of frames with centre error <= t for each threshold -> (K,) float64."""
    err = np.asarray(center_err, dtype=np.float64).reshape(-1)
    thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if err.size == 0:
        return np.zeros_like(thr)
    return (err[:, None] <= thr[None, :]).mean(axis=0)


@dataclass
class SotCurves:
    """Success / precision / normalized-precision curves (averaged over sequences).

    success: (K,) over ``success_thresholds``; precision: (51,) over 0..50 px;
    norm_precision: (51,) over 0..0.5.
    """

    success_thresholds: np.ndarray
    success: np.ndarray
    precision_thresholds_px: np.ndarray
    precision: np.ndarray
    norm_precision_thresholds: np.ndarray
    norm_precision: np.ndarray
    num_sequences: int

    @property
    def auc(self) -> float:
        return float(np.mean(self.success))

    @property
    def pre(self) -> float:
        idx = int(np.argmin(np.abs(self.precision_thresholds_px - PRE_AT_PX)))
        return float(self.precision[idx])

    @property
    def npre(self) -> float:
        return float(np.mean(self.norm_precision))

    @property
    def npre_at_0p2(self) -> float:
        idx = int(np.argmin(np.abs(self.norm_precision_thresholds - 0.2)))
        return float(self.norm_precision[idx])

    def summary(self) -> Dict[str, float]:
        """``{"AUC", "PRE", "NPRE", "NPRE@0.2"}`` as floats in [0, 1]."""
        return {"AUC": self.auc, "PRE": self.pre, "NPRE": self.npre, "NPRE@0.2": self.npre_at_0p2}


def sot_curves(sequences: Sequence[SequenceErrors], num_success_points: int = 21,
               toolkit_compat: bool = False) -> SotCurves:
    """Average the per-sequence curves over ``sequences`` (each weighs the same).

    Sequences without a single present frame carry no information and are
    skipped. Raises ValueError if nothing is left.
    """
    thr_s = success_thresholds(num_success_points)
    used = [s for s in sequences if s.num_present > 0]
    if not used:
        raise ValueError("no sequence has a frame where the target is present; nothing to score")
    succ = np.mean([success_curve(s.iou, thr_s, toolkit_compat) for s in used], axis=0)
    prec = np.mean([precision_curve(s.center_err_px, PRECISION_THRESHOLDS_PX) for s in used], axis=0)
    nprec = np.mean([precision_curve(s.norm_center_err, NORM_PRECISION_THRESHOLDS) for s in used], axis=0)
    return SotCurves(thr_s, succ, PRECISION_THRESHOLDS_PX.copy(), prec, NORM_PRECISION_THRESHOLDS.copy(),
                     nprec, len(used))


def evaluate_sequences(preds: Sequence[Sequence[Optional[np.ndarray]]],
                       gts: Sequence[Sequence[Optional[np.ndarray]]],
                       num_success_points: int = 21, toolkit_compat: bool = False) -> SotCurves:
    """Convenience: per-sequence lists of boxes (or None) -> averaged curves."""
    if len(preds) != len(gts):
        raise FrameCountMismatchError(f"{len(preds)} predicted sequences but {len(gts)} ground-truth sequences")
    return sot_curves([sequence_errors(p, g) for p, g in zip(preds, gts)], num_success_points, toolkit_compat)
