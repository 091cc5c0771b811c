"""Audio sources that deliver chunks to a pipeline: microphone and WAV file.

(The ROS topic source lives in the node: it only converts messages.)
A source yields ``(audio, sample_rate_hz)`` chunks, audio ``(N,)`` or
``(N, C)`` float32 / int16, which :meth:`VoiceCommandPipeline.feed` accepts.
"""
from __future__ import annotations

import queue
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import numpy as np

from .audio import read_wav
from .errors import MicrophoneUnavailableError

Chunk = Tuple[np.ndarray, int]


def _sounddevice():
    """Import sounddevice, turning 'PortAudio missing' into a clear error."""
    try:
        import sounddevice as sd
    except ImportError as exc:
        raise MicrophoneUnavailableError(
            "microphone input needs the 'sounddevice' package (pip install sounddevice)") from exc
    except OSError as exc:  # sounddevice raises OSError when libportaudio is absent
        raise MicrophoneUnavailableError(
            f"microphone input needs the PortAudio library ({exc}); install libportaudio2 "
            "or use the audio topic / WAV input instead") from exc
    return sd


class MicrophoneSource:
    """Capture from a PortAudio input device (``sounddevice``).

    device: device index or name substring; None = the system default input.
    sample_rate: capture rate in Hz (0 = the device's default rate); the
        pipeline resamples to 16 kHz.
    chunk_s: seconds per delivered chunk. Shorter lowers the delay before the
        VAD sees audio, at more callbacks per second.
    Raises :class:`MicrophoneUnavailableError` on :meth:`start` when there is
    no PortAudio, no input device, or the device cannot be opened.
    """

    def __init__(self, device: Optional[Union[int, str]] = None, sample_rate: int = 16000,
                 chunk_s: float = 0.1, max_queue_s: float = 30.0) -> None:
        self.device = device
        self.sample_rate = int(sample_rate)
        self.chunk_s = float(chunk_s)
        self._queue: "queue.Queue[np.ndarray]" = queue.Queue(maxsize=max(1, int(max_queue_s / chunk_s)))
        self._stream = None
        self.overflows = 0

    def start(self) -> "MicrophoneSource":
        sd = _sounddevice()
        try:
            info = sd.query_devices(self.device, kind="input")
        except (ValueError, sd.PortAudioError) as exc:
            raise MicrophoneUnavailableError(f"no usable input device ({self.device or 'default'}): {exc}") from exc
        rate = self.sample_rate or int(info["default_samplerate"])
        try:
            self._stream = sd.InputStream(device=self.device, samplerate=rate, channels=1, dtype="float32",
                                          blocksize=int(rate * self.chunk_s), callback=self._callback)
            self._stream.start()
        except (ValueError, sd.PortAudioError) as exc:
            raise MicrophoneUnavailableError(f"cannot open input device {info.get('name', self.device)!r}: {exc}") from exc
        self.sample_rate = rate
        return self

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio thread
        try:
            self._queue.put_nowait(indata[:, 0].copy())
        except queue.Full:
            self.overflows += 1  # consumer too slow: drop the newest chunk, count it

    def read(self, timeout_s: float = 0.5) -> Optional[Chunk]:
        """Next chunk, or None when nothing arrived within ``timeout_s``."""
        try:
            return self._queue.get(timeout=timeout_s), self.sample_rate
        except queue.Empty:
            return None

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None

    def __enter__(self) -> "MicrophoneSource":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wav_chunks(path: Union[str, Path], chunk_s: float = 0.1) -> Iterator[Chunk]:
    """Chunks of an audio file at its own rate (channels kept; the pipeline
    mixes them down). Raises FileNotFoundError / AudioFormatError."""
    audio, rate = read_wav(path)
    step = max(1, int(round(chunk_s * rate)))
    for i in range(0, audio.shape[0], step):
        yield audio[i:i + step], rate
