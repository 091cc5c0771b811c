"""Figures of an evaluation: success and precision plots (PNG) and short
annotated videos of the worst clips.

matplotlib is used with the non-interactive Agg backend (no display needed);
videos through ``vl_tracking_ros.viz.annotate`` (its ``annotate`` and
``VideoWriter``), with the ground truth added in thin green; a minimal local
OpenCV drawing is used only if the viz module cannot be imported.
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
    ax.legend(loc="upper right", bbox_to_anchor=(1.0, 0.95), fontsize=8)
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


def _draw_gt(image_rgb: np.ndarray, gt_boxes: Sequence[np.ndarray]) -> np.ndarray:
    """Copy of the image with ground-truth boxes drawn thin green."""
    import cv2

    img = np.ascontiguousarray(np.asarray(image_rgb).copy())
    for b in gt_boxes:
        x0, y0, x1, y1 = [int(round(float(v))) for v in b]
        cv2.rectangle(img, (x0, y0), (x1, y1), (40, 220, 40), 1)
    return img


def _draw_local(image_rgb: np.ndarray, output: TrackerOutput, caption: str) -> np.ndarray:
    """Minimal drawing used when ``vl_tracking_ros.viz`` is not importable."""
    import cv2

    img = np.ascontiguousarray(image_rgb.copy())
    for tr in output.tracks:
        x0, y0, x1, y1 = [int(round(float(v))) for v in tr.box_xyxy]
        cv2.rectangle(img, (x0, y0), (x1, y1), (255, 140, 0), 2)
        cv2.putText(img, str(tr.track_id), (x0, max(8, y0 - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 140, 0), 1)
    cv2.putText(img, caption[:60], (3, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1)
    return img


def write_clip_video(clip: Any, outputs: List[TrackerOutput], gt_frames: List[Dict[int, np.ndarray]],
                     sot_gt: List[Optional[np.ndarray]], multi: bool, path: Path,
                     max_frames: int = MAX_VIDEO_FRAMES) -> Path:
    """Annotated video of one clip (first ``max_frames`` frames); returns the path written.

    Ground truth is drawn thin green, predictions by ``viz.annotate`` (or a
    minimal local drawing if the viz module is unavailable). ``.mp4`` falls
    back to ``.gif`` where OpenCV has no MP4 codec (see ``viz.VideoWriter``).
    """
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = clip.frames[:max_frames]
    try:
        from ..viz.annotate import VideoWriter, annotate
    except ImportError:
        VideoWriter = annotate = None
    fps = float(getattr(clip, "fps", 15.0))
    if VideoWriter is not None:
        writer = VideoWriter(str(path), fps=fps)
    else:
        h, w = frames[0].image_rgb.shape[:2]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write video {path}")
    written = str(path)
    try:
        for i, frame in enumerate(frames):
            expr = clip.active_expression(i)
            command = expr.command if expr is not None and hasattr(expr, "command") else \
                (expr.text if expr is not None else "")
            gt_boxes = list(gt_frames[i].values()) if multi else ([] if sot_gt[i] is None else [sot_gt[i]])
            img = _draw_gt(frame.image_rgb, gt_boxes)
            if annotate is not None:
                img = annotate(img, outputs[i], commands=[command] if command else [],
                               mode_text=f"{getattr(clip, 'name', '')} frame {i}  (green: ground truth)")
                writer.write(img)
            else:
                img = _draw_local(img, outputs[i], f"{i}: {command or '(no command)'}")
                writer.write(np.ascontiguousarray(img[:, :, ::-1]))
    finally:
        if VideoWriter is not None:
            written = writer.close()
        else:
            writer.release()
    return Path(written)


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
