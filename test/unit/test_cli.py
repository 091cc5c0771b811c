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
