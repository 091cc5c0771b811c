"""The `vl-tracking` dispatcher: subcommands resolve to their modules, and
`bench` accepts an optional target word before the target's own options."""
import pytest

from vl_tracking_ros.cli import SUBCOMMANDS, main
from vl_tracking_ros.eval.cli_bench import TARGETS, _split


@pytest.mark.parametrize("argv, expected", [
    ([], ("model", [])),
    (["--model", "mvlm-small", "--json", "x"], ("model", ["--model", "mvlm-small", "--json", "x"])),
    (["model", "--model", "mvlm-small"], ("model", ["--model", "mvlm-small"])),
    (["ros", "--json", "x"], ("ros", ["--json", "x"])),
    (["voice"], ("voice", [])),
])
def test_bench_target_split(argv, expected):
    assert _split(argv) == expected


def test_bench_unknown_target_is_a_clear_error(capsys):
    assert main(["bench", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "unknown bench target 'nonsense'" in err and "voice" in err


def test_bench_without_target_reaches_the_model_benchmark(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "--model", "mvlm-small", "--help"])
    assert exc.value.code == 0
    assert "vl-tracking bench model" in capsys.readouterr().out


def test_every_subcommand_module_has_the_cli_functions():
    import importlib
    for module, _ in SUBCOMMANDS.values():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.run), module
    for module in TARGETS.values():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.run), module


def test_train_dispatches_on_the_preset_kind(tmp_path):
    from vl_tracking_ros.resources import model_config_path
    from vl_tracking_ros.train.cli_train import _config_kind

    assert _config_kind(str(model_config_path("rmot-small"))) == "rmot"
    assert _config_kind(str(model_config_path("mvlm-small"))) == "mvlm"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ValueError, match="must be a mapping"):
        _config_kind(str(bad))
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
