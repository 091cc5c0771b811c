"""The language-commanded single-target tracker (MVLM + COST + XTrack).

``LanguageTracker`` implements the tracker contract: ``set_commands`` encodes
the first single-target query once (cached text tokens), resets the MVLM
memory and forces a global search; ``step(frame)`` crops the search region
(whole image or the compact ROI of the last confident box), runs the
per-frame network through an ``engines`` backend (torch by default,
onnxruntime / TensorRT as the ENGINES layer provides), decodes candidates,
gates them with the MVLM confidence and returns one track with its
confidence, kappa, state and per-modality fusion weights.

Presets: ``mvlm-small`` (CPU default of the node) and ``mvlm-large`` (GPU),
configured by ``config/models/<preset>.yaml``; trained weights from
``weights/<preset>.safetensors`` are hash- and config-checked on load
(:class:`~vl_tracking_ros.models.errors.WeightsError` otherwise; the node
then falls back to the heuristic tracker).

Modalities: the weights record the X modalities MeME was trained for.
Asking for another one raises UnsupportedModalityError; an X image the
tracker was not asked to use is ignored (RGB-only for it). Frames without X
run the RGB base (MeME output is multiplied by 0).

search_mode (ablations of MVLM Table 3): ``"gated"`` (full MVLM: local ROI
when kappa >= tau, else global), ``"global"`` (every frame searches the
whole image, A1), ``"local"`` (after the first detection always the ROI of
the last box, never relocalize: local search without MVLM gating, A2/A3).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import asdict, replace
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..core.tracker import Tracker
from ..core.types import SensorFrame, TargetQuery, TrackerOutput, TrackResult, TrackState
from ..models.candidates import Candidates
from ..models.config import X_MODALITY_ORDER, config_hash, config_from_dict
from ..models.errors import UnsupportedModalityError, WeightsError
from ..models.gating import GateConfig, MVLMGate
from ..models.search_region import SearchRegion, global_region, gray_u8, local_region, search_inputs
from ..models.text_encoder import EmptyCommandError

LOG = logging.getLogger(__name__)

SEARCH_MODES = ("gated", "global", "local")


class LanguageTracker(Tracker):
    """Single-target tracker driven by a natural-language expression.

    preset: "mvlm-small" / "mvlm-large" (names the YAML and the weights).
    config_path: preset YAML (default ``config/models/<preset>.yaml``).
    weights_dir: directory with ``manifest.json`` + safetensors (default ``weights/``).
    device: "cpu" or "cuda[:N]".
    backend: "torch" (default), "onnxruntime" or "tensorrt" (engines layer).
    modalities: modalities to use, e.g. ("rgb", "thermal"); default: RGB +
        every X modality the weights were trained for.
    search_mode: "gated" | "global" | "local" (see module docstring).
    gating: overrides of the preset's ``gating:`` section (GateConfig fields).
    num_threads: torch CPU threads (None: leave torch's setting).
    use_motion: feed the previous frame to a ``motion_input`` network
        (False: the network never sees motion -- an ablation).
    motion_warmup: with a ``motion_input`` network, do not commit to a
        target (no local ROI, MVLM memory reset, state RELOCALIZING) until the
        frame ``motion_gap`` back exists: a target picked without motion
        evidence ("the car moving left" among cars) would otherwise be locked
        in by the local search.
    record_candidates: keep the last frame's candidate evidence in
        ``last_candidates`` (features, crops, boxes, sentence embedding;
        what the candidate ranker is trained on).

    Candidate ranker: with ``gating.select: ranker`` the preset's
    ``ranker:`` section and the ``<preset>-ranker`` weights re-order MVLM's
    candidates (:mod:`~vl_tracking_ros.models.candidate_ranker`, always run
    in torch: K <= top_n candidates, ~1 ms). Missing or mismatched ranker
    weights are a stated fallback, not an error: a warning, the kappa rule,
    and ``ranker_status`` says why.
    """

    multi_target = False

    def __init__(self, preset: str = "mvlm-small", config_path: Optional[str] = None,
                 weights_dir: Optional[str] = None, device: str = "cpu", backend: str = "torch",
                 modalities: Optional[Sequence[str]] = None, search_mode: str = "gated",
                 gating: Optional[Dict[str, Any]] = None, num_threads: Optional[int] = None,
                 use_motion: bool = True, motion_warmup: bool = True, record_candidates: bool = False):
        import torch

        from ..engines.cache import build_cached_backend
        from ..models.network import LanguageTrackingNetwork
        from ..models.text_encoder import build_text_encoder
        from ..models.weights import load_trained_weights, trained_modalities
        from ..train.config import load_preset_config, preset_yaml_path

        if search_mode not in SEARCH_MODES:
            raise ValueError(f"search_mode must be one of {SEARCH_MODES}, got {search_mode!r}")
        if num_threads:
            torch.set_num_threads(int(num_threads))
        self.name = preset
        self.preset_config = load_preset_config(config_path or preset_yaml_path(preset))
        mc = self.preset_config.model
        gate_dict = dict(asdict(self.preset_config.gating), **(gating or {}))
        self.gate = MVLMGate(config_from_dict(GateConfig, gate_dict, f"{preset}:gating"))
        self.search_mode = search_mode
        # modality check against the manifest first (cheap, before loading models)
        from ..models.weights import default_weights_dir, read_manifest

        entry = read_manifest(weights_dir or default_weights_dir()).get(preset)
        if entry is None:
            raise WeightsError(f"no trained weights for preset {preset!r} in {weights_dir or default_weights_dir()} "
                               f"(manifest entry missing); train with `vl-tracking train --config "
                               f"config/models/{preset}.yaml`")
        trained = [m for m in trained_modalities(entry) if m in mc.x_modalities]
        if modalities is None:
            use = list(trained)  # stated fallback: RGB + whatever MeME was trained for (RGB only if none)
        else:
            bad = [m for m in modalities if m not in ("rgb",) + X_MODALITY_ORDER]
            if bad:
                raise UnsupportedModalityError(f"unknown modalities {bad}; valid: rgb, {', '.join(X_MODALITY_ORDER)}")
            untrained = [m for m in modalities if m != "rgb" and m not in trained]
            if untrained:
                raise UnsupportedModalityError(
                    f"preset {preset!r} weights were not trained for {untrained} (trained X modalities: "
                    f"{trained or 'none'}); drop them or use RGB only")
            use = [m for m in modalities if m != "rgb"]
        self.text_encoder = build_text_encoder(mc.text_encoder, mc.max_text_tokens)
        self.network = LanguageTrackingNetwork(mc, text_dim=self.text_encoder.dim)
        self.weights_entry = load_trained_weights(self.network, preset, config_hash(mc), weights_dir)
        self.network.eval()
        self._init_ranker(preset, weights_dir, record_candidates)
        self.x_modalities: List[str] = use
        self.supported_modalities = tuple(["rgb"] + use)
        self.device = device
        self.backend_kind = backend
        # engine cache: onnxruntime reuses an exported <preset>-<variant>.onnx whose
        # model hash matches (else exports afresh, logged); tensorrt loads the
        # verified engine built offline by `vl-tracking export` (never silently here)
        self._backends = {
            kind: build_cached_backend(backend, self.network, preset=preset, variant=kind, device=device,
                                       text_encoder=self.encode_text_numpy,
                                       example_inputs=self.network.example_inputs(1, local=(kind == "local")))
            for kind in ("local", "global")
        }
        self._queries: List[TargetQuery] = []
        self._query: Optional[TargetQuery] = None
        self._text: Optional[Dict[str, np.ndarray]] = None
        self._last_box: Optional[np.ndarray] = None
        self._last_confident_box: Optional[np.ndarray] = None
        self._track_id = 0
        self._age = 0
        # motion input: full-image luminance of the last motion_gap frames (the
        # oldest is the network's gray_{t-g}); kept across commands, since
        # motion belongs to the scene, not to the sentence; clear() drops it
        self._gray_history: deque = deque(maxlen=mc.motion_gap)
        self.use_motion = bool(use_motion)
        self.motion_warmup = bool(motion_warmup)

    # ------------------------------------------------------------ text
    def encode_text_numpy(self, texts: Sequence[str]) -> Dict[str, np.ndarray]:
        """texts -> {"text_tokens": (B, L, D) float32, "text_mask": (B, L) bool}."""
        items = self.text_encoder.encode_batch(list(texts))
        return {"text_tokens": np.stack([i.tokens for i in items]).astype(np.float32),
                "text_mask": np.stack([i.mask for i in items])}

    def example_inputs(self, local: bool = True):
        """Fixed-shape example inputs of the per-frame network (for export)."""
        return self.network.example_inputs(1, local=local)

    # ------------------------------------------------------------ contract
    def set_commands(self, queries: Sequence[TargetQuery]) -> None:
        queries = list(queries)
        single = next((q for q in queries if not q.multi), None)
        if single is not None and not single.expression.strip():
            raise EmptyCommandError("empty expression: say what to track, e.g. 'track the red car'")
        self._queries = queries
        if single == self._query:
            return
        self._query = single
        self._text = None
        self._sentence = None
        if single is not None:
            self._text = self._backends["global"].encode_text([single.expression])  # once per command
            if self.featurizer is not None:
                tokens = self.preset_config.ranker.sentence_tokens if self.preset_config.ranker else 48
                self._sentence = self.text_encoder.sentence_embedding(single.expression, tokens)
            self._track_id += 1
        # new command: reset memory and force a global search (MVLM Sec. 3.4)
        self.gate.reset()
        self._last_box = None
        self._last_confident_box = None
        self._age = 0

    def clear(self) -> None:
        """"stop": drop the command, the target memory and the motion frame history."""
        self.set_commands([])
        self._gray_history.clear()
        if self.featurizer is not None:
            self.featurizer.reset()

    def _region(self, frame: SensorFrame) -> SearchRegion:
        mc, gc = self.preset_config.model, self.gate.config
        hw = (frame.height, frame.width)
        go_global = self._last_box is None or self.search_mode == "global" or (
            self.search_mode == "gated" and self.gate.force_global)
        if go_global:
            return global_region(hw, mc.global_size_hw)
        return local_region(self._last_box, mc.local_size, gc.roi_scale, gc.min_roi_px,
                            gc.max_roi_frac * max(hw))

    def step(self, frame: SensorFrame) -> TrackerOutput:
        if not isinstance(frame.image_rgb, np.ndarray) or frame.image_rgb.ndim != 3 or frame.image_rgb.shape[2] != 3 \
                or frame.image_rgb.dtype != np.uint8:
            raise ValueError("frame.image_rgb must be an (H, W, 3) uint8 array, got "
                             f"{getattr(frame.image_rgb, 'shape', None)} {getattr(frame.image_rgb, 'dtype', None)}")
        mc, gc = self.preset_config.model, self.gate.config
        t0 = time.perf_counter()
        self.last_candidates = None             # set again by rank_fn if this frame has candidates
        gray_now = gray_prev = None
        if mc.motion_input:
            gray_now = gray_u8(frame.image_rgb)
            if self._gray_history and self._gray_history[0].shape != gray_now.shape:
                self._gray_history.clear()  # the camera's resolution changed: no motion evidence
            if self.use_motion and len(self._gray_history) == self._gray_history.maxlen:
                gray_prev = self._gray_history[0]
            self._gray_history.append(gray_now)
        if self._query is None or self._text is None:
            return TrackerOutput(mode="idle", search="global")
        region = self._region(frame)
        inputs = search_inputs(region, frame.image_rgb, mc.x_downsample,
                               frame.depth_m if "depth" in self.x_modalities else None,
                               frame.thermal_k if "thermal" in self.x_modalities else None,
                               frame.event_frame if "event" in self.x_modalities else None,
                               motion=mc.motion_input, gray_now=gray_now, gray_prev=gray_prev,
                               abs_position=mc.abs_position)
        present = inputs["x_present"][0]
        inputs.update(self._text)
        t1 = time.perf_counter()
        out = self._backends[region.kind].forward(inputs)
        t2 = time.perf_counter()
        cands = self._decode(out, region, frame)
        t3 = time.perf_counter()
        rank_fn = None
        if self.featurizer is not None:
            rank_fn = self._rank_fn(frame, cands, region, gray_now, gray_prev)
        decision = self.gate.step(cands, rank_fn)
        warming_up = (self.motion_warmup and mc.motion_input and self.use_motion and gray_prev is None)
        if warming_up:  # no motion evidence yet: answer, but do not commit (next frame searches globally)
            self.gate.reset()
        if decision.index < 0:
            return TrackerOutput(mode="single", search="global", timings_ms=self._ms(t0, t1, t2, t3))
        box = cands.boxes_xyxy[decision.index]
        kappa = float(decision.kappa[decision.index])
        if warming_up:
            state = TrackState.RELOCALIZING
        elif decision.confident:
            state = TrackState.TRACKING
            self._last_confident_box = box
        elif self.gate.frames_unconfident >= gc.lost_after:
            state = TrackState.LOST
        else:
            state = TrackState.RELOCALIZING
        # where the next frame searches
        if (self.search_mode == "local" or decision.confident) and not warming_up:
            self._last_box = box
        next_search = "global" if (self.search_mode == "global" or self._last_box is None or
                                   (self.search_mode == "gated" and self.gate.force_global)) else "local"
        if state == TrackState.LOST and self._last_confident_box is not None:
            box = self._last_confident_box
        self._age += 1
        rho = float(cands.corr_scores[decision.index])
        track = TrackResult(
            track_id=self._track_id, box_xyxy=np.asarray(box, np.float32),
            confidence=float(np.clip(cands.cls_scores[decision.index], 0.0, 1.0)), state=state,
            command=str(self._query), kappa=kappa, expression_score=float(np.clip((rho + 1) / 2, 0, 1)),
            label=self._query.expression, modality_weights=self._modality_weights(out, present), age=self._age)
        timings = self._ms(t0, t1, t2, t3)
        timings["gating"] = (time.perf_counter() - t3) * 1e3
        return TrackerOutput(tracks=[track], mode="single", search=next_search, timings_ms=timings)

    def _decode(self, out: Dict[str, np.ndarray], region: SearchRegion, frame: SensorFrame) -> Candidates:
        from ..models.candidates import extract_candidates

        gc = self.gate.config
        cands = extract_candidates(out["heatmap_logits"][0, 0], out["offset"][0], out["size"][0], out["corr"][0],
                                   region, self.preset_config.model.stride, gc.top_n)
        b = cands.boxes_xyxy
        b[:, 0::2] = np.clip(b[:, 0::2], 0, frame.width)
        b[:, 1::2] = np.clip(b[:, 1::2], 0, frame.height)
        ok = (b[:, 2] - b[:, 0] >= 1) & (b[:, 3] - b[:, 1] >= 1)
        return replace(cands, boxes_xyxy=b[ok], cls_scores=cands.cls_scores[ok], corr_scores=cands.corr_scores[ok])

    # ------------------------------------------------------------ ranker
    def _init_ranker(self, preset: str, weights_dir: Optional[str], record: bool) -> None:
        from ..models.candidate_features import CandidateFeaturizer

        self.ranker = None
        self.featurizer = None
        self.record_candidates = bool(record)
        self.last_candidates: Optional[Dict[str, np.ndarray]] = None
        self._sentence: Optional[np.ndarray] = None
        self.ranker_status = "off"
        rc = self.preset_config.ranker
        if self.gate.config.select == "ranker":
            reason = None
            if rc is None:
                reason = f"preset {preset!r} has gating.select: ranker but no ranker: section"
            else:
                from ..models.candidate_ranker import build_ranker
                from ..models.weights import load_trained_weights

                ranker = build_ranker(rc)
                try:
                    self.ranker_entry = load_trained_weights(ranker, f"{preset}-ranker", config_hash(rc), weights_dir)
                except WeightsError as exc:
                    reason = str(exc)
                else:
                    self.ranker = ranker.eval()
                    self.ranker_status = "on"
            if reason is not None:
                LOG.warning("candidate ranker unavailable (%s); falling back to gating.select: kappa", reason)
                self.gate.config = replace(self.gate.config, select="kappa")
                self.ranker_status = f"fallback to kappa: {reason}"
        if self.ranker is not None or self.record_candidates:
            self.featurizer = CandidateFeaturizer(rc.crop_size if rc is not None else 16)

    def _rank_fn(self, frame: SensorFrame, cands: Candidates, region: SearchRegion, gray_now, gray_prev):
        """The gate's rank_fn for this frame: featurize, record, score."""
        def rank(d_corr: np.ndarray, d_cls: np.ndarray, kappa: np.ndarray) -> np.ndarray:
            feats, crops = self.featurizer(
                frame.image_rgb, cands, d_corr, d_cls, kappa, region.kind == "global",
                thermal_k=frame.thermal_k if "thermal" in self.x_modalities else None,
                depth_m=frame.depth_m if "depth" in self.x_modalities else None,
                gray_now=gray_now, gray_prev=gray_prev)
            scores = kappa if self.ranker is None else self._rank(feats, crops)
            if self.record_candidates:
                self.last_candidates = {"features": feats, "crops": crops, "boxes_xyxy": cands.boxes_xyxy.copy(),
                                        "sentence": self._sentence, "scores": np.asarray(scores, np.float32)}
            return scores
        return rank

    def _rank(self, feats: np.ndarray, crops: np.ndarray) -> np.ndarray:
        """(K,) ranker logits of one frame's candidates (torch, no grad)."""
        import torch

        with torch.no_grad():
            k = feats.shape[0]
            logits = self.ranker(torch.from_numpy(feats)[None], torch.from_numpy(crops)[None],
                                 torch.ones(1, k, dtype=torch.bool), torch.from_numpy(self._sentence)[None])
        return logits[0].numpy()

    def _modality_weights(self, out: Dict[str, np.ndarray], present: np.ndarray) -> Dict[str, float]:
        """rgb: 1 - x_share; each present X modality: x_share * its router mass
        (renormalised over the present ones). Sums to 1."""
        share = float(out["x_share"][0]) if present.any() else 0.0
        weights = {"rgb": 1.0 - share}
        if share > 0:
            probs = out["router_probs"][0]
            mods = [m for m in self.network.x_modalities if present[X_MODALITY_ORDER.index(m)] > 0]
            mass = np.array([probs[self.network.x_modalities.index(m)] for m in mods], np.float64)
            mass = mass / mass.sum() if mass.sum() > 0 else np.full(len(mods), 1.0 / len(mods))
            for m, w in zip(mods, mass):
                weights[m] = share * float(w)
        return weights

    @staticmethod
    def _ms(t0: float, t1: float, t2: float, t3: float) -> Dict[str, float]:
        return {"preprocess": (t1 - t0) * 1e3, "network": (t2 - t1) * 1e3, "postprocess": (t3 - t2) * 1e3}

    def close(self) -> None:
        for b in self._backends.values():
            b.close()


def build_small(**opts: Any) -> LanguageTracker:
    """Registry factory of ``mvlm-small`` (CPU default)."""
    return LanguageTracker(preset="mvlm-small", **opts)


def build_large(**opts: Any) -> LanguageTracker:
    """Registry factory of ``mvlm-large`` (GPU preset)."""
    return LanguageTracker(preset="mvlm-large", **opts)
