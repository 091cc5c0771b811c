"""A clip as a LaSOT/TNL2K-style folder (the ``vl-tracking generate`` output)
and back.

::

    <clip>/img/00000001.png        RGB (png, or jpg with --image-format jpg)
    <clip>/depth/00000001.png      16-bit millimetres, 0 = no reading
    <clip>/thermal/00000001.png    16-bit raw counts, THERMAL_CALIBRATION (Optris:
                                   degC = (raw - 1000) / 10)
    <clip>/events.npz              x, y (uint16), t_us (int64, absolute),
                                   polarity (uint8), frame_offsets (F + 1,):
                                   frame i's events are [offsets[i], offsets[i+1])
    <clip>/groundtruth.txt         single target x,y,w,h per frame ("0,0,0,0"
                                   when absent or no single-target command)
    <clip>/full_occlusion.txt, out_of_view.txt   LaSOT flags
    <clip>/nlp.txt                 the first expression
    <clip>/gt/gt.txt               MOTChallenge rows for every visible object
                                   (class = category index + 1)
    <clip>/seqinfo.ini             MOTChallenge sequence info (imDir=img)
    <clip>/clip.json               everything: GT of all objects, expressions,
                                   referents, command schedule, conditions, stamps
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Union

import cv2
import numpy as np

from ..core.types import CameraIntrinsics, EventBatch, SensorFrame
from .bag import THERMAL_CALIBRATION
from .datasets.common import DatasetFormatError, list_frames, load_image
from .datasets.mot import format_mot_rows
from .datasets.sot import write_lasot_sequence
from .event_sim import event_frame
from .language import Expression
from .scene import CATEGORIES
from .world import Clip, FrameGT, ObjectGT

PathLike = Union[str, Path]


def _png16(path: Path, img: np.ndarray) -> None:
    if not cv2.imwrite(str(path), img.astype(np.uint16), [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise OSError(f"cannot write {path}")


def depth_m_to_mm16(depth_m: np.ndarray) -> np.ndarray:
    """(H, W) float metres (NaN invalid) -> (H, W) uint16 millimetres (0 invalid; > 65.535 m -> 0)."""
    mm = np.rint(np.nan_to_num(depth_m.astype(np.float64), nan=0.0) * 1000.0)
    mm[(mm <= 0) | (mm > 65535)] = 0
    return mm.astype(np.uint16)


def mm16_to_depth_m(depth_mm: np.ndarray) -> np.ndarray:
    """(H, W) uint16 millimetres (0 invalid) -> (H, W) float32 metres (NaN invalid)."""
    d = depth_mm.astype(np.float32) * np.float32(0.001)
    d[depth_mm == 0] = np.nan
    return d


def kelvin_to_raw16(thermal_k: np.ndarray) -> np.ndarray:
    """(H, W) Kelvin -> (H, W) uint16 raw counts of THERMAL_CALIBRATION."""
    return np.clip(np.rint(THERMAL_CALIBRATION.from_kelvin(thermal_k)), 0, 65535).astype(np.uint16)


def write_clip_folder(clip: Clip, clip_dir: PathLike, image_format: str = "png") -> Path:
    """Write ``clip`` as the folder layout above; returns the folder."""
    clip_dir = Path(clip_dir)
    n = clip.num_frames
    boxes = np.full((n, 4), np.nan)
    oov = np.zeros(n, bool)
    for i in range(n):
        b = clip.sot_target_box(i)
        if b is not None:
            boxes[i] = b
        else:
            expr = clip.active_expression(i)
            if expr is not None and not expr.multi:
                oov[i] = not clip.gt[i].objects[expr.referent_ids[0]].in_view
    text = clip.expressions[0].text if clip.expressions else ""
    write_lasot_sequence(clip_dir, (f.image_rgb for f in clip.frames), boxes, text,
                         full_occlusion=~np.all(np.isfinite(boxes), axis=1) & ~oov, out_of_view=oov,
                         image_format=image_format)
    mods = set(clip.conditions.get("modalities", []))
    if "depth" in mods:
        (clip_dir / "depth").mkdir(exist_ok=True)
        for i, f in enumerate(clip.frames, start=1):
            _png16(clip_dir / "depth" / f"{i:08d}.png", depth_m_to_mm16(f.depth_m))
    if "thermal" in mods:
        (clip_dir / "thermal").mkdir(exist_ok=True)
        for i, f in enumerate(clip.frames, start=1):
            _png16(clip_dir / "thermal" / f"{i:08d}.png", kelvin_to_raw16(f.thermal_k))
    if "event" in mods:
        counts = np.array([len(b) for b in clip.events], np.int64)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        cat = lambda attr, dt: (np.concatenate([getattr(b, attr) for b in clip.events]).astype(dt)  # noqa: E731
                                if len(clip.events) else np.zeros(0, dt))
        np.savez_compressed(clip_dir / "events.npz", x=cat("x_px", np.uint16), y=cat("y_px", np.uint16),
                            t_us=cat("t_us", np.int64), polarity=cat("polarity", np.uint8), frame_offsets=offsets,
                            width=clip.camera.width, height=clip.camera.height)
    rows = []
    for i, g in enumerate(clip.gt):
        for o in g.objects.values():
            if o.visible:
                rows.append((i + 1, o.obj_id, o.box_xyxy, 1, CATEGORIES.index(o.attrs["category"]) + 1, o.visibility))
    (clip_dir / "gt").mkdir(exist_ok=True)
    (clip_dir / "gt" / "gt.txt").write_text(format_mot_rows(rows))
    (clip_dir / "seqinfo.ini").write_text(
        f"[Sequence]\nname={clip.name}\nimDir=img\nframeRate={clip.fps:g}\nseqLength={n}\n"
        f"imWidth={clip.camera.width}\nimHeight={clip.camera.height}\nimExt=.{image_format}\n")
    meta = clip.gt_dict()
    meta["files"] = {"rgb": f"img/%08d.{image_format}", "depth": "depth/%08d.png (uint16 mm, 0 = invalid)",
                     "thermal": "thermal/%08d.png (uint16 raw)", "events": "events.npz"}
    cal = THERMAL_CALIBRATION
    meta["thermal_calibration"] = {"gain": cal.gain, "offset": cal.offset, "unit": cal.unit,
                                   "formula": "temperature[unit] = raw * gain + offset"}
    (clip_dir / "clip.json").write_text(json.dumps(meta))
    return clip_dir


def write_refer_kitti_clip(clip: Clip, root: PathLike) -> Path:
    """Add ``clip`` as video ``clip.name`` to a Refer-KITTI-style tree at
    ``root``: every visible object's box per frame (class = category index +
    1) and one expression JSON per command, labelled with the referents that
    are visible in each frame of the command's window. Returns ``root``."""
    from .datasets.referkitti import write_refer_kitti

    labels = []
    for g in clip.gt:
        vis = [o for o in g.objects.values() if o.visible]
        labels.append((np.array([o.obj_id for o in vis], np.int64),
                       np.array([o.box_xyxy for o in vis], np.float32).reshape(-1, 4),
                       np.array([CATEGORIES.index(o.attrs["category"]) + 1 for o in vis], np.int64)))
    exprs = []
    for e in clip.expressions:
        label = {f: [r for r in e.referent_ids if clip.gt[f].objects[r].visible]
                 for f in range(e.start_frame, e.end_frame)}
        exprs.append((e.text, {f: ids for f, ids in label.items() if ids}))
    return write_refer_kitti(root, clip.name, (f.image_rgb for f in clip.frames), labels, exprs)


