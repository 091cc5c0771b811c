"""Refer-KITTI / Refer-KITTI-V2 layout: reader and writer.

::

    <root>/KITTI/training/image_02/<video>/000000.png
    <root>/KITTI/labels_with_ids/image_02/<video>/000000.txt   # per frame
    <root>/expression/<video>/<sentence>.json

Label lines are ``class track_id x/W y/H w/W h/H`` (top-left corner and size,
normalised by the image size). An expression JSON is ``{"label": {"<frame>":
[track ids]}, "ignore": {...}, "video_name": "<video>", "sentence": "..."}``
with frame numbers as in the file names (0-based).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple, Union

import numpy as np

from .common import DatasetFormatError, list_frames, load_image, parse_number_lines

PathLike = Union[str, Path]


@dataclass
class ReferExpression:
    """One expression: sentence and, per 0-based frame number, the referred track ids."""

    sentence: str
    label: Dict[int, List[int]]
    ignore: Dict[int, List[int]] = field(default_factory=dict)
    path: Path = Path()

    def referents(self, frame: int) -> List[int]:
        return list(self.label.get(int(frame), []))


@dataclass
class ReferSequence:
    """A Refer-KITTI video: frames, per-frame labelled boxes and expressions.

    labels: frame number -> (track_ids (K,) int64, boxes_xyxy (K, 4) float32
    pixels, classes (K,) int64); frames without a label file map to empty arrays.
    """

    video: str
    frames: List[Path]
    frame_numbers: List[int]
    width: int
    height: int
    labels: Dict[int, Tuple[np.ndarray, np.ndarray, np.ndarray]]
    expressions: List[ReferExpression]

    def __len__(self) -> int:
        return len(self.frames)


def _frame_number(p: Path) -> int:
    try:
        return int(p.stem)
    except ValueError:
        raise DatasetFormatError(p, "frame file name is not a frame number") from None


def read_expression(path: PathLike) -> ReferExpression:
    """One expression JSON (errors name the file)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(path, f"cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(path, f"invalid JSON: {exc.msg}", exc.lineno) from exc
    if not isinstance(data, dict) or "sentence" not in data or "label" not in data:
        raise DatasetFormatError(path, "expression JSON needs 'sentence' and 'label' keys")

    def frames(d) -> Dict[int, List[int]]:
        if isinstance(d, list):         # some releases store "ignore": []
            return {}
        try:
            return {int(k): [int(i) for i in v] for k, v in dict(d).items()}
        except (TypeError, ValueError) as exc:
            raise DatasetFormatError(path, f"label keys must be frame numbers and values id lists: {exc}") from exc
    return ReferExpression(sentence=str(data["sentence"]), label=frames(data["label"]),
                           ignore=frames(data.get("ignore", {})), path=path)


def read_refer_kitti(root: PathLike, video: str) -> ReferSequence:
    """Read video ``video`` (e.g. "0005") of a Refer-KITTI(-V2) tree."""
    root = Path(root)
    img_dir = root / "KITTI" / "training" / "image_02" / video
    frames = list_frames(img_dir)
    numbers = [_frame_number(p) for p in frames]
    h, w = load_image(frames[0]).shape[:2]
    label_dir = root / "KITTI" / "labels_with_ids" / "image_02" / video
    if not label_dir.is_dir():
        raise DatasetFormatError(label_dir, "labels_with_ids folder is missing")
    labels = {}
    for num in numbers:
        path = label_dir / f"{num:06d}.txt"
        if not path.exists() or path.stat().st_size == 0:
            labels[num] = (np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.int64))
            continue
        rows = parse_number_lines(path, 6, max_cols=6)
        boxes = np.stack([rows[:, 2] * w, rows[:, 3] * h, (rows[:, 2] + rows[:, 4]) * w,
                          (rows[:, 3] + rows[:, 5]) * h], axis=1).astype(np.float32)
        labels[num] = (rows[:, 1].astype(np.int64), boxes, rows[:, 0].astype(np.int64))
    expr_dir = root / "expression" / video
    if not expr_dir.is_dir():
        raise DatasetFormatError(expr_dir, "expression folder is missing")
    expressions = [read_expression(p) for p in sorted(expr_dir.glob("*.json"))]
    return ReferSequence(video=video, frames=frames, frame_numbers=numbers, width=w, height=h, labels=labels,
                         expressions=expressions)


def list_refer_kitti(root: PathLike) -> List[str]:
    """Video names that have expressions."""
    d = Path(root) / "expression"
    if not d.is_dir():
        raise DatasetFormatError(d, "expression folder is missing")
    return sorted(p.name for p in d.iterdir() if p.is_dir())


def write_refer_kitti(root: PathLike, video: str, images_rgb: Iterable[np.ndarray],
                      labels: Sequence[Tuple[np.ndarray, np.ndarray, np.ndarray]],
                      expressions: Iterable[Tuple[str, Mapping[int, Sequence[int]]]]) -> Path:
    """Write one video in the Refer-KITTI layout.

    labels[i]: (track_ids, boxes_xyxy pixels, classes) of frame i;
    expressions: (sentence, {frame: [ids]}) pairs. Returns ``root``.
    """
    import cv2

    root = Path(root)
    img_dir = root / "KITTI" / "training" / "image_02" / video
    lab_dir = root / "KITTI" / "labels_with_ids" / "image_02" / video
    exp_dir = root / "expression" / video
    for d in (img_dir, lab_dir, exp_dir):
        d.mkdir(parents=True, exist_ok=True)
    n = 0
    for i, img in enumerate(images_rgb):
        n = i + 1
        h, w = img.shape[:2]
        if not cv2.imwrite(str(img_dir / f"{i:06d}.png"), np.ascontiguousarray(img[..., ::-1])):
            raise OSError(f"cannot write frame {i} to {img_dir}")
        ids, boxes, classes = labels[i]
        lines = [f"{int(c)} {int(t)} {b[0] / w:.6f} {b[1] / h:.6f} {(b[2] - b[0]) / w:.6f} {(b[3] - b[1]) / h:.6f}"
                 for t, b, c in zip(ids, np.asarray(boxes, np.float64).reshape(-1, 4), classes)]
        (lab_dir / f"{i:06d}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    if n != len(labels):
        raise ValueError(f"{len(labels)} label frames for {n} images")
    for k, (sentence, label) in enumerate(expressions):
        safe = "".join(ch if ch.isalnum() else "-" for ch in sentence).strip("-")[:80] or f"expr{k}"
        data = {"label": {str(int(f)): [int(i) for i in ids] for f, ids in label.items()}, "ignore": {},
                "video_name": video, "sentence": sentence}
        (exp_dir / f"{safe}.json").write_text(json.dumps(data))
    return root
