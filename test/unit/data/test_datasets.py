"""Dataset readers on small fixtures written in each benchmark's layout."""
import json

import cv2
import numpy as np
import pytest

from vl_tracking_ros.data.datasets import (DatasetFormatError, list_lasot, list_refer_kitti, read_depthtrack_sequence,
                                          read_lasher_sequence, read_lasot_sequence, read_mot_sequence,
                                          read_otb_lang_sequence, read_refer_kitti, read_tnl2k_sequence,
                                          read_visevent_sequence, write_lasot_sequence, write_mot_sequence,
                                          write_refer_kitti)
from vl_tracking_ros.data.datasets.mot import format_mot_rows

H, W = 24, 32


def _img(i, channels=3):
    img = np.zeros((H, W, channels), np.uint8)
    img[..., 0] = 10 * i
    img[2:6, 3 + i:9 + i] = 255
    return img


def _write_frames(folder, names, channels=3, dtype=np.uint8):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        img = _img(i, channels) if dtype == np.uint8 else np.full((H, W), 1000 + i, np.uint16)
        assert cv2.imwrite(str(folder / name), img)


# ---------------------------------------------------------------- LaSOT
def _lasot(root):
    seq = root / "airplane" / "airplane-1"
    _write_frames(seq / "img", [f"{i:08d}.jpg" for i in range(1, 5)])
    (seq / "groundtruth.txt").write_text("3,2,6,4\n4,2,6,4\n0,0,0,0\n6,2,6,4\n")
    (seq / "full_occlusion.txt").write_text("0,0,1,0\n")
    (seq / "out_of_view.txt").write_text("0,1,0,0\n")
    (seq / "nlp.txt").write_text("white airplane landing on the runway\n")
    return seq


def test_lasot_reader(tmp_path):
    seq_dir = _lasot(tmp_path)
    assert list_lasot(tmp_path) == [seq_dir]
    seq = read_lasot_sequence(seq_dir)
    assert len(seq) == 4 and seq.language == "white airplane landing on the runway"
    np.testing.assert_array_equal(seq.absent, [False, True, True, False])       # flags + zero box
    np.testing.assert_allclose(seq.boxes_xyxy[0], [3, 2, 9, 6])
    assert np.isnan(seq.boxes_xywh[2]).all()
    assert seq.load_rgb(0).shape == (H, W, 3)


def test_lasot_corrupt_line_names_file_and_line(tmp_path):
    seq_dir = _lasot(tmp_path)
    (seq_dir / "groundtruth.txt").write_text("3,2,6,4\n4,2,six,4\n0,0,0,0\n6,2,6,4\n")
    with pytest.raises(DatasetFormatError, match=r"groundtruth\.txt:2: not a number"):
        read_lasot_sequence(seq_dir)
    (seq_dir / "groundtruth.txt").write_text("3,2,6,4\n4,2,6\n0,0,0,0\n6,2,6,4\n")
    with pytest.raises(DatasetFormatError, match=r"groundtruth\.txt:2: expected at least 4"):
        read_lasot_sequence(seq_dir)
    (seq_dir / "groundtruth.txt").write_text("3,2,6,4\n4,2,6,4\n0,0,0,0\n")
    with pytest.raises(DatasetFormatError, match=r"groundtruth\.txt: has 3 annotation lines but the sequence has 4"):
        read_lasot_sequence(seq_dir)
    (seq_dir / "groundtruth.txt").write_text("3,2,6,4\n4,2,6,4\n0,0,0,0\n6,2,6,4\n")
    (seq_dir / "full_occlusion.txt").write_text("0,0,2,0\n")
    with pytest.raises(DatasetFormatError, match=r"full_occlusion\.txt:1: flag must be 0 or 1"):
        read_lasot_sequence(seq_dir)


