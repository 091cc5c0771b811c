"""``vl-tracking bench ros`` runs end to end (a short window; the real
figures come from the 60 s run documented in docs/ros.md)."""
from __future__ import annotations

import json

import pytest

rclpy = pytest.importorskip("rclpy")

from vl_tracking_ros.cli import main as cli_main  # noqa: E402

pytestmark = pytest.mark.ros


def test_bench_ros_writes_figures(tmp_path, ros_context, capsys):
    out = tmp_path / "bench.json"
    rc = cli_main(["bench", "ros", "--json", str(out), "--duration", "3", "--warmup", "1.0", "--command", "track the red car", "--preset",
                   "heuristic", "--rate", "10", "--domain-id", str(ros_context.get_domain_id() + 100)])
    assert rc == 0
    r = json.loads(out.read_text())
    assert r["tracker"] == "heuristic" and r["modalities"] == ["rgb", "depth", "thermal", "event"]
    assert r["replay"] == "separate process" and r["replay_exit_code"] == 0
    assert r["frames_received_by_node"] >= 20 and 0 < r["track_arrays_received"] <= r["frames_received_by_node"] + 1
    assert r["frames_dropped"] == max(0, r["frames_received_by_node"] - r["track_arrays_received"])
    pub, rec = r["latency_publish_ms"], r["latency_receive_ms"]
    assert 0 < pub["p50"] <= pub["p95"] <= pub["max"] < 5000
    assert rec["p50"] >= pub["p50"] * 0.5 and rec["max"] < 5000
    assert r["stage_ms"]["tracker_step"]["p50"] > 0
    assert r["rss_mb_start"] > 50 and r["rss_mb_end"] > 50
    assert r["machine"]["cpu_count"] >= 1 and "platform" in r["machine"]
    printed = capsys.readouterr().out
    assert "latency stamp -> TrackArray publish" in printed and "RSS start / end" in printed
