"""Run a tracker preset over a suite and score it.

For every clip the runner does what the ROS node does live: feeds the frames
one by one, and at each scheduled frame parses the clip's command text with
``core.commands.parse_command`` and applies it (``stop`` -> ``clear()``,
otherwise ``set_commands`` with the resulting active queries, so ``also
track ...`` adds) *before* stepping that frame. It collects
one :class:`TrackerOutput` per frame and scores:

* single-target clips ("track ..."): success / precision / normalized
  precision (``sot_metrics``) against ``clip.sot_target_box``;
* referring clips ("track all ..."): HOTA / DetA / AssA and IDF1 / MOTA / ID
  switches (``mot_metrics``) against the active expression's referents;
* both: command-switch latency and relocalization time (``language_metrics``).

Two hooks serve the reference trackers: a tracker with ``attach_clip(clip)``
(the oracle) gets the clip before its first frame; a tracker with
``initialize(frame, box_xyxy, target_id)`` (the classical MIL baseline) is
given the first ground-truth box of each referent after every command.
"""
from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..core.tracker import Tracker
from ..core.types import TrackerOutput, TrackState
from . import language_metrics as lm
from .ground_truth import active_referent_boxes, clip_is_multi, sot_box
from .mot_metrics import (MotSequence, accumulate, clear_identity_from_accumulators, combine_hota,
                          hota_sequence_result)
from .sot_metrics import FrameCountMismatchError, SequenceErrors, sequence_errors, sot_curves


class EvaluationError(RuntimeError):
    """The evaluation cannot produce a trustworthy number (bad clip, bad tracker output)."""


