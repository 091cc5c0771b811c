"""core.events: validation, accumulation, EVT 3.0 codec, rolling window."""
import numpy as np
import pytest

from vl_tracking_ros.core.events import (EVENT_REPRESENTATIONS, EventDecodeError, EventWindow, accumulate_events,
                                         concat_events, decode_evt3, encode_evt3, events_from_arrays)


def _random_batch(rng, n, width=640, height=480, t0=0, span_us=2_000_000):
    return events_from_arrays(rng.integers(0, width, n), rng.integers(0, height, n),
                              t0 + np.sort(rng.integers(0, span_us, n)), rng.integers(0, 2, n), width, height)


def _canon(batch):
    order = np.lexsort((batch.polarity, batch.x_px, batch.y_px, batch.t_us))
    return np.stack([batch.t_us[order], batch.y_px[order], batch.x_px[order], batch.polarity[order]])


# ----------------------------------------------------------- validation
def test_events_from_arrays_sorts_and_normalises_polarity():
    b = events_from_arrays([1, 2, 3], [0, 1, 2], [30, 10, 20], [-1, 1, 0], 4, 4)
    assert b.t_us.tolist() == [10, 20, 30]
    assert b.x_px.tolist() == [2, 3, 1] and b.polarity.tolist() == [1, 0, 0]
    assert b.x_px.dtype == np.uint16 and b.t_us.dtype == np.int64 and b.polarity.dtype == np.uint8


@pytest.mark.parametrize("args,match", [
    (([1, 2], [1], [1, 2], [1, 1], 4, 4), r"differ in length: x=2 y=1"),
    (([4], [0], [1], [1], 4, 4), r"x outside the sensor: range 4..4, width 4"),
    (([0], [9], [1], [1], 4, 4), r"y outside the sensor"),
    (([-1], [0], [1], [1], 4, 4), r"x outside the sensor"),
    (([0.5], [0], [1], [1], 4, 4), r"x must be integers"),
    (([0], [0], [1], [1], 0, 4), r"sensor size must be 1..65535"),
])
def test_events_from_arrays_rejects(args, match):
    with pytest.raises(EventDecodeError, match=match):
        events_from_arrays(*args)


def test_empty_and_concat():
    e = events_from_arrays([], [], [], [], 8, 6)
    assert len(e) == 0 and (e.width, e.height) == (8, 6)
    c = concat_events([events_from_arrays([1], [1], [5], [1], 8, 6), e, events_from_arrays([2], [2], [7], [0], 8, 6)])
    assert len(c) == 2 and c.t_us.tolist() == [5, 7]
    with pytest.raises(EventDecodeError, match="different sensor sizes"):
        concat_events([e, events_from_arrays([], [], [], [], 9, 6)])


# ---------------------------------------------------------- accumulation
def test_histogram_counts_per_polarity():
    b = events_from_arrays([1, 1, 1, 2, 3], [0, 0, 0, 2, 3], [1, 2, 3, 4, 5], [1, 1, 0, 0, 1], 4, 4)
    h = accumulate_events(b, 4, 4, "histogram", normalize=False)
    assert h.shape == (4, 4, 2) and h.dtype == np.float32
    assert h[0, 1].tolist() == [2.0, 1.0]   # ON count, OFF count
    assert h[2, 2].tolist() == [0.0, 1.0]
    assert h[3, 3].tolist() == [1.0, 0.0]
    assert h.sum() == 5
    hn = accumulate_events(b, 4, 4, "histogram")
    assert hn.max() <= 1.0 and hn.min() >= 0.0 and hn[0, 1, 0] == 1.0


def test_window_selects_events():
    b = events_from_arrays([0, 1, 2, 3], [0, 0, 0, 0], [100, 200, 300, 400], [1, 1, 1, 1], 4, 1)
    h = accumulate_events(b, 1, 4, "histogram", window_us=150, t_end_us=350, normalize=False)
    assert h[0, :, 0].tolist() == [0, 0, 1, 0]  # only t in (200, 350]
    assert accumulate_events(b, 1, 4, window_us=10, t_end_us=50).sum() == 0


def test_time_surface_decays_with_age():
    b = events_from_arrays([0, 1, 2], [0, 0, 0], [0, 500, 1000], [1, 1, 0], 3, 1)
    ts = accumulate_events(b, 1, 3, "time_surface", window_us=2000, t_end_us=1000, tau_us=500.0)
    assert ts.shape == (1, 3, 2)
    assert ts[0, 2, 1] == pytest.approx(1.0)          # newest OFF event
    assert ts[0, 1, 0] == pytest.approx(np.exp(-1.0))  # 500 us old, tau 500
    assert ts[0, 0, 0] == pytest.approx(np.exp(-2.0))
    assert ts[0, 2, 0] == 0.0 and ts[0, 0, 1] == 0.0


