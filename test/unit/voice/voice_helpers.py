"""Helpers of the voice tests (imported by the test modules in this folder)."""
from __future__ import annotations

import numpy as np
import pytest

from vl_tracking_ros.voice.synth import Voice, espeak_available, synthesize, trim_silence

needs_espeak = pytest.mark.skipif(not espeak_available(),
                                  reason="espeak-ng is not installed (scripts/install_sysdeps.sh installs it); "
                                         "the voice tests synthesize their speech with it")


def speak(text: str, voice: Voice = Voice("en-us", 150), lead_s: float = 0.4, tail_s: float = 1.0):
    """espeak-ng speech with silence around it -> (audio_f32, rate, speech_end_s)."""
    audio, rate = synthesize(text, voice)
    speech = trim_silence(audio)
    lead, tail = int(lead_s * rate), int(tail_s * rate)
    padded = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(tail, np.float32)])
    return padded, rate, (lead + speech.shape[0]) / rate
