"""Candidate ranker (models/candidate_features.py, models/candidate_ranker.py):
the evidence it reads, the network's shapes / gradients / set equivariance,
the loss, the gate's ``select: ranker`` rule and the preset section."""
import numpy as np
import pytest
import torch

from vl_tracking_ros.models.candidate_features import FEATURE_NAMES, NUM_FEATURES, CandidateFeaturizer
from vl_tracking_ros.models.candidate_ranker import INVALID_LOGIT, CandidateRanker, RankerConfig, ranking_loss
from vl_tracking_ros.models.candidates import Candidates
from vl_tracking_ros.models.gating import GateConfig, MVLMGate

F = {n: i for i, n in enumerate(FEATURE_NAMES)}


def _scene(shift: int = 0):
    """240x320 frame: a red 20x20 square at x=40+shift (hot, 320 K) and a
    blue 40x40 square at x=240 (cold, 275 K) on grey 295 K background."""
    rgb = np.full((240, 320, 3), 100, np.uint8)
    thermal = np.full((240, 320), 295.0, np.float32)
    rgb[100:120, 40 + shift:60 + shift] = (230, 20, 20)
    thermal[100:120, 40 + shift:60 + shift] = 320.0
    rgb[80:120, 240:280] = (20, 20, 230)
    thermal[80:120, 240:280] = 275.0
    boxes = np.array([[40 + shift, 100, 60 + shift, 120], [240, 80, 280, 120]], np.float32)
    cands = Candidates(boxes, np.array([0.9, 0.6], np.float32), np.array([0.2, 0.4], np.float32), 0.0, 0.1)
    return rgb, thermal, cands


def _featurize(fz, shift=0, thermal=True):
    rgb, th, cands = _scene(shift)
    z = np.zeros(2, np.float32)
    return fz(rgb, cands, z, z, z, global_search=True, thermal_k=th if thermal else None)


def test_features_measure_position_size_colour_and_temperature():
    feats, crops = _featurize(CandidateFeaturizer(crop_size=16))
    assert feats.shape == (2, NUM_FEATURES) and feats.dtype == np.float32
    assert crops.shape == (2, 4, 16, 16)
    red, blue = feats
    assert red[F["cx"]] == pytest.approx(50 / 320) and blue[F["cx"]] == pytest.approx(260 / 320)
    assert red[F["area_z"]] < 0 < blue[F["area_z"]]                     # the red one is the smaller
    assert red[F["r"]] == pytest.approx(230 / 255) and blue[F["b"]] == pytest.approx(230 / 255)
    assert red[F["thermal"]] == pytest.approx((320 - 300) / 15) and blue[F["thermal"]] < 0
    assert red[F["thermal_valid"]] == 1 and red[F["depth_valid"]] == 0
    assert red[F["cls"]] == pytest.approx(0.9) and blue[F["corr"]] == pytest.approx(0.4)
    assert red[F["velocity_valid"]] == 0                                 # no previous frame yet
    assert crops[0, 3].max() == pytest.approx((320 - 300) / 15)          # thermal channel of the crop
    assert crops[0, 0, 8, 8] == pytest.approx(230 / 255 - 0.5)           # red at the crop centre


def test_velocity_from_the_previous_frames_and_reset():
    fz = CandidateFeaturizer()
    _featurize(fz, shift=0)
    feats, _ = _featurize(fz, shift=6)                                   # red moved 6 px right
    assert feats[0, F["velocity_valid"]] == 1
    assert feats[0, F["vx"]] == pytest.approx(0.6) and feats[0, F["vy"]] == pytest.approx(0.0)
    assert feats[1, F["vx"]] == pytest.approx(0.0)                       # the blue one stood still
    fz.reset()
    feats, _ = _featurize(fz, shift=12)
    assert feats[0, F["velocity_valid"]] == 0


def test_missing_thermal_is_flagged_not_invented():
    feats, crops = _featurize(CandidateFeaturizer(), thermal=False)
    assert (feats[:, F["thermal_valid"]] == 0).all() and (feats[:, F["thermal"]] == 0).all()
    assert (crops[:, 3] == 0).all()


def test_no_candidates_gives_empty_arrays():
    fz = CandidateFeaturizer()
    rgb, th, _ = _scene()
    empty = Candidates(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32))
    feats, crops = fz(rgb, empty, np.zeros(0), np.zeros(0), np.zeros(0), True, thermal_k=th)
    assert feats.shape == (0, NUM_FEATURES) and crops.shape[0] == 0


