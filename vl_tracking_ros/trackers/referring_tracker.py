"""Referring multi-object tracker: OneTrack-M tracklets + FlexHook referring.

The two-stage referring-by-tracking pipeline of issue 5, behind the
:class:`~vl_tracking_ros.core.tracker.Tracker` contract (preset
``rmot-small``):

1. the shared frozen backbone encodes the new frame once (stride-8 and
   stride-16 maps, kept in a short ring buffer);
2. OneTrack-M runs its encoder over the last W frames' patch tokens and
   decodes the newest frame's heads into detections;
3. :class:`~vl_tracking_ros.trackers.association.Associator` links them to
   tracks (Hungarian on displacement-predicted centres, lost buffer, ReID);
4. FlexHook scores every (expression, confirmed track) pair from the same
   cached maps (C-Hook sampling; no crop re-encoding);
5. scores are smoothed per (expression, track) with an EMA and a hysteresis
   band; a track is reported for an expression while it is "on".

Several ``track all ...`` queries are answered at once; the text of each is
encoded once per ``set_commands`` call. Each reported track carries its
expression in ``command`` and the smoothed score in ``expression_score``. A
track that matches several expressions is reported once, under the
expression with the highest smoothed score (IDs stay unique per frame).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..core.geometry import held_box_history
from ..core.tracker import Tracker
from ..core.types import SensorFrame, TargetQuery, TrackerOutput, TrackResult, TrackState
from ..models.config import drop_unset_late_fields
from ..models.errors import WeightsError
from ..models.flexhook_ensemble import FlexHookEnsemble
from ..models.flexhook_model import FlexHook, FlexHookConfig
from ..models.onetrack_backbone import MultiScaleBackbone, preprocess_rgb, thermal_channel, with_thermal
from ..models.onetrack_encoder import OneTrackConfig, OneTrackM
from ..models.onetrack_heads import decode_frame
from ..resources import read_yaml_mapping
from .association import AssociationConfig, Associator, Detections

#: weights/ and config/ (source checkout or installed share dir; see ``resources``)
from ..resources import model_config_path as _model_config_path, weights_dir as _weights_dir  # noqa: E402

DEFAULT_WEIGHTS_DIR = str(_weights_dir())
DEFAULT_CONFIG = str(_model_config_path("rmot-small"))
WEIGHTS_FORMAT = "rmot-v1"


class FrameInputError(ValueError):
    """A frame handed to :meth:`ReferringTracker.step` is unusable."""


@dataclass
class ReferringConfig:
    """Runtime knobs of the referring tracker (``tracker:`` in the YAML).

    detection_threshold: heatmap peak score to become a detection (lower =
        more recall, more false tracks).
    score_on / score_off: hysteresis band on the smoothed expression score: a
        track switches on above ``score_on`` and off below ``score_off``. A
        wider band gives fewer flickers and slower reaction.
    ema: weight of the newest score in the EMA (1 = no smoothing, faster
        reaction, more flicker).
    max_detections: top-k peaks per frame.
    nms_iou: box NMS IoU after peak extraction (see ``decode_frame``).
    low_detection_threshold: peaks between this and ``detection_threshold``
        go to the association's low-score second pass (they extend existing
        tracks, never start one; see ``association``). None (the default)
        turns the pass off. Lower keeps partly hidden objects tracked longer
        but lets a track drift onto clutter.
    answer_single: also answer single-target queries ("track the red car")
        as if they were "track all ..." (used to measure ID switches on the
        single-target occlusion suite; the router normally sends those to the
        single-target tracker).
    """

    detection_threshold: float = 0.35
    score_on: float = 0.5
    score_off: float = 0.35
    ema: float = 0.4
    max_detections: int = 40
    nms_iou: float = 0.5
    low_detection_threshold: Optional[float] = None
    answer_single: bool = False
    association: AssociationConfig = field(default_factory=AssociationConfig)

    def __post_init__(self) -> None:
        low = self.low_detection_threshold
        if low is not None and not 0.0 < float(low) <= float(self.detection_threshold):
            raise ValueError(f"low_detection_threshold must be in (0, detection_threshold="
                             f"{self.detection_threshold}] or null, got {low}")


@dataclass
class RmotModelConfig:
    """Architecture (``model:`` in the YAML): input size, OneTrack-M, FlexHook.

    flexhook_members: number of FlexHook heads, each trained from its own
        seed, whose logits are averaged (``models/flexhook_ensemble.py``).
        1 = the single head of the paper. More heads lower the draw-to-draw
        variance of the referring scores at K x FlexHook's time per frame
        (~4-5 ms each on one CPU core, measured) and K x its training time.
    """

    LATE_FIELDS: ClassVar[Tuple[str, ...]] = ("flexhook_members",)

    input_hw: Tuple[int, int] = (192, 256)
    text_encoder: str = "minilm"
    max_text_tokens: int = 16
    onetrack: OneTrackConfig = field(default_factory=OneTrackConfig)
    flexhook: FlexHookConfig = field(default_factory=FlexHookConfig)
    flexhook_members: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.flexhook_members, bool) or not isinstance(self.flexhook_members, int) \
                or not 1 <= self.flexhook_members <= 16:
            raise ValueError(f"flexhook_members must be an integer in [1, 16], got {self.flexhook_members!r}")

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["input_hw"] = list(self.input_hw)
        d["onetrack"]["token_hw"] = list(self.onetrack.token_hw)
        d["flexhook"]["channels"] = list(self.flexhook.channels)
        drop_unset_late_fields(d["flexhook"], self.flexhook)  # older configs keep their hash (and weights)
        drop_unset_late_fields(d, self)
        return d

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of the architecture (weights record it)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def _dataclass_from(cls, data: Dict[str, Any], where: str):
    from ..models.errors import ModelConfigError

    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ModelConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = set(cls.__dataclass_fields__)
    unknown = sorted(set(data) - names)
    if unknown:
        raise ModelConfigError(f"{where}: unknown keys {unknown}; valid: {sorted(names)}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ModelConfigError(f"{where}: {exc}") from exc


def model_config_from_dict(d: Dict[str, Any]) -> RmotModelConfig:
    d = dict(d or {})
    ot = _dataclass_from(OneTrackConfig, d.pop("onetrack", None), "model.onetrack")
    fh = _dataclass_from(FlexHookConfig, d.pop("flexhook", None), "model.flexhook")
    base = _dataclass_from(RmotModelConfig, d, "model")
    base.onetrack, base.flexhook = ot, fh
    base.input_hw = tuple(int(v) for v in base.input_hw)
    ot.token_hw = (base.input_hw[0] // 16, base.input_hw[1] // 16)
    return base


def tracker_config_from_dict(d: Dict[str, Any]) -> ReferringConfig:
    d = dict(d or {})
    assoc = _dataclass_from(AssociationConfig, d.pop("association", None), "tracker.association")
    cfg = _dataclass_from(ReferringConfig, d, "tracker")
    cfg.association = assoc
    return cfg


def load_yaml_config(path: str) -> Dict[str, Any]:
    return read_yaml_mapping(path, "rmot config")


class RmotModels(torch.nn.Module):
    """The trainable parts (OneTrack-M + FlexHook) in one state dict.

    ``flexhook`` is the first (or only) FlexHook head; with
    ``cfg.flexhook_members`` K > 1, ``flexhook_extra`` holds the other K - 1
    (state-dict keys ``flexhook_extra.<k>.*``), built without moving torch's
    RNG, so OneTrack-M and the first head initialise as with one head.
    """

    def __init__(self, cfg: RmotModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.onetrack = OneTrackM(cfg.onetrack)
        self.flexhook = FlexHook(cfg.flexhook)
        if cfg.flexhook_members > 1:
            with torch.random.fork_rng(devices=[]):
                self.flexhook_extra = torch.nn.ModuleList(FlexHook(cfg.flexhook)
                                                          for _ in range(cfg.flexhook_members - 1))

    def flexhook_heads(self) -> List[FlexHook]:
        """All FlexHook heads, the first one first."""
        return [self.flexhook] + list(getattr(self, "flexhook_extra", []))

    def referrer(self):
        """What scores (expression, tracklet) pairs: the single FlexHook, or
        a :class:`FlexHookEnsemble` over all heads."""
        heads = self.flexhook_heads()
        return heads[0] if len(heads) == 1 else FlexHookEnsemble(heads)


# ----------------------------------------------------------------- weights
def file_sha256(path: str) -> str:
    from ..models.weights import sha256_file

    return sha256_file(path)


def save_weights(models: RmotModels, path: str, preset: str, extra: Optional[Dict[str, str]] = None) -> str:
    """Write a safetensors file with format/preset/config-hash metadata; returns its sha256."""
    from safetensors.torch import save_file

    meta = {"format": WEIGHTS_FORMAT, "preset": preset, "config_hash": models.cfg.config_hash(),
            "config_json": json.dumps(models.cfg.to_dict(), sort_keys=True)}
    meta.update(extra or {})
    state = {k: v.detach().contiguous().cpu() for k, v in models.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_file(state, path, metadata=meta)
    return file_sha256(path)


def _manifest_entry(weights_dir: str, preset: str) -> Optional[Dict[str, Any]]:
    from ..models.weights import read_manifest

    entry = read_manifest(weights_dir).get(preset)
    return entry if isinstance(entry, dict) else None


def load_weights(models: RmotModels, path: str, preset: str, expected_sha256: Optional[str] = None) -> Dict[str, str]:
    """Load and verify weights into ``models``; raises :class:`WeightsError`
    naming the file and the problem (missing, hash mismatch, not safetensors,
    wrong format/preset/architecture, missing or mis-shaped tensors)."""
    from safetensors import SafetensorError, safe_open

    if not os.path.isfile(path):
        raise WeightsError(f"{path}: weights file not found for preset {preset!r} "
                           f"(train it with: vl-tracking train --config config/models/{preset}.yaml)")
    if expected_sha256:
        got = file_sha256(path)
        if got != expected_sha256:
            raise WeightsError(f"{path}: sha256 {got[:12]}... does not match the manifest's "
                               f"{expected_sha256[:12]}... (corrupt or replaced file)")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != WEIGHTS_FORMAT:
        raise WeightsError(f"{path}: format {meta.get('format')!r}, expected {WEIGHTS_FORMAT!r}")
    if meta.get("config_hash") != models.cfg.config_hash():
        raise WeightsError(f"{path}: trained for a different architecture (config hash "
                           f"{str(meta.get('config_hash'))[:12]} != {models.cfg.config_hash()[:12]}); "
                           "the YAML model section and the weights disagree")
    own = models.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    bad_shape = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad_shape:
        raise WeightsError(f"{path}: tensors do not match the model (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]}, wrong shape {bad_shape[:3]})")
    if any(not torch.isfinite(v).all() for v in state.values() if v.is_floating_point()):
        raise WeightsError(f"{path}: contains NaN/inf values")
    models.load_state_dict(state)
    return meta


# ----------------------------------------------------------------- tracker
@dataclass
class _FrameFeatures:
    index: int
    f8: torch.Tensor   # [40, H/8, W/8]
    f16: torch.Tensor  # [112, H/16, W/16]
    th8: torch.Tensor  # [1, H/8, W/8] normalised thermal (zeros without thermal)


class ReferringTracker(Tracker):
    """OneTrack-M + FlexHook referring multi-object tracker (``multi_target``)."""

    multi_target = True
    supported_modalities = ("rgb",)

    def __init__(self, models: RmotModels, config: Optional[ReferringConfig] = None, device: str = "cpu",
                 name: str = "rmot-small", backbone: Optional[MultiScaleBackbone] = None,
                 text_encoder: Any = None, threads: Optional[int] = None, backend: str = "torch",
                 engine_dir: Optional[str] = None) -> None:
        self.name = name
        self.config = config or ReferringConfig()
        self.device = torch.device(device)
        if threads:
            torch.set_num_threads(int(threads))
        self.models = models.to(self.device).eval()
        self.model_cfg = models.cfg
        self._referrer = models.referrer()
        self.backbone = (backbone or MultiScaleBackbone()).to(self.device).eval()
        if text_encoder is None:
            from ..models.text_encoder import build_text_encoder

            text_encoder = build_text_encoder(self.model_cfg.text_encoder, self.model_cfg.max_text_tokens)
        self.text_encoder = text_encoder
        self.backend_kind = backend
        self._net_backends = self._build_backends(backend, engine_dir)
        fh = self.model_cfg.flexhook
        self._span = (fh.frames - 1) * fh.time_stride + 1
        self._box_memory = max(self._span, fh.motion_history)   # frames of box history kept per track
        self._buffer_len = max(self.model_cfg.onetrack.window, self._span)
        self._queries: List[TargetQuery] = []
        self._lang: Any = None   # LanguageState, or one per head (FlexHookEnsemble)
        self._reset_tracking()

    def _build_backends(self, backend: str, engine_dir: Optional[str]) -> Dict[str, Any]:
        """The per-frame networks (backbone trunk, OneTrack-M window) behind the
        engines layer: {} for torch (the modules run directly), else one
        backend per network through the engine cache (onnxruntime reuses a
        verified ``<preset>-{backbone,onetrack}.onnx`` or exports afresh;
        tensorrt loads the engine ``vl-tracking export`` built, never builds
        it here). FlexHook (variable track count) stays in torch."""
        if backend in ("torch", None):
            return {}
        from ..engines.base import BACKEND_KINDS
        from ..engines.cache import build_cached_backend
        from ..engines.presets import RmotBackboneNetwork, RmotWindowNetwork

        if backend not in BACKEND_KINDS:
            raise ValueError(f"{self.name}: backend must be one of {', '.join(BACKEND_KINDS)}, got {backend!r}")
        nets = {"backbone": RmotBackboneNetwork(self.backbone, self.model_cfg.input_hw).eval(),
                "onetrack": RmotWindowNetwork(self.models.onetrack).eval()}
        device = "cuda" if self.device.type == "cuda" else "cpu"
        return {variant: build_cached_backend(backend, net, preset=self.name, variant=variant, device=device,
                                              example_inputs=net.example_inputs(1), engine_dir=engine_dir)
                for variant, net in nets.items()}

    def close(self) -> None:
        for b in self._net_backends.values():
            b.close()
        self._net_backends = {}

    # ------------------------------------------------------------ contract
    def _reset_tracking(self) -> None:
        self.associator = Associator(self.config.association)
        self._frames: Deque[_FrameFeatures] = deque(maxlen=self._buffer_len)
        self._history: Dict[int, Dict[int, np.ndarray]] = {}   # track id -> {frame index: box_norm}
        self._ema: Dict[Tuple[int, int], float] = {}            # (expr idx, track id) -> smoothed score
        self._on: Dict[Tuple[int, int], bool] = {}
        self._count = 0

    def set_commands(self, queries: Sequence[TargetQuery]) -> None:
        queries = list(queries)
        for q in queries:
            if not isinstance(q, TargetQuery):
                raise TypeError(f"set_commands takes TargetQuery objects, got {type(q).__name__}")
        multi = []
        for q in queries:
            if (q.multi or self.config.answer_single) and q.expression.strip() and q not in multi:
                multi.append(q)
        if not multi:
            self._queries, self._lang = [], None
            self._reset_tracking()
            return
        if multi == self._queries:
            return
        tokens, mask = self.text_encoder([q.expression for q in multi])   # encoded once per command
        with torch.no_grad():
            self._lang = self._referrer.encode_language(tokens.to(self.device), mask.to(self.device))
        self._queries = multi
        # new expressions: forget smoothing state (tracks and their IDs persist)
        self._ema.clear()
        self._on.clear()

    def clear(self) -> None:
        self.set_commands([])

    # ---------------------------------------------------------------- step
    def _check_frame(self, frame: SensorFrame) -> np.ndarray:
        if not isinstance(frame, SensorFrame):
            raise FrameInputError(f"step() takes a SensorFrame, got {type(frame).__name__}")
        img = frame.image_rgb
        if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise FrameInputError(f"frame.image_rgb must be (H, W, 3) uint8, got "
                                  f"{getattr(img, 'shape', None)} {getattr(img, 'dtype', None)}")
        if img.shape[0] < 16 or img.shape[1] < 16:
            raise FrameInputError(f"frame.image_rgb too small: {img.shape[:2]}")
        return img

    @torch.no_grad()
    def step(self, frame: SensorFrame) -> TrackerOutput:
        img = self._check_frame(frame)
        if not self._queries:
            return TrackerOutput(tracks=[], mode="idle", search="global")
        timings: Dict[str, float] = {}
        t0 = time.perf_counter()
        h_img, w_img = img.shape[:2]
        hw = self.model_cfg.input_hw
        x = preprocess_rgb(img, hw).to(self.device)
        t1 = time.perf_counter()
        if self._net_backends:
            trunk = self._net_backends["backbone"].forward({"image": x.cpu().numpy()})
            f8 = torch.from_numpy(trunk["f8"]).to(self.device)
            f16 = torch.from_numpy(trunk["f16"]).to(self.device)
        else:
            f8, f16 = self.backbone(x)
        self._count += 1
        idx = self._count
        th8 = torch.from_numpy(thermal_channel(frame.thermal_k, tuple(f8.shape[-2:]))).to(self.device)
        self._frames.append(_FrameFeatures(idx, f8[0], f16[0], th8))
        t2 = time.perf_counter()
        # OneTrack-M window: last W frames, padded by repeating the oldest
        wn = self.model_cfg.onetrack.window
        frames = list(self._frames)[-wn:]
        frames = [frames[0]] * (wn - len(frames)) + frames
        w16 = torch.stack([f.f16 for f in frames])[None]
        w8 = torch.stack([f.f8 for f in frames])[None]
        if self.model_cfg.onetrack.thermal_input:
            w16, w8 = with_thermal(w16, w8, torch.stack([f.th8 for f in frames])[None])
        if self._net_backends:   # engine output: newest frame's maps (1, C, 2h, 2w) as numpy
            out = self._net_backends["onetrack"].forward({"f16_window": w16.cpu().numpy(),
                                                          "f8_window": w8.cpu().numpy()})
            maps = {k: torch.from_numpy(v[0]).to(self.device) for k, v in out.items()}
        else:
            out = self.models.onetrack.forward_features(w16, w8, last_only=True)
            maps = {k: v[0, 0] for k, v in out.items()}
        low = self.config.low_detection_threshold
        thr = self.config.detection_threshold
        dets = decode_frame(maps, thr if low is None else min(low, thr), self.config.max_detections,
                            self.config.nms_iou)
        sx, sy = w_img / float(hw[1]), h_img / float(hw[0])
        scale4 = np.array([sx, sy, sx, sy], np.float32)
        boxes = dets.boxes_xyxy * scale4
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w_img)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h_img)
        t3 = time.perf_counter()
        prev_xy = dets.prev_centers_xy * scale4[:2]
        if low is None:
            tracks = self.associator.update(Detections(boxes, dets.scores, prev_xy, dets.embeddings))
        else:   # peaks below the detection threshold go to the low-score pass only
            strong = dets.scores >= thr
            tracks = self.associator.update(*[Detections(boxes[m], dets.scores[m], prev_xy[m], dets.embeddings[m])
                                              for m in (strong, ~strong)])
        norm4 = np.array([w_img, h_img, w_img, h_img], np.float32)
        live = {t.track_id for t in self.associator.tracks}
        for tid in list(self._history):
            if tid not in live:
                del self._history[tid]
        for t in tracks:
            hist = self._history.setdefault(t.track_id, {})
            hist[idx] = t.box_xyxy / norm4
            for old in [k for k in hist if k <= idx - self._box_memory]:
                del hist[old]
        t4 = time.perf_counter()
        results = self._refer(tracks, idx)
        t5 = time.perf_counter()
        timings.update(preprocess=(t1 - t0) * 1e3, backbone=(t2 - t1) * 1e3, network=(t3 - t2) * 1e3,
                       association=(t4 - t3) * 1e3, referring=(t5 - t4) * 1e3)
        return TrackerOutput(tracks=results, mode="multi", search="global", timings_ms=timings)

    def _held_history(self, track_ids: List[int], frame_ids: List[int]) -> np.ndarray:
        """[N, len(frame_ids), 4] normalised boxes of the tracks at those frames
        (oldest first), gaps filled by :func:`core.geometry.held_box_history`
        exactly as the training samples are: the nearest later frame's box,
        else the track's latest box at or before the newest frame (a lost,
        coasting track holds its last box)."""
        boxes = np.zeros((len(track_ids), len(frame_ids), 4), np.float32)
        newest = frame_ids[-1] if frame_ids else 0
        for n, tid in enumerate(track_ids):
            hist = self._history[tid]
            latest = max((i for i in hist if i <= newest), default=min(hist))
            boxes[n] = held_box_history(hist.get, frame_ids, hist[latest])
        return boxes

    def _track_boxes(self, track_ids: List[int], idx: int) -> Tuple[List[int], torch.Tensor]:
        fh = self.model_cfg.flexhook
        frame_ids = [idx - fh.time_stride * (fh.frames - 1 - k) for k in range(fh.frames)]
        return frame_ids, torch.from_numpy(self._held_history(track_ids, frame_ids)).to(self.device)

    def _motion_boxes(self, track_ids: List[int], idx: int) -> Optional[torch.Tensor]:
        """[N, H, 4] last H boxes one frame apart for FlexHook's motion token (None if off)."""
        h = self.model_cfg.flexhook.motion_history
        if not h:
            return None
        frame_ids = [idx - (h - 1 - k) for k in range(h)]
        return torch.from_numpy(self._held_history(track_ids, frame_ids)).to(self.device)

    def _refer(self, tracks, idx: int) -> List[TrackResult]:
        if not tracks or self._lang is None:
            return []
        ids = [t.track_id for t in tracks]
        frame_ids, boxes = self._track_boxes(ids, idx)
        by_index = {f.index: f for f in self._frames}
        oldest = self._frames[0]
        sel = [by_index.get(f, oldest if f < oldest.index else self._frames[-1]) for f in frame_ids]
        maps = [torch.stack([f.f16 for f in sel]), torch.stack([torch.cat([f.f8, f.th8]) for f in sel])]
        logits = self._referrer(maps, boxes, self._lang, self._motion_boxes(ids, idx))
        scores = torch.sigmoid(logits).cpu().numpy()  # [E, N]
        cfg = self.config
        best: Dict[int, Tuple[float, int]] = {}
        for e in range(scores.shape[0]):
            for n, tid in enumerate(ids):
                key = (e, tid)
                s = float(scores[e, n])
                ema = s if key not in self._ema else cfg.ema * s + (1 - cfg.ema) * self._ema[key]
                self._ema[key] = ema
                on = self._on.get(key, False)
                on = ema >= cfg.score_on if not on else ema >= cfg.score_off
                self._on[key] = on
                if on and (tid not in best or ema > best[tid][0]):
                    best[tid] = (ema, e)
        live = set(ids)
        for key in [k for k in self._ema if k[1] not in {t.track_id for t in self.associator.tracks}]:
            self._ema.pop(key, None)
            self._on.pop(key, None)
        out = []
        for t in tracks:
            if t.track_id not in best or t.track_id not in live:
                continue
            ema, e = best[t.track_id]
            out.append(TrackResult(track_id=int(t.track_id), box_xyxy=t.box_xyxy.astype(np.float32),
                                   confidence=float(t.score), state=TrackState.TRACKING,
                                   command=str(self._queries[e]), expression_score=float(ema),
                                   label=self._queries[e].expression, age=int(t.age)))
        return out


