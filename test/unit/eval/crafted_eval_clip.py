"""A crafted clip with the ``vl_tracking_ros.data`` clip interface.

A test double of the data layer (beside the real generated suites, which the
other tests use): a bright square moving over a textured background, with a
known command schedule, so runner and metric behaviour can be asserted
exactly without depending on the world generator's choices.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from vl_tracking_ros.core.types import SensorFrame


@dataclass
class ObjectGT:
    obj_id: int
    box_xyxy: np.ndarray
    visibility: float = 1.0
    in_view: bool = True
    attrs: Dict[str, str] = field(default_factory=dict)


@dataclass
class FrameGT:
    frame_index: int
    objects: Dict[int, ObjectGT]


@dataclass
class Expression:
    text: str
    referent_ids: Tuple[int, ...]
    multi: bool
    start_frame: int
    end_frame: int  # exclusive


@dataclass
class CraftedClip:
    name: str
    fps: float
    frames: List[SensorFrame]
    gt: List[FrameGT]
    expressions: List[Expression]
    command_schedule: List[Tuple[int, str]]
    conditions: Dict[str, object]
    camera: object = None
    events: list = field(default_factory=list)

    def active_expression(self, i: int) -> Optional[Expression]:
        for e in self.expressions:
            if e.start_frame <= i < e.end_frame:
                return e
        return None

    def sot_target_box(self, i: int) -> Optional[np.ndarray]:
        e = self.active_expression(i)
        if e is None or e.multi:
            return None
        obj = self.gt[i].objects.get(e.referent_ids[0])
        if obj is None or not obj.in_view or obj.visibility <= 0:
            return None
        return obj.box_xyxy


def crafted_clip(num_frames: int = 40, switch_at: Optional[int] = None, occlude: Tuple[int, int] = (0, 0),
                 multi: bool = False, seed: int = 0) -> CraftedClip:
    """Two squares (ids 1 red, 2 blue) moving right / down over noise.

    switch_at: frame of a second command naming object 2 (single target).
    occlude: (start, end) frames where object 1 is fully occluded (not drawn).
    multi: one "track all squares" command naming both objects.
    """
    rng = np.random.default_rng(seed)
    background = rng.integers(40, 90, size=(120, 160, 3), dtype=np.uint8)
    frames, gt = [], []
    for i in range(num_frames):
        img = background.copy()
        b1 = np.array([10 + 2 * i, 30, 30 + 2 * i, 50], dtype=np.float64)
        b2 = np.array([100, 10 + i, 116, 26 + i], dtype=np.float64)
        hidden = occlude[0] <= i < occlude[1]
        if not hidden:
            img[30:50, 10 + 2 * i:30 + 2 * i] = (230, 30, 30)
        img[10 + i:26 + i, 100:116] = (30, 40, 230)
        frames.append(SensorFrame(image_rgb=img, stamp_ns=int(i * 1e9 / 15), frame_index=i))
        gt.append(FrameGT(i, {1: ObjectGT(1, b1, 0.0 if hidden else 1.0, True, {"color": "red"}),
                              2: ObjectGT(2, b2, 1.0, True, {"color": "blue"})}))
    if multi:
        exprs = [Expression("squares", (1, 2), True, 0, num_frames)]
        schedule = [(0, "track all squares")]
    elif switch_at is None:
        exprs = [Expression("the red square", (1,), False, 0, num_frames)]
        schedule = [(0, "track the red square")]
    else:
        exprs = [Expression("the red square", (1,), False, 0, switch_at),
                 Expression("the blue square", (2,), False, switch_at, num_frames)]
        schedule = [(0, "track the red square"), (switch_at, "track the blue square")]
    return CraftedClip(f"crafted-{'multi' if multi else 'sot'}-{seed}", 15.0, frames, gt, exprs, schedule,
                       {"lighting": "day", "modalities": ["rgb"], "target_size": "medium"})
