"""``vl-tracking``: the package's command-line interface.

Each subcommand lives in the module that owns it and exposes two functions:
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only
when their subcommand runs, so ``vl-tracking generate`` never imports torch.

    vl-tracking generate --suite NAME --out DIR [--bag] [--seed N]
    vl-tracking eval --suite NAME [--tracker PRESET] [--seed N] --json OUT [--plots DIR]
    vl-tracking train --config config/models/<preset>.yaml
    vl-tracking export --model PRESET --format onnx|tensorrt [--fp16|--int8]
    vl-tracking bench [model|ros|voice|rmot] ... --json OUT
    vl-tracking demo --out DIR
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

#: subcommand -> (module, one-line help)
SUBCOMMANDS = {
    "generate": ("vl_tracking_ros.data.cli_generate", "render a synthetic suite (frames, ground truth, bags)"),
    "eval": ("vl_tracking_ros.eval.cli_eval", "evaluate a tracker preset on a suite; JSON metrics and plots"),
    "train": ("vl_tracking_ros.train.cli_train", "train a model preset from its YAML config"),
    "export": ("vl_tracking_ros.engines.cli_export", "export a preset to ONNX or a TensorRT engine"),
    "bench": ("vl_tracking_ros.eval.cli_bench", "benchmarks: model (default), ros, voice, rmot"),
    "demo": ("vl_tracking_ros.ros.demo", "run the live demo: replay -> tracker node -> annotated video + log"),
}


def _build_parser(argv: List[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vl-tracking", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # Only import the module of the subcommand actually asked for.
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_run=mod.run)
    return parser


#: subcommands whose module parses its own arguments (``main(argv) -> int``):
#: ``bench`` takes an optional target word before the target's own options.
PASSTHROUGH = {"bench"}


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        command = argv[0]
        run = lambda: importlib.import_module(SUBCOMMANDS[command][0]).main(argv[1:])  # noqa: E731
    else:
        args = _build_parser(argv).parse_args(argv)
        command = args.command
        run = lambda: args._run(args)  # noqa: E731
    try:
        return int(run() or 0)
    except KeyboardInterrupt:
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as exc:  # clear, specific errors
        print(f"vl-tracking {command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
