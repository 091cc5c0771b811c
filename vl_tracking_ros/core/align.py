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
        self._cache: Dict[Tuple, dict] = {}

    @property
    def is_identity(self) -> bool:
        return self.homography is None or bool(np.allclose(self.homography, np.eye(3), atol=1e-12))

    def with_output(self, out_hw: Tuple[int, int]) -> "Alignment":
        """Same homography, another RGB size."""
        return Alignment(self.homography, out_hw)

    # ------------------------------------------------------------ sampling maps
    def _map(self, in_hw: Tuple[int, int], out_hw: Tuple[int, int], interpolation: str) -> dict:
        """Precomputed sampling indices / weights for one size pair (cached:
        the per-frame cost is only the gathers)."""
        key = (in_hw, out_hw, interpolation)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        ih, iw = in_hw
        oh, ow = out_hw
        if self.homography is None:
            # separable resize, pixel centres aligned
            sx = (np.arange(ow) + 0.5) * (iw / ow) - 0.5
            sy = (np.arange(oh) + 0.5) * (ih / oh) - 0.5
            if interpolation == "nearest":
                m = {"kind": "resize_nearest",
                     "xi": np.clip(np.floor(sx + 0.5), 0, iw - 1).astype(np.intp),
                     "yi": np.clip(np.floor(sy + 0.5), 0, ih - 1).astype(np.intp)}
            else:
                cx = np.clip(sx, 0, iw - 1)
                cy = np.clip(sy, 0, ih - 1)
                x0 = np.floor(cx).astype(np.intp)
                y0 = np.floor(cy).astype(np.intp)
                m = {"kind": "resize_linear", "x0": x0, "x1": np.minimum(x0 + 1, iw - 1),
                     "fx": (cx - x0).astype(np.float32), "y0": y0, "y1": np.minimum(y0 + 1, ih - 1),
                     "fy": (cy - y0).astype(np.float32)}
        else:
            ys, xs = np.mgrid[0:oh, 0:ow]
            inv = np.linalg.inv(self.homography)
            pts = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]).astype(np.float64)
            src = inv @ pts
            w = src[2]
            with np.errstate(divide="ignore", invalid="ignore"):
                px = np.where(np.abs(w) > 1e-12, src[0] / w, np.inf)
                py = np.where(np.abs(w) > 1e-12, src[1] / w, np.inf)
            if interpolation == "nearest":
                xi = np.floor(px + 0.5)
                yi = np.floor(py + 0.5)
                inside = (xi >= 0) & (xi < iw) & (yi >= 0) & (yi < ih)
                idx = np.where(inside, yi * iw + xi, 0).astype(np.intp)
                m = {"kind": "general_nearest", "idx": idx, "inside": inside}
            else:
                # half a pixel beyond the border clamps to the edge pixel
                inside = (px >= -0.5) & (px <= iw - 0.5) & (py >= -0.5) & (py <= ih - 0.5)
                cx = np.clip(np.where(inside, px, 0), 0, iw - 1)
                cy = np.clip(np.where(inside, py, 0), 0, ih - 1)
                x0 = np.floor(cx).astype(np.intp)
                y0 = np.floor(cy).astype(np.intp)
                x1 = np.minimum(x0 + 1, iw - 1)
                y1 = np.minimum(y0 + 1, ih - 1)
                fx = (cx - x0).astype(np.float32)
                fy = (cy - y0).astype(np.float32)
                m = {"kind": "general_linear",
                     "idx": [y0 * iw + x0, y0 * iw + x1, y1 * iw + x0, y1 * iw + x1],
                     "w": [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], "inside": inside}
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[key] = m
        return m

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
        src = img[..., None] if img.ndim == 2 else img
        channels = src.shape[2]
        m = self._map(in_hw, out_hw, interpolation)
        kind = m["kind"]
        if kind == "resize_nearest":
            out = src.take(m["yi"], axis=0).take(m["xi"], axis=1)
        elif kind == "general_nearest":
            out = src.reshape(-1, channels).take(m["idx"], axis=0)
            out[~m["inside"]] = fill
            out = out.reshape(out_hw + (channels,))
        else:
            srcf = src.astype(np.float32, copy=False)
            valid = np.isfinite(srcf) if is_float else None
            has_holes = valid is not None and not valid.all()
            if has_holes:
                values = np.where(valid, srcf, 0.0).astype(np.float32)
                weights = valid.astype(np.float32)
            else:
                values, weights = srcf, None
            if kind == "resize_linear":
                def interp(a):
                    fy = m["fy"][:, None, None]
                    rows = a.take(m["y0"], axis=0) * (1 - fy) + a.take(m["y1"], axis=0) * fy
                    fx = m["fx"][None, :, None]
                    return rows.take(m["x0"], axis=1) * (1 - fx) + rows.take(m["x1"], axis=1) * fx
                inside = None
            else:
                def interp(a):
                    flat = a.reshape(-1, channels)
                    acc = None
                    for idx, wt in zip(m["idx"], m["w"]):
                        term = flat.take(idx, axis=0) * wt[:, None]
                        acc = term if acc is None else acc + term
                    return acc.reshape(out_hw + (channels,))
                inside = m["inside"].reshape(out_hw)
            val = interp(values)
            bad = None
            if has_holes:
                wsum = interp(weights)
                bad = wsum < 1e-6
                with np.errstate(invalid="ignore", divide="ignore"):
                    val = val / np.where(bad, 1.0, wsum)
            if inside is not None:
                outside = np.broadcast_to(~inside[..., None], val.shape)
                bad = outside if bad is None else (bad | outside)
            if is_float:
                out = val.astype(img.dtype, copy=False)
            else:
                info = np.iinfo(img.dtype)
                out = np.clip(np.rint(val), info.min, info.max).astype(img.dtype)
            if bad is not None:
                out[bad] = fill
        return out[..., 0] if img.ndim == 2 else out
