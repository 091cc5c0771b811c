"""FlexHook referring head: which tracklets does each expression mean?

Composition of the FlexHook parts (arXiv 2503.07516):
C-Hook neighbouring grid sampling + conditioning enhancement
(``flexhook_chook``) -> temporal integration (``flexhook_temporal``) -> PCD
(``flexhook_pcd``). ``scorer="cosine"`` replaces PCD by the iKUN-style
baseline (cosine similarity of pooled trajectory and pooled sentence
features, scaled) for the ablation; ``use_conditioning=False`` drops the
reference points (the C-Hook conditioning ablation).

Everything that depends only on the expression (language projection, pooled
sentence, reference points) is computed once per command by
:meth:`FlexHook.encode_language` and reused every frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .flexhook_chook import ConditioningEnhancement, expand_boxes, neighbour_grid, sample_points, unit_to_box
from .flexhook_motion import MotionToken
from .flexhook_pcd import PairwiseCorrespondenceDecoder
from .flexhook_temporal import TemporalIntegration


class FlexHookInputError(ValueError):
    """Malformed input to the FlexHook head."""


@dataclass
class FlexHookConfig:
    """Size and variant of the FlexHook head.

    text_dim: width of the text encoder's token features (MiniLM: 384).
    dim: token width inside FlexHook (wider = more capacity, slower).
    channels: channels of each sampled map, coarse first (default: the
        stride-16 backbone map, 112, and the stride-8 map plus one normalised
        thermal channel, 40 + 1; the thermal channel is zero without thermal).
    grid: K of the K x K neighbouring grid (K^2 tokens per tracklet and scale;
        more points = finer appearance, linear cost).
    margin: neighbourhood enlargement of the box on each side, in box sizes
        (more context vs. more clutter from neighbours).
    frames / time_stride: T frames of history, ``time_stride`` frames apart
        (span (T-1)*stride frames: longer spans see motion better but react
        more slowly to a change of motion).
    num_ref: M reference points of the conditioning enhancement (paper: 10).
    queries_per_expr: PCD queries per (expression, tracklet) pair.
    scorer: "pcd" (FlexHook) or "cosine" (iKUN-style baseline).
    use_conditioning: sample language-conditioned reference features.
    thermal_tokens: treat the last channel of the finest map (the normalised
        thermal channel) as its own X-modality scale: grid-sampled on its own,
        its own temporal integration and its own PCD block, instead of one of
        41 mixed channels (where the thermal signal, ~10x smaller than the
        backbone features, is under-used: temperature words were the weakest
        expression kind). Costs one more temporal MLP and PCD block per pair;
        False (default) is the original head, so older configs and weights
        are unchanged.
    motion_history: H > 0 adds the long-history motion token
        (:mod:`.flexhook_motion`): the tracklet's last H boxes, one frame
        apart, summarised into one more shared trajectory token per scale (a
        motion cue steadier than the grid displacements of the T sampled
        frames under tracker box jitter, and long enough to see turning);
        0 (default) is the original head.
    """

    text_dim: int = 384
    dim: int = 64
    channels: Sequence[int] = (112, 41)
    grid: int = 4
    margin: float = 0.25
    frames: int = 4
    time_stride: int = 2
    num_ref: int = 10
    queries_per_expr: int = 2
    heads: int = 4
    scorer: str = "pcd"
    use_conditioning: bool = True
    thermal_tokens: bool = False
    motion_history: int = 0

    #: added after weights were shipped: out of the config hash while off
    #: (:func:`.config.drop_unset_late_fields`)
    LATE_FIELDS: ClassVar[Tuple[str, ...]] = ("thermal_tokens", "motion_history")

    @property
    def scale_channels(self) -> tuple:
        """Channels of each scale FlexHook decodes (``channels``, with the
        thermal channel split off as a last 1-channel scale when
        ``thermal_tokens``)."""
        if not self.thermal_tokens:
            return tuple(self.channels)
        return tuple(self.channels[:-1]) + (self.channels[-1] - 1, 1)

    def __post_init__(self) -> None:
        if self.scorer not in ("pcd", "cosine"):
            raise ValueError(f"scorer must be 'pcd' or 'cosine', got {self.scorer!r}")
        if self.frames < 2 or self.grid < 1 or self.time_stride < 1:
            raise ValueError("frames >= 2, grid >= 1 and time_stride >= 1 required")
        self.motion_history = int(self.motion_history)
        if self.motion_history == 1 or self.motion_history < 0:
            raise ValueError(f"motion_history must be 0 (off) or >= 2 frames, got {self.motion_history}")
        self.channels = tuple(int(c) for c in self.channels)
        if self.thermal_tokens and self.channels[-1] < 2:
            raise ValueError("thermal_tokens needs the finest map to carry features + 1 thermal channel")


@dataclass
class LanguageState:
    """Per-command cache. lang [E, L, d], lang_valid [E, L] bool, pooled [E, d],
    ref_points [E, M, 2] unit-square points (M = 0 without conditioning)."""

    lang: torch.Tensor
    lang_valid: torch.Tensor
    pooled: torch.Tensor
    ref_points: torch.Tensor

    @property
    def num_expressions(self) -> int:
        return int(self.lang.shape[0])


class FlexHook(nn.Module):
    def __init__(self, cfg: FlexHookConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.dim
        self.lang_proj = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.LayerNorm(d))
        scales = cfg.scale_channels
        self.temporal = nn.ModuleList([TemporalIntegration(c, cfg.frames, d) for c in scales])
        self.motion = MotionToken(cfg.motion_history, d) if cfg.motion_history else None
        if cfg.use_conditioning and cfg.scorer == "pcd":
            self.cond = ConditioningEnhancement(d, cfg.num_ref, cfg.heads)
            self.ref_proj = nn.ModuleList([nn.Linear(c, d) for c in scales])
            self.ref_pos = nn.Linear(2, d)
        else:
            self.cond = None
        if cfg.scorer == "pcd":
            self.pcd = PairwiseCorrespondenceDecoder(d, len(scales), cfg.heads, cfg.queries_per_expr)
        else:
            self.traj_head = nn.Linear(d * len(scales), d)
            self.text_head = nn.Linear(d, d)
            self.logit_scale = nn.Parameter(torch.tensor(2.3))
            self.logit_bias = nn.Parameter(torch.tensor(-5.0))

    # ------------------------------------------------------------ language
    def encode_language(self, lang_feats: torch.Tensor, lang_valid: torch.Tensor) -> LanguageState:
        """lang_feats [E, L, text_dim] float32 token features; lang_valid [E, L]
        bool (True = real token)."""
        if lang_feats.dim() != 3 or lang_feats.shape[-1] != self.cfg.text_dim:
            raise FlexHookInputError(f"lang_feats must be [E, L, {self.cfg.text_dim}], got {tuple(lang_feats.shape)}")
        if lang_valid.shape != lang_feats.shape[:2]:
            raise FlexHookInputError("lang_valid must be [E, L] matching lang_feats")
        if not bool(lang_valid.any(1).all()):
            raise FlexHookInputError("every expression needs at least one valid token")
        lang = self.lang_proj(lang_feats)
        w = lang_valid.float()[..., None]
        pooled = (lang * w).sum(1) / w.sum(1)
        if self.cond is not None:
            ref = self.cond(lang, lang_valid)
        else:
            ref = lang.new_zeros(lang.shape[0], 0, 2)
        return LanguageState(lang, lang_valid, pooled, ref)

    # ---------------------------------------------------------- trajectory
    def trajectory_tokens(self, maps: Sequence[torch.Tensor], boxes_norm: torch.Tensor) -> List[torch.Tensor]:
        """C-Hook grid sampling + temporal integration. maps[s]: [T, C_s, H_s, W_s]
        (frame t of the tracklet history, oldest first); boxes_norm [N, T, 4]
        -> per scale [N, K^2, d]."""
        n, t, _ = boxes_norm.shape
        pts = neighbour_grid(boxes_norm, self.cfg.grid, self.cfg.margin)       # [N, T, P, 2]
        p = pts.shape[2]
        flat = pts.permute(1, 0, 2, 3).reshape(t, n * p, 2)
        out = []
        for s, fmap in enumerate(maps):
            feats = sample_points(fmap, flat).reshape(t, n, p, -1).permute(1, 0, 2, 3)  # [N, T, P, C]
            out.append(self.temporal[s](feats, pts))
        return out

    def reference_tokens(self, maps: Sequence[torch.Tensor], boxes_norm: torch.Tensor,
                         state: LanguageState) -> List[torch.Tensor]:
        """Language-conditioned features at the reference points, averaged over
        the T frames. -> per scale [E, N, M, d]."""
        e, m = state.ref_points.shape[:2]
        n, t, _ = boxes_norm.shape
        if m == 0 or self.cond is None:
            return [boxes_norm.new_zeros(e, n, 0, self.cfg.dim) for _ in maps]
        nb = expand_boxes(boxes_norm, self.cfg.margin)                            # [N, T, 4]
        pts = unit_to_box(state.ref_points[:, None, None], nb[None])               # [E, N, T, M, 2]
        flat = pts.permute(2, 0, 1, 3, 4).reshape(t, e * n * m, 2)
        pos = self.ref_pos(state.ref_points * 2 - 1)[:, None]                      # [E, 1, M, d]
        out = []
        for s, fmap in enumerate(maps):
            f = sample_points(fmap, flat).reshape(t, e, n, m, -1).mean(0)
            out.append(self.ref_proj[s](f) + pos)
        return out

    def forward(self, maps: Sequence[torch.Tensor], boxes_norm: torch.Tensor, state: LanguageState,
                motion_boxes: Optional[torch.Tensor] = None) -> torch.Tensor:
        """maps[s]: [T, C_s, H_s, W_s]; boxes_norm: [N, T, 4] normalised xyxy;
        state: :meth:`encode_language`; motion_boxes: [N, H, 4] normalised xyxy,
        the tracklets' last H = ``motion_history`` boxes one frame apart
        (oldest first; required iff ``motion_history`` > 0). Returns logits [E, N]."""
        if len(maps) != len(self.cfg.channels):
            raise FlexHookInputError(f"expected {len(self.cfg.channels)} feature scales, got {len(maps)}")
        if boxes_norm.dim() != 3 or boxes_norm.shape[1:] != (self.cfg.frames, 4):
            raise FlexHookInputError(f"boxes_norm must be [N, T={self.cfg.frames}, 4], got {tuple(boxes_norm.shape)}")
        for fm, c in zip(maps, self.cfg.channels):
            if fm.dim() != 4 or fm.shape[0] != self.cfg.frames or fm.shape[1] != c:
                raise FlexHookInputError(f"feature map must be [T={self.cfg.frames}, C={c}, H, W], got {tuple(fm.shape)}")
        h = self.cfg.motion_history
        if h and (motion_boxes is None or motion_boxes.dim() != 3
                  or tuple(motion_boxes.shape) != (boxes_norm.shape[0], h, 4)):
            got = None if motion_boxes is None else tuple(motion_boxes.shape)
            raise FlexHookInputError(f"this head has a motion token (motion_history={h}): motion_boxes must be "
                                     f"[N={boxes_norm.shape[0]}, H={h}, 4], got {got}")
        e = state.num_expressions
        if boxes_norm.shape[0] == 0:
            return boxes_norm.new_zeros(e, 0)
        if self.cfg.thermal_tokens:   # the thermal channel becomes its own (X-modality) scale
            maps = list(maps[:-1]) + [maps[-1][:, :-1], maps[-1][:, -1:]]
        traj = self.trajectory_tokens(maps, boxes_norm)
        if self.motion is not None:   # one more shared trajectory token per scale
            mtok = self.motion(motion_boxes)
            traj = [torch.cat([x, mtok], 1) for x in traj]
        if self.cfg.scorer == "cosine":
            pooled = torch.cat([x.mean(1) for x in traj], -1)
            tv = F.normalize(self.traj_head(pooled), dim=-1)
            lv = F.normalize(self.text_head(state.pooled), dim=-1)
            return self.logit_scale.exp() * (lv @ tv.t()) + self.logit_bias
        refs = self.reference_tokens(maps, boxes_norm, state)
        return self.pcd(traj, state.lang, state.lang_valid, state.pooled, refs)
