"""Event-camera simulator: log-intensity threshold crossings at sub-frame times.

Each pixel remembers the log intensity at its last event (``reference``).
Between two rendered instants the log intensity is interpolated linearly;
every time it crosses ``reference +- C`` an event is emitted at the
interpolated crossing time with polarity 1 (brighter) or 0 (darker), and the
reference moves by C. The per-pixel threshold C varies by a fixed mismatch
(a property of the sensor, sampled once). Background-activity noise adds
random events at a constant rate. A static scene with no noise emits nothing.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.events import accumulate_events
from ..core.types import EventBatch

#: added to linear luminance before the log (darkest resolvable level)
LOG_EPS = 0.02


def log_intensity(luma: np.ndarray) -> np.ndarray:
    """(H, W) float32 log(luma + LOG_EPS) for luma in [0, 1]."""
    return np.log(luma.astype(np.float32) + np.float32(LOG_EPS))


class EventSimulator:
    """Stateful per-pixel event generator for one stream.

    threshold: (H, W) float32 contrast threshold per pixel (log units);
        lower -> more events, more detail, more data.
    noise_hz: background-activity events per pixel per second (random
        polarity); 0 for a noise-free sensor.
    """

    def __init__(self, initial_log: np.ndarray, threshold: np.ndarray, noise_hz: float,
                 rng: Optional[np.random.Generator] = None):
        self.reference = initial_log.astype(np.float32).copy()
        self.threshold = threshold.astype(np.float32)
        self.noise_hz = float(noise_hz)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.H, self.W = initial_log.shape
        self._min_threshold = float(self.threshold.min())

    def segment(self, log_a: np.ndarray, log_b: np.ndarray, t_a_us: float, t_b_us: float):
        """Events while the log intensity moves linearly from ``log_a`` (at
        ``t_a_us``) to ``log_b`` (at ``t_b_us``). Returns parallel arrays
        (x, y, t_us float64, polarity) in no particular order."""
        ref = self.reference.reshape(-1)
        diff = log_b.reshape(-1) - ref
        # only pixels that moved by at least the smallest threshold can fire
        cand = np.flatnonzero(np.abs(diff) >= self._min_threshold)
        xs, ys, ts, ps = [], [], [], []
        if cand.size:
            d = diff[cand]
            c = self.threshold.reshape(-1)[cand]
            n = np.floor(np.abs(d) / c).astype(np.int64)
            fire = n > 0
            cand, d, c, n = cand[fire], d[fire], c[fire], n[fire]
        if cand.size:
            sign = np.where(d > 0, 1.0, -1.0).astype(np.float32)
            pix = np.repeat(cand, n)
            starts = np.cumsum(n) - n
            j = np.arange(pix.size) - np.repeat(starts, n) + 1          # 1..n within each pixel's run
            s_rep = np.repeat(sign, n)
            level = np.repeat(ref[cand], n) + s_rep * j * np.repeat(c, n)
            a = log_a.reshape(-1)[pix]
            span = log_b.reshape(-1)[pix] - a
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(np.abs(span) > 1e-9, (level - a) / span, 1.0)
            ts.append(t_a_us + np.clip(frac, 0.0, 1.0) * (t_b_us - t_a_us))
            ys.append(pix // self.W)
            xs.append(pix % self.W)
            ps.append((s_rep > 0).astype(np.uint8))
            ref[cand] += sign * n.astype(np.float32) * c
        if self.noise_hz > 0:
            lam = self.noise_hz * self.H * self.W * (t_b_us - t_a_us) * 1e-6
            k = int(self.rng.poisson(lam))
            if k:
                xs.append(self.rng.integers(0, self.W, k))
                ys.append(self.rng.integers(0, self.H, k))
                ts.append(self.rng.uniform(t_a_us, t_b_us, k))
                ps.append(self.rng.integers(0, 2, k).astype(np.uint8))
        if not xs:
            empty = np.zeros(0, np.int64)
            return empty, empty, np.zeros(0, np.float64), np.zeros(0, np.uint8)
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(ts), np.concatenate(ps)


def make_batch(parts, width: int, height: int) -> EventBatch:
    """Concatenate (x, y, t_us, polarity) parts, sort by time -> EventBatch."""
    if parts:
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        t = np.concatenate([p[2] for p in parts])
        pol = np.concatenate([p[3] for p in parts])
    else:
        x = y = np.zeros(0, np.int64)
        t = np.zeros(0, np.float64)
        pol = np.zeros(0, np.uint8)
    t_us = np.floor(t).astype(np.int64)
    order = np.lexsort((x, y, t_us))
    return EventBatch(x_px=x[order].astype(np.uint16), y_px=y[order].astype(np.uint16), t_us=t_us[order],
                      polarity=pol[order].astype(np.uint8), width=int(width), height=int(height))


def empty_batch(width: int, height: int) -> EventBatch:
    """An EventBatch with no events."""
    return make_batch([], width, height)


def event_frame(batch: EventBatch, height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 event frame the trackers expect: the core 'histogram'
    representation (ON / OFF counts normalised to [0, 1])."""
    return accumulate_events(batch, height, width, "histogram")
