"""Association on crafted detections: life cycle, 10-frame gap ReID, swaps."""
import numpy as np
import pytest

from vl_tracking_ros.trackers.association import (AssociationConfig, AssociationInputError, Associator,
                                                  Detections, TrackStatus)


def _box(cx, cy, w=20.0, h=20.0):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def _dets(objs, emb_dim=4):
    """objs: list of (cx, cy, vx, vy, embedding index)."""
    boxes = [_box(cx, cy) for cx, cy, *_ in objs]
    prev = [[cx - vx, cy - vy] for cx, cy, vx, vy, _ in objs]
    emb = np.zeros((len(objs), emb_dim), np.float32)
    for i, o in enumerate(objs):
        emb[i, o[4]] = 1.0
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(objs), 0.9, np.float32),
                      np.array(prev, np.float32).reshape(-1, 2), emb)


def test_birth_confirmation_and_ids_owned_by_instance():
    a = Associator(AssociationConfig(confirm_hits=2))
    assert a.update(_dets([(50, 50, 0, 0, 0)])) == []            # tentative: not reported
    out = a.update(_dets([(52, 50, 2, 0, 0)]))
    assert [t.track_id for t in out] == [1] and out[0].status == TrackStatus.CONFIRMED
    b = Associator()
    b.update(_dets([(10, 10, 0, 0, 1)]))
    assert b.tracks[0].track_id == 1                               # separate counter per instance


def test_tentative_track_dies_and_low_score_does_not_birth():
    a = Associator(AssociationConfig(confirm_hits=3, birth_score=0.5))
    a.update(_dets([(50, 50, 0, 0, 0)]))
    a.update(_dets([]))
    assert a.tracks == []
    weak = _dets([(50, 50, 0, 0, 0)])
    weak.scores[:] = 0.2
    a.update(weak)
    assert a.tracks == []


def test_id_kept_through_ten_frame_gap_by_reid():
    cfg = AssociationConfig(confirm_hits=2, max_lost_frames=15)
    a = Associator(cfg)
    x = 40.0
    for _ in range(5):                                   # object A moving right, object B static far away
        x += 3
        a.update(_dets([(x, 60, 3, 0, 0), (200, 150, 0, 0, 1)]))
    ids_before = {round(t.center_xy[1]): t.track_id for t in a.confirmed_visible()}
    for _ in range(10):                                  # A occluded for 10 frames
        x += 3
        a.update(_dets([(200, 150, 0, 0, 1)]))
    assert any(t.status == TrackStatus.LOST for t in a.tracks)
    x += 3
    out = a.update(_dets([(x, 60, 3, 0, 0), (200, 150, 0, 0, 1)]))   # reappears where it should be
    ids_after = {round(t.center_xy[1]): t.track_id for t in out}
    assert ids_after[60] == ids_before[60]
    assert ids_after[150] == ids_before[150]
    assert len({t.track_id for t in a.tracks}) == 2      # no new ID was born


def test_lost_track_deleted_after_buffer():
    a = Associator(AssociationConfig(confirm_hits=1, max_lost_frames=3))
    a.update(_dets([(50, 50, 0, 0, 0)]))
    for _ in range(4):
        a.update(_dets([]))
    assert a.tracks == []
    out = a.update(_dets([(50, 50, 0, 0, 0)]))
    assert out[0].track_id == 2


def test_crossing_objects_keep_ids_with_displacement():
    """Two objects cross; nearest-centre matching to the last position would
    swap them at the crossing, the displacement-predicted previous centres do not."""
    a = Associator(AssociationConfig(confirm_hits=1, appearance_weight=0.0))
    xa, xb = 40.0, 120.0
    first = None
    for _ in range(12):
        out = a.update(_dets([(xa, 60, 8, 0, 0), (xb, 64, -8, 0, 0)], ))
        ids = {t.track_id: t.center_xy[0] for t in out}
        if first is None:
            first = {tid: x for tid, x in ids.items()}
            id_a = min(first, key=first.get)
        # track id_a must keep following the right-moving object
        assert abs(ids[id_a] - xa) < 1e-3
        xa += 8
        xb -= 8


