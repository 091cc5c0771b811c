"""Speech synthesis with espeak-ng (for tests, the benchmark and demos).

Synthesized speech is robotic but reproducible; it lets tests and the
benchmark run the real recognizer on known sentences without recordings.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from .audio import read_wav, to_mono_float32
from .errors import SynthesisError


@dataclass(frozen=True)
class Voice:
    """espeak-ng voice settings.

    name: espeak-ng voice (``en-us``, ``en-gb``, ``en-us+f3`` ...).
    speed_wpm: words per minute (espeak default 175).
    pitch: 0..99 (default 50).
    """

    name: str = "en-us"
    speed_wpm: int = 150
    pitch: int = 50

    def label(self) -> str:
        return f"{self.name}@{self.speed_wpm}wpm/p{self.pitch}"


def espeak_binary() -> Optional[str]:
    """Path of espeak-ng (or espeak), None when not installed."""
    return shutil.which("espeak-ng") or shutil.which("espeak")


def espeak_available() -> bool:
    return espeak_binary() is not None


def synthesize(text: str, voice: Voice = Voice(), timeout_s: float = 30.0) -> Tuple[np.ndarray, int]:
    """Speak ``text``; returns ``(audio_f32 (N,), sample_rate_hz)`` (espeak-ng
    writes 22050 Hz mono). Raises :class:`SynthesisError` if espeak-ng is
    missing or fails."""
    exe = espeak_binary()
    if exe is None:
        raise SynthesisError("espeak-ng is not installed (apt-get install espeak-ng)")
    with tempfile.TemporaryDirectory(prefix="vl_voice_") as tmp:
        wav = Path(tmp) / "say.wav"
        cmd = [exe, "-v", voice.name, "-s", str(int(voice.speed_wpm)), "-p", str(int(voice.pitch)),
               "-w", str(wav), "--", text]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SynthesisError(f"espeak-ng failed to run: {exc}") from exc
        if proc.returncode != 0 or not wav.is_file():
            raise SynthesisError(f"espeak-ng exited {proc.returncode}: {proc.stderr.strip()[:200]}")
        audio, rate = read_wav(wav)
    return to_mono_float32(audio), rate


def trim_silence(audio_f32: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Drop leading/trailing samples whose magnitude is below ``threshold``."""
    idx = np.flatnonzero(np.abs(audio_f32) > threshold)
    if idx.size == 0:
        return audio_f32[:0]
    return audio_f32[idx[0]: idx[-1] + 1]


def add_noise(audio_f32: np.ndarray, snr_db: float, rng: np.random.Generator,
              speech_f32: Optional[np.ndarray] = None) -> np.ndarray:
    """Add white Gaussian noise at ``snr_db`` relative to the speech power.

    speech_f32: the speech used to measure the signal power (default: the
        samples of ``audio_f32`` above -50 dBFS, i.e. ignoring the silence
        padding). Returns float32 clipped to [-1, 1].
    """
    a = np.asarray(audio_f32, np.float32)
    ref = np.asarray(speech_f32 if speech_f32 is not None else a[np.abs(a) > 10 ** (-50 / 20)], np.float64)
    p_signal = float(np.mean(ref * ref)) if ref.size else 0.0
    if p_signal <= 0:
        return a.copy()
    p_noise = p_signal / (10.0 ** (snr_db / 10.0))
    noise = rng.standard_normal(a.shape[0]) * np.sqrt(p_noise)
    return np.clip(a + noise, -1.0, 1.0).astype(np.float32)
