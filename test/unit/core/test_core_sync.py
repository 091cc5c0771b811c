"""core.sync: RGB-driven approximate-time pairing that never blocks."""
import numpy as np
import pytest

from vl_tracking_ros.core.events import events_from_arrays
from vl_tracking_ros.core.sync import MultiStreamSynchronizer, SyncError

MS = 1_000_000
T0 = 5_000 * MS
PERIOD = 66 * MS


def _sync(**kw):
    kw.setdefault("wall_clock", None)
    kw.setdefault("slop_ns", 20 * MS)
    return MultiStreamSynchronizer(**kw)


def test_pairs_nearest_within_slop():
    s = _sync(optional_streams=("depth",))
    s.add("depth", T0 - 15 * MS, "far")
    s.add("depth", T0 + 3 * MS, "near")
    s.add_rgb(T0, "rgb0")
    out = s.pop_ready()
    assert len(out) == 1 and out[0].streams == {"depth": "near"} and out[0].missing == ()
    assert out[0].offsets_ns == {"depth": 3 * MS}


@pytest.mark.parametrize("offset_ms,matched", [(-20, True), (20, True), (-21, False), (21, False), (0, True)])
def test_slop_edges(offset_ms, matched):
    s = _sync(optional_streams=("depth",))
    s.add_rgb(T0, "rgb")
    s.add("depth", T0 + offset_ms * MS, "d")
    out = s.pop_ready() + s.flush()
    assert len(out) == 1
    assert ("depth" in out[0].streams) == matched
    assert out[0].missing == (() if matched else ("depth",))


def test_never_blocks_on_a_stream_that_never_came():
    s = _sync(optional_streams=("depth", "thermal"))
    emitted = []
    for i in range(10):
        s.add_rgb(T0 + i * PERIOD, i)
        emitted += s.pop_ready()
    assert [e.rgb for e in emitted] == list(range(10))  # never seen = silent: no waiting at all
    assert all(e.missing == ("depth", "thermal") for e in emitted)


def test_stream_stops_and_resumes():
    s = _sync(optional_streams=("depth",), silence_timeout_ns=300 * MS)
    out = []
    for i in range(40):
        t = T0 + i * PERIOD
        s.add_rgb(t, i)
        if not 10 <= i < 25:             # depth camera dies for 15 frames (~1 s), then comes back
            s.add("depth", t + 2 * MS, f"d{i}")
        out += s.pop_ready()
        if i == 20:
            st = s.status()
            assert st["depth"]["silent"] is True
    out += s.flush()
    assert [o.rgb for o in out] == list(range(40))      # every frame, in order, none lost
    for o in out:
        if 10 <= o.rgb < 25:
            assert o.missing == ("depth",) and "depth" not in o.streams
        else:
            assert o.streams["depth"] == f"d{o.rgb}" and o.missing == ()
    st = s.status()
    assert st["depth"]["silent"] is False and st["depth"]["went_silent"] == 1 and st["depth"]["resumed"] == 1
    assert st["depth"]["missing"] == 15 and st["depth"]["matched"] == 25


def test_late_stream_is_waited_for_within_max_wait():
    s = _sync(optional_streams=("depth",), max_wait_ns=50 * MS)
    s.add("depth", T0 - 100 * MS, "old")     # stream alive, but this sample is out of slop
    s.add_rgb(T0, "rgb")
    assert s.pop_ready() == []               # depth for T0 may still come
    s.add("depth", T0 + 1 * MS, "d")
    out = s.pop_ready()
    assert len(out) == 1 and out[0].streams["depth"] == "d"


def test_lower_rate_stream_does_not_delay_frames():
    # thermal at half the RGB rate, stamped 1 ms before RGB: frames without a
    # thermal match are released as soon as the next thermal cannot be closer
    s = _sync(optional_streams=("thermal",))
    released_at = {}
    for i in range(12):
        t = T0 + i * PERIOD
        s.add_rgb(t, i)
        if i % 2 == 0:
            s.add("thermal", t - MS, f"t{i}")
        for o in s.pop_ready():
            released_at[o.rgb] = i
    assert all(released_at[k] == k for k in range(4, 11)), released_at


