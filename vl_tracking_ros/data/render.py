"""Vectorised numpy renderer: scene truth (albedo, ids, depth, temperature)
and the sensor models for RGB, depth and thermal.

``SceneRenderer.truth(t)`` paints the scene at a (fractional) frame time into
noise-free maps; the ``*_sensor`` functions turn those into what a camera
would output (lighting, noise, holes, range limits, blur). Objects are
painted far-to-near into small crops, so the cost is one background slice
plus the objects' pixel area, not a full-image pass per object.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import cv2
import numpy as np

from .scene import CAMERA_HEIGHT_M, CATEGORY_HEIGHT_M, Occluder, Scene, SceneObject

#: ids in the id map
BACKGROUND_ID = 0
OCCLUDER_ID = -1


@dataclass
class TruthMaps:
    """Noise-free maps of the scene at one time (all (H, W), RGB-aligned).

    albedo_rgb: (H, W, 3) float32 in [0, 1], scene colour under unit light.
    id_map: (H, W) int16, object id, 0 background, -1 occluder.
    depth_m: (H, W) float32 metres, +inf for sky.
    thermal_k: (H, W) float32 Kelvin.
    pixel_counts: obj_id -> (visible px, px inside the image, total px of the shape).
    """

    albedo_rgb: np.ndarray
    id_map: np.ndarray
    depth_m: Optional[np.ndarray]
    thermal_k: Optional[np.ndarray]
    pixel_counts: Dict[int, Tuple[int, int, int]]


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """(h, w) float32 low-frequency noise in about [-1, 1] (bicubic-upsampled grid)."""
    gh, gw = max(h // cell, 2) + 2, max(w // cell, 2) + 2
    grid = rng.uniform(-1, 1, size=(gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def shape_mask(category: str, u: np.ndarray, v: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Silhouette of ``category`` sampled at box-normalised coordinates.

    u, v: arrays of the same shape, 0..1 across the box width / height.
    Returns (mask bool, part float32): part is 1 for the main body and 0 for
    secondary parts (wheels, rotors, head) that get a darker colour and their
    own temperature offset.
    """
    part = np.ones(u.shape, np.float32)
    if category == "person":
        head = ((u - 0.5) / 0.2) ** 2 + ((v - 0.1) / 0.09) ** 2 < 1.0
        torso = (np.abs(u - 0.5) < 0.38 - 0.1 * (v - 0.18)) & (v > 0.18) & (v < 0.58)
        legs = (v >= 0.58) & (v <= 1.0) & (((u > 0.2) & (u < 0.46)) | ((u > 0.54) & (u < 0.8)))
        mask = head | torso | legs
        part[head] = 0.0
    elif category == "car":
        body = (v > 0.4) & (v < 0.84) & (u > 0.0) & (u < 1.0)
        cabin = (v > 0.06) & (v <= 0.4) & (np.abs(u - 0.48) < 0.27 + 0.25 * (v - 0.06))
        wheels = (((u - 0.22) / 0.1) ** 2 + ((v - 0.82) / 0.18) ** 2 < 1.0) | \
                 (((u - 0.78) / 0.1) ** 2 + ((v - 0.82) / 0.18) ** 2 < 1.0)
        mask = body | cabin | wheels
        part[wheels] = 0.0
    elif category == "ball":
        mask = (u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.25
    elif category == "box":
        mask = (u >= 0.0) & (u <= 1.0) & (v >= 0.0) & (v <= 1.0)
        edge = (u < 0.08) | (u > 0.92) | (v < 0.08) | (v > 0.92)
        part[edge] = 0.0
    elif category == "drone":
        body = ((u - 0.5) / 0.16) ** 2 + ((v - 0.5) / 0.22) ** 2 < 1.0
        arms = (np.abs(np.abs(u - 0.5) * 0.5 - np.abs(v - 0.5) * 0.5) < 0.04) & (np.abs(v - 0.5) < 0.4)
        rotors = np.zeros(u.shape, bool)
        for cu in (0.14, 0.86):
            for cv_ in (0.2, 0.8):
                rotors |= ((u - cu) / 0.13) ** 2 + ((v - cv_) / 0.17) ** 2 < 1.0
        mask = body | arms | rotors
        part[rotors & ~body] = 0.0
    else:
        raise ValueError(f"unknown category {category!r}")
    return mask, part


def texture_factor(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Brightness multiplier in [0.5, 1] for a texture word at box coords u, v."""
    if texture == "striped":
        return np.where(np.sin(2 * np.pi * 5 * u) > 0, 1.0, 0.55).astype(np.float32)
    if texture == "checkered":
        return np.where((np.floor(u * 4) + np.floor(v * 4)) % 2 == 0, 1.0, 0.5).astype(np.float32)
    if texture == "dotted":
        du, dv = np.mod(u * 5, 1.0) - 0.5, np.mod(v * 5, 1.0) - 0.5
        return np.where(du * du + dv * dv < 0.07, 0.5, 1.0).astype(np.float32)
    return np.ones(u.shape, np.float32)


class SceneRenderer:
    """Renders a :class:`Scene` at arbitrary frame times.

    The background (albedo, depth, temperature) is built once on a canvas
    larger than the image by the camera pan amplitude, then sliced.
    """

    def __init__(self, scene: Scene):
        self.scene = scene
        cfg = scene.config
        self.W, self.H = cfg.width, cfg.height
        self.pad = int(np.ceil(np.max(np.abs(scene.cam_amp)))) + 2
        self.lighting = cfg.lighting
        self._build_background(np.random.default_rng(scene.background_seed))

    # ------------------------------------------------------------ background
    def _build_background(self, rng: np.random.Generator) -> None:
        H, W, p = self.H, self.W, self.pad
        hc, wc = H + 2 * p, W + 2 * p
        ys = np.arange(hc, dtype=np.float32)[:, None]
        horizon = p + float(self.scene.horizon_y)
        sky = ys < horizon
        albedo = np.empty((hc, wc, 3), np.float32)
        # sky: desaturated grey-blue gradient
        grad = np.clip(ys / max(horizon, 1.0), 0, 1)
        sky_col = np.array([0.56, 0.62, 0.70], np.float32) + grad[..., None] * np.array([0.15, 0.13, 0.1], np.float32)
        albedo[:] = sky_col
        # ground: earthy base modulated by low- and mid-frequency noise
        base = np.array([rng.uniform(0.32, 0.48), rng.uniform(0.30, 0.42), rng.uniform(0.22, 0.32)], np.float32)
        n1 = _smooth_noise(rng, hc, wc, 40)
        n2 = _smooth_noise(rng, hc, wc, 8)
        n3 = rng.uniform(-1, 1, size=(hc, wc)).astype(np.float32)
        ground = base[None, None, :] * (1.0 + 0.22 * n1 + 0.10 * n2 + 0.04 * n3)[..., None]
        albedo = np.where(sky[..., None], albedo, ground).astype(np.float32)
        # depth of a flat ground seen from 1.5 m, sky at infinity
        focal = self.scene.focal_px
        depth = np.where(sky, np.inf, CAMERA_HEIGHT_M * focal / np.maximum(ys - horizon, 0.5)).astype(np.float32)
        depth = np.broadcast_to(depth, (hc, wc)).copy()
        night = self.lighting == "night"
        ground_k = 281.0 if night else 289.0
        thermal = np.where(sky, 245.0 + 10.0 * grad, ground_k + 2.5 * n1 + 0.6 * n2).astype(np.float32)
        thermal = np.broadcast_to(thermal, (hc, wc)).copy()
        # clutter: buildings / poles standing on the horizon
        for _ in range(int(rng.integers(3, 8))):
            bw = float(rng.uniform(0.05, 0.25)) * W
            bh = float(rng.uniform(0.08, 0.3)) * H
            x0 = float(rng.uniform(-bw / 2, wc - bw / 2))
            y1 = horizon + float(rng.uniform(0, 0.08)) * H
            xs0, xs1 = int(max(x0, 0)), int(min(x0 + bw, wc))
            ys0, ys1 = int(max(y1 - bh, 0)), int(min(y1, hc))
            if xs1 <= xs0 or ys1 <= ys0:
                continue
            g = float(rng.uniform(0.3, 0.65))
            col = np.array([g, g * rng.uniform(0.9, 1.05), g * rng.uniform(0.85, 1.0)], np.float32)
            yy = np.arange(ys0, ys1)[:, None]
            xx = np.arange(xs0, xs1)[None, :]
            windows = ((yy // 6) % 2 == 0) & ((xx // 5) % 3 == 0)
            albedo[ys0:ys1, xs0:xs1] = col * np.where(windows, 0.75, 1.0)[..., None]
            depth[ys0:ys1, xs0:xs1] = float(rng.uniform(12.0, 28.0))
            thermal[ys0:ys1, xs0:xs1] = (ground_k + float(rng.uniform(1, 5))) + np.where(windows, 1.5, 0.0)
        self.bg_albedo = np.clip(albedo, 0, 1)
        self.bg_depth = depth
        self.bg_thermal = thermal
        self.bg_horizon = horizon - p

    def _bg_slice(self, arr: np.ndarray, cam: np.ndarray) -> np.ndarray:
        ox, oy = int(round(cam[0])), int(round(cam[1]))
        p = self.pad
        return arr[p + oy:p + oy + self.H, p + ox:p + ox + self.W].copy()

    # ------------------------------------------------------------ objects
    def _object_state(self, obj: SceneObject, t: float) -> Tuple[np.ndarray, float, float]:
        cam = self.scene.camera_offset(np.array([t]))[0]
        c = obj.center(np.array([t]), self.scene.wrap_box)[0] - cam
        h = float(obj.height_px(np.array([t]))[0])
        z = float(obj.depth_m(np.array([t]), self.scene.focal_px)[0])
        return c, h, z

    def truth(self, t: float, full: bool = True, blur: float = 0.0) -> TruthMaps:
        """Paint the scene at frame time ``t``.

        full: also produce depth and temperature maps (False for the
            sub-frame luminance renders used by the event simulator).
        blur: exposure as a fraction of a frame; > 0 smears moving objects
            along their motion (RGB albedo only).
        """
        scene = self.scene
        H, W = self.H, self.W
        cam = scene.camera_offset(np.array([t]))[0]
        albedo = self._bg_slice(self.bg_albedo, cam)
        if blur > 0 and np.any(scene.cam_amp > 0):
            cam2 = scene.camera_offset(np.array([t - blur]))[0]
            n = int(min(max(np.ceil(np.abs(cam2 - cam).max()), 1), 6))
            if n > 1:
                acc = albedo.copy()
                for k in range(1, n):
                    acc += self._bg_slice(self.bg_albedo, cam + (cam2 - cam) * k / (n - 1))
                albedo = acc / n
        id_map = np.zeros((H, W), np.int16)
        depth = self._bg_slice(self.bg_depth, cam) if full else None
        thermal = self._bg_slice(self.bg_thermal, cam) if full else None

        items = []
        for obj in scene.objects:
            c, h, z = self._object_state(obj, t)
            items.append((z, "obj", obj, c, h))
        for occ in scene.occluders:
            items.append((occ.depth_m, "occ", occ, None, None))
        items.sort(key=lambda it: -it[0])
        counts: Dict[int, Tuple[int, int, int]] = {}
        totals: Dict[int, Tuple[int, int]] = {}
        for z, kind, ent, c, h in items:
            if kind == "occ":
                self._paint_occluder(ent, t, cam, albedo, id_map, depth, thermal)
            else:
                totals[ent.obj_id] = self._paint_object(ent, t, c, h, z, albedo, id_map, depth, thermal, blur)
        for obj in scene.objects:
            total, inside = totals[obj.obj_id]
            counts[obj.obj_id] = (int(np.count_nonzero(id_map == obj.obj_id)), inside, total)
        return TruthMaps(albedo, id_map, depth, thermal, counts)

    def _paint_object(self, obj: SceneObject, t: float, c: np.ndarray, h: float, z: float,
                      albedo: np.ndarray, id_map: np.ndarray, depth: Optional[np.ndarray],
                      thermal: Optional[np.ndarray], blur: float) -> Tuple[int, int]:
        H, W = self.H, self.W
        w = h * obj.aspect
        x0, y0 = c[0] - w / 2, c[1] - h / 2
        # motion during the exposure (image space), for blur
        shifts = [np.zeros(2)]
        if blur > 0:
            c_prev, _, _ = self._object_state(obj, t - blur)
            d = c - c_prev
            n = int(min(max(np.ceil(np.abs(d).max()), 1), 8))
            if n > 1:
                shifts = [-d * k / (n - 1) for k in range(n)]
        ext = max(np.abs(s).max() for s in shifts)
        gx0, gy0 = int(np.floor(x0 - ext)), int(np.floor(y0 - ext))
        gx1, gy1 = int(np.ceil(x0 + w + ext)) + 1, int(np.ceil(y0 + h + ext)) + 1
        xs = np.arange(gx0, gx1, dtype=np.float32) + 0.5
        ys = np.arange(gy0, gy1, dtype=np.float32) + 0.5
        u0 = (xs[None, :] - x0) / max(w, 1e-3)
        v0 = (ys[:, None] - y0) / max(h, 1e-3)
        u0, v0 = np.broadcast_arrays(u0, v0)
        mask, part = shape_mask(obj.attrs["category"], u0, v0)
        total = int(np.count_nonzero(mask))
        # clip to the image
        cx0, cy0 = max(gx0, 0), max(gy0, 0)
        cx1, cy1 = min(gx1, W), min(gy1, H)
        if cx1 <= cx0 or cy1 <= cy0:
            return total, 0
        sl = (slice(cy0 - gy0, cy1 - gy0), slice(cx0 - gx0, cx1 - gx0))
        inside = int(np.count_nonzero(mask[sl]))
        if len(shifts) > 1:
            alpha = np.zeros(mask.shape, np.float32)
            for s in shifts:
                m, _ = shape_mask(obj.attrs["category"], u0 + s[0] / max(w, 1e-3), v0 + s[1] / max(h, 1e-3))
                alpha += m
            alpha /= len(shifts)
        else:
            alpha = mask.astype(np.float32)
        u, v = u0[sl], v0[sl]
        a = alpha[sl]
        m = mask[sl]
        shade = texture_factor(obj.attrs["texture"], u, v) * np.where(part[sl] > 0.5, 1.0, 0.45)
        if obj.attrs["category"] == "ball":
            r2 = (u - 0.4) ** 2 + (v - 0.4) ** 2
            shade = shade * np.clip(1.15 - 1.2 * r2, 0.5, 1.15)
        col = obj.color_rgb.astype(np.float32)[None, None, :] * shade[..., None]
        region = albedo[cy0:cy1, cx0:cx1]
        region[:] = region * (1 - a[..., None]) + np.clip(col, 0, 1) * a[..., None]
        sel = a >= 0.5
        id_map[cy0:cy1, cx0:cx1][sel] = obj.obj_id
        if depth is not None:
            z_map = np.full(u.shape, z, np.float32)
            if obj.attrs["category"] == "ball":
                size_m = CATEGORY_HEIGHT_M["ball"] * z / max(z, 1e-3)
                r2 = np.clip(((u - 0.5) ** 2 + (v - 0.5) ** 2) / 0.25, 0, 1)
                z_map -= 0.5 * size_m * np.sqrt(1 - r2)
            depth[cy0:cy1, cx0:cx1][m] = z_map[m]
        if thermal is not None:
            temp = obj.temperature_k
            parts = part[sl]
            offset = {"person": 1.5, "car": 12.0 if obj.attrs["temperature"] == "hot" else 2.0,
                      "drone": 8.0 if obj.attrs["temperature"] == "hot" else 1.0}.get(obj.attrs["category"], -1.0)
            t_map = np.where(parts > 0.5, temp, temp + offset).astype(np.float32)
            thermal[cy0:cy1, cx0:cx1][m] = t_map[m]
        return total, inside

    def _paint_occluder(self, occ: Occluder, t: float, cam: np.ndarray, albedo: np.ndarray, id_map: np.ndarray,
                        depth: Optional[np.ndarray], thermal: Optional[np.ndarray]) -> None:
        r = occ.rect(t) - np.tile(cam, 2)
        x0, y0 = int(max(np.floor(r[0]), 0)), int(max(np.floor(r[1]), 0))
        x1, y1 = int(min(np.ceil(r[2]), self.W)), int(min(np.ceil(r[3]), self.H))
        if x1 <= x0 or y1 <= y0:
            return
        xx = np.arange(x0, x1)[None, :] - r[0]
        grain = np.where((xx.astype(np.int64) // 4) % 2 == 0, 1.0, 0.85).astype(np.float32)
        albedo[y0:y1, x0:x1] = occ.color_rgb.astype(np.float32)[None, None, :] * grain[..., None]
        id_map[y0:y1, x0:x1] = OCCLUDER_ID
        if depth is not None:
            depth[y0:y1, x0:x1] = occ.depth_m
        if thermal is not None:
            thermal[y0:y1, x0:x1] = occ.temperature_k


# ---------------------------------------------------------------- sensors
class NoiseSource:
    """Per-clip sensor noise, drawn once and reused at random offsets.

    A frame's noise is a contiguous window of a pre-drawn bank (twice the
    largest request) at an offset chosen by ``rng``: a slice instead of a
    fresh draw of every pixel, which was the renderer's largest cost. Windows
    at different offsets are shifted copies, so frame-to-frame noise is not
    independent in the strict sense; for read noise, depth jitter and NETD
    that is invisible to a tracker.
    """

    def __init__(self, rng: np.random.Generator, max_elements: int):
        self.rng = rng
        self._normal = rng.standard_normal(2 * max_elements, dtype=np.float32)
        self._uniform = rng.random(2 * max_elements, dtype=np.float32)

    def _window(self, bank: np.ndarray, shape: Tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        if n > bank.size // 2:
            raise ValueError(f"noise request of {n} elements exceeds the bank ({bank.size // 2})")
        off = int(self.rng.integers(0, bank.size - n + 1))
        return bank[off:off + n].reshape(shape)

    def normal(self, shape: Tuple[int, ...]) -> np.ndarray:
        """Standard normal float32 noise of ``shape`` (read-only view)."""
        return self._window(self._normal, shape)

    def uniform(self, shape: Tuple[int, ...]) -> np.ndarray:
        """Uniform [0, 1) float32 noise of ``shape`` (read-only view)."""
        return self._window(self._uniform, shape)


def luminance(albedo_rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32 Rec. 601 luma of an (H, W, 3) float image."""
    return albedo_rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def rgb_sensor(albedo_rgb: np.ndarray, lighting: str, noise: NoiseSource,
               glare_center: np.ndarray, night_light: float) -> np.ndarray:
    """Lighting, glare and noise: (H, W, 3) float albedo -> (H, W, 3) uint8 RGB.

    day: unit light; dusk: 0.45 with a warm tint; night: ``night_light``
    (about 0.06, so RGB is nearly black) with a cool tint; glare: day plus a
    saturating sun blob and a lens streak. Noise is Gaussian read noise
    (1.5 DN, 2.5 DN at night).
    """
    H, W = albedo_rgb.shape[:2]
    if lighting == "dusk":
        img = albedo_rgb * (0.45 * np.array([1.0, 0.8, 0.62], np.float32))
    elif lighting == "night":
        img = albedo_rgb * (night_light * np.array([0.8, 0.85, 1.0], np.float32))
    else:
        img = albedo_rgb.copy()
    img = img * 255.0
    if lighting == "glare":
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        dx, dy = xx - glare_center[0], yy - glare_center[1]
        r2 = dx * dx + dy * dy
        sigma = 0.12 * W
        blob = 400.0 * np.exp(-r2 / (2 * sigma * sigma))
        streak = 160.0 * np.exp(-np.abs(dy - 0.35 * dx) / 2.5) * np.exp(-np.sqrt(r2) / (0.6 * W))
        img = img + (blob + streak)[..., None] * np.array([1.0, 0.97, 0.85], np.float32)
    sigma_n = 2.5 if lighting == "night" else 1.5
    img += noise.normal(img.shape) * np.float32(sigma_n)
    np.clip(img, 0, 255, out=img)
    return (img + 0.5).astype(np.uint8)


def depth_sensor(depth_true_m: np.ndarray, noise: NoiseSource,
                 depth_range_m: Tuple[float, float]) -> np.ndarray:
    """True depth -> sensor depth, (H, W) float32 metres with NaN holes.

    Noise grows with distance (sigma = 1.5 mm + 0.15 % z^2, as for stereo /
    structured light); holes: random speckle (2 %), dropouts along depth
    edges (50 % of edge pixels) and everything outside ``depth_range_m``.
    """
    z = depth_true_m.astype(np.float32)
    finite = np.isfinite(z)
    zf = np.where(finite, z, 0.0).astype(np.float32)
    noisy = zf + noise.normal(z.shape) * (0.0015 + 0.0015 * zf * zf)
    gy = np.abs(np.diff(zf, axis=0, prepend=zf[:1]))
    gx = np.abs(np.diff(zf, axis=1, prepend=zf[:, :1]))
    u = noise.uniform(z.shape)
    edge = (np.maximum(gx, gy) > 0.3) & (u < 0.5)
    speckle = (u > 0.5) & (u < 0.52)         # 2 % of the pixels, independent of the edge draw
    lo, hi = depth_range_m
    bad = ~finite | edge | speckle | (noisy < lo) | (noisy > hi)
    out = noisy.astype(np.float32)
    out[bad] = np.nan
    return out


def thermal_sensor(thermal_true_k: np.ndarray, noise: NoiseSource, column_fpn_k: np.ndarray) -> np.ndarray:
    """True temperature -> radiometric thermal image, (H, W) float32 Kelvin.

    Optics blur (Gaussian, sigma 0.8 px), NETD noise 0.05 K and a fixed
    per-column pattern ``column_fpn_k`` (W,) K.
    """
    t = cv2.GaussianBlur(thermal_true_k.astype(np.float32), (0, 0), 0.8)
    t = t + noise.normal(t.shape) * np.float32(0.05) + column_fpn_k[None, :].astype(np.float32)
    return t.astype(np.float32)
