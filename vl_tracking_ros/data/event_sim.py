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

    def segment(self, log_a: np.ndarray, log_b: np.ndarray, t_a_us: float, t_b_us: float):
        """Events while the log intensity moves linearly from ``log_a`` (at
        ``t_a_us``) to ``log_b`` (at ``t_b_us``). Returns parallel arrays
        (x, y, t_us float64, polarity) in no particular order."""
        diff = log_b - self.reference
        c = self.threshold
        n_up = np.floor(np.maximum(diff, 0) / c).astype(np.int64)
        n_dn = np.floor(np.maximum(-diff, 0) / c).astype(np.int64)
        xs, ys, ts, ps = [], [], [], []
        span = log_b - log_a
        for counts, sign in ((n_up, 1.0), (n_dn, -1.0)):
            flat = counts.reshape(-1)
            idx = np.flatnonzero(flat)
            if idx.size == 0:
                continue
            reps = flat[idx]
            pix = np.repeat(idx, reps)
            # j = 1..n within each pixel's run
            starts = np.cumsum(reps) - reps
            j = np.arange(pix.size) - np.repeat(starts, reps) + 1
            ref = self.reference.reshape(-1)[pix]
            level = ref + sign * j * self.threshold.reshape(-1)[pix]
            a = log_a.reshape(-1)[pix]
            s = span.reshape(-1)[pix]
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(np.abs(s) > 1e-9, (level - a) / s, 1.0)
            frac = np.clip(frac, 0.0, 1.0)
            ts.append(t_a_us + frac * (t_b_us - t_a_us))
            ys.append(pix // self.W)
            xs.append(pix % self.W)
            ps.append(np.full(pix.size, 1 if sign > 0 else 0, np.uint8))
        self.reference += (n_up - n_dn).astype(np.float32) * c
        if self.noise_hz > 0:
            lam = self.noise_hz * self.H * self.W * (t_b_us - t_a_us) * 1e-6
            n = int(self.rng.poisson(lam))
            if n:
                xs.append(self.rng.integers(0, self.W, n))
                ys.append(self.rng.integers(0, self.H, n))
                ts.append(self.rng.uniform(t_a_us, t_b_us, n))
                ps.append(self.rng.integers(0, 2, n).astype(np.uint8))
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
