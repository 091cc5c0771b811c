"""Conversions between raw ``sensor_msgs/Image`` fields and numpy arrays.

numpy only (no cv_bridge, no ROS): the ROS glue passes the message's fields
(``data, height, width, encoding, step, is_bigendian``) and gets a typed array
back, or an :class:`ImageConversionError` naming the encoding and the numbers
that disagree. The reverse functions (``*_to_bytes``) build the ``data`` and
``step`` fields for publishers; they always write little-endian data
(``is_bigendian = 0``) with no row padding (``step = width * pixel bytes``).

Supported encodings
-------------------
* colour: ``rgb8, bgr8, rgba8, bgra8, mono8, 8UC1`` (as mono8), ``8UC3`` (as
  bgr8, OpenCV's order), ``mono16, rgb16, bgr16, rgba16, bgra16`` (16-bit
  values scaled to 8 bit by ``/257``, so 65535 -> 255).
* depth (REP 117/118): ``16UC1`` / ``mono16`` millimetres with 0 = invalid,
  ``32FC1`` metres with NaN / +-Inf = invalid. Output is float32 metres with
  NaN wherever the depth is invalid (also for zero or negative floats).
* thermal: ``mono8`` and ``mono16`` raw counts through a linear
  :class:`ThermalCalibration`; ``32FC1`` temperatures in K or degC.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = [
    "ImageConversionError",
    "ThermalCalibration",
    "COLOR_ENCODINGS",
    "DEPTH_ENCODINGS",
    "THERMAL_ENCODINGS",
    "image_to_rgb",
    "depth_to_m",
    "thermal_to_kelvin",
    "rgb_to_bytes",
    "depth_m_to_bytes",
    "kelvin_to_bytes",
    "decode_raw",
]

KELVIN_AT_0C = 273.15


class ImageConversionError(ValueError):
    """An image message cannot be converted: unknown or wrong encoding,
    inconsistent size / step / data length, or a bad array to encode."""


#: encoding -> (numpy base dtype char, channels)
_LAYOUT: Dict[str, Tuple[str, int]] = {
    "rgb8": ("u1", 3),
    "bgr8": ("u1", 3),
    "rgba8": ("u1", 4),
    "bgra8": ("u1", 4),
    "mono8": ("u1", 1),
    "8UC1": ("u1", 1),
    "8UC3": ("u1", 3),
    "mono16": ("u2", 1),
    "16UC1": ("u2", 1),
    "rgb16": ("u2", 3),
    "bgr16": ("u2", 3),
    "rgba16": ("u2", 4),
    "bgra16": ("u2", 4),
    "32FC1": ("f4", 1),
}

COLOR_ENCODINGS = ("rgb8", "bgr8", "rgba8", "bgra8", "mono8", "8UC1", "8UC3",
                   "mono16", "rgb16", "bgr16", "rgba16", "bgra16")
DEPTH_ENCODINGS = ("16UC1", "mono16", "32FC1")
THERMAL_ENCODINGS = ("mono8", "8UC1", "mono16", "16UC1", "32FC1")


def _canonical(encoding: str) -> str:
    enc = str(encoding).strip()
    if enc in _LAYOUT:
        return enc
    # accept lower-case spellings of the OpenCV-style names ("32fc1")
    upper = enc.upper()
    if upper in _LAYOUT:
        return upper
    lower = enc.lower()
    if lower in _LAYOUT:
        return lower
    return enc


def _as_byte_array(data) -> np.ndarray:
    """Flat uint8 view of ``data`` (bytes, bytearray, memoryview, array.array,
    numpy array or a list of ints) without copying where possible."""
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            return np.ascontiguousarray(data).view(np.uint8).reshape(-1)
        return data.reshape(-1)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    try:
        return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)  # array.array
    except TypeError:
        arr = np.asarray(data)
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ImageConversionError("image data list holds values outside 0..255") from None
        return arr.astype(np.uint8).reshape(-1)


def decode_raw(data, height: int, width: int, encoding: str, step: int,
               is_bigendian: bool = False, allowed: Optional[Tuple[str, ...]] = None) -> Tuple[str, np.ndarray]:
    """Interpret image bytes as a (H, W, C) array of the encoding's dtype in
    native byte order; returns ``(canonical_encoding, array)``.

    Checks, each with its own message: unknown encoding (or one not in
    ``allowed``), non-positive size, ``step`` smaller than one row or not a
    whole number of elements, and ``len(data) != step * height`` (truncated or
    oversized data). Row padding (``step`` larger than a row) is skipped.
    """
    enc = _canonical(encoding)
    if enc not in _LAYOUT:
        known = allowed if allowed is not None else tuple(_LAYOUT)
        raise ImageConversionError(f"unknown image encoding {encoding!r}; supported: {', '.join(known)}")
    if allowed is not None and enc not in allowed:
        raise ImageConversionError(f"encoding {encoding!r} is not accepted here; expected one of: {', '.join(allowed)}")
    try:
        height, width, step = int(height), int(width), int(step)
    except (TypeError, ValueError):
        raise ImageConversionError(f"{enc}: height/width/step must be integers, got {height!r}/{width!r}/{step!r}") from None
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"{enc}: image size must be positive, got {width}x{height} (width x height)")
    base, channels = _LAYOUT[enc]
    itemsize = np.dtype(base).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f"{enc}: step {step} is smaller than one row ({width} px x {channels} ch x {itemsize} B = {row_bytes} B)")
    buf = _as_byte_array(data)
    expected = step * height
    if buf.size < expected:
        raise ImageConversionError(
            f"{enc}: truncated data: {buf.size} bytes, expected step x height = {step} x {height} = {expected}")
    if buf.size > expected:
        raise ImageConversionError(
            f"{enc}: data has {buf.size} bytes, more than step x height = {step} x {height} = {expected}; "
            f"wrong step or height?")
    rows = buf.reshape(height, step)[:, :row_bytes]
    dtype = np.dtype(base).newbyteorder(">" if is_bigendian else "<") if itemsize > 1 else np.dtype(base)
    arr = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    if itemsize > 1:
        arr = arr.astype(np.dtype(base).newbyteorder("="), copy=False)
    return enc, arr


def image_to_rgb(data, height: int, width: int, encoding: str, step: int,
                 is_bigendian: bool = False) -> np.ndarray:
    """Decode a colour or grey image message to ``(H, W, 3) uint8`` RGB.

    Grey images are replicated to three channels; alpha is dropped; 16-bit
    images are scaled by ``/257`` (full 16-bit range -> 0..255). Depth/float
    encodings (``16UC1``, ``32FC1``) raise ImageConversionError.
    """
    enc = _canonical(encoding)
    if enc in ("16UC1", "32FC1"):
        raise ImageConversionError(
            f"encoding {encoding!r} is a depth/float encoding, not a colour image; "
            f"expected one of: {', '.join(COLOR_ENCODINGS)}")
    enc, arr = decode_raw(data, height, width, enc, step, is_bigendian, allowed=COLOR_ENCODINGS)
    if arr.dtype == np.uint16:
        arr = ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if enc in ("bgr8", "bgra8", "8UC3", "bgr16", "bgra16"):
        out = arr[..., 2::-1]
    elif arr.shape[2] == 1:
        out = np.repeat(arr, 3, axis=2)
    else:
        out = arr[..., :3]
    return np.ascontiguousarray(out, dtype=np.uint8)


def depth_to_m(data, height: int, width: int, encoding: str, step: int,
               is_bigendian: bool = False) -> np.ndarray:
    """Decode a depth image to ``(H, W) float32`` metres, NaN where invalid.

    The unit is auto-detected from the encoding (REP 117/118): ``16UC1`` /
    ``mono16`` are millimetres with 0 = no reading; ``32FC1`` is metres with
    NaN (no reading), -Inf (too close) and +Inf (too far) all mapped to NaN,
    and zero or negative values treated as invalid too.
    """
    enc, arr = decode_raw(data, height, width, encoding, step, is_bigendian, allowed=DEPTH_ENCODINGS)
    plane = arr[..., 0]
    if enc == "32FC1":
        depth = plane.astype(np.float32, copy=True)
        depth[~np.isfinite(depth) | (depth <= 0.0)] = np.nan
        return depth
    depth = plane.astype(np.float32) * np.float32(0.001)
    depth[plane == 0] = np.nan
    return depth


@dataclass(frozen=True)
class ThermalCalibration:
    """Linear map from raw sensor counts to temperature:
    ``temperature = raw * gain + offset`` in ``unit`` ('C' or 'K').

    ``gain`` is degrees per count (the resolution: a smaller gain resolves
    finer steps but covers a narrower range of a 16-bit image); ``offset`` is
    the temperature at raw = 0.
    """

    gain: float = 0.1
    offset: float = -100.0
    unit: str = "C"

    def __post_init__(self) -> None:
        if self.unit not in ("C", "K"):
            raise ImageConversionError(f"thermal calibration unit must be 'C' or 'K', got {self.unit!r}")
        if not np.isfinite(self.gain) or self.gain == 0 or not np.isfinite(self.offset):
            raise ImageConversionError(f"thermal calibration needs a finite non-zero gain and finite offset, "
                                       f"got gain={self.gain!r} offset={self.offset!r}")

    @classmethod
    def preset(cls, name: str) -> "ThermalCalibration":
        """Named calibrations:

        * ``optris``: Optris PI ``(raw - 1000) / 10`` degC (0.1 K per count).
        * ``centikelvin`` / ``flir_tlinear_high``: 0.01 K per count (FLIR
          Boson/Lepton TLinear high resolution).
        * ``flir_tlinear_low``: 0.1 K per count.
        * ``mono8_0_100c``: an 8-bit image spanning 0..100 degC (the default
          for ``mono8``: 255 counts -> 100 degC).
        * ``kelvin``: raw counts are Kelvin.
        """
        presets = _THERMAL_PRESETS
        if name not in presets:
            raise ImageConversionError(f"unknown thermal calibration preset {name!r}; known: {', '.join(sorted(presets))}")
        return presets[name]

    def to_kelvin(self, raw: np.ndarray) -> np.ndarray:
        """(…) raw counts -> (…) float32 Kelvin."""
        t = raw.astype(np.float64) * self.gain + self.offset
        if self.unit == "C":
            t = t + KELVIN_AT_0C
        return t.astype(np.float32)

    def from_kelvin(self, thermal_k: np.ndarray) -> np.ndarray:
        """(…) Kelvin -> (…) float64 raw counts (unrounded, unclipped)."""
        t = np.asarray(thermal_k, dtype=np.float64)
        if self.unit == "C":
            t = t - KELVIN_AT_0C
        return (t - self.offset) / self.gain


_THERMAL_PRESETS: Dict[str, ThermalCalibration] = {
    "optris": ThermalCalibration(gain=0.1, offset=-100.0, unit="C"),
    "centikelvin": ThermalCalibration(gain=0.01, offset=0.0, unit="K"),
    "flir_tlinear_high": ThermalCalibration(gain=0.01, offset=0.0, unit="K"),
    "flir_tlinear_low": ThermalCalibration(gain=0.1, offset=0.0, unit="K"),
    "mono8_0_100c": ThermalCalibration(gain=100.0 / 255.0, offset=0.0, unit="C"),
    "kelvin": ThermalCalibration(gain=1.0, offset=0.0, unit="K"),
}

#: default calibration per raw encoding when none is given
DEFAULT_MONO8_CALIBRATION = _THERMAL_PRESETS["mono8_0_100c"]
DEFAULT_MONO16_CALIBRATION = _THERMAL_PRESETS["optris"]


def _check_float_unit(float_unit: str) -> str:
    unit = str(float_unit).upper()
    if unit not in ("K", "C"):
        raise ImageConversionError(f"float_unit must be 'K' or 'C', got {float_unit!r}")
    return unit


def thermal_to_kelvin(data, height: int, width: int, encoding: str, step: int,
                      is_bigendian: bool = False, calibration: Optional[ThermalCalibration] = None,
                      float_unit: str = "K") -> np.ndarray:
    """Decode a thermal image to ``(H, W) float32`` Kelvin (NaN where invalid).

    * ``mono8`` / ``8UC1``: raw counts through ``calibration``; default
      ``mono8_0_100c`` (0 -> 0 degC, 255 -> 100 degC, ~0.39 K per count).
    * ``mono16`` / ``16UC1``: raw counts through ``calibration``; default the
      Optris preset ``(raw - 1000) / 10`` degC.
    * ``32FC1``: temperatures in ``float_unit`` ('K' or 'C'); non-finite -> NaN.
    """
    enc, arr = decode_raw(data, height, width, encoding, step, is_bigendian, allowed=THERMAL_ENCODINGS)
    plane = arr[..., 0]
    if enc == "32FC1":
        unit = _check_float_unit(float_unit)
        out = plane.astype(np.float32, copy=True)
        out[~np.isfinite(out)] = np.nan
        if unit == "C":
            out += np.float32(KELVIN_AT_0C)
        return out
    if calibration is None:
        calibration = DEFAULT_MONO8_CALIBRATION if plane.dtype == np.uint8 else DEFAULT_MONO16_CALIBRATION
    return calibration.to_kelvin(plane)


# --------------------------------------------------------------- publishers
def _check_image(arr, name: str, ndim: Tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim not in ndim:
        raise ImageConversionError(f"{name} must have {' or '.join(str(n) for n in ndim)} dims, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageConversionError(f"{name} is empty, shape {arr.shape}")
    return arr


def rgb_to_bytes(image_rgb: np.ndarray, encoding: str = "rgb8") -> Tuple[bytes, int]:
    """Encode ``(H, W, 3) uint8`` RGB as ``(data, step)`` in ``encoding``
    (rgb8, bgr8, rgba8, bgra8 with alpha 255, or mono8 as BT.601 luma)."""
    img = _check_image(image_rgb, "image_rgb", (3,))
    if img.shape[2] != 3 or img.dtype != np.uint8:
        raise ImageConversionError(f"image_rgb must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
    enc = _canonical(encoding)
    h, w = img.shape[:2]
    if enc == "rgb8":
        out = img
    elif enc == "bgr8":
        out = img[..., ::-1]
    elif enc in ("rgba8", "bgra8"):
        out = np.empty((h, w, 4), np.uint8)
        out[..., :3] = img if enc == "rgba8" else img[..., ::-1]
        out[..., 3] = 255
    elif enc == "mono8":
        luma = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        out = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    else:
        raise ImageConversionError(f"rgb_to_bytes: unsupported encoding {encoding!r}; "
                                   f"expected rgb8, bgr8, rgba8, bgra8 or mono8")
    out = np.ascontiguousarray(out)
    return out.tobytes(), w * out.shape[2]


def depth_m_to_bytes(depth_m: np.ndarray, encoding: str = "32FC1") -> Tuple[bytes, int]:
    """Encode ``(H, W) float`` metres (NaN = invalid) as ``(data, step)``.

    ``32FC1``: metres, NaN kept. ``16UC1``: millimetres rounded, NaN / <= 0 /
    beyond 65.535 m -> 0 (no reading).
    """
    depth = _check_image(depth_m, "depth_m", (2,)).astype(np.float32)
    enc = _canonical(encoding)
    w = depth.shape[1]
    if enc == "32FC1":
        return depth.astype("<f4").tobytes(), w * 4
    if enc in ("16UC1", "mono16"):
        mm = np.rint(np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float64) * 1000.0)
        mm[(mm <= 0) | (mm > 65535)] = 0
        return mm.astype("<u2").tobytes(), w * 2
    raise ImageConversionError(f"depth_m_to_bytes: unsupported encoding {encoding!r}; expected 32FC1 or 16UC1")


def kelvin_to_bytes(thermal_k: np.ndarray, encoding: str = "mono16",
                    calibration: Optional[ThermalCalibration] = None, float_unit: str = "K") -> Tuple[bytes, int]:
    """Encode ``(H, W)`` Kelvin as ``(data, step)``: ``mono16`` / ``mono8``
    raw counts through ``calibration`` (rounded, clipped to the type's range,
    NaN -> 0; defaults as in :func:`thermal_to_kelvin`) or ``32FC1`` in
    ``float_unit``."""
    t = _check_image(thermal_k, "thermal_k", (2,)).astype(np.float64)
    enc = _canonical(encoding)
    w = t.shape[1]
    if enc == "32FC1":
        unit = _check_float_unit(float_unit)
        out = t - KELVIN_AT_0C if unit == "C" else t
        return out.astype("<f4").tobytes(), w * 4
    if enc in ("mono16", "16UC1", "mono8", "8UC1"):
        eight = enc in ("mono8", "8UC1")
        if calibration is None:
            calibration = DEFAULT_MONO8_CALIBRATION if eight else DEFAULT_MONO16_CALIBRATION
        raw = np.rint(np.nan_to_num(calibration.from_kelvin(t), nan=0.0))
        top = 255 if eight else 65535
        raw = np.clip(raw, 0, top)
        return raw.astype("u1" if eight else "<u2").tobytes(), w * (1 if eight else 2)
    raise ImageConversionError(f"kelvin_to_bytes: unsupported encoding {encoding!r}; expected mono16, mono8 or 32FC1")