def _batch(b=3, k=5, cfg=None, seed=0):
    cfg = cfg or RankerConfig(d_model=32, num_layers=1, num_heads=4, text_dim=24, dropout=0.0)
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(b, k, NUM_FEATURES, generator=g)
    crops = torch.randn(b, k, 4, cfg.crop_size, cfg.crop_size, generator=g)
    valid = torch.ones(b, k, dtype=torch.bool)
    valid[0, 3:] = False
    sent = torch.randn(b, cfg.text_dim, generator=g)
    return cfg, feats, crops, valid, sent


def test_ranker_shapes_gradients_and_padding():
    torch.manual_seed(0)
    cfg, feats, crops, valid, sent = _batch()
    model = CandidateRanker(cfg)
    logits = model(feats, crops, valid, sent)
    assert logits.shape == (3, 5)
    assert (logits[0, 3:] == INVALID_LOGIT).all() and (logits[~valid] == INVALID_LOGIT).all()
    loss = ranking_loss(logits, torch.tensor([1, 4, 0]))
    loss.backward()
    for name, p in model.named_parameters():
        if name.startswith("film."):
            continue  # zero-initialised FiLM: its input gradient is zero at step 0 by design, its own is not
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.film.weight.grad.abs().sum() > 0
    # a padded slot's content cannot change the real candidates' scores
    feats2 = feats.clone()
    feats2[0, 3:] += 100.0
    model.eval()
    a = model(feats, crops, valid, sent)[0, :3]
    b = model(feats2, crops, valid, sent)[0, :3]
    assert torch.allclose(a, b, atol=1e-5)


def test_ranker_is_permutation_equivariant():
    torch.manual_seed(0)
    cfg, feats, crops, valid, sent = _batch()
    valid[:] = True
    model = CandidateRanker(cfg).eval()
    perm = torch.tensor([4, 2, 0, 1, 3])
    a = model(feats, crops, valid, sent)[:, perm]
    b = model(feats[:, perm], crops[:, perm], valid, sent)
    assert torch.allclose(a, b, atol=1e-5)


def test_ranking_loss_ignores_frames_without_a_positive():
    logits = torch.tensor([[2.0, 0.0, INVALID_LOGIT], [0.0, 1.0, 0.0]])
    full = ranking_loss(logits, torch.tensor([0, -1]))
    assert full == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0]))))
    assert float(ranking_loss(logits, torch.tensor([-1, -1]))) == 0.0