def test_corrupt_or_missing_frame_names_file(tmp_path):
    seq_dir = _lasot(tmp_path)
    (seq_dir / "img" / "00000002.jpg").write_bytes(b"not a jpeg")
    seq = read_lasot_sequence(seq_dir)
    with pytest.raises(DatasetFormatError, match=r"00000002\.jpg: frame cannot be decoded"):
        seq.load_rgb(1)
    (seq_dir / "img" / "00000003.jpg").unlink()
    with pytest.raises(DatasetFormatError, match=r"groundtruth\.txt: has 4 annotation lines but the sequence has 3"):
        read_lasot_sequence(seq_dir)


def test_lasot_writer_round_trip(tmp_path):
    boxes = np.array([[1, 2, 11, 12], [np.nan] * 4, [3.5, 4, 13.25, 14]], np.float64)
    write_lasot_sequence(tmp_path / "s", [_img(i) for i in range(3)], boxes, "the red car")
    seq = read_lasot_sequence(tmp_path / "s")
    np.testing.assert_array_equal(seq.absent, [False, True, False])
    np.testing.assert_allclose(seq.boxes_xyxy[[0, 2]], boxes[[0, 2]], atol=0.01)
    assert seq.language == "the red car"
    np.testing.assert_array_equal(seq.load_rgb(2), _img(2))                  # png is lossless


# ---------------------------------------------------------------- TNL2K / OTB99-lang
def test_tnl2k_reader(tmp_path):
    seq_dir = tmp_path / "advSamp_Baseball_video_01"
    _write_frames(seq_dir / "imgs", [f"{i:05d}.png" for i in range(1, 4)])
    (seq_dir / "groundtruth.txt").write_text("1,1,5,5\n2,1,5,5\n3,1,5,5\n")
    (seq_dir / "language.txt").write_text("the batter in white\n")
    seq = read_tnl2k_sequence(seq_dir)
    assert len(seq) == 3 and seq.language == "the batter in white" and not seq.absent.any()
    (seq_dir / "groundtruth.txt").write_text("1,1,5,5\n\n3,1,5,5\n")
    with pytest.raises(DatasetFormatError, match=r"groundtruth\.txt:2: empty annotation line"):
        read_tnl2k_sequence(seq_dir)


def test_otb99_lang_reader(tmp_path):
    seq_dir = tmp_path / "OTB100" / "Biker"
    _write_frames(seq_dir / "img", [f"{i:04d}.jpg" for i in range(1, 5)])
    (seq_dir / "groundtruth_rect.txt").write_text("1\t2\t5\t6\n2\t2\t5\t6\n3 2 5 6\n")   # starts at frame 2
    (tmp_path / "OTB_query_test").mkdir()
    (tmp_path / "OTB_query_test" / "Biker.txt").write_text("boy riding a bike\n")
    seq = read_otb_lang_sequence(seq_dir)
    assert len(seq) == 3 and seq.frames[0].name == "0002.jpg" and seq.language == "boy riding a bike"
    np.testing.assert_allclose(seq.boxes_xyxy[2], [3, 2, 8, 8])
    (seq_dir / "groundtruth_rect.txt").write_text("1,2,5,6\n2,2,5,x\n")
    with pytest.raises(DatasetFormatError, match=r"groundtruth_rect\.txt:2"):
        read_otb_lang_sequence(seq_dir)


# ---------------------------------------------------------------- RGB-X
def test_lasher_reader(tmp_path):
    seq_dir = tmp_path / "1boygo"
    _write_frames(seq_dir / "visible", [f"v{i:06d}.jpg" for i in range(3)])
    _write_frames(seq_dir / "infrared", [f"i{i:06d}.jpg" for i in range(3)])
    (seq_dir / "visible.txt").write_text("1,1,4,4\n2,1,4,4\n0,0,0,0\n")
    (seq_dir / "infrared.txt").write_text("1,2,4,4\n2,2,4,4\n0,0,0,0\n")
    seq = read_lasher_sequence(seq_dir)
    assert len(seq) == 3 and seq.dataset == "lasher"
    np.testing.assert_array_equal(seq.absent, [False, False, True])
    np.testing.assert_allclose(seq.aux_boxes_xywh["thermal"][0], [1, 2, 4, 4])
    assert seq.load_aux("thermal", 1).shape[:2] == (H, W)
    (seq_dir / "infrared" / "i000002.jpg").unlink()
    with pytest.raises(DatasetFormatError, match="visible and infrared frame counts differ"):
        read_lasher_sequence(seq_dir)


