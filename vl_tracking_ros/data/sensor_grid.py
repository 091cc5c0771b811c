"""Sensors that are not pixel-aligned to RGB: move aligned images and events
into a sensor's own pixel grid through a known homography.

``H`` maps a pixel of the sensor to the RGB image (``core.align``'s
convention), so the sensor sees at its pixel ``u`` what the aligned image has
at ``H u``; ``core.align.Alignment(H).apply`` undoes it (up to the border,
where the sensor sees nothing the RGB camera saw).
"""
from __future__ import annotations

import numpy as np

from ..core.align import Alignment
from ..core.types import EventBatch


def to_sensor_grid(image: np.ndarray, homography: np.ndarray, interpolation: str = "linear") -> np.ndarray:
    """(H, W[, C]) image aligned to RGB -> the same size in the sensor's grid.

    interpolation: 'nearest' for depth (no invented depths), 'linear' for
    thermal. Pixels that see outside the RGB view are NaN (float) or 0.
    """
    return Alignment(np.linalg.inv(homography)).apply(image, interpolation)


def events_to_sensor_grid(batch: EventBatch, homography: np.ndarray) -> EventBatch:
    """Events in RGB pixels -> the event sensor's pixels (``u = H^-1 x``,
    rounded); events that land outside the sensor are dropped."""
    if not len(batch):
        return batch
    inv = np.linalg.inv(homography)
    pts = np.stack([batch.x_px.astype(np.float64), batch.y_px.astype(np.float64), np.ones(len(batch))])
    u = inv @ pts
    x = np.floor(u[0] / u[2] + 0.5)
    y = np.floor(u[1] / u[2] + 0.5)
    keep = (x >= 0) & (x < batch.width) & (y >= 0) & (y < batch.height)
    return EventBatch(x_px=x[keep].astype(np.uint16), y_px=y[keep].astype(np.uint16), t_us=batch.t_us[keep],
                      polarity=batch.polarity[keep], width=batch.width, height=batch.height)


def events_to_rgb_grid(batch: EventBatch, homography: np.ndarray) -> EventBatch:
    """Inverse of :func:`events_to_sensor_grid` (``x = H u``, rounded, clipped)."""
    return events_to_sensor_grid(batch, np.linalg.inv(homography))
