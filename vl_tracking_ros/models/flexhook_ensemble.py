"""Several independently trained FlexHook heads scoring as one.

The (expression, tracklet) logits of FlexHook vary from one training draw to
the next by about as much as a recipe change moves them (docs/rmot.md:
two draws of one recipe differ by ~1 HOTA). Averaging the logits of K heads
trained from different seeds on the same data removes part of that
variance at K times FlexHook's (small) cost per frame; OneTrack-M and the
backbone are shared, so detection and association are unchanged.

:class:`FlexHookEnsemble` has FlexHook's two-call interface
(``encode_language`` once per command, then ``forward`` per frame), so the
referring tracker uses a single head or an ensemble alike. It owns no
parameters of its own: it is a view over modules owned elsewhere
(``RmotModels.flexhook`` + ``RmotModels.flexhook_extra``).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch

from .flexhook_model import FlexHook, LanguageState


class FlexHookEnsemble:
    """Mean of the members' logits.

    members: FlexHook modules with the same config (same ``channels``,
        ``frames``, ``motion_history``: they take the same inputs).
    """

    def __init__(self, members: Sequence[FlexHook]) -> None:
        members = list(members)
        if not members:
            raise ValueError("FlexHookEnsemble needs at least one member")
        first = members[0].cfg
        for m in members[1:]:
            if m.cfg != first:
                raise ValueError("FlexHookEnsemble members must share one FlexHookConfig")
        self.members = members
        self.cfg = first

    def encode_language(self, lang_feats: torch.Tensor, lang_valid: torch.Tensor) -> List[LanguageState]:
        """lang_feats [E, L, text_dim] float32, lang_valid [E, L] bool ->
        one LanguageState per member (each has its own language layers)."""
        return [m.encode_language(lang_feats, lang_valid) for m in self.members]

    def __call__(self, maps: Sequence[torch.Tensor], boxes_norm: torch.Tensor, states: Sequence[LanguageState],
                 motion_boxes: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Same inputs as :meth:`FlexHook.forward` (``states`` from
        :meth:`encode_language`); returns the mean logits [E, N] float32."""
        if len(states) != len(self.members):
            raise ValueError(f"{len(states)} language states for {len(self.members)} members")
        logits = [m(maps, boxes_norm, s, motion_boxes) for m, s in zip(self.members, states)]
        return torch.stack(logits).mean(0)
