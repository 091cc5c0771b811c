"""``train.rounds`` (stop 26): further one-cycle rounds on the RGB base or on
MeME after stage 2. Checked: the recipe validates them; a base round leaves
MeME untouched and a MeME round the base; and ``vl-tracking train
--init-weights`` (the way the shipped file was made from v8's) gives exactly
the tensors of the same rounds run in-process on the same weights and cache
(real shipped weights, real pretrained encoders, a real 2-clip WORLD cache)."""
import dataclasses
import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from vl_tracking_ros.models.errors import ModelConfigError
from vl_tracking_ros.models.network import LanguageTrackingNetwork
from vl_tracking_ros.train.config import load_preset_config
from vl_tracking_ros.train.trainer import round_ckpt_name, train_round

SHIPPED = "config/models/mvlm-small.yaml"


def _with_train(tmp_path, name, **train):
    data = yaml.safe_load(open(SHIPPED))
    data["train"].update(train)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_rounds_are_validated_and_hashed_only_when_set(tmp_path):
    base = load_preset_config(_with_train(tmp_path, "base.yaml", rounds=[]))
    plain = yaml.safe_load(open(SHIPPED))
    plain["train"].pop("rounds", None)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(plain))
    assert load_preset_config(str(tmp_path / "plain.yaml")).recipe_hash == base.recipe_hash
    one = [{"stage": 1, "steps": 10, "seed": 3, "lr": 1e-4}]
    assert load_preset_config(_with_train(tmp_path, "one.yaml", rounds=one)).recipe_hash != base.recipe_hash
    bad = {
        "stage must be 1": [{"stage": 3, "steps": 10, "seed": 3, "lr": 1e-4}],
        "exactly the keys": [{"stage": 1, "steps": 10, "lr": 1e-4}],
        "steps must be a positive integer": [{"stage": 1, "steps": 0, "seed": 3, "lr": 1e-4}],
        "seed must be an integer": [{"stage": 2, "steps": 5, "seed": 1.5, "lr": 1e-4}],
        "lr must be a positive": [{"stage": 2, "steps": 5, "seed": 1, "lr": -1.0}],
        "must be a mapping": [[1, 10, 3, 1e-4]],
    }
    for i, (msg, rounds) in enumerate(bad.items()):
        with pytest.raises(ModelConfigError, match=msg):
            load_preset_config(_with_train(tmp_path, f"bad{i}.yaml", rounds=rounds))
    assert round_ckpt_name(0, one[0]) != round_ckpt_name(0, dict(one[0], lr=2e-4))


def _is_meme(name):
    return name.startswith(("x_embed.", "meme_attn.", "meme_ffn."))


def test_a_round_trains_only_its_stage(tiny_setup, tmp_path):
    cfg, _, cache = tiny_setup
    rounds = [{"stage": 1, "steps": 2, "seed": 5, "lr": 1e-3}, {"stage": 2, "steps": 2, "seed": 5, "lr": 1e-3}]
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, rounds=rounds))
    torch.manual_seed(0)
    net = LanguageTrackingNetwork(cfg.model, text_dim=16, pretrained=False)
    for i, stage in enumerate((1, 2)):
        before = {k: v.clone() for k, v in net.trained_state_dict().items()}
        out = train_round(net, cache, cfg, i, str(tmp_path), progress=False)
        after = net.trained_state_dict()
        changed = {k for k in before if not torch.equal(before[k], after[k])}
        assert changed and torch.isfinite(torch.tensor(out["loss"]))
        assert all(_is_meme(k) == (stage == 2) for k in changed), (stage, sorted(changed)[:4])
        assert (tmp_path / round_ckpt_name(i, rounds[i])).is_file()


def test_cli_init_weights_runs_the_rounds_on_the_shipped_file(tmp_path):
    from vl_tracking_ros.cli import main
    from vl_tracking_ros.models.text_encoder import build_text_encoder
    from vl_tracking_ros.train.data import FeatureCache

    rounds = [{"stage": 1, "steps": 2, "seed": 12, "lr": 5e-4}, {"stage": 2, "steps": 2, "seed": 12, "lr": 1e-3}]
    yml = _with_train(tmp_path, "rounds.yaml", rounds=rounds, num_threads=1, cache_workers=1, num_clips=2)
    work, wdir = tmp_path / "work", tmp_path / "w"
    shipped = "weights/mvlm-small.safetensors"
    assert main(["train", "--config", yml, "--init-weights", shipped, "--work-dir", str(work),
                 "--weights-dir", str(wdir)]) == 0
    out = load_file(str(wdir / "mvlm-small.safetensors"))
    entry = json.loads((wdir / "manifest.json").read_text())["mvlm-small"]
    assert entry["metrics"]["init_weights"].endswith(shipped) and len(entry["metrics"]["rounds_loss"]) == 2
    assert entry["trained_modalities"] == ["depth", "thermal", "event"] and entry["rounds"] == rounds
    # the same rounds in-process on the same weights and cache give the same tensors
    cfg = load_preset_config(yml)
    te = build_text_encoder(cfg.model.text_encoder, cfg.model.max_text_tokens)
    net = LanguageTrackingNetwork(cfg.model, text_dim=te.dim)
    v8 = load_file(shipped)
    net.load_state_dict(v8, strict=False)
    cache = FeatureCache.load(str(work / "cache.pt"))
    for i in range(2):
        train_round(net, cache, cfg, i, str(tmp_path / "inproc"), progress=False)
    mine = net.trained_state_dict()
    assert set(mine) == set(out) and all(torch.equal(mine[k], out[k]) for k in out)
    assert any(not torch.equal(v8[k], out[k]) for k in out if _is_meme(k))
    assert any(not torch.equal(v8[k], out[k]) for k in out if not _is_meme(k))
    # a file made for another model config is refused with the reason
    other = _with_train(tmp_path, "other.yaml", rounds=rounds)
    data = yaml.safe_load(open(other)); data["model"]["d_model"] = 64
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(SystemExit, match="trained for model config"):
        main(["train", "--config", other, "--init-weights", shipped, "--work-dir", str(tmp_path / "w2"),
              "--no-ship"])
    with pytest.raises(SystemExit, match="no such file"):
        main(["train", "--config", yml, "--init-weights", str(tmp_path / "none.safetensors"),
              "--work-dir", str(work), "--no-ship"])
