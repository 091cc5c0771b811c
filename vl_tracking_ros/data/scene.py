"""Procedural scene layout: objects, attributes, trajectories, occluders.

A scene is sampled once per clip from a :class:`ClipConfig` and a seed and is
then evaluated analytically at any (fractional) frame time ``t`` -- the
renderer uses fractional times for motion blur and sub-frame events.

Coordinates: "world" pixels are image pixels when the camera offset is zero;
the image position of anything is ``world - camera_offset(t)``. Moving
objects wrap around a margin outside the view, so a linear mover that leaves
the image on the right re-enters on the left (with the same direction, so its
motion attribute stays true for the whole clip).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

import numpy as np

#: camera height above the flat ground in metres (sets the ground's depth and
#: where people and cars stand in the image)
CAMERA_HEIGHT_M = 1.5
#: categories that stand on the ground (their image row follows their distance)
GROUND_CATEGORIES = ("person", "car")

#: object categories and their physical height in metres (sets depth from pixel size)
CATEGORY_HEIGHT_M = {"person": 1.7, "car": 1.5, "ball": 0.3, "box": 0.6, "drone": 0.35}
#: width / height of each category's bounding box
CATEGORY_ASPECT = {"person": 0.42, "car": 2.2, "ball": 1.0, "box": 1.0, "drone": 2.0}
CATEGORIES = tuple(CATEGORY_HEIGHT_M)

#: named colours (linear-ish RGB in [0, 1])
COLORS: Dict[str, Tuple[float, float, float]] = {
    "red": (0.80, 0.10, 0.10),
    "green": (0.12, 0.62, 0.18),
    "blue": (0.12, 0.25, 0.85),
    "yellow": (0.92, 0.85, 0.12),
    "white": (0.94, 0.94, 0.94),
    "black": (0.07, 0.07, 0.08),
    "orange": (0.95, 0.50, 0.05),
    "purple": (0.52, 0.15, 0.65),
}
TEXTURES = ("plain", "striped", "checkered", "dotted")
TEMPERATURES = ("hot", "warm", "cold")
#: temperature ranges in Kelvin for each temperature word
TEMPERATURE_RANGE_K = {"hot": (335.0, 365.0), "warm": (303.0, 310.0), "cold": (262.0, 276.0)}
MOTIONS = ("still", "left", "right", "up", "down", "turning", "erratic")
SIZES = ("small", "medium", "large")
#: allowed motions / temperatures per category (keeps scenes physically plausible)
CATEGORY_MOTIONS = {
    "person": ("still", "left", "right", "erratic"),
    "car": ("still", "left", "right", "turning"),
    "ball": MOTIONS,
    "box": ("still", "left", "right", "up", "down"),
    "drone": MOTIONS,
}
CATEGORY_TEMPERATURES = {
    "person": ("warm",),
    "car": ("hot", "warm", "cold"),
    "ball": ("warm", "cold", "hot"),
    "box": ("hot", "warm", "cold"),
    "drone": ("hot", "warm", "cold"),
}
LIGHTINGS = ("day", "dusk", "night", "glare")
MODALITIES = ("rgb", "depth", "thermal", "event")


@dataclass
class ClipConfig:
    """Every difficulty knob of one synthetic clip (all values concrete).

    width, height: image size in pixels. Bigger images cost render time
        roughly linearly in pixel count and make "small" objects relatively
        smaller (small stays < 22x22 px).
    fps: frame rate; sets stamps and the time between events.
    num_frames: clip length.
    modalities: subset of ("rgb", "depth", "thermal", "event"); RGB is always
        rendered (the tracker contract needs it) but only listed ones are
        stored on the frames.
    lighting: "day", "dusk", "night" (RGB nearly black + sensor noise) or
        "glare" (a saturating sun blob and streak).
    num_objects: objects with attributes, target(s) included (1..12). More
        objects make referring harder and rendering slightly slower.
    target_size: "small" (< 22x22 px and < 1 % of the image), "medium",
        "large" or "any".
    target_speed: "still", "normal", "fast" or "any".
    target_category: force the first target's category, or None.
    distractor_similarity: [0, 1] probability that each distractor copies
        each attribute of the first target; higher means longer expressions
        are needed and trackers confuse look-alikes more.
    occlusion: "none", "partial" (a band hides about half the target) or
        "full" (the target is hidden entirely for ``occlusion_frames``).
    occlusion_frames: frames of full occlusion (also the length of partial).
    leave_reenter: the first target leaves the view and re-enters.
    scale_change: maximum relative change of object height over the clip
        (0.3 = +-30 %); small objects stay small.
    ego_motion: camera pan amplitude in pixels (0 = static camera).
    motion_blur: exposure as a fraction of the frame time (0 = none).
    target_switches: number of times the command switches to another object.
    multi_target: commands are "track all ..." expressions.
    relation_prob: probability of a relational expression ("the person left
        of the blue box") when one exists.
    stop_at_end: append a "stop" command for the last 10 % of the frames.
    event_threshold: log-intensity contrast threshold C of the event sensor;
        lower means more events (more detail, more data, more noise).
    event_noise_hz: background-activity noise events per pixel per second.
    depth_range_m: (min, max) valid depth; outside -> NaN.
    event_substeps: rendered instants per frame interval for the event
        simulator; more follow fast motion better and cost a render each.
    x_homographies: ((modality, 9 numbers row-major), ...) for depth /
        thermal / event sensors that are NOT pixel-aligned to RGB: the 3x3
        homography maps a pixel of that sensor to the RGB image (the
        convention of ``core.align``). Frames stay aligned to RGB; the bag
        carries the sensors' own pixel grids (``Clip.sensor_image``).
    """

    width: int = 320
    height: int = 240
    fps: float = 30.0
    num_frames: int = 60
    modalities: Tuple[str, ...] = MODALITIES
    lighting: str = "day"
    num_objects: int = 4
    target_size: str = "medium"
    target_speed: str = "normal"
    target_category: Optional[str] = None
    distractor_similarity: float = 0.5
    occlusion: str = "none"
    occlusion_frames: int = 15
    leave_reenter: bool = False
    scale_change: float = 0.0
    ego_motion: float = 0.0
    motion_blur: float = 0.0
    target_switches: int = 0
    multi_target: bool = False
    relation_prob: float = 0.25
    stop_at_end: bool = False
    event_threshold: float = 0.2
    event_noise_hz: float = 0.2
    depth_range_m: Tuple[float, float] = (0.3, 20.0)
    event_substeps: int = 2
    x_homographies: Tuple[Tuple[str, Tuple[float, ...]], ...] = ()

    def validate(self) -> "ClipConfig":
        """Raise ValueError naming the first bad knob; returns self."""
        if not (32 <= self.width <= 4096 and 32 <= self.height <= 4096):
            raise ValueError(f"ClipConfig: width/height must be in 32..4096, got {self.width}x{self.height}")
        if self.num_frames < 2:
            raise ValueError(f"ClipConfig: num_frames must be >= 2, got {self.num_frames}")
        if not self.fps > 0:
            raise ValueError(f"ClipConfig: fps must be > 0, got {self.fps}")
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad:
            raise ValueError(f"ClipConfig: unknown modalities {bad}; valid: {', '.join(MODALITIES)}")
        checks = [("lighting", self.lighting, LIGHTINGS), ("target_size", self.target_size, SIZES + ("any",)),
                  ("target_speed", self.target_speed, ("still", "normal", "fast", "any")),
                  ("occlusion", self.occlusion, ("none", "partial", "full"))]
        for name, value, valid in checks:
            if value not in valid:
                raise ValueError(f"ClipConfig: {name}={value!r} is not one of {', '.join(valid)}")
        if self.target_category is not None and self.target_category not in CATEGORIES:
            raise ValueError(f"ClipConfig: target_category={self.target_category!r}; valid: {', '.join(CATEGORIES)}")
        needed = (self.target_switches + 1) * (2 if self.multi_target else 1)
        if not (1 <= self.num_objects <= 12) or self.num_objects < needed:
            raise ValueError(f"ClipConfig: num_objects={self.num_objects} must be in 1..12 and >= {needed} "
                             f"for {self.target_switches} switches (multi_target={self.multi_target})")
        if not 0.0 <= self.distractor_similarity <= 1.0:
            raise ValueError(f"ClipConfig: distractor_similarity must be in [0, 1], got {self.distractor_similarity}")
        if self.event_threshold <= 0 or self.event_substeps < 1:
            raise ValueError("ClipConfig: event_threshold must be > 0 and event_substeps >= 1")
        for item in self.x_homographies:
            if len(item) != 2 or item[0] not in ("depth", "thermal", "event") or len(tuple(item[1])) != 9:
                raise ValueError(f"ClipConfig: x_homographies entries must be (depth|thermal|event, 9 numbers), "
                                 f"got {item!r}")
            h = np.asarray(item[1], dtype=np.float64).reshape(3, 3)
            if not np.all(np.isfinite(h)) or abs(np.linalg.det(h)) < 1e-9:
                raise ValueError(f"ClipConfig: homography for {item[0]} is not finite and invertible: {item[1]!r}")
        return self

    def homographies(self) -> Dict[str, np.ndarray]:
        """modality -> (3, 3) float64 sensor-pixel -> RGB-pixel homography."""
        return {m: np.asarray(v, dtype=np.float64).reshape(3, 3) for m, v in self.x_homographies}

    def with_(self, **changes) -> "ClipConfig":
        """A copy with some knobs changed."""
        return replace(self, **changes)

    def conditions(self) -> Dict[str, object]:
        """The knobs evaluation breaks results down by (JSON-friendly)."""
        return {
            "lighting": self.lighting, "target_size": self.target_size, "target_speed": self.target_speed,
            "num_objects": self.num_objects, "distractors": self.num_objects - 1,
            "distractor_similarity": self.distractor_similarity, "occlusion": self.occlusion,
            "leave_reenter": self.leave_reenter, "scale_change": self.scale_change,
            "ego_motion": self.ego_motion, "motion_blur": self.motion_blur,
            "target_switches": self.target_switches, "multi_target": self.multi_target,
            "modalities": list(self.modalities), "resolution": [self.width, self.height],
            "fps": self.fps, "num_frames": self.num_frames,
            "aligned": not self.x_homographies,
        }


@dataclass
class SceneObject:
    """One object with attributes and an analytic trajectory.

    attrs: category, color, size, texture, temperature, motion, speed.
    height_px0: bounding-box height in pixels at t = 0.
    temperature_k: surface temperature in Kelvin.
    """

    obj_id: int
    attrs: Dict[str, str]
    height_px0: float
    aspect: float
    color_rgb: np.ndarray
    temperature_k: float
    p0: np.ndarray                     # (2,) world centre at t=0, px
    velocity: np.ndarray               # (2,) px / frame (linear, erratic drift)
    turn_center: np.ndarray = field(default_factory=lambda: np.zeros(2))
    turn_radius: float = 0.0
    turn_omega: float = 0.0            # rad / frame
    turn_phase: float = 0.0
    wobble_amp: np.ndarray = field(default_factory=lambda: np.zeros((3, 2)))   # erratic sinusoids
    wobble_omega: np.ndarray = field(default_factory=lambda: np.zeros(3))
    wobble_phase: np.ndarray = field(default_factory=lambda: np.zeros((3, 2)))
    scale_rate: float = 0.0            # relative height change per frame
    wrap: bool = True
    depth_bias_m: float = 0.0
    ground_horizon_y: Optional[float] = None   # world row of the horizon for objects standing on the ground
    turn_depth_amp: float = 0.0                # relative height swing of an object circling on the ground

    def center(self, t: np.ndarray, wrap_box: Tuple[float, float, float, float]) -> np.ndarray:
        """(T, 2) world centre at frame times ``t`` (T,)."""
        t = np.asarray(t, dtype=np.float64).reshape(-1, 1)
        motion = self.attrs["motion"]
        if motion == "turning":
            ang = self.turn_omega * t[:, 0] + self.turn_phase
            pos = self.turn_center + self.turn_radius * np.stack([np.cos(ang), 0.6 * np.sin(ang)], axis=1)
            if self.ground_horizon_y is not None:       # a circle on the ground: depth, hence row, varies
                h = self.height_px(t[:, 0])
                size_m = CATEGORY_HEIGHT_M[self.attrs["category"]]
                pos[:, 1] = self.ground_horizon_y + CAMERA_HEIGHT_M * h / size_m - h / 2
            return pos
        pos = self.p0 + self.velocity * t
        if motion == "erratic":
            for k in range(self.wobble_omega.shape[0]):
                pos = pos + self.wobble_amp[k] * np.sin(self.wobble_omega[k] * t + self.wobble_phase[k])
        if self.wrap and motion in ("left", "right", "up", "down"):
            x0, y0, x1, y1 = wrap_box
            pos = pos.copy()
            pos[:, 0] = x0 + np.mod(pos[:, 0] - x0, x1 - x0)
            pos[:, 1] = y0 + np.mod(pos[:, 1] - y0, y1 - y0)
        if self.ground_horizon_y is not None:
            # feet on a flat ground: bottom row = horizon + camera height * f / z, and
            # f / z = height_px / size_m, so nearer (bigger) objects stand lower
            h = self.height_px(t[:, 0])
            size_m = CATEGORY_HEIGHT_M[self.attrs["category"]]
            pos = pos.copy()
            pos[:, 1] = pos[:, 1] - self.p0[1] + self.ground_horizon_y + CAMERA_HEIGHT_M * h / size_m - h / 2
        return pos

    def height_px(self, t: np.ndarray) -> np.ndarray:
        """(T,) box height in pixels at frame times t."""
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        h = self.height_px0 * np.clip(1.0 + self.scale_rate * t, 0.2, 5.0)
        if self.turn_depth_amp:
            # circling on the ground: nearer (bigger) on one side of the circle, farther on the other
            h = h * (1.0 + self.turn_depth_amp * np.sin(self.turn_omega * t + self.turn_phase))
        return h

    def depth_m(self, t: np.ndarray, focal_px: float) -> np.ndarray:
        """(T,) distance in metres implied by the physical size and pixel height."""
        size_m = CATEGORY_HEIGHT_M[self.attrs["category"]]
        return focal_px * size_m / self.height_px(t) + self.depth_bias_m


@dataclass
class Occluder:
    """An unlabelled rectangle (wall, pillar, passing panel) in front of a target.

    rect0_xyxy: world rectangle at t = 0; it moves with ``velocity`` px/frame.
    """

    rect0_xyxy: np.ndarray
    velocity: np.ndarray
    depth_m: float
    color_rgb: np.ndarray
    temperature_k: float

    def rect(self, t: float) -> np.ndarray:
        return self.rect0_xyxy + np.tile(self.velocity * t, 2)


@dataclass
class Scene:
    """Everything needed to render a clip (sampled by :func:`sample_scene`)."""

    config: ClipConfig
    focal_px: float
    objects: List[SceneObject]
    occluders: List[Occluder]
    target_ids: List[int]              # the objects commanded, in command order (single-target clips)
    wrap_box: Tuple[float, float, float, float]
    cam_amp: np.ndarray                # (2,) px
    cam_omega: float
    cam_phase: np.ndarray              # (2,)
    background_seed: int
    glare_center: np.ndarray           # (2,) px in image
    night_light: float
    horizon_y: float = 0.0             # world row of the horizon

    def camera_offset(self, t: np.ndarray) -> np.ndarray:
        """(T, 2) camera pan offset in pixels at frame times t."""
        t = np.asarray(t, dtype=np.float64).reshape(-1, 1)
        return self.cam_amp * np.sin(self.cam_omega * t + self.cam_phase)

    def object(self, obj_id: int) -> SceneObject:
        for obj in self.objects:
            if obj.obj_id == obj_id:
                return obj
        raise KeyError(obj_id)

    def image_boxes(self, t: float) -> Dict[int, np.ndarray]:
        """obj_id -> (4,) float64 full (unclipped) xyxy box in the image at time t."""
        cam = self.camera_offset(np.array([t]))[0]
        out = {}
        for obj in self.objects:
            c = obj.center(np.array([t]), self.wrap_box)[0] - cam
            h = obj.height_px(np.array([t]))[0]
            w = h * obj.aspect
            out[obj.obj_id] = np.array([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2])
        return out


# ------------------------------------------------------------------ sampling
def _size_range(size: str, width: int) -> Tuple[float, float]:
    """Range of an object's longest box side in pixels for a size word."""
    k = width / 320.0
    if size == "small":
        return 9.0, 20.0          # < 22 px whatever the resolution
    if size == "medium":
        return 28.0 * k, 46.0 * k
    return 58.0 * k, 92.0 * k


def _speed_value(speed: str, rng: np.random.Generator, width: int) -> float:
    k = width / 320.0
    if speed == "still":
        return 0.0
    if speed == "fast":
        return float(rng.uniform(4.0, 6.5)) * k
    return float(rng.uniform(0.8, 2.2)) * k


#: speed (px per frame at 320 px width) at or above which an object is "fast"
FAST_SPEED_PX = 3.5


def _sample_attrs(rng: np.random.Generator, category: Optional[str] = None) -> Dict[str, str]:
    cat = category or str(rng.choice(CATEGORIES))
    motion = str(rng.choice(CATEGORY_MOTIONS[cat]))
    return {
        "category": cat,
        "color": str(rng.choice(list(COLORS))),
        "size": str(rng.choice(SIZES, p=[0.25, 0.45, 0.30])),
        "texture": str(rng.choice(TEXTURES, p=[0.4, 0.2, 0.2, 0.2])),
        "temperature": str(rng.choice(CATEGORY_TEMPERATURES[cat])),
        "motion": motion,
        "speed": "none" if motion == "still" else str(rng.choice(["slow", "fast"], p=[0.75, 0.25])),
    }


_ATTR_KEYS = ("category", "color", "size", "texture", "temperature", "motion", "speed")


def _fix_attrs(attrs: Dict[str, str]) -> Dict[str, str]:
    """Make copied attributes consistent with the category."""
    cat = attrs["category"]
    if attrs["motion"] not in CATEGORY_MOTIONS[cat]:
        attrs["motion"] = "still"
    if attrs["temperature"] not in CATEGORY_TEMPERATURES[cat]:
        attrs["temperature"] = CATEGORY_TEMPERATURES[cat][0]
    if attrs["motion"] == "still":
        attrs["speed"] = "none"
    elif attrs["speed"] == "none":
        attrs["speed"] = "slow"
    return attrs


def _distinguish(attrs: Dict[str, str], others: List[Dict[str, str]], rng: np.random.Generator) -> Dict[str, str]:
    """Change attributes until ``attrs`` differs from every dict in ``others``
    on at least one of colour / size / texture / temperature / motion / category."""
    for _ in range(50):
        clash = [o for o in others if all(o[k] == attrs[k] for k in _ATTR_KEYS)]
        if not clash:
            return attrs
        key = str(rng.choice(["color", "size", "texture", "motion", "category"]))
        if key == "color":
            attrs["color"] = str(rng.choice([c for c in COLORS if c != attrs["color"]]))
        elif key == "size":
            attrs["size"] = str(rng.choice([s for s in SIZES if s != attrs["size"]]))
        elif key == "texture":
            attrs["texture"] = str(rng.choice([t for t in TEXTURES if t != attrs["texture"]]))
        elif key == "motion":
            attrs["motion"] = str(rng.choice(CATEGORY_MOTIONS[attrs["category"]]))
        else:
            attrs["category"] = str(rng.choice([c for c in CATEGORIES if c != attrs["category"]]))
        _fix_attrs(attrs)
    return attrs


def _build_object(obj_id: int, attrs: Dict[str, str], cfg: ClipConfig, rng: np.random.Generator,
                  margin: float, is_target: bool, horizon_y: float) -> SceneObject:
    W, H, F = cfg.width, cfg.height, cfg.num_frames
    aspect = CATEGORY_ASPECT[attrs["category"]]
    lo, hi = _size_range(attrs["size"], W)
    longest = float(rng.uniform(lo, hi))
    height = longest / max(aspect, 1.0)
    if attrs["size"] == "small":          # keep area < 1 % of the image as well
        max_area = 0.009 * W * H
        height = min(height, float(np.sqrt(max_area / aspect)))
    speed_word = attrs["speed"]
    speed = _speed_value("still" if speed_word == "none" else ("fast" if speed_word == "fast" else "normal"), rng, W)
    motion = attrs["motion"]
    direction = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}.get(motion, (0, 0))
    w = height * aspect
    obj = SceneObject(obj_id=obj_id, attrs=attrs, height_px0=height, aspect=aspect,
                      color_rgb=np.array(COLORS[attrs["color"]]),
                      temperature_k=float(rng.uniform(*TEMPERATURE_RANGE_K[attrs["temperature"]])),
                      p0=np.array([rng.uniform(w / 2 + 2, W - w / 2 - 2), rng.uniform(H * 0.25, H - height / 2 - 2)]),
                      velocity=np.array(direction, dtype=np.float64) * speed)
    if motion in ("left", "right", "up", "down") and is_target and not cfg.leave_reenter:
        # keep the target in view: limit travel to the free span, start on the far side
        axis = 0 if direction[0] else 1
        span = (W - w - 6) if axis == 0 else (H - height - 6)
        extent = w if axis == 0 else height
        limit = max(span / max(F - 1, 1), 0.0)
        if speed > limit:
            speed = limit
            obj.velocity = np.array(direction, dtype=np.float64) * speed
            if speed < FAST_SPEED_PX * W / 320.0 and attrs["speed"] == "fast":
                attrs["speed"] = "slow"
        travel = speed * (F - 1)
        size_axis = W if axis == 0 else H
        lo_c = extent / 2 + 3
        hi_c = size_axis - extent / 2 - 3 - travel
        start = float(rng.uniform(lo_c, max(hi_c, lo_c)))
        sign = direction[axis]
        obj.p0[axis] = start if sign > 0 else size_axis - start
    elif motion in ("left", "right") and is_target and cfg.leave_reenter:
        # make sure it leaves early enough to come back within the clip
        out_span = W + 2 * margin
        need = 0.35 * W + out_span
        speed = max(speed, need / max(F - 1, 1))
        obj.velocity = np.array(direction, dtype=np.float64) * speed
        if speed >= FAST_SPEED_PX * W / 320.0:
            attrs["speed"] = "fast"
        obj.p0[0] = W * 0.6 if direction[0] > 0 else W * 0.4
    elif motion == "turning":
        radius = float(rng.uniform(0.12, 0.25)) * W
        # path speed 2*pi*r/period: normal <= 2.5, fast >= 4 px/frame (at 320 px width), like linear movers
        k = W / 320.0
        if speed_word == "fast":
            period = min(float(rng.uniform(18, 30)), 2 * np.pi * radius / (4.0 * k))
        else:
            period = max(float(rng.uniform(40, 90)), 2 * np.pi * radius / (2.5 * k))
        obj.turn_radius = radius
        obj.turn_omega = float(rng.choice([-1, 1])) * 2 * np.pi / period
        obj.turn_phase = float(rng.uniform(0, 2 * np.pi))
        obj.turn_center = np.array([rng.uniform(radius + w / 2, W - radius - w / 2) if W > 2 * radius + w else W / 2,
                                    rng.uniform(0.6 * radius + height / 2, H - 0.6 * radius - height / 2)
                                    if H > 1.2 * radius + height else H / 2])
    elif motion == "erratic":
        amp = (0.05 if speed_word != "fast" else 0.09) * W
        obj.wobble_amp = rng.uniform(0.3, 1.0, size=(3, 2)) * amp / 2
        obj.wobble_omega = rng.uniform(0.15, 0.6, size=3) * (2.0 if speed_word == "fast" else 1.0)
        obj.wobble_phase = rng.uniform(0, 2 * np.pi, size=(3, 2))
        obj.p0 = np.array([rng.uniform(0.25 * W, 0.75 * W), rng.uniform(0.3 * H, 0.75 * H)])
        obj.velocity = np.zeros(2)
    if attrs["category"] in GROUND_CATEGORIES and motion == "turning":
        obj.ground_horizon_y = horizon_y
        obj.turn_depth_amp = 0.2
    if attrs["category"] in GROUND_CATEGORIES and motion in ("still", "left", "right", "erratic"):
        obj.ground_horizon_y = horizon_y
        if motion == "erratic":
            obj.wobble_amp[:, 1] *= 0.0           # walking about, not flying: only the x wobble stays
        # p0[1] is the row the ground puts it on at t = 0 (center() keeps the rest of the y motion relative)
        bottom = horizon_y + CAMERA_HEIGHT_M * height / CATEGORY_HEIGHT_M[attrs["category"]]
        obj.p0[1] = bottom - height / 2
    if cfg.scale_change > 0 and motion != "turning":
        rate = float(rng.uniform(0.5, 1.0)) * cfg.scale_change / max(F - 1, 1) * float(rng.choice([-1, 1]))
        if attrs["size"] == "small":      # stay below the small-object limits
            lo_h, hi_h = 0.7 * height, min(20.0 / max(aspect, 1.0), np.sqrt(0.009 * W * H / aspect))
            end = np.clip(height * (1 + rate * (F - 1)), lo_h, hi_h)
            rate = (end / height - 1) / max(F - 1, 1)
        obj.scale_rate = rate
    return obj