def test_training_learns_a_sentence_dependent_choice():
    """Toy task: sentence A names the hottest candidate, sentence B the
    coldest -- only the sentence says which; a few hundred steps learn it."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = RankerConfig(d_model=32, num_layers=1, num_heads=4, text_dim=8, dropout=0.0)
    model = CandidateRanker(cfg)
    sa, sb = torch.zeros(cfg.text_dim), torch.zeros(cfg.text_dim)
    sa[0], sb[1] = 1.0, 1.0

    def batch(n):
        feats = torch.from_numpy(rng.normal(size=(n, 6, NUM_FEATURES)).astype(np.float32))
        which = torch.from_numpy(rng.random(n) < 0.5)
        temp = feats[:, :, F["thermal"]]
        target = torch.where(which, temp.argmax(1), temp.argmin(1))
        sent = torch.where(which[:, None], sa, sb)
        crops = torch.zeros(n, 6, 4, cfg.crop_size, cfg.crop_size)
        return feats, crops, torch.ones(n, 6, dtype=torch.bool), sent, target

    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    f, c, v, s, y = batch(256)
    with torch.no_grad():
        first = float(ranking_loss(model(f, c, v, s), y))
    for _ in range(300):
        fb, cb, vb, sbt, yb = batch(64)
        loss = ranking_loss(model(fb, cb, vb, sbt), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(f, c, v, s).argmax(1) == y).float().mean())
    assert float(ranking_loss(model(f, c, v, s), y)) < 0.5 * first
    assert acc > 0.85, acc


def test_gate_select_ranker_uses_the_scores_within_the_pool():
    boxes = np.array([[0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110]], np.float32)
    cands = Candidates(boxes, np.array([0.9, 0.5, 0.1], np.float32), np.array([0.5, 0.2, 0.1], np.float32), 0.0, 0.1)
    seen = {}

    def rank(d_corr, d_cls, kappa):
        seen["kappa"] = kappa
        return np.array([0.0, 5.0, 9.0])

    gate = MVLMGate(GateConfig(select="ranker", tau=-1.0))               # every candidate is in S_t
    assert gate.step(cands, rank).index == 2
    assert seen["kappa"].shape == (3,)
    gate = MVLMGate(GateConfig(select="ranker", tau=0.5))                # S_t = the first one only
    d = gate.step(cands, rank)
    assert d.confident and d.index == 0
    gate = MVLMGate(GateConfig(select="ranker", tau=0.5, ranker_pool="all"))
    d = gate.step(cands, rank)
    assert d.confident and d.index == 2                                  # S_t still gates, the ranker picks
    with pytest.raises(ValueError, match="ranker_pool"):
        GateConfig(ranker_pool="none")
    gate = MVLMGate(GateConfig(select="ranker"))
    assert gate.step(cands).index == MVLMGate(GateConfig(select="kappa")).step(cands).index  # no scores: kappa
    gate = MVLMGate(GateConfig(select="kappa", tau=-1.0))
    assert gate.step(cands, rank).index == 0                             # other rules ignore the scores
    with pytest.raises(ValueError, match="2 scores for 3"):
        MVLMGate(GateConfig(select="ranker")).step(cands, lambda *a: np.zeros(2))


def test_preset_ranker_section(tmp_path):
    from vl_tracking_ros.models.errors import ModelConfigError
    from vl_tracking_ros.train.config import load_preset_config, preset_yaml_path

    pc = load_preset_config(preset_yaml_path("mvlm-small"))
    assert pc.ranker is not None and pc.ranker.num_features == NUM_FEATURES
    text = open(preset_yaml_path("mvlm-small")).read()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("\nranker:", "\nranker:\n  colour_words: 3\n  #", 1))
    with pytest.raises(ModelConfigError, match="ranker.*colour_words"):
        load_preset_config(str(bad))
    bad.write_text(text.replace("\nranker:", "\nranker:\n  num_features: 7\n  #", 1))
    with pytest.raises(ModelConfigError, match="num_features"):
        load_preset_config(str(bad))
    # the ranker section does not enter the recipe hash of the network weights
    plain = tmp_path / "plain.yaml"
    plain.write_text(text.split("\nranker:")[0] + "\n")
    assert load_preset_config(str(plain)).recipe_hash == pc.recipe_hash


def test_linear_ranker_standardizes_masks_and_learns_a_rule():
    """kind: linear -- (f - mean) / std . w + b per candidate; invalid slots
    masked; fitted on toy frames where the referent has the largest 'thermal'
    feature, it ranks by that feature."""
    from vl_tracking_ros.models.candidate_ranker import LinearCandidateRanker, build_ranker

    cfg = RankerConfig(kind="linear")
    model = build_ranker(cfg)
    assert isinstance(model, LinearCandidateRanker) and isinstance(build_ranker(RankerConfig()), CandidateRanker)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(256, 6, NUM_FEATURES, generator=g) * 3 + 1
    valid = torch.ones(256, 6, dtype=torch.bool)
    valid[:, 5] = False
    y = feats[:, :5, F["thermal"]].argmax(1)
    model.set_standardization(feats.reshape(-1, NUM_FEATURES).mean(0), feats.reshape(-1, NUM_FEATURES).std(0))
    assert torch.allclose(model.feature_std, torch.full((NUM_FEATURES,), 3.0), atol=0.3)
    crops, sent = torch.zeros(256, 6, 4, 16, 16), torch.zeros(256, 384)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(150):
        loss = ranking_loss(model(feats, crops, valid, sent), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    logits = model(feats, crops, valid, sent)
    assert (logits[:, 5] == INVALID_LOGIT).all()
    assert float((logits.argmax(1) == y).float().mean()) > 0.95
    assert int(model.score.weight[0].abs().argmax()) == F["thermal"]
    with pytest.raises(ValueError, match="standardization"):
        model.set_standardization(torch.zeros(3), torch.ones(3))


def test_ranker_kind_is_validated():
    with pytest.raises(ValueError, match="ranker.kind"):
        RankerConfig(kind="boosted").validate()
