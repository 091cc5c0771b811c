"""Streaming utterance segmentation: 16 kHz audio chunks in, utterances out.

Two modes:

* ``"vad"``: a :class:`~vl_tracking_ros.voice.vad.VoiceActivityDetector`
  opens an utterance when a frame's speech probability reaches
  ``threshold`` and closes it after ``min_silence_ms`` of frames below
  ``neg_threshold`` (hysteresis), or when it reaches ``max_utterance_s``.
* ``"push_to_talk"``: audio is kept only while the button is held
  (:meth:`UtteranceSegmenter.set_pressed`); releasing it closes the utterance.

Stream time is counted in samples pushed, so all ``*_s`` times are seconds
of audio since the stream began (not wall time).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Deque, List, Optional

import numpy as np

from .audio import TARGET_RATE_HZ
from .vad import FRAME_SAMPLES, VoiceActivityDetector

_FRAME_S = FRAME_SAMPLES / TARGET_RATE_HZ


@dataclass
class Utterance:
    """One segment of speech.

    audio_f32: (N,) float32 mono 16 kHz, including the pre/post padding.
    start_s / end_s: stream time of the first / last sample of ``audio_f32``.
    speech_end_s: stream time the detector last heard speech (end of speech);
        latency is measured from here.
    closed_at_s: stream time at which the segmenter decided the utterance was
        over (``speech_end_s`` + the silence it waited for).
    reason: "silence", "max_length", "push_to_talk" or "flush".
    """

    audio_f32: np.ndarray
    start_s: float
    end_s: float
    speech_end_s: float
    closed_at_s: float
    reason: str

    @property
    def duration_s(self) -> float:
        return self.audio_f32.shape[0] / TARGET_RATE_HZ


class UtteranceSegmenter:
    """Cuts a continuous 16 kHz stream into utterances.

    threshold: speech probability that opens an utterance. Higher ignores
        more noise but clips soft word onsets.
    neg_threshold: probability below which a frame counts as silence inside an
        utterance (< threshold). Lower keeps pauses inside one utterance.
    min_silence_ms: silence that ends an utterance. This is added directly to
        the command latency; shorter splits commands at natural pauses
        ("robot, ... track the car").
    min_speech_ms: utterances with less speech are dropped (clicks, coughs).
    max_utterance_s: an utterance is cut here (very long speech); Whisper sees
        at most 30 s anyway. Longer costs latency and memory.
    pad_ms: audio kept before the onset and after the last speech frame, so
        word edges are not cut. More padding costs a little recognition time.
    early_ms: after this much silence (< min_silence_ms) a *tentative*
        utterance (``reason="tentative"``) is emitted as well, so recognition
        can start while the segmenter still waits for the end; the final
        utterance follows (same speech) unless speech resumes. Hides the
        recognizer behind the end-of-utterance wait (lower latency) at the
        cost of a wasted recognition when a speaker pauses mid-command.
        Raised to at least ``pad_ms`` so the tentative audio is exactly the
        final utterance's (Whisper tiny changes its answer for one 32 ms
        frame less of trailing silence). 0 disables it.
    """

    def __init__(self, vad: Optional[VoiceActivityDetector], mode: str = "vad",
                 threshold: float = 0.5, neg_threshold: float = 0.35,
                 min_silence_ms: float = 400.0, min_speech_ms: float = 200.0,
                 max_utterance_s: float = 12.0, pad_ms: float = 200.0, early_ms: float = 0.0) -> None:
        if mode not in ("vad", "push_to_talk"):
            raise ValueError(f"segmenter mode must be 'vad' or 'push_to_talk', got {mode!r}")
        if mode == "vad" and vad is None:
            raise ValueError("the 'vad' mode needs a voice-activity detector")
        if not 0.0 < neg_threshold <= threshold < 1.0:
            raise ValueError("need 0 < neg_threshold <= threshold < 1")
        if max_utterance_s <= 0 or min_silence_ms <= 0:
            raise ValueError("max_utterance_s and min_silence_ms must be positive")
        self.vad = vad
        self.mode = mode
        self.threshold = float(threshold)
        self.neg_threshold = float(neg_threshold)
        self._min_silence_frames = max(1, int(round(min_silence_ms / 1000.0 / _FRAME_S)))
        self._min_speech_frames = max(1, int(round(min_speech_ms / 1000.0 / _FRAME_S)))
        self._max_frames = max(2, int(max_utterance_s / _FRAME_S))
        self._pad_frames = max(0, int(round(pad_ms / 1000.0 / _FRAME_S)))
        self._early_frames = int(round(early_ms / 1000.0 / _FRAME_S)) if early_ms > 0 else 0
        if self._early_frames:  # not before the post-pad is complete: the audio then equals the final one
            self._early_frames = max(self._early_frames, self._pad_frames)
        if self._early_frames >= self._min_silence_frames:
            self._early_frames = 0  # no earlier than the real end: nothing to gain
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Drop buffered audio and detector state (e.g. after a stream gap)."""
        if self.vad is not None:
            self.vad.reset()
        self._pending = np.zeros(0, np.float32)
        self._frames_seen = 0  # frames consumed since the stream began
        self._preroll: Deque[np.ndarray] = deque(maxlen=max(1, self._pad_frames))
        self._active = False
        self._frames: List[np.ndarray] = []
        self._start_frame = 0
        self._speech_frames = 0
        self._silence_run = 0
        self._last_speech_frame = 0
        self._pressed = False

    @property
    def in_speech(self) -> bool:
        """True while an utterance is open."""
        return self._active

    @property
    def stream_time_s(self) -> float:
        """Seconds of audio consumed so far (whole frames)."""
        return self._frames_seen * _FRAME_S

    # ------------------------------------------------------------ push-to-talk
    def set_pressed(self, pressed: bool) -> List[Utterance]:
        """Push-to-talk button state. Releasing closes the utterance and
        returns it (a list of 0 or 1). Ignored in ``"vad"`` mode."""
        out: List[Utterance] = []
        if self.mode != "push_to_talk":
            return out
        pressed = bool(pressed)
        if pressed and not self._pressed:
            self._open(self._frames_seen)
        elif not pressed and self._pressed and self._active:
            self._last_speech_frame = self._frames_seen
            u = self._close("push_to_talk", keep_frames=len(self._frames))
            if u is not None:
                out.append(u)
        self._pressed = pressed
        return out

    # ------------------------------------------------------------------ audio
    def push(self, audio_f32: np.ndarray) -> List[Utterance]:
        """Feed ``(N,) float32`` 16 kHz mono audio (any N); return the
        utterances that closed within it."""
        a = np.asarray(audio_f32, np.float32).reshape(-1)
        buf = np.concatenate([self._pending, a]) if self._pending.size else a
        n_full = buf.shape[0] // FRAME_SAMPLES
        out: List[Utterance] = []
        for i in range(n_full):
            u = self._step(buf[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES])
            if u is not None:
                out.append(u)
        self._pending = buf[n_full * FRAME_SAMPLES:].copy()
        return out

    def flush(self) -> List[Utterance]:
        """End of stream: close an open utterance (if it has enough speech)."""
        if not self._active:
            return []
        u = self._close("flush", keep_frames=len(self._frames) if self.mode == "push_to_talk" else None)
        return [u] if u is not None else []

    # -------------------------------------------------------------- internals
    def _open(self, frame_index: int) -> None:
        self._active = True
        self._frames = list(self._preroll) if self.mode == "vad" else []
        self._start_frame = frame_index - len(self._frames)
        self._speech_frames = 0
        self._silence_run = 0
        self._last_speech_frame = frame_index

    def _close(self, reason: str, keep_frames: Optional[int] = None) -> Optional[Utterance]:
        self._active = False
        if keep_frames is None:  # trim trailing silence down to the post-pad
            keep_frames = min(len(self._frames),
                              self._last_speech_frame + 1 - self._start_frame + self._pad_frames)
        frames = self._frames[:keep_frames]
        enough = (self._speech_frames >= self._min_speech_frames if self.mode == "vad"
                  else len(frames) >= self._min_speech_frames)
        self._frames = []
        self._preroll.clear()
        if not frames or not enough:
            return None
        audio = np.concatenate(frames)
        start_s = self._start_frame * _FRAME_S
        speech_end = (self._last_speech_frame + (0 if self.mode == "push_to_talk" else 1)) * _FRAME_S
        return Utterance(audio_f32=audio, start_s=start_s, end_s=start_s + audio.shape[0] / TARGET_RATE_HZ,
                         speech_end_s=speech_end, closed_at_s=self._frames_seen * _FRAME_S, reason=reason)

    def _tentative(self) -> Optional[Utterance]:
        """The open utterance as it would close now (state unchanged)."""
        if self._speech_frames < self._min_speech_frames:
            return None
        keep = min(len(self._frames), self._last_speech_frame + 1 - self._start_frame + self._pad_frames)
        audio = np.concatenate(self._frames[:keep])
        start_s = self._start_frame * _FRAME_S
        return Utterance(audio_f32=audio, start_s=start_s, end_s=start_s + audio.shape[0] / TARGET_RATE_HZ,
                         speech_end_s=(self._last_speech_frame + 1) * _FRAME_S,
                         closed_at_s=self._frames_seen * _FRAME_S, reason="tentative")

    def _step(self, frame: np.ndarray) -> Optional[Utterance]:
        idx = self._frames_seen
        self._frames_seen += 1
        if self.mode == "push_to_talk":
            if self._active:
                self._frames.append(frame)
                if len(self._frames) >= self._max_frames:
                    self._last_speech_frame = self._frames_seen
                    u = self._close("max_length", keep_frames=len(self._frames))
                    self._open(self._frames_seen)
                    return u
            return None

        prob = self.vad(frame)  # type: ignore[misc]
        if not self._active:
            if prob >= self.threshold:
                self._open(idx)
                self._frames.append(frame)
                self._speech_frames = 1
                self._last_speech_frame = idx
            else:
                self._preroll.append(frame)
            return None

        self._frames.append(frame)
        if prob >= self.neg_threshold:
            self._speech_frames += 1
            self._silence_run = 0
            self._last_speech_frame = idx
        else:
            self._silence_run += 1
            if self._early_frames and self._silence_run == self._early_frames:
                return self._tentative()
        if self._silence_run >= self._min_silence_frames:
            return self._close("silence")
        if len(self._frames) >= self._max_frames:
            u = self._close("max_length", keep_frames=len(self._frames))
            # speech continues: open the next utterance right away
            self._open(self._frames_seen)
            return u
        return None
