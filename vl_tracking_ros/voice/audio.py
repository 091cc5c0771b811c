"""Audio conversion helpers: anything in -> 16 kHz mono float32.

All functions are pure numpy/scipy. Waveforms in this package are
``(N,) float32`` in [-1, 1] at :data:`TARGET_RATE_HZ` unless their name says
otherwise (``samples_i16`` is interleaved signed 16-bit PCM).
"""
from __future__ import annotations

from math import gcd
from pathlib import Path
from typing import Tuple, Union

import numpy as np

from .errors import AudioFormatError

#: Sample rate every recognizer, VAD and segmenter in this package works at.
TARGET_RATE_HZ = 16000
#: Lowest / highest input sample rates we accept (telephone .. studio).
MIN_RATE_HZ = 4000
MAX_RATE_HZ = 384000


def check_rate(sample_rate: int) -> int:
    """Return ``sample_rate`` as int or raise :class:`AudioFormatError`."""
    try:
        rate = int(sample_rate)
    except (TypeError, ValueError) as exc:
        raise AudioFormatError(f"sample rate must be an integer, got {sample_rate!r}") from exc
    if rate != sample_rate or not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise AudioFormatError(
            f"unsupported sample rate {sample_rate!r} Hz (accepted: {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz)")
    return rate


def int16_to_float32(samples_i16: np.ndarray) -> np.ndarray:
    """Signed 16-bit PCM -> float32 in [-1, 1) (divides by 32768)."""
    return np.asarray(samples_i16, dtype=np.int16).astype(np.float32) / 32768.0


def float32_to_int16(audio_f32: np.ndarray) -> np.ndarray:
    """float waveform in [-1, 1] -> int16 PCM (clipped, rounded)."""
    a = np.clip(np.asarray(audio_f32, dtype=np.float64), -1.0, 32767.0 / 32768.0)
    return np.round(a * 32768.0).astype(np.int16)


def interleaved_to_mono(samples: np.ndarray, channels: int) -> np.ndarray:
    """Interleaved ``(frames * channels,)`` samples -> ``(frames,)`` float32
    mono (mean of the channels). int16 input is scaled to [-1, 1)."""
    if channels < 1 or channels > 32:
        raise AudioFormatError(f"unsupported channel count {channels}")
    arr = np.asarray(samples)
    if arr.ndim != 1:
        raise AudioFormatError(f"interleaved samples must be 1-D, got shape {arr.shape}")
    if arr.size % channels:
        raise AudioFormatError(
            f"{arr.size} samples is not a multiple of {channels} channels")
    f = int16_to_float32(arr) if arr.dtype == np.int16 else arr.astype(np.float32)
    return f.reshape(-1, channels).mean(axis=1).astype(np.float32)


def to_mono_float32(audio: np.ndarray) -> np.ndarray:
    """``(N,)`` or ``(N, C)`` int16/float audio -> ``(N,)`` float32 mono.

    Non-finite samples become 0 and the result is clipped to [-1, 1], so
    clipped or corrupted input never propagates NaN into the models.
    """
    arr = np.asarray(audio)
    if arr.ndim == 2:
        arr = arr.mean(axis=1) if arr.dtype != np.int16 else int16_to_float32(arr).mean(axis=1)
    elif arr.ndim != 1:
        raise AudioFormatError(f"audio must be (N,) or (N, channels), got shape {arr.shape}")
    if arr.dtype == np.int16:
        arr = int16_to_float32(arr)
    elif not np.issubdtype(arr.dtype, np.floating):
        raise AudioFormatError(f"audio dtype must be int16 or float, got {arr.dtype}")
    out = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(out, -1.0, 1.0)


