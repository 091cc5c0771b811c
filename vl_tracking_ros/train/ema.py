"""Exponential moving average of trained weights (Polyak averaging).

A run of a few thousand small-batch CPU steps ends wherever the last
batches pushed it; two runs of one recipe differ by several validation
points (docs/sot-model.md). The EMA of the weights over the last ~1/(1-d)
steps is a cheaper estimate of where training was heading and moves less
with the last batches. Used by ``train.trainer`` when ``train.ema_decay > 0``.

The decay warms up as ``min(d, (1 + n) / (10 + n))`` after n updates, so
the average is not dominated by the initial weights in short runs.
"""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

import torch


class WeightEMA:
    """EMA of a set of named parameters.

    Args:
        named_params: (name, parameter) pairs to average (the trainable ones).
        decay: d in (0, 1); the average spans ~1 / (1 - d) optimiser steps.
    """

    def __init__(self, named_params: Iterable[Tuple[str, torch.nn.Parameter]], decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must lie in (0, 1), got {decay}")
        self.decay = float(decay)
        self.params: Dict[str, torch.nn.Parameter] = dict(named_params)
        self.shadow: Dict[str, torch.Tensor] = {k: p.detach().clone() for k, p in self.params.items()}
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current parameter values into the average (after ``opt.step()``)."""
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for k, p in self.params.items():
            self.shadow[k].mul_(d).add_(p.detach(), alpha=1.0 - d)
        self.updates += 1

    @torch.no_grad()
    def copy_to_params(self) -> None:
        """Overwrite the parameters with the average (end of training)."""
        for k, p in self.params.items():
            p.copy_(self.shadow[k])

    def state_dict(self) -> Dict[str, object]:
        return {"decay": self.decay, "updates": self.updates,
                "shadow": {k: v.clone() for k, v in self.shadow.items()}}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore a checkpointed average; the parameter names must match."""
        shadow = state["shadow"]
        if set(shadow) != set(self.shadow):
            missing = sorted(set(self.shadow) ^ set(shadow))[:5]
            raise ValueError(f"EMA checkpoint holds other parameters than this stage trains (e.g. {missing})")
        for k, v in shadow.items():
            self.shadow[k].copy_(v)
        self.updates = int(state["updates"])
