"""MVLM confidence and memory-gated search (MVLM Sec. 3.3-3.4), numpy.

Per candidate b of frame t:

* correlation margin  D_corr(b) = rho(b) - max_{b' in B_out(b)} rho(b'),
  normalised  D~_corr = tanh(D_corr / s_corr) with the robust scale
  s_corr = max(1.4826 * MAD(corr map), ``corr_scale_floor``);
* classification margin D~_cls = tanh((c(b) - max_{b' in B_out(b)} c(b')) / ``cls_scale``);
  B_out(b) = candidates whose IoU with b is < ``psi_out`` (the runner-up must
  lie outside b's exclusion zone, so it is a real competitor). Without any
  competitor the runner-up is the background: median correlation / 0 score;
* kappa_vlm(b) = alpha * D~_corr + (1 - alpha) * D~_cls                 (convex)
* kappa_mem(b) = (1 - lambda) * kappa_vlm(b) + lambda * kappa_mem_{t-1} (EWMA)
* kappa_mvlm(b) = (1 - omega) * kappa_vlm(b) + omega * kappa_mem(b)     in [-1, 1]

S_t = {b : kappa_mvlm(b) >= tau}. Non-empty: take the best-scored box of S_t
and search a compact ROI around it next frame; empty: take the best box of
the whole image and search the whole image next frame (relocalization). A
new command resets the memory and forces a global search.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .candidates import Candidates, box_iou


SELECT_SCORES = ("cls", "kappa", "corr", "ranker")


@dataclass
class GateConfig:
    """MVLM gating parameters (the ``gating:`` section of a preset YAML).

    alpha: weight of the correlation margin vs. the classification margin.
        High trusts language alignment (robust to look-alike distractors of
        another description), low trusts the local visual peak.
    lam: EWMA forgetting factor lambda. Larger = smoother confidence but
        slower to notice a loss (and to recover after one).
    omega: weight of memory vs. the instantaneous confidence in kappa.
        Larger = fewer spurious global searches, slower reaction.
    tau: gating threshold on kappa in [-1, 1]. Higher = more relocalizations
        (recovers faster, more jumps to distractors); lower = sticks to the
        ROI (stable, but may drift on a lost target).
    psi_out: IoU exclusion zone for the runner-up. Lower counts overlapping
        boxes of the same object as competitors (margins shrink).
    roi_scale: local ROI side = roi_scale * sqrt(box area). Larger tolerates
        faster motion, but adds background (spatial uncertainty).
    min_roi_px / max_roi_frac: clamp of the ROI side (pixels / fraction of
        the longer image side).
    corr_scale_floor, cls_scale: margin normalisers (smaller = margins
        saturate faster towards +/-1).
    top_n: candidates decoded per frame.
    lost_after: consecutive frames without a confident box before the state
        is reported LOST instead of RELOCALIZING.
    min_score: a box is reported only when its heatmap score is >= this.
    select: which score picks the box among S_t (or among all candidates
        when S_t is empty): ``"cls"`` the classification (heatmap) score, as
        MVLM Sec. 3.4 states the rule; ``"kappa"`` the fused MVLM confidence
        kappa_mvlm (the "highest-scoring box" of MVLM's overview: margins
        of correlation and classification plus memory); ``"corr"`` the
        region-average VL correlation rho(b) alone; ``"ranker"`` the
        learned candidate ranker (:mod:`.candidate_ranker`; the tracker
        passes its scores to :meth:`MVLMGate.step`, kappa without them).
        The pool (S_t, or every candidate when S_t is empty) and the
        search gating are the same for every choice.
    ranker_pool: with ``select: ranker``, ``"s_t"`` picks within the pool
        above; ``"all"`` lets the ranker pick among every candidate (S_t
        still decides local ROI vs relocalization).
    """

    alpha: float = 0.5
    lam: float = 0.7
    omega: float = 0.5
    tau: float = 0.15
    psi_out: float = 0.3
    roi_scale: float = 4.0
    min_roi_px: float = 96.0
    max_roi_frac: float = 0.8
    corr_scale_floor: float = 0.05
    cls_scale: float = 0.25
    top_n: int = 8
    lost_after: int = 15
    min_score: float = 0.05
    select: str = "cls"
    ranker_pool: str = "s_t"

    def __post_init__(self) -> None:
        if self.select not in SELECT_SCORES:
            raise ValueError(f"gating.select must be one of {SELECT_SCORES}, got {self.select!r}")
        if self.ranker_pool not in ("s_t", "all"):
            raise ValueError(f"gating.ranker_pool must be 's_t' or 'all', got {self.ranker_pool!r}")


@dataclass
class GateDecision:
    """Result of one gating step.

    index: chosen candidate (-1 when there are no candidates).
    kappa: (K,) kappa_mvlm per candidate. kappa_vlm: (K,).
    confident: S_t non-empty (the next frame searches a local ROI).
    """

    index: int
    kappa: np.ndarray
    kappa_vlm: np.ndarray
    confident: bool


class MVLMGate:
    """Stateful MVLM confidence + search gating for one target."""

    def __init__(self, config: Optional[GateConfig] = None):
        self.config = config or GateConfig()
        self.memory: float = 0.0
        self.frames_unconfident = 0
        self.force_global = True

    def reset(self) -> None:
        """New command: drop memory and force the next search to be global."""
        self.memory = 0.0
        self.frames_unconfident = 0
        self.force_global = True

    def margins(self, cands: Candidates):
        """(D~_corr (K,), D~_cls (K,)) normalised margins in (-1, 1)."""
        cfg = self.config
        k = len(cands)
        iou = box_iou(cands.boxes_xyxy, cands.boxes_xyxy)
        outside = iou < cfg.psi_out
        np.fill_diagonal(outside, False)
        rho_run = np.where(outside, cands.corr_scores[None, :], -np.inf).max(axis=1) if k else np.zeros(0)
        cls_run = np.where(outside, cands.cls_scores[None, :], -np.inf).max(axis=1) if k else np.zeros(0)
        rho_run = np.where(np.isfinite(rho_run), rho_run, cands.corr_background)
        cls_run = np.where(np.isfinite(cls_run), cls_run, 0.0)
        s_corr = max(cands.corr_scale, cfg.corr_scale_floor)
        d_corr = np.tanh((cands.corr_scores - rho_run) / s_corr)
        d_cls = np.tanh((cands.cls_scores - cls_run) / cfg.cls_scale)
        return d_corr.astype(np.float32), d_cls.astype(np.float32)

    def step(self, cands: Candidates, rank_fn=None) -> GateDecision:
        """Score the candidates, choose one, update memory and the search mode.

        rank_fn: a callable (d_corr, d_cls, kappa) -> (K,) scores (higher =
        more likely the referent), called whenever given (the tracker also
        records candidate evidence through it); its scores pick the box only
        with ``select: ranker`` (without it that rule falls back to kappa).
        """
        cfg = self.config
        if len(cands) == 0:
            self.frames_unconfident += 1
            self.memory = cfg.lam * self.memory + (1 - cfg.lam) * -1.0
            self.force_global = True  # S_t is empty: relocalize, as when no candidate is confident
            return GateDecision(-1, np.zeros(0, np.float32), np.zeros(0, np.float32), False)
        d_corr, d_cls = self.margins(cands)
        kappa_vlm = cfg.alpha * d_corr + (1 - cfg.alpha) * d_cls
        kappa_mem = (1 - cfg.lam) * kappa_vlm + cfg.lam * self.memory
        kappa = (1 - cfg.omega) * kappa_vlm + cfg.omega * kappa_mem
        in_s = kappa >= cfg.tau
        confident = bool(in_s.any())
        pool = np.nonzero(in_s)[0] if confident else np.arange(len(cands))
        ranked = None
        if rank_fn is not None:
            ranked = np.asarray(rank_fn(d_corr, d_cls, kappa), np.float64).reshape(-1)
            if ranked.shape[0] != len(cands):
                raise ValueError(f"rank_fn returned {ranked.shape[0]} scores for {len(cands)} candidates")
        if cfg.select == "ranker":
            score = kappa if ranked is None else ranked
            if ranked is not None and cfg.ranker_pool == "all":
                pool = np.arange(len(cands))
        else:
            score = {"cls": cands.cls_scores, "kappa": kappa, "corr": cands.corr_scores}[cfg.select]
        index = int(pool[np.argmax(score[pool])])
        self.memory = float(kappa_mem[index])
        self.frames_unconfident = 0 if confident else self.frames_unconfident + 1
        self.force_global = not confident
        return GateDecision(index, kappa.astype(np.float32), kappa_vlm.astype(np.float32), confident)