@pytest.mark.parametrize("stream", ["rgb", "depth"])
def test_out_of_order_and_duplicate_stamps_dropped_and_counted(stream):
    s = _sync(optional_streams=("depth",))
    add = (lambda t, p: s.add_rgb(t, p)) if stream == "rgb" else (lambda t, p: s.add("depth", t, p))
    assert add(T0, "a") is True
    assert add(T0, "dup") is False
    assert add(T0 - MS, "old") is False
    assert add(T0 + MS, "b") is True
    st = s.status()[stream]
    assert st["duplicate"] == 1 and st["out_of_order"] == 1 and st["received"] == 4


def test_bounded_queues_count_overflow():
    s = _sync(optional_streams=("depth",), max_queue=5)
    s.add("depth", T0, "d")  # alive, and rgb frames will wait for a newer depth
    for i in range(1, 20):
        s.add_rgb(T0 + i * MS, i)      # 1 ms apart: all within slop, none ready yet
    assert s.pending <= 5
    assert s.status()["rgb"]["overflow"] == 14
    for i in range(20):
        s.add("depth", T0 + (i + 1) * MS * 100, i)
    assert len(s._streams["depth"].queue) <= 5


def test_raw_events_window_ending_at_rgb_stamp():
    s = _sync(optional_streams=("event",), event_window_ns=10 * MS)
    t_us = T0 // 1000
    batch = events_from_arrays([1, 2, 3, 4], [0, 0, 0, 0], [t_us - 15_000, t_us - 9_000, t_us - 1, t_us + 5],
                               [1, 1, 0, 1], 8, 8)
    s.add_events(batch)
    s.add_rgb(T0, "rgb")
    out = s.pop_ready()
    assert len(out) == 1
    ev = out[0].streams["event"]
    assert ev.x_px.tolist() == [2, 3]      # (t - 10 ms, t]
    assert (ev.width, ev.height) == (8, 8)


def test_frame_waits_for_events_up_to_its_stamp():
    s = _sync(optional_streams=("event",), event_window_ns=10 * MS)
    t_us = T0 // 1000
    s.add_events(events_from_arrays([1], [1], [t_us - 5000], [1], 8, 8))
    s.add_rgb(T0, "rgb")
    assert s.pop_ready() == []  # events up to T0 may still arrive
    s.add_events(events_from_arrays([2], [1], [t_us + 100], [1], 8, 8))
    out = s.pop_ready()
    assert len(out) == 1 and out[0].streams["event"].x_px.tolist() == [1]


def test_wall_clock_releases_a_waiting_frame():
    now = [0]
    s = MultiStreamSynchronizer(optional_streams=("depth",), slop_ns=20 * MS, max_wait_ns=30 * MS,
                                wall_clock=lambda: now[0])
    s.add("depth", T0 - 10 * MS, "d")
    s.add_rgb(T0, "rgb")
    assert s.pop_ready() == []
    now[0] = 31 * MS
    out = s.pop_ready()
    assert len(out) == 1 and out[0].streams["depth"] == "d"
    assert s.status()["rgb"]["released_by_wall_clock"] == 1


def test_status_rates_and_reset():
    s = _sync(optional_streams=("depth",))
    for i in range(10):
        s.add_rgb(T0 + i * PERIOD, i)
        s.add("depth", T0 + i * PERIOD, i)
        s.pop_ready()
    st = s.status()
    assert st["rgb"]["rate_hz"] == pytest.approx(1e9 / PERIOD, rel=1e-3)
    assert st["depth"]["last_stamp_ns"] == T0 + 9 * PERIOD and st["rgb"]["emitted"] == 10
    s.reset()
    assert s.status()["rgb"]["last_stamp_ns"] is None and s.pending == 0


@pytest.mark.parametrize("kwargs,match", [
    (dict(optional_streams=("depth", "depth")), "distinct"),
    (dict(optional_streams=("rgb",)), "other than 'rgb'"),
    (dict(slop_ns=0), "slop_ns must be a positive"),
    (dict(max_queue=0), "max_queue"),
])
def test_bad_configuration(kwargs, match):
    with pytest.raises(SyncError, match=match):
        MultiStreamSynchronizer(**kwargs)


