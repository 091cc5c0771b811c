"""core.imageconv: every encoding both ways, padding, endianness, bad input."""
import numpy as np
import pytest

from vl_tracking_ros.core.imageconv import (ImageConversionError, ThermalCalibration, decode_raw, depth_m_to_bytes,
                                            depth_to_m, image_to_rgb, kelvin_to_bytes, rgb_to_bytes,
                                            thermal_to_kelvin)

RNG = np.random.default_rng(7)
H, W = 5, 7


def _pad(data: bytes, step: int, height: int, pad: int) -> tuple:
    """Insert ``pad`` junk bytes after every row: returns (data, new_step)."""
    rows = np.frombuffer(data, np.uint8).reshape(height, step)
    junk = np.full((height, pad), 0xAB, np.uint8)
    return np.concatenate([rows, junk], axis=1).tobytes(), step + pad


def _rgb():
    return RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
@pytest.mark.parametrize("pad", [0, 3])
def test_color_round_trip(encoding, pad):
    img = _rgb()
    data, step = rgb_to_bytes(img, encoding)
    assert step == W * (4 if "a" in encoding else 3)
    data, step = _pad(data, step, H, pad)
    out = image_to_rgb(data, H, W, encoding, step)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(out, img)


def test_bgr_channel_order_is_swapped():
    img = np.zeros((1, 1, 3), np.uint8)
    img[0, 0] = (255, 10, 0)  # red in RGB
    data, step = rgb_to_bytes(img, "bgr8")
    assert data == bytes([0, 10, 255])
    assert image_to_rgb(bytes([0, 10, 255]), 1, 1, "bgr8", 3)[0, 0].tolist() == [255, 10, 0]


def test_mono8_replicated_and_luma_on_encode():
    grey = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    out = image_to_rgb(grey.tobytes(), H, W, "mono8", W)
    assert out.shape == (H, W, 3) and np.all(out == grey[..., None])
    data, step = rgb_to_bytes(out, "mono8")
    np.testing.assert_array_equal(np.frombuffer(data, np.uint8).reshape(H, W), grey)


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("encoding,channels", [("mono16", 1), ("rgb16", 3), ("bgr16", 3)])
def test_16bit_color_scaled_and_endianness(encoding, channels, bigendian):
    vals = RNG.integers(0, 65536, (H, W, channels), dtype=np.uint16)
    vals[0, 0] = 65535
    data = vals.astype(">u2" if bigendian else "<u2").tobytes()
    out = image_to_rgb(data, H, W, encoding, W * channels * 2, is_bigendian=bigendian)
    expect = ((vals.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if channels == 1:
        expect = np.repeat(expect, 3, axis=2)
    elif encoding == "bgr16":
        expect = expect[..., ::-1]
    np.testing.assert_array_equal(out, expect)
    assert out[0, 0, 0] == 255


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
@pytest.mark.parametrize("pad", [0, 2])
@pytest.mark.parametrize("bigendian", [False, True])
def test_depth_round_trip(encoding, pad, bigendian):
    depth = RNG.uniform(0.3, 8.0, (H, W)).astype(np.float32)
    depth[1, 2] = np.nan
    data, step = depth_m_to_bytes(depth, encoding)
    if bigendian:  # re-encode the same values big-endian
        dt = "<u2" if encoding == "16UC1" else "<f4"
        data = np.frombuffer(data, dt).astype(dt.replace("<", ">")).tobytes()
    data, step = _pad(data, step, H, pad)
    out = depth_to_m(data, H, W, encoding, step, is_bigendian=bigendian)
    assert out.dtype == np.float32 and out.shape == (H, W)
    assert np.isnan(out[1, 2])
    tol = 0.0006 if encoding == "16UC1" else 0.0
    np.testing.assert_allclose(np.nan_to_num(out), np.nan_to_num(depth), atol=tol)


def test_depth_16uc1_zero_is_invalid_and_mm_units():
    raw = np.array([[0, 1000, 65535]], np.uint16)
    out = depth_to_m(raw.tobytes(), 1, 3, "16UC1", 6)
    assert np.isnan(out[0, 0]) and out[0, 1] == pytest.approx(1.0) and out[0, 2] == pytest.approx(65.535)


def test_depth_32fc1_nan_inf_and_nonpositive_invalid():
    raw = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 2.5]], np.float32)
    out = depth_to_m(raw.tobytes(), 1, 6, "32FC1", 24)
    assert np.all(np.isnan(out[0, :5])) and out[0, 5] == pytest.approx(2.5)


def test_all_zero_depth_is_all_nan():
    out = depth_to_m(np.zeros((H, W), np.uint16).tobytes(), H, W, "16UC1", W * 2)
    assert np.all(np.isnan(out))


def test_depth_16uc1_encode_out_of_range_is_no_reading():
    data, _ = depth_m_to_bytes(np.array([[np.nan, -1.0, 70.0, 1.2344]], np.float32), "16UC1")
    assert np.frombuffer(data, "<u2").tolist() == [0, 0, 0, 1234]


def test_optris_preset_formula():
    cal = ThermalCalibration.preset("optris")
    raw = np.array([[1000, 1250, 3000]], np.uint16)
    out = thermal_to_kelvin(raw.tobytes(), 1, 3, "mono16", 6, calibration=cal)
    np.testing.assert_allclose(out[0], [273.15, 298.15, 473.15], atol=1e-3)


