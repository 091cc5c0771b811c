"""Voice-activity detectors: per-frame speech probability, streaming.

Both detectors take consecutive ``(FRAME_SAMPLES,) float32`` frames of 16 kHz
mono audio (32 ms each) and return a speech probability in [0, 1]. They keep
state between frames (LSTM state, noise floor); ``reset()`` clears it.
"""
from __future__ import annotations

import abc
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .errors import ModelLoadError

#: Samples per VAD frame at 16 kHz (32 ms; what silero VAD is trained for).
FRAME_SAMPLES = 512


class VoiceActivityDetector(abc.ABC):
    """Streaming detector interface."""

    @abc.abstractmethod
    def __call__(self, frame_f32: np.ndarray) -> float:
        """Speech probability in [0, 1] of one ``(FRAME_SAMPLES,)`` frame."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the stream history."""


def default_silero_path() -> Path:
    """The silero VAD v6 ONNX model shipped inside the faster-whisper wheel."""
    from faster_whisper.utils import get_assets_path

    return Path(get_assets_path()) / "silero_vad_v6.onnx"


class SileroVad(VoiceActivityDetector):
    """Silero VAD (ONNX, onnxruntime, CPU, one thread), streamed frame by frame.

    The model sees each 512-sample frame with the previous frame's last 64
    samples as context and carries its LSTM state (h, c) across frames --
    numerically identical to faster-whisper's batched call on the same audio.
    """

    CONTEXT = 64

    def __init__(self, model_path: Optional[Union[str, Path]] = None) -> None:
        path = Path(model_path) if model_path else default_silero_path()
        if not path.is_file():
            raise ModelLoadError(f"silero VAD model not found: {path}")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = ort.InferenceSession(str(path), sess_options=opts,
                                             providers=["CPUExecutionProvider"])
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(self.CONTEXT, np.float32)

    def __call__(self, frame_f32: np.ndarray) -> float:
        frame = np.asarray(frame_f32, np.float32)
        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"VAD frame must be ({FRAME_SAMPLES},), got {frame.shape}")
        x = np.concatenate([self._context, frame])[None, :]
        prob, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = frame[-self.CONTEXT:].copy()
        return float(np.asarray(prob).reshape(-1)[0])


class EnergyVad(VoiceActivityDetector):
    """Level detector with an adaptive noise floor (no model, numpy only).

    margin_db: how far above the noise floor a frame must be to count as
        speech. Higher rejects more noise but misses quiet speech.
    floor_adapt: per-frame smoothing of the noise-floor estimate on non-speech
        frames (0..1). Higher tracks changing noise faster but lets long
        vowels pull the floor up.
    """

    def __init__(self, margin_db: float = 12.0, floor_adapt: float = 0.05,
                 initial_floor_dbfs: float = -60.0, min_speech_dbfs: float = -50.0) -> None:
        self.margin_db = float(margin_db)
        self.floor_adapt = float(floor_adapt)
        self.initial_floor_dbfs = float(initial_floor_dbfs)
        self.min_speech_dbfs = float(min_speech_dbfs)
        self.reset()

    def reset(self) -> None:
        self._floor_db = self.initial_floor_dbfs

    def __call__(self, frame_f32: np.ndarray) -> float:
        frame = np.asarray(frame_f32, np.float64)
        rms = float(np.sqrt(np.mean(frame * frame))) if frame.size else 0.0
        level_db = 20.0 * np.log10(max(rms, 1e-7))
        excess = level_db - max(self._floor_db, -90.0) - self.margin_db
        prob = 1.0 / (1.0 + np.exp(-excess / 2.0))
        if level_db < self.min_speech_dbfs:
            prob = 0.0
        if prob < 0.5:  # adapt the floor on non-speech frames (fast down, slow up)
            a = 0.5 if level_db < self._floor_db else self.floor_adapt
            self._floor_db = (1 - a) * self._floor_db + a * level_db
        return float(prob)


def build_vad(kind: str = "silero", model_path: Optional[str] = None) -> VoiceActivityDetector:
    """``"silero"`` (default) or ``"energy"``."""
    kind = kind.lower()
    if kind == "silero":
        return SileroVad(model_path or None)
    if kind == "energy":
        return EnergyVad()
    raise ValueError(f"unknown VAD kind {kind!r} (use 'silero' or 'energy')")
