"""`vl-tracking eval` end to end on real generated suites (oracle must score 1)."""
import json

import pytest

from vl_tracking_ros.cli import main
from vl_tracking_ros.eval.cli_eval import META_KEYS, METRIC_KEYS


def _eval(tmp_path, *extra):
    out = tmp_path / "m.json"
    rc = main(["eval", "--json", str(out), "--no-progress", *extra])
    return rc, out


def test_oracle_scores_one_on_generated_sot_clip(tmp_path):
    rc, out = _eval(tmp_path, "--suite", "sot-day", "--tracker", "oracle", "--max-clips", "1",
                    "--plots", str(tmp_path / "plots"), "--worst", "1")
    assert rc == 0
    report = json.loads(out.read_text())
    for key in METRIC_KEYS + META_KEYS:
        assert key in report, key
    assert report["AUC"] == pytest.approx(1.0) and report["PRE"] == 1.0 and report["NPRE"] == 1.0
    assert report["HOTA"] is None  # not a referring suite
    assert report["suite"] == "sot-day" and report["tracker"] == "oracle"
    assert len(report["per_clip"]) == 1 and report["per_clip"][0]["AUC"] == pytest.approx(1.0)
    assert "lighting" in report["by_condition"]
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert "success_sot-day.png" in pngs and "precision_sot-day.png" in pngs
    assert any(p.endswith((".mp4", ".gif")) and (tmp_path / "plots" / p).stat().st_size > 1000 for p in pngs)


def test_oracle_hota_100_on_generated_rmot_clip(tmp_path):
    rc, out = _eval(tmp_path, "--suite", "rmot", "--tracker", "oracle", "--max-clips", "1")
    assert rc == 0
    report = json.loads(out.read_text())
    assert report["HOTA"] == pytest.approx(100.0) and report["IDF1"] == pytest.approx(100.0)
    assert report["IDsw"] == 0 and report["AUC"] is None


def test_unknown_suite_lists_valid_names(tmp_path, capsys):
    rc, out = _eval(tmp_path, "--suite", "no-such-suite", "--tracker", "oracle")
    assert rc == 2
    err = capsys.readouterr().err
    assert "no-such-suite" in err and "sot-day" in err and "rmot" in err
    assert not out.exists()


def test_unknown_tracker_lists_presets(tmp_path, capsys):
    rc, _ = _eval(tmp_path, "--suite", "sot-day", "--tracker", "nope")
    assert rc == 2
    assert "oracle" in capsys.readouterr().err