@pytest.mark.parametrize("preset,raw,kelvin", [
    ("centikelvin", 30000, 300.0),
    ("flir_tlinear_low", 3000, 300.0),
    ("kelvin", 300, 300.0),
])
def test_thermal_presets(preset, raw, kelvin):
    out = thermal_to_kelvin(np.array([[raw]], np.uint16).tobytes(), 1, 1, "mono16", 2,
                            calibration=ThermalCalibration.preset(preset))
    assert out[0, 0] == pytest.approx(kelvin, abs=1e-3)


def test_mono8_thermal_default_maps_0_100_c():
    out = thermal_to_kelvin(bytes([0, 255]), 1, 2, "mono8", 2)
    np.testing.assert_allclose(out[0], [273.15, 373.15], atol=1e-3)


@pytest.mark.parametrize("encoding,cal,float_unit", [
    ("mono16", None, "K"),
    ("mono16", ThermalCalibration(gain=0.01, offset=0.0, unit="K"), "K"),
    ("mono8", None, "K"),
    ("32FC1", None, "K"),
    ("32FC1", None, "C"),
])
@pytest.mark.parametrize("bigendian", [False, True])
def test_thermal_round_trip(encoding, cal, float_unit, bigendian):
    t = RNG.uniform(280.0, 320.0, (H, W)).astype(np.float32)
    data, step = kelvin_to_bytes(t, encoding, calibration=cal, float_unit=float_unit)
    if bigendian and encoding != "mono8":
        dt = "<f4" if encoding == "32FC1" else "<u2"
        data = np.frombuffer(data, dt).astype(dt.replace("<", ">")).tobytes()
    out = thermal_to_kelvin(data, H, W, encoding, step, is_bigendian=bigendian and encoding != "mono8",
                            calibration=cal, float_unit=float_unit)
    step_k = {"mono8": 100 / 255, "32FC1": 1e-4}.get(encoding, cal.gain if cal else 0.1)
    np.testing.assert_allclose(out, t, atol=step_k / 2 + 1e-3)


def test_thermal_32fc1_nonfinite_to_nan():
    raw = np.array([[np.nan, np.inf, 300.0]], np.float32)
    out = thermal_to_kelvin(raw.tobytes(), 1, 3, "32FC1", 12)
    assert np.isnan(out[0, 0]) and np.isnan(out[0, 1]) and out[0, 2] == pytest.approx(300.0)


def test_decode_accepts_array_array_and_lists():
    import array
    img = _rgb()
    data, step = rgb_to_bytes(img)
    np.testing.assert_array_equal(image_to_rgb(array.array("B", data), H, W, "rgb8", step), img)
    np.testing.assert_array_equal(image_to_rgb(list(data), H, W, "rgb8", step), img)


@pytest.mark.parametrize("call,match", [
    (lambda: image_to_rgb(b"\0" * 30, 2, 5, "yuv422", 10), r"unknown image encoding 'yuv422'"),
    (lambda: image_to_rgb(b"\0" * 40, 2, 5, "32FC1", 20), r"depth/float encoding"),
    (lambda: depth_to_m(b"\0" * 30, 2, 5, "rgb8", 15), r"not accepted here"),
    (lambda: thermal_to_kelvin(b"\0" * 30, 2, 5, "bgr8", 15), r"not accepted here"),
    (lambda: image_to_rgb(b"\0" * 29, 2, 5, "rgb8", 15), r"rgb8: truncated data: 29 bytes, expected step x height = 15 x 2 = 30"),
    (lambda: image_to_rgb(b"\0" * 40, 2, 5, "rgb8", 15), r"more than step x height"),
    (lambda: image_to_rgb(b"\0" * 28, 2, 5, "rgb8", 14), r"step 14 is smaller than one row"),
    (lambda: depth_to_m(b"\0" * 18, 2, 5, "16UC1", 9), r"step 9 is smaller than one row"),
    (lambda: image_to_rgb(b"", 0, 5, "rgb8", 15), r"image size must be positive, got 5x0"),
    (lambda: image_to_rgb(b"", 2, 0, "rgb8", 0), r"image size must be positive"),
    (lambda: thermal_to_kelvin(b"\0" * 8, 1, 2, "32FC1", 8, float_unit="F"), r"float_unit must be 'K' or 'C'"),
    (lambda: ThermalCalibration.preset("nope"), r"unknown thermal calibration preset 'nope'"),
    (lambda: ThermalCalibration(gain=0.0), r"non-zero gain"),
    (lambda: ThermalCalibration(unit="F"), r"unit must be 'C' or 'K'"),
    (lambda: rgb_to_bytes(np.zeros((2, 2), np.uint8)), r"image_rgb must have 3 dims"),
    (lambda: rgb_to_bytes(np.zeros((2, 2, 3), np.float32)), r"\(H, W, 3\) uint8"),
    (lambda: rgb_to_bytes(np.zeros((2, 2, 3), np.uint8), "yuv"), r"unsupported encoding 'yuv'"),
    (lambda: depth_m_to_bytes(np.zeros((0, 3))), r"empty"),
    (lambda: depth_m_to_bytes(np.zeros((2, 3)), "rgb8"), r"unsupported encoding"),
    (lambda: kelvin_to_bytes(np.zeros((2, 3)), "bgr8"), r"unsupported encoding"),
])
def test_bad_input_raises_specific_error(call, match):
    with pytest.raises(ImageConversionError, match=match):
        call()


def test_error_is_a_value_error():
    assert issubclass(ImageConversionError, ValueError)


def test_decode_raw_keeps_native_dtype():
    enc, arr = decode_raw(np.array([[1, 2]], ">u2").tobytes(), 1, 2, "mono16", 4, is_bigendian=True)
    assert enc == "mono16" and arr.dtype == np.uint16 and arr.dtype.isnative and arr[0, :, 0].tolist() == [1, 2]
