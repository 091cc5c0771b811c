"""trackers.heuristic: the no-weights language-aware fallback, on synthetic images."""
import numpy as np
import pytest

from vl_tracking_ros.core.commands import parse_command
from vl_tracking_ros.core.geometry import box_iou
from vl_tracking_ros.core.types import CameraIntrinsics, SensorFrame, TrackState
from vl_tracking_ros.trackers.heuristic import parse_cues
from vl_tracking_ros.trackers.registry import build_tracker


def _scene(red_xy=(100, 50), size=(240, 320)):
    img = np.full(size + (3,), 110, np.uint8)
    img += np.random.default_rng(0).integers(0, 12, img.shape, dtype=np.uint8)   # sensor noise
    x, y = red_xy
    img[y:y + 40, x:x + 40] = (220, 30, 30)          # red square
    img[150:200, 20:60] = (30, 40, 220)              # blue block
    img[160:180, 250:290] = (240, 220, 30)           # yellow block
    return img


def _tracker():
    return build_tracker("heuristic", device="cpu", backend="onnxruntime", weights_dir="/nonexistent")


def test_finds_red_square_and_keeps_id_while_it_moves():
    tr = _tracker()
    tr.set_commands(parse_command("track the red car").queries)
    ids = []
    for k in range(6):
        x = 100 + 8 * k
        out = tr.step(SensorFrame(image_rgb=_scene((x, 50)), stamp_ns=k))
        assert out.mode == "single" and len(out.tracks) == 1
        t = out.tracks[0]
        assert t.state == TrackState.TRACKING and t.command == "track the red car"
        assert box_iou(t.box_xyxy, [x, 50, x + 40, 90]) > 0.85
        assert 0.5 < t.confidence <= 1.0
        ids.append(t.track_id)
    assert len(set(ids)) == 1
    assert out.search == "local"


def test_lost_target_relocalizes_then_lost():
    tr = build_tracker("heuristic", lost_after=2)
    tr.set_commands(parse_command("track the red car").queries)
    tr.step(SensorFrame(image_rgb=_scene()))
    blank = np.full((240, 320, 3), 110, np.uint8)
    states = [tr.step(SensorFrame(image_rgb=blank)).tracks[0].state for _ in range(4)]
    assert states == [TrackState.RELOCALIZING, TrackState.RELOCALIZING, TrackState.LOST, TrackState.LOST]
    out = tr.step(SensorFrame(image_rgb=_scene()))
    assert out.tracks[0].state == TrackState.TRACKING


def test_track_all_finds_every_match_with_stable_ids():
    img = np.full((240, 320, 3), 100, np.uint8)
    boxes = [(20, 20), (150, 40), (60, 160)]
    for x, y in boxes:
        img[y:y + 30, x:x + 30] = (30, 200, 40)      # green squares
    tr = _tracker()
    tr.set_commands(parse_command("track all green boxes").queries)
    first = tr.step(SensorFrame(image_rgb=img))
    assert first.mode == "multi" and len(first.tracks) == 3
    second = tr.step(SensorFrame(image_rgb=np.roll(img, 3, axis=1)))
    assert sorted(t.track_id for t in second.tracks) == sorted(t.track_id for t in first.tracks)


def test_thermal_word_uses_thermal_image():
    img = _scene()
    thermal = np.full((240, 320), 293.0, np.float32)
    thermal[100:180, 200:230] = 309.0               # a warm person, invisible in colour
    tr = _tracker()
    tr.set_commands(parse_command("track the person").queries)
    out = tr.step(SensorFrame(image_rgb=img, thermal_k=thermal))
    assert len(out.tracks) == 1 and box_iou(out.tracks[0].box_xyxy, [200, 100, 230, 180]) > 0.8
    assert out.tracks[0].modality_weights == {"rgb": 0.5, "thermal": 0.5}


def test_selector_and_depth_position():
    img = np.full((240, 320, 3), 100, np.uint8)
    img[100:130, 20:50] = (220, 20, 20)
    img[100:130, 250:280] = (220, 20, 20)
    depth = np.full((240, 320), 4.0, np.float32)
    depth[100:130, 250:280] = 1.5
    cam = CameraIntrinsics(300, 300, 159.5, 119.5, 320, 240)
    for text, x0 in (("track the leftmost red ball", 20), ("track the right red ball", 250),
                     ("track the nearest red ball", 250)):
        tr = _tracker()
        tr.set_commands(parse_command(text).queries)
        t = tr.step(SensorFrame(image_rgb=img, depth_m=depth, camera=cam)).tracks[0]
        assert t.box_xyxy[0] == x0, text
        assert t.position_m is not None and t.position_m[2] == pytest.approx(1.5 if x0 == 250 else 4.0)


