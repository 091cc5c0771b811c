"""The referring tracker (rmot-small) running its per-frame networks on the
engines layer: onnxruntime end to end gives the same tracks as torch, the
node's default router builds it with the configured onnxruntime backend (no
silent fallback to the heuristic), and a bad backend name is a clear error."""
import numpy as np
import pytest
import torch

from vl_tracking_ros.core.types import TargetQuery
from vl_tracking_ros.eval.runner import run_clip
from vl_tracking_ros.trackers.registry import build_tracker

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def clip():
    from vl_tracking_ros.data.suites import training_clips

    torch.set_num_threads(1)
    return next(training_clips(seed=4242, n=1, mix={"rmot": 1.0}, num_frames=16))


@pytest.fixture(scope="module")
def engine_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("engines"))


def test_onnxruntime_tracks_equal_torch_tracks(clip, engine_dir):
    ref = run_clip(build_tracker("rmot-small", backend="torch", threads=1), clip)
    ort_tracker = build_tracker("rmot-small", backend="onnxruntime", threads=1, engine_dir=engine_dir)
    assert ort_tracker.backend_kind == "onnxruntime" and set(ort_tracker._net_backends) == {"backbone", "onetrack"}
    got = run_clip(ort_tracker, clip)
    assert sum(len(m) for m in ref.mot_pred) > 0, "the torch tracker tracked nothing on the clip"
    for i, (a, b) in enumerate(zip(ref.mot_pred, got.mot_pred)):
        assert set(a) == set(b), f"frame {i}: track ids differ torch {sorted(a)} vs onnxruntime {sorted(b)}"
        for tid in a:
            np.testing.assert_allclose(a[tid], b[tid], atol=0.05, err_msg=f"frame {i} track {tid}")
    assert got.metrics["HOTA"] == pytest.approx(ref.metrics["HOTA"], abs=1e-6)
    ort_tracker.close()


def test_default_router_builds_rmot_on_onnxruntime(engine_dir):
    router = build_tracker("default", backend="onnxruntime", engine_dir=engine_dir)
    router.set_commands([TargetQuery("red cars", multi=True)])
    inner = router._tracker_for("multi")
    assert router.fallbacks == {}, router.fallbacks
    assert type(inner).__name__ == "ReferringTracker" and inner.backend_kind == "onnxruntime"


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="backend must be one of"):
        build_tracker("rmot-small", backend="tvm")
