"""Single-object tracking layouts: LaSOT, TNL2K, OTB99-lang (readers) and a
LaSOT-style writer.

LaSOT ``<root>/<class>/<class>-<k>/``: ``img/00000001.jpg``,
``groundtruth.txt`` (x,y,w,h per line, 1-based pixels as published),
``full_occlusion.txt`` / ``out_of_view.txt`` (comma-separated 0/1 flags),
``nlp.txt`` (one sentence).

TNL2K ``<root>/<seq>/``: ``imgs/*.jpg|png``, ``groundtruth.txt``,
``language.txt``.

OTB99-lang: OTB100 ``<root>/<Seq>/img/0001.jpg`` + ``groundtruth_rect.txt``
(comma, tab or space separated) with sentences in
``<query_root>/<Seq>.txt`` (the ``OTB_query_train`` / ``OTB_query_test``
folders); sequences whose annotation starts later than the first image use
only the annotated frames.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Union

import numpy as np

from .common import (DatasetFormatError, SOTSequence, absent_from_boxes, check_count, find_sequences, list_frames,
                     parse_flag_file, parse_number_lines, read_text_line)

PathLike = Union[str, Path]


def read_lasot_sequence(seq_dir: PathLike) -> SOTSequence:
    """One LaSOT sequence folder."""
    seq_dir = Path(seq_dir)
    frames = list_frames(seq_dir / "img")
    gt_path = seq_dir / "groundtruth.txt"
    boxes = parse_number_lines(gt_path, 4, max_cols=4)
    check_count(gt_path, len(boxes), len(frames))
    absent = absent_from_boxes(boxes)
    for flag_name in ("full_occlusion.txt", "out_of_view.txt"):
        if (seq_dir / flag_name).exists():
            absent |= parse_flag_file(seq_dir / flag_name, len(frames))
    boxes = boxes.astype(np.float32)
    boxes[absent] = np.nan
    return SOTSequence(name=seq_dir.name, frames=frames, boxes_xywh=boxes, absent=absent,
                       language=read_text_line(seq_dir / "nlp.txt"), dataset="lasot")


def read_tnl2k_sequence(seq_dir: PathLike) -> SOTSequence:
    """One TNL2K sequence folder (``imgs/``, ``groundtruth.txt``, ``language.txt``)."""
    seq_dir = Path(seq_dir)
    frames = list_frames(seq_dir / "imgs")
    gt_path = seq_dir / "groundtruth.txt"
    boxes = parse_number_lines(gt_path, 4, max_cols=4)
    check_count(gt_path, len(boxes), len(frames))
    absent = absent_from_boxes(boxes)
    boxes = boxes.astype(np.float32)
    boxes[absent] = np.nan
    return SOTSequence(name=seq_dir.name, frames=frames, boxes_xywh=boxes, absent=absent,
                       language=read_text_line(seq_dir / "language.txt"), dataset="tnl2k")


def read_otb_lang_sequence(seq_dir: PathLike, query_root: Optional[PathLike] = None) -> SOTSequence:
    """One OTB99-lang sequence: OTB100 folder plus its sentence file.

    query_root: folder with ``<Seq>.txt`` sentences; when None, the reader
    looks for ``OTB_query_test`` / ``OTB_query_train`` next to the sequence's
    parent folder.
    """
    seq_dir = Path(seq_dir)
    frames = list_frames(seq_dir / "img")
    gt_path = seq_dir / "groundtruth_rect.txt"
    boxes = parse_number_lines(gt_path, 4, max_cols=4)
    if len(boxes) > len(frames):
        raise DatasetFormatError(gt_path, f"has {len(boxes)} annotation lines but only {len(frames)} frames")
    frames = frames[len(frames) - len(boxes):] if len(boxes) < len(frames) else frames
    absent = absent_from_boxes(boxes)
    boxes = boxes.astype(np.float32)
    boxes[absent] = np.nan
    candidates = [Path(query_root)] if query_root is not None else \
        [seq_dir.parent.parent / n for n in ("OTB_query_test", "OTB_query_train")] + \
        [seq_dir.parent / n for n in ("OTB_query_test", "OTB_query_train")]
    language = None
    for q in candidates:
        language = read_text_line(q / f"{seq_dir.name}.txt")
        if language:
            break
    return SOTSequence(name=seq_dir.name, frames=frames, boxes_xywh=boxes, absent=absent, language=language,
                       dataset="otb99-lang")


def list_lasot(root: PathLike) -> List[Path]:
    """Sequence folders of a LaSOT(-style) tree (folders holding groundtruth.txt and img/)."""
    return [p for p in find_sequences(Path(root), "groundtruth.txt") if (p / "img").is_dir()]


def list_tnl2k(root: PathLike) -> List[Path]:
    return [p for p in find_sequences(Path(root), "groundtruth.txt") if (p / "imgs").is_dir()]


def write_lasot_sequence(seq_dir: PathLike, images_rgb: Iterable[np.ndarray], boxes_xyxy: np.ndarray,
                         language: str, full_occlusion: Optional[np.ndarray] = None,
                         out_of_view: Optional[np.ndarray] = None, image_format: str = "png") -> Path:
    """Write a LaSOT-style folder: ``img/%08d.<fmt>``, ``groundtruth.txt``
    (x,y,w,h with two decimals; "0,0,0,0" where the box is NaN), flag files
    and ``nlp.txt``.

    images_rgb: iterable of (H, W, 3) uint8 RGB; boxes_xyxy: (N, 4) float
    pixels with NaN rows where the target is absent.
    """
    import cv2

    if image_format not in ("png", "jpg"):
        raise ValueError(f"image_format must be png or jpg, got {image_format!r}")
    seq_dir = Path(seq_dir)
    (seq_dir / "img").mkdir(parents=True, exist_ok=True)
    n = 0
    for n, img in enumerate(images_rgb, start=1):
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if image_format == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
        path = seq_dir / "img" / f"{n:08d}.{image_format}"
        if not cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1]), params):
            raise OSError(f"cannot write frame {n} to {seq_dir / 'img'}")
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    if len(boxes) != n:
        raise ValueError(f"{len(boxes)} boxes for {n} frames")
    lines = []
    for b in boxes:
        if not np.all(np.isfinite(b)):
            lines.append("0,0,0,0")
        else:
            lines.append(f"{b[0]:.2f},{b[1]:.2f},{b[2] - b[0]:.2f},{b[3] - b[1]:.2f}")
    (seq_dir / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    absent = ~np.all(np.isfinite(boxes), axis=1)
    occ = absent if full_occlusion is None else np.asarray(full_occlusion, bool)
    oov = np.zeros(n, bool) if out_of_view is None else np.asarray(out_of_view, bool)
    (seq_dir / "full_occlusion.txt").write_text(",".join("1" if v else "0" for v in occ) + "\n")
    (seq_dir / "out_of_view.txt").write_text(",".join("1" if v else "0" for v in oov) + "\n")
    (seq_dir / "nlp.txt").write_text(language.strip() + "\n")
    return seq_dir
