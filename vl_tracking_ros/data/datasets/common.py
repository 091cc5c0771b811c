"""Shared pieces of the dataset readers: the error type, annotation-line
parsing with file:line errors, frame listing and image loading."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


class DatasetFormatError(ValueError):
    """A dataset file is missing, unreadable or malformed; the message names
    the file (and the 1-based line where there is one)."""

    def __init__(self, path, message: str, line: Optional[int] = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = Path(path)
        self.line = line


_SPLIT = re.compile(r"[,\s;]+")


def parse_number_lines(path: Path, min_cols: int, allow_nan: bool = True,
                       max_cols: Optional[int] = None) -> np.ndarray:
    """(N, C) float64 rows of a comma / tab / space separated text file.

    Blank lines at the end are ignored; a blank line in the middle, a line
    with too few numbers, or text that is not a number raises
    DatasetFormatError naming the file and line. "nan" is accepted when
    ``allow_nan`` (DepthTrack writes it for absent targets).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(path, "annotation file is missing")
    try:
        lines = path.read_text(encoding="utf-8", errors="strict").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetFormatError(path, f"cannot read: {exc}") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    rows: List[List[float]] = []
    width = None
    for no, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            raise DatasetFormatError(path, "empty annotation line", no)
        parts = [p for p in _SPLIT.split(text) if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise DatasetFormatError(path, f"not a number in {text!r}", no) from None
        if len(values) < min_cols:
            raise DatasetFormatError(path, f"expected at least {min_cols} numbers, got {len(values)} in {text!r}", no)
        if max_cols is not None:
            values = values[:max_cols]
        if not allow_nan and not all(np.isfinite(values)):
            raise DatasetFormatError(path, f"non-finite value in {text!r}", no)
        if width is None:
            width = len(values)
        elif len(values) != width and max_cols is None:
            values = (values + [np.nan] * width)[:width]
        rows.append(values)
    if not rows:
        return np.zeros((0, max_cols or min_cols))
    return np.asarray(rows, dtype=np.float64)


def parse_flag_file(path: Path, n: int) -> np.ndarray:
    """(n,) bool flags from a file of 0/1 values (comma- or line-separated,
    as LaSOT's full_occlusion.txt / VisEvent's absent_label.txt)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(path, "flag file is missing")
    values: List[bool] = []
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        for part in (p for p in _SPLIT.split(line.strip()) if p):
            if part not in ("0", "1", "0.0", "1.0"):
                raise DatasetFormatError(path, f"flag must be 0 or 1, got {part!r}", no)
            values.append(part.startswith("1"))
    if len(values) != n:
        raise DatasetFormatError(path, f"has {len(values)} flags but the sequence has {n} frames")
    return np.asarray(values, dtype=bool)


def list_frames(folder: Path, what: str = "frames") -> List[Path]:
    """Image files of a folder, sorted by the number in their name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetFormatError(folder, f"{what} folder is missing")
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise DatasetFormatError(folder, f"no image files in the {what} folder")

    def key(p: Path):
        digits = re.findall(r"\d+", p.stem)
        return (int(digits[-1]) if digits else -1, p.name)
    return sorted(files, key=key)


def load_image(path: Path, flags: str = "color") -> np.ndarray:
    """Read an image: ``color`` -> (H, W, 3) uint8 RGB; ``unchanged`` -> as
    stored (16-bit PNGs stay uint16). Raises DatasetFormatError naming the
    file when it is missing or cannot be decoded."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(path, "frame file is missing")
    mode = cv2.IMREAD_COLOR if flags == "color" else cv2.IMREAD_UNCHANGED
    img = cv2.imread(str(path), mode)
    if img is None:
        raise DatasetFormatError(path, "frame cannot be decoded (corrupt or not an image)")
    if flags == "color":
        return np.ascontiguousarray(img[..., ::-1])
    return img


def xywh_to_xyxy(boxes_xywh: np.ndarray) -> np.ndarray:
    """(N, 4) x, y, w, h -> (N, 4) x_min, y_min, x_max, y_max (float32)."""
    b = np.asarray(boxes_xywh, dtype=np.float32).reshape(-1, 4)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


@dataclass
class SOTSequence:
    """A single-object sequence (LaSOT / TNL2K / OTB99-lang / RGB-X).

    frames: RGB (or visible) frame paths, in order.
    boxes_xywh: (N, 4) float32 target boxes, NaN rows where absent.
    absent: (N,) bool, True where the target is not visible (flags files,
        NaN or non-positive boxes).
    language: the sequence's sentence, or None.
    aux_frames: extra modality name ("depth", "thermal", "event") -> paths,
        aligned with ``frames``.
    """

    name: str
    frames: List[Path]
    boxes_xywh: np.ndarray
    absent: np.ndarray
    language: Optional[str] = None
    aux_frames: Dict[str, List[Path]] = field(default_factory=dict)
    aux_boxes_xywh: Dict[str, np.ndarray] = field(default_factory=dict)
    dataset: str = ""

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def boxes_xyxy(self) -> np.ndarray:
        """(N, 4) float32 xyxy boxes (NaN where absent)."""
        return xywh_to_xyxy(self.boxes_xywh)

    def load_rgb(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB of frame i."""
        return load_image(self.frames[i], "color")

    def load_aux(self, modality: str, i: int) -> np.ndarray:
        """Frame i of an extra modality as stored (uint16 depth PNGs stay uint16)."""
        if modality not in self.aux_frames:
            raise KeyError(f"sequence {self.name} has no {modality!r} frames; has {sorted(self.aux_frames)}")
        return load_image(self.aux_frames[modality][i], "unchanged")


def absent_from_boxes(boxes_xywh: np.ndarray) -> np.ndarray:
    """(N,) bool: rows with NaN or non-positive width / height."""
    b = np.asarray(boxes_xywh, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return ~np.all(np.isfinite(b), axis=1) | (b[:, 2] <= 0) | (b[:, 3] <= 0)


def check_count(path: Path, n_rows: int, n_frames: int, what: str = "annotation lines") -> None:
    if n_rows != n_frames:
        raise DatasetFormatError(path, f"has {n_rows} {what} but the sequence has {n_frames} frames")


def find_sequences(root: Path, marker: str, depth: int = 3) -> List[Path]:
    """Sequence folders under ``root`` (up to ``depth`` levels) containing ``marker``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetFormatError(root, "dataset root is missing")
    found = []
    level = [root]
    for _ in range(depth + 1):
        nxt = []
        for d in level:
            if (d / marker).exists():
                found.append(d)
            else:
                nxt.extend(sorted(p for p in d.iterdir() if p.is_dir()))
        level = nxt
    return sorted(found)


def read_text_line(path: Path) -> Optional[str]:
    """First non-empty line of a text file (the language of a sequence), or None if the file is absent."""
    path = Path(path)
    if not path.is_file():
        return None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            return line.strip()
    return None


__all__ = ["DatasetFormatError", "SOTSequence", "parse_number_lines", "parse_flag_file", "list_frames",
           "load_image", "xywh_to_xyxy", "absent_from_boxes", "check_count", "find_sequences", "read_text_line"]