def sample_scene(cfg: ClipConfig, rng: np.random.Generator) -> Scene:
    """Sample objects, targets, trajectories and occluders for ``cfg``."""
    cfg.validate()
    W, H, F = cfg.width, cfg.height, cfg.num_frames
    focal = 0.9 * W
    ego = float(cfg.ego_motion)
    margin = 0.3 * W + ego
    wrap_box = (-margin, -margin, W + margin, H + margin)

    # first target
    n_targets = cfg.target_switches + 1
    attrs0 = _sample_attrs(rng, cfg.target_category)
    if cfg.target_size != "any":
        attrs0["size"] = cfg.target_size
    if cfg.target_speed == "still":
        attrs0["motion"], attrs0["speed"] = "still", "none"
    elif cfg.target_speed in ("normal", "fast"):
        if attrs0["motion"] == "still":
            attrs0["motion"] = str(rng.choice([m for m in CATEGORY_MOTIONS[attrs0["category"]] if m != "still"]))
        attrs0["speed"] = "fast" if cfg.target_speed == "fast" else "slow"
    if cfg.leave_reenter:
        attrs0["motion"] = str(rng.choice(["left", "right"]))
        if attrs0["speed"] == "none":
            attrs0["speed"] = "slow"
    all_attrs: List[Dict[str, str]] = [_fix_attrs(attrs0)]

    for i in range(1, cfg.num_objects):
        attrs = _sample_attrs(rng)
        if rng.random() < cfg.distractor_similarity or cfg.multi_target:
            for key in ("category", "color", "size", "texture", "temperature", "motion"):
                if rng.random() < max(cfg.distractor_similarity, 0.5 if cfg.multi_target else 0.0):
                    attrs[key] = attrs0[key]
        attrs = _fix_attrs(attrs)
        if not cfg.multi_target:
            # every object differs from every (earlier) target in some attribute
            attrs = _distinguish(attrs, all_attrs[:min(i, n_targets)], rng)
        all_attrs.append(attrs)

    horizon_y = float(rng.uniform(0.28, 0.42)) * H
    objects = [_build_object(i + 1, a, cfg, rng, margin, is_target=(i == 0 or (i < n_targets and not cfg.multi_target)),
                             horizon_y=horizon_y)
               for i, a in enumerate(all_attrs)]
    target_ids = [1] + ([i + 1 for i in range(1, n_targets)] if not cfg.multi_target else [])
    _clear_start(objects, target_ids if not cfg.multi_target else [1], wrap_box, cfg, rng)
    # No depth trick keeps the target in front: a target that is always the
    # nearest object would teach a depth-aware tracker a shortcut. Distractors
    # may pass in front of it; the ground truth's visibility says so.

    scene = Scene(config=cfg, focal_px=focal, objects=objects, occluders=[], target_ids=target_ids,
                  wrap_box=wrap_box, cam_amp=np.array([ego, 0.3 * ego]) * (1.0 if ego > 0 else 0.0),
                  cam_omega=2 * np.pi / max(F * float(rng.uniform(0.7, 1.3)), 1.0),
                  cam_phase=rng.uniform(0, 2 * np.pi, size=2), background_seed=int(rng.integers(2**31)),
                  glare_center=np.array([rng.uniform(0.2, 0.8) * W, rng.uniform(0.05, 0.35) * H]),
                  night_light=float(rng.uniform(0.04, 0.08)), horizon_y=horizon_y)
    if cfg.occlusion != "none":
        scene.occluders.append(_make_occluder(scene, objects[0], rng))
    return scene


