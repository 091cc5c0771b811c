"""MVLM candidates + confidence gating on crafted score maps (numpy)."""
import numpy as np
import pytest

from vl_tracking_ros.models.candidates import Candidates, box_iou, extract_candidates, local_peaks
from vl_tracking_ros.models.gating import GateConfig, MVLMGate
from vl_tracking_ros.models.search_region import global_region, local_region

H, W = 12, 16  # token grid of a 192x256 global crop


def maps(peaks, corr_at=(), bg_logit=-6.0, corr_bg=0.0):
    """heatmap logits / offset / size / corr with peaks [(row, col, logit)]."""
    hm = np.full((H, W), bg_logit, np.float32)
    corr = np.full((H, W), corr_bg, np.float32) + np.random.default_rng(0).normal(0, 0.01, (H, W)).astype(np.float32)
    for r, c, v in peaks:
        hm[r, c] = v
    for r, c, v in corr_at:
        corr[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = v
    offset = np.full((2, H, W), 0.5, np.float32)
    size = np.full((2, H, W), 0.125, np.float32)  # 32 x 24 px boxes in the crop
    return hm, offset, size, corr


REGION = global_region((240, 320), (192, 256))


def cands_of(peaks, corr_at=(), **kw):
    hm, off, size, corr = maps(peaks, corr_at, **kw)
    return extract_candidates(hm, off, size, corr, REGION, stride=16, top_n=8)


def test_candidate_decoding_positions_and_correlation():
    c = cands_of([(5, 7, 3.0), (2, 12, 0.0)], corr_at=[(5, 7, 0.8)])
    assert len(c) == 2
    # peak cell (5, 7) + offset 0.5 -> crop centre (120, 88) -> image (150, 110)
    cx = (c.boxes_xyxy[0, 0] + c.boxes_xyxy[0, 2]) / 2
    cy = (c.boxes_xyxy[0, 1] + c.boxes_xyxy[0, 3]) / 2
    assert cx == pytest.approx(150.0) and cy == pytest.approx(110.0)
    assert c.boxes_xyxy[0, 2] - c.boxes_xyxy[0, 0] == pytest.approx(32 / 0.8)
    assert c.cls_scores[0] > 0.9 and c.corr_scores[0] == pytest.approx(0.8, abs=1e-5)
    assert c.corr_scores[1] < 0.1


def test_local_peaks_orders_by_score():
    s = np.zeros((5, 5)); s[1, 1] = 0.5; s[3, 3] = 0.9
    assert local_peaks(s, 2).tolist() == [[3, 3], [1, 1]]


def test_unique_strong_peak_is_confident_and_goes_local():
    gate = MVLMGate(GateConfig())
    d = gate.step(cands_of([(5, 7, 4.0), (1, 1, -3.0)], corr_at=[(5, 7, 0.7)]))
    assert d.index == 0 and d.confident and not gate.force_global
    assert -1.0 <= d.kappa.min() and d.kappa.max() <= 1.0


def test_two_equal_peaks_are_ambiguous_and_trigger_global_search():
    gate = MVLMGate(GateConfig())
    d = gate.step(cands_of([(5, 3, 2.0), (5, 12, 2.0)], corr_at=[(5, 3, 0.5), (5, 12, 0.5)]))
    assert not d.confident and gate.force_global
    assert abs(d.kappa_vlm[0]) < 0.1  # no margin over the runner-up


def test_frame_without_candidates_relocalizes_and_decays_memory():
    gate = MVLMGate(GateConfig())
    gate.step(cands_of([(5, 7, 4.0)], corr_at=[(5, 7, 0.7)]))
    assert not gate.force_global and gate.memory > 0
    before = gate.memory
    empty = Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32))
    d = gate.step(empty)
    assert d.index == -1 and not d.confident
    assert gate.force_global                       # S_t is empty: the next frame searches the whole image
    assert gate.memory < before and gate.frames_unconfident == 1


