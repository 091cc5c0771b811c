"""core.align: identity fast path, resize, homography warp, NaN safety."""
import numpy as np
import pytest

from vl_tracking_ros.core.align import Alignment, AlignmentError, parse_homography


def test_identity_fast_path_returns_same_object():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert Alignment().apply(img) is img
    assert Alignment(np.eye(3), (3, 4)).apply(img) is img


def test_resize_nearest_depth_doubles_pixels():
    depth = np.array([[1.0, 2.0], [np.nan, 4.0]], np.float32)
    out = Alignment(None, (4, 4)).apply(depth, "nearest")
    assert out.shape == (4, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:2, :2], 1.0)
    assert np.all(np.isnan(out[2:, :2])) and np.all(out[2:, 2:] == 4.0)


def test_resize_linear_is_nan_safe():
    t = np.array([[300.0, 300.0, 310.0, 310.0]] * 2, np.float32)
    t[0, 1] = np.nan
    out = Alignment(None, (4, 8)).apply(t, "linear")
    assert out.shape == (4, 8)
    assert np.isfinite(out).all()  # a single hole does not spread
    assert out.min() >= 300.0 - 1e-4 and out.max() <= 310.0 + 1e-4


def test_size_mismatch_between_modalities_downscale_rgb_uint8():
    img = np.zeros((480, 640, 3), np.uint8)
    img[:, 320:] = 200
    out = Alignment(None, (240, 320)).apply(img)
    assert out.shape == (240, 320, 3) and out.dtype == np.uint8
    assert out[:, :159].max() == 0 and out[:, 161:].min() == 200


def test_homography_translation():
    src = np.arange(48 * 64, dtype=np.float32).reshape(48, 64)
    h = [[1, 0, 5], [0, 1, 3], [0, 0, 1]]    # source (u, v) -> rgb (u + 5, v + 3)
    out = Alignment(h, (48, 64)).apply(src, "nearest")
    assert out[10, 10] == src[7, 5]
    assert np.all(np.isnan(out[:3])) and np.all(np.isnan(out[:, :5]))  # uncovered -> NaN fill
    lin = Alignment(h, (48, 64)).apply(src, "linear")
    np.testing.assert_allclose(lin[3:, 5:], src[:45, :59])


def test_homography_with_scale_maps_half_res_thermal():
    src = np.zeros((24, 32), np.float32)
    src[10, 20] = 1.0
    h = np.diag([2.0, 2.0, 1.0])       # thermal pixels are twice as big
    out = Alignment(h, (48, 64)).apply(src, "nearest", fill=0.0)
    ys, xs = np.nonzero(out)
    assert ys.min() >= 19 and ys.max() <= 21 and xs.min() >= 39 and xs.max() <= 41


def test_integer_fill_is_zero():
    img = np.full((10, 10), 7, np.uint8)
    out = Alignment([[1, 0, 4], [0, 1, 0], [0, 0, 1]], (10, 10)).apply(img, "linear")
    assert out.dtype == np.uint8 and np.all(out[:, :3] == 0) and np.all(out[:, 5:] == 7)


@pytest.mark.parametrize("value,match", [
    ([1, 2, 3], "9 elements"),
    ([[1, 0, 0], [0, 1, 0], [0, 0, np.nan]], "non-finite"),
    ([[1, 0, 0], [0, 1, 0], [0, 0, 0]], r"H\[2,2\]"),
    ([[1, 2, 0], [2, 4, 0], [0, 0, 1]], "singular"),
    ("rotate please", "9 numbers"),
])
def test_bad_homography(value, match):
    with pytest.raises(AlignmentError, match=match):
        parse_homography(value)


def test_parse_identity_spellings():
    assert parse_homography(None) is None and parse_homography("identity") is None
    np.testing.assert_allclose(parse_homography([2, 0, 0, 0, 2, 0, 0, 0, 2]), np.eye(3))


def test_bad_apply_arguments():
    with pytest.raises(AlignmentError, match="interpolation"):
        Alignment().apply(np.zeros((2, 2)), "cubic")
    with pytest.raises(AlignmentError, match="non-empty"):
        Alignment().apply(np.zeros((0, 2)))
    with pytest.raises(AlignmentError, match="out_hw must be positive"):
        Alignment(None, (0, 5))
