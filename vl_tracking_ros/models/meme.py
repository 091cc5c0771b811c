"""XTrack's Mixture of Modal Experts (MeME), ICCV 2025, arXiv 2405.17773.

Inserted after every attention block and every FFN of the (frozen) RGB
fusion stack (XTrack Sec. 3, Eq. 1-2):

    T_rgb^attn = T_rgb^l + Attn(T_rgb^l) + MeME(T_rgb^l, T_x^l)
    T_rgb^l+1  = T_rgb^attn + FFN(T_rgb^attn) + MeME(T_rgb^attn, T_x^attn)

One MeME module (:class:`MeME`) holds:

* a **soft top-k router** (:class:`SoftTopKRouter`) over the X tokens,
  y = sum_{i in top-k} p_i(T_x) eps_i(T_x) (XTrack "Soft Router"), trained
  with a modality-classification loss L_cls (the router's probability mass
  per modality group vs. the true modality) plus importance/load balance
  losses L_balance = L_imp + L_load (see :func:`router_losses`);
* k **low-rank modality-specific experts** per modality
  (:class:`LowRankExpert`, decomposition/reconstruction in r << d);
* a **shared expert gated by EdgeMix** (:class:`SharedEdgeExpert`):
  Out = (sigma(EdgeMix(X W1)) * X W2) W3 + m_s, where m_s is the routed
  specific-expert mixture and :class:`EdgeMix` is a depthwise 3x3 conv
  initialised as a Laplacian filter (high-frequency edges: the cross-modal
  common prior);
* the **modal prompting gate** on the RGB tokens (:class:`ModalPrompt`):
  Out = ((X_i W5 * sigma(X_m W6)) W7 + I_k) W8, with X_i the RGB tokens and
  X_m = M_k the low-rank modal matrix (I_k is M_k itself, the identity path).
  W8 is zero-initialised so an untrained MeME leaves the RGB base unchanged.

Several X modalities can be present at once: the network averages their
patch embeddings into one X token stream (:mod:`.network`) and the soft
router mixes the experts of all modalities; with no X present the MeME
output is multiplied by 0, i.e. the RGB-only base tracker.
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

LAPLACIAN_3X3 = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


class LowRankExpert(nn.Module):
    """Modality-specific expert: d -> r -> r (low-rank decomposition and
    reconstruction, XTrack "Modality-Specific Experts"). (B, N, d) -> (B, N, r)."""

    def __init__(self, d_model: int, rank: int):
        super().__init__()
        self.down = nn.Linear(d_model, rank)
        self.up = nn.Linear(rank, rank)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(F.gelu(self.down(x)))


class EdgeMix(nn.Module):
    """Depthwise 3x3 conv on the token grid, initialised as a Laplacian
    filter, followed by a 1x1 channel mix initialised to identity.

    forward: (B, r, h, w) -> (B, r, h, w).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.edge = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.mix = nn.Conv2d(channels, channels, 1, bias=True)
        with torch.no_grad():
            lap = torch.tensor(LAPLACIAN_3X3)
            self.edge.weight.copy_(lap.expand(channels, 1, 3, 3))
            self.mix.weight.copy_(torch.eye(channels)[:, :, None, None])
            self.mix.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mix(self.edge(x))


class SharedEdgeExpert(nn.Module):
    """Shared expert gated by EdgeMix: (sigma(EdgeMix(X W1)) * X W2) W3.

    forward(x (B, N, d), grid_hw) -> (B, N, r).
    """

    def __init__(self, d_model: int, rank: int):
        super().__init__()
        self.w1 = nn.Linear(d_model, rank)
        self.w2 = nn.Linear(d_model, rank)
        self.w3 = nn.Linear(rank, rank)
        self.edgemix = EdgeMix(rank)

    def forward(self, x: torch.Tensor, grid_hw: Tuple[int, int]) -> torch.Tensor:
        b, n, _ = x.shape
        h, w = grid_hw
        g = self.w1(x).transpose(1, 2).reshape(b, -1, h, w)
        gate = torch.sigmoid(self.edgemix(g)).reshape(b, -1, n).transpose(1, 2)
        return self.w3(gate * self.w2(x))


class SoftTopKRouter(nn.Module):
    """Token-wise soft top-k router over E = M * k experts.

    forward(x (B, N, d)) -> (gates (B, N, E) renormalised over the top-k and
    zero elsewhere, probs (B, N, E) full softmax, topk_mask (B, N, E) float).
    top_k trades expert specialisation (small) against smoother mixing (large).
    """

    def __init__(self, d_model: int, num_experts: int, top_k: int):
        super().__init__()
        self.num_experts = num_experts
        self.top_k = top_k
        self.proj = nn.Linear(d_model, num_experts)

    def forward(self, x: torch.Tensor):
        probs = torch.softmax(self.proj(x), dim=-1)
        top_vals, top_idx = torch.topk(probs, self.top_k, dim=-1)
        mask = torch.zeros_like(probs).scatter(-1, top_idx, 1.0)
        gates = probs * mask
        gates = gates / (gates.sum(-1, keepdim=True) + 1e-9)
        return gates, probs, mask


