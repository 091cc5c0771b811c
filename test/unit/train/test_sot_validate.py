"""sot_validate: the named validation sets reproduce the explicit commands,
and ``--set all`` reports each set and their mean (shipped weights, real
WORLD training-stream clips; the plan is cut to one switch clip per set)."""
import json

import pytest

from vl_tracking_ros.train import sot_validate


@pytest.fixture()
def one_clip_plan(monkeypatch):
    monkeypatch.setattr(sot_validate, "PLAN", {"switch": 1})


def test_named_sets_are_the_documented_commands():
    assert sot_validate.VALIDATION_SETS == {"1": {"start": 100, "spacing": 20, "mult": 1},
                                            "2": {"start": 1000, "spacing": 100, "mult": 2},
                                            "3": {"start": 100, "spacing": 100, "mult": 1}}


def test_set_flag_matches_explicit_options_and_all_averages(one_clip_plan, tmp_path):
    named, explicit, both = tmp_path / "named.json", tmp_path / "explicit.json", tmp_path / "all.json"
    assert sot_validate.main(["--set", "3", "--json", str(named)]) == 0
    assert sot_validate.main(["--start", "100", "--spacing", "100", "--json", str(explicit)]) == 0
    a, b = json.loads(named.read_text()), json.loads(explicit.read_text())
    assert a["switch"] == b["switch"] and 0.0 <= a["mean_PRE"] <= 1.0 and a["switch"]["clips"] == 1
    assert sot_validate.main(["--set", "all", "--json", str(both)]) == 0
    r = json.loads(both.read_text())
    assert r["set3"]["switch"] == a["switch"] and r["set2"]["switch"]["clips"] == 2
    assert r["mean_PRE"] == pytest.approx(sum(r[f"set{k}"]["mean_PRE"] for k in "123") / 3)
    assert r["per_suite_PRE"]["switch"] == pytest.approx(r["mean_PRE"])


def test_unknown_suite_is_a_clear_error(one_clip_plan):
    with pytest.raises(SystemExit, match="unknown suite"):
        sot_validate.main(["--only", "sot-dya"])


def test_modalities_option_restricts_the_tracker_and_rejects_unknown_ones(monkeypatch, tmp_path):
    """--modalities rgb runs RGB only (the thermal-gain comparison on
    validation night clips); a misspelt modality is a clear error."""
    monkeypatch.setattr(sot_validate, "PLAN", {"sot-night": 1})
    out = tmp_path / "rgb.json"
    assert sot_validate.main(["--set", "3", "--modalities", "rgb", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["modalities"] == ["rgb"] and 0.0 <= r["sot-night"]["PRE"] <= 1.0
    with pytest.raises(SystemExit, match="--modalities: unknown modalities"):
        sot_validate.main(["--set", "3", "--modalities", "rgb,thermla"])


def test_long_set_is_the_documented_command_and_frames_is_checked(one_clip_plan, monkeypatch, tmp_path):
    """``--set long`` is ``--start 6000 --spacing 100 --frames 240`` (the
    length of the --full evaluation clips); the equivalence is run on a
    30-frame copy of the set to keep CI short. ``--frames`` < 2 is a clear error."""
    assert sot_validate.LONG_SET == {"start": 6000, "spacing": 100, "mult": 1, "frames": 240}
    monkeypatch.setattr(sot_validate, "LONG_SET", dict(sot_validate.LONG_SET, frames=30))
    named, explicit = tmp_path / "long.json", tmp_path / "explicit.json"
    assert sot_validate.main(["--set", "long", "--json", str(named)]) == 0
    assert sot_validate.main(["--start", "6000", "--frames", "30", "--json", str(explicit)]) == 0
    a, b = json.loads(named.read_text()), json.loads(explicit.read_text())
    assert a["switch"] == b["switch"] and a["switch"]["clips"] == 1 and 0.0 <= a["mean_PRE"] <= 1.0
    with pytest.raises(SystemExit, match="--frames must be >= 2"):
        sot_validate.main(["--frames", "1"])


def test_suites_set_draws_the_evaluation_sampler_with_non_evaluation_seeds(one_clip_plan, tmp_path):
    """``--set suites`` evaluates the suites' own clips (get_suite) under
    seeds default + 1000 / 2000 / 3000, never the default (evaluation) seed;
    the figures are those of evaluate_clips on the same clips."""
    from vl_tracking_ros.data.suites import SUITES, get_suite
    from vl_tracking_ros.eval.cli_eval import build_report
    from vl_tracking_ros.eval.runner import evaluate_clips
    from vl_tracking_ros.trackers.language_tracker import LanguageTracker

    out = tmp_path / "suites.json"
    assert sot_validate.main(["--set", "suites", "--max-clips", "1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())["switch"]
    default = SUITES["switch"].seed
    assert r["seeds"] == [default + 1000, default + 2000, default + 3000] and default not in r["seeds"]
    assert not set(sot_validate.SUITE_SEED_OFFSETS) & set(sot_validate.CONFIRM_SEED_OFFSETS)
    assert r["clips"] == 3 and len(r["per_clip_PRE"]) == 3
    tracker = LanguageTracker("mvlm-small")
    clips = [get_suite("switch", seed=sd).clip(0) for sd in r["seeds"]]
    rep = build_report(evaluate_clips(tracker, clips, suite="switch", show_progress=False))
    tracker.close()
    assert r["PRE"] == pytest.approx(rep["PRE"]) and r["switch_relock_30"] == rep["switch_relock_30"]
    with pytest.raises(SystemExit, match="--max-clips must be >= 1"):
        sot_validate.main(["--set", "suites", "--max-clips", "0"])
