"""Recognise a single-object sequence folder's layout and read it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, List, Tuple, Union

from .common import DatasetFormatError, SOTSequence
from .rgbx import read_depthtrack_sequence, read_lasher_sequence, read_visevent_sequence
from .sot import read_lasot_sequence, read_otb_lang_sequence, read_tnl2k_sequence

#: (layout name, files / folders that identify it, reader), checked in order
LAYOUTS: List[Tuple[str, Tuple[str, ...], Callable[[Path], SOTSequence]]] = [
    ("visevent", ("vis_imgs", "event_imgs", "groundtruth.txt"), read_visevent_sequence),
    ("lasher", ("visible", "infrared", "visible.txt"), read_lasher_sequence),
    ("depthtrack", ("color", "depth", "groundtruth.txt"), read_depthtrack_sequence),
    ("tnl2k", ("imgs", "groundtruth.txt"), read_tnl2k_sequence),
    ("otb99-lang", ("img", "groundtruth_rect.txt"), read_otb_lang_sequence),
    ("lasot", ("img", "groundtruth.txt"), read_lasot_sequence),
]


def detect_layout(seq_dir: Union[str, Path]) -> str:
    """Name of the layout of ``seq_dir`` (see LAYOUTS); DatasetFormatError
    listing the known layouts when none matches."""
    seq_dir = Path(seq_dir)
    if not seq_dir.is_dir():
        raise DatasetFormatError(seq_dir, "sequence folder is missing")
    for name, marks, _ in LAYOUTS:
        if all((seq_dir / m).exists() for m in marks):
            return name
    known = "; ".join(f"{n}: {', '.join(m)}" for n, m, _ in LAYOUTS)
    raise DatasetFormatError(seq_dir, f"not a known single-object layout (expected one of -- {known})")


def read_sot_sequence(seq_dir: Union[str, Path]) -> SOTSequence:
    """Read a LaSOT / TNL2K / OTB99-lang / LasHeR / DepthTrack / VisEvent
    sequence (or a ``vl-tracking generate`` clip folder, which is LaSOT-style)."""
    name = detect_layout(seq_dir)
    reader = next(r for n, _, r in LAYOUTS if n == name)
    return reader(Path(seq_dir))
