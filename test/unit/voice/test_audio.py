"""Audio conversion and streaming resampling (numpy/scipy only, no model)."""
from __future__ import annotations

import numpy as np
import pytest

from vl_tracking_ros.voice.audio import (StreamResampler, check_rate, float32_to_int16, int16_to_float32,
                                         interleaved_to_mono, prepare_audio, read_wav, resample_to_16k,
                                         to_mono_float32, write_wav)
from vl_tracking_ros.voice.errors import AudioFormatError


def tone(rate: int, seconds: float = 1.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("rate", [8000, 11025, 22050, 44100, 48000, 16000])
def test_resample_keeps_duration_and_frequency(rate):
    out = resample_to_16k(tone(rate, 1.0, 440.0), rate)
    assert out.dtype == np.float32 and abs(out.shape[0] - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(out[:16000] * np.hanning(16000)))
    assert abs(np.argmax(spectrum) - 440) <= 2  # 1 Hz bins


@pytest.mark.parametrize("rate", [44100, 48000, 8000, 22050])
def test_stream_resampler_equals_whole_signal(rate):
    x = np.random.default_rng(0).standard_normal(rate * 2).astype(np.float32) * 0.1
    ref = resample_to_16k(x, rate)
    r, outs, i = StreamResampler(rate), [], 0
    sizes = np.random.default_rng(1).integers(1, 3000, size=10000)
    for n in sizes:
        if i >= x.shape[0]:
            break
        outs.append(r.push(x[i:i + n]))
        i += n
    outs.append(r.flush())
    y = np.concatenate(outs)
    assert y.shape[0] == ref.shape[0]
    np.testing.assert_allclose(y[100:-100], np.clip(ref, -1, 1)[100:-100], atol=1e-5)


@pytest.mark.parametrize("rate, exc", [(0, AudioFormatError), (-16000, AudioFormatError), (100, AudioFormatError),
                                       (10**7, AudioFormatError), (16000.5, AudioFormatError),
                                       ("fast", AudioFormatError)])
def test_bad_sample_rates_are_rejected(rate, exc):
    with pytest.raises(exc, match="sample rate"):
        check_rate(rate)


def test_interleaved_stereo_int16_to_mono():
    left = np.full(100, 16384, np.int16)
    right = np.full(100, -16384, np.int16)
    inter = np.stack([left, right], axis=1).reshape(-1)
    mono = interleaved_to_mono(inter, 2)
    assert mono.shape == (100,) and np.allclose(mono, 0.0)
    with pytest.raises(AudioFormatError, match="multiple of 2 channels"):
        interleaved_to_mono(inter[:-1], 2)
    with pytest.raises(AudioFormatError, match="channel count"):
        interleaved_to_mono(inter, 0)


def test_non_finite_and_clipped_audio_is_sanitized():
    a = np.array([np.nan, np.inf, -np.inf, 3.0, -7.0, 0.25], np.float32)
    out = to_mono_float32(a)
    assert np.all(np.isfinite(out)) and out.max() <= 1.0 and out.min() >= -1.0
    assert out[0] == 0.0 and out[-1] == pytest.approx(0.25)
    with pytest.raises(AudioFormatError, match="dtype"):
        to_mono_float32(np.array(["a", "b"]))
    with pytest.raises(AudioFormatError, match="shape"):
        to_mono_float32(np.zeros((2, 2, 2), np.float32))


def test_int16_roundtrip_and_wav_io(tmp_path):
    x = tone(22050, 0.5)
    assert np.max(np.abs(int16_to_float32(float32_to_int16(x)) - x)) < 1e-4
    p = write_wav(tmp_path / "a.wav", x, 22050)
    y, rate = read_wav(p)
    assert rate == 22050 and y.shape == x.shape
    z = prepare_audio(np.stack([y, y], axis=1), rate)
    assert abs(z.shape[0] - 8000) <= 1
    with pytest.raises(FileNotFoundError):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(AudioFormatError, match="cannot read"):
        read_wav(tmp_path / "junk.wav")
