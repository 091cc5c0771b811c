"""The ablation tool's config edits (the variants' training itself runs on
the cached clips; see docs/rmot.md)."""
import copy

import pytest
import yaml

from vl_tracking_ros.train.rmot_ablate import VARIANTS, scale_steps, variant_config


@pytest.fixture()
def base():
    with open("config/models/rmot-small.yaml", "r", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_each_variant_changes_only_its_part(base):
    for name in VARIANTS:
        cfg = variant_config(base, name)
        assert cfg["preset"] == f"rmot-small-{name}"
        assert base["preset"] == "rmot-small"          # the base is not edited in place
        changed = {k for k in cfg if k != "preset" and cfg[k] != base[k]}
        if name in ("retrain", "tmp"):                 # the control; the shipped schedule already is tmp
            assert changed == set()
        else:
            assert changed in ({"model"}, {"train"}), (name, changed)
    assert variant_config(base, "cosine")["model"]["flexhook"]["scorer"] == "cosine"
    assert variant_config(base, "nocond")["model"]["flexhook"]["use_conditioning"] is False
    assert variant_config(base, "nonoise")["train"]["flexhook"]["noise"] == "off"


def test_unknown_variant_is_named(base):
    with pytest.raises(ValueError, match="unknown ablation 'bogus'.*retrain"):
        variant_config(base, "bogus")


def test_scale_steps_keeps_total_and_proportions(base):
    cfg = copy.deepcopy(base)
    before = dict(cfg["train"]["onetrack"]["steps"])
    scale_steps(cfg, 1500)
    after = cfg["train"]["onetrack"]["steps"]
    assert sum(after.values()) == 1500
    assert set(after) == set(before)
    assert after["heatmap"] == round(before["heatmap"] * 1500 / sum(before.values()))
