"""RGB-driven approximate-time synchronisation that never blocks on a
missing modality (numpy only).

Every RGB frame is the anchor of one :class:`SyncedSample`. For each optional
stream (depth, thermal, event, ...) the synchroniser picks the sample whose
stamp is nearest to the RGB stamp within ``slop_ns``. A frame waits for a
stream only while a better match can still arrive:

* the stream already has a sample stamped at or after the RGB stamp (later
  samples can only be farther away), or its next sample, due no sooner than
  the last stamp plus the smallest recent interval, cannot be closer, or
* the clock passed ``rgb_stamp + max_wait_ns`` (default ``slop_ns``: anything
  later is out of slop), or the frame waited that long in wall time, or
* the stream is silent (nothing for ``silence_timeout_ns``, or never seen),

then it is emitted with whatever matched and the other streams listed in
``missing``. Unlike message_filters' ApproximateTime policy a dead depth
camera never stalls the RGB pipeline, and a stream that resumes is matched
again from its first new sample.

Event streams come in two forms. Event *images* (``sensor_msgs/Image``
frames) are ordinary samples. Raw events (:class:`EventBatch` payloads) go
into an :class:`~vl_tracking_ros.core.events.EventWindow`; the payload for a
frame is the :class:`EventBatch` of events in ``(stamp - event_window_ns,
stamp]``, and the frame waits until events up to its stamp have arrived (or
slop / silence as above).

Clock: ``pop_ready(now_ns)`` compares deadlines with ``now_ns`` when given
(only when the stamps share that clock); otherwise with the newest stamp
seen on any stream (data-driven, right for replays and bags).
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .events import EventWindow
from .types import EventBatch

__all__ = ["SyncError", "SyncedSample", "MultiStreamSynchronizer"]


class SyncError(ValueError):
    """Bad use of the synchroniser: unknown stream, non-integer stamp,
    invalid configuration."""


@dataclass
class SyncedSample:
    """One RGB frame with the matched samples of the other streams.

    stamp_ns: the RGB stamp (int ns). rgb: the RGB payload as given.
    streams: stream name -> matched payload (EventBatch for raw events).
    missing: enabled streams without a match for this frame, sorted.
    offsets_ns: stream name -> matched sample stamp minus the RGB stamp.
    """

    stamp_ns: int
    rgb: Any
    streams: Dict[str, Any] = field(default_factory=dict)
    missing: Tuple[str, ...] = ()
    offsets_ns: Dict[str, int] = field(default_factory=dict)


class _RateMeter:
    """Receive rate from the last few stamps (Hz, in stamp time)."""

    def __init__(self, n: int = 30):
        self._stamps: Deque[int] = collections.deque(maxlen=n)

    def add(self, stamp_ns: int) -> None:
        self._stamps.append(stamp_ns)

    def rate_hz(self) -> float:
        if len(self._stamps) < 2:
            return 0.0
        span = self._stamps[-1] - self._stamps[0]
        return (len(self._stamps) - 1) * 1e9 / span if span > 0 else 0.0

    def min_interval_ns(self) -> Optional[int]:
        """Smallest recent gap between stamps (None with < 3 stamps)."""
        if len(self._stamps) < 3:
            return None
        st = np.fromiter(self._stamps, dtype=np.int64)
        gaps = np.diff(st)
        gaps = gaps[gaps > 0]
        return int(gaps.min()) if gaps.size else None


class _Stream:
    def __init__(self, name: str, max_queue: int):
        self.name = name
        self.queue: Deque[Tuple[int, Any]] = collections.deque()
        self.max_queue = max_queue
        self.window: Optional[EventWindow] = None
        self.last_stamp: Optional[int] = None   # newest accepted stamp
        self.covered_until: Optional[int] = None  # newest data time (events: newest event)
        self.events_until: Optional[int] = None   # newest raw event time (ns)
        self.rate = _RateMeter()
        self.counts = collections.Counter()
        self.was_silent = True
        self.resumed = 0


def _as_stamp(stamp_ns) -> int:
    if isinstance(stamp_ns, (bool, float)) or not isinstance(stamp_ns, (int, np.integer)):
        if isinstance(stamp_ns, float) and stamp_ns.is_integer():
            return int(stamp_ns)
        raise SyncError(f"stamps are integer nanoseconds, got {stamp_ns!r}")
    return int(stamp_ns)


class MultiStreamSynchronizer:
    """Pair each RGB frame with the nearest sample of every optional stream.

    Parameters (all times integer nanoseconds):

    optional_streams: names of the non-RGB streams.
    slop_ns: largest |stamp difference| accepted as a match; also the
        longest a frame waits for a stream. Larger tolerates more skew /
        latency between cameras but adds latency and can pair frames that
        are further apart in time.
    silence_timeout_ns: a stream with no data for this long is *silent* and
        no longer waited for (reported missing) until it sends again.
        Shorter reacts faster to a dead camera, longer rides out hiccups.
    max_queue: bound of every queue (pending RGB frames and each stream's
        samples); the oldest entry is dropped and counted beyond it.
    event_window_ns: window of raw events given with each frame; longer
        shows slower motion, blurs fast motion, costs more to accumulate.
    event_retain_ns: raw event history kept (>= window + expected latency).
    max_wait_ns: how long after its stamp (on the stamp clock) a frame waits
        for late streams; default ``slop_ns``. Larger tolerates streams whose
        messages arrive later than RGB (processing latency) at the cost of
        output latency.
    jump_back_reset_ns: an RGB stamp this far *behind* the last one means
        the clock restarted (a bag looped, sim time reset): everything queued
        is dropped and syncing starts afresh (counted in ``time_resets``);
        smaller backward steps are out-of-order frames and are dropped.
        A non-RGB stream jumping back this far restarts that stream only.
    wall_clock: callable returning monotonic ns (default
        ``time.monotonic_ns``) or None. When set, a frame is also released
        once it has waited ``max_wait_ns`` of wall time since ``add_rgb``, so
        a live node never holds the newest frame until the next RGB frame
        arrives. Pass None (or a fake clock) for deterministic offline use.
    """

    def __init__(self, optional_streams: Sequence[str] = ("depth", "thermal", "event"), slop_ns: int = 50_000_000,
                 silence_timeout_ns: int = 1_000_000_000, max_queue: int = 30,
                 event_window_ns: int = 50_000_000, event_retain_ns: Optional[int] = None,
                 max_events: int = 2_000_000, max_wait_ns: Optional[int] = None,
                 wall_clock=time.monotonic_ns, jump_back_reset_ns: int = 3_000_000_000):
        names = tuple(optional_streams)
        if len(set(names)) != len(names) or "rgb" in names:
            raise SyncError(f"optional_streams must be distinct names other than 'rgb', got {names}")
        for label, v in (("slop_ns", slop_ns), ("silence_timeout_ns", silence_timeout_ns),
                         ("event_window_ns", event_window_ns)):
            if _as_stamp(v) <= 0:
                raise SyncError(f"{label} must be a positive integer, got {v!r}")
        if int(max_queue) < 1:
            raise SyncError(f"max_queue must be >= 1, got {max_queue!r}")
        self.optional_streams = names
        self.slop_ns = int(slop_ns)
        self.silence_timeout_ns = int(silence_timeout_ns)
        self.max_queue = int(max_queue)
        self.event_window_ns = int(event_window_ns)
        self.event_retain_ns = int(event_retain_ns) if event_retain_ns is not None else \
            max(4 * self.event_window_ns, self.event_window_ns + 4 * self.slop_ns, 500_000_000)
        self.max_events = int(max_events)
        self.max_wait_ns = self.slop_ns if max_wait_ns is None else int(max_wait_ns)
        if self.max_wait_ns < 0:
            raise SyncError(f"max_wait_ns must be >= 0, got {max_wait_ns!r}")
        self.wall_clock = wall_clock
        self.jump_back_reset_ns = int(jump_back_reset_ns)
        self.time_resets = getattr(self, "time_resets", 0)
        self._streams: Dict[str, _Stream] = {n: _Stream(n, self.max_queue) for n in names}
        self._rgb: Deque[Tuple[int, Any, Optional[int]]] = collections.deque()
        self._rgb_last: Optional[int] = None
        self._rgb_rate = _RateMeter()
        self._rgb_counts = collections.Counter()
        self._clock: Optional[int] = None
        self.emitted = 0

    # ------------------------------------------------------------- input
    def _tick(self, stamp: int) -> None:
        if self._clock is None or stamp > self._clock:
            self._clock = stamp

    def add_rgb(self, stamp_ns: int, payload: Any) -> bool:
        """Queue an RGB frame; returns False (and counts it) when dropped as
        a duplicate or out-of-order stamp."""
        stamp = _as_stamp(stamp_ns)
        if self._rgb_last is not None and stamp < self._rgb_last - self.jump_back_reset_ns:
            resets = self.time_resets + 1
            self.reset()
            self.time_resets = resets
        self._rgb_counts["received"] += 1
        if self._rgb_last is not None and stamp <= self._rgb_last:
            self._rgb_counts["duplicate" if stamp == self._rgb_last else "out_of_order"] += 1
            return False
        self._rgb_last = stamp
        self._rgb_rate.add(stamp)
        self._tick(stamp)
        self._rgb.append((stamp, payload, self.wall_clock() if self.wall_clock is not None else None))
        while len(self._rgb) > self.max_queue:
            self._rgb.popleft()
            self._rgb_counts["overflow"] += 1
        return True

    def add(self, stream: str, stamp_ns: int, payload: Any) -> bool:
        """Queue a sample of an optional stream. An :class:`EventBatch`
        payload goes to the stream's event window (``stamp_ns`` is the
        packet stamp). Returns False when dropped (duplicate / out of
        order / older than every frame still to come)."""
        if stream == "rgb":
            return self.add_rgb(stamp_ns, payload)
        s = self._streams.get(stream)
        if s is None:
            raise SyncError(f"unknown stream {stream!r}; enabled streams: rgb, {', '.join(self.optional_streams)}")
        stamp = _as_stamp(stamp_ns)
        if s.last_stamp is not None and stamp < s.last_stamp - self.jump_back_reset_ns:
            fresh = _Stream(stream, self.max_queue)
            fresh.counts = s.counts
            fresh.counts["time_resets"] += 1
            self._streams[stream] = s = fresh
        s.counts["received"] += 1
        if isinstance(payload, EventBatch):
            return self._add_events(s, stamp, payload)
        if s.last_stamp is not None and stamp <= s.last_stamp:
            s.counts["duplicate" if stamp == s.last_stamp else "out_of_order"] += 1
            return False
        self._accept(s, stamp)
        s.covered_until = stamp
        s.queue.append((stamp, payload))
        while len(s.queue) > s.max_queue:
            s.queue.popleft()
            s.counts["overflow"] += 1
        return True

    def add_events(self, batch: EventBatch, stamp_ns: Optional[int] = None, stream: str = "event") -> bool:
        """Add raw events (their ``t_us`` share the RGB clock); ``stamp_ns``
        defaults to the newest event's time."""
        if stamp_ns is None:
            if len(batch):
                stamp_ns = int(batch.t_us.max()) * 1000
            else:
                # no events and no stamp: the stream is alive "now" (no motion)
                s = self._streams.get(stream)
                last = s.last_stamp if s is not None and s.last_stamp is not None else 0
                stamp_ns = max(self._clock or 0, last)
        return self.add(stream, stamp_ns, batch)

    def _accept(self, s: _Stream, stamp: int) -> None:
        if s.was_silent and s.last_stamp is not None:
            s.resumed += 1
        s.was_silent = False
        s.last_stamp = stamp
        s.rate.add(stamp)
        self._tick(stamp)

    def _add_events(self, s: _Stream, stamp: int, batch: EventBatch) -> bool:
        late = s.last_stamp is not None and stamp < s.last_stamp
        if late:
            # events are never dropped for a late packet stamp: the window
            # orders them by their own times; only the stream clock stays put
            s.counts["late_packets"] += 1
        if s.window is None or (s.window.width, s.window.height) != (batch.width, batch.height):
            s.window = EventWindow(batch.width, batch.height, retain_us=max(self.event_retain_ns // 1000, 1),
                                   max_events=self.max_events)
        before = s.window.dropped
        s.window.add(batch)
        s.counts["events_dropped"] += s.window.dropped - before
        if not late:
            self._accept(s, stamp)
        newest = max(int(batch.t_us.max()) * 1000 if len(batch) else stamp, stamp)
        s.events_until = newest if s.events_until is None else max(s.events_until, newest)
        s.covered_until = newest if s.covered_until is None else max(s.covered_until, newest)
        return True

    # ------------------------------------------------------------ output
    def _silent(self, s: _Stream, clock: int) -> bool:
        return s.last_stamp is None or clock - s.last_stamp > self.silence_timeout_ns

    def _match(self, s: _Stream, stamp: int) -> Tuple[bool, Any, int]:
        """(found, payload, offset) for stream ``s`` at ``stamp``."""
        if s.window is not None and s.events_until is not None and s.events_until >= stamp - self.slop_ns:
            batch = s.window.take(stamp // 1000, max(self.event_window_ns // 1000, 1))
            return True, batch, min(s.events_until, stamp) - stamp
        best = None
        for st, payload in s.queue:
            d = abs(st - stamp)
            if d <= self.slop_ns and (best is None or d < best[0]):
                best = (d, payload, st - stamp)
        if best is None:
            return False, None, 0
        return True, best[1], best[2]

    def _ready(self, s: _Stream, stamp: int, clock: int) -> bool:
        if s.covered_until is not None and s.covered_until >= stamp:
            return True
        if s.window is None and s.last_stamp is not None:
            # the next sample is due no sooner than last + the smallest recent
            # gap: when that is no closer than what we have, the match is final
            gap = s.rate.min_interval_ns()
            if gap is not None:
                d = stamp - s.last_stamp
                if s.last_stamp + gap - stamp >= min(d, self.slop_ns + 1):
                    return True
        return clock >= stamp + self.max_wait_ns or self._silent(s, clock)

    def pop_ready(self, now_ns: Optional[int] = None) -> List[SyncedSample]:
        """Emit every pending RGB frame whose matches are final, oldest
        first. Call after each ``add*`` (or periodically)."""
        clock = self._clock if now_ns is None else max(_as_stamp(now_ns), self._clock or 0)
        return self._pop(clock, track_silence=True)

    def _pop(self, clock: Optional[int], track_silence: bool) -> List[SyncedSample]:
        out: List[SyncedSample] = []
        if clock is None:
            return out
        for s in self._streams.values():
            if track_silence and not s.was_silent and self._silent(s, clock):
                s.was_silent = True
                s.counts["went_silent"] += 1
        wall = self.wall_clock() if self.wall_clock is not None else None
        while self._rgb:
            stamp, rgb, arrived = self._rgb[0]
            waited_out = wall is not None and arrived is not None and wall - arrived >= self.max_wait_ns
            ready = all(self._ready(s, stamp, clock) for s in self._streams.values())
            if not ready and not waited_out:
                break
            if not ready:
                self._rgb_counts["released_by_wall_clock"] += 1
            self._rgb.popleft()
            sample = SyncedSample(stamp, rgb)
            missing = []
            for name, s in self._streams.items():
                found, payload, offset = self._match(s, stamp)
                if found:
                    sample.streams[name] = payload
                    sample.offsets_ns[name] = offset
                    s.counts["matched"] += 1
                else:
                    missing.append(name)
                    s.counts["missing"] += 1
            sample.missing = tuple(sorted(missing))
            out.append(sample)
            self.emitted += 1
        self._prune()
        return out

    def _prune(self) -> None:
        """Drop samples too old to match any frame still to come."""
        if self._rgb:
            floor = self._rgb[0][0] - self.slop_ns
        elif self._rgb_last is not None:
            floor = self._rgb_last - self.slop_ns
        else:
            return
        for s in self._streams.values():
            while s.queue and s.queue[0][0] < floor:
                s.queue.popleft()

    def flush(self) -> List[SyncedSample]:
        """Emit every pending frame now (end of a stream)."""
        if self._clock is None:
            return []
        return self._pop(self._clock + self.slop_ns + self.silence_timeout_ns + 1, track_silence=False)

    def reset(self) -> None:
        """Forget all queued data and stamps (e.g. after a bag loops)."""
        self.__init__(self.optional_streams, self.slop_ns, self.silence_timeout_ns, self.max_queue,
                      self.event_window_ns, self.event_retain_ns, self.max_events, self.max_wait_ns,
                      self.wall_clock, self.jump_back_reset_ns)

    @property
    def pending(self) -> int:
        """RGB frames waiting for their matches."""
        return len(self._rgb)

    def status(self, now_ns: Optional[int] = None) -> Dict[str, Dict[str, Any]]:
        """Per stream: ``rate_hz`` (stamp-time receive rate), ``last_stamp_ns``,
        ``silent``, ``queued`` and counters (``received``, ``matched``,
        ``missing``, ``duplicate``, ``out_of_order``, ``overflow``,
        ``went_silent``, ``resumed``...). ``rgb`` adds ``pending``,
        ``emitted`` and ``released_by_wall_clock`` (frames that waited the
        full ``max_wait_ns`` of wall time for a late stream)."""
        clock = self._clock if now_ns is None else max(int(now_ns), self._clock or 0)
        out: Dict[str, Dict[str, Any]] = {
            "rgb": {"rate_hz": round(self._rgb_rate.rate_hz(), 3), "last_stamp_ns": self._rgb_last,
                    "silent": self._rgb_last is None or (clock is not None and clock - self._rgb_last > self.silence_timeout_ns),
                    "pending": len(self._rgb), "emitted": self.emitted, "time_resets": self.time_resets,
                    **dict(self._rgb_counts)},
        }
        for name, s in self._streams.items():
            entry = {"rate_hz": round(s.rate.rate_hz(), 3), "last_stamp_ns": s.last_stamp,
                     "silent": True if clock is None else self._silent(s, clock),
                     "queued": len(s.queue) + (len(s.window) if s.window is not None else 0),
                     "resumed": s.resumed, **dict(s.counts)}
            out[name] = entry
        return out
