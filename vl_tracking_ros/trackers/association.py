"""Online multi-object association for OneTrack-M detections (numpy + scipy).

OneTrack-M (arXiv 2502.04478, §3.3-3.4) predicts, for every frame, object
centres (heatmap peaks), box dimensions and the *displacement of each object
to the previous frame*. Tracking is then post-processing: peaks are matched to
existing trajectories by the Hungarian algorithm on the distance between each
detection's displacement-predicted previous position and the trajectory's
last position. This module implements that step plus the track life cycle the
issue asks for:

* **birth**: an unmatched detection with ``score >= birth_score`` starts a
  *tentative* track;
* **confirmation**: a tentative track matched ``confirm_hits`` frames in a row
  becomes *confirmed* (only confirmed tracks are reported); a tentative track
  that misses a frame is dropped;
* **lost buffer**: a confirmed track that misses a frame is *lost*; it stays in
  the buffer for ``max_lost_frames`` frames, then it is deleted;
* **re-identification**: detections left unmatched by the motion step are
  matched to lost tracks by appearance-embedding cosine similarity (gated by a
  motion radius that grows with the gap), which revives the old ID;
* **low-score second pass** (optional, the BYTE idea of ByteTrack, Zhang et
  al., ECCV 2022): peaks below the detection threshold -- typically a partly
  hidden object -- never start a track, but after the motion step they are
  matched, by motion alone, to the tracks that were seen last frame and are
  still unmatched, so an object that fades behind another keeps its track
  (and its ID) instead of being dropped and reborn.

IDs come from a counter owned by the :class:`Associator` instance (never a
global), starting at 1.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment


class AssociationInputError(ValueError):
    """Detections passed to :meth:`Associator.update` are malformed."""


class TrackStatus(enum.IntEnum):
    TENTATIVE = 0
    CONFIRMED = 1
    LOST = 2


@dataclass
class Detections:
    """Detections of one frame (parallel arrays, N rows).

    boxes_xyxy: (N, 4) float32 pixels.
    scores: (N,) float32 heatmap peak values in [0, 1].
    prev_centers_xy: (N, 2) float32 pixels -- where the displacement head says
        each object's centre was in the previous frame.
    embeddings: (N, D) float32 appearance embeddings (any scale; normalised
        here), or None (re-identification is then motion-only).
    """

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    prev_centers_xy: np.ndarray
    embeddings: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.boxes_xyxy = np.asarray(self.boxes_xyxy, dtype=np.float32).reshape(-1, 4)
        n = self.boxes_xyxy.shape[0]
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.prev_centers_xy = np.asarray(self.prev_centers_xy, dtype=np.float32).reshape(-1, 2)
        if self.scores.shape[0] != n or self.prev_centers_xy.shape[0] != n:
            raise AssociationInputError(
                f"detections disagree in length: boxes {n}, scores {self.scores.shape[0]}, "
                f"prev_centers {self.prev_centers_xy.shape[0]}")
        if self.embeddings is not None:
            emb = np.asarray(self.embeddings, dtype=np.float32)
            if emb.ndim != 2 or emb.shape[0] != n:
                raise AssociationInputError(f"embeddings must be (N={n}, D), got {emb.shape}")
            norm = np.linalg.norm(emb, axis=1, keepdims=True)
            self.embeddings = emb / np.maximum(norm, 1e-6)
        if not (np.all(np.isfinite(self.boxes_xyxy)) and np.all(np.isfinite(self.scores))
                and np.all(np.isfinite(self.prev_centers_xy))):
            raise AssociationInputError("detections contain NaN or inf")

    def __len__(self) -> int:
        return int(self.boxes_xyxy.shape[0])

    @property
    def centers_xy(self) -> np.ndarray:
        """(N, 2) float32 box centres in pixels."""
        b = self.boxes_xyxy
        return np.stack([(b[:, 0] + b[:, 2]) * 0.5, (b[:, 1] + b[:, 3]) * 0.5], axis=1)


@dataclass
class Track:
    """One trajectory owned by an :class:`Associator`.

    box_xyxy: (4,) float32 last matched box (pixels).
    velocity_xy: (2,) float32 pixels/frame, EMA of centre motion.
    embedding: (D,) float32 unit-norm appearance (EMA), or None.
    frames_since_seen: 0 when matched in the current frame.
    history_xyxy: matched boxes, most recent last (at most ``history_len``).
    """

    track_id: int
    box_xyxy: np.ndarray
    score: float
    status: TrackStatus = TrackStatus.TENTATIVE
    hits: int = 1
    age: int = 1
    frames_since_seen: int = 0
    velocity_xy: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    embedding: Optional[np.ndarray] = None
    history_xyxy: List[np.ndarray] = field(default_factory=list)

    @property
    def center_xy(self) -> np.ndarray:
        b = self.box_xyxy
        return np.array([(b[0] + b[2]) * 0.5, (b[1] + b[3]) * 0.5], np.float32)

    @property
    def size(self) -> float:
        """Geometric-mean box side in pixels (>= 1)."""
        b = self.box_xyxy
        return float(max(np.sqrt(max(b[2] - b[0], 1.0) * max(b[3] - b[1], 1.0)), 1.0))


@dataclass
class AssociationConfig:
    """Tuning parameters of the association.

    birth_score: minimum peak score to start a track. Lower finds faint
        objects sooner but births more false tracks.
    confirm_hits: consecutive matches before a track is reported. Higher
        suppresses flicker/false positives but delays new tracks.
    max_lost_frames: frames a lost track stays re-identifiable. Longer keeps
        IDs through long occlusions but risks reviving the wrong ID.
    max_match_dist: motion gate, in units of the track's box size, between a
        detection's displacement-predicted previous centre and the track.
        Larger tolerates fast motion but allows swaps between neighbours.
    appearance_weight: weight of (1 - cosine) in the motion-step cost. Higher
        penalises identity swaps between look-alike-free neighbours more.
    reid_min_cosine: minimum appearance cosine to revive a lost track. Lower
        revives more IDs (fewer fragments) at the risk of wrong merges.
    reid_radius: re-identification motion gate in box sizes, grown by
        ``reid_radius_growth`` per lost frame.
    embedding_momentum: EMA factor of the track embedding (higher = slower
        to adapt, more robust to one bad frame).
    history_len: matched boxes kept per track (FlexHook needs the recent
        trajectory).
    low_match_dist: motion gate (box sizes) of the low-score second pass;
        tighter than ``max_match_dist`` because a weak peak is more often
        clutter or a neighbour. Used only when ``update`` gets ``low_dets``.
    """

    birth_score: float = 0.4
    confirm_hits: int = 2
    max_lost_frames: int = 30
    max_match_dist: float = 1.0
    appearance_weight: float = 0.5
    reid_min_cosine: float = 0.6
    reid_radius: float = 2.0
    reid_radius_growth: float = 0.25
    embedding_momentum: float = 0.8
    history_len: int = 16
    low_match_dist: float = 0.5

    def __post_init__(self) -> None:
        if self.confirm_hits < 1 or self.max_lost_frames < 0 or self.history_len < 1:
            raise ValueError("confirm_hits >= 1, max_lost_frames >= 0 and history_len >= 1 required")
        if self.max_match_dist <= 0 or self.reid_radius <= 0 or self.low_match_dist <= 0:
            raise ValueError("max_match_dist, reid_radius and low_match_dist must be > 0")


_INF = 1e6


def _motion_dist(tracks: List[Track], dets: Detections) -> np.ndarray:
    """(T, N) distance, in units of each track's box size, between every
    track's last centre and every detection's displacement-predicted
    previous centre."""
    track_c = np.stack([t.center_xy for t in tracks])
    sizes = np.array([t.size for t in tracks], np.float32)
    return np.linalg.norm(dets.prev_centers_xy[None, :, :] - track_c[:, None, :], axis=2) / sizes[:, None]


def _assign(cost: np.ndarray) -> List[tuple]:
    """Hungarian assignment on ``cost``; pairs whose cost is gated (>= _INF) are dropped."""
    return [(i, j) for i, j in zip(*linear_sum_assignment(cost)) if cost[i, j] < _INF]


class Associator:
    """Stateful Hungarian tracker over per-frame detections (one stream)."""

    def __init__(self, config: Optional[AssociationConfig] = None) -> None:
        self.config = config or AssociationConfig()
        self._tracks: List[Track] = []
        self._next_id = 1
        self.frame_count = 0

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all tracks and restart IDs at 1."""
        self._tracks = []
        self._next_id = 1
        self.frame_count = 0

    @property
    def tracks(self) -> List[Track]:
        """All live tracks (tentative, confirmed and lost)."""
        return list(self._tracks)

    def confirmed_visible(self) -> List[Track]:
        """Confirmed tracks matched in the current frame."""
        return [t for t in self._tracks if t.status == TrackStatus.CONFIRMED and t.frames_since_seen == 0]

    # ----------------------------------------------------------------- update
    def update(self, dets: Detections, low_dets: Optional[Detections] = None) -> List[Track]:
        """Associate one frame of detections; returns confirmed visible tracks.

        dets: the frame's detections (above the detection threshold).
        low_dets: optional weaker peaks of the same frame (below the
            detection threshold). They only extend confirmed tracks seen
            last frame that ``dets`` left unmatched (motion gate ``low_match_dist``, no
            appearance term, the track's embedding is not updated from them);
            they never start a track or revive a lost one.
        """
        if not isinstance(dets, Detections):
            raise AssociationInputError(f"expected Detections, got {type(dets).__name__}")
        if low_dets is not None and not isinstance(low_dets, Detections):
            raise AssociationInputError(f"low_dets: expected Detections or None, got {type(low_dets).__name__}")
        cfg = self.config
        self.frame_count += 1
        n = len(dets)
        unmatched_dets = set(range(n))
        matched: set = set()

        # 1) motion step: active (seen last frame) tracks vs displacement-predicted centres
        active = [t for t in self._tracks if t.frames_since_seen == 0]
        if active and n:
            dist = _motion_dist(active, dets)
            cost = dist.copy()
            if dets.embeddings is not None:
                for i, t in enumerate(active):
                    if t.embedding is not None:
                        cost[i] += cfg.appearance_weight * (1.0 - dets.embeddings @ t.embedding)
            cost[dist > cfg.max_match_dist] = _INF
            for i, j in _assign(cost):
                self._match(active[i], dets, j)
                matched.add(active[i].track_id)
                unmatched_dets.discard(j)

        # 1b) low-score second pass: still-unmatched active tracks vs weak peaks, motion only
        if low_dets is not None and len(low_dets):
            rest = [t for t in active if t.track_id not in matched and t.status == TrackStatus.CONFIRMED]
            if rest:
                dist = _motion_dist(rest, low_dets)
                for i, j in _assign(np.where(dist > cfg.low_match_dist, _INF, dist)):
                    self._match(rest[i], low_dets, j, update_embedding=False)
                    matched.add(rest[i].track_id)

        # 2) re-identification: lost confirmed tracks vs left-over detections
        lost = [t for t in self._tracks if t.status == TrackStatus.LOST]
        rem = sorted(unmatched_dets)
        if lost and rem:
            det_c = dets.centers_xy[rem]
            cost = np.full((len(lost), len(rem)), _INF, np.float64)
            for i, t in enumerate(lost):
                gap = t.frames_since_seen + 1
                pred = t.center_xy + t.velocity_xy * gap
                radius = (cfg.reid_radius + cfg.reid_radius_growth * gap) * t.size
                d = np.linalg.norm(det_c - pred[None], axis=1)
                ok = d <= radius
                if dets.embeddings is not None and t.embedding is not None:
                    cos = dets.embeddings[rem] @ t.embedding
                    ok &= cos >= cfg.reid_min_cosine
                    c = (1.0 - cos) + 0.1 * d / radius
                else:
                    c = d / radius
                cost[i, ok] = c[ok]
            for i, j in _assign(cost):
                self._match(lost[i], dets, rem[j])
                matched.add(lost[i].track_id)
                unmatched_dets.discard(rem[j])

        # 3) age unmatched tracks: tentative die, confirmed go to the lost buffer
        survivors = []
        for t in self._tracks:
            if t.track_id not in matched:
                t.frames_since_seen += 1
                t.age += 1
                if t.status == TrackStatus.TENTATIVE or t.frames_since_seen > cfg.max_lost_frames:
                    continue
                t.status = TrackStatus.LOST
            survivors.append(t)
        self._tracks = survivors

        # 4) births
        for j in sorted(unmatched_dets):
            if dets.scores[j] < cfg.birth_score:
                continue
            emb = None if dets.embeddings is None else dets.embeddings[j].copy()
            t = Track(track_id=self._next_id, box_xyxy=dets.boxes_xyxy[j].copy(), score=float(dets.scores[j]),
                      embedding=emb, history_xyxy=[dets.boxes_xyxy[j].copy()])
            if cfg.confirm_hits <= 1:
                t.status = TrackStatus.CONFIRMED
            self._next_id += 1
            self._tracks.append(t)
        return self.confirmed_visible()

    def _match(self, t: Track, dets: Detections, j: int, update_embedding: bool = True) -> None:
        cfg = self.config
        new_box = dets.boxes_xyxy[j].copy()
        gap = t.frames_since_seen + 1
        new_c = np.array([(new_box[0] + new_box[2]) * 0.5, (new_box[1] + new_box[3]) * 0.5], np.float32)
        vel = (new_c - t.center_xy) / gap
        t.velocity_xy = (0.5 * t.velocity_xy + 0.5 * vel).astype(np.float32) if t.hits > 1 else vel.astype(np.float32)
        t.box_xyxy = new_box
        t.score = float(dets.scores[j])
        t.hits += 1
        t.age += 1
        t.frames_since_seen = 0
        if update_embedding and dets.embeddings is not None:
            e = dets.embeddings[j]
            if t.embedding is None:
                t.embedding = e.copy()
            else:
                m = cfg.embedding_momentum
                v = m * t.embedding + (1 - m) * e
                t.embedding = v / max(float(np.linalg.norm(v)), 1e-6)
        t.history_xyxy.append(new_box)
        if len(t.history_xyxy) > cfg.history_len:
            del t.history_xyxy[: len(t.history_xyxy) - cfg.history_len]
        if t.status == TrackStatus.TENTATIVE and t.hits >= cfg.confirm_hits:
            t.status = TrackStatus.CONFIRMED
        elif t.status == TrackStatus.LOST:
            t.status = TrackStatus.CONFIRMED