@dataclass
class ClipResult:
    """Everything measured on one clip (predictions kept for re-scoring / plots).

    sot_pred / sot_gt: per-frame (4,) xyxy boxes or None (single-target clips).
    mot_pred / mot_gt: per-frame ``{id: (4,) box}`` (every clip; GT is the
        active expression's present referents).
    command_frames: frames where a (non-stop) command was applied.
    step_s: seconds spent inside ``tracker.step`` (all frames).
    """

    name: str
    num_frames: int
    multi: bool
    conditions: Dict[str, Any]
    command_frames: List[int]
    sot_pred: List[Optional[np.ndarray]]
    sot_gt: List[Optional[np.ndarray]]
    mot_pred: List[Dict[int, np.ndarray]]
    mot_gt: List[Dict[int, np.ndarray]]
    step_s: float
    metrics: Dict[str, Any] = field(default_factory=dict)
    #: derived values (errors, sequences, accumulators) computed once; results never change after scoring
    _cache: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _cached(self, key: str, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def fps(self) -> float:
        return self.num_frames / self.step_s if self.step_s > 0 else float("inf")

    def sot_errors(self) -> SequenceErrors:
        return self._cached("sot_errors", lambda: sequence_errors(self.sot_pred, self.sot_gt))

    def mot_sequence(self) -> MotSequence:
        return self._cached("mot_sequence", lambda: MotSequence.from_frames(self.name, self.mot_gt, self.mot_pred))

    def hota_raw(self) -> Dict[str, Any]:
        """TrackEval's raw per-sequence HOTA result (see ``mot_metrics.combine_hota``)."""
        return self._cached("hota_raw", lambda: hota_sequence_result(self.mot_sequence()))

    def mot_accumulator(self) -> Any:
        """The clip's motmetrics accumulator (IoU >= 0.5 matching)."""
        return self._cached("mot_acc", lambda: accumulate(self.mot_sequence()))

    def locked(self) -> np.ndarray:
        def make() -> np.ndarray:
            if self.multi:
                return lm.multi_locked([np.array(list(p.values())).reshape(-1, 4) for p in self.mot_pred],
                                       [np.array(list(g.values())).reshape(-1, 4) for g in self.mot_gt])
            return lm.sot_locked(self.sot_pred, self.sot_gt)

        return self._cached("locked", make)

    def present(self) -> np.ndarray:
        if self.multi:
            return np.array([len(g) > 0 for g in self.mot_gt], dtype=bool)
        return np.array([g is not None for g in self.sot_gt], dtype=bool)

    def switch_latencies(self) -> List[float]:
        """Latency of every command after the first (the switches)."""
        return lm.switch_latencies(self.locked(), self.command_frames)[1:] if self.command_frames else []

    def relocalization_times(self) -> List[float]:
        return lm.relocalization_times(self.locked(), self.present(), self.command_frames) \
            if self.command_frames else []

    def score_value(self) -> float:
        """One number per clip for ranking (AUC for SOT, HOTA/100 for MOT)."""
        key = "HOTA" if self.multi else "AUC"
        value = self.metrics.get(key)
        if value is None:
            return float("nan")
        return float(value) / (100.0 if self.multi else 1.0)


def sot_prediction(output: TrackerOutput) -> Optional[np.ndarray]:
    """The single-target prediction of one output: the most confident track
    that is not LOST (a LOST track's box is only the last known one), else None."""
    best = None
    for tr in output.tracks:
        if tr.state == TrackState.LOST:
            continue
        if best is None or tr.confidence > best.confidence:
            best = tr
    return None if best is None else np.asarray(best.box_xyxy, dtype=np.float64).reshape(4)


def mot_prediction(output: TrackerOutput) -> Dict[int, np.ndarray]:
    """``{track id: box}`` of the output's tracks that are not LOST."""
    out: Dict[int, np.ndarray] = {}
    for tr in output.tracks:
        if tr.state == TrackState.LOST:
            continue
        if int(tr.track_id) in out:
            raise EvaluationError(f"tracker returned track id {tr.track_id} twice in one frame")
        out[int(tr.track_id)] = np.asarray(tr.box_xyxy, dtype=np.float64).reshape(4)
    return out


def _parse(text: str):
    from ..core.commands import parse_command  # CORE engineer's parser

    return parse_command(text)


def _check_clip(clip: Any) -> None:
    n_frames, n_gt = len(clip.frames), len(clip.gt)
    if n_frames != n_gt:
        raise FrameCountMismatchError(
            f"clip {clip.name!r}: {n_frames} frames but {n_gt} ground-truth frames; refusing to evaluate")
    for frame_index, _text in clip.command_schedule:
        if not 0 <= int(frame_index) < n_frames:
            raise EvaluationError(f"clip {clip.name!r}: command at frame {frame_index} outside 0..{n_frames - 1}")


def score_outputs(clip: Any, outputs: Sequence[TrackerOutput], step_s: float = 0.0,
                  command_frames: Optional[List[int]] = None) -> ClipResult:
    """Score per-frame tracker outputs (one per frame, in order) against ``clip``.

    Raises :class:`FrameCountMismatchError` when ``len(outputs)`` differs from
    the clip's ground-truth frame count: predictions are never realigned.
    """
    _check_clip(clip)
    if len(outputs) != len(clip.gt):
        raise FrameCountMismatchError(
            f"clip {clip.name!r}: {len(outputs)} tracker outputs but {len(clip.gt)} ground-truth frames; "
            "refusing to guess how they align")
    if command_frames is None:
        command_frames = []
        for frame_index, text in sorted(clip.command_schedule, key=lambda c: int(c[0])):
            if _parse(text).action != "stop":
                command_frames.append(int(frame_index))
    multi = clip_is_multi(clip)
    n = len(clip.gt)
    res = ClipResult(
        name=str(clip.name), num_frames=n, multi=multi, conditions=dict(getattr(clip, "conditions", {}) or {}),
        command_frames=sorted(set(command_frames)),
        sot_pred=[sot_prediction(o) for o in outputs], sot_gt=[sot_box(clip, i) for i in range(n)],
        mot_pred=[mot_prediction(o) for o in outputs], mot_gt=[active_referent_boxes(clip, i) for i in range(n)],
        step_s=float(step_s))
    res.metrics = _clip_metrics(res)
    return res


def _clip_metrics(res: ClipResult) -> Dict[str, Any]:
    m: Dict[str, Any] = {}
    if res.multi:
        h = combine_hota([res.hota_raw()])
        c = clear_identity_from_accumulators([res.mot_accumulator()], [res.name])["COMBINED"]
        m.update(HOTA=h["HOTA"], DetA=h["DetA"], AssA=h["AssA"], IDF1=c["IDF1"], MOTA=c["MOTA"], IDsw=c["IDsw"])
    else:
        errs = res.sot_errors()
        if errs.num_present > 0:
            m.update(sot_curves([errs]).summary())
        else:
            m.update(AUC=None, PRE=None, NPRE=None)
        m["present_frames"] = errs.num_present
    m["switch_latencies"] = res.switch_latencies()
    m["reloc_times"] = res.relocalization_times()
    m["fps"] = res.fps
    return m


def run_clip(tracker: Tracker, clip: Any, progress: Any = None) -> ClipResult:
    """Feed ``clip`` through ``tracker`` (commands applied on schedule) and score it.

    progress: an optional tqdm-like object; ``update(1)`` is called per frame.
    """
    _check_clip(clip)
    schedule: Dict[int, List[str]] = {}
    for frame_index, text in clip.command_schedule:
        schedule.setdefault(int(frame_index), []).append(str(text))
    tracker.clear()
    if hasattr(tracker, "attach_clip"):
        tracker.attach_clip(clip)
    needs_init = bool(getattr(tracker, "needs_initialization", False)) and hasattr(tracker, "initialize")
    pending_init: Dict[int, bool] = {}   # referent id -> still waiting for its first visible GT box
    outputs: List[TrackerOutput] = []
    command_frames: List[int] = []
    step_s = 0.0
    multi = clip_is_multi(clip)
    active: List[Any] = []
    for i, frame in enumerate(clip.frames):
        for text in schedule.get(i, []):
            parsed = _parse(text)
            active = parsed.apply_to(active)
            if parsed.action == "stop":
                tracker.clear()
                pending_init = {}
            else:
                tracker.set_commands(list(active))
                command_frames.append(i)
                expr = clip.active_expression(i)
                pending_init = {int(r): True for r in (expr.referent_ids if expr is not None else [])}
                if not multi and expr is not None:
                    pending_init = {int(expr.referent_ids[0]): True}
        if needs_init and pending_init:
            if multi:
                boxes = active_referent_boxes(clip, i)
            else:
                box = sot_box(clip, i)
                boxes = {} if box is None else {next(iter(pending_init)): box}
            for oid, box in boxes.items():
                if pending_init.pop(oid, False):
                    tracker.initialize(frame, box, target_id=oid)
        t0 = time.perf_counter()
        out = tracker.step(frame)
        step_s += time.perf_counter() - t0
        if not isinstance(out, TrackerOutput):
            raise EvaluationError(f"tracker {type(tracker).__name__}.step returned {type(out).__name__}, "
                                  "not TrackerOutput")
        outputs.append(out)
        if progress is not None:
            progress.update(1)
    return score_outputs(clip, outputs, step_s=step_s, command_frames=command_frames)


@dataclass
class SuiteResult:
    """All clips of one suite run, plus the worst clips' outputs for videos."""

    suite: str
    seed: Optional[int]
    tracker: str
    clips: List[ClipResult]
    worst: List[Tuple[ClipResult, Any, List[TrackerOutput]]] = field(default_factory=list)

    def sot_clips(self) -> List[ClipResult]:
        return [c for c in self.clips if not c.multi]

    def mot_clips(self) -> List[ClipResult]:
        return [c for c in self.clips if c.multi]

    def summary(self) -> Dict[str, Any]:
        """The metric keys of the eval JSON (None where not applicable)."""
        out: Dict[str, Any] = {}
        out.update(_sot_summary(self.sot_clips()))
        out.update(_mot_summary(self.mot_clips()))
        switch = [x for c in self.clips for x in c.metrics["switch_latencies"]]
        reloc = [x for c in self.clips for x in c.metrics["reloc_times"]]
        out["switch_latency_median"], out["switch_relock_30"] = lm.latency_summary(switch)
        out["switch_events"] = len(switch)
        out["switch_never_relocked"] = int(sum(1 for x in switch if not np.isfinite(x)))
        out["reloc_time_median"], out["reloc_within_30"] = lm.latency_summary(reloc)
        out["reloc_events"] = len(reloc)
        out["reloc_never"] = int(sum(1 for x in reloc if not np.isfinite(x)))
        total_frames = sum(c.num_frames for c in self.clips)
        total_s = sum(c.step_s for c in self.clips)
        out["fps"] = total_frames / total_s if total_s > 0 else None
        out["frames"] = total_frames
        out["by_condition"] = self.by_condition()
        return out

    def by_condition(self) -> Dict[str, Dict[str, Dict[str, Any]]]:
        groups = lm.group_by_condition(self.clips, lambda c: lm.breakdown_conditions(c.conditions))
        out: Dict[str, Dict[str, Dict[str, Any]]] = {}
        for key, values in groups.items():
            out[key] = {}
            for label, clips in values.items():
                entry: Dict[str, Any] = {"clips": len(clips)}
                entry.update(_sot_summary([c for c in clips if not c.multi]))
                entry.update(_mot_summary([c for c in clips if c.multi]))
                lat = [x for c in clips for x in c.metrics["switch_latencies"]]
                entry["switch_latency_median"], entry["switch_relock_30"] = lm.latency_summary(lat)
                out[key][label] = {k: v for k, v in entry.items() if v is not None}
        return out

    def sot_curves(self):
        """Averaged success/precision curves over the single-target clips, or None."""
        errs = [c.sot_errors() for c in self.sot_clips()]
        errs = [e for e in errs if e.num_present > 0]
        return sot_curves(errs) if errs else None


def _sot_summary(clips: List[ClipResult]) -> Dict[str, Any]:
    errs = [c.sot_errors() for c in clips]
    errs = [e for e in errs if e.num_present > 0]
    if not errs:
        return {"AUC": None, "PRE": None, "NPRE": None}
    s = sot_curves(errs).summary()
    return {"AUC": s["AUC"], "PRE": s["PRE"], "NPRE": s["NPRE"]}


def _mot_summary(clips: List[ClipResult]) -> Dict[str, Any]:
    if not clips:
        return {"HOTA": None, "DetA": None, "AssA": None, "IDF1": None, "MOTA": None, "IDsw": None}
    h = combine_hota([c.hota_raw() for c in clips])
    c = clear_identity_from_accumulators([c.mot_accumulator() for c in clips], [c.name for c in clips])["COMBINED"]
    return {"HOTA": h["HOTA"], "DetA": h["DetA"], "AssA": h["AssA"], "IDF1": c["IDF1"], "MOTA": c["MOTA"],
            "IDsw": c["IDsw"]}


def evaluate_clips(tracker: Tracker, clips: Iterable[Any], suite: str = "", seed: Optional[int] = None,
                   tracker_name: str = "", total_clips: Optional[int] = None, max_clips: Optional[int] = None,
                   keep_worst: int = 0, show_progress: bool = True) -> SuiteResult:
    """Run ``tracker`` over ``clips`` with tqdm progress (clips and frames/s).

    keep_worst: keep the outputs (and clip) of this many lowest-scoring clips
        for annotated videos; costs the memory of those clips' frames.
    """
    from tqdm import tqdm

    total = total_clips if max_clips is None else min(max_clips, total_clips or max_clips)
    results: List[ClipResult] = []
    worst: List[Tuple[float, int, ClipResult, Any, List[TrackerOutput]]] = []
    clip_bar = tqdm(total=total, desc=f"eval {suite or 'clips'} [{tracker_name}]", unit="clip",
                    disable=not show_progress)
    frame_bar = tqdm(desc="frames", unit="frame", disable=not show_progress, leave=False)
    try:
        for k, clip in enumerate(clips):
            if max_clips is not None and k >= max_clips:
                break
            outputs_holder: List[TrackerOutput] = []
            if keep_worst > 0:
                res = _run_clip_keep(tracker, clip, frame_bar, outputs_holder)
            else:
                res = run_clip(tracker, clip, progress=frame_bar)
            results.append(res)
            if keep_worst > 0:
                score = res.score_value()
                item = (-(score if np.isfinite(score) else -1.0), k, res, clip, outputs_holder)
                heapq.heappush(worst, item)
                if len(worst) > keep_worst:
                    heapq.heappop(worst)  # drop the best of the kept ones
            clip_bar.set_postfix(fps=f"{res.fps:.1f}", clip=res.name)
            clip_bar.update(1)
    finally:
        frame_bar.close()
        clip_bar.close()
    if not results:
        raise EvaluationError(f"suite {suite!r}: no clips were evaluated")
    worst_sorted = [(r, c, o) for _, _, r, c, o in sorted(worst, key=lambda x: -x[0])]
    return SuiteResult(suite=suite, seed=seed, tracker=tracker_name, clips=results, worst=worst_sorted)


class _Recorder:
    """Wraps a tracker to keep its outputs (for the worst-clip videos)."""

    def __init__(self, inner: Tracker, sink: List[TrackerOutput]) -> None:
        self._inner = inner
        self._sink = sink
        for hook in ("attach_clip", "initialize"):
            if hasattr(inner, hook):
                setattr(self, hook, getattr(inner, hook))
        self.needs_initialization = getattr(inner, "needs_initialization", False)

    def set_commands(self, queries):
        self._inner.set_commands(queries)

    def clear(self):
        self._inner.clear()

    def step(self, frame):
        out = self._inner.step(frame)
        self._sink.append(out)
        return out


def _run_clip_keep(tracker: Tracker, clip: Any, progress: Any, sink: List[TrackerOutput]) -> ClipResult:
    return run_clip(_Recorder(tracker, sink), clip, progress=progress)  # type: ignore[arg-type]


def evaluate_suite(preset: str, suite_name: str, seed: Optional[int] = None, full: bool = False,
                   device: str = "cpu", modalities: Optional[Sequence[str]] = None,
                   max_clips: Optional[int] = None, keep_worst: int = 0, show_progress: bool = True,
                   tracker_options: Optional[Dict[str, Any]] = None) -> SuiteResult:
    """Build ``preset`` with ``build_tracker`` and evaluate it on suite ``suite_name``.

    Raises ``vl_tracking_ros.data.suites.UnknownSuiteError`` (listing valid
    names) for an unknown suite and ``UnknownPresetError`` for an unknown preset.
    """
    from ..data.suites import get_suite
    from ..trackers.registry import build_tracker

    suite = get_suite(suite_name, seed=seed, full=full)
    options: Dict[str, Any] = {"device": device}
    if modalities is not None:
        options["modalities"] = tuple(modalities)
    options.update(tracker_options or {})
    tracker = build_tracker(preset, **options)
    try:
        result = evaluate_clips(tracker, suite.clips(), suite=suite.name, seed=suite.seed, tracker_name=preset,
                                total_clips=suite.num_clips, max_clips=max_clips, keep_worst=keep_worst,
                                show_progress=show_progress)
    finally:
        tracker.close()
    describe = getattr(tracker, "description", None)
    if callable(describe):
        result.tracker = f"{preset}: {describe()}"
    return result