def test_depthtrack_reader(tmp_path):
    seq_dir = tmp_path / "adapter01_indoor"
    _write_frames(seq_dir / "color", [f"{i:08d}.jpg" for i in range(1, 4)])
    _write_frames(seq_dir / "depth", [f"{i:08d}.png" for i in range(1, 4)], dtype=np.uint16)
    (seq_dir / "groundtruth.txt").write_text("1,1,4,4\nnan,nan,nan,nan\n3,1,4,4\n")
    seq = read_depthtrack_sequence(seq_dir)
    np.testing.assert_array_equal(seq.absent, [False, True, False])
    depth = seq.load_aux("depth", 2)
    assert depth.dtype == np.uint16 and int(depth[0, 0]) == 1002
    from vl_tracking_ros.data.datasets import depth_png_to_m
    assert depth_png_to_m(depth)[0, 0] == pytest.approx(1.002)
    (seq_dir / "groundtruth.txt").write_text("1,1,4,4\nnan,nan,nan,nan\n3;1;4\n")
    with pytest.raises(DatasetFormatError, match=r"groundtruth\.txt:3"):
        read_depthtrack_sequence(seq_dir)


def test_visevent_reader(tmp_path):
    seq_dir = tmp_path / "00141_tank_outdoor2"
    _write_frames(seq_dir / "vis_imgs", [f"frame{i:04d}.bmp" for i in range(3)])
    _write_frames(seq_dir / "event_imgs", [f"frame{i:04d}.bmp" for i in range(3)])
    (seq_dir / "groundtruth.txt").write_text("1,1,4,4\n2,1,4,4\n3,1,4,4\n")
    (seq_dir / "absent_label.txt").write_text("1\n0\n1\n")                  # 1 = present
    seq = read_visevent_sequence(seq_dir)
    np.testing.assert_array_equal(seq.absent, [False, True, False])
    assert "event" in seq.aux_frames
    (seq_dir / "absent_label.txt").write_text("1\n0\n")
    with pytest.raises(DatasetFormatError, match=r"absent_label\.txt: has 2 flags but the sequence has 3"):
        read_visevent_sequence(seq_dir)


# ---------------------------------------------------------------- MOT17
def test_mot17_reader_and_writer(tmp_path):
    seq_dir = tmp_path / "MOT17-02-FRCNN"
    _write_frames(seq_dir / "img1", [f"{i:06d}.jpg" for i in range(1, 4)])
    (seq_dir / "seqinfo.ini").write_text("[Sequence]\nname=MOT17-02-FRCNN\nimDir=img1\nframeRate=30\nseqLength=3\n"
                                         "imWidth=32\nimHeight=24\nimExt=.jpg\n")
    (seq_dir / "gt").mkdir()
    (seq_dir / "gt" / "gt.txt").write_text("1,1,2,3,4,5,1,1,0.9\n1,2,10,3,4,5,0,1,1.0\n2,1,3,3,4,5,1,1,0.8\n"
                                           "2,3,8,8,4,4,1,7,1.0\n")
    (seq_dir / "det").mkdir()
    (seq_dir / "det" / "det.txt").write_text("1,-1,2,3,4,5,0.95\n")
    seq = read_mot_sequence(seq_dir)
    assert len(seq) == 3 and seq.fps == 30 and (seq.width, seq.height) == (32, 24)
    ids, boxes, vis = seq.gt_frame(0)
    assert ids.tolist() == [1] and boxes[0].tolist() == [2, 3, 6, 8] and vis[0] == pytest.approx(0.9)
    ids, _, _ = seq.gt_frame(1)
    assert ids.tolist() == [1]                                  # class 7 (distractor) is not a target
    assert seq.det.shape == (1, 10)
    (seq_dir / "gt" / "gt.txt").write_text("1,1,2,3,4,5,1,1,0.9\n9,1,2,3,4,5,1,1,0.9\n")
    with pytest.raises(DatasetFormatError, match=r"gt\.txt:2: frame number 9 outside 1\.\.3"):
        read_mot_sequence(seq_dir)
    rows = [(1, 5, np.array([1, 2, 5, 7]), 1, 1, 0.5), (2, 5, np.array([2, 2, 6, 7]), 1, 1, 1.0)]
    write_mot_sequence(tmp_path / "syn", [_img(i) for i in range(2)], rows, fps=15)
    back = read_mot_sequence(tmp_path / "syn")
    ids, boxes, vis = back.gt_frame(1)
    assert ids.tolist() == [5] and boxes[0].tolist() == [2, 2, 6, 7] and back.fps == 15
    assert format_mot_rows(rows).count("\n") == 2