def resample_to_16k(audio_f32: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resample a mono float waveform from ``sample_rate`` Hz to 16 kHz.

    Uses a polyphase FIR (``scipy.signal.resample_poly``) with the exact
    rational ratio ``16000 / sample_rate`` reduced by their gcd.
    Returns ``(M,) float32``; identity (no copy) at 16 kHz.
    """
    rate = check_rate(sample_rate)
    a = np.asarray(audio_f32, dtype=np.float32)
    if rate == TARGET_RATE_HZ or a.size == 0:
        return a
    from scipy.signal import resample_poly  # scipy is a core dependency

    g = gcd(TARGET_RATE_HZ, rate)
    return resample_poly(a, TARGET_RATE_HZ // g, rate // g).astype(np.float32)


def prepare_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Any ``(N,)``/``(N, C)`` int16/float audio at any accepted rate ->
    ``(M,) float32`` mono at 16 kHz, finite and within [-1, 1]."""
    return np.clip(resample_to_16k(to_mono_float32(audio), sample_rate), -1.0, 1.0)


def read_wav(path: Union[str, Path]) -> Tuple[np.ndarray, int]:
    """Read an audio file (WAV/FLAC/OGG via libsndfile).

    Returns ``(audio, sample_rate)`` with audio ``(N,)`` or ``(N, C)`` float32.
    Raises FileNotFoundError or :class:`AudioFormatError` (unreadable file).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"audio file not found: {p}")
    import soundfile as sf

    try:
        audio, rate = sf.read(str(p), dtype="float32", always_2d=False)
    except (RuntimeError, sf.LibsndfileError) as exc:  # type: ignore[attr-defined]
        raise AudioFormatError(f"cannot read audio file {p}: {exc}") from exc
    return audio, int(rate)


def write_wav(path: Union[str, Path], audio_f32: np.ndarray, sample_rate: int = TARGET_RATE_HZ) -> Path:
    """Write a mono float waveform as 16-bit PCM WAV; returns the path."""
    import soundfile as sf

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), float32_to_int16(audio_f32), int(sample_rate), subtype="PCM_16")
    return p


def rms_dbfs(audio_f32: np.ndarray) -> float:
    """Root-mean-square level in dB relative to full scale (-inf for silence)."""
    a = np.asarray(audio_f32, dtype=np.float64)
    if a.size == 0:
        return float("-inf")
    r = float(np.sqrt(np.mean(a * a)))
    return 20.0 * np.log10(r) if r > 0 else float("-inf")


class StreamResampler:
    """Chunked resampling to 16 kHz without clicks at chunk boundaries.

    Resampling each chunk on its own zero-pads both edges of every chunk.
    This keeps ``context`` input samples on each side (more than the
    polyphase filter's half length, rounded to a multiple of the decimation
    factor) so every output sample is computed with its true neighbours. The
    price is a delay of ``context`` input samples (about 1-10 ms).
    Output equals ``resample_to_16k`` of the whole stream (away from its ends).
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = check_rate(sample_rate)
        g = gcd(TARGET_RATE_HZ, self.sample_rate)
        self.up, self.down = TARGET_RATE_HZ // g, self.sample_rate // g
        half = -(-10 * max(self.up, self.down) // self.up) + 1  # filter half length, input samples
        self.context = -(-half // self.down) * self.down
        self._buf = np.zeros(self.context, np.float32)  # left context: silence

    def push(self, audio_f32: np.ndarray) -> np.ndarray:
        """Feed ``(N,) float32`` mono input; return the 16 kHz samples ready."""
        a = np.asarray(audio_f32, np.float32).reshape(-1)
        if self.up == self.down:
            return a
        self._buf = np.concatenate([self._buf, a])
        n = ((self._buf.shape[0] - 2 * self.context) // self.down) * self.down
        if n <= 0:
            return np.zeros(0, np.float32)
        from scipy.signal import resample_poly

        seg = self._buf[: 2 * self.context + n]
        y = resample_poly(seg, self.up, self.down)
        k0 = self.context * self.up // self.down
        k1 = (self.context + n) * self.up // self.down
        self._buf = self._buf[n:]
        return np.clip(y[k0:k1], -1.0, 1.0).astype(np.float32)

    def flush(self) -> np.ndarray:
        """Drain the held-back samples (pads the right side with silence)."""
        if self.up == self.down:
            return np.zeros(0, np.float32)
        tail = self._buf.shape[0] - self.context
        pad = self.context + (-tail) % self.down
        out = self.push(np.zeros(pad, np.float32))
        self._buf = np.zeros(self.context, np.float32)
        return out