# ----------------------------------------------------------------- factory
def build_from_config(config_path: str = DEFAULT_CONFIG, weights_path: Optional[str] = None,
                      weights_dir: Optional[str] = None, device: str = "cpu", verify_hash: bool = True,
                      preset: Optional[str] = None, **tracker_overrides: Any) -> ReferringTracker:
    """Build a :class:`ReferringTracker` from a YAML preset and its weights.

    weights_path overrides ``weights_dir/<preset>.safetensors``; the sha256 is
    checked against ``weights_dir/manifest.json`` when it has an entry (and
    ``verify_hash``). Keyword overrides go to :class:`ReferringConfig`.
    """
    data = load_yaml_config(config_path)
    preset = preset or data.get("preset") or os.path.splitext(os.path.basename(config_path))[0]
    model_cfg = model_config_from_dict(data.get("model", {}))
    tdict = dict(data.get("tracker", {}) or {})
    threads = tracker_overrides.pop("threads", tdict.pop("threads", None))
    backend = tracker_overrides.pop("backend", tdict.pop("backend", "torch")) or "torch"
    engine_dir = tracker_overrides.pop("engine_dir", tdict.pop("engine_dir", None))
    tdict.update(tracker_overrides)
    tcfg = tracker_config_from_dict(tdict)
    models = RmotModels(model_cfg)
    weights_dir = weights_dir or DEFAULT_WEIGHTS_DIR
    expected = None
    if weights_path is None:
        entry = _manifest_entry(weights_dir, preset)
        fname = (entry or {}).get("file", f"{preset}.safetensors")
        weights_path = os.path.join(weights_dir, os.path.basename(fname))
        expected = (entry or {}).get("sha256") if verify_hash else None
    load_weights(models, weights_path, preset, expected)
    return ReferringTracker(models, tcfg, device=device, name=preset, threads=threads, backend=backend,
                            engine_dir=engine_dir)


def build_small(**opts: Any) -> ReferringTracker:
    """Registry factory for ``rmot-small``. Options: ``device``, ``weights_dir``,
    ``weights_path``, ``config_path``, ``threads`` and any
    :class:`ReferringConfig` field (e.g. ``score_on``), ``backend``
    ("torch" | "onnxruntime" | "tensorrt": the backbone and OneTrack-M run
    on it; FlexHook stays in torch) and ``engine_dir``. ``modalities`` (an
    option of other presets) is ignored: the thermal channel is used when
    the frame has one."""
    opts = dict(opts)
    opts.pop("modalities", None)
    config_path = opts.pop("config_path", DEFAULT_CONFIG)
    return build_from_config(config_path, preset="rmot-small", **opts)
