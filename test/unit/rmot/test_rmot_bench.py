"""``vl-tracking bench rmot`` runs the real preset and writes its figures."""
import json

from vl_tracking_ros.cli import main


def test_bench_rmot_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    rc = main(["bench", "rmot", "--json", str(out), "--frames", "4", "--warmup", "2", "--threads", "1",
               "--objects", "6", "--expressions", "2"])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["frames"] == 4 and len(rep["expressions"]) == 2
    assert rep["fps"] > 0 and rep["latency_ms"]["p90"] >= rep["latency_ms"]["p50"] > 0
    assert {"backbone", "network", "association", "referring"} <= set(rep["stages_ms"])