@pytest.mark.parametrize("bins", [1, 2, 5, 9])
def test_voxel_sums_to_net_polarity(bins):
    rng = np.random.default_rng(bins)
    b = _random_batch(rng, 3000, 16, 12, span_us=10_000)
    vox = accumulate_events(b, 12, 16, "voxel", bins=bins, normalize=False)
    assert vox.shape == (12, 16, bins)
    net = np.zeros((12, 16))
    np.add.at(net, (b.y_px, b.x_px), np.where(b.polarity > 0, 1.0, -1.0))
    np.testing.assert_allclose(vox.sum(axis=2), net, atol=1e-3)
    norm = accumulate_events(b, 12, 16, "voxel", bins=bins)
    assert np.abs(norm).max() == pytest.approx(1.0)


def test_voxel_bilinear_time_weights():
    # window (0, 100]: first event at t=1 -> bin 0, last at t=100 -> bin 4, middle splits
    b = events_from_arrays([0, 0, 0], [0, 0, 0], [1, 100, 50], [1, 1, 1], 1, 1)
    vox = accumulate_events(b, 1, 1, "voxel", bins=5, window_us=100, t_end_us=100, normalize=False)[0, 0]
    assert vox[0] == pytest.approx(1.0) and vox[4] == pytest.approx(1.0)
    tn = (50 - 1) * 4 / 99
    lo = int(np.floor(tn))
    assert vox[lo] == pytest.approx(1 - (tn - lo)) and vox[lo + 1] == pytest.approx(tn - lo)


def test_accumulate_rescales_sensor_to_output_size():
    b = events_from_arrays([639, 0], [479, 0], [1, 2], [1, 1], 640, 480)
    h = accumulate_events(b, 240, 320, normalize=False)
    assert h.shape == (240, 320, 2) and h[239, 319, 0] == 1 and h[0, 0, 0] == 1


@pytest.mark.parametrize("representation", EVENT_REPRESENTATIONS)
def test_empty_batch_gives_zeros(representation):
    out = accumulate_events(events_from_arrays([], [], [], [], 4, 3), 3, 4, representation, bins=3)
    assert out.shape[:2] == (3, 4) and not out.any()


def test_accumulate_rejects_unknown_representation():
    with pytest.raises(ValueError, match="unknown event representation 'frames'"):
        accumulate_events(events_from_arrays([], [], [], [], 4, 3), 3, 4, "frames")


# ------------------------------------------------------------------ EVT3
@pytest.mark.parametrize("seed,n,use_vectors", [(0, 1, True), (1, 500, True), (2, 5000, True), (3, 5000, False)])
def test_evt3_round_trip_random(seed, n, use_vectors):
    rng = np.random.default_rng(seed)
    b = _random_batch(rng, n, t0=1_000_000)
    buf = encode_evt3(b, time_base_us=1_000_000, use_vectors=use_vectors)
    assert len(buf) % 2 == 0
    d = decode_evt3(buf, 640, 480, time_base_us=1_000_000)
    np.testing.assert_array_equal(_canon(d), _canon(b))


def test_evt3_round_trip_dense_rows_use_vectors_and_duplicates():
    # whole rows firing at once (vectors), plus duplicate events
    x = np.concatenate([np.tile(np.arange(0, 300, 2), 4), [5, 5, 5]])
    y = np.concatenate([np.repeat([10, 11, 12, 13], 150), [10, 10, 10]])
    t = np.full(x.shape[0], 777)
    p = np.concatenate([np.ones(600), [1, 1, 1]])
    b = events_from_arrays(x, y, t, p, 640, 480)
    buf = encode_evt3(b)
    words = np.frombuffer(buf, "<u2") >> 12
    assert (words == 0x4).sum() > 0            # VECT_12 words were used
    assert len(buf) // 2 < len(b) // 2        # much more compact than one word per event
    np.testing.assert_array_equal(_canon(decode_evt3(buf, 640, 480)), _canon(b))


def test_evt3_round_trip_across_24_bit_wrap():
    rng = np.random.default_rng(5)
    base = 123_456_789
    b = _random_batch(rng, 2000, t0=base, span_us=40_000_000)  # spans > 2 wraps of 2**24 us
    buf = encode_evt3(b, time_base_us=base)
    np.testing.assert_array_equal(_canon(decode_evt3(buf, 640, 480, time_base_us=base)), _canon(b))


def _w(kind, payload):
    return (kind << 12) | payload


