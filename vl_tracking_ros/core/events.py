"""Event-camera data: validation, accumulation into dense tensors, the
Prophesee EVT 3.0 byte format, and a bounded rolling window (numpy only).

Events are :class:`~vl_tracking_ros.core.types.EventBatch` objects: parallel
arrays ``x_px, y_px`` (uint16 pixels), ``t_us`` (int64 microseconds) and
``polarity`` (uint8, 1 = ON / brightness increase, 0 = OFF).

Representations produced by :func:`accumulate_events` (``(H, W, C) float32``):

* ``histogram`` (the default the models take, C = 2): channel 0 counts ON
  events, channel 1 OFF events, per pixel over the window; normalised by
  the 99th percentile of the non-zero counts and clipped to [0, 1].
* ``time_surface`` (C = 2): per polarity, ``exp(-(t_end - t_last) / tau)`` of
  the newest event at each pixel (0 where none), in [0, 1].
* ``voxel`` (C = ``bins``): signed polarity (+1 ON, -1 OFF) spread over
  ``bins`` time slices with bilinear weights in time; normalised by the
  maximum absolute value to [-1, 1].
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .types import EventBatch

__all__ = [
    "EVENT_REPRESENTATIONS",
    "EventDecodeError",
    "events_from_arrays",
    "empty_events",
    "concat_events",
    "representation_channels",
    "accumulate_events",
    "encode_evt3",
    "decode_evt3",
    "EventWindow",
]

EVENT_REPRESENTATIONS = ("histogram", "time_surface", "voxel")


class EventDecodeError(ValueError):
    """Malformed event data: mismatched arrays, coordinates outside the
    sensor, or an EVT 3.0 buffer that is not a whole number of 16-bit words."""


# ------------------------------------------------------------------ batches
def empty_events(width: int, height: int) -> EventBatch:
    """An EventBatch with no events for a ``width`` x ``height`` sensor."""
    return EventBatch(np.zeros(0, np.uint16), np.zeros(0, np.uint16), np.zeros(0, np.int64),
                      np.zeros(0, np.uint8), int(width), int(height))


def events_from_arrays(x, y, t_us, polarity, width: int, height: int, sort: bool = True) -> EventBatch:
    """Validate parallel arrays and build an :class:`EventBatch`.

    x, y: (N,) integer pixel coordinates, ``0 <= x < width``, ``0 <= y < height``.
    t_us: (N,) integer microseconds. polarity: (N,) values; > 0 means ON
    (so 0/1, bool and -1/+1 conventions all work). With ``sort`` the events are
    stably sorted by time (out-of-order packets are common after merging).
    Raises EventDecodeError naming what is wrong.
    """
    width, height = int(width), int(height)
    if width <= 0 or height <= 0 or width > 65535 or height > 65535:
        raise EventDecodeError(f"event sensor size must be 1..65535, got {width}x{height}")
    arrays = [np.asarray(a).reshape(-1) for a in (x, y, t_us, polarity)]
    lengths = [a.shape[0] for a in arrays]
    if len(set(lengths)) != 1:
        raise EventDecodeError(f"event arrays differ in length: x={lengths[0]} y={lengths[1]} "
                               f"t_us={lengths[2]} polarity={lengths[3]}")
    xa, ya, ta, pa = arrays
    n = lengths[0]
    if n == 0:
        return empty_events(width, height)
    for name, a in (("x", xa), ("y", ya), ("t_us", ta)):
        if not np.issubdtype(a.dtype, np.integer):
            if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
                raise EventDecodeError(f"event {name} must be integers, got dtype {a.dtype}")
    xi = xa.astype(np.int64)
    yi = ya.astype(np.int64)
    if xi.min() < 0 or xi.max() >= width:
        raise EventDecodeError(f"event x outside the sensor: range {xi.min()}..{xi.max()}, width {width}")
    if yi.min() < 0 or yi.max() >= height:
        raise EventDecodeError(f"event y outside the sensor: range {yi.min()}..{yi.max()}, height {height}")
    t = ta.astype(np.int64)
    p = (pa.astype(np.float64) > 0).astype(np.uint8)
    xo, yo = xi.astype(np.uint16), yi.astype(np.uint16)
    if sort and n > 1 and np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        xo, yo, t, p = xo[order], yo[order], t[order], p[order]
    return EventBatch(xo, yo, t, p, width, height)


def concat_events(batches: Sequence[EventBatch], width: Optional[int] = None,
                  height: Optional[int] = None) -> EventBatch:
    """Concatenate batches of the same sensor size (in the given order)."""
    batches = [b for b in batches if b is not None]
    if not batches:
        if width is None or height is None:
            raise EventDecodeError("concat_events of nothing needs width and height")
        return empty_events(width, height)
    w = batches[0].width if width is None else int(width)
    h = batches[0].height if height is None else int(height)
    for b in batches:
        if (b.width, b.height) != (w, h):
            raise EventDecodeError(f"event batches from different sensor sizes: {b.width}x{b.height} vs {w}x{h}")
    return EventBatch(np.concatenate([b.x_px for b in batches]).astype(np.uint16),
                      np.concatenate([b.y_px for b in batches]).astype(np.uint16),
                      np.concatenate([b.t_us for b in batches]).astype(np.int64),
                      np.concatenate([b.polarity for b in batches]).astype(np.uint8), w, h)


def _select(batch: EventBatch, mask: np.ndarray) -> EventBatch:
    return EventBatch(batch.x_px[mask], batch.y_px[mask], batch.t_us[mask], batch.polarity[mask],
                      batch.width, batch.height)


# ------------------------------------------------------------ accumulation
def _p99_scale(nonzero_counts: np.ndarray) -> np.float32:
    """99th percentile (upper rank) of the non-zero counts, at least 1."""
    if nonzero_counts.size == 0:
        return np.float32(1.0)
    k = int(np.ceil(0.99 * (nonzero_counts.size - 1)))
    return np.float32(max(float(np.partition(nonzero_counts, k)[k]), 1.0))


def _scatter_sum(cells: np.ndarray, weights: Optional[np.ndarray], size: int) -> np.ndarray:
    """float32 (size,) with ``weights`` (or 1) summed per cell index. Sparse
    batches (few events per output cell) are reduced with a sort over the
    events instead of a dense ``bincount`` over the whole image, so the
    per-frame cost follows the event count, not the image size."""
    out = np.zeros(size, np.float32)
    if cells.size == 0:
        return out
    if cells.size * 8 < size:
        uniq, inverse = np.unique(cells, return_inverse=True)
        sums = np.bincount(inverse.reshape(-1), weights=weights, minlength=uniq.size)
        out[uniq] = sums
    else:
        out[:] = np.bincount(cells, weights=weights, minlength=size)
    return out


def representation_channels(representation: str, bins: int = 5) -> int:
    """Number of channels C of :func:`accumulate_events`' output."""
    if representation not in EVENT_REPRESENTATIONS:
        raise ValueError(f"unknown event representation {representation!r}; "
                         f"choose one of {', '.join(EVENT_REPRESENTATIONS)}")
    return int(bins) if representation == "voxel" else 2


