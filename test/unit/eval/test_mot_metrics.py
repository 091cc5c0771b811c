"""HOTA against a hand computation and TrackEval's own MOTChallenge path; IDF1/MOTA via motmetrics."""
import math

import numpy as np
import pytest

from vl_tracking_ros.eval.mot_metrics import MotSequence, clear_identity, hota, hota_details, mot_summary
from vl_tracking_ros.eval.sot_metrics import FrameCountMismatchError

B1 = np.array([10.0, 10.0, 50.0, 90.0])     # GT object 1 (all frames)
B2 = np.array([100.0, 20.0, 140.0, 100.0])  # GT object 2 (all frames)
FAR = np.array([200.0, 150.0, 230.0, 190.0])  # disjoint from both


def _fixture():
    """4 frames, 2 GT objects.

    GT 1 is tracked perfectly but by track 11 on frames 0-1 and track 12 on
    frames 2-3 (one ID switch). GT 2 is tracked perfectly by track 13 on
    frames 0-2 and missed on frame 3. Track 14 is a false positive on frame 1.
    Every IoU is exactly 1 or 0, so all HOTA alphas give the same values:
      TP = 7, FN = 1, FP = 1                -> DetA = 7/9
      A(1,11) = A(1,12) = 2/(4+2-2) = 0.5, A(2,13) = 3/(4+3-3) = 0.75
      AssA = (4*0.5 + 3*0.75)/7 = 4.25/7
      HOTA = sqrt(DetA*AssA) = sqrt(4.25/9)
    motmetrics (IoU >= 0.5): IDTP = 2 + 3 = 5, |GT| = |pred| = 8 -> IDF1 = 10/16;
      MOTA = 1 - (FN 1 + FP 1 + IDsw 1)/8 = 0.625.
    """
    gt = [{1: B1, 2: B2} for _ in range(4)]
    pred = [{11: B1, 13: B2}, {11: B1, 13: B2, 14: FAR}, {12: B1, 13: B2}, {12: B1}]
    return MotSequence.from_frames("fixture", gt, pred)


def test_hota_hand_computed():
    res = hota([_fixture()])
    assert res["DetA"] == pytest.approx(100 * 7 / 9)
    assert res["AssA"] == pytest.approx(100 * 4.25 / 7)
    assert res["HOTA"] == pytest.approx(100 * math.sqrt(4.25 / 9))


def test_perfect_tracking_is_hota_100():
    gt = [{1: B1, 2: B2 + t} for t in range(5)]
    res = hota([MotSequence.from_frames("p", gt, [{7: d[1], 9: d[2]} for d in gt])])
    assert res["HOTA"] == pytest.approx(100.0)


def _write_motchallenge(root, seqs):
    """Write GT and tracker files in MOTChallenge layout (TrackEval's reference input)."""
    gt_dir = root / "gt" / "SYN-train"
    tr_dir = root / "trackers" / "SYN-train" / "ours" / "data"
    tr_dir.mkdir(parents=True)
    for seq in seqs:
        (gt_dir / seq.name / "gt").mkdir(parents=True)
        (gt_dir / seq.name / "seqinfo.ini").write_text(
            f"[Sequence]\nname={seq.name}\nseqLength={seq.num_frames}\nimWidth=320\nimHeight=240\n")
        g_lines, t_lines = [], []
        for t in range(seq.num_frames):
            for i, b in zip(seq.gt_ids[t], seq.gt_boxes_xyxy[t]):
                g_lines.append(f"{t + 1},{i},{b[0]},{b[1]},{b[2] - b[0]},{b[3] - b[1]},1,1,1")
            for i, b in zip(seq.pred_ids[t], seq.pred_boxes_xyxy[t]):
                t_lines.append(f"{t + 1},{i},{b[0]},{b[1]},{b[2] - b[0]},{b[3] - b[1]},1,-1,-1,-1")
        (gt_dir / seq.name / "gt" / "gt.txt").write_text("\n".join(g_lines) + "\n")
        (tr_dir / f"{seq.name}.txt").write_text("\n".join(t_lines) + "\n")
    return {s.name: s.num_frames for s in seqs}


def test_hota_matches_trackeval_reference_path(tmp_path):
    """Our in-memory path equals TrackEval's Evaluator reading MOTChallenge files."""
    import trackeval

    rng = np.random.default_rng(3)
    seqs = [_fixture()]
    # a second, noisier sequence with partial overlaps (non-trivial alphas)
    gt, pred = [], []
    for t in range(12):
        g = {1: B1 + [3 * t, 0, 3 * t, 0], 2: B2 + [0, 2 * t, 0, 2 * t]}
        p = {5: g[1] + rng.uniform(-6, 6, 4)}
        if t % 4 != 3:
            p[6 if t < 6 else 7] = g[2] + rng.uniform(-8, 8, 4)
        if t == 5:
            p[8] = FAR
        gt.append(g)
        pred.append(p)
    seqs.append(MotSequence.from_frames("noisy", gt, pred))
    seq_info = _write_motchallenge(tmp_path, seqs)

    ev_cfg = trackeval.Evaluator.get_default_eval_config()
    ev_cfg.update({"USE_PARALLEL": False, "PRINT_RESULTS": False, "PRINT_CONFIG": False, "OUTPUT_SUMMARY": False,
                   "OUTPUT_DETAILED": False, "PLOT_CURVES": False, "OUTPUT_EMPTY_CLASSES": False,
                   "TIME_PROGRESS": False, "DISPLAY_LESS_PROGRESS": True})
    ds_cfg = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    ds_cfg.update({"GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"),
                   "OUTPUT_FOLDER": str(tmp_path / "out"), "BENCHMARK": "SYN", "SPLIT_TO_EVAL": "train",
                   "SEQ_INFO": seq_info, "PRINT_CONFIG": False, "TRACKERS_TO_EVAL": ["ours"]})
    evaluator = trackeval.Evaluator(ev_cfg)
    res, _ = evaluator.evaluate([trackeval.datasets.MotChallenge2DBox(ds_cfg)],
                                [trackeval.metrics.HOTA({"PRINT_CONFIG": False})])
    ref = res["MotChallenge2DBox"]["ours"]
    ours = hota_details(seqs)
    for key in ("fixture", "noisy", "COMBINED_SEQ"):
        r = ref[key]["pedestrian"]["HOTA"]
        mine = ours["COMBINED" if key == "COMBINED_SEQ" else key]
        for f in ("HOTA", "DetA", "AssA", "LocA"):
            assert mine[f] == pytest.approx(100 * float(np.mean(r[f])), abs=1e-6), (key, f)
    assert 30.0 < ours["noisy"]["HOTA"] < 95.0  # the noisy sequence really exercises several alphas


def test_idf1_mota_idsw_motmetrics():
    res = clear_identity([_fixture()])["COMBINED"]
    assert res["IDsw"] == 1
    assert res["FP"] == 1 and res["FN"] == 1
    assert res["IDF1"] == pytest.approx(100 * 10 / 16)
    assert res["MOTA"] == pytest.approx(100 * 0.625)
    summary = mot_summary([_fixture()])
    assert set(summary) >= {"HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDsw"}


def test_mot_frame_count_mismatch_refused():
    with pytest.raises(FrameCountMismatchError, match="refusing"):
        MotSequence.from_frames("x", [{1: B1}] * 3, [{1: B1}] * 2)
