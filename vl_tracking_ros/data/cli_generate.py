"""``vl-tracking generate``: render a synthetic suite to disk.

    vl-tracking generate --suite NAME --out DIR [--bag] [--seed N] [--full] [--refer-kitti]

Per clip: a LaSOT/TNL2K-style folder that is also a MOTChallenge sequence
(see ``data/clip_io.py``), with ``--bag`` an MCAP rosbag2 (``<clip>/bag``)
the tracker node can replay, and with ``--refer-kitti`` a Refer-KITTI-style
tree (``DIR/refer-kitti``).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .suites import SUITES, get_suite


class OutputExistsError(ValueError):
    """A clip folder of the requested suite already exists under --out."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", required=True, help=f"suite name: {', '.join(sorted(SUITES))}")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created)")
    parser.add_argument("--bag", action="store_true", help="also write an MCAP rosbag2 per clip")
    parser.add_argument("--seed", type=int, default=None,
                        help="suite seed (default: the suite's fixed seed); another seed gives a fresh variant "
                             "with the same difficulty settings")
    parser.add_argument("--full", action="store_true", help="the full-size suite (more, longer clips; for GPU)")
    parser.add_argument("--clips", type=int, default=None, help="render only the first N clips")
    parser.add_argument("--image-format", choices=("png", "jpg"), default="png", help="RGB frame format")
    parser.add_argument("--depth-encoding", choices=("32FC1", "16UC1"), default="32FC1",
                        help="depth encoding in the bag")
    parser.add_argument("--refer-kitti", action="store_true",
                        help="also write the clips as a Refer-KITTI-style tree under DIR/refer-kitti "
                             "(boxes of every object, one expression JSON per command)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .bag import write_bag
    from .clip_io import write_clip_folder, write_refer_kitti_clip

    suite = get_suite(args.suite, seed=args.seed, full=args.full)   # UnknownSuiteError lists valid names
    n = suite.num_clips if args.clips is None else max(0, min(int(args.clips), suite.num_clips))
    out = Path(args.out)
    taken = [suite.clip_name(i) for i in range(n) if (out / suite.clip_name(i)).exists()]
    if taken:
        raise OutputExistsError(f"{out / taken[0]} already exists ({len(taken)} of the {n} clip folders do); "
                                f"choose another --out or remove them")
    out.mkdir(parents=True, exist_ok=True)
    index = {"suite": suite.name, "seed": suite.seed, "full": suite.full, "clips": []}
    frames = events = 0
    t0 = time.perf_counter()
    for i in tqdm(range(n), desc=f"generate {suite.name}", unit="clip"):
        clip = suite.clip(i)
        clip_dir = out / clip.name
        write_clip_folder(clip, clip_dir, image_format=args.image_format)
        if args.bag:
            write_bag(clip, clip_dir / "bag", depth_encoding=args.depth_encoding)
        if args.refer_kitti:
            write_refer_kitti_clip(clip, out / "refer-kitti")
        frames += clip.num_frames
        events += sum(len(b) for b in clip.events)
        index["clips"].append({"name": clip.name, "seed": clip.seed, "num_frames": clip.num_frames,
                               "commands": [c for _, c in clip.command_schedule], "conditions": clip.conditions})
    (out / "suite.json").write_text(json.dumps(index, indent=1))
    dt = time.perf_counter() - t0
    print(f"generated suite {suite.name!r} (seed {suite.seed}{', full' if suite.full else ''}): {n} clips, "
          f"{frames} frames, {events} events{', with bags' if args.bag else ''} in {dt:.1f} s "
          f"({frames / max(dt, 1e-9):.1f} frames/s) -> {out}")
    return 0
