"""Evaluate the shipped single-target preset and its ablations on the
WORLD suites (EVAL's runner, default fixed suite seeds) and write one JSON
per run plus a markdown table.

    .venv/bin/python -m vl_tracking_ros.train.sot_report --out runs/sot_report [--only main]

Runs (label, suite, preset, tracker options):
  main:      mvlm-small on sot-day, sot-night (RGB + all trained X), switch, small-fast
  ablations: global search only (MVLM A1), local search without MVLM gating
             (A2/A3), RGB only vs RGB + thermal on sot-night, the motion
             input withheld (no previous frame) on sot-day / small-fast, the box
             chosen by the heatmap score instead of kappa (gating.select: cls)
  baseline:  the non-language ``heuristic`` preset on sot-day / sot-night
Nothing here is tuned on these seeds; it only measures.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Tuple

RUNS: List[Tuple[str, str, str, str, Dict[str, Any]]] = [
    ("main", "mvlm-small", "sot-day", "mvlm-small (RGB+D+T+E)", {}),
    ("main", "mvlm-small", "sot-night", "mvlm-small (RGB+D+T+E)", {}),
    ("main", "mvlm-small", "switch", "mvlm-small (RGB+D+T+E)", {}),
    ("main", "mvlm-small", "small-fast", "mvlm-small (RGB+D+T+E)", {}),
    ("ablation", "mvlm-small", "sot-night", "RGB only", {"modalities": ("rgb",)}),
    ("ablation", "mvlm-small", "sot-night", "RGB + thermal", {"modalities": ("rgb", "thermal")}),
    ("ablation", "mvlm-small", "sot-day", "global search only (A1)", {"search_mode": "global"}),
    ("ablation", "mvlm-small", "sot-day", "local search, no MVLM gating", {"search_mode": "local"}),
    ("ablation", "mvlm-small", "switch", "local search, no MVLM gating", {"search_mode": "local"}),
    ("ablation", "mvlm-small", "sot-day", "box chosen by heatmap score (MVLM Sec. 3.4 rule)", {"gating": {"select": "cls"}}),
    ("ablation", "mvlm-small", "switch", "box chosen by heatmap score (MVLM Sec. 3.4 rule)", {"gating": {"select": "cls"}}),
    ("ablation", "mvlm-small", "small-fast", "box chosen by heatmap score (MVLM Sec. 3.4 rule)",
     {"gating": {"select": "cls"}}),
    ("ablation", "mvlm-small", "sot-day", "no motion input", {"use_motion": False}),
    ("ablation", "mvlm-small", "small-fast", "no motion input", {"use_motion": False}),
    ("baseline", "heuristic", "sot-day", "heuristic (no language model)", {}),
    ("baseline", "heuristic", "sot-night", "heuristic (no language model)", {}),
]

COLUMNS = ("PRE", "AUC", "NPRE", "switch_latency_median", "switch_relock_30", "fps")


def main(argv=None) -> int:
    from ..eval.cli_eval import build_report
    from ..eval.runner import evaluate_suite

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="runs/sot_report")
    p.add_argument("--only", default=None, help="comma-separated groups: main,ablation,baseline")
    p.add_argument("--max-clips", type=int, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--weights-dir", default=None,
                   help="evaluate mvlm-small weights from this directory (default: the shipped weights/)")
    p.add_argument("--config", default=None,
                   help="mvlm-small preset YAML matching --weights-dir (default: config/models/mvlm-small.yaml)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    groups = set(args.only.split(",")) if args.only else None
    rows = []
    for group, preset, suite, label, opts in RUNS:
        if groups and group not in groups:
            continue
        tag = f"{preset}_{suite}_{label}".replace(" ", "_").replace("/", "-").replace("(", "").replace(")", "")
        path = os.path.join(args.out, tag + ".json")
        if os.path.isfile(path):
            report = json.load(open(path))
        else:
            t0 = time.time()
            mods = opts.get("modalities")
            tracker_options = {k: v for k, v in opts.items() if k != "modalities"}
            if args.weights_dir and preset.startswith("mvlm"):
                tracker_options["weights_dir"] = args.weights_dir
            if args.config and preset.startswith("mvlm"):
                tracker_options["config_path"] = args.config
            result = evaluate_suite(preset, suite, modalities=mods, max_clips=args.max_clips,
                                    tracker_options=tracker_options, show_progress=True)
            report = build_report(result)
            report["wall_s"] = round(time.time() - t0, 1)
            with open(path, "w") as fh:
                json.dump(report, fh, indent=1)
        rows.append((group, suite, label, report))
        print(group, suite, label, {c: report.get(c) for c in COLUMNS}, flush=True)
    lines = ["| group | suite | tracker | " + " | ".join(COLUMNS) + " | clips |",
             "|" + "---|" * (len(COLUMNS) + 4)]
    for group, suite, label, r in rows:
        vals = []
        for c in COLUMNS:
            v = r.get(c)
            vals.append("-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)))
        lines.append(f"| {group} | {suite} | {label} | " + " | ".join(vals) + f" | {len(r.get('per_clip', []))} |")
    with open(os.path.join(args.out, "table.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
