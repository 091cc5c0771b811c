"""SOT metrics on hand-computed cases (IoU, success/AUC, PRE, NPRE, absent frames)."""
import numpy as np
import pytest

from vl_tracking_ros.eval.sot_metrics import (FrameCountMismatchError, box_iou_xyxy, evaluate_sequences,
                                              iou_matrix_xyxy, sequence_errors, success_curve,
                                              success_thresholds)

G = np.array([0.0, 0.0, 10.0, 10.0])


def test_iou_hand_computed():
    # overlap 5x10 = 50, union 100 + 100 - 50 = 150
    assert box_iou_xyxy([[5, 0, 15, 10]], [G])[0] == pytest.approx(50 / 150)
    assert box_iou_xyxy([[20, 20, 30, 30]], [G])[0] == 0.0
    m = iou_matrix_xyxy([G, [5, 0, 15, 10]], [G, [20, 20, 30, 30], [0, 0, 5, 10]])
    assert m.shape == (2, 3)
    np.testing.assert_allclose(m, [[1.0, 0.0, 0.5], [50 / 150, 0.0, 0.0]])


def test_success_auc_precision_hand_computed():
    # frame 0: perfect; frame 1: IoU 1/3 and centre error 5 px; frame 2: disjoint, centre error 30 px
    pred = [G, G + [5, 0, 5, 0], G + [30, 0, 30, 0]]
    curves = evaluate_sequences([pred], [[G, G, G]])
    thr = success_thresholds(21)
    expected_success = np.array([(1 + (1 / 3 > t) + 0) / 3 if t < 1 else 1 / 3 for t in thr])
    np.testing.assert_allclose(curves.success, expected_success)
    # IoU 1/3 passes thresholds 0, 0.05 ... 0.30 (7 of 21); IoU 1 passes all 21
    assert curves.auc == pytest.approx((21 + 7) / (3 * 21))
    # centre errors 0, 5, 30 -> PRE@20 = 2/3; precision at 3 px = 1/3
    assert curves.pre == pytest.approx(2 / 3)
    assert curves.precision[3] == pytest.approx(1 / 3)
    # normalized errors 0, 0.5, 3.0 -> <= t for t in 0..0.5: frame 0 always, frame 1 only at 0.5
    assert curves.npre == pytest.approx((51 + 1) / (3 * 51))
    assert curves.npre_at_0p2 == pytest.approx(1 / 3)


def test_perfect_tracker_scores_one_and_toolkit_cap():
    gts = [[G + k for k in range(8)]]
    perfect = evaluate_sequences(gts, gts)
    assert perfect.auc == pytest.approx(1.0) and perfect.pre == 1.0 and perfect.npre == 1.0
    # the LaSOT toolkit's strict IoU > 1 at the last threshold caps AUC at 20/21
    compat = evaluate_sequences(gts, gts, toolkit_compat=True)
    assert compat.auc == pytest.approx(20 / 21)
    assert evaluate_sequences(gts, gts, num_success_points=101).auc == pytest.approx(1.0)


def test_absent_frames_are_excluded_whatever_is_predicted():
    gt = [G, None, None, G]
    # a box, or no box, on absent frames changes nothing (LaSOT removes those rows)
    a = evaluate_sequences([[G, G + 50, None, G]], [gt])
    b = evaluate_sequences([[G, None, G, G]], [gt])
    assert a.auc == b.auc == pytest.approx(1.0)
    errs = sequence_errors([G, G + 50, None, G], gt)
    assert errs.num_present == 2 and errs.num_frames == 4


def test_missing_prediction_on_present_frame_is_a_miss():
    errs = sequence_errors([G, None], [G, G])
    assert errs.iou.tolist() == [1.0, 0.0]
    assert np.isinf(errs.center_err_px[1])
    curves = evaluate_sequences([[G, None]], [[G, G]])
    assert curves.pre == pytest.approx(0.5)
    # IoU 0 fails even threshold 0 (strict >)
    assert success_curve(np.array([0.0]), np.array([0.0]))[0] == 0.0


def test_sequences_weigh_equally():
    long_seq = ([G] * 9, [G] * 9)          # perfect, 9 frames
    short_seq = ([None], [G])              # missed, 1 frame
    c = evaluate_sequences([long_seq[0], short_seq[0]], [long_seq[1], short_seq[1]])
    assert c.auc == pytest.approx(0.5)
    assert c.num_sequences == 2


def test_mismatched_frame_count_refused():
    with pytest.raises(FrameCountMismatchError, match="3 predicted frames but 4"):
        sequence_errors([G, G, G], [G, G, G, G])


def test_all_absent_raises():
    with pytest.raises(ValueError, match="nothing to score"):
        evaluate_sequences([[G]], [[None]])


def test_malformed_box_is_named():
    with pytest.raises(ValueError, match="frame 1"):
        sequence_errors([G, [1, 2, 3]], [G, G])
