"""Figures of an evaluation: success and precision plots (PNG) and short
annotated videos of the worst clips.

matplotlib is used with the non-interactive Agg backend (no display needed);
videos are written with OpenCV. Drawing uses ``vl_tracking_ros.viz.annotate``
when that module provides ``annotate_frame``; otherwise a minimal local
drawing (ground truth green, predictions orange, the active command as text).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..core.types import TrackerOutput
from .sot_metrics import SotCurves

#: longest video written per worst clip, in frames (keeps --plots output small)
MAX_VIDEO_FRAMES = 150


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_success(curves_by_name: Dict[str, SotCurves], path: Path, title: str = "Success plot") -> Path:
    """Success plot(s) vs overlap threshold, legend ``[AUC] name``; PNG at ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.2), dpi=100)
    for name, c in curves_by_name.items():
        ax.plot(c.success_thresholds, c.success, lw=2, label=f"[{c.auc:.3f}] {name}")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="overlap threshold (IoU)", ylabel="success rate", title=title)
    ax.grid(True, ls=":")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_precision(curves_by_name: Dict[str, SotCurves], path: Path, title: str = "Precision plot") -> Path:
    """Precision plot(s) vs centre-error threshold (px), legend ``[PRE@20] name``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.2, 3.2), dpi=100)
    for name, c in curves_by_name.items():
        ax.plot(c.precision_thresholds_px, c.precision, lw=2, label=f"[{c.pre:.3f}] {name}")
    ax.axvline(20, color="grey", lw=0.8, ls="--")
    ax.set(xlim=(0, 50), ylim=(0, 1.02), xlabel="location error threshold (px)", ylabel="precision", title=title)
    ax.grid(True, ls=":")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _viz_annotate():
    try:
        from ..viz import annotate  # CORE engineer's drawing helpers, when present
    except ImportError:
        return None
    return getattr(annotate, "annotate_frame", None)


def _draw_local(image_rgb: np.ndarray, gt_boxes: Sequence[np.ndarray], output: TrackerOutput,
                caption: str) -> np.ndarray:
    import cv2

    img = np.ascontiguousarray(image_rgb.copy())
    for b in gt_boxes:
        x0, y0, x1, y1 = [int(round(v)) for v in b]
        cv2.rectangle(img, (x0, y0), (x1, y1), (40, 220, 40), 1)
    for tr in output.tracks:
        x0, y0, x1, y1 = [int(round(float(v))) for v in tr.box_xyxy]
        cv2.rectangle(img, (x0, y0), (x1, y1), (255, 140, 0), 2)
        cv2.putText(img, str(tr.track_id), (x0, max(8, y0 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 140, 0), 1)
    cv2.putText(img, caption[:60], (3, img.shape[0] - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    return img


def write_clip_video(clip: Any, outputs: List[TrackerOutput], gt_frames: List[Dict[int, np.ndarray]],
                     sot_gt: List[Optional[np.ndarray]], multi: bool, path: Path,
                     max_frames: int = MAX_VIDEO_FRAMES) -> Path:
    """Annotated video of one clip (first ``max_frames`` frames) at ``path`` (.mp4).

    Raises RuntimeError if OpenCV cannot open a writer.
    """
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = clip.frames[:max_frames]
    h, w = frames[0].image_rgb.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(getattr(clip, "fps", 15.0)), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write video {path}")
    annotate = _viz_annotate()
    try:
        for i, frame in enumerate(frames):
            expr = clip.active_expression(i)
            caption = f"{i}: {expr.text if expr is not None else '(no command)'}"
            if multi:
                gt_boxes = list(gt_frames[i].values())
            else:
                gt_boxes = [] if sot_gt[i] is None else [sot_gt[i]]
            img = None
            if annotate is not None:
                try:
                    img = annotate(frame.image_rgb, outputs[i])
                except TypeError:  # a different signature than expected: fall back to local drawing
                    img = None
            if img is None:
                img = _draw_local(frame.image_rgb, gt_boxes, outputs[i], caption)
            else:
                img = _draw_local(np.asarray(img)[..., :3], gt_boxes, TrackerOutput(), caption)
            writer.write(np.ascontiguousarray(img[:, :, ::-1]))
    finally:
        writer.release()
    return path


def write_suite_plots(result: Any, out_dir: Path) -> List[Path]:
    """Success/precision PNGs (single-target clips) and worst-clip videos.

    result: a :class:`vl_tracking_ros.eval.runner.SuiteResult`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: List[Path] = []
    curves = result.sot_curves()
    if curves is not None:
        name = {result.tracker: curves}
        written.append(plot_success(name, out_dir / f"success_{result.suite}.png", f"Success plot ({result.suite})"))
        written.append(plot_precision(name, out_dir / f"precision_{result.suite}.png",
                                      f"Precision plot ({result.suite})"))
    for rank, (res, clip, outputs) in enumerate(result.worst):
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in res.name)
        written.append(write_clip_video(clip, outputs, res.mot_gt, res.sot_gt, res.multi,
                                        out_dir / f"worst{rank + 1}_{safe}.mp4"))
    return written