def test_idle_and_clear():
    tr = _tracker()
    assert tr.step(SensorFrame(image_rgb=_scene())).mode == "idle"
    tr.set_commands(parse_command("track the blue block").queries)
    assert len(tr.step(SensorFrame(image_rgb=_scene())).tracks) == 1
    tr.clear()
    out = tr.step(SensorFrame(image_rgb=_scene()))
    assert out.tracks == [] and out.mode == "idle"


def test_cue_parsing():
    c = parse_cues("the hot red and grey engine on the left, moving")
    assert c.colours == ("red", "gray") and c.temperature == "hot" and c.moving and c.selector == "left"
    assert parse_cues("the thing").empty


def test_relation_and_motion_phrases_parsed():
    c = parse_cues("the red ball to the left of the white drone")
    assert c.colours == ("red",) and c.category == "ball" and c.relation == "left_of"
    assert c.anchor.colours == ("white",) and c.anchor.category == "drone"
    m = parse_cues("the car heading left")
    assert m.moving and m.selector is None and m.category == "car"
    assert parse_cues("the car on the left").selector == "left"
    assert parse_cues("the box standing still").moving is False


def test_relation_picks_the_object_below_the_anchor():
    img = np.full((240, 320, 3), 100, np.uint8)
    img[20:50, 140:170] = (220, 20, 20)     # red square at the top
    img[180:210, 40:70] = (220, 20, 20)     # red square at the bottom left
    img[100:130, 30:80] = (20, 40, 220)     # blue box in the middle left
    tr = _tracker()
    tr.set_commands(parse_command("track the red box below the blue box").queries)
    t = tr.step(SensorFrame(image_rgb=img)).tracks[0]
    assert box_iou(t.box_xyxy, [40, 180, 70, 210]) > 0.8
    tr.set_commands(parse_command("track the red box above the blue box").queries)
    t = tr.step(SensorFrame(image_rgb=img)).tracks[0]
    assert box_iou(t.box_xyxy, [140, 20, 170, 50]) > 0.8


def test_category_shape_prior_chooses_the_tall_blob_for_a_person():
    img = np.full((240, 320, 3), 100, np.uint8)
    img[100:130, 20:90] = (220, 200, 20)    # wide yellow blob (car-like, bigger)
    img[60:130, 200:230] = (20, 200, 60)    # tall green blob (person-like)
    tr = _tracker()
    tr.set_commands(parse_command("track the person").queries)
    t = tr.step(SensorFrame(image_rgb=img)).tracks[0]
    assert box_iou(t.box_xyxy, [200, 60, 230, 130]) > 0.8
    tr.set_commands(parse_command("track the car").queries)
    t = tr.step(SensorFrame(image_rgb=img)).tracks[0]
    assert box_iou(t.box_xyxy, [20, 100, 90, 130]) > 0.8


def test_cold_band_excludes_the_sky():
    img = np.full((240, 320, 3), 100, np.uint8)
    thermal = np.full((240, 320), 288.0, np.float32)
    thermal[:80] = 245.0                     # cold sky
    thermal[150:180, 100:130] = 270.0        # a cold object
    tr = _tracker()
    tr.set_commands(parse_command("track the cold box").queries)
    t = tr.step(SensorFrame(image_rgb=img, thermal_k=thermal)).tracks[0]
    assert box_iou(t.box_xyxy, [100, 150, 130, 180]) > 0.8


def test_adding_a_query_keeps_existing_ids():
    tr = _tracker()
    tr.set_commands(parse_command("track the red car").queries)
    first = tr.step(SensorFrame(image_rgb=_scene())).tracks[0].track_id
    active = parse_command("also track the blue block").apply_to(tr.active_commands)
    tr.set_commands(active)
    out = tr.step(SensorFrame(image_rgb=_scene()))
    ids = {t.command: t.track_id for t in out.tracks}
    assert ids["track the red car"] == first and ids["track the blue block"] != first
