"""Warp a modality's image into the RGB camera's pixel grid (numpy only).

An :class:`Alignment` holds a 3x3 homography ``H`` that maps a pixel of the
source modality (column, row, 1) to the RGB image (x, y, 1) -- the usual
output of a planar calibration between two co-mounted cameras -- and the
RGB image size. ``apply`` samples the source at ``H^-1`` of every RGB pixel
(inverse mapping) with bilinear or nearest interpolation. Without a
homography it is a plain resize (pixel-centre aligned), and when the sizes
already agree it returns the input unchanged (no copy).

Bilinear interpolation is NaN-safe: invalid (NaN) neighbours get no weight
and the remaining weights are renormalised, so holes in a depth map do not
spread. Depth should still use ``nearest`` (averaging across an object edge
invents depths that exist nowhere). Pixels that map outside the source get
``fill`` (NaN for float images, 0 for integer images by default).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["AlignmentError", "Alignment", "parse_homography"]


class AlignmentError(ValueError):
    """Invalid homography / output size, or an image the alignment cannot take."""


def parse_homography(value) -> Optional[np.ndarray]:
    """Config value -> (3, 3) float64 homography normalised to H[2,2] = 1,
    or None for identity. Accepts None, '', 'identity', 9 numbers (row major)
    or a 3x3 nested list. Raises AlignmentError for non-finite, wrongly sized
    or singular matrices."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "identity", "none")):
        return None
    try:
        h = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AlignmentError(f"homography must be 9 numbers or a 3x3 list, got {value!r}") from None
    if h.size != 9:
        raise AlignmentError(f"homography must have 9 elements (3x3), got {h.size}")
    h = h.reshape(3, 3)
    if not np.all(np.isfinite(h)):
        raise AlignmentError(f"homography has non-finite entries: {h.tolist()}")
    if abs(h[2, 2]) < 1e-12:
        raise AlignmentError(f"homography H[2,2] must be non-zero, got {h.tolist()}")
    h = h / h[2, 2]
    if abs(np.linalg.det(h)) < 1e-12:
        raise AlignmentError(f"homography is singular (det ~ 0): {h.tolist()}")
    return h


class Alignment:
    """Map one modality into the RGB pixel grid.

    homography: (3, 3) float source-pixel -> RGB-pixel map, or None
        (identity up to the resize between the two sizes).
    out_hw: (height, width) of the RGB image; None = same as the input
        (then only a homography changes anything).
    """

    def __init__(self, homography: Union[None, np.ndarray, Sequence] = None,
                 out_hw: Optional[Tuple[int, int]] = None):
        self.homography = parse_homography(homography)
        if out_hw is not None:
            out_hw = (int(out_hw[0]), int(out_hw[1]))
            if out_hw[0] <= 0 or out_hw[1] <= 0:
                raise AlignmentError(f"out_hw must be positive (height, width), got {out_hw}")
        self.out_hw = out_hw
        self._cache: Dict[Tuple, Tuple[np.ndarray, np.ndarray]] = {}

    @property
    def is_identity(self) -> bool:
        return self.homography is None or bool(np.allclose(self.homography, np.eye(3), atol=1e-12))

    def with_output(self, out_hw: Tuple[int, int]) -> "Alignment":
        """Same homography, another RGB size."""
        return Alignment(self.homography, out_hw)

    def _source_coords(self, in_hw: Tuple[int, int], out_hw: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
        key = (in_hw, out_hw)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        oh, ow = out_hw
        ih, iw = in_hw
        ys, xs = np.mgrid[0:oh, 0:ow].astype(np.float64)
        if self.homography is None:
            # resize, pixel centres aligned
            sx = (xs + 0.5) * (iw / ow) - 0.5
            sy = (ys + 0.5) * (ih / oh) - 0.5
        else:
            inv = np.linalg.inv(self.homography)
            pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)])
            src = inv @ pts
            w = src[2]
            with np.errstate(divide="ignore", invalid="ignore"):
                sx = np.where(np.abs(w) > 1e-12, src[0] / w, np.inf).reshape(oh, ow)
                sy = np.where(np.abs(w) > 1e-12, src[1] / w, np.inf).reshape(oh, ow)
        if len(self._cache) > 8:
            self._cache.clear()
        self._cache[key] = (sx, sy)
        return sx, sy

    def apply(self, image: np.ndarray, interpolation: str = "linear", fill: Optional[float] = None) -> np.ndarray:
        """Warp ``image`` ((h, w) or (h, w, C), any numeric dtype) into the
        RGB grid: returns (H, W[, C]) of the same dtype, H, W = ``out_hw``.

        interpolation: 'linear' (bilinear, NaN-safe) or 'nearest' (use for
        depth and label images). fill: value for pixels outside the source.
        """
        if interpolation not in ("linear", "nearest"):
            raise AlignmentError(f"interpolation must be 'linear' or 'nearest', got {interpolation!r}")
        img = np.asarray(image)
        if img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
            raise AlignmentError(f"image must be (h, w) or (h, w, C) and non-empty, got shape {img.shape}")
        in_hw = (int(img.shape[0]), int(img.shape[1]))
        out_hw = self.out_hw or in_hw
        if self.is_identity and in_hw == out_hw:
            return img  # fast path: nothing to do
        is_float = np.issubdtype(img.dtype, np.floating)
        if fill is None:
            fill = np.nan if is_float else 0
        sx, sy = self._source_coords(in_hw, out_hw)
        squeeze = img.ndim == 2
        src = img[..., None] if squeeze else img
        h, w = in_hw
        if interpolation == "nearest":
            xi = np.floor(sx + 0.5)
            yi = np.floor(sy + 0.5)
            inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
            xi = np.where(inside, xi, 0).astype(np.intp)
            yi = np.where(inside, yi, 0).astype(np.intp)
            out = src[yi, xi].copy()
            out[~inside] = fill
        else:
            # half a pixel beyond the border clamps to the edge pixel
            inside = (sx >= -0.5) & (sx <= w - 0.5) & (sy >= -0.5) & (sy <= h - 0.5)
            cx = np.clip(np.where(inside, sx, 0), 0, w - 1)
            cy = np.clip(np.where(inside, sy, 0), 0, h - 1)
            x0 = np.floor(cx).astype(np.intp)
            y0 = np.floor(cy).astype(np.intp)
            x1 = np.minimum(x0 + 1, w - 1)
            y1 = np.minimum(y0 + 1, h - 1)
            fx = (cx - x0)[..., None]
            fy = (cy - y0)[..., None]
            srcf = src.astype(np.float32)
            acc = np.zeros(out_hw + (src.shape[2],), np.float32)
            wsum = np.zeros_like(acc)
            for yy, xx, wt in ((y0, x0, (1 - fx) * (1 - fy)), (y0, x1, fx * (1 - fy)),
                               (y1, x0, (1 - fx) * fy), (y1, x1, fx * fy)):
                v = srcf[yy, xx]
                ok = np.isfinite(v) if is_float else np.ones(v.shape, bool)
                wt = np.broadcast_to(wt, v.shape)
                acc += np.where(ok, v, 0.0) * np.where(ok, wt, 0.0)
                wsum += np.where(ok, wt, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                val = acc / wsum
            val[wsum < 1e-6] = np.nan
            val[~inside] = np.nan
            if is_float:
                out = val.astype(img.dtype)
                out[np.isnan(val)] = fill
            else:
                info = np.iinfo(img.dtype)
                bad = np.isnan(val)
                val = np.clip(np.rint(np.where(bad, 0, val)), info.min, info.max)
                out = val.astype(img.dtype)
                out[bad] = fill
        return out[..., 0] if squeeze else out
