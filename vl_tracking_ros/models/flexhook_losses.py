"""FlexHook losses (arXiv 2503.07516, "Loss & Training").

* :func:`pair_focal_loss`: sigmoid focal loss on the (expression, tracklet)
  matching logits -- most pairs are negatives, focal loss keeps the few
  positives from being drowned.
* the reference-point barrier L_r lives beside the points it regularises
  (:func:`vl_tracking_ros.models.flexhook_chook.reference_barrier_loss`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pair_focal_loss(logits: torch.Tensor, labels: torch.Tensor, alpha: float = 0.5, gamma: float = 2.0) -> torch.Tensor:
    """Sigmoid focal loss, mean over pairs. logits, labels: same shape
    (labels 0/1 float). alpha weights positives (0.5 = symmetric); gamma > 0
    down-weights easy pairs (0 = plain BCE)."""
    labels = labels.float()
    ce = F.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    p = torch.sigmoid(logits)
    p_t = p * labels + (1 - p) * (1 - labels)
    a_t = alpha * labels + (1 - alpha) * (1 - labels)
    return (a_t * (1 - p_t) ** gamma * ce).mean() * 4.0
