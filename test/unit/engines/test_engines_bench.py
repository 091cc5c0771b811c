"""`vl-tracking bench model` on the real mvlm-small preset (tiny run)."""
from __future__ import annotations

import argparse
import json

import pytest

from vl_tracking_ros.engines import bench


@pytest.mark.slow
def test_bench_compare_cpu_backends_writes_every_section(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "bench.json"
    args = parser.parse_args(["--model", "mvlm-small", "--compare-cpu-backends", "--variants", "local",
                              "--frames", "3", "--warmup", "1", "--text-commands", "3", "--streams", "2",
                              "--json", str(out)])
    assert bench.run(args) == 0
    report = json.loads(out.read_text())
    m = report["machine"]
    assert m["cpu_model"] and m["cpu_cores_usable"] >= 1 and m["versions"]["torch"] and m["versions"]["onnxruntime"]
    assert m["versions"]["tensorrt"] is None or isinstance(m["versions"]["tensorrt"], str)
    t = report["text_encode"]
    assert t["n"] == 3 and t["p50_ms"] > 0 and t["engine_calls"] == 0
    to = report["text_encode_onnxruntime"]
    assert to["n"] == 3 and to["p50_ms"] > 0 and to["engine_calls"] == 0
    assert [(r["backend"], r["device"]) for r in report["results"]] == [("torch", "cpu"), ("onnxruntime", "cpu")]
    for r in report["results"]:
        n = r["network"]["local"]
        assert n["n"] == 3 and n["batch"] == 2 and 0 < n["p50_ms"] <= n["p95_ms"] and n["fps"] > 0
        assert n["single_stream_fps"] > 0 and n["batched_vs_separate_max_abs_diff"] < 1e-3
        e = r["end_to_end"]
        if report["weights_trained"]:  # the real tracker preset runs end to end
            assert e["available"], e.get("reason")
            assert set(e["stages"]) >= {"preprocess", "network", "postprocess"} and e["fps"] > 0
            assert e["step"]["n"] == 3 and e["step_cpu_ms_mean"] > 0
        else:  # only while the preset has no trained weights: the reason says so
            assert not e["available"] and "WeightsError" in e["reason"]
        assert r["peak_rss_mb_so_far"] > 0
    assert report["checks"]["gpu_targets"].startswith("not measured")
    printed = capsys.readouterr().out
    assert "onnxruntime" in printed and "text encode" in printed


def test_bench_rejects_bad_arguments(tmp_path):
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    args = parser.parse_args(["--streams", "0", "--json", str(tmp_path / "x.json")])
    with pytest.raises(ValueError, match="--streams"):
        bench.run(args)
