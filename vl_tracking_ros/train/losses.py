"""Training losses of the language tracker.

* :func:`tracking_loss` -- OSTrack/MVLM heatmap tracking loss: Gaussian
  focal loss on the centre heatmap (CenterNet) + L1 on offset/size at the
  ground-truth cell + GIoU of the box decoded there.
* :func:`correlation_margin_loss` -- MVLM L_CM (Sec. 3.2):
  rho_pos = mean_{x in R*} <v_x, u>, Delta_x = rho_pos - <v_x, u> for
  background tokens x, L_CM = mean over the K hardest (smallest Delta) of
  log(1 + exp(-Delta_x / tau)).
* :func:`contrastive_loss` -- COST contrastive alignment (InfoNCE, both
  directions) between the pre-fusion region embedding of the target and the
  pre-fusion sentence embedding; samples sharing an expression count as
  positives. Training only.
* :func:`moe_loss` -- XTrack L_moe = L_cls + lambda * (L_imp + L_load),
  summed over all MeME routers.

Targets (per sample, crop coordinates):
  boxes_crop (B, 4) float32 xyxy crop pixels; visible (B,) bool (target
  centre inside the crop); the crop size comes from the heatmap shape x stride.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

from ..models.meme import router_losses


def gaussian_heatmap(boxes_crop: torch.Tensor, visible: torch.Tensor, grid_hw, stride: int) -> torch.Tensor:
    """(B, 4) crop-pixel boxes -> (B, 1, h, w) Gaussian targets peaking at 1 on
    the centre cell; sigma = max(0.5, min(box w, h in cells) / 4); zeros for
    invisible targets."""
    h, w = grid_hw
    b = boxes_crop.shape[0]
    cx = (boxes_crop[:, 0] + boxes_crop[:, 2]) / 2 / stride
    cy = (boxes_crop[:, 1] + boxes_crop[:, 3]) / 2 / stride
    bw = (boxes_crop[:, 2] - boxes_crop[:, 0]) / stride
    bh = (boxes_crop[:, 3] - boxes_crop[:, 1]) / stride
    sigma = torch.clamp(torch.minimum(bw, bh) / 4, min=0.5)
    ix = cx.floor().clamp(0, w - 1)
    iy = cy.floor().clamp(0, h - 1)
    xs = torch.arange(w, device=boxes_crop.device, dtype=boxes_crop.dtype)
    ys = torch.arange(h, device=boxes_crop.device, dtype=boxes_crop.dtype)
    g = torch.exp(-((xs[None, None, :] - ix[:, None, None]) ** 2 + (ys[None, :, None] - iy[:, None, None]) ** 2)
                  / (2 * sigma[:, None, None] ** 2))
    g = g * visible.to(g.dtype)[:, None, None]
    return g.reshape(b, 1, h, w)


def focal_heatmap_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet penalty-reduced focal loss, normalised by max(1, #positives)."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.ge(0.999).to(p.dtype)
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p ** alpha * (1 - target) ** beta * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp_min(1.0)


def giou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of paired (N, 4) xyxy boxes -> (N,)."""
    x1 = torch.maximum(boxes_a[:, 0], boxes_b[:, 0]); y1 = torch.maximum(boxes_a[:, 1], boxes_b[:, 1])
    x2 = torch.minimum(boxes_a[:, 2], boxes_b[:, 2]); y2 = torch.minimum(boxes_a[:, 3], boxes_b[:, 3])
    inter = (x2 - x1).clamp_min(0) * (y2 - y1).clamp_min(0)
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]).clamp_min(0) * (boxes_a[:, 3] - boxes_a[:, 1]).clamp_min(0)
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]).clamp_min(0) * (boxes_b[:, 3] - boxes_b[:, 1]).clamp_min(0)
    union = area_a + area_b - inter
    iou = inter / union.clamp_min(1e-6)
    cx1 = torch.minimum(boxes_a[:, 0], boxes_b[:, 0]); cy1 = torch.minimum(boxes_a[:, 1], boxes_b[:, 1])
    cx2 = torch.maximum(boxes_a[:, 2], boxes_b[:, 2]); cy2 = torch.maximum(boxes_a[:, 3], boxes_b[:, 3])
    hull = ((cx2 - cx1) * (cy2 - cy1)).clamp_min(1e-6)
    return iou - (hull - union) / hull


def _centre_cells(boxes_crop: torch.Tensor, grid_hw, stride: int):
    h, w = grid_hw
    cx = (boxes_crop[:, 0] + boxes_crop[:, 2]) / 2 / stride
    cy = (boxes_crop[:, 1] + boxes_crop[:, 3]) / 2 / stride
    ix = cx.floor().clamp(0, w - 1).long()
    iy = cy.floor().clamp(0, h - 1).long()
    return cx, cy, ix, iy


