"""Train the candidate ranker of a single-target preset (``<preset>-ranker``).

Two steps, both on WORLD training-stream clips (never evaluation seeds):

1. ``collect``: run the shipped tracker (frozen network + MVLM gating) over
   clips and keep, per frame, every candidate's evidence
   (:mod:`..models.candidate_features`), the sentence embedding and which
   candidate is on the referent (IoU >= ``--min-iou`` with the ground-truth
   box; -1 when none is). Half the clips run with global search every frame
   (relocalization: many distractors), half as the tracker runs (gated).
2. ``fit``: softmax cross-entropy over each frame's candidates
   (:func:`..models.candidate_ranker.ranking_loss`), AdamW, thermal / depth
   evidence dropped at random (the ranker must work RGB only); reports
   held-out top-1 against the kappa / heatmap-score / correlation rules on
   the same frames and writes ``weights/<preset>-ranker.safetensors`` with a
   manifest entry.

    python -m vl_tracking_ros.train.ranker_train collect --out runs/ranker/a.npz --start 20000 --clips 120
    python -m vl_tracking_ros.train.ranker_train fit runs/ranker/a.npz runs/ranker/b.npz --weights-dir weights
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..models.candidate_features import CROP_CHANNELS, FEATURE_NAMES, NUM_FEATURES

#: clip mix of the collection (the network's own training mix)
MIX = {"sot-day": 0.3, "sot-night": 0.3, "switch": 0.2, "small-fast": 0.2}
COLLECT_VERSION = "ranker-collect-v1"
FEATURE_INDEX = {n: i for i, n in enumerate(FEATURE_NAMES)}


class _Collector:
    """Wraps a recording LanguageTracker for ``eval.runner.run_clip`` and keeps
    one row per frame that has candidates and an active command."""

    def __init__(self, tracker: Any, top_n: int, min_iou: float):
        self.tracker = tracker
        self.top_n = int(top_n)
        self.min_iou = float(min_iou)
        self.rows: List[Dict[str, Any]] = []
        self.sentences: Dict[bytes, int] = {}
        self.sentence_list: List[np.ndarray] = []
        self.clip = None
        self.clip_index = -1
        self.frame = 0

    def attach_clip(self, clip: Any) -> None:
        self.clip = clip
        self.clip_index += 1
        self.frame = 0

    def set_commands(self, queries) -> None:
        self.tracker.set_commands(queries)

    def clear(self) -> None:
        self.tracker.clear()

    def step(self, frame):
        from ..eval.ground_truth import sot_box
        from ..models.candidates import box_iou

        self.tracker.last_candidates = None
        out = self.tracker.step(frame)
        rec = self.tracker.last_candidates
        i, self.frame = self.frame, self.frame + 1
        if rec is None or rec["sentence"] is None or rec["features"].shape[0] == 0:
            return out
        gt = sot_box(self.clip, i)
        k = min(rec["features"].shape[0], self.top_n)
        label, best = -1, 0.0
        if gt is not None:
            iou = box_iou(rec["boxes_xyxy"][:k], gt[None])[:, 0]
            best = float(iou.max())
            if best >= self.min_iou:
                label = int(np.argmax(iou))
        key = rec["sentence"].tobytes()
        if key not in self.sentences:
            self.sentences[key] = len(self.sentence_list)
            self.sentence_list.append(rec["sentence"])
        self.rows.append({"features": rec["features"][:k], "crops": rec["crops"][:k], "label": label,
                          "best_iou": best, "sentence": self.sentences[key], "clip": self.clip_index,
                          "target_present": gt is not None})
        return out

    def arrays(self) -> Dict[str, np.ndarray]:
        """Padded arrays: features (N, K, F) f32, crops (N, K, 4, S, S) f16,
        valid (N, K) bool, label (N,) i64, best_iou (N,) f32, sentence_index
        (N,) i64, sentences (U, D) f32, clip (N,) i64, target_present (N,) bool."""
        n, k = len(self.rows), self.top_n
        s = self.rows[0]["crops"].shape[-1] if self.rows else 16
        feats = np.zeros((n, k, NUM_FEATURES), np.float32)
        crops = np.zeros((n, k, CROP_CHANNELS, s, s), np.float16)
        valid = np.zeros((n, k), bool)
        for j, r in enumerate(self.rows):
            m = r["features"].shape[0]
            feats[j, :m] = r["features"]
            crops[j, :m] = r["crops"]
            valid[j, :m] = True
        return {"features": feats, "crops": crops, "valid": valid,
                "label": np.array([r["label"] for r in self.rows], np.int64),
                "best_iou": np.array([r["best_iou"] for r in self.rows], np.float32),
                "sentence_index": np.array([r["sentence"] for r in self.rows], np.int64),
                "sentences": np.stack(self.sentence_list) if self.sentence_list else np.zeros((0, 384), np.float32),
                "clip": np.array([r["clip"] for r in self.rows], np.int64),
                "target_present": np.array([r["target_present"] for r in self.rows], bool)}


def collect(out_path: str, preset: str = "mvlm-small", stream: int = 0, start: int = 20000, clips: int = 120,
            num_frames: int = 60, min_iou: float = 0.3, global_frac: float = 0.5,
            weights_dir: Optional[str] = None, config_path: Optional[str] = None,
            mix: Optional[Dict[str, float]] = None, select: str = "kappa") -> Dict[str, Any]:
    """Run the tracker over ``clips`` training-stream clips and save the rows
    (npz at ``out_path``). Returns a summary (frames, positives, wall time).

    ``select``: the gate's rule while collecting; ``"ranker"`` puts the
    ranker in ``weights_dir`` in the loop (on-policy rows, DAgger-style),
    ``"kappa"`` follows the shipped rule."""
    import torch
    from tqdm import tqdm

    from ..data.suites import training_clips
    from ..eval.runner import run_clip
    from ..trackers.language_tracker import LanguageTracker

    torch.set_num_threads(1)
    t0 = time.time()
    n_global = int(round(clips * global_frac))
    parts = []
    trackers = {}
    for mode in ("global", "gated"):
        trackers[mode] = LanguageTracker(preset, config_path=config_path, weights_dir=weights_dir,
                                         search_mode=mode, record_candidates=True,
                                         gating={"select": select})
        if select == "ranker" and trackers[mode].ranker is None:
            raise ValueError(f"collect --select ranker needs ranker weights: {trackers[mode].ranker_status}")
    top_n = trackers["global"].gate.config.top_n
    col = _Collector(None, top_n, min_iou)
    bar = tqdm(total=clips, desc="ranker collect", unit="clip")
    frames = 0
    for j, clip in enumerate(training_clips(stream, clips, mix=mix or MIX, start=start, num_frames=num_frames)):
        col.tracker = trackers["global" if j < n_global else "gated"]
        res = run_clip(col, clip)
        frames += clip.num_frames
        parts.append(res.score_value())
        bar.set_postfix(rows=len(col.rows), fps=f"{frames / (time.time() - t0):.1f}")
        bar.update(1)
    bar.close()
    for t in trackers.values():
        t.close()
    arrays = col.arrays()
    meta = {"version": COLLECT_VERSION, "preset": preset, "select": select, "stream": stream, "start": start,
            "clips": clips, "num_frames": num_frames, "min_iou": min_iou, "global_clips": n_global,
            "features": list(FEATURE_NAMES)}
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    np.savez_compressed(out_path, meta=json.dumps(meta), **arrays)
    summary = {"rows": int(arrays["label"].shape[0]), "positives": int((arrays["label"] >= 0).sum()),
               "wall_s": round(time.time() - t0, 1), "mean_clip_score": float(np.nanmean(parts)) if parts else None}
    print(json.dumps(summary), flush=True)
    return summary


def load_rows(paths: Sequence[str]) -> Dict[str, np.ndarray]:
    """Concatenate collected npz files (sentence and clip indices offset)."""
    out: Dict[str, List[np.ndarray]] = {}
    s_off = c_off = 0
    for p in paths:
        with np.load(p) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != COLLECT_VERSION or meta.get("features") != list(FEATURE_NAMES):
                raise ValueError(f"{p} was collected by another featurizer version ({meta.get('version')}); "
                                 "collect again")
            d = {k: z[k] for k in z.files if k != "meta"}
        d["sentence_index"] = d["sentence_index"] + s_off
        d["clip"] = d["clip"] + c_off
        s_off += d["sentences"].shape[0]
        c_off += int(d["clip"].max()) + 1 if d["clip"].size else 0
        for k, v in d.items():
            out.setdefault(k, []).append(v)
    return {k: np.concatenate(v) for k, v in out.items()}


def baseline_top1(data: Dict[str, np.ndarray], rows: np.ndarray) -> Dict[str, float]:
    """Top-1 of the fixed rules (argmax of kappa / heatmap score /
    correlation over all candidates) on ``rows`` with a positive."""
    out = {}
    lab = data["label"][rows]
    for name in ("kappa", "cls", "corr"):
        col = data["features"][rows, :, FEATURE_INDEX[name]]
        col = np.where(data["valid"][rows], col, -np.inf)
        out[name] = float((np.argmax(col, axis=1) == lab).mean()) if rows.size else float("nan")
    return out


def _batch(data, idx, rng, drop_thermal: float, drop_depth: float):
    import torch

    f = data["features"][idx].copy()
    c = data["crops"][idx].astype(np.float32)
    if drop_thermal > 0:
        m = rng.random(len(idx)) < drop_thermal
        f[m, :, FEATURE_INDEX["thermal"]] = 0
        f[m, :, FEATURE_INDEX["thermal_valid"]] = 0
        c[m, :, 3] = 0
    if drop_depth > 0:
        m = rng.random(len(idx)) < drop_depth
        f[m, :, FEATURE_INDEX["depth"]] = 0
        f[m, :, FEATURE_INDEX["depth_valid"]] = 0
    return (torch.from_numpy(f), torch.from_numpy(c), torch.from_numpy(data["valid"][idx]),
            torch.from_numpy(data["sentences"][data["sentence_index"][idx]].astype(np.float32)),
            torch.from_numpy(data["label"][idx]))


def evaluate_top1(model, data: Dict[str, np.ndarray], rows: np.ndarray, batch: int = 512) -> float:
    """Ranker top-1 on ``rows`` (all with a positive)."""
    import torch

    model.eval()
    hits = 0
    with torch.no_grad():
        for a in range(0, rows.size, batch):
            f, c, v, s, y = _batch(data, rows[a:a + batch], None, 0.0, 0.0)
            hits += int((model(f, c, v, s).argmax(1) == y).sum())
    return hits / max(rows.size, 1)


def fit(paths: Sequence[str], preset: str = "mvlm-small", steps: int = 3000, batch_size: int = 128,
        lr: float = 2e-3, seed: int = 0, val_frac: float = 0.1, weights_dir: Optional[str] = None,
        config_path: Optional[str] = None, drop_thermal: float = 0.3, drop_depth: float = 0.3,
        out_json: Optional[str] = None) -> Dict[str, Any]:
    """Train the ranker on collected rows; save weights + manifest entry."""
    import torch
    from tqdm import tqdm

    from ..models.candidate_ranker import LinearCandidateRanker, RankerConfig, build_ranker, ranking_loss
    from ..models.config import config_hash
    from ..models.weights import default_weights_dir, save_trained_weights, update_manifest
    from .config import load_preset_config, preset_yaml_path

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    pc = load_preset_config(config_path or preset_yaml_path(preset))
    rcfg = pc.ranker or RankerConfig()
    data = load_rows(paths)
    clips = np.unique(data["clip"])
    val_clips = set(rng.choice(clips, max(1, int(round(len(clips) * val_frac))), replace=False).tolist())
    is_val = np.array([c in val_clips for c in data["clip"]])
    pos = data["label"] >= 0
    train_rows = np.nonzero(pos & ~is_val)[0]
    val_rows = np.nonzero(pos & is_val)[0]
    if train_rows.size == 0:
        raise ValueError("no training rows with a positive candidate")
    model = build_ranker(rcfg)
    if isinstance(model, LinearCandidateRanker):
        fv = data["features"][train_rows][data["valid"][train_rows]]
        model.set_standardization(torch.from_numpy(fv.mean(0)), torch.from_numpy(fv.std(0)))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    t0 = time.time()
    losses = []
    bar = tqdm(range(steps), desc="ranker fit", unit="step")
    for step in bar:
        model.train()
        idx = rng.choice(train_rows, batch_size)
        f, c, v, s, y = _batch(data, idx, rng, drop_thermal, drop_depth)
        loss = ranking_loss(model(f, c, v, s), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss))
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
    bar.close()
    res = {"rows": int(data["label"].shape[0]), "train_rows": int(train_rows.size), "val_rows": int(val_rows.size),
           "val_top1_ranker": round(evaluate_top1(model, data, val_rows), 4),
           "val_top1_rules": {k: round(v, 4) for k, v in baseline_top1(data, val_rows).items()},
           "train_top1_ranker": round(evaluate_top1(model, data, train_rows[:4000]), 4),
           "final_loss": round(float(np.mean(losses[-100:])), 4), "wall_s": round(time.time() - t0, 1)}
    print(json.dumps(res), flush=True)
    weights_dir = weights_dir or default_weights_dir()
    name = f"{preset}-ranker"
    fname = f"{name}.safetensors"
    h = config_hash(rcfg)
    sha = save_trained_weights(os.path.join(weights_dir, fname), model.state_dict(),
                               {"config_hash": h, "preset": name})
    update_manifest(weights_dir, name, {
        "file": fname, "sha256": sha, "config_hash": h, "preset": name, "base_preset": preset,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": {"version": COLLECT_VERSION, "files": [os.path.basename(p) for p in paths],
                 "stream": "vl_tracking_ros.data.suites.training_clips"},
        "recipe": {"steps": steps, "batch_size": batch_size, "lr": lr, "seed": seed, "drop_thermal": drop_thermal,
                   "drop_depth": drop_depth},
        "machine": "2-core CPU dev machine, no GPU", "metrics": res})
    if out_json:
        with open(out_json, "w") as fh:
            json.dump(res, fh, indent=1)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="run the tracker over training clips and save candidate rows")
    c.add_argument("--out", required=True)
    c.add_argument("--preset", default="mvlm-small")
    c.add_argument("--stream", type=int, default=0)
    c.add_argument("--start", type=int, default=20000)
    c.add_argument("--clips", type=int, default=120)
    c.add_argument("--frames", type=int, default=60)
    c.add_argument("--global-frac", type=float, default=0.5)
    c.add_argument("--weights-dir", default=None)
    c.add_argument("--config", default=None)
    c.add_argument("--select", default="kappa", choices=("kappa", "ranker"),
                   help="gate rule while collecting (ranker: on-policy rows with the ranker in --weights-dir)")
    f = sub.add_parser("fit", help="train the ranker on collected rows")
    f.add_argument("data", nargs="+")
    f.add_argument("--preset", default="mvlm-small")
    f.add_argument("--steps", type=int, default=3000)
    f.add_argument("--batch-size", type=int, default=128)
    f.add_argument("--lr", type=float, default=2e-3)
    f.add_argument("--weights-dir", default=None)
    f.add_argument("--config", default=None)
    f.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.cmd == "collect":
        collect(args.out, args.preset, args.stream, args.start, args.clips, args.frames,
                global_frac=args.global_frac, weights_dir=args.weights_dir, config_path=args.config,
                select=args.select)
    else:
        fit(args.data, args.preset, args.steps, args.batch_size, args.lr, weights_dir=args.weights_dir,
            config_path=args.config, out_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
