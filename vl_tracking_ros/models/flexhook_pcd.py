"""FlexHook Pairwise Correspondence Decoder (PCD) (arXiv 2503.07516, "PCD").

Learnable queries, ``queries_per_expr`` for every (expression, tracklet)
pair, read through **masked cross-attention** a key set made of

* the tracklet's trajectory tokens (shared by every expression: implicit
  contrast between expressions on the same target), and
* each expression's private tokens: its language tokens and the reference
  features sampled at its reference points.

The attention mask (:func:`build_pcd_mask`) lets a query see the shared
trajectory tokens and *only its own expression's* private tokens (and never
that expression's padding). Queries of different expressions never attend to
each other, so a query's score is independent of every other expression.
Decoding is multi-scale: one cross-attention block per feature scale,
coarse to fine (the paper decodes over an FPN). Output: one logit per
(expression, tracklet).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn


def build_pcd_mask(num_traj: int, lang_valid: torch.Tensor, num_ref: int, queries_per_expr: int) -> torch.Tensor:
    """Boolean attention mask, True = blocked.

    Key layout: [traj (num_traj) | lang e0 (L) | ... | lang e{E-1} | ref e0 (num_ref) | ...].
    lang_valid: [E, L] bool. Returns [E * queries_per_expr, num_traj + E*(L+num_ref)].
    """
    e, l = lang_valid.shape
    total = num_traj + e * (l + num_ref)
    mask = torch.ones(e, total, dtype=torch.bool, device=lang_valid.device)
    mask[:, :num_traj] = False
    for i in range(e):
        mask[i, num_traj + i * l: num_traj + (i + 1) * l] = ~lang_valid[i]
        s = num_traj + e * l + i * num_ref
        mask[i, s:s + num_ref] = False
    return mask.repeat_interleave(queries_per_expr, 0)


class _CrossBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.nq = nn.LayerNorm(dim)
        self.nk = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.nf = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))

    def forward(self, q: torch.Tensor, kv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        k = self.nk(kv)
        q = q + self.attn(self.nq(q), k, k, attn_mask=mask, need_weights=False)[0]
        return q + self.ff(self.nf(q))


class PairwiseCorrespondenceDecoder(nn.Module):
    """Scores [E, N] from trajectory tokens, language and reference tokens.

    dim: token width; scales: number of feature scales decoded (one block
    each, coarse first); queries_per_expr: learnable queries per pair (more =
    more capacity per pair, linear cost).
    """

    def __init__(self, dim: int, scales: int, heads: int = 4, queries_per_expr: int = 2) -> None:
        super().__init__()
        self.qpe = queries_per_expr
        self.queries = nn.Parameter(torch.randn(queries_per_expr, dim) * 0.02)
        self.blocks = nn.ModuleList([_CrossBlock(dim, heads) for _ in range(scales)])
        self.score = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 1))

    def forward(self, traj: Sequence[torch.Tensor], lang: torch.Tensor, lang_valid: torch.Tensor,
                lang_pooled: torch.Tensor, refs: Sequence[torch.Tensor]) -> torch.Tensor:
        """traj[s]: [N, P, d] per scale; lang: [E, L, d]; lang_valid: [E, L];
        lang_pooled: [E, d]; refs[s]: [E, N, M, d] (M may be 0). -> logits [E, N]."""
        n = traj[0].shape[0]
        e, l, d = lang.shape
        q = (self.queries[None, :, :] + lang_pooled[:, None, :]).reshape(1, e * self.qpe, d).expand(n, -1, -1)
        lang_keys = lang.reshape(1, e * l, d).expand(n, -1, -1)
        for s, block in enumerate(self.blocks):
            ref = refs[s]
            m = ref.shape[2]
            kv = torch.cat([traj[s], lang_keys, ref.permute(1, 0, 2, 3).reshape(n, e * m, d)], 1)
            mask = build_pcd_mask(traj[s].shape[1], lang_valid, m, self.qpe)
            q = block(q, kv, mask)
        logits = self.score(q).reshape(n, e, self.qpe).mean(-1)
        return logits.t()