def test_evt3_decode_hand_built_stream():
    words = [
        _w(0x2, 0x800 | 7),          # EVT_ADDR_X before any time high: skipped
        _w(0x8, 1),                  # EVT_TIME_HIGH = 1 -> 4096 us
        _w(0x6, 5),                  # EVT_TIME_LOW = 5  -> t = 4101
        _w(0x0, 10),                 # EVT_ADDR_Y = 10
        _w(0x2, 0x800 | 3),          # ON event at x = 3
        _w(0x3, 100),                # VECT_BASE_X x = 100, OFF
        _w(0x4, 0b101),              # VECT_12: x = 100, 102 ; base -> 112
        _w(0x5, 0x81),               # VECT_8: x = 112, 119 ; base -> 120
        _w(0xA, 0x001),              # EXT_TRIGGER: ignored
        _w(0xE, 0x000),              # OTHERS: ignored
        _w(0x7, 0xF),                # CONTINUED_4: ignored
        _w(0x6, 16),                 # EVT_TIME_LOW = 16 -> t = 4112
        _w(0x0, 0x800 | 11),         # EVT_ADDR_Y = 11 (system type bit set)
        _w(0x2, 5),                  # OFF event at x = 5
        _w(0x8, 0xFFF),              # time high 4095
        _w(0x8, 0x000),              # wrap -> +2**24
        _w(0x6, 1),                  # t = 2**24 + 1
        _w(0x2, 0x800 | 9),          # ON at x = 9, y = 11
    ]
    buf = np.asarray(words, "<u2").tobytes()
    d = decode_evt3(buf, 200, 20)
    got = list(zip(d.x_px.tolist(), d.y_px.tolist(), d.t_us.tolist(), d.polarity.tolist()))
    assert got == [(3, 10, 4101, 1), (100, 10, 4101, 0), (102, 10, 4101, 0), (112, 10, 4101, 0),
                   (119, 10, 4101, 0), (5, 11, 4112, 0), (9, 11, (1 << 24) + 1, 1)]


def test_evt3_decode_bad_input():
    with pytest.raises(EventDecodeError, match="not a whole number of 16-bit words"):
        decode_evt3(b"\x00\x80\x01", 10, 10)
    assert len(decode_evt3(b"", 10, 10)) == 0
    words = np.asarray([_w(0x8, 0), _w(0x6, 0), _w(0x0, 50), _w(0x2, 3)], "<u2").tobytes()
    assert len(decode_evt3(words, 10, 10)) == 0          # y = 50 outside a 10x10 sensor: dropped
    with pytest.raises(EventDecodeError, match="outside the 10x10 sensor"):
        decode_evt3(words, 10, 10, strict=True)


def test_evt3_encode_rejects_big_coordinates_and_early_times():
    with pytest.raises(EventDecodeError, match="2047"):
        encode_evt3(events_from_arrays([3000], [0], [1], [1], 4000, 10))
    with pytest.raises(EventDecodeError, match="before time_base_us"):
        encode_evt3(events_from_arrays([1], [0], [1], [1], 4, 4), time_base_us=10)


# -------------------------------------------------------------- window
def test_event_window_take_and_bounded_memory():
    win = EventWindow(8, 8, retain_us=1000, max_events=50)
    for k in range(20):
        t = k * 100 + np.arange(10)
        win.add(events_from_arrays(np.full(10, k % 8), np.zeros(10), t, np.ones(10), 8, 8))
        assert len(win) <= 50
    got = win.take(1909, 100)
    assert got.t_us.min() > 1809 and got.t_us.max() <= 1909 and len(got) == 10
    assert win.dropped == 200 - len(win)
    assert len(win.take(100, 50)) == 0   # long gone


def test_event_window_out_of_order_batches_come_back_sorted():
    win = EventWindow(4, 4)
    win.add(events_from_arrays([1, 1], [1, 1], [50, 60], [1, 1], 4, 4))
    win.add(events_from_arrays([2, 2], [2, 2], [10, 55], [0, 0], 4, 4))
    out = win.take(100, 100)
    assert out.t_us.tolist() == [10, 50, 55, 60]


def test_event_window_rejects_other_sensor():
    win = EventWindow(4, 4)
    with pytest.raises(EventDecodeError, match="5x4 sensor added to a 4x4"):
        win.add(events_from_arrays([1], [1], [1], [1], 5, 4))


@pytest.mark.parametrize("seed", range(4))
def test_evt3_decoder_survives_garbage(seed):
    rng = np.random.default_rng(seed)
    buf = rng.integers(0, 1 << 16, 20_000, dtype=np.uint16).astype("<u2").tobytes()
    d = decode_evt3(buf, 320, 240)
    assert len(d) > 0
    assert d.x_px.max() < 320 and d.y_px.max() < 240
    assert d.t_us.min() >= 0 and d.polarity.max() <= 1


@pytest.mark.parametrize("n", [10, 300, 50_000])   # sparse and dense accumulation paths
def test_histogram_matches_reference_counts(n):
    rng = np.random.default_rng(n)
    b = _random_batch(rng, n, 64, 48, span_us=1000)
    ref = np.zeros((48, 64, 2), np.float32)
    np.add.at(ref, (b.y_px, b.x_px, 1 - b.polarity), 1.0)
    np.testing.assert_array_equal(accumulate_events(b, 48, 64, normalize=False), ref)
    norm = accumulate_events(b, 48, 64)
    nz = ref[ref > 0]
    scale = max(np.sort(nz)[int(np.ceil(0.99 * (nz.size - 1)))], 1.0)
    np.testing.assert_allclose(norm, np.minimum(ref / scale, 1.0), rtol=1e-6)
