"""Candidate ranker: which of the MVLM candidates does the sentence name?

A second stage after the MVLM network (ours, not in the seed papers; used
when ``gating.select: ranker``). The network proposes K candidates and
MVLM's confidence decides *whether* to trust the frame (local ROI vs
relocalization); the ranker only re-orders the candidates *within* MVLM's
pool S_t (or all candidates when S_t is empty), using

* each candidate's evidence from :mod:`.candidate_features` (geometry,
  network scores, colour, thermal, depth, velocity, a 4-channel crop),
* the sentence embedding (mean-pooled all-MiniLM-L6-v2 tokens of the full
  expression, up to ``sentence_tokens`` tokens, so relations such as "left
  of the red car" are not truncated),
* the other candidates (a small transformer over the set: "the small ball"
  and "the crate below the drone" are relative statements).

``CandidateRanker.forward(features (B, K, F), crops (B, K, 4, S, S), valid
(B, K) bool, sentence (B, D_text))`` -> logits (B, K) float32 (``-1e4`` where
not valid).

``kind: linear`` (:class:`LinearCandidateRanker`, same call) is the
conditional-logit baseline: one weight per standardized feature, no crops,
no sentence, no set interaction. On held-out training-stream clips it
generalises better than the set transformer with the data we can collect
on CPU (docs/sot-model.md, "Candidate ranker"); :func:`build_ranker` picks
the class from the config. Trained with a softmax cross-entropy over each frame's
candidates (:func:`ranking_loss`); shipped as its own safetensors file with a
manifest entry ``<preset>-ranker``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .candidate_features import CROP_CHANNELS, NUM_FEATURES

INVALID_LOGIT = -1.0e4
RANKER_KINDS = ("set", "linear")


@dataclass
class RankerConfig:
    """Ranker architecture (the ``ranker:`` section of a preset YAML).

    d_model: token width; num_layers / num_heads: set transformer;
    crop_size: side of the candidate crops; text_dim: sentence embedding
    width (384 for MiniLM); sentence_tokens: tokenizer length for the
    sentence embedding; num_features: per-candidate scalars (fixed by
    :mod:`.candidate_features`).
    """

    d_model: int = 64
    num_layers: int = 2
    num_heads: int = 4
    crop_size: int = 16
    text_dim: int = 384
    sentence_tokens: int = 48
    num_features: int = NUM_FEATURES
    dropout: float = 0.1
    kind: str = "set"

    def validate(self) -> None:
        if self.kind not in RANKER_KINDS:
            raise ValueError(f"ranker.kind must be one of {RANKER_KINDS}, got {self.kind!r}")
        if self.num_features != NUM_FEATURES:
            raise ValueError(f"ranker.num_features must be {NUM_FEATURES} (candidate_features), got {self.num_features}")
        if self.d_model % self.num_heads:
            raise ValueError(f"ranker.d_model {self.d_model} is not divisible by num_heads {self.num_heads}")
        if self.crop_size < 4 or self.crop_size % 4:
            raise ValueError(f"ranker.crop_size must be a multiple of 4 and >= 4, got {self.crop_size}")


class CandidateRanker(nn.Module):
    """Scores each candidate of a frame against the sentence (see module docstring)."""

    def __init__(self, cfg: RankerConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        d = cfg.d_model
        self.crop_net = nn.Sequential(
            nn.Conv2d(CROP_CHANNELS, 16, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.GELU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.cand_proj = nn.Sequential(nn.Linear(cfg.num_features + 32, d), nn.GELU(), nn.Linear(d, d))
        self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.film = nn.Linear(d, 2 * d)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        layer = nn.TransformerEncoderLayer(d, cfg.num_heads, 2 * d, cfg.dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 1))

    def forward(self, features: torch.Tensor, crops: torch.Tensor, valid: torch.Tensor,
                sentence: torch.Tensor) -> torch.Tensor:
        b, k, _ = features.shape
        c = self.crop_net(crops.reshape(b * k, *crops.shape[2:])).reshape(b, k, -1)
        e = self.cand_proj(torch.cat([features, c], dim=-1))            # (B, K, d)
        t = self.text_proj(sentence)                                     # (B, d)
        gamma, beta = self.film(t).chunk(2, dim=-1)
        e = e * (1 + gamma[:, None]) + beta[:, None]
        seq = torch.cat([t[:, None], e], dim=1)                          # text token first
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=valid.device), ~valid], dim=1)
        x = self.encoder(seq, src_key_padding_mask=pad)[:, 1:]
        logits = self.out(x).squeeze(-1)
        return logits.masked_fill(~valid, INVALID_LOGIT)


class LinearCandidateRanker(nn.Module):
    """Conditional logit over the candidates: ``w . (f - mean) / std + b``.

    ``feature_mean`` / ``feature_std`` (F,) float32 are buffers set from the
    training rows (:meth:`set_standardization`) and shipped with the weights.
    crops and sentence are accepted (same call as :class:`CandidateRanker`)
    and ignored.
    """

    def __init__(self, cfg: RankerConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.register_buffer("feature_mean", torch.zeros(cfg.num_features))
        self.register_buffer("feature_std", torch.ones(cfg.num_features))
        self.score = nn.Linear(cfg.num_features, 1)
        nn.init.zeros_(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def set_standardization(self, mean: torch.Tensor, std: torch.Tensor, min_std: float = 1e-2) -> None:
        """mean, std: (F,) per-feature statistics of valid training candidates;
        std is floored at ``min_std`` so near-constant features stay bounded."""
        if mean.shape != self.feature_mean.shape or std.shape != self.feature_std.shape:
            raise ValueError(f"standardization must be ({self.cfg.num_features},), got {tuple(mean.shape)} / "
                             f"{tuple(std.shape)}")
        self.feature_mean.copy_(mean.float())
        self.feature_std.copy_(std.float().clamp_min(min_std))

    def forward(self, features: torch.Tensor, crops: torch.Tensor, valid: torch.Tensor,
                sentence: torch.Tensor) -> torch.Tensor:
        x = (features - self.feature_mean) / self.feature_std
        logits = self.score(x).squeeze(-1)
        return logits.masked_fill(~valid, INVALID_LOGIT)


def build_ranker(cfg: RankerConfig) -> nn.Module:
    """The ranker module named by ``cfg.kind`` ("set" or "linear")."""
    cfg.validate()
    return LinearCandidateRanker(cfg) if cfg.kind == "linear" else CandidateRanker(cfg)


def ranking_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy over a frame's candidates.

    logits: (B, K) from :class:`CandidateRanker` (invalid slots at
    ``INVALID_LOGIT``); target: (B,) int64 index of the referent's
    candidate, -1 where none of the candidates is on it (ignored).
    """
    keep = target >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep], target[keep])
