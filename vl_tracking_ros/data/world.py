"""The synthetic multi-modal world: ``render_clip(config, seed) -> Clip``.

A clip holds aligned RGB / depth / thermal / event frames, the raw events,
per-frame ground truth for every object, the referring expressions with their
exact referent sets and the command schedule. Everything is deterministic
from the seed: the same (config, seed) gives identical bytes.

Seeds: one ``numpy.random.SeedSequence(seed)`` is split into independent
streams (layout, language, RGB noise, depth noise, thermal noise, events), so
changing e.g. the modality set does not move the objects.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..core.types import CameraIntrinsics, EventBatch, SensorFrame
from .event_sim import EventSimulator, empty_batch, event_frame, log_intensity, make_batch
from .language import Expression, describe_multi, describe_single, position_words
from .render import NoiseSource, SceneRenderer, depth_sensor, luminance, rgb_sensor, thermal_sensor
from .scene import ClipConfig, Scene, sample_scene

#: event background-activity noise multiplier at night
NIGHT_EVENT_NOISE_FACTOR = 4.0

#: stamp of frame 0 (ns since the epoch; a fixed date keeps bags reproducible)
BASE_STAMP_NS = 1_700_000_000 * 10**9


@dataclass
class ObjectGT:
    """Ground truth of one object in one frame.

    box_xyxy: (4,) float32 pixels, the object's box clipped to the image
        (its extent in view; occluders do not shrink it).
    full_box_xyxy: (4,) float32 unclipped box (may extend outside the image).
    visibility: [0, 1] fraction of the object's pixels that are in the image
        and not hidden by nearer objects or occluders.
    in_view: any pixel of the object lies inside the image.
    attrs: static attributes plus ``hpos`` / ``vpos`` in this frame.
    """

    obj_id: int
    box_xyxy: np.ndarray
    visibility: float
    in_view: bool
    attrs: Dict[str, str]
    full_box_xyxy: Optional[np.ndarray] = None

    @property
    def visible(self) -> bool:
        """In view and not fully occluded."""
        return self.in_view and self.visibility > 0.0

    def to_dict(self) -> Dict[str, object]:
        full = None if self.full_box_xyxy is None else [round(float(v), 3) for v in self.full_box_xyxy]
        return {"id": self.obj_id, "box_xyxy": [round(float(v), 3) for v in self.box_xyxy], "full_box_xyxy": full,
                "visibility": round(float(self.visibility), 4), "in_view": bool(self.in_view),
                "attrs": dict(self.attrs)}

    @classmethod
    def from_dict(cls, d: Dict[str, object]) -> "ObjectGT":
        full = d.get("full_box_xyxy")
        return cls(obj_id=int(d["id"]), box_xyxy=np.asarray(d["box_xyxy"], np.float32),
                   visibility=float(d["visibility"]), in_view=bool(d["in_view"]), attrs=dict(d["attrs"]),
                   full_box_xyxy=None if full is None else np.asarray(full, np.float32))


@dataclass
class FrameGT:
    """Ground truth of all objects in one frame (obj_id -> ObjectGT)."""

    frame_index: int
    objects: Dict[int, ObjectGT]


@dataclass
class Clip:
    """A rendered clip. See the module docstring.

    frames: SensorFrames (RGB always; depth / thermal / event_frame when in
        ``conditions['modalities']``).
    events: events[i] are the raw events between frame i-1 and i (absolute
        ``t_us``); events[0] is empty.
    gt: per-frame ground truth.
    expressions: the commands' expressions, in schedule order.
    command_schedule: (frame index, full command text) -- "track ...",
        "track all ..." or "stop".
    conditions: the clip's difficulty knobs (``ClipConfig.conditions()``).
    """

    name: str
    fps: float
    camera: CameraIntrinsics
    frames: List[SensorFrame]
    events: List[EventBatch]
    gt: List[FrameGT]
    expressions: List[Expression]
    command_schedule: List[Tuple[int, str]]
    conditions: Dict[str, object]
    seed: int
    config: Optional[ClipConfig] = None
    homographies: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def sensor_image(self, frame_index: int, modality: str) -> Optional[np.ndarray]:
        """Depth (m) or thermal (K) of a frame in that sensor's own pixel grid:
        the aligned image when the sensor is aligned to RGB, else warped
        through ``homographies[modality]`` (what a misaligned camera records)."""
        from .sensor_grid import to_sensor_grid

        frame = self.frames[frame_index]
        image = {"depth": frame.depth_m, "thermal": frame.thermal_k}[modality]
        h = self.homographies.get(modality)
        if image is None or h is None:
            return image
        out = to_sensor_grid(image, h, "nearest" if modality == "depth" else "linear")
        if modality == "thermal":
            # the part of the thermal view the RGB camera does not see is not
            # rendered; it reads the scene's median temperature (a radiometric
            # image has no "no reading" value)
            out = np.where(np.isnan(out), np.float32(np.nanmedian(image)), out).astype(np.float32)
        return out

    def sensor_events(self, frame_index: int) -> EventBatch:
        """The frame's events in the event sensor's own pixel grid."""
        from .sensor_grid import events_to_sensor_grid

        h = self.homographies.get("event")
        batch = self.events[frame_index]
        return batch if h is None else events_to_sensor_grid(batch, h)

    def active_expression(self, frame_index: int) -> Optional[Expression]:
        """The expression being tracked at ``frame_index`` (None before the
        first command and after "stop")."""
        for expr in self.expressions:
            if expr.start_frame <= frame_index < expr.end_frame:
                return expr
        return None

    def target_boxes(self, frame_index: int) -> Dict[int, np.ndarray]:
        """obj_id -> (4,) float32 xyxy for every referent of the active
        expression that is visible (in view, not fully occluded)."""
        expr = self.active_expression(frame_index)
        if expr is None:
            return {}
        objs = self.gt[frame_index].objects
        return {rid: objs[rid].box_xyxy for rid in expr.referent_ids if objs[rid].visible}

    def sot_target_box(self, frame_index: int) -> Optional[np.ndarray]:
        """(4,) float32 box of the single target, or None when there is no
        single-target command or the target is out of view / fully occluded."""
        expr = self.active_expression(frame_index)
        if expr is None or expr.multi:
            return None
        obj = self.gt[frame_index].objects[expr.referent_ids[0]]
        return obj.box_xyxy if obj.visible else None

    def digest(self) -> str:
        """SHA-256 hex of every frame, event, box and the schedule: equal
        digests mean identical clips (for determinism checks and caches)."""
        import hashlib

        h = hashlib.sha256()
        for f in self.frames:
            for arr in (f.image_rgb, f.depth_m, f.thermal_k, f.event_frame):
                if arr is not None:
                    h.update(np.ascontiguousarray(arr).tobytes())
            h.update(str(f.stamp_ns).encode())
        for b in self.events:
            for arr in (b.x_px, b.y_px, b.t_us, b.polarity):
                h.update(np.ascontiguousarray(arr).tobytes())
        for g in self.gt:
            for oid, o in sorted(g.objects.items()):
                h.update(np.int64(oid).tobytes() + o.box_xyxy.tobytes() + np.float64(o.visibility).tobytes())
        h.update(repr(self.command_schedule).encode())
        return h.hexdigest()

    def gt_dict(self) -> Dict[str, object]:
        """All ground truth, expressions and the schedule as JSON-friendly data."""
        return {
            "name": self.name, "seed": self.seed, "fps": self.fps, "num_frames": self.num_frames,
            "camera": {"fx": self.camera.fx, "fy": self.camera.fy, "cx": self.camera.cx, "cy": self.camera.cy,
                       "width": self.camera.width, "height": self.camera.height, "frame_id": self.camera.frame_id},
            "homographies": {m: np.asarray(h, dtype=np.float64).reshape(-1).tolist()
                             for m, h in self.homographies.items()},
            "stamps_ns": [int(f.stamp_ns) for f in self.frames],
            "conditions": self.conditions,
            "expressions": [e.to_dict() for e in self.expressions],
            "command_schedule": [[int(i), c] for i, c in self.command_schedule],
            "frames": [[o.to_dict() for o in g.objects.values()] for g in self.gt],
        }


def frame_stamp_ns(frame_index: int, fps: float) -> int:
    """Stamp of a frame: BASE_STAMP_NS + index / fps, integer ns."""
    return BASE_STAMP_NS + int(round(frame_index * 1e9 / fps))


def _frame_gt(scene: Scene, t: int, counts) -> FrameGT:
    cfg = scene.config
    W, H = cfg.width, cfg.height
    objs = {}
    for oid, box in scene.image_boxes(float(t)).items():
        visible, inside, total = counts[oid]
        clipped = np.array([max(box[0], 0), max(box[1], 0), min(box[2], W), min(box[3], H)], np.float32)
        in_view = inside > 0
        if not in_view:
            clipped = np.array([np.clip(box[0], 0, W), np.clip(box[1], 0, H),
                                np.clip(box[2], 0, W), np.clip(box[3], 0, H)], np.float32)
        hpos, vpos, _, _ = position_words(box, W, H)
        attrs = dict(scene.object(oid).attrs, hpos=hpos, vpos=vpos)
        objs[oid] = ObjectGT(obj_id=oid, box_xyxy=clipped, visibility=float(visible / max(total, 1)),
                             in_view=bool(in_view), attrs=attrs, full_box_xyxy=box.astype(np.float32))
    return FrameGT(frame_index=t, objects=objs)


def language_view(gt: FrameGT, width: int, height: int):
    """(objects, boxes) of one frame as the language module takes them.

    objects: obj_id -> attrs plus ``in_view`` (in view and > 30 % visible:
    spatial words only name such objects) and ``hpos_ambiguous`` /
    ``vpos_ambiguous``; boxes: obj_id -> (4,) full xyxy box.
    """
    objects, boxes = {}, {}
    for oid, o in gt.objects.items():
        _, _, h_amb, v_amb = position_words(o.full_box_xyxy, width, height)
        objects[oid] = dict(o.attrs, in_view=o.in_view and o.visibility > 0.3, hpos_ambiguous=h_amb,
                            vpos_ambiguous=v_amb)
        boxes[oid] = o.full_box_xyxy
    return objects, boxes


#: old private name (used by train/ and trackers/ modules)
_language_view = language_view


def _schedule(scene: Scene, gts: List[FrameGT], rng: np.random.Generator) -> List[Expression]:
    cfg = scene.config
    F, W, H = cfg.num_frames, cfg.width, cfg.height
    n_seg = cfg.target_switches + 1
    end_all = F - max(F // 10, 1) if cfg.stop_at_end else F
    nominal = [int(round(k * end_all / n_seg)) for k in range(n_seg)]
    window = max(end_all // (4 * n_seg), 1)
    exprs: List[Expression] = []
    used: set = set()
    for k in range(n_seg):
        lo = nominal[k] if k == 0 else max(nominal[k] - window, exprs[-1].start_frame + 2 if exprs else 0)
        candidates = sorted(range(lo, min(nominal[k] + window + 1, end_all - 1)), key=lambda f: abs(f - nominal[k]))
        if k == 0:
            candidates = list(range(0, min(window * 2 + 1, end_all - 1)))
        if cfg.multi_target:
            others = [o.obj_id for o in scene.objects if o.obj_id not in used and o.obj_id != 1]
            seeds = ([1] if k == 0 else []) + others
        else:
            seeds = [scene.target_ids[k]] + [o.obj_id for o in scene.objects
                                             if o.obj_id not in used and o.obj_id != scene.target_ids[k]]
        made = None
        # the planned target first (at any candidate frame), then any other object
        views = {}
        for sid in seeds:
            if sid in used and not cfg.multi_target:
                continue
            for f in candidates:
                o = gts[f].objects[sid]
                if not (o.in_view and o.visibility >= 0.5):
                    continue
                if f not in views:
                    views[f] = language_view(gts[f], W, H)
                objects, boxes = views[f]
                if cfg.multi_target:
                    c, refs, text = describe_multi(sid, objects, boxes, rng)
                    made = Expression(text=text, referent_ids=tuple(refs), multi=True, start_frame=f,
                                      end_frame=end_all, attributes=c)
                else:
                    res = describe_single(sid, objects, boxes, rng, cfg.relation_prob)
                    if res is None:
                        continue
                    c, relation, anchor, anchor_c, text = res
                    made = Expression(text=text, referent_ids=(sid,), multi=False, start_frame=f, end_frame=end_all,
                                      attributes=c, relation=relation, anchor_id=anchor, anchor_attributes=anchor_c)
                break
            if made is not None:
                break
        if made is None:
            continue
        if exprs:
            exprs[-1].end_frame = made.start_frame
        used.update(made.referent_ids)
        exprs.append(made)
    return exprs


def render_clip(config: ClipConfig, seed: int, name: Optional[str] = None) -> Clip:
    """Render one clip; deterministic from (config, seed).

    Cost is roughly linear in frames x pixels: about 10-20 ms per 320x240
    frame with all modalities on one CPU core (see docs/world.md).
    """
    cfg = config.validate()
    seed = int(seed)
    ss = np.random.SeedSequence(seed)
    r_scene, r_lang, r_rgb, r_depth, r_thermal, r_event = (np.random.default_rng(s) for s in ss.spawn(6))
    scene = sample_scene(cfg, r_scene)
    renderer = SceneRenderer(scene)
    W, H, F = cfg.width, cfg.height, cfg.num_frames
    camera = CameraIntrinsics(fx=scene.focal_px, fy=scene.focal_px, cx=W / 2.0, cy=H / 2.0, width=W, height=H)
    mods = set(cfg.modalities)
    want_events = "event" in mods
    column_fpn = r_thermal.normal(0.0, 0.04, size=W).astype(np.float32)
    n_rgb, n_depth, n_thermal = (NoiseSource(r, W * H * k) for r, k in ((r_rgb, 3), (r_depth, 1), (r_thermal, 1)))
    ev_threshold = (cfg.event_threshold * (1.0 + 0.05 * r_event.standard_normal((H, W)))).astype(np.float32)
    ev_threshold = np.maximum(ev_threshold, 0.25 * cfg.event_threshold)
    K = int(cfg.event_substeps)

    frames: List[SensorFrame] = []
    events: List[EventBatch] = []
    gts: List[FrameGT] = []
    sim: Optional[EventSimulator] = None
    prev_log = None
    for i in range(F):
        truth = renderer.truth(float(i), full=True, blur=cfg.motion_blur)
        gts.append(_frame_gt(scene, i, truth.pixel_counts))
        stamp = frame_stamp_ns(i, cfg.fps)
        batch = empty_batch(W, H)
        if want_events:
            lum_truth = truth if cfg.motion_blur <= 0 else renderer.truth(float(i), full=False)
            log_now = log_intensity(luminance(lum_truth.albedo_rgb))
            if sim is None:
                # background activity grows in the dark (leakage dominates the photocurrent)
                noise_hz = cfg.event_noise_hz * (NIGHT_EVENT_NOISE_FACTOR if cfg.lighting == "night" else 1.0)
                sim = EventSimulator(log_now, ev_threshold, noise_hz, r_event)
            else:
                t_prev_us = frame_stamp_ns(i - 1, cfg.fps) / 1e3
                t_now_us = stamp / 1e3
                parts = []
                log_a = prev_log
                for k in range(1, K + 1):
                    if k < K:
                        log_b = log_intensity(luminance(renderer.truth(i - 1 + k / K, full=False).albedo_rgb))
                    else:
                        log_b = log_now
                    ta = t_prev_us + (t_now_us - t_prev_us) * (k - 1) / K
                    tb = t_prev_us + (t_now_us - t_prev_us) * k / K
                    parts.append(sim.segment(log_a, log_b, ta, tb))
                    log_a = log_b
                batch = make_batch(parts, W, H)
            prev_log = log_now
        events.append(batch)
        frames.append(SensorFrame(
            image_rgb=rgb_sensor(truth.albedo_rgb, cfg.lighting, n_rgb, scene.glare_center, scene.night_light),
            stamp_ns=stamp,
            depth_m=depth_sensor(truth.depth_m, n_depth, cfg.depth_range_m) if "depth" in mods else None,
            thermal_k=thermal_sensor(truth.thermal_k, n_thermal, column_fpn) if "thermal" in mods else None,
            event_frame=event_frame(batch, H, W) if want_events else None,
            camera=camera, frame_index=i, frame_id=camera.frame_id))

    expressions = _schedule(scene, gts, r_lang)
    schedule = [(e.start_frame, e.command) for e in expressions]
    if cfg.stop_at_end and expressions:
        schedule.append((expressions[-1].end_frame, "stop"))
    conditions = cfg.conditions()
    if expressions:
        first = gts[expressions[0].start_frame].objects[expressions[0].referent_ids[0]]
        # what the (first) target really is, for breakdowns by size / speed / category
        conditions["target"] = {k: first.attrs[k] for k in ("category", "size", "speed", "motion", "temperature")}
    return Clip(name=name or f"clip_{seed}", fps=float(cfg.fps), camera=camera, frames=frames, events=events,
                gt=gts, expressions=expressions, command_schedule=schedule, conditions=conditions,
                seed=seed, config=cfg, homographies=cfg.homographies())