def read_clip_folder(clip_dir: PathLike) -> Clip:
    """Read a folder written by :func:`write_clip_folder` back into a Clip
    (depth at 1 mm and thermal at 0.1 K resolution)."""
    clip_dir = Path(clip_dir)
    meta_path = clip_dir / "clip.json"
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise DatasetFormatError(meta_path, "clip.json is missing") from None
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(meta_path, f"invalid JSON: {exc.msg}", exc.lineno) from exc
    rgb = list_frames(clip_dir / "img")
    n = int(meta["num_frames"])
    if len(rgb) != n:
        raise DatasetFormatError(clip_dir / "img", f"{len(rgb)} frames but clip.json says {n}")
    c = meta["camera"]
    camera = CameraIntrinsics(fx=c["fx"], fy=c["fy"], cx=c["cx"], cy=c["cy"], width=c["width"], height=c["height"],
                              frame_id=c.get("frame_id", "camera_optical_frame"))
    mods = set(meta["conditions"].get("modalities", []))
    events: List[EventBatch] = []
    if "event" in mods:
        with np.load(clip_dir / "events.npz") as ev:
            off = ev["frame_offsets"]
            for i in range(n):
                s = slice(int(off[i]), int(off[i + 1]))
                events.append(EventBatch(ev["x"][s], ev["y"][s], ev["t_us"][s], ev["polarity"][s],
                                         int(ev["width"]), int(ev["height"])))
    frames = []
    for i in range(n):
        name = f"{i + 1:08d}.png"
        depth = mm16_to_depth_m(load_image(clip_dir / "depth" / name, "unchanged")) if "depth" in mods else None
        thermal = THERMAL_CALIBRATION.to_kelvin(load_image(clip_dir / "thermal" / name, "unchanged")) \
            if "thermal" in mods else None
        frames.append(SensorFrame(image_rgb=load_image(rgb[i]), stamp_ns=int(meta["stamps_ns"][i]), depth_m=depth,
                                  thermal_k=thermal,
                                  event_frame=event_frame(events[i], camera.height, camera.width) if events else None,
                                  camera=camera, frame_index=i, frame_id=camera.frame_id))
    gt = [FrameGT(i, {int(o["id"]): ObjectGT.from_dict(o) for o in objs}) for i, objs in enumerate(meta["frames"])]
    return Clip(name=meta["name"], fps=float(meta["fps"]), camera=camera, frames=frames, events=events, gt=gt,
                expressions=[Expression.from_dict(e) for e in meta["expressions"]],
                command_schedule=[(int(i), str(t)) for i, t in meta["command_schedule"]],
                conditions=meta["conditions"], seed=int(meta["seed"]))
