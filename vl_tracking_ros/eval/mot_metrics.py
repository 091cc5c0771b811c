"""Multi-object (referring) tracking metrics.

* HOTA / DetA / AssA (Luiten et al., IJCV 2021) computed by the TrackEval
  library itself (``trackeval.metrics.HOTA``). We build TrackEval's
  per-sequence data structure in memory (contiguous 0-based IDs per sequence,
  per-frame IoU similarity matrices) instead of writing MOTChallenge folders,
  then combine sequences with TrackEval's own ``combine_sequences`` (HOTA over
  the whole suite, not a mean of per-sequence HOTA). This is what TrackEval's
  MOTChallenge path does after it has read and pre-processed the files, minus
  the MOT17-specific class / distractor filtering that synthetic clips do not
  need; ``test/unit/eval/test_mot_metrics.py`` checks the two agree.
* IDF1 / MOTA / ID switches via ``motmetrics`` (matching threshold IoU >= 0.5,
  the MOTChallenge setting).

numpy 2: trackeval 1.3.0 (the pinned version) no longer uses the removed
``np.float``/``np.int`` aliases, so no shim is needed for it. motmetrics
1.4.0's ``distances.iou_matrix`` calls the removed ``np.asfarray``; we never
call it and hand motmetrics our own distance matrix instead.

All boxes are ``xyxy`` float pixels; scores are reported in percent (0..100)
for HOTA/DetA/AssA/IDF1/MOTA as the MOT literature prints them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from .sot_metrics import FrameCountMismatchError, iou_matrix_xyxy

#: motmetrics matching threshold: a hypothesis matches an object iff IoU >= this
MOT_IOU_THRESHOLD = 0.5


@dataclass
class MotSequence:
    """Ground truth and predictions of one sequence, frame by frame.

    gt_ids[t]: (G_t,) int64 object IDs; gt_boxes_xyxy[t]: (G_t, 4) float64 px.
    pred_ids[t]: (P_t,) int64 track IDs; pred_boxes_xyxy[t]: (P_t, 4) float64 px.
    IDs are arbitrary integers (GT and prediction IDs live in separate spaces).
    """

    name: str
    gt_ids: List[np.ndarray] = field(default_factory=list)
    gt_boxes_xyxy: List[np.ndarray] = field(default_factory=list)
    pred_ids: List[np.ndarray] = field(default_factory=list)
    pred_boxes_xyxy: List[np.ndarray] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.gt_ids)

    @classmethod
    def from_frames(cls, name: str, gt_frames: Sequence[Mapping[int, np.ndarray]],
                    pred_frames: Sequence[Mapping[int, np.ndarray]]) -> "MotSequence":
        """Build from per-frame ``{id: (4,) xyxy box}`` dicts (one per frame).

        Raises :class:`FrameCountMismatchError` when the two lists differ in
        length, ValueError on a malformed box.
        """
        if len(gt_frames) != len(pred_frames):
            raise FrameCountMismatchError(
                f"sequence {name!r}: {len(pred_frames)} predicted frames but {len(gt_frames)} ground-truth "
                "frames; refusing to align them")
        seq = cls(name)
        for t, (g, p) in enumerate(zip(gt_frames, pred_frames)):
            for what, d, ids_out, boxes_out in (("ground-truth", g, seq.gt_ids, seq.gt_boxes_xyxy),
                                                ("predicted", p, seq.pred_ids, seq.pred_boxes_xyxy)):
                ids = np.array(sorted(int(k) for k in d), dtype=np.int64)
                boxes = np.array([np.asarray(d[k], dtype=np.float64).reshape(-1) for k in sorted(d)],
                                 dtype=np.float64).reshape(-1, 4) if len(d) else np.zeros((0, 4))
                if boxes.shape[0] != ids.shape[0] or not np.all(np.isfinite(boxes)):
                    raise ValueError(f"sequence {name!r} frame {t}: malformed {what} boxes {d!r}")
                ids_out.append(ids)
                boxes_out.append(boxes)
        return seq

    def validate(self) -> None:
        n = len(self.gt_ids)
        lens = {len(self.gt_boxes_xyxy), len(self.pred_ids), len(self.pred_boxes_xyxy)}
        if lens != {n}:
            raise FrameCountMismatchError(
                f"sequence {self.name!r}: ground truth has {n} frames but the other per-frame lists have "
                f"{sorted(lens)}; refusing to align them")


def _trackeval_data(seq: MotSequence) -> Dict[str, object]:
    """TrackEval's per-sequence dict (what its datasets' get_preprocessed_seq_data returns)."""
    seq.validate()
    gt_uid = {int(k): i for i, k in enumerate(sorted({int(x) for ids in seq.gt_ids for x in ids}))}
    tr_uid = {int(k): i for i, k in enumerate(sorted({int(x) for ids in seq.pred_ids for x in ids}))}
    gt_ids, tr_ids, sims = [], [], []
    for g_ids, g_boxes, p_ids, p_boxes in zip(seq.gt_ids, seq.gt_boxes_xyxy, seq.pred_ids, seq.pred_boxes_xyxy):
        gt_ids.append(np.array([gt_uid[int(x)] for x in g_ids], dtype=int))
        tr_ids.append(np.array([tr_uid[int(x)] for x in p_ids], dtype=int))
        sims.append(iou_matrix_xyxy(g_boxes, p_boxes))
    return {
        "num_timesteps": seq.num_frames,
        "num_gt_ids": len(gt_uid),
        "num_tracker_ids": len(tr_uid),
        "num_gt_dets": int(sum(len(x) for x in gt_ids)),
        "num_tracker_dets": int(sum(len(x) for x in tr_ids)),
        "gt_ids": gt_ids,
        "tracker_ids": tr_ids,
        "similarity_scores": sims,
        "seq": seq.name,
    }


_HOTA_FIELDS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA")


def hota_sequence_result(seq: MotSequence) -> Dict[str, object]:
    """TrackEval's raw HOTA result of one sequence (arrays over the 19 alphas);
    combine several with :func:`combine_hota`."""
    from trackeval.metrics import HOTA  # imported lazily: heavy and only needed here

    return HOTA().eval_sequence(_trackeval_data(seq))


def combine_hota(raw_results: Sequence[Dict[str, object]]) -> Dict[str, float]:
    """TrackEval's ``combine_sequences`` over raw per-sequence results ->
    HOTA, DetA, AssA, DetRe, DetPr, AssRe, AssPr, LocA in percent."""
    from trackeval.metrics import HOTA

    if not raw_results:
        raise ValueError("no sequences to score")
    combined = HOTA().combine_sequences({str(i): r for i, r in enumerate(raw_results)})
    return {f: 100.0 * float(np.mean(combined[f])) for f in _HOTA_FIELDS}


def hota_details(sequences: Sequence[MotSequence]) -> Dict[str, Dict[str, float]]:
    """TrackEval HOTA per sequence and combined.

    Returns ``{"COMBINED": {...}, <seq name>: {...}}``, each with HOTA, DetA,
    AssA, DetRe, DetPr, AssRe, AssPr, LocA in percent (mean over TrackEval's
    19 alpha thresholds 0.05..0.95).
    """
    per_seq: Dict[str, Dict[str, object]] = {}
    for i, seq in enumerate(sequences):
        key = seq.name if seq.name not in per_seq else f"{seq.name}#{i}"
        per_seq[key] = hota_sequence_result(seq)
    if not per_seq:
        raise ValueError("no sequences to score")
    out = {"COMBINED": combine_hota(list(per_seq.values()))}
    for k, v in per_seq.items():
        out[k] = {f: 100.0 * float(np.mean(v[f])) for f in _HOTA_FIELDS}
    return out


def hota(sequences: Sequence[MotSequence]) -> Dict[str, float]:
    """Combined HOTA / DetA / AssA (and sub-metrics) in percent over ``sequences``."""
    return hota_details(sequences)["COMBINED"]


def accumulate(seq: MotSequence, iou_threshold: float = MOT_IOU_THRESHOLD):
    """A ``motmetrics.MOTAccumulator`` of one sequence (reusable across groupings).

    ``iou_threshold``: minimum IoU for a match; raising it makes MOTA/IDF1
    stricter on localisation.
    """
    import motmetrics as mm

    seq.validate()
    acc = mm.MOTAccumulator(auto_id=True)
    for g_ids, g_boxes, p_ids, p_boxes in zip(seq.gt_ids, seq.gt_boxes_xyxy, seq.pred_ids, seq.pred_boxes_xyxy):
        dist = 1.0 - iou_matrix_xyxy(g_boxes, p_boxes)
        dist[dist > 1.0 - iou_threshold + 1e-12] = np.nan  # not a candidate match
        acc.update(g_ids.tolist(), p_ids.tolist(), dist)
    return acc


def clear_identity_from_accumulators(accumulators: Sequence[object], names: Sequence[str]
                                     ) -> Dict[str, Dict[str, float]]:
    """Like :func:`clear_identity` for accumulators built with :func:`accumulate`."""
    import motmetrics as mm

    if not accumulators:
        raise ValueError("no sequences to score")
    uniq: List[str] = []
    for i, n in enumerate(names):
        uniq.append(n if n not in uniq else f"{n}#{i}")
    mh = mm.metrics.create()
    metrics = ["idf1", "mota", "motp", "num_switches", "num_false_positives", "num_misses", "num_objects"]
    df = mh.compute_many(list(accumulators), metrics=metrics, names=uniq, generate_overall=True)
    out: Dict[str, Dict[str, float]] = {}

    def _f(x: object, scale: float = 1.0) -> Optional[float]:
        x = float(x)
        return None if not np.isfinite(x) else scale * x

    for row_name in df.index:
        row = df.loc[row_name]
        key = "COMBINED" if row_name == "OVERALL" else str(row_name)
        out[key] = {
            "IDF1": _f(row["idf1"], 100.0), "MOTA": _f(row["mota"], 100.0), "MOTP": _f(row["motp"]),
            "IDsw": int(row["num_switches"]), "FP": int(row["num_false_positives"]),
            "FN": int(row["num_misses"]), "num_gt": int(row["num_objects"]),
        }
    return out


def clear_identity(sequences: Sequence[MotSequence], iou_threshold: float = MOT_IOU_THRESHOLD
                   ) -> Dict[str, Dict[str, float]]:
    """IDF1, MOTA (percent), ID switches, FP, FN via motmetrics.

    Returns ``{"COMBINED": {...}, <seq name>: {...}}`` with keys IDF1, MOTA,
    MOTP (mean 1-IoU of matches), IDsw, FP, FN, num_gt.
    """
    if not sequences:
        raise ValueError("no sequences to score")
    return clear_identity_from_accumulators([accumulate(s, iou_threshold) for s in sequences],
                                            [s.name for s in sequences])


def mot_summary(sequences: Sequence[MotSequence]) -> Dict[str, object]:
    """Everything the eval JSON needs: HOTA, DetA, AssA, IDF1, MOTA, IDsw (combined)."""
    h = hota(sequences)
    c = clear_identity(sequences)["COMBINED"]
    return {"HOTA": h["HOTA"], "DetA": h["DetA"], "AssA": h["AssA"], "LocA": h["LocA"],
            "IDF1": c["IDF1"], "MOTA": c["MOTA"], "IDsw": c["IDsw"], "FP": c["FP"], "FN": c["FN"]}