class ModalPrompt(nn.Module):
    """Modal prompting gate: ((X_i W5 * sigma(X_m W6)) W7 + M_k) W8.

    forward(rgb (B, N, d), modal (B, N, r)) -> (B, N, d). W8 starts at zero.
    """

    def __init__(self, d_model: int, rank: int):
        super().__init__()
        self.w5 = nn.Linear(d_model, rank)
        self.w6 = nn.Linear(rank, rank)
        self.w7 = nn.Linear(rank, rank)
        self.w8 = nn.Linear(rank, d_model)
        nn.init.zeros_(self.w8.weight)
        nn.init.zeros_(self.w8.bias)

    def forward(self, rgb: torch.Tensor, modal: torch.Tensor) -> torch.Tensor:
        return self.w8(self.w7(self.w5(rgb) * torch.sigmoid(self.w6(modal))) + modal)


class MeME(nn.Module):
    """One Mixture-of-Modal-Experts insertion point.

    d_model: token width; rank: r; num_modalities: M; experts_per_modality: k;
    top_k: experts kept by the router.

    forward(rgb (B, N, d), x (B, N, d), grid_hw (h, w)) ->
      (out (B, N, d) to add to the RGB tokens,
       aux {"probs": (B, N, E), "topk_mask": (B, N, E)})
    Expert e belongs to modality e // k.
    """

    def __init__(self, d_model: int, rank: int, num_modalities: int, experts_per_modality: int = 2, top_k: int = 2):
        super().__init__()
        self.num_modalities = num_modalities
        self.k = experts_per_modality
        n_exp = num_modalities * experts_per_modality
        self.router = SoftTopKRouter(d_model, n_exp, top_k)
        self.experts = nn.ModuleList([LowRankExpert(d_model, rank) for _ in range(n_exp)])
        self.shared = SharedEdgeExpert(d_model, rank)
        self.prompt = ModalPrompt(d_model, rank)

    def forward(self, rgb: torch.Tensor, x: torch.Tensor, grid_hw: Tuple[int, int]):
        gates, probs, mask = self.router(x)
        expert_out = torch.stack([e(x) for e in self.experts], dim=-2)  # (B, N, E, r)
        m_s = (gates.unsqueeze(-1) * expert_out).sum(dim=-2)  # (B, N, r)
        modal = self.shared(x, grid_hw) + m_s  # M_k
        out = self.prompt(rgb, modal)
        return out, {"probs": probs, "topk_mask": mask}


def modality_group_probs(probs: torch.Tensor, num_modalities: int) -> torch.Tensor:
    """(..., E) expert probabilities -> (..., M) probability mass per modality
    (experts are grouped k per modality in modality order)."""
    k = probs.shape[-1] // num_modalities
    return probs.reshape(*probs.shape[:-1], num_modalities, k).sum(-1)


def router_losses(probs: torch.Tensor, topk_mask: torch.Tensor, modality_label: torch.Tensor,
                  num_modalities: int, valid: torch.Tensor = None) -> Dict[str, torch.Tensor]:
    """XTrack MoE losses for one router.

    probs, topk_mask: (B, N, E); modality_label: (B,) long index into the
    MeME modality list; valid: (B,) bool, samples that carry an X modality.

    * ``cls``: modality-classification NLL of the per-token modality mass
      (XTrack L_cls: keeps experts modality-specialised, softly).
    * ``importance``: squared coefficient of variation of the summed expert
      probabilities (Shazeer et al.'s L_imp).
    * ``load``: E * sum_e f_e * P_e with f_e the fraction of tokens whose
      top-k holds e (no gradient) and P_e the mean probability (Switch-style
      differentiable load term).
    """
    if valid is None:
        valid = torch.ones(probs.shape[0], dtype=torch.bool, device=probs.device)
    w = valid.to(probs.dtype)
    denom = w.sum().clamp_min(1.0)
    group = modality_group_probs(probs, num_modalities).clamp_min(1e-6)  # (B, N, M)
    nll = -torch.log(torch.gather(group, -1, modality_label[:, None, None].expand(-1, group.shape[1], 1))).squeeze(-1)
    cls = (nll.mean(1) * w).sum() / denom
    flat_p = (probs * w[:, None, None]).sum((0, 1))  # (E,)
    importance = flat_p.var(unbiased=False) / (flat_p.mean() ** 2 + 1e-9)
    n_tok = denom * probs.shape[1]
    f = (topk_mask * w[:, None, None]).sum((0, 1)).detach() / n_tok
    p_mean = flat_p / n_tok
    load = probs.shape[-1] * ((f / f.sum().clamp_min(1e-9)) * p_mean).sum()
    return {"cls": cls, "importance": importance, "load": load}
