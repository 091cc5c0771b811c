"""Named, fixed-seed evaluation suites and the training-clip stream.

Seed policy (documented in docs/world.md):

* Suite ``name`` with suite seed ``S`` renders clip ``i`` from the clip seed
  ``S * 10_000 + i``. The default suite seeds are 1001..1006 (clip seeds
  10_010_000..10_069_999); ``--seed N`` picks a fresh variant with the same
  difficulty settings (``0 <= N < 10**8``, so clip seeds stay below 10**12).
* Training clips use clip seeds ``TRAIN_SEED_OFFSET + seed * 10**6 + i`` with
  ``TRAIN_SEED_OFFSET = 10**12``: disjoint from every evaluation seed, so a
  model never trains on a clip an evaluation can draw.

A suite samples each clip's concrete :class:`ClipConfig` (which category,
how many distractors, ...) from the clip seed too, so one seed fixes
everything.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Iterator, Mapping, Optional

import numpy as np

from .scene import CATEGORIES, ClipConfig
from .world import Clip, render_clip

#: clip seeds at or above this are training seeds (never used by evaluation)
TRAIN_SEED_OFFSET = 10**12
#: suite seeds must be below this so evaluation clip seeds stay < TRAIN_SEED_OFFSET
MAX_SUITE_SEED = 10**8
CLIPS_PER_SEED = 10_000


class UnknownSuiteError(ValueError):
    """A suite name that is not in SUITES (the message lists the valid ones)."""

    def __init__(self, name: str):
        super().__init__(f"unknown suite {name!r}; valid suites: {', '.join(sorted(SUITES))}")
        self.name = name


@dataclass(frozen=True)
class SuiteSpec:
    """How a suite samples its clips.

    sample: (rng, full) -> ClipConfig for one clip.
    num_clips / full_num_clips: default (CPU, minutes) and ``--full`` sizes.
    seed: default suite seed.
    """

    name: str
    description: str
    seed: int
    num_clips: int
    full_num_clips: int
    sample: Callable[[np.random.Generator, bool], ClipConfig]


def _frames(full: bool, short: int, long: int) -> int:
    return long if full else short


def _base(rng: np.random.Generator, full: bool, **kw) -> ClipConfig:
    cfg = dict(num_frames=_frames(full, 80, 200), num_objects=int(rng.integers(3, 6)),
               target_size=str(rng.choice(["medium", "large", "small"], p=[0.5, 0.35, 0.15])),
               target_speed=str(rng.choice(["normal", "still", "fast"], p=[0.7, 0.15, 0.15])),
               distractor_similarity=float(rng.uniform(0.3, 0.7)), scale_change=float(rng.choice([0.0, 0.25])),
               ego_motion=float(rng.choice([0.0, 0.0, 4.0])), relation_prob=0.25)
    cfg.update(kw)
    return ClipConfig(**cfg)


def _sot_day(rng, full):
    return _base(rng, full, lighting=str(rng.choice(["day", "day", "day", "glare"])))


def _sot_night(rng, full):
    return _base(rng, full, lighting=str(rng.choice(["night", "night", "night", "dusk"])))


def _switch(rng, full):
    return _base(rng, full, num_frames=_frames(full, 90, 240), target_switches=int(rng.integers(1, 3)),
                 num_objects=int(rng.integers(4, 7)), target_speed=str(rng.choice(["normal", "still"])),
                 lighting=str(rng.choice(["day", "day", "dusk"])))


def _small_fast(rng, full):
    return _base(rng, full, target_size="small", target_speed="fast", leave_reenter=bool(rng.random() < 0.5),
                 motion_blur=float(rng.choice([0.0, 0.5])), ego_motion=float(rng.choice([0.0, 6.0])),
                 lighting=str(rng.choice(["day", "day", "night"])), num_objects=int(rng.integers(3, 7)))


def _occlusion(rng, full):
    return _base(rng, full, occlusion=str(rng.choice(["full", "full", "partial"])),
                 occlusion_frames=int(rng.integers(10, 21)), target_size=str(rng.choice(["medium", "large"])),
                 lighting=str(rng.choice(["day", "day", "dusk"])))


def _rmot(rng, full):
    return _base(rng, full, multi_target=True, num_objects=int(rng.integers(6, 10)),
                 target_switches=int(rng.integers(0, 2)), distractor_similarity=float(rng.uniform(0.5, 0.8)),
                 target_size="any", target_speed="any", lighting=str(rng.choice(["day", "day", "dusk", "night"])))


SUITES: Dict[str, SuiteSpec] = {
    "sot-day": SuiteSpec("sot-day", "single target, daylight/glare, 3-5 objects", 1001, 10, 60, _sot_day),
    "sot-night": SuiteSpec("sot-night", "single target at night (RGB nearly black) or dusk", 1002, 10, 60, _sot_night),
    "switch": SuiteSpec("switch", "the command switches target 1-2 times mid-clip", 1003, 10, 60, _switch),
    "small-fast": SuiteSpec("small-fast", "small (<22 px), fast targets; blur, ego-motion, leave/re-enter",
                            1004, 10, 60, _small_fast),
    "occlusion": SuiteSpec("occlusion", "full (10-20 frames) or partial occlusion of the target", 1005, 10, 60,
                           _occlusion),
    "rmot": SuiteSpec("rmot", "'track all ...' referring multi-object tracking, 6-9 objects", 1006, 8, 50, _rmot),
}


def _config_rng(clip_seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(clip_seed), 0x5EED]))


class Suite:
    """A reproducible list of clips: ``clip(i)`` renders clip ``i`` on demand."""

    def __init__(self, spec: SuiteSpec, seed: int, full: bool):
        self.spec = spec
        self.name = spec.name
        self.seed = int(seed)
        self.full = bool(full)
        self.num_clips = spec.full_num_clips if full else spec.num_clips

    def __len__(self) -> int:
        return self.num_clips

    def clip_seed(self, i: int) -> int:
        if not 0 <= i < self.num_clips:
            raise IndexError(f"suite {self.name!r} has {self.num_clips} clips, asked for clip {i}")
        return self.seed * CLIPS_PER_SEED + i

    def config(self, i: int) -> ClipConfig:
        """The concrete ClipConfig of clip ``i``."""
        return self.spec.sample(_config_rng(self.clip_seed(i)), self.full)

    def clip_name(self, i: int) -> str:
        return f"{self.name}-{self.seed}-{i:03d}"

    def clip(self, i: int) -> Clip:
        return render_clip(self.config(i), self.clip_seed(i), name=self.clip_name(i))

    def clips(self, progress: bool = False) -> Iterator[Clip]:
        """Render the clips one after another (a generator; memory holds one clip)."""
        indices = range(self.num_clips)
        if progress:
            from tqdm import tqdm
            indices = tqdm(indices, desc=f"render {self.name}", unit="clip")
        for i in indices:
            yield self.clip(i)


def get_suite(name: str, seed: Optional[int] = None, full: bool = False) -> Suite:
    """The suite ``name`` (UnknownSuiteError lists valid names); ``seed``
    None means the suite's fixed default seed."""
    if name not in SUITES:
        raise UnknownSuiteError(name)
    spec = SUITES[name]
    seed = spec.seed if seed is None else int(seed)
    if not 0 <= seed < MAX_SUITE_SEED:
        raise ValueError(f"suite seed must be in [0, {MAX_SUITE_SEED}), got {seed}")
    return Suite(spec, seed, full)


