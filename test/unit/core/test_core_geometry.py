"""core.geometry: boxes and box -> 3D point on a plane with holes."""
import numpy as np
import pytest

from vl_tracking_ros.core.geometry import (box_center, box_to_point_m, boxes_iou, clip_box, cxcywh_to_xyxy,
                                           xywh_to_xyxy, xyxy_to_cxcywh, xyxy_to_xywh)
from vl_tracking_ros.core.types import CameraIntrinsics

CAM = CameraIntrinsics(fx=300.0, fy=300.0, cx=159.5, cy=119.5, width=320, height=240)


def _plane(z=2.0):
    return np.full((240, 320), z, np.float32)


def test_point_on_fronto_parallel_plane():
    p = box_to_point_m([100, 60, 140, 100], _plane(2.0), CAM)
    assert p.dtype == np.float32 and p.shape == (3,)
    # box centre (120, 80) in edge coordinates is pixel index (119.5, 79.5)
    np.testing.assert_allclose(p, [(119.5 - 159.5) * 2 / 300, (79.5 - 119.5) * 2 / 300, 2.0], atol=1e-5)


def test_point_robust_to_holes_and_outliers():
    depth = _plane(3.0)
    rng = np.random.default_rng(0)
    holes = rng.random(depth.shape) < 0.4
    depth[holes] = np.nan
    depth[::7, ::5] = 0.0            # zero = invalid
    depth[100:102, 100:140] = 0.2    # a thin foreground speck
    p = box_to_point_m([100, 80, 140, 120], depth, CAM)
    assert p is not None and p[2] == pytest.approx(3.0)


def test_tilted_plane_median_is_centre_depth():
    ys = np.arange(240, dtype=np.float32)[:, None]
    depth = np.broadcast_to(2.0 + 0.01 * (ys - 120), (240, 320)).copy()
    p = box_to_point_m([150, 100, 170, 140], depth, CAM)
    assert p[2] == pytest.approx(2.0, abs=0.011)


def test_none_when_not_enough_valid_pixels():
    depth = np.full((240, 320), np.nan, np.float32)
    assert box_to_point_m([10, 10, 50, 50], depth, CAM) is None
    depth[30, 30] = 1.0
    assert box_to_point_m([10, 10, 50, 50], depth, CAM, min_valid=5) is None
    assert box_to_point_m([10, 10, 50, 50], depth, CAM, min_valid=1) is not None
    assert box_to_point_m([400, 300, 500, 400], _plane(), CAM) is None   # box outside the image


def test_depth_at_other_resolution_scales_intrinsics():
    p_full = box_to_point_m([100, 60, 140, 100], _plane(2.0), CAM)
    p_half = box_to_point_m([100, 60, 140, 100], np.full((120, 160), 2.0, np.float32), CAM)
    np.testing.assert_allclose(p_half, p_full, atol=1e-3)


def test_core_fraction_validated():
    with pytest.raises(ValueError, match="core_fraction"):
        box_to_point_m([0, 0, 10, 10], _plane(), CAM, core_fraction=0.0)


def test_boxes_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], np.float32)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    iou = boxes_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [50 / 150, 1.0, 0.0])
    assert np.all(iou[1] == 0)
    assert boxes_iou(np.zeros((0, 4)), b).shape == (0, 3)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        boxes_iou(np.zeros((2, 3)), b)


def test_box_helpers():
    np.testing.assert_array_equal(clip_box([-5, -5, 400, 100], 320, 240), [0, 0, 320, 100])
    np.testing.assert_array_equal(box_center([0, 0, 10, 20]), [5, 10])
    b = np.array([[10, 20, 30, 60]], np.float32)
    np.testing.assert_array_equal(xywh_to_xyxy(xyxy_to_xywh(b)), b)
    np.testing.assert_array_equal(cxcywh_to_xyxy(xyxy_to_cxcywh(b)), b)


def test_held_box_history_holds_the_nearest_later_box():
    from vl_tracking_ros.core.geometry import held_box_history

    known = {3: np.array([3, 3, 4, 4.0]), 6: np.array([6, 6, 7, 7.0])}
    newest = np.array([9, 9, 10, 10.0])
    got = held_box_history(known.get, [1, 3, 5, 6, 8], newest)
    assert got.shape == (5, 4) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:, 0], [3, 3, 6, 6, 9])
    assert held_box_history(known.get, [], newest).shape == (0, 4)
