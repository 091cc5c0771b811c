"""A side-by-side picture of one frame in every modality (for the README)."""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

from .world import Clip


def render_modality_panel(clip: Clip, frame_index: int, path: Union[str, Path], dpi: int = 80) -> Path:
    """Write a PNG with RGB, depth, thermal and events of one frame, the
    active command as the title and the target boxes drawn on the RGB panel.
    Returns the path. Needs matplotlib (imported here, Agg backend)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    frame = clip.frames[frame_index]
    panels = [("RGB", frame.image_rgb, None)]
    if frame.depth_m is not None:
        panels.append(("depth (m)", np.ma.masked_invalid(frame.depth_m), "viridis_r"))
    if frame.thermal_k is not None:
        panels.append(("thermal (K)", frame.thermal_k, "inferno"))
    if frame.event_frame is not None:
        ev = frame.event_frame
        img = np.zeros(ev.shape[:2] + (3,), np.float32)
        img[..., 0] = np.clip(ev[..., 1] * 2.0, 0, 1) if ev.shape[2] > 1 else 0.0   # OFF events red
        img[..., 2] = np.clip(ev[..., 0] * 2.0, 0, 1)                               # ON events blue
        panels.append(("events (ON blue / OFF red)", 1.0 - np.stack([img[..., 2] + 0 * img[..., 0],
                                                                     img[..., 0] + img[..., 2],
                                                                     img[..., 0]], -1).clip(0, 1), None))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.9))
    axes = np.atleast_1d(axes)
    boxes = clip.target_boxes(frame_index)
    for ax, (title, img, cmap) in zip(axes, panels):
        im = ax.imshow(img, cmap=cmap)
        if cmap is not None:
            fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02)
        for box in boxes.values():
            ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, ec="lime", lw=1.2))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    expr = clip.active_expression(frame_index)
    fig.suptitle(f'"{expr.command}"' if expr else clip.name, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


#: the clip behind docs/images/modalities.png (reproducible: same seed, same picture)
README_PANEL_CONFIG = dict(num_frames=24, num_objects=6, target_size="large", relation_prob=0.0,
                           distractor_similarity=0.6)
README_PANEL_SEED = 6
README_PANEL_FRAME = 20


def main(argv=None) -> int:
    """``python -m vl_tracking_ros.data.panel --out docs/images/modalities.png``"""
    import argparse

    from .scene import ClipConfig
    from .world import render_clip

    p = argparse.ArgumentParser(description="render the README's modality picture")
    p.add_argument("--out", default="docs/images/modalities.png")
    p.add_argument("--seed", type=int, default=README_PANEL_SEED)
    p.add_argument("--frame", type=int, default=README_PANEL_FRAME)
    args = p.parse_args(argv)
    clip = render_clip(ClipConfig(**README_PANEL_CONFIG), args.seed)
    path = render_modality_panel(clip, args.frame, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB): {clip.active_expression(args.frame).command!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