#: default training mix: suite sampler -> weight
DEFAULT_TRAINING_MIX: Dict[str, float] = {"sot-day": 0.25, "sot-night": 0.2, "switch": 0.15, "small-fast": 0.15,
                                          "occlusion": 0.1, "rmot": 0.15}


def training_clip_seed(seed: int, i: int) -> int:
    """Clip seed of training clip ``i`` of stream ``seed`` (>= TRAIN_SEED_OFFSET)."""
    if not 0 <= seed < 10**6 or not 0 <= i < 10**6:
        raise ValueError(f"training seed and index must be in [0, 10**6), got seed={seed} i={i}")
    return TRAIN_SEED_OFFSET + seed * 10**6 + i


def training_config(clip_seed: int, mix: Optional[Mapping[str, float]] = None, **overrides) -> ClipConfig:
    """The ClipConfig of one training clip: a suite sampler drawn from ``mix``
    (suite name -> weight), then ``overrides`` (e.g. ``num_frames=32``,
    ``modalities=("rgb", "thermal")``) applied."""
    mix = dict(DEFAULT_TRAINING_MIX if mix is None else mix)
    unknown = [m for m in mix if m not in SUITES]
    if unknown:
        raise UnknownSuiteError(unknown[0])
    names = sorted(mix)
    weights = np.array([float(mix[n]) for n in names])
    if weights.sum() <= 0 or np.any(weights < 0):
        raise ValueError(f"training mix weights must be >= 0 with a positive sum, got {mix}")
    rng = _config_rng(clip_seed)
    name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    cfg = SUITES[name].sample(rng, False)
    # a little extra variety for training: any category as first target
    if rng.random() < 0.5 and not overrides.get("target_category"):
        cfg = cfg.with_(target_category=str(rng.choice(CATEGORIES)))
    return cfg.with_(**overrides) if overrides else cfg


def training_clips(seed: int, n: int, mix: Optional[Mapping[str, float]] = None, progress: bool = False,
                   start: int = 0, **overrides) -> Iterator[Clip]:
    """Stream ``n`` varied training clips (day/night, switches, small/fast,
    occlusion, multi-target) from training stream ``seed``.

    Clip seeds are ``training_clip_seed(seed, start + k)``, never an
    evaluation seed. ``overrides`` are ClipConfig fields forced on every clip
    (e.g. ``num_frames=24, width=256, height=192``).
    """
    indices = range(start, start + int(n))
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc="training clips", unit="clip")
    for i in indices:
        cs = training_clip_seed(seed, i)
        yield render_clip(training_config(cs, mix, **overrides), cs, name=f"train-{seed}-{i:06d}")
