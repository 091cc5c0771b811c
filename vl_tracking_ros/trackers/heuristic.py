"""A numpy-only, weight-free, language-aware fallback tracker.

Used when the trained models' weights are missing (the node falls back to
preset ``heuristic``) and as a baseline. It understands a small vocabulary:

* colours -- red, orange, yellow, green, cyan, blue, purple / violet /
  magenta, pink, brown, white, black, grey / gray -- matched as hue /
  saturation / value ranges computed from RGB;
* temperatures -- hot, warm, cold / cool -- and warm-bodied nouns (person,
  people, man, woman, child, dog, cat, animal...) -- matched on the thermal
  image relative to the scene's median when a thermal frame is present;
* motion -- moving, running, walking... -- pixels with event activity when
  an event frame is present;
* selectors for a single target -- left(most), right(most), top, bottom,
  largest / biggest, smallest, nearest / closest, farthest (depth).

Matching pixels are cleaned with a binary opening, split into connected
components (``scipy.ndimage.label``), and boxes of components above a
minimum area become candidates. ``track ...`` keeps the best candidate
(continuity with the previous box first, then the selector, then size);
``track all ...`` keeps every candidate with IDs kept by IoU association
(Hungarian). States: TRACKING when found, RELOCALIZING for up to
``lost_after`` frames without a match (the last box, low confidence), then
LOST. An expression with no known cue word falls back to "colourful"
pixels (high saturation), with a lower confidence.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from ..core.geometry import box_to_point_m, boxes_iou
from ..core.tracker import Tracker
from ..core.types import SensorFrame, TargetQuery, TrackerOutput, TrackResult, TrackState

__all__ = ["HeuristicLanguageTracker", "build", "parse_cues", "ExpressionCues", "rgb_to_hsv"]

# hue ranges in degrees [lo, hi) (wrap-around as two ranges), with min saturation / value
_COLOURS: Dict[str, Tuple[Tuple[Tuple[float, float], ...], float, float, float]] = {
    #         hue ranges                        s_min  v_min  v_max
    "red": (((0.0, 15.0), (340.0, 360.0)), 0.45, 0.25, 1.01),
    "orange": (((15.0, 40.0),), 0.5, 0.45, 1.01),
    "yellow": (((40.0, 70.0),), 0.45, 0.4, 1.01),
    "green": (((70.0, 165.0),), 0.35, 0.2, 1.01),
    "cyan": (((165.0, 200.0),), 0.35, 0.25, 1.01),
    "blue": (((200.0, 260.0),), 0.35, 0.2, 1.01),
    "purple": (((260.0, 320.0),), 0.3, 0.2, 1.01),
    "pink": (((300.0, 350.0),), 0.2, 0.55, 1.01),
    "brown": (((8.0, 40.0),), 0.35, 0.12, 0.6),
}
_ALIASES = {"violet": "purple", "magenta": "purple", "grey": "gray", "crimson": "red", "scarlet": "red",
            "navy": "blue", "teal": "cyan", "lime": "green", "gold": "yellow", "golden": "yellow"}
_ACHROMATIC = ("white", "black", "gray")
_HOT = {"hot", "heated", "burning", "hottest", "warmest"}
_WARM = {"warm", "person", "people", "persons", "man", "men", "woman", "women", "child", "children", "kid",
         "kids", "human", "humans", "pedestrian", "pedestrians", "dog", "dogs", "cat", "cats", "animal", "animals",
         "body", "bodies", "worker", "workers", "walker", "runner"}
_COLD = {"cold", "cool", "cooled", "frozen", "icy", "coldest", "coolest", "chilled"}
_MOVING = {"moving", "running", "walking", "driving", "rolling", "flying", "fast", "motion", "moves", "runs",
           "walks", "crossing", "turning", "circling", "zigzagging", "erratically", "randomly", "speeding",
           "quick", "going", "heading", "rising", "descending"}
_MOTION_VERBS = {"moving", "going", "heading", "driving", "walking", "running", "flying", "rolling", "turning"}
_DIRECTIONS = {"left", "right", "up", "down"}
_SELECTORS = {
    "left": "left", "leftmost": "left", "right": "right", "rightmost": "right", "top": "top",
    "upper": "top", "topmost": "top", "bottom": "bottom", "lower": "bottom", "largest": "largest",
    "biggest": "largest", "big": "largest", "large": "largest", "smallest": "smallest", "small": "smallest",
    "tiny": "smallest", "little": "smallest", "nearest": "nearest", "closest": "nearest", "close": "nearest",
    "farthest": "farthest", "furthest": "farthest", "far": "farthest", "distant": "farthest",
}
#: category nouns -> canonical category
_CATEGORY_WORDS = {
    "person": "person", "people": "person", "pedestrian": "person", "pedestrians": "person", "human": "person",
    "humans": "person", "man": "person", "men": "person", "woman": "person", "women": "person",
    "child": "person", "children": "person", "car": "car", "cars": "car", "vehicle": "car", "vehicles": "car",
    "truck": "car", "trucks": "car", "ball": "ball", "balls": "ball", "box": "box", "boxes": "box",
    "crate": "box", "crates": "box", "drone": "drone", "drones": "drone", "quadcopter": "drone",
    "quadcopters": "drone",
}
#: typical width / height of each category (generic physical priors)
_CATEGORY_ASPECT = {"person": 0.42, "car": 2.2, "ball": 1.0, "box": 1.0, "drone": 2.0}
#: relation phrases (longest first) -> relation of the referent to the anchor
_RELATIONS = (
    (("to", "the", "left", "of"), "left_of"), (("left", "of"), "left_of"),
    (("to", "the", "right", "of"), "right_of"), (("right", "of"), "right_of"),
    (("above",), "above"), (("over",), "above"), (("below",), "below"), (("beneath",), "below"),
    (("under",), "below"), (("underneath",), "below"),
)


@dataclass(frozen=True)
class ExpressionCues:
    """What the heuristic understood from an expression.

    colours: colour words of the referent. temperature: 'hot' / 'warm' /
    'cold' or None. moving: a motion word was used. selector: 'left',
    'right', 'top', 'bottom', 'largest', 'smallest', 'nearest', 'farthest'
    or None. category: 'person', 'car', 'ball', 'box', 'drone' or None.
    relation / anchor: "X left of Y" -> relation 'left_of' and Y's cues.
    """

    colours: Tuple[str, ...] = ()
    temperature: Optional[str] = None   # 'hot', 'warm', 'cold' or None
    moving: bool = False
    selector: Optional[str] = None
    words: Tuple[str, ...] = field(default=())
    category: Optional[str] = None
    relation: Optional[str] = None
    anchor: Optional["ExpressionCues"] = None

    @property
    def empty(self) -> bool:
        return not self.colours and self.temperature is None and not self.moving


def _split_relation(words: Tuple[str, ...]):
    for i in range(len(words)):
        for phrase, relation in _RELATIONS:
            if words[i:i + len(phrase)] == phrase:
                return words[:i], relation, words[i + len(phrase):]
    return words, None, ()


def _parse_words(words: Tuple[str, ...]) -> ExpressionCues:
    colours: List[str] = []
    temperature = None
    moving = False
    selector = None
    category = None
    for i, w in enumerate(words):
        c = _ALIASES.get(w, w)
        if (c in _COLOURS or c in _ACHROMATIC) and c not in colours:
            colours.append(c)
        if w in _HOT:
            temperature = "hot"
        elif w in _COLD and temperature in (None, "warm"):
            temperature = "cold"
        elif w in _WARM and temperature is None:
            temperature = "warm"
        if w in _MOVING:
            moving = True
        if category is None and w in _CATEGORY_WORDS:
            category = _CATEGORY_WORDS[w]
        if w in _SELECTORS and selector is None:
            # "moving left" / "heading to the right" is a motion, not a position
            before = words[max(0, i - 3):i]
            if not (w in _DIRECTIONS and any(b in _MOTION_VERBS for b in before)):
                selector = _SELECTORS[w]
    if {"still", "stationary"} & set(words) or ("not" in words and "moving" in words):
        moving = False
    return ExpressionCues(tuple(colours), temperature, moving, selector, words, category)


def parse_cues(expression: str) -> ExpressionCues:
    """Colour / temperature / motion / selector / category words of an
    expression; "X left of / above / below ... Y" also yields the relation
    and Y's cues (the anchor), and Y's words do not describe X."""
    words = tuple(re.findall(r"[a-z]+", expression.lower()))
    head, relation, rest = _split_relation(words)
    cues = _parse_words(head)
    if relation is not None and rest:
        anchor = _parse_words(rest)
        cues = ExpressionCues(cues.colours, cues.temperature, cues.moving, cues.selector, words, cues.category,
                              relation, anchor)
    else:
        cues = ExpressionCues(cues.colours, cues.temperature, cues.moving, cues.selector, words, cues.category)
    return cues


def rgb_to_hsv(image_rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 RGB -> hue (degrees [0, 360)), saturation [0, 1],
    value [0, 1], each (H, W) float32."""
    scale = np.float32(1.0 / 255.0)
    r = image_rgb[..., 0].astype(np.float32) * scale
    g = image_rgb[..., 1].astype(np.float32) * scale
    b = image_rgb[..., 2].astype(np.float32) * scale
    mx = np.maximum(np.maximum(r, g), b)   # element-wise: far faster than a reduce over a length-3 axis
    mn = np.minimum(np.minimum(r, g), b)
    delta = mx - mn
    safe = np.where(delta > 1e-6, delta, 1.0)
    hue = np.where(mx == r, ((g - b) / safe) % 6.0, np.where(mx == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    hue = np.where(delta > 1e-6, hue * 60.0, 0.0).astype(np.float32)
    sat = np.where(mx > 1e-6, delta / np.where(mx > 1e-6, mx, 1.0), 0.0).astype(np.float32)
    return hue, sat, mx.astype(np.float32)


def _colour_mask(name: str, hue: np.ndarray, sat: np.ndarray, val: np.ndarray) -> np.ndarray:
    if name == "white":
        return (sat < 0.18) & (val > 0.8)
    if name == "black":
        return val < 0.18
    if name == "gray":
        return (sat < 0.15) & (val >= 0.25) & (val <= 0.75)
    ranges, s_min, v_min, v_max = _COLOURS[name]
    in_hue = np.zeros(hue.shape, bool)
    for lo, hi in ranges:
        in_hue |= (hue >= lo) & (hue < hi)
    return in_hue & (sat >= s_min) & (val >= v_min) & (val < v_max)


@dataclass
class _Track:
    track_id: int
    box_xyxy: np.ndarray
    confidence: float
    age: int = 1
    misses: int = 0


class HeuristicLanguageTracker(Tracker):
    """Colour / temperature / motion segmentation tracker (see module doc).

    Tuning parameters:

    max_side: longest image side processed (larger images are subsampled);
        larger finds smaller objects but costs time (~quadratic).
    min_area_frac: smallest component kept, as a fraction of the image
        area; smaller finds smaller / farther objects but admits clutter.
    lost_after: frames without a match before a single target goes from
        RELOCALIZING to LOST (longer remembers through occlusions).
    max_misses: frames a multi-target track survives unmatched (longer keeps
        IDs through short occlusions, shorter forgets faster).
    iou_match: IoU needed to keep an ID (higher = stricter association).
    hot_k / warm_k / cold_k / min_contrast_k: temperature bands in Kelvin
        ("hot" >= hot_k, "warm" in [warm_k, hot_k), "cold" within cold_k)
        and the least difference from the scene median for a pixel to count;
        wider bands find more objects but also more background (the sky is
        far colder than any "cold" object in LWIR, hence the lower bound).
    """

    name = "heuristic"
    supported_modalities = ("rgb", "depth", "thermal", "event")
    multi_target = True

    def __init__(self, max_side: int = 320, min_area_frac: float = 0.0004, lost_after: int = 15,
                 max_misses: int = 5, iou_match: float = 0.2, hot_k: float = 320.0, warm_k: float = 298.0,
                 cold_k: Tuple[float, float] = (255.0, 282.0), min_contrast_k: float = 5.0):
        if max_side < 16 or not 0 < min_area_frac < 1 or lost_after < 0 or max_misses < 0 or not 0 <= iou_match <= 1:
            raise ValueError("HeuristicLanguageTracker: bad parameters (max_side >= 16, 0 < min_area_frac < 1, "
                             "lost_after >= 0, max_misses >= 0, 0 <= iou_match <= 1)")
        self.max_side = int(max_side)
        self.min_area_frac = float(min_area_frac)
        self.lost_after = int(lost_after)
        self.max_misses = int(max_misses)
        self.iou_match = float(iou_match)
        self.hot_k, self.warm_k = float(hot_k), float(warm_k)
        self.cold_k = (float(cold_k[0]), float(cold_k[1]))
        self.min_contrast_k = float(min_contrast_k)
        self._queries: List[TargetQuery] = []
        self._cues: List[ExpressionCues] = []
        self._tracks: List[List[_Track]] = []
        self._next_id = 1

    # ------------------------------------------------------------ contract
    def set_commands(self, queries: Sequence[TargetQuery]) -> None:
        """Replace the queries. A query that was already active keeps its
        tracks (IDs survive "also track ..."); new queries start empty."""
        previous = dict(zip(self._queries, self._tracks))
        self._queries = list(queries)
        self._cues = [parse_cues(q.expression) for q in self._queries]
        self._tracks = [previous.get(q, []) for q in self._queries]

    def clear(self) -> None:
        self.set_commands([])

    # ---------------------------------------------------------- perception
    def _thermal_mask(self, band: Optional[str], thermal: np.ndarray) -> Optional[np.ndarray]:
        """Pixels in a temperature band ('hot' / 'warm' / 'cold'), or any
        object-like temperature (band None: hot, warm or cold), that also
        differ from the scene median by ``min_contrast_k``."""
        valid = np.isfinite(thermal)
        if not valid.any():
            return None
        t = np.where(valid, thermal, 0.0)
        med = float(np.median(thermal[valid]))
        contrast = valid & (np.abs(t - med) >= self.min_contrast_k)
        hot = t >= self.hot_k
        warm = (t >= self.warm_k) & (t < self.hot_k)
        cold = (t >= self.cold_k[0]) & (t <= self.cold_k[1])
        band_mask = {"hot": hot, "warm": warm, "cold": cold}.get(band, hot | warm | cold)
        return contrast & band_mask

    def _mask(self, cues: ExpressionCues, frame: SensorFrame, step: int,
              hsv: Tuple[np.ndarray, np.ndarray, np.ndarray]) -> Tuple[np.ndarray, float, Dict[str, float]]:
        """Boolean mask at the subsampled size, a prior confidence, and the
        modality weights used."""
        hue, sat, val = hsv
        used = {"rgb": 1.0}
        prior = 1.0
        mask = None
        if cues.colours:
            mask = np.zeros(hue.shape, bool)
            for c in cues.colours:
                mask |= _colour_mask(c, hue, sat, val)
        thermal = None
        if frame.thermal_k is not None:
            thermal = frame.thermal_k[::step, ::step][: hue.shape[0], : hue.shape[1]]
        if cues.temperature is not None:
            tm = self._thermal_mask(cues.temperature, thermal) if thermal is not None else None
            if tm is not None:
                mask = tm if mask is None else (mask & tm)
                used["thermal"] = 1.0
            elif mask is None:
                prior = 0.5  # a temperature word without a thermal image: no cue
        if cues.moving and frame.event_frame is not None:
            ev = np.abs(frame.event_frame).sum(axis=2)[::step, ::step][: hue.shape[0], : hue.shape[1]]
            active = ndimage.binary_dilation(ev > 0, iterations=2)
            if active.any() and active.mean() < 0.3:   # whole-image activity (ego-motion) says nothing
                mask = active if mask is None else (mask & active)
                used["event"] = 1.0
        if mask is None:
            # no colour / temperature word: anything object-like -- a thermal
            # anomaly when a thermal image exists, else colourful pixels
            tm = self._thermal_mask(None, thermal) if thermal is not None else None
            if tm is not None and tm.any():
                mask = tm
                used["thermal"] = 1.0
            else:
                mask = (sat >= 0.5) & (val >= 0.3)
            prior = 0.6 if cues.category is not None else 0.4
        total = sum(used.values())
        return mask, prior, {k: v / total for k, v in used.items()}

    def _candidates(self, mask: np.ndarray, step: int, shape_hw: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
        """Components -> (K, 4) float32 boxes in full-image pixels and (K,)
        fill ratios, sorted by area (largest first)."""
        h, w = shape_hw
        if mask.shape[0] >= 8 and mask.shape[1] >= 8:
            mask = ndimage.binary_opening(mask, structure=np.ones((2, 2), bool))
        labels, n = ndimage.label(mask)
        if n == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        areas = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        min_area = max(4.0, self.min_area_frac * mask.size)
        boxes, fills = [], []
        for i, sl in enumerate(ndimage.find_objects(labels)):
            if sl is None or areas[i] < min_area:
                continue
            ys, xs = sl
            bw, bh = xs.stop - xs.start, ys.stop - ys.start
            boxes.append([xs.start * step, ys.start * step, min(xs.stop * step, w), min(ys.stop * step, h)])
            fills.append(areas[i] / float(bw * bh))
        if not boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        b = np.asarray(boxes, np.float32)
        f = np.asarray(fills, np.float32)
        order = np.argsort(-(b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), kind="stable")
        return b[order], f[order]

    @staticmethod
    def _shape_scores(cues: ExpressionCues, boxes: np.ndarray) -> np.ndarray:
        """(K,) in (0, 1]: how well each box's width / height fits the named
        category (1 for every box when no category was named)."""
        if cues.category is None or boxes.shape[0] == 0:
            return np.ones(boxes.shape[0], np.float32)
        w = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
        h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        return np.exp(-1.5 * np.abs(np.log((w / h) / _CATEGORY_ASPECT[cues.category]))).astype(np.float32)

    def _select(self, cues: ExpressionCues, boxes: np.ndarray, frame: SensorFrame,
                scores: Optional[np.ndarray] = None) -> int:
        """Index of the best candidate for a single target (no history):
        the selector (position / size / depth) among candidates whose shape
        fits, else the best shape x size."""
        if scores is None:
            scores = self._shape_scores(cues, boxes)
        good = scores >= 0.5 * scores.max()
        idx = np.flatnonzero(good)
        b = boxes[idx]
        sel = cues.selector
        cx = (b[:, 0] + b[:, 2]) * 0.5
        cy = (b[:, 1] + b[:, 3]) * 0.5
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        if sel == "left":
            return int(idx[np.argmin(cx)])
        if sel == "right":
            return int(idx[np.argmax(cx)])
        if sel == "top":
            return int(idx[np.argmin(cy)])
        if sel == "bottom":
            return int(idx[np.argmax(cy)])
        if sel == "smallest":
            return int(idx[np.argmin(area)])
        if sel == "largest":
            return int(idx[np.argmax(area)])
        if sel in ("nearest", "farthest") and frame.depth_m is not None:
            depth = frame.depth_m
            z = []
            for bb in b.astype(int):
                patch = depth[max(bb[1], 0):max(bb[3], bb[1] + 1), max(bb[0], 0):max(bb[2], bb[0] + 1)]
                v = patch[np.isfinite(patch)]
                z.append(np.median(v) if v.size else np.nan)
            z = np.asarray(z, np.float64)
            if np.isfinite(z).any():
                return int(idx[np.nanargmin(z) if sel == "nearest" else np.nanargmax(z)])
        return int(np.argmax(scores * np.sqrt(np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0))))

    def _relate(self, cues: ExpressionCues, boxes: np.ndarray, frame: SensorFrame, step: int,
                hsv) -> np.ndarray:
        """(K,) bool: candidates standing in ``cues.relation`` to the anchor
        (the best match of the anchor's cues); all True when there is no
        relation, no anchor is found or no candidate satisfies it."""
        keep = np.ones(boxes.shape[0], bool)
        if cues.relation is None or cues.anchor is None or boxes.shape[0] == 0:
            return keep
        amask, _, _ = self._mask(cues.anchor, frame, step, hsv)
        aboxes, _ = self._candidates(amask, step, frame.image_rgb.shape[:2])
        if aboxes.shape[0] == 0:
            return keep
        anchor = aboxes[self._select(cues.anchor, aboxes, frame)]
        rel = cues.relation
        if rel == "left_of":
            ok = boxes[:, 2] <= anchor[0] + 2
        elif rel == "right_of":
            ok = boxes[:, 0] >= anchor[2] - 2
        elif rel == "above":
            ok = boxes[:, 3] <= anchor[1] + 2
        else:
            ok = boxes[:, 1] >= anchor[3] - 2
        ok &= boxes_iou(boxes, anchor[None])[:, 0] < 0.5
        return ok if ok.any() else keep

    # ---------------------------------------------------------------- step
    def step(self, frame: SensorFrame) -> TrackerOutput:
        t0 = time.perf_counter()
        if not self._queries:
            return TrackerOutput(tracks=[], mode="idle", search="global", timings_ms={"total": 0.0})
        img = frame.image_rgb
        h, w = img.shape[:2]
        step = max(1, int(np.ceil(max(h, w) / self.max_side)))
        hsv = rgb_to_hsv(img[::step, ::step])
        t1 = time.perf_counter()
        results: List[TrackResult] = []
        any_multi = False
        searching_global = False
        for qi, (query, cues) in enumerate(zip(self._queries, self._cues)):
            mask, prior, weights = self._mask(cues, frame, step, hsv)
            boxes, fills = self._candidates(mask, step, (h, w))
            if boxes.shape[0]:
                related = self._relate(cues, boxes, frame, step, hsv)
                shape = self._shape_scores(cues, boxes)
                keep = related & (shape >= (0.35 if query.multi else 0.0))
                boxes, fills = boxes[keep], fills[keep] * np.sqrt(shape[keep])
            label = " ".join(cues.colours + ((cues.temperature,) if cues.temperature else ()))
            if query.multi:
                any_multi = True
                results.extend(self._update_multi(qi, query, boxes, fills, prior, weights, label))
            else:
                res = self._update_single(qi, query, cues, boxes, fills, prior, weights, label, frame)
                if res is not None:
                    results.append(res)
                    searching_global |= res.state != TrackState.TRACKING
                else:
                    searching_global = True
        t2 = time.perf_counter()
        if frame.depth_m is not None and frame.camera is not None:
            for r in results:
                if r.state == TrackState.TRACKING:
                    r.position_m = box_to_point_m(r.box_xyxy, frame.depth_m, frame.camera)
        t3 = time.perf_counter()
        mode = "multi" if any_multi else "single"
        return TrackerOutput(tracks=results, mode=mode, search="global" if searching_global else "local",
                             timings_ms={"preprocess": (t1 - t0) * 1e3, "segment": (t2 - t1) * 1e3,
                                         "postprocess": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3})

    def _new_id(self) -> int:
        tid = self._next_id
        self._next_id += 1
        return tid

    def _update_single(self, qi, query, cues, boxes, fills, prior, weights, label, frame) -> Optional[TrackResult]:
        tracks = self._tracks[qi]
        prev = tracks[0] if tracks else None
        if boxes.shape[0]:
            idx = None
            if prev is not None and prev.misses <= self.lost_after:
                iou = boxes_iou(prev.box_xyxy[None], boxes)[0]
                if iou.max() >= self.iou_match:
                    idx = int(np.argmax(iou))
            continuing = idx is not None
            if idx is None:
                idx = self._select(cues, boxes, frame)
            conf = float(np.clip(prior * (0.45 + 0.5 * fills[idx] + (0.05 if continuing else 0.0)), 0.0, 1.0))
            if prev is None:
                prev = _Track(self._new_id(), boxes[idx], conf, age=0)
                tracks.append(prev)
            prev.box_xyxy = boxes[idx].copy()
            prev.confidence = conf
            prev.age += 1
            prev.misses = 0
            return TrackResult(track_id=prev.track_id, box_xyxy=prev.box_xyxy.copy(), confidence=conf,
                               state=TrackState.TRACKING, command=str(query), expression_score=conf,
                               label=label, modality_weights=dict(weights), age=prev.age)
        if prev is None:
            return None
        prev.misses += 1
        prev.age += 1
        state = TrackState.RELOCALIZING if prev.misses <= self.lost_after else TrackState.LOST
        conf = float(prev.confidence * (0.5 ** prev.misses))
        return TrackResult(track_id=prev.track_id, box_xyxy=prev.box_xyxy.copy(), confidence=conf, state=state,
                           command=str(query), expression_score=0.0, label=label,
                           modality_weights=dict(weights), age=prev.age)

    def _update_multi(self, qi, query, boxes, fills, prior, weights, label) -> List[TrackResult]:
        tracks = self._tracks[qi]
        matched_new = set()
        if tracks and boxes.shape[0]:
            iou = boxes_iou(np.stack([t.box_xyxy for t in tracks]), boxes)
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.iou_match:
                    t = tracks[r]
                    t.box_xyxy = boxes[c].copy()
                    t.misses = -1  # marks "matched this frame"
                    t.age += 1
                    t.confidence = float(np.clip(prior * (0.45 + 0.5 * fills[c] + 0.05), 0, 1))
                    matched_new.add(int(c))
        for c in range(boxes.shape[0]):
            if c not in matched_new:
                conf = float(np.clip(prior * (0.45 + 0.5 * fills[c]), 0, 1))
                tracks.append(_Track(self._new_id(), boxes[c].copy(), conf, age=1, misses=-1))
        out: List[TrackResult] = []
        kept: List[_Track] = []
        for t in tracks:
            if t.misses == -1:
                t.misses = 0
                out.append(TrackResult(track_id=t.track_id, box_xyxy=t.box_xyxy.copy(), confidence=t.confidence,
                                       state=TrackState.TRACKING, command=str(query),
                                       expression_score=t.confidence, label=label,
                                       modality_weights=dict(weights), age=t.age))
                kept.append(t)
            else:
                t.misses += 1
                t.age += 1
                if t.misses <= self.max_misses:
                    kept.append(t)
        self._tracks[qi] = kept
        return out


def build(**options: Any) -> HeuristicLanguageTracker:
    """Registry factory (preset ``heuristic``). Accepts the tuning
    parameters of :class:`HeuristicLanguageTracker`; every other option
    (``device``, ``backend``, ``weights_dir``, ``modalities``...) is ignored."""
    known = {"max_side", "min_area_frac", "lost_after", "max_misses", "iou_match", "hot_k", "warm_k", "cold_k",
             "min_contrast_k"}
    return HeuristicLanguageTracker(**{k: v for k, v in options.items() if k in known})