def accumulate_events(batch: EventBatch, height: int, width: int, representation: str = "histogram",
                      bins: int = 5, window_us: Optional[int] = None, t_end_us: Optional[int] = None,
                      tau_us: Optional[float] = None, normalize: bool = True) -> np.ndarray:
    """Accumulate events into a ``(height, width, C) float32`` tensor.

    Only events with ``t_end_us - window_us < t <= t_end_us`` count;
    ``t_end_us`` defaults to the newest event, ``window_us`` to the whole
    batch. A longer window shows slower motion but blurs fast motion. When
    the sensor size differs from ``(height, width)`` coordinates are scaled
    (nearest pixel). ``bins`` (voxel only): more bins keep finer timing but
    each is sparser. ``tau_us`` (time surface): decay constant, default a
    quarter of the window; larger keeps older motion visible. With
    ``normalize=False`` the raw counts / weights are returned (see module
    docstring for the normalisation).
    """
    channels = representation_channels(representation, bins)
    height, width = int(height), int(width)
    if height <= 0 or width <= 0:
        raise ValueError(f"accumulate_events: output size must be positive, got {width}x{height}")
    if representation == "voxel" and bins < 1:
        raise ValueError(f"voxel bins must be >= 1, got {bins}")
    n = len(batch)
    if n == 0:
        return np.zeros((height, width, channels), np.float32)
    t = batch.t_us.astype(np.int64)
    t_end = int(t.max()) if t_end_us is None else int(t_end_us)
    if window_us is None:
        t_start = int(t.min()) - 1
    else:
        if window_us <= 0:
            raise ValueError(f"window_us must be positive, got {window_us}")
        t_start = t_end - int(window_us)
    keep = (t > t_start) & (t <= t_end)
    if not np.any(keep):
        return np.zeros((height, width, channels), np.float32)
    x = batch.x_px[keep].astype(np.int64)
    y = batch.y_px[keep].astype(np.int64)
    t = t[keep]
    p = batch.polarity[keep].astype(np.int64)
    if (batch.width, batch.height) != (width, height):
        x = np.minimum((x * width) // max(batch.width, 1), width - 1)
        y = np.minimum((y * height) // max(batch.height, 1), height - 1)
    pix = y * width + x
    npx = height * width

    if representation == "histogram":
        cells = pix * 2 + (1 - p)  # ON -> channel 0, OFF -> channel 1
        counts = np.zeros(npx * 2, np.float32)
        if cells.size * 8 < counts.size:   # sparse: cost follows the events, not the image
            uniq, nz = np.unique(cells, return_counts=True)
            vals = nz.astype(np.float32)
            if normalize:
                vals = np.minimum(vals / _p99_scale(nz), np.float32(1.0))
            counts[uniq] = vals
        else:
            counts[:] = np.bincount(cells, minlength=npx * 2)
            if normalize:
                scale = _p99_scale(counts[counts > 0])
                np.minimum(counts, scale, out=counts)
                counts *= np.float32(1.0 / scale)
        return counts.reshape(height, width, 2)

    if representation == "time_surface":
        span = float(t_end - t_start)
        tau = float(tau_us) if tau_us is not None else max(span / 4.0, 1.0)
        if tau <= 0:
            raise ValueError(f"tau_us must be positive, got {tau_us}")
        cell = pix * 2 + (1 - p)
        # newest event per cell: stable sort by time, then the last occurrence of each cell
        order = np.argsort(t, kind="stable")
        cell_sorted = cell[order][::-1]
        uniq, first = np.unique(cell_sorted, return_index=True)
        t_last = t[order][::-1][first]
        surf = np.zeros(npx * 2, np.float32)
        surf[uniq] = np.exp(-(t_end - t_last) / tau)
        return surf.reshape(height, width, 2)

    # voxel grid
    sign = np.where(p > 0, 1.0, -1.0)
    if bins == 1:
        tn = np.zeros(t.shape[0])
    else:
        tn = (t - (t_start + 1)).astype(np.float64) * (bins - 1) / max(float(t_end - (t_start + 1)), 1.0)
    lo = np.floor(tn).astype(np.int64)
    frac = tn - lo
    hi = np.minimum(lo + 1, bins - 1)
    vox = _scatter_sum(np.concatenate([pix * bins + lo, pix * bins + hi]),
                       np.concatenate([sign * (1.0 - frac), sign * frac]), npx * bins)
    out = vox.reshape(height, width, bins)
    if normalize:
        peak = max(float(vox.max()), -float(vox.min()))
        if peak > 0:
            out *= np.float32(1.0 / peak)
    return out


# ------------------------------------------------------------------ EVT 3.0
# Word types (4 most significant bits of each little-endian 16-bit word),
# from Prophesee's published "EVT 3.0 Format" description.
EVT_ADDR_Y = 0x0      # [11] system type, [10:0] y
EVT_ADDR_X = 0x2      # [11] polarity, [10:0] x : one event at (x, current y)
VECT_BASE_X = 0x3     # [11] polarity, [10:0] x : base x for following vectors
VECT_12 = 0x4         # [11:0] validity mask of 12 pixels from base x; base x += 12
VECT_8 = 0x5          # [7:0] validity mask of 8 pixels from base x; base x += 8
EVT_TIME_LOW = 0x6    # [11:0] low 12 bits of the 24-bit microsecond time
CONTINUED_4 = 0x7     # extra data for a previous word (ignored)
EVT_TIME_HIGH = 0x8   # [11:0] high 12 bits of the 24-bit microsecond time
EXT_TRIGGER = 0xA     # external trigger (ignored)
OTHERS = 0xE          # extensions (ignored)
CONTINUED_12 = 0xF    # extra data for a previous word (ignored)

_EVT3_TIME_BITS = 24
_EVT3_WRAP = 1 << _EVT3_TIME_BITS
_EVT3_MAX_COORD = 2047


def _word(kind: int, payload) -> np.ndarray:
    return ((kind << 12) | (np.asarray(payload, np.int64) & 0xFFF)).astype(np.uint16)


def encode_evt3(batch: EventBatch, time_base_us: int = 0, use_vectors: bool = True) -> bytes:
    """Encode events as a little-endian EVT 3.0 byte stream (vectorised).

    Times are written as ``(t_us - time_base_us) mod 2**24`` (EVT 3.0 carries
    24-bit microsecond time); when the high 12 bits advance by more than 1024
    steps between events, intermediate EVT_TIME_HIGH words are inserted so a
    decoder can follow every wrap-around. Events sharing time, row and
    polarity become VECT_BASE_X + VECT_12 words when ``use_vectors`` and
    there are three or more of them (duplicates of a pixel in such a group
    follow as EVT_ADDR_X words), otherwise EVT_ADDR_X words. Coordinates must
    fit in 11 bits (sensors up to 2048 x 2048).
    """
    n = len(batch)
    if n == 0:
        return b""
    t = batch.t_us.astype(np.int64) - int(time_base_us)
    if t.min() < 0:
        raise EventDecodeError(f"encode_evt3: event time {int(t.min()) + time_base_us} us is before "
                               f"time_base_us {time_base_us}")
    x = batch.x_px.astype(np.int64)
    y = batch.y_px.astype(np.int64)
    if x.max() > _EVT3_MAX_COORD or y.max() > _EVT3_MAX_COORD:
        raise EventDecodeError(f"encode_evt3: coordinates up to 2047 fit EVT 3.0, got x<={x.max()} y<={y.max()}")
    p = (batch.polarity > 0).astype(np.int64)
    order = np.lexsort((x, p, y, t))
    x, y, t, p = x[order], y[order], t[order], p[order]

    # groups of events sharing (t, y, p)
    new_group = np.ones(n, bool)
    new_group[1:] = (t[1:] != t[:-1]) | (y[1:] != y[:-1]) | (p[1:] != p[:-1])
    starts = np.flatnonzero(new_group)
    n_groups = starts.size
    group = np.cumsum(new_group) - 1                 # group index of every event
    sizes = np.diff(np.append(starts, n))
    gt, gy, gp = t[starts], y[starts], p[starts]
    high = gt >> 12
    low = gt & 0xFFF

    keys: List[np.ndarray] = []
    words: List[np.ndarray] = []
    SECTIONS = 5  # per group: time high, time low, row, payload, duplicates

    def emit(group_ids: np.ndarray, section: int, kind: int, payload: np.ndarray) -> None:
        keys.append(group_ids * SECTIONS + section)
        words.append(_word(kind, payload))

    # EVT_TIME_HIGH: first group, and every group whose high part advanced
    prev_high = np.concatenate([[high[0]], high[:-1]])
    n_high = np.where(high != prev_high, -(-(high - prev_high) // 1024), 0)
    n_high[0] = 1
    hg = np.repeat(np.arange(n_groups), n_high)
    first_of = np.cumsum(n_high) - n_high
    k = np.arange(hg.size) - np.repeat(first_of, n_high)
    last = k == n_high[hg] - 1
    emit(hg, 0, EVT_TIME_HIGH, np.where(last, high[hg], prev_high[hg] + 1024 * (k + 1)) & 0xFFF)
    # EVT_TIME_LOW whenever the time changed; EVT_ADDR_Y whenever the row changed
    t_changed = np.ones(n_groups, bool)
    t_changed[1:] = gt[1:] != gt[:-1]
    lg = np.flatnonzero(t_changed)
    emit(lg, 1, EVT_TIME_LOW, low[lg])
    y_changed = np.ones(n_groups, bool)
    y_changed[1:] = gy[1:] != gy[:-1]
    yg = np.flatnonzero(y_changed)
    emit(yg, 2, EVT_ADDR_Y, gy[yg])

    vector_group = (sizes >= 3) if use_vectors else np.zeros(n_groups, bool)
    in_vec = vector_group[group]
    single = ~in_vec
    emit(group[single], 3, EVT_ADDR_X, (p[single] << 11) | x[single])

    if in_vec.any():
        vi = np.flatnonzero(in_vec)
        vg, vx, vp = group[vi], x[vi], p[vi]
        first_in_group = np.ones(vi.size, bool)
        first_in_group[1:] = vg[1:] != vg[:-1]
        dup = np.zeros(vi.size, bool)
        dup[1:] = (vx[1:] == vx[:-1]) & ~first_in_group[1:]
        # duplicates of a pixel cannot share a vector bit: plain words after the vectors
        emit(vg[dup], 4, EVT_ADDR_X, (vp[dup] << 11) | vx[dup])
        keep = ~dup
        ug, ux, up = vg[keep], vx[keep], vp[keep]
        base = np.minimum.reduceat(ux, np.flatnonzero(np.r_[True, ug[1:] != ug[:-1]]))
        gid = np.cumsum(np.r_[True, ug[1:] != ug[:-1]]) - 1
        rel = ux - base[gid]
        chunk = rel // 12
        new_chunk = np.r_[True, (ug[1:] != ug[:-1]) | (chunk[1:] != chunk[:-1])]
        cstart = np.flatnonzero(new_chunk)
        masks = np.add.reduceat(np.left_shift(1, rel % 12), cstart)
        cg, cc, cp = ug[cstart], chunk[cstart], up[cstart]
        cbase = base[gid[cstart]] + 12 * cc
        # a VECT_BASE_X before the first chunk of a group and after any skipped (empty) chunk
        need_base = np.r_[True, (cg[1:] != cg[:-1]) | (cc[1:] != cc[:-1] + 1)]
        pair_words = np.stack([_word(VECT_BASE_X, (cp << 11) | cbase), _word(VECT_12, masks)], axis=1)
        pair_valid = np.stack([need_base, np.ones(cstart.size, bool)], axis=1)
        pair_group = np.stack([cg, cg], axis=1)
        keys.append(pair_group[pair_valid] * SECTIONS + 3)
        words.append(pair_words[pair_valid])

    all_keys = np.concatenate(keys)
    all_words = np.concatenate(words)
    stream = all_words[np.argsort(all_keys, kind="stable")].astype("<u2")
    return stream.tobytes()


def decode_evt3(buf, width: int, height: int, time_base_us: int = 0, strict: bool = False) -> EventBatch:
    """Decode a little-endian EVT 3.0 byte stream into an EventBatch.

    The decoder state (row, time, vector base x, polarity) is rebuilt with
    vectorised forward fills, so cost is linear in the number of words with
    no per-word Python loop. Times are the unwrapped 24-bit counter (a
    decrease of TIME_HIGH is a wrap: +2**24 us) plus ``time_base_us``. Words
    before the first EVT_TIME_HIGH have no time base and are skipped, as are
    trigger / OTHERS / CONTINUED words. Events outside ``width`` x ``height``
    are dropped, or raise EventDecodeError with ``strict``.
    """
    width, height = int(width), int(height)
    raw = np.frombuffer(bytes(buf) if not isinstance(buf, (bytes, bytearray, memoryview)) else buf, np.uint8)
    if raw.size % 2:
        raise EventDecodeError(f"EVT 3.0 buffer has {raw.size} bytes, not a whole number of 16-bit words")
    if raw.size == 0:
        return empty_events(width, height)
    words = raw.view("<u2").astype(np.int64)
    kind = words >> 12
    payload = words & 0xFFF
    nw = words.shape[0]
    idx = np.arange(nw)

    def last_index(mask: np.ndarray) -> np.ndarray:
        li = np.where(mask, idx, -1)
        return np.maximum.accumulate(li)

    # time: unwrap the 12-bit high counter at its own words
    is_high = kind == EVT_TIME_HIGH
    high_pos = np.flatnonzero(is_high)
    if high_pos.size == 0:
        return empty_events(width, height)
    high_vals = payload[high_pos]
    wraps = np.concatenate([[0], np.cumsum(np.diff(high_vals) < 0)])
    high_unwrapped = high_vals + wraps * 4096
    high_at = np.full(nw, -1, np.int64)
    high_at[high_pos] = high_unwrapped
    last_high = last_index(is_high)
    is_low = kind == EVT_TIME_LOW
    last_low = last_index(is_low)
    time_valid = last_high >= 0
    cur_high = np.where(time_valid, high_at[np.maximum(last_high, 0)], 0)
    # a TIME_LOW set before the latest TIME_HIGH still holds (spec: latest of both)
    cur_low = np.where(last_low >= 0, payload[np.maximum(last_low, 0)], 0)
    cur_t = (cur_high << 12) | cur_low

    is_y = kind == EVT_ADDR_Y
    last_y = last_index(is_y)
    cur_y = np.where(last_y >= 0, payload[np.maximum(last_y, 0)] & 0x7FF, -1)

    # single events
    single = (kind == EVT_ADDR_X) & time_valid & (cur_y >= 0)
    sx = payload[single] & 0x7FF
    sp = (payload[single] >> 11) & 1
    sy = cur_y[single]
    st = cur_t[single]
    sw = idx[single]
    sb = np.zeros(sw.shape[0], np.int64)

    # vectors: base x = last VECT_BASE_X + increments of vectors since then
    is_base = kind == VECT_BASE_X
    is_v12 = kind == VECT_12
    is_v8 = kind == VECT_8
    inc = np.where(is_v12, 12, np.where(is_v8, 8, 0))
    cum_inc = np.cumsum(inc) - inc  # increments before this word
    last_base = last_index(is_base)
    vec = (is_v12 | is_v8) & (last_base >= 0) & time_valid & (cur_y >= 0)
    vw = idx[vec]
    lb = last_base[vec]
    base_x = (payload[lb] & 0x7FF) + (cum_inc[vw] - cum_inc[lb] - inc[lb])
    vpol = (payload[lb] >> 11) & 1
    nbits = np.where(is_v12[vw], 12, 8)
    bits = (payload[vw][:, None] >> np.arange(12)[None, :]) & 1
    bits[:, 8:] *= (nbits[:, None] == 12)
    r, c = np.nonzero(bits)
    vx = base_x[r] + c
    vy = cur_y[vw][r]
    vt = cur_t[vw][r]
    vp = vpol[r]
    vwi = vw[r]

    x = np.concatenate([sx, vx])
    y = np.concatenate([sy, vy])
    t = np.concatenate([st, vt]) + int(time_base_us)
    p = np.concatenate([sp, vp])
    order = np.lexsort((np.concatenate([sb, c]), np.concatenate([sw, vwi])))
    x, y, t, p = x[order], y[order], t[order], p[order]
    inside = (x < width) & (y < height)
    if not np.all(inside):
        if strict:
            bad = int((~inside).sum())
            raise EventDecodeError(f"EVT 3.0 stream has {bad} events outside the {width}x{height} sensor "
                                   f"(max x {int(x.max())}, max y {int(y.max())})")
        x, y, t, p = x[inside], y[inside], t[inside], p[inside]
    return EventBatch(x.astype(np.uint16), y.astype(np.uint16), t.astype(np.int64), p.astype(np.uint8),
                      width, height)


# ----------------------------------------------------------- rolling window
class EventWindow:
    """Bounded rolling buffer of events for windows ending at frame stamps.

    ``add(batch)`` appends (batches may arrive out of order; each is kept as
    a chunk); ``take(t_end_us, window_us)`` returns the events with
    ``t_end_us - window_us < t <= t_end_us`` in time order. Memory is bounded
    two ways: events older than ``newest - retain_us`` are dropped on every
    ``add`` (``retain_us`` must exceed the window plus the RGB latency behind
    the event stream; larger keeps more history for late frames but more
    memory), and at most ``max_events`` are kept (oldest dropped first;
    ``dropped`` counts every event discarded by either rule before use).
    """

    def __init__(self, width: int, height: int, retain_us: int = 500_000, max_events: int = 2_000_000):
        if retain_us <= 0 or max_events <= 0:
            raise ValueError(f"EventWindow needs positive retain_us and max_events, got {retain_us}, {max_events}")
        self.width, self.height = int(width), int(height)
        self.retain_us = int(retain_us)
        self.max_events = int(max_events)
        self._chunks: List[EventBatch] = []
        self._count = 0
        self.newest_us: Optional[int] = None
        self.dropped = 0
        self.added = 0

    def __len__(self) -> int:
        return self._count

    def add(self, batch: EventBatch) -> None:
        """Append a batch (same sensor size as the window)."""
        if (batch.width, batch.height) != (self.width, self.height):
            raise EventDecodeError(f"event batch from a {batch.width}x{batch.height} sensor added to a "
                                   f"{self.width}x{self.height} EventWindow")
        n = len(batch)
        if n == 0:
            return
        self.added += n
        newest = int(batch.t_us.max())
        self.newest_us = newest if self.newest_us is None else max(self.newest_us, newest)
        self._chunks.append(batch)
        self._count += n
        self._prune()

    def _prune(self) -> None:
        horizon = self.newest_us - self.retain_us
        kept: List[EventBatch] = []
        count = 0
        for chunk in self._chunks:
            if int(chunk.t_us.max()) <= horizon:
                self.dropped += len(chunk)
                continue
            if int(chunk.t_us.min()) <= horizon:
                mask = chunk.t_us > horizon
                self.dropped += int((~mask).sum())
                chunk = _select(chunk, mask)
            kept.append(chunk)
            count += len(chunk)
        while count > self.max_events and kept:
            over = count - self.max_events
            first = kept[0]
            if len(first) <= over:
                kept.pop(0)
                count -= len(first)
                self.dropped += len(first)
            else:
                order = np.argsort(first.t_us, kind="stable")
                mask = np.ones(len(first), bool)
                mask[order[:over]] = False
                kept[0] = _select(first, mask)
                count -= over
                self.dropped += over
        self._chunks = kept
        self._count = count

    def take(self, t_end_us: int, window_us: int) -> EventBatch:
        """Events in ``(t_end_us - window_us, t_end_us]``, sorted by time.
        Events are not consumed (consecutive frames may share events when
        the window is longer than the frame period)."""
        if window_us <= 0:
            raise ValueError(f"window_us must be positive, got {window_us}")
        lo, hi = int(t_end_us) - int(window_us), int(t_end_us)
        parts = []
        for chunk in self._chunks:
            if int(chunk.t_us.max()) <= lo or int(chunk.t_us.min()) > hi:
                continue
            parts.append(_select(chunk, (chunk.t_us > lo) & (chunk.t_us <= hi)))
        out = concat_events(parts, self.width, self.height)
        if len(out) > 1 and np.any(np.diff(out.t_us) < 0):
            out = _select(out, np.argsort(out.t_us, kind="stable"))
        return out

    def clear(self) -> None:
        self._chunks = []
        self._count = 0
        self.newest_us = None