def test_runner_up_inside_exclusion_zone_is_not_a_competitor():
    c = Candidates(boxes_xyxy=np.array([[10, 10, 50, 50], [12, 12, 52, 52]], np.float32),
                   cls_scores=np.array([0.9, 0.85], np.float32), corr_scores=np.array([0.6, 0.6], np.float32),
                   corr_background=0.0, corr_scale=0.05)
    assert box_iou(c.boxes_xyxy, c.boxes_xyxy)[0, 1] > 0.3
    gate = MVLMGate(GateConfig())
    d_corr, d_cls = gate.margins(c)
    assert d_corr[0] > 0.9 and d_cls[0] > 0.9  # runner-up is the background, not the overlapping box


def test_memory_ewma_and_reset_on_new_command():
    cfg = GateConfig(lam=0.8, omega=0.5, tau=0.2)
    gate = MVLMGate(cfg)
    strong = cands_of([(5, 7, 4.0)], corr_at=[(5, 7, 0.7)])
    for _ in range(5):
        d = gate.step(strong)
    assert gate.memory > 0.5 and d.confident
    # an ambiguous frame right after: memory keeps kappa up (smoothing)
    amb = cands_of([(5, 3, 1.0), (5, 12, 1.0)], corr_at=[(5, 3, 0.3), (5, 12, 0.3)])
    d_amb = gate.step(amb)
    fresh = MVLMGate(cfg).step(amb)
    assert d_amb.kappa.max() > fresh.kappa.max()
    # new command: memory cleared and the next search is global
    gate.reset()
    assert gate.memory == 0.0 and gate.force_global and gate.frames_unconfident == 0


def test_no_candidates_counts_as_unconfident():
    gate = MVLMGate()
    empty = Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32))
    d = gate.step(empty)
    assert d.index == -1 and not d.confident and gate.frames_unconfident == 1


def test_search_region_roundtrip_and_roi_size():
    box = np.array([[100, 80, 140, 120]], np.float32)
    g = global_region((240, 320), (192, 256))
    assert np.allclose(g.crop_to_image(g.image_to_crop(box)), box, atol=1e-4)
    r = local_region(box[0], 160, roi_scale=4.0, min_side_px=96.0)
    assert r.kind == "local" and r.out_hw == (160, 160)
    assert 160 / r.sx == pytest.approx(160.0)  # side = 4 * sqrt(40 * 40)
    c = r.image_to_crop(box)[0]
    assert (c[0] + c[2]) / 2 == pytest.approx(80.0) and (c[1] + c[3]) / 2 == pytest.approx(80.0)
    assert np.allclose(r.crop_to_image(r.image_to_crop(box)), box, atol=1e-3)
    tiny = local_region(np.array([10, 10, 12, 12]), 160, 4.0, 96.0)
    assert 160 / tiny.sx == pytest.approx(96.0)  # clamped to min side


def test_select_rule_picks_by_its_score():
    """A strong heatmap peak with no language support vs a weaker peak the
    correlation singles out: "cls" (MVLM Sec. 3.4's rule) takes the first,
    "corr" and "kappa" (the fused confidence) the second."""
    peaks, corr_at = [(5, 3, 3.0), (5, 12, 1.0)], [(5, 3, 0.0), (5, 12, 0.9)]
    chosen = {}
    for sel in ("cls", "kappa", "corr"):
        gate = MVLMGate(GateConfig(select=sel, tau=-1.0))  # every candidate in S_t: the rule alone decides
        c = cands_of(peaks, corr_at)
        d = gate.step(c)
        chosen[sel] = d.index
        if sel == "kappa":
            assert d.index == int(np.argmax(d.kappa))
    assert chosen["cls"] == 0 and chosen["corr"] == 1 and chosen["kappa"] == 1


def test_select_rule_is_validated():
    with pytest.raises(ValueError, match="gating.select"):
        GateConfig(select="area")
