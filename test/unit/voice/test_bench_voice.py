"""The voice benchmark: its metrics and a small real run through the CLI."""
from __future__ import annotations

import json

import pytest

from voice_helpers import needs_espeak
from vl_tracking_ros.voice.bench_voice import (BENCH_COMMANDS, BENCH_VOICES, DEV_COMMANDS, DEV_NON_COMMANDS,
                                              DEV_VOICES, NON_COMMANDS, word_errors)
from vl_tracking_ros.voice.grammar import NotACommand, parse


def test_word_errors():
    assert word_errors("track the red car".split(), "track the red car".split()) == 0
    assert word_errors("track the red car".split(), "track red card".split()) == 2
    assert word_errors([], "a b".split()) == 2 and word_errors("a b".split(), []) == 2


def test_bench_lists_are_valid():
    assert len(BENCH_COMMANDS) >= 30 and len(set(BENCH_COMMANDS)) == len(BENCH_COMMANDS)
    for text in BENCH_COMMANDS:
        parse(text)  # every benchmark command is accepted by the tracker's grammar
    for text in NON_COMMANDS:
        with pytest.raises(NotACommand):
            parse(text)


def test_dev_set_is_separate_from_the_evaluation_set():
    """Tuning uses --set dev: other commands, non-commands and voices."""
    assert len(DEV_COMMANDS) >= 30 and len(set(DEV_COMMANDS)) == len(DEV_COMMANDS)
    assert set(DEV_COMMANDS) & set(BENCH_COMMANDS) <= {"stop"}
    assert not set(DEV_NON_COMMANDS) & set(NON_COMMANDS)
    assert not {v.name for v in DEV_VOICES} & {v.name for v in BENCH_VOICES}
    for text in DEV_COMMANDS:
        parse(text)


@needs_espeak
def test_small_benchmark_run(tmp_path):
    from vl_tracking_ros.cli import main

    out = tmp_path / "voice.json"
    rc = main(["bench", "voice", "--json", str(out), "--limit", "2", "--variants", "1", "--snr", "clean,10",
               "--non-commands", "1"])
    assert rc == 0
    report = json.loads(out.read_text())
    assert set(report["levels"]) == {"clean", "10dB"}
    clean = report["levels"]["clean"]
    assert clean["utterances"] == 2 and 0.0 <= clean["exact_accuracy"] <= 1.0
    assert clean["exact_accuracy"] >= 0.5  # "track the red car" / "track all people", clean speech
    assert clean["latency_s"]["n"] >= 1 and 0 < clean["latency_s"]["p50"] < 10
    assert report["machine_at_end"]["cpu_count"] >= 1 and report["model"]["compute_type"] == "int8"
    assert report["non_commands"]["utterances"] == 1