def _box_at(obj: SceneObject, t: float, wrap_box) -> np.ndarray:
    c = obj.center(np.array([t]), wrap_box)[0]
    h = float(obj.height_px(np.array([t]))[0])
    w = h * obj.aspect
    return np.array([c[0] - w / 2, c[1] - h / 2, c[0] + w / 2, c[1] + h / 2])


def _covered_fraction(target: np.ndarray, other: np.ndarray) -> float:
    iw = max(0.0, min(target[2], other[2]) - max(target[0], other[0]))
    ih = max(0.0, min(target[3], other[3]) - max(target[1], other[1]))
    return iw * ih / max((target[2] - target[0]) * (target[3] - target[1]), 1e-6)


def _clear_start(objects: List[SceneObject], target_ids: List[int], wrap_box, cfg: ClipConfig,
                 rng: np.random.Generator) -> None:
    """Move other objects sideways so none covers more than 30 % of the first
    target's box at t = 0 (the command must be answerable when it is given);
    crossings later in the clip stay."""
    first = next(o for o in objects if o.obj_id == target_ids[0])
    tbox = _box_at(first, 0.0, wrap_box)
    for obj in objects:
        if obj is first:
            continue
        for _ in range(12):
            if _covered_fraction(tbox, _box_at(obj, 0.0, wrap_box)) <= 0.3:
                break
            dx = float(rng.uniform(0.15, 0.45)) * cfg.width * float(rng.choice([-1, 1]))
            if obj.attrs["motion"] == "turning":
                obj.turn_center = obj.turn_center + np.array([dx, 0.0])
            else:
                obj.p0 = obj.p0 + np.array([dx, 0.0])
                obj.p0[0] = float(np.clip(obj.p0[0], 0.0, cfg.width))


