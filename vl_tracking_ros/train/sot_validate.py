"""Model selection for the single-target preset on held-out TRAINING-stream
clips (stream 777 by default), never on evaluation seeds.

    .venv/bin/python -m vl_tracking_ros.train.sot_validate --weights-dir runs/train/v4_weights \\
        --config runs/train/mvlm-small-v4.yaml --mult 2 --start 1000 --spacing 100 --json runs/val2_v4.json

Per suite flavour (sot-day 8, sot-night 6, switch 4, small-fast 4 clips
times ``--mult``, 60 frames each) the clips are drawn from
``training_clips(stream, mix={suite: 1})`` starting at ``--start +
--spacing * k`` (k = 0..3 in the order of PLAN);
prints and writes PRE / AUC / switch figures and their mean PRE.

``--set 1|2|3`` picks one of the three disjoint clip sets every selection in
docs/sot-model.md used (88 clips in all), ``--set all`` runs the three and
adds their mean (the figure selections are made on):

    .venv/bin/python -m vl_tracking_ros.train.sot_validate --set all --weights-dir DIR --json OUT.json

``--modalities rgb`` (or ``rgb,thermal``, ...) restricts the tracker to those
inputs, e.g. for the RGB-only vs RGB + thermal comparison on night clips:

    .venv/bin/python -m vl_tracking_ros.train.sot_validate --set all --only sot-night --modalities rgb

``--set long`` runs 240-frame clips (the length of the ``--full``
evaluation clips) from clip 6000 of the stream on: 32 clips, disjoint from
sets 1-3. ``--frames`` sets the clip length of a custom set.

``--set suites`` (stop 26, the set selections are made on since) draws the
clips the way ``vl-tracking eval`` does -- each suite's own sampler and clip
length (``data.suites.get_suite``) -- under suite seeds default + 1000 /
2000 / 3000, never an evaluation seed: 30 clips per suite, 120 in all, with
per-clip PRE in the JSON. Per-clip PRE is close to all-or-nothing, so a
suite's figure over 6-16 clips swings by +-0.2, and the training-stream
sets above turned out easier than the suites' samplers (night: 0.91 on
sets 1-3 against 0.71 here, v8). ``--set suites-confirm`` is a second such
set (offsets 4000 / 5000 / 6000) to confirm a choice before the evaluation
suites are run once:

    .venv/bin/python -m vl_tracking_ros.train.sot_validate --set suites --weights-dir DIR --json OUT.json
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Dict

PLAN: Dict[str, int] = {"sot-day": 8, "sot-night": 6, "switch": 4, "small-fast": 4}
#: the three disjoint validation sets of docs/sot-model.md (start, spacing, mult)
VALIDATION_SETS: Dict[str, Dict[str, int]] = {
    "1": {"start": 100, "spacing": 20, "mult": 1},
    "2": {"start": 1000, "spacing": 100, "mult": 2},
    "3": {"start": 100, "spacing": 100, "mult": 1},
}
#: the long set (stop 26): 240-frame clips, as long as the ``--full`` evaluation suites'
LONG_SET: Dict[str, int] = {"start": 6000, "spacing": 100, "mult": 1, "frames": 240}
#: ``--set suites`` (stop 26): the evaluation suites' own samplers and clip lengths, drawn with suite seeds
#: default + these offsets (sot-day 2001 / 3001 / 4001, ...), never a default (evaluation) seed: 30 clips per suite
SUITE_SEED_OFFSETS = (1000, 2000, 3000)
#: ``--set suites-confirm``: another 30 clips per suite (offsets 4000 / 5000 / 6000), kept for confirming a
#: choice made on ``--set suites`` before the evaluation suites are run
CONFIRM_SEED_OFFSETS = (4000, 5000, 6000)


def _parse_override(text: str):
    """"key=value" -> (key, value as YAML scalar: number, bool or string)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SystemExit(f"--gating expects KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def main(argv=None) -> int:
    import torch

    from ..core.types import parse_modality_list
    from ..data.suites import training_clips
    from ..eval.cli_eval import build_report
    from ..eval.runner import evaluate_clips
    from ..trackers.language_tracker import LanguageTracker, UnsupportedModalityError

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--weights-dir", default=None, help="weights dir (default: the shipped weights/)")
    p.add_argument("--config", default=None, help="preset YAML matching the weights (default: the shipped one)")
    p.add_argument("--preset", default="mvlm-small")
    p.add_argument("--stream", type=int, default=777, help="training stream of the validation clips")
    p.add_argument("--start", type=int, default=100, help="first clip index in the stream")
    p.add_argument("--spacing", type=int, default=100, help="index offset between the suites' clip blocks")
    p.add_argument("--mult", type=int, default=1, help="clips per suite = PLAN x mult")
    p.add_argument("--frames", type=int, default=60, help="frames per clip (>= 2)")
    p.add_argument("--max-clips", type=int, default=None,
                   help="--set suites: only the first K clips of each suite seed (a quick check)")
    p.add_argument("--no-motion", action="store_true", help="ablation: withhold the previous frame")
    p.add_argument("--only", default=None, help="comma-separated suites of PLAN")
    p.add_argument("--gating", action="append", default=[], metavar="KEY=VALUE",
                   help="override a gating parameter of the preset (repeatable), e.g. select=kappa")
    p.add_argument("--modalities", default=None,
                   help="comma-separated modalities the tracker may use, e.g. rgb (RGB only) or rgb,thermal "
                        "(default: RGB + every X modality the weights were trained for)")
    p.add_argument("--json", default=None)
    p.add_argument("--set", default=None,
                   choices=sorted(VALIDATION_SETS) + ["all", "long", "suites", "suites-confirm"],
                   help="one of the standard clip sets (overrides --start/--spacing/--mult/--frames), all three, "
                        "the long set, or a suite-sampler set")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    gating = dict(_parse_override(kv) for kv in args.gating)
    only = set(args.only.split(",")) if args.only else set(PLAN)
    modalities = parse_modality_list(args.modalities)
    unknown = sorted(only - set(PLAN))
    if unknown:
        raise SystemExit(f"--only: unknown suite(s) {unknown}; valid: {', '.join(PLAN)}")
    if args.max_clips is not None and args.max_clips < 1:
        raise SystemExit(f"--max-clips must be >= 1, got {args.max_clips}")
    if args.frames < 2:
        raise SystemExit(f"--frames must be >= 2, got {args.frames}")
    t0 = time.time()

    def score(suite: str, clips, n: int):
        """A fresh tracker over ``n`` clips of ``suite``: (PRE / AUC / switch figures + clip count,
        the whole eval report)."""
        try:
            tracker = LanguageTracker(args.preset, config_path=args.config, weights_dir=args.weights_dir,
                                      use_motion=not args.no_motion, gating=gating, modalities=modalities)
        except UnsupportedModalityError as exc:
            raise SystemExit(f"--modalities: {exc}") from exc
        rep = build_report(evaluate_clips(tracker, clips, suite=suite, total_clips=n))
        tracker.close()
        res = {c: rep.get(c) for c in ("PRE", "AUC", "switch_latency_median", "switch_relock_30")}
        res["clips"] = n
        return res, rep

    def with_mean(out: Dict[str, object]) -> Dict[str, object]:
        out["mean_PRE"] = sum(out[s]["PRE"] for s in PLAN if s in out) / len(only)
        return out

    def one_set(start: int, spacing: int, mult: int, frames: int = 60) -> Dict[str, object]:
        out: Dict[str, object] = {}
        for k, (suite, n) in enumerate(PLAN.items()):
            if suite not in only:
                continue
            n *= mult
            clips = training_clips(args.stream, n, mix={suite: 1.0}, start=start + spacing * k,
                                  num_frames=frames)
            out[suite], _ = score(suite, clips, n)
            print(suite, out[suite], flush=True)
        return with_mean(out)

    def suite_set(offsets) -> Dict[str, object]:
        from ..data.suites import SUITES, get_suite

        out: Dict[str, object] = {}
        for suite in PLAN:
            if suite not in only:
                continue
            seeds = [SUITES[suite].seed + off for off in offsets]
            suites = [get_suite(suite, seed=sd) for sd in seeds]
            per_seed = [len(su) if args.max_clips is None else min(len(su), args.max_clips) for su in suites]
            clips = (su.clip(i) for su, k in zip(suites, per_seed) for i in range(k))
            out[suite], rep = score(suite, clips, sum(per_seed))
            print(suite, dict(out[suite], seeds=seeds), flush=True)
            out[suite].update(seeds=seeds, per_clip_PRE=[round(c["PRE"], 4) for c in rep["per_clip"]])
        return with_mean(out)

    if args.set in ("suites", "suites-confirm"):
        res = suite_set(SUITE_SEED_OFFSETS if args.set == "suites" else CONFIRM_SEED_OFFSETS)
    elif args.set == "all":
        res: Dict[str, object] = {f"set{k}": one_set(**v) for k, v in VALIDATION_SETS.items()}
        sets = [res[f"set{k}"] for k in VALIDATION_SETS]
        res["per_suite_PRE"] = {s: sum(r[s]["PRE"] for r in sets) / len(sets) for s in PLAN if s in only}
        res["mean_PRE"] = sum(r["mean_PRE"] for r in sets) / len(sets)
    elif args.set == "long":
        res = one_set(**LONG_SET)
    elif args.set is not None:
        res = one_set(**VALIDATION_SETS[args.set])
    else:
        res = one_set(args.start, args.spacing, args.mult, args.frames)
    res["modalities"] = list(modalities) if modalities is not None else "trained"
    res["wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(res))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