def test_bad_use():
    s = _sync(optional_streams=("depth",))
    with pytest.raises(SyncError, match="unknown stream 'sonar'"):
        s.add("sonar", T0, None)
    with pytest.raises(SyncError, match="integer nanoseconds"):
        s.add_rgb("yesterday", None)
    with pytest.raises(SyncError, match="integer nanoseconds"):
        s.add_rgb(1.5, None)


def test_empty_event_packet_keeps_stream_alive():
    s = _sync(optional_streams=("event",), event_window_ns=10 * MS, silence_timeout_ns=100 * MS)
    t_us = T0 // 1000
    s.add_events(events_from_arrays([1], [1], [t_us - 500], [1], 8, 8))
    for i in range(1, 6):
        s.add_rgb(T0 + i * 40 * MS, i)
        assert s.add_events(events_from_arrays([], [], [], [], 8, 8)) is True   # no motion, no stamp
        s.pop_ready()
    assert s.status()["event"]["silent"] is False


def test_clock_restart_resets_instead_of_dropping_forever():
    s = _sync(optional_streams=("depth",), jump_back_reset_ns=1_000 * MS)
    for i in range(5):
        s.add_rgb(T0 + i * PERIOD, i)
        s.add("depth", T0 + i * PERIOD, i)
        s.pop_ready()
    # the bag loops: stamps start again 4 s earlier
    out = []
    for i in range(5):
        assert s.add_rgb(T0 - 4_000 * MS + i * PERIOD, 10 + i) is True
        assert s.add("depth", T0 - 4_000 * MS + i * PERIOD, 10 + i) is True
        out += s.pop_ready()
    out += s.flush()
    assert [o.rgb for o in out] == [10, 11, 12, 13, 14] and all(o.missing == () for o in out)
    st = s.status()
    assert st["rgb"]["time_resets"] == 1 and st["rgb"]["emitted"] == 5
    assert s.add_rgb(T0 - 4_000 * MS, "small step back") is False   # within the threshold: out of order


@pytest.mark.parametrize("seed", range(5))
def test_random_arrivals_every_frame_once_in_order_and_within_slop(seed):
    rng = np.random.default_rng(seed)
    s = _sync(optional_streams=("depth", "thermal"), silence_timeout_ns=300 * MS, max_queue=50)
    accepted, out = [], []
    stamps = {"depth": [], "thermal": []}
    t_depth = t_thermal = T0
    for i in range(150):
        t = T0 + i * PERIOD + int(rng.integers(-3, 4)) * MS
        if rng.random() < 0.05:
            t -= 2 * PERIOD                     # an out-of-order RGB frame now and then
        if s.add_rgb(t, t):
            accepted.append(t)
        # depth at ~30 Hz with jitter and bursts of loss; thermal at ~9 Hz
        while t_depth < t + 20 * MS:
            t_depth += 33 * MS + int(rng.integers(-2, 3)) * MS
            if not (40 <= i < 60) and rng.random() > 0.1:
                s.add("depth", t_depth, t_depth)
        while t_thermal < t:
            t_thermal += 111 * MS
            s.add("thermal", t_thermal, t_thermal)
        out += s.pop_ready()
    out += s.flush()
    assert [o.stamp_ns for o in out] == accepted          # every accepted frame exactly once, in order
    for o in out:
        for name, payload in o.streams.items():
            assert abs(payload - o.stamp_ns) <= s.slop_ns   # payloads are their own stamps here
        assert set(o.missing) | set(o.streams) == {"depth", "thermal"}


def test_late_event_packet_is_kept():
    s = _sync(optional_streams=("event",), event_window_ns=10 * MS)
    t_us = T0 // 1000
    s.add_events(events_from_arrays([1], [1], [t_us], [1], 8, 8), stamp_ns=T0)
    assert s.add_events(events_from_arrays([2], [1], [t_us - 2000], [0], 8, 8), stamp_ns=T0 - 2 * MS) is True
    s.add_rgb(T0, "rgb")
    (o,) = s.pop_ready()
    assert o.streams["event"].x_px.tolist() == [2, 1]          # both, in time order
    assert s.status()["event"]["late_packets"] == 1