def _make_occluder(scene: Scene, target: SceneObject, rng: np.random.Generator) -> Occluder:
    """An occluder that hides the target fully (or its lower half) for the window."""
    cfg = scene.config
    F = cfg.num_frames
    n = int(min(cfg.occlusion_frames, max(F // 3, 2)))
    f0 = int(rng.integers(max(F // 4, 1), max(F - n - F // 6, F // 4 + 2)))
    ts = np.arange(f0, f0 + n, dtype=np.float64)
    centers = target.center(ts, scene.wrap_box)
    heights = target.height_px(ts)
    w_target = float(np.max(heights) * target.aspect)
    # the target must cross the occluder's edge quickly (short partial ramps):
    # relative horizontal speed >= max(1.5 px/frame, a fifth of its width)
    rel_needed = max(1.5 * cfg.width / 320.0, w_target / 5.0)
    vx = (centers[-1, 0] - centers[0, 0]) / max(n - 1, 1)
    v_occ = np.zeros(2)
    if abs(vx) < rel_needed:
        direction = float(np.sign(vx)) if vx != 0 else float(rng.choice([-1, 1]))
        v_occ = np.array([vx - direction * rel_needed * float(rng.uniform(1.0, 1.4)), 0.0])
    rel = centers - v_occ * ts[:, None]
    w = heights * target.aspect
    pad = 1.0
    x0 = np.min(rel[:, 0] - w / 2) - pad
    x1 = np.max(rel[:, 0] + w / 2) + pad
    y0 = np.min(rel[:, 1] - heights / 2) - pad
    y1 = np.max(rel[:, 1] + heights / 2) + pad
    if cfg.occlusion == "partial":
        y0 = np.max(rel[:, 1])              # hide the lower half only
    z_target = float(np.min(target.depth_m(ts, scene.focal_px)))
    shade = float(rng.uniform(0.3, 0.6))
    return Occluder(rect0_xyxy=np.array([x0, y0, x1, y1]), velocity=v_occ, depth_m=max(0.35, 0.6 * z_target),
                    color_rgb=np.array([shade, shade * 0.95, shade * 0.85]), temperature_k=float(rng.uniform(286, 292)))
