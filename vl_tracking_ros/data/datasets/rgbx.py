"""RGB-X single-object layouts: LasHeR (RGB-thermal), DepthTrack (RGB-depth),
VisEvent (RGB-event).

LasHeR ``<seq>/visible/*.jpg``, ``<seq>/infrared/*.jpg``, ``visible.txt`` and
``infrared.txt`` (x,y,w,h per frame; the two boxes differ slightly because
the cameras are not perfectly aligned).

DepthTrack ``<seq>/color/00000001.jpg``, ``<seq>/depth/00000001.png``
(16-bit millimetres), ``groundtruth.txt`` (x,y,w,h; "nan,nan,nan,nan" where
the target is absent).

VisEvent ``<seq>/vis_imgs/frame0000.bmp``, ``<seq>/event_imgs/frame0000.bmp``,
``groundtruth.txt`` and optional ``absent_label.txt`` (one 0/1 per line, 1 =
target present, despite the name; all-zero boxes also mean absent).
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from .common import (DatasetFormatError, SOTSequence, absent_from_boxes, check_count, list_frames, parse_flag_file,
                     parse_number_lines)

PathLike = Union[str, Path]


def _boxes(path: Path, n: int):
    boxes = parse_number_lines(path, 4, max_cols=4)
    check_count(path, len(boxes), n)
    absent = absent_from_boxes(boxes)
    boxes = boxes.astype(np.float32)
    boxes[absent] = np.nan
    return boxes, absent


def _same_count(seq_dir: Path, a, b, what: str) -> None:
    if len(a) != len(b):
        raise DatasetFormatError(seq_dir, f"{what}: {len(a)} vs {len(b)} frames")


def read_lasher_sequence(seq_dir: PathLike) -> SOTSequence:
    """One LasHeR sequence (boxes from visible.txt; infrared boxes in aux_boxes_xywh)."""
    seq_dir = Path(seq_dir)
    vis = list_frames(seq_dir / "visible", "visible")
    ir = list_frames(seq_dir / "infrared", "infrared")
    _same_count(seq_dir, vis, ir, "visible and infrared frame counts differ")
    boxes, absent = _boxes(seq_dir / "visible.txt", len(vis))
    aux_boxes = {}
    if (seq_dir / "infrared.txt").exists():
        aux_boxes["thermal"], _ = _boxes(seq_dir / "infrared.txt", len(ir))
    return SOTSequence(name=seq_dir.name, frames=vis, boxes_xywh=boxes, absent=absent, aux_frames={"thermal": ir},
                       aux_boxes_xywh=aux_boxes, dataset="lasher")


def read_depthtrack_sequence(seq_dir: PathLike) -> SOTSequence:
    """One DepthTrack sequence (depth PNGs are 16-bit millimetres: divide by 1000 for metres)."""
    seq_dir = Path(seq_dir)
    color = list_frames(seq_dir / "color", "color")
    depth = list_frames(seq_dir / "depth", "depth")
    _same_count(seq_dir, color, depth, "color and depth frame counts differ")
    boxes, absent = _boxes(seq_dir / "groundtruth.txt", len(color))
    return SOTSequence(name=seq_dir.name, frames=color, boxes_xywh=boxes, absent=absent, aux_frames={"depth": depth},
                       dataset="depthtrack")


def read_visevent_sequence(seq_dir: PathLike) -> SOTSequence:
    """One VisEvent sequence (event frames as images; raw .aedat4 is not read)."""
    seq_dir = Path(seq_dir)
    vis = list_frames(seq_dir / "vis_imgs", "vis_imgs")
    ev = list_frames(seq_dir / "event_imgs", "event_imgs")
    _same_count(seq_dir, vis, ev, "vis_imgs and event_imgs frame counts differ")
    boxes, absent = _boxes(seq_dir / "groundtruth.txt", len(vis))
    if (seq_dir / "absent_label.txt").exists():
        # despite its name, absent_label.txt holds 1 where the target is PRESENT
        present = parse_flag_file(seq_dir / "absent_label.txt", len(vis))
        absent = absent | ~present
        boxes[absent] = np.nan
    return SOTSequence(name=seq_dir.name, frames=vis, boxes_xywh=boxes, absent=absent, aux_frames={"event": ev},
                       dataset="visevent")


def depth_png_to_m(depth_mm: np.ndarray) -> np.ndarray:
    """(H, W) uint16 millimetres -> (H, W) float32 metres, NaN where 0."""
    d = depth_mm.astype(np.float32) * np.float32(0.001)
    d[depth_mm == 0] = np.nan
    return d