def tracking_loss(out: Dict[str, torch.Tensor], boxes_crop: torch.Tensor, visible: torch.Tensor, stride: int,
                  w_focal: float = 1.0, w_l1: float = 5.0, w_giou: float = 2.0) -> Dict[str, torch.Tensor]:
    """Focal heatmap + L1 (offset, size) + GIoU, the regression terms on visible samples only."""
    logits = out["heatmap_logits"]
    b, _, h, w = logits.shape
    crop_h, crop_w = h * stride, w * stride
    target = gaussian_heatmap(boxes_crop, visible, (h, w), stride)
    l_focal = focal_heatmap_loss(logits, target)
    cx, cy, ix, iy = _centre_cells(boxes_crop, (h, w), stride)
    bidx = torch.arange(b, device=logits.device)
    off = out["offset"][bidx, :, iy, ix]  # (B, 2)
    size = out["size"][bidx, :, iy, ix]
    off_t = torch.stack([cx - ix, cy - iy], dim=1).clamp(0, 1)
    size_t = torch.stack([(boxes_crop[:, 2] - boxes_crop[:, 0]) / crop_w,
                          (boxes_crop[:, 3] - boxes_crop[:, 1]) / crop_h], dim=1).clamp(0, 1)
    vis = visible.to(logits.dtype)
    nvis = vis.sum().clamp_min(1.0)
    l_l1 = (((off - off_t).abs().sum(1) + (size - size_t).abs().sum(1)) * vis).sum() / nvis
    pcx = (ix + off[:, 0]) * stride; pcy = (iy + off[:, 1]) * stride
    pw = size[:, 0] * crop_w; ph = size[:, 1] * crop_h
    pred = torch.stack([pcx - pw / 2, pcy - ph / 2, pcx + pw / 2, pcy + ph / 2], dim=1)
    l_giou = ((1 - giou(pred, boxes_crop)) * vis).sum() / nvis
    total = w_focal * l_focal + w_l1 * l_l1 + w_giou * l_giou
    return {"track": total, "focal": l_focal, "l1": l_l1, "giou": l_giou}


def region_mask(boxes_crop: torch.Tensor, grid_hw, stride: int) -> torch.Tensor:
    """(B, N) bool: token cells whose centres are inside the box (always
    including the centre cell)."""
    h, w = grid_hw
    xs = (torch.arange(w, device=boxes_crop.device, dtype=boxes_crop.dtype) + 0.5) * stride
    ys = (torch.arange(h, device=boxes_crop.device, dtype=boxes_crop.dtype) + 0.5) * stride
    inx = (xs[None, :] >= boxes_crop[:, 0:1]) & (xs[None, :] <= boxes_crop[:, 2:3])
    iny = (ys[None, :] >= boxes_crop[:, 1:2]) & (ys[None, :] <= boxes_crop[:, 3:4])
    m = iny[:, :, None] & inx[:, None, :]
    _, _, ix, iy = _centre_cells(boxes_crop, grid_hw, stride)
    m[torch.arange(m.shape[0]), iy, ix] = True
    return m.reshape(m.shape[0], -1)


def correlation_margin_loss(corr: torch.Tensor, boxes_crop: torch.Tensor, visible: torch.Tensor, stride: int,
                            tau: float = 0.1, top_k: int = 16) -> torch.Tensor:
    """MVLM L_CM on the correlation map corr (B, h, w) = <v_x, u>."""
    b, h, w = corr.shape
    flat = corr.reshape(b, -1)
    pos = region_mask(boxes_crop, (h, w), stride)
    rho_pos = (flat * pos).sum(1) / pos.sum(1).clamp_min(1)
    delta = rho_pos[:, None] - flat
    delta = delta.masked_fill(pos, float("inf"))  # only background tokens compete
    k = min(top_k, flat.shape[1] - 1)
    hardest, _ = torch.topk(delta, k, dim=1, largest=False)
    finite = torch.isfinite(hardest)
    per = (F.softplus(-hardest / tau) * finite).sum(1) / finite.sum(1).clamp_min(1)
    vis = visible.to(corr.dtype)
    return (per * vis).sum() / vis.sum().clamp_min(1.0)


def contrastive_loss(con_vis_tokens: torch.Tensor, con_text: torch.Tensor, boxes_crop: torch.Tensor,
                     visible: torch.Tensor, text_ids: torch.Tensor, grid_hw, stride: int,
                     temperature: float = 0.07) -> torch.Tensor:
    """COST InfoNCE between target-region visual embeddings and sentence
    embeddings of the batch (both directions; equal text_ids are positives)."""
    vis = visible.bool()
    if vis.sum() < 2:
        return con_text.sum() * 0.0
    m = region_mask(boxes_crop, grid_hw, stride).to(con_vis_tokens.dtype)
    v = (con_vis_tokens * m[:, :, None]).sum(1) / m.sum(1, keepdim=True).clamp_min(1)
    v = F.normalize(v[vis], dim=-1)
    t = F.normalize(con_text[vis], dim=-1)
    ids = text_ids[vis]
    pos = (ids[:, None] == ids[None, :]).to(v.dtype)
    logits = v @ t.t() / temperature
    target = pos / pos.sum(1, keepdim=True)
    l_v2t = -(target * F.log_softmax(logits, dim=1)).sum(1).mean()
    l_t2v = -(target * F.log_softmax(logits.t(), dim=1)).sum(1).mean()
    return 0.5 * (l_v2t + l_t2v)


def moe_loss(out: Dict[str, torch.Tensor], modality_label: torch.Tensor, num_modalities: int,
             valid: Optional[torch.Tensor] = None, balance_weight: float = 0.01) -> Dict[str, torch.Tensor]:
    """XTrack L_moe summed over the network's MeME routers."""
    probs = out["router_probs_tokens"]  # (B, R, N, E)
    topk = out["router_topk"]
    cls = probs.new_zeros(()); bal = probs.new_zeros(())
    for r in range(probs.shape[1]):
        parts = router_losses(probs[:, r], topk[:, r], modality_label, num_modalities, valid)
        cls = cls + parts["cls"]
        bal = bal + parts["importance"] + parts["load"]
    n = probs.shape[1]
    return {"moe": (cls + balance_weight * bal) / n, "moe_cls": cls / n, "moe_balance": bal / n}
