"""MOTChallenge layout (MOT17 and the like): reader and writer.

``<seq>/img1/000001.jpg``, ``<seq>/seqinfo.ini``, ``<seq>/gt/gt.txt`` with
rows ``frame, id, x, y, w, h, consider, class, visibility`` (frames 1-based)
and ``<seq>/det/det.txt`` with ``frame, -1, x, y, w, h, score, ...``.
"""
from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Tuple, Union

import numpy as np

from .common import DatasetFormatError, list_frames, parse_number_lines

PathLike = Union[str, Path]

#: MOT17 class ids counted as targets (pedestrian) and as distractors (ignored by the benchmark)
MOT17_PEDESTRIAN = 1
MOT17_DISTRACTORS = (2, 7, 8, 12)


@dataclass
class MOTSequence:
    """A MOTChallenge sequence.

    gt / det: (M, 10) float64 rows ``frame(1-based), id, x, y, w, h, conf,
    class, visibility, -`` (missing columns NaN); None when the file is absent.
    """

    name: str
    frames: List[Path]
    fps: float
    width: int
    height: int
    gt: Optional[np.ndarray]
    det: Optional[np.ndarray]

    def __len__(self) -> int:
        return len(self.frames)

    def gt_frame(self, frame_index: int, classes: Tuple[int, ...] = (MOT17_PEDESTRIAN,),
                 only_considered: bool = True) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids (K,) int64, boxes_xyxy (K, 4) float32, visibility (K,) float32)
        of 0-based frame ``frame_index``; by default only considered pedestrians."""
        if self.gt is None:
            raise DatasetFormatError(self.name, "sequence has no gt/gt.txt")
        rows = self.gt[self.gt[:, 0] == frame_index + 1]
        if only_considered:
            rows = rows[rows[:, 6] != 0]
        if classes and not np.all(np.isnan(rows[:, 7])):
            rows = rows[np.isin(rows[:, 7], classes)]
        boxes = rows[:, 2:6].astype(np.float32)
        boxes[:, 2:] += boxes[:, :2]
        return rows[:, 1].astype(np.int64), boxes, np.nan_to_num(rows[:, 8], nan=1.0).astype(np.float32)


def _rows(path: Path, n_frames: int) -> np.ndarray:
    rows = parse_number_lines(path, 6)
    out = np.full((len(rows), 10), np.nan)
    out[:, :min(10, rows.shape[1])] = rows[:, :10]
    bad = np.flatnonzero((out[:, 0] < 1) | (out[:, 0] > n_frames) | (out[:, 0] != np.round(out[:, 0])))
    if bad.size:
        raise DatasetFormatError(path, f"frame number {out[bad[0], 0]:g} outside 1..{n_frames}", int(bad[0]) + 1)
    bad = np.flatnonzero(~np.all(np.isfinite(out[:, 2:6]), axis=1))
    if bad.size:
        raise DatasetFormatError(path, "box x, y, w, h must be finite numbers", int(bad[0]) + 1)
    return out


def read_mot_sequence(seq_dir: PathLike) -> MOTSequence:
    """Read a MOTChallenge sequence folder."""
    seq_dir = Path(seq_dir)
    ini = seq_dir / "seqinfo.ini"
    info = {"imdir": "img1", "framerate": "30", "imwidth": "0", "imheight": "0", "name": seq_dir.name}
    if ini.is_file():
        cp = configparser.ConfigParser()
        try:
            cp.read(ini)
        except configparser.Error as exc:
            raise DatasetFormatError(ini, f"not a valid ini file: {exc}") from exc
        if "Sequence" not in cp:
            raise DatasetFormatError(ini, "missing [Sequence] section")
        info.update({k.lower(): v for k, v in cp["Sequence"].items()})
    frames = list_frames(seq_dir / info["imdir"])
    if "seqlength" in info and int(info["seqlength"]) != len(frames):
        raise DatasetFormatError(ini, f"seqLength={info['seqlength']} but {seq_dir / info['imdir']} "
                                      f"has {len(frames)} frames")
    width, height = int(info["imwidth"]), int(info["imheight"])
    if width <= 0 or height <= 0:
        from .common import load_image
        h, w = load_image(frames[0]).shape[:2]
        width, height = w, h
    gt_path, det_path = seq_dir / "gt" / "gt.txt", seq_dir / "det" / "det.txt"
    return MOTSequence(name=info["name"], frames=frames, fps=float(info["framerate"]), width=width, height=height,
                       gt=_rows(gt_path, len(frames)) if gt_path.exists() else None,
                       det=_rows(det_path, len(frames)) if det_path.exists() else None)


def format_mot_rows(rows: Iterable[Tuple[int, int, np.ndarray, float, int, float]]) -> str:
    """Lines ``frame,id,x,y,w,h,conf,class,visibility`` from tuples
    ``(frame 1-based, id, box_xyxy, conf, class, visibility)``."""
    out = []
    for frame, oid, box, conf, cls, vis in rows:
        x0, y0, x1, y1 = (float(v) for v in box)
        out.append(f"{int(frame)},{int(oid)},{x0:.2f},{y0:.2f},{x1 - x0:.2f},{y1 - y0:.2f},"
                   f"{conf:g},{int(cls)},{vis:.3f}")
    return "\n".join(out) + ("\n" if out else "")


def write_mot_sequence(seq_dir: PathLike, images_rgb: Iterable[np.ndarray], rows, fps: float,
                       name: Optional[str] = None, image_format: str = "jpg") -> Path:
    """Write ``img1/``, ``seqinfo.ini`` and ``gt/gt.txt`` (rows as in
    :func:`format_mot_rows`). Returns the folder."""
    import cv2

    seq_dir = Path(seq_dir)
    (seq_dir / "img1").mkdir(parents=True, exist_ok=True)
    (seq_dir / "gt").mkdir(exist_ok=True)
    n, h, w = 0, 0, 0
    for n, img in enumerate(images_rgb, start=1):
        h, w = img.shape[:2]
        if not cv2.imwrite(str(seq_dir / "img1" / f"{n:06d}.{image_format}"), np.ascontiguousarray(img[..., ::-1])):
            raise OSError(f"cannot write frame {n} to {seq_dir / 'img1'}")
    (seq_dir / "seqinfo.ini").write_text(
        f"[Sequence]\nname={name or seq_dir.name}\nimDir=img1\nframeRate={fps:g}\nseqLength={n}\n"
        f"imWidth={w}\nimHeight={h}\nimExt=.{image_format}\n")
    (seq_dir / "gt" / "gt.txt").write_text(format_mot_rows(rows))
    return seq_dir
