"""viz.annotate: debug image drawing and the video writer."""
import os

import numpy as np
import pytest

from vl_tracking_ros.core.types import TrackerOutput, TrackResult, TrackState
from vl_tracking_ros.viz.annotate import VideoWriter, annotate, ascii_text, track_color


def _output():
    return TrackerOutput(tracks=[
        TrackResult(3, np.array([100, 60, 160, 120], np.float32), 0.9, position_m=np.array([0.1, 0.0, 2.5])),
        TrackResult(4, np.array([10, 150, 60, 200], np.float32), 0.3, state=TrackState.RELOCALIZING),
        TrackResult(5, np.array([200, 150, 300, 230], np.float32), 0.1, state=TrackState.LOST),
    ], mode="single")


def test_annotate_draws_boxes_and_text_at_320x240():
    img = np.full((240, 320, 3), 60, np.uint8)
    out = annotate(img, _output(), ["track the red car", "track all people — café"], "single | 12 ms")
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.all(img == 60)                                   # input untouched
    color = np.array(track_color(3), np.uint8)
    assert np.any(np.all(out[60:121, 99:102] == color, axis=-1))   # left edge of the box in its colour
    assert (out[0:12, :200] != 60).any()                      # command banner
    assert (out[-12:, :100] != 60).any()                      # mode line
    assert np.all(out[80:100, 120:140] == 60)                 # box interior untouched


def test_annotate_idle_and_bad_boxes():
    img = np.zeros((48, 64, 3), np.uint8)
    bad = TrackerOutput(tracks=[TrackResult(1, np.array([np.nan, 0, 5, 5], np.float32), 0.5)])
    out = annotate(img, bad, [])
    assert out.shape == img.shape and out[:10].any()          # "no command" banner still drawn
    with pytest.raises(ValueError, match="uint8 RGB"):
        annotate(np.zeros((4, 4), np.uint8), bad, [])


def test_ascii_text():
    assert ascii_text("café — ok") == "cafe ? ok"


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
def test_video_writer(tmp_path, name):
    path = str(tmp_path / name)
    with VideoWriter(path, fps=10) as vw:
        for k in range(5):
            img = np.zeros((64, 80, 3), np.uint8)
            img[:, k * 10:(k + 1) * 10] = 255
            vw.write(img)
        vw.write(np.zeros((32, 40, 3), np.uint8))   # other size: resized
    assert vw.frames == 6 and vw.resized == 1
    if name == "frames":
        assert len(os.listdir(vw.path)) == 6
    else:
        assert os.path.getsize(vw.path) > 0
    if vw.path.endswith(".mp4"):
        import cv2
        cap = cv2.VideoCapture(vw.path)
        n = 0
        while cap.read()[0]:
            n += 1
        assert n == 6
