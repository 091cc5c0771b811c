"""Exceptions of the voice-command stack (one base type, specific subtypes)."""
from __future__ import annotations


class VoiceError(RuntimeError):
    """Base class of every error raised by ``vl_tracking_ros.voice``."""


class AudioFormatError(VoiceError, ValueError):
    """Audio that cannot be interpreted: bad sample rate, channel count,
    dtype, shape or a sample count that does not match the channel count."""


class MicrophoneUnavailableError(VoiceError):
    """No usable capture device (PortAudio missing, no input device, or the
    named device cannot be opened). The node falls back to the topic input."""


class ModelLoadError(VoiceError, FileNotFoundError):
    """The speech-recognition model directory is missing or unreadable."""


class SynthesisError(VoiceError):
    """espeak-ng is missing or failed to synthesize an utterance."""