# ---------------------------------------------------------------- Refer-KITTI
def test_refer_kitti_reader_and_writer(tmp_path):
    labels = [(np.array([3, 4]), np.array([[0, 0, 8, 6], [16, 12, 32, 24]], float), np.array([1, 1])),
              (np.array([3]), np.array([[2, 0, 10, 6]], float), np.array([1]))]
    write_refer_kitti(tmp_path, "0005", [_img(i) for i in range(2)], labels,
                      [("cars in the left", {0: [3], 1: [3]}), ("all cars", {0: [3, 4], 1: [3]})])
    assert list_refer_kitti(tmp_path) == ["0005"]
    seq = read_refer_kitti(tmp_path, "0005")
    assert len(seq) == 2 and seq.frame_numbers == [0, 1] and (seq.width, seq.height) == (W, H)
    ids, boxes, _ = seq.labels[0]
    assert ids.tolist() == [3, 4]
    np.testing.assert_allclose(boxes, labels[0][1], atol=1e-3)
    by_sentence = {e.sentence: e for e in seq.expressions}
    assert by_sentence["all cars"].referents(0) == [3, 4] and by_sentence["all cars"].referents(1) == [3]
    # the real layout: labels normalised x, y (top-left), w, h
    line = (tmp_path / "KITTI" / "labels_with_ids" / "image_02" / "0005" / "000001.txt").read_text().split()
    assert [float(v) for v in line[2:]] == pytest.approx([2 / W, 0, 8 / W, 6 / H])
    bad = tmp_path / "expression" / "0005" / "bad.json"
    bad.write_text('{"label": {"0": [3]},\n "sentence": }')
    with pytest.raises(DatasetFormatError, match=r"bad\.json:2: invalid JSON"):
        read_refer_kitti(tmp_path, "0005")
    bad.write_text(json.dumps({"label": {"0": [3]}}))
    with pytest.raises(DatasetFormatError, match="needs 'sentence'"):
        read_refer_kitti(tmp_path, "0005")
    bad.unlink()
    (tmp_path / "KITTI" / "labels_with_ids" / "image_02" / "0005" / "000001.txt").write_text("0 3 0.1 0.2 0.3\n")
    with pytest.raises(DatasetFormatError, match=r"000001\.txt:1: expected at least 6"):
        read_refer_kitti(tmp_path, "0005")


def test_layout_detection(tmp_path):
    from vl_tracking_ros.data.datasets import detect_layout, read_sot_sequence

    lasot = _lasot(tmp_path / "lasot")
    assert detect_layout(lasot) == "lasot" and len(read_sot_sequence(lasot)) == 4
    vis = tmp_path / "ve"
    _write_frames(vis / "vis_imgs", ["frame0000.bmp"])
    _write_frames(vis / "event_imgs", ["frame0000.bmp"])
    (vis / "groundtruth.txt").write_text("1,1,4,4\n")
    assert detect_layout(vis) == "visevent" and read_sot_sequence(vis).dataset == "visevent"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetFormatError, match="not a known single-object layout"):
        read_sot_sequence(tmp_path / "empty")