def test_swapped_assignment_costs_more_than_correct():
    a = Associator(AssociationConfig(confirm_hits=1))
    a.update(_dets([(40, 60, 0, 0, 0), (80, 60, 0, 0, 1)]))
    # next frame: appearance says det 0 is object 1 and det 1 is object 0 (they swapped places)
    out = a.update(_dets([(80, 60, 40, 0, 0), (40, 60, -40, 0, 1)]))
    by_emb = {int(np.argmax(t.embedding)): t.track_id for t in out}
    assert by_emb == {0: 1, 1: 2}


@pytest.mark.parametrize("kwargs, exc", [
    (dict(boxes_xyxy=np.zeros((2, 4)), scores=np.zeros(3), prev_centers_xy=np.zeros((2, 2))), AssociationInputError),
    (dict(boxes_xyxy=np.full((1, 4), np.nan), scores=np.zeros(1), prev_centers_xy=np.zeros((1, 2))), AssociationInputError),
    (dict(boxes_xyxy=np.zeros((1, 4)), scores=np.zeros(1), prev_centers_xy=np.zeros((1, 2)),
          embeddings=np.zeros((2, 4))), AssociationInputError),
])
def test_bad_detections_raise(kwargs, exc):
    with pytest.raises(exc):
        Detections(**kwargs)


def test_update_rejects_non_detections():
    with pytest.raises(AssociationInputError):
        Associator().update([[0, 0, 1, 1]])


def _weak(objs, score=0.2):
    d = _dets(objs)
    d.scores[:] = score
    return d


def test_low_score_pass_keeps_a_fading_object_tracked_without_births():
    """BYTE-style second pass: a confirmed track whose peak drops below the
    detection threshold stays visible with its ID; weak peaks elsewhere start
    nothing; without the pass the same track goes to the lost buffer."""
    cfg = AssociationConfig(confirm_hits=2, low_match_dist=0.5)
    with_pass, without = Associator(cfg), Associator(cfg)
    x = 40.0
    for _ in range(4):
        x += 3
        for a in (with_pass, without):
            a.update(_dets([(x, 60, 3, 0, 0)]))
    tid = with_pass.confirmed_visible()[0].track_id
    emb_before = with_pass.tracks[0].embedding.copy()
    for _ in range(5):                                   # partly hidden: only weak peaks, one far-away clutter peak
        x += 3
        weak = _weak([(x, 60, 3, 0, 2), (250, 200, 0, 0, 3)])
        out = with_pass.update(_dets([]), weak)
        assert [t.track_id for t in out] == [tid]
        assert abs(float(out[0].center_xy[0]) - x) < 1e-3
        assert without.update(_dets([])) == []
    assert len(with_pass.tracks) == 1                    # the clutter peak started no track
    np.testing.assert_allclose(with_pass.tracks[0].embedding, emb_before)   # weak peaks do not re-learn appearance
    assert without.tracks[0].status == TrackStatus.LOST


def test_low_score_pass_respects_gate_and_ignores_tentative_and_lost_tracks():
    a = Associator(AssociationConfig(confirm_hits=2, low_match_dist=0.5))
    a.update(_dets([(50, 50, 0, 0, 0)]))                # tentative
    a.update(_dets([]), _weak([(50, 50, 0, 0, 0)]))     # a weak peak cannot confirm or keep a tentative track
    assert a.tracks == []
    for cx in (50, 52, 54):
        a.update(_dets([(cx, 50, 2, 0, 0)]))
    # weak peak whose predicted previous centre is 15 px (0.75 box sizes) from the track: outside the 0.5 gate
    assert a.update(_dets([]), _weak([(71, 50, 2, 0, 0)])) == []
    assert a.tracks[0].status == TrackStatus.LOST
    assert a.update(_dets([]), _weak([(56, 50, 2, 0, 0)])) == []   # lost tracks are not revived by weak peaks
    with pytest.raises(AssociationInputError):
        a.update(_dets([]), "not detections")
