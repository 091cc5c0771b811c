"""Draw tracker output onto an RGB image, and write annotated videos.

OpenCV is imported here (never in ``core``). Everything drawn is sized from
the image height so a 320x240 debug image stays legible: boxes with the
track ID, confidence and state, the active commands in a banner at the top
and the mode / state text at the bottom. OpenCV's Hershey fonts are ASCII
only, so non-ASCII text is transliterated (accents dropped) or shown as '?'.
"""
from __future__ import annotations

import os
import unicodedata
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..core.types import TrackerOutput, TrackState

__all__ = ["annotate", "track_color", "VideoWriter", "ascii_text"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_STATE_TEXT = {TrackState.TRACKING: "", TrackState.SEARCHING_LOCAL: " search",
               TrackState.RELOCALIZING: " reloc", TrackState.LOST: " lost"}


def ascii_text(text: str) -> str:
    """Printable ASCII version of ``text`` (accents stripped, others '?')."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    out = []
    for ch in decomposed:
        if unicodedata.combining(ch):
            continue
        out.append(ch if 32 <= ord(ch) < 127 else "?")
    return "".join(out)


def track_color(track_id: int) -> Tuple[int, int, int]:
    """A stable, saturated RGB colour for a track ID (golden-ratio hues)."""
    hue = (int(track_id) * 0.618033988749895) % 1.0
    hsv = np.uint8([[[int(hue * 179), 220, 255]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _scale(h: int) -> Tuple[float, int]:
    font = max(0.35, min(1.2, h / 600.0))
    thick = 1 if h < 500 else 2
    return font, thick


def _text_box(img: np.ndarray, text: str, org: Tuple[int, int], font: float, thick: int,
              fg=(255, 255, 255), bg=(0, 0, 0)) -> int:
    """Text with a filled background; org = top-left. Returns the box height."""
    (tw, th), base = cv2.getTextSize(text, _FONT, font, thick)
    x, y = int(org[0]), int(org[1])
    h, w = img.shape[:2]
    x = max(0, min(x, w - tw - 2))
    y = max(0, min(y, h - th - base - 2))
    cv2.rectangle(img, (x, y), (x + tw + 2, y + th + base + 2), bg, -1)
    cv2.putText(img, text, (x + 1, y + th + 1), _FONT, font, fg, thick, cv2.LINE_AA)
    return th + base + 2


def _dashed_rect(img, p0, p1, color, thick, dash: int = 6) -> None:
    x0, y0 = p0
    x1, y1 = p1
    for (ax, ay, bx, by) in ((x0, y0, x1, y0), (x1, y0, x1, y1), (x1, y1, x0, y1), (x0, y1, x0, y0)):
        length = max(abs(bx - ax), abs(by - ay))
        n = max(1, length // (2 * dash))
        for i in range(n + 1):
            s = min(1.0, (2 * i * dash) / max(length, 1))
            e = min(1.0, ((2 * i + 1) * dash) / max(length, 1))
            if s >= 1.0:
                break
            cv2.line(img, (int(ax + (bx - ax) * s), int(ay + (by - ay) * s)),
                     (int(ax + (bx - ax) * e), int(ay + (by - ay) * e)), color, thick, cv2.LINE_AA)


def _fit(text: str, width: int, font: float, thick: int) -> str:
    """Shorten ``text`` with '...' to fit ``width`` pixels."""
    if cv2.getTextSize(text, _FONT, font, thick)[0][0] <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cv2.getTextSize(text[:mid] + "...", _FONT, font, thick)[0][0] <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "..."


def annotate(image_rgb: np.ndarray, output: TrackerOutput, commands: Sequence[str] = (),
             mode_text: str = "") -> np.ndarray:
    """Return a new (H, W, 3) uint8 RGB image with the tracks drawn.

    image_rgb: (H, W, 3) uint8 RGB (not modified). output: the tracker's
    output for this frame (boxes in this image's pixels). commands: active
    command texts (banner at the top; "no command" when empty). mode_text:
    free text for the bottom line (mode, model, latency...).
    Tracking boxes are solid, relocalizing / searching dashed, lost grey.
    """
    img = np.asarray(image_rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"annotate needs an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}")
    out = np.ascontiguousarray(img.copy())
    h, w = out.shape[:2]
    font, thick = _scale(h)
    line_w = max(1, int(round(h / 240)))
    for tr in output.tracks:
        box = np.asarray(tr.box_xyxy, dtype=np.float64).reshape(-1)
        if box.size != 4 or not np.all(np.isfinite(box)):
            continue
        x0, y0 = int(round(np.clip(box[0], 0, w - 1))), int(round(np.clip(box[1], 0, h - 1)))
        x1, y1 = int(round(np.clip(box[2], 0, w - 1))), int(round(np.clip(box[3], 0, h - 1)))
        state = TrackState(int(tr.state))
        color = (150, 150, 150) if state == TrackState.LOST else track_color(tr.track_id)
        if state == TrackState.TRACKING:
            cv2.rectangle(out, (x0, y0), (x1, y1), color, line_w + 1, cv2.LINE_AA)
        else:
            _dashed_rect(out, (x0, y0), (x1, y1), color, line_w, dash=max(3, h // 80))
        label = f"#{tr.track_id} {tr.confidence:.2f}{_STATE_TEXT.get(state, '')}"
        if tr.position_m is not None:
            z = float(np.asarray(tr.position_m).reshape(-1)[2])
            if np.isfinite(z):
                label += f" {z:.1f}m"
        (tw, th), base = cv2.getTextSize(label, _FONT, font, thick)
        ty = y0 - th - base - 3 if y0 - th - base - 3 >= 0 else min(y1 + 1, h - th - base - 2)
        _text_box(out, label, (x0, ty), font, thick, fg=(0, 0, 0), bg=color)
    banner = "; ".join(ascii_text(c) for c in commands) if commands else "no command (idle)"
    y = _text_box(out, _fit(banner, w - 4, font, thick), (0, 0), font, thick, fg=(255, 255, 160), bg=(0, 0, 0))
    del y
    if mode_text:
        (tw, th), base = cv2.getTextSize("Ag", _FONT, font, thick)
        _text_box(out, _fit(ascii_text(mode_text), w - 4, font, thick), (0, h - th - base - 2), font, thick,
                  fg=(200, 255, 200), bg=(0, 0, 0))
    return out


class VideoWriter:
    """Write RGB frames to a video: MP4 (OpenCV 'mp4v') for ``*.mp4`` /
    ``*.avi``, an animated GIF for ``*.gif`` (Pillow), otherwise a directory
    of PNG frames. If the MP4 writer cannot open (codec missing), it falls
    back to a GIF beside the requested path; ``path`` then names the file
    actually written.

    fps: frames per second stored in the file. All frames must have the
    size of the first one (others are resized with a warning count in
    ``resized``).
    """

    def __init__(self, path: str, fps: float = 15.0, max_gif_frames: int = 600):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.requested_path = str(path)
        self.path = str(path)
        self.fps = float(fps)
        self.frames = 0
        self.resized = 0
        self.max_gif_frames = int(max_gif_frames)
        self._size: Optional[Tuple[int, int]] = None
        self._cv: Optional[cv2.VideoWriter] = None
        self._gif: List[np.ndarray] = []
        ext = os.path.splitext(self.path)[1].lower()
        self.kind = "mp4" if ext in (".mp4", ".avi", ".mov") else "gif" if ext == ".gif" else "png"
        parent = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(parent, exist_ok=True)
        if self.kind == "png":
            os.makedirs(self.path, exist_ok=True)

    def write(self, image_rgb: np.ndarray) -> None:
        img = np.asarray(image_rgb)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"VideoWriter.write needs (H, W, 3) uint8 RGB, got {img.shape} {img.dtype}")
        h, w = img.shape[:2]
        if self._size is None:
            self._size = (w, h)
            if self.kind == "mp4":
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                self._cv = cv2.VideoWriter(self.path, fourcc, self.fps, (w, h))
                if not self._cv.isOpened():
                    self._cv = None
                    self.kind = "gif"
                    self.path = os.path.splitext(self.path)[0] + ".gif"
        elif (w, h) != self._size:
            img = cv2.resize(img, self._size, interpolation=cv2.INTER_AREA)
            self.resized += 1
        if self.kind == "mp4":
            self._cv.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        elif self.kind == "gif":
            if len(self._gif) < self.max_gif_frames:
                self._gif.append(img.copy())
        else:
            cv2.imwrite(os.path.join(self.path, f"frame_{self.frames:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        self.frames += 1

    def close(self) -> str:
        """Finish the file; returns the path written."""
        if self._cv is not None:
            self._cv.release()
            self._cv = None
        if self.kind == "gif" and self._gif:
            from PIL import Image as PILImage

            frames = [PILImage.fromarray(f) for f in self._gif]
            frames[0].save(self.path, save_all=True, append_images=frames[1:], loop=0,
                           duration=int(round(1000.0 / self.fps)))
            self._gif = []
        return self.path

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
