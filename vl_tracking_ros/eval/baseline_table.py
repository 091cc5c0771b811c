"""Measure several tracker presets on the same rendered clips and print a table.

    python -m vl_tracking_ros.eval.baseline_table --suites sot-day,rmot \\
        --trackers oracle,mil,heuristic --json baselines.json [--markdown table.md] [--max-clips K]
        [--success-plot success.png]

Each clip is rendered once and fed to every preset (rendering dominates the
cost of the cheap baselines), so the presets are compared on identical
frames. Writes one eval-JSON-shaped report per (suite, preset) into
``--json`` and, with ``--markdown``, the table ``docs/eval.md`` shows.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .cli_eval import build_report, machine_description, write_json
from .runner import SuiteResult, run_clip

#: columns of the markdown table: (header, report key, format)
COLUMNS = (("AUC", "AUC", "{:.3f}"), ("PRE", "PRE", "{:.3f}"), ("NPRE", "NPRE", "{:.3f}"),
           ("HOTA", "HOTA", "{:.1f}"), ("DetA", "DetA", "{:.1f}"), ("AssA", "AssA", "{:.1f}"),
           ("IDF1", "IDF1", "{:.1f}"), ("MOTA", "MOTA", "{:.1f}"), ("IDsw", "IDsw", "{}"),
           ("switch lat. (frames)", "switch_latency_median", "{:.0f}"), ("relock <=30", "switch_relock_30", "{:.2f}"),
           ("reloc. (frames)", "reloc_time_median", "{:.0f}"), ("fps", "fps", "{:.0f}"))


def evaluate_presets(presets: Sequence[str], suite_name: str, seed: Optional[int] = None, full: bool = False,
                     device: str = "cpu", max_clips: Optional[int] = None,
                     show_progress: bool = True) -> Dict[str, SuiteResult]:
    """Run every preset on every clip of the suite (each clip rendered once)."""
    from tqdm import tqdm

    from ..data.suites import get_suite
    from ..trackers.registry import build_tracker

    suite = get_suite(suite_name, seed=seed, full=full)
    trackers = {p: build_tracker(p, device=device) for p in presets}
    results: Dict[str, List[Any]] = {p: [] for p in presets}
    n = suite.num_clips if max_clips is None else min(max_clips, suite.num_clips)
    try:
        with tqdm(total=n * len(presets), desc=f"{suite.name}", unit="run", disable=not show_progress) as bar:
            for i in range(n):
                clip = suite.clip(i)
                for p, tracker in trackers.items():
                    res = run_clip(tracker, clip)
                    results[p].append(res)
                    bar.set_postfix(clip=clip.name, tracker=p, fps=f"{res.fps:.0f}")
                    bar.update(1)
    finally:
        for tracker in trackers.values():
            tracker.close()
    return {p: SuiteResult(suite=suite.name, seed=suite.seed, tracker=p, clips=r) for p, r in results.items()}


#: latency key -> the report key counting its events
_EVENT_KEYS = {"switch_latency_median": "switch_events", "reloc_time_median": "reloc_events"}


def _cell(report: Dict[str, Any], key: str, fmt: str) -> str:
    """Formatted value; "–" when not applicable, "never" for a latency median
    that is infinite (more than half of the events never re-locked)."""
    v = report.get(key)
    if v is None and report.get(_EVENT_KEYS.get(key, ""), 0):
        return "never"
    return "–" if v is None else fmt.format(v)


def markdown_table(reports: Sequence[Dict[str, Any]]) -> str:
    """One row per (suite, tracker) report."""
    head = "| suite | tracker | clips | " + " | ".join(c[0] for c in COLUMNS) + " |"
    sep = "|" + "---|" * (3 + len(COLUMNS))
    rows = [head, sep]
    for r in reports:
        cells = [r["suite"], r["tracker"], str(len(r["per_clip"]))] + [_cell(r, k, f) for _, k, f in COLUMNS]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vl_tracking_ros.eval.baseline_table", description=__doc__.split("\n")[0])
    ap.add_argument("--suites", default="sot-day,sot-night,switch,small-fast,occlusion,rmot")
    ap.add_argument("--trackers", default="oracle,mil,heuristic")
    ap.add_argument("--json", type=Path, required=True, help="all reports, as a JSON list")
    ap.add_argument("--markdown", type=Path, default=None, help="write the markdown table here")
    ap.add_argument("--max-clips", type=int, default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--success-plot", type=Path, default=None,
                    help="PNG success plot comparing the presets on the first suite")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    presets = [p.strip() for p in args.trackers.split(",") if p.strip()]
    reports = []
    for k, suite in enumerate([s.strip() for s in args.suites.split(",") if s.strip()]):
        results = evaluate_presets(presets, suite, device=args.device, max_clips=args.max_clips,
                                   show_progress=not args.no_progress)
        for p, result in results.items():
            reports.append(build_report(result, device=args.device))
        if k == 0 and args.success_plot is not None:
            from .plots import plot_success

            curves = {p: r.sot_curves() for p, r in results.items()}
            curves = {p: c for p, c in curves.items() if c is not None}
            if curves:
                plot_success(curves, args.success_plot, f"Success plot ({suite}, {len(results[presets[0]].clips)} clips)")
        write_json({"reports": reports}, args.json)  # after every suite: partial results survive a crash
    table = markdown_table(reports)
    print(table)
    if args.markdown:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(f"Measured {stamp} on: {machine_description(args.device)}; "
                                 f"code {reports[0]['code_version'] if reports else '?'}\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
