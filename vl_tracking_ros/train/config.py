"""Training recipe (the ``train:`` section of ``config/models/<preset>.yaml``)
and the preset YAML loader."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Dict, List, Optional, Tuple

from ..models.candidate_ranker import RankerConfig
from ..models.config import ModelConfig, config_from_dict, drop_unset_late_fields
from ..models.errors import ModelConfigError
from ..models.gating import GateConfig
from ..resources import read_yaml_mapping


@dataclass
class TrainConfig:
    """How the shipped weights are trained (fixed seed -> reproducible).

    seed: torch/numpy seed and the WORLD training stream id.
    num_clips, frames_per_clip, frame_stride: data volume. More clips = more
        variety (better generalisation), linear render + backbone cost.
    mix: suite sampler -> weight for ``data.suites.training_clips``.
    extra_expressions: extra objects described per frame (language
        discrimination; one cached backbone pass serves all of them).
    roi_scale, min_roi_px: local ROI geometry (match the gate's).
    jitter_shift: max centre shift of a local crop, fraction of the ROI side
        (bigger trains recovery from drift; too big = target often outside).
    jitter_scale: max log2 scale jitter of the ROI side.
    distractor_roi_prob: fraction of local crops centred on a distractor
        (target often absent: teaches "not here", which drives relocalization).
    stage1_steps / stage2_steps: optimiser steps of the RGB base and MeME.
    batch_size, lr, weight_decay: AdamW settings (one-cycle schedule).
    stage2_lr: peak learning rate of the MeME stage (its W8 starts at zero,
        so it needs a higher rate than the base to matter in a short run);
        0 means ``lr``.
    w_cm, cm_tau, cm_topk: MVLM L_CM weight, temperature, hardest-K.
    w_con, con_temperature: COST InfoNCE weight and temperature.
    w_moe, moe_balance: XTrack L_moe weight and balance-loss lambda.
    ema_decay: d > 0 keeps an exponential moving average of the trained
        weights in each stage (span ~1 / (1 - d) steps) and ships the
        average instead of the last step's weights; 0 (default) = off.
    rounds: further training cycles after stage 2, in order, each
        ``{stage: 1 | 2, steps: int > 0, seed: int, lr: float > 0}``: one
        fresh one-cycle of ``steps`` AdamW steps at peak ``lr`` on the RGB base
        (stage 1; MeME untouched) or on MeME (stage 2; base frozen), batches
        drawn from ``seed`` alone. Stop 26: a base round + a MeME round on v8
        raised validation on the suite-sampler set (docs/sot-model.md).
        Empty (default) = none.
    ckpt_every: steps between checkpoints (resumable).
    num_threads: torch CPU threads.
    cache_workers: processes that render + encode the training clips (one
        torch thread each); the cache is the same for any number, more
        workers only build it faster (use the free cores).
    val_frac: fraction of frames held out for validation metrics.
    """

    seed: int = 0
    num_clips: int = 240
    frames_per_clip: int = 33
    frame_stride: int = 3
    mix: Dict[str, float] = field(default_factory=lambda: {"sot-day": 0.3, "sot-night": 0.3, "switch": 0.2,
                                                           "small-fast": 0.2})
    extra_expressions: int = 2
    roi_scale: float = 4.0
    min_roi_px: float = 96.0
    jitter_shift: float = 0.25
    jitter_scale: float = 0.4
    distractor_roi_prob: float = 0.15
    stage1_steps: int = 2500
    stage2_steps: int = 1500
    batch_size: int = 32
    lr: float = 5e-4
    stage2_lr: float = 0.0
    weight_decay: float = 1e-4
    w_cm: float = 1.0
    cm_tau: float = 0.1
    cm_topk: int = 16
    w_con: float = 0.2
    con_temperature: float = 0.07
    w_moe: float = 0.1
    moe_balance: float = 0.01
    ema_decay: float = 0.0
    rounds: List[Dict[str, Any]] = field(default_factory=list)
    ckpt_every: int = 250
    num_threads: int = 2
    cache_workers: int = 1
    val_frac: float = 0.05

    #: fields added after weights were shipped (see :func:`drop_unset_late_fields`)
    LATE_FIELDS: ClassVar[Tuple[str, ...]] = ("ema_decay", "rounds")

    def validate(self) -> "TrainConfig":
        if not 0.0 <= self.ema_decay < 1.0:
            raise ModelConfigError(f"train.ema_decay must lie in [0, 1), got {self.ema_decay}")
        for i, r in enumerate(self.rounds):
            check_round(r, f"train.rounds[{i}]")
        return self


def check_cycle_fields(r: Dict[str, Any], where: str, error: type = ModelConfigError) -> None:
    """The ``steps`` (int > 0), ``seed`` (int) and ``lr`` (number > 0) of one
    extra training cycle -- an mvlm ``train.rounds`` entry or an rmot
    ``train.finetune.onetrack_rounds`` entry; raises ``error`` otherwise."""
    if isinstance(r["steps"], bool) or not isinstance(r["steps"], int) or r["steps"] <= 0:
        raise error(f"{where}.steps must be a positive integer, got {r['steps']!r}")
    if isinstance(r["seed"], bool) or not isinstance(r["seed"], int):
        raise error(f"{where}.seed must be an integer, got {r['seed']!r}")
    if isinstance(r["lr"], bool) or not isinstance(r["lr"], (int, float)) or not r["lr"] > 0:
        raise error(f"{where}.lr must be a positive number, got {r['lr']!r}")


def check_round(r: Any, where: str) -> None:
    """One ``train.rounds`` entry: a mapping with exactly stage (1 or 2),
    steps (int > 0), seed (int) and lr (number > 0); ModelConfigError otherwise."""
    keys = {"stage", "steps", "seed", "lr"}
    if not isinstance(r, dict):
        raise ModelConfigError(f"{where} must be a mapping with stage, steps, seed, lr; got {r!r}")
    if set(r) != keys:
        raise ModelConfigError(f"{where} must have exactly the keys {sorted(keys)}; "
                               f"missing {sorted(keys - set(r))}, unknown {sorted(set(r) - keys)}")
    if r["stage"] not in (1, 2) or isinstance(r["stage"], bool):
        raise ModelConfigError(f"{where}.stage must be 1 (RGB base) or 2 (MeME), got {r['stage']!r}")
    check_cycle_fields(r, where)


@dataclass
class PresetConfig:
    """A whole preset YAML: name, model, gating, train, the optional
    candidate ranker (``ranker:``; its weights are ``<preset>-ranker``),
    plus its file hash (model + train sections only)."""

    preset: str
    model: ModelConfig
    gating: GateConfig
    train: TrainConfig
    path: str = ""
    recipe_hash: str = ""
    ranker: Optional[RankerConfig] = None

    def to_dict(self) -> Dict[str, Any]:
        out = {"preset": self.preset, "model": asdict(self.model), "gating": asdict(self.gating),
               "train": asdict(self.train)}
        if self.ranker is not None:
            out["ranker"] = asdict(self.ranker)
        return out


def preset_yaml_path(preset: str) -> str:
    """config/models/<preset>.yaml (source checkout or installed share dir)."""
    from ..resources import model_config_path

    return str(model_config_path(preset))


def _ranker_config(data: Dict[str, Any], path: str) -> Optional[RankerConfig]:
    """The optional ``ranker:`` section, validated (ModelConfigError otherwise)."""
    if "ranker" not in data:
        return None
    try:
        cfg = config_from_dict(RankerConfig, data.get("ranker"), f"{path}:ranker")
        cfg.validate()
    except ModelConfigError:
        raise
    except ValueError as exc:
        raise ModelConfigError(f"{path}: {exc}") from exc
    return cfg


def load_preset_config(path: str) -> PresetConfig:
    """Parse and validate a preset YAML (unknown keys -> ModelConfigError)."""
    data = read_yaml_mapping(path, "preset config", ModelConfigError)
    unknown = sorted(set(data) - {"preset", "model", "gating", "train", "ranker"})
    if unknown:
        raise ModelConfigError(f"{path}: unknown top-level key(s) {unknown}; valid: preset, model, gating, train, "
                               "ranker")
    if "preset" not in data:
        raise ModelConfigError(f"{path}: missing 'preset'")
    cfg = PresetConfig(
        preset=str(data["preset"]),
        model=config_from_dict(ModelConfig, data.get("model"), f"{path}:model"),
        gating=config_from_dict(GateConfig, data.get("gating"), f"{path}:gating"),
        train=config_from_dict(TrainConfig, data.get("train"), f"{path}:train"),
        path=path,
        ranker=_ranker_config(data, path),
    )
    train_d = drop_unset_late_fields(asdict(cfg.train), cfg.train)  # older recipes keep their hash
    payload = json.dumps({"model": asdict(cfg.model), "train": train_d}, sort_keys=True)
    cfg.recipe_hash = hashlib.sha256(payload.encode()).hexdigest()[:16]
    return cfg
