"""The engine layer on the real per-frame networks (mvlm-small; untrained
heads until weights/mvlm-small.safetensors exists -- parity and batching do
not depend on training).

Runs the real `vl-tracking export` once (both variants, parity on generated
frames), then checks the ONNX files, torch-vs-onnxruntime parity, batching
equivalence and the text path on the real MiniLM encoder.
"""
from __future__ import annotations

import json
from argparse import Namespace

import numpy as np
import onnx
import pytest

from vl_tracking_ros.engines import cli_export
from vl_tracking_ros.engines.base import build_backend
from vl_tracking_ros.engines.batching import forward_batched
from vl_tracking_ros.engines.calibration import batches, generated_inputs
from vl_tracking_ros.engines.metadata import read_metadata
from vl_tracking_ros.engines.ort_backend import OrtBackend
from vl_tracking_ros.engines.presets import PresetNotExportableError, load_preset_model

PRESET = "mvlm-small"


@pytest.fixture(scope="module")
def model():
    return load_preset_model(PRESET)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    args = Namespace(model=PRESET, format="onnx", fp16=False, int8=False, out=str(out), variants=None,
                     weights_dir=None, opset=17, fixed_batch=0, max_batch=8, opt_batch=1, workspace_mb=2048,
                     calibration_frames=0, device="cuda", parity_frames=2, json=str(out / "summary.json"))
    assert cli_export.run(args) == 0
    return out, json.loads((out / "summary.json").read_text())


def test_export_cli_writes_checked_onnx_per_variant(model, exported):
    from vl_tracking_ros.engines.netio import inspect_network, model_hash

    out, summary = exported
    io = inspect_network(model.variant("local").network, 1, model.variant("local").example_inputs)
    # loading the preset twice gives the same network (same hash as the exported file)
    assert summary["files"][0]["model_hash"] == model_hash(model.variant("local").network, io.input_spec,
                                                            io.output_names)
    assert [f["variant"] for f in summary["files"]] == ["local", "global"]
    for f in summary["files"]:
        model = onnx.load(f["onnx"])
        onnx.checker.check_model(model)
        assert [i.name for i in model.graph.input] == ["image", "text_tokens", "text_mask", "x_images", "x_present",
                                                       "motion_images", "region_box"]
        assert "heatmap_logits" in [o.name for o in model.graph.output]
        meta = read_metadata(f["onnx"])
        assert meta.model == f"{PRESET}-{f['variant']}" and meta.model_hash == f["model_hash"]
        # the CLI's own parity run on generated frames
        assert max(f["parity_max_abs_diff"].values()) < 1e-3


@pytest.mark.parametrize("variant", ["local", "global"])
def test_torch_vs_onnxruntime_on_generated_frames(model, exported, variant):
    out, _ = exported
    v = model.variant(variant)
    samples = generated_inputs(model, v, 2, seed=21)
    batch = next(batches(samples, 2))
    with build_backend("torch", v.network, example_inputs=v.example_inputs) as t, \
            OrtBackend(out / f"{PRESET}-{variant}.onnx", threads=1) as o:
        a, b = t.forward(batch), o.forward(batch)
    assert list(a) == list(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-4, err_msg=f"{variant}:{k}")
    # generated frames are real inputs: the outputs are finite and vary between frames
    assert np.isfinite(a["heatmap_logits"]).all()
    assert not np.allclose(a["heatmap_logits"][0], a["heatmap_logits"][1])


def test_three_streams_batched_equal_separate_on_the_real_network(model, exported):
    out, _ = exported
    v = model.variant("local")
    reqs = generated_inputs(model, v, 3, seed=33)
    reqs[1] = dict(reqs[1], **model.text_encoder(["the small hot drone moving right"]))  # another command
    with OrtBackend(out / f"{PRESET}-local.onnx", threads=1) as o:
        sep = [o.forward(r) for r in reqs]
        joint = forward_batched(o, reqs)
    for s, j in zip(sep, joint):
        for k in s:
            np.testing.assert_allclose(j[k], s[k], rtol=1e-4, atol=1e-5)


def test_text_path_feeds_the_engine(model, exported):
    out, _ = exported
    v = model.variant("local")
    with OrtBackend(out / f"{PRESET}-local.onnx", text_encoder=model.text_encoder) as o:
        text = o.encode_text(["the red car", "the person on the left"])
        assert text["text_tokens"].shape == (2,) + tuple(o.input_spec["text_tokens"].shape[1:])
        assert text["text_mask"].dtype == np.bool_ and text["text_mask"].any(axis=1).all()
        frame = generated_inputs(model, v, 1, seed=5)[0]
        res = o.forward(dict(frame, **{k: t[:1] for k, t in text.items()}))
    assert res["heatmap_logits"].shape[0] == 1


def test_presets_without_a_network_are_refused():
    with pytest.raises(PresetNotExportableError, match="exportable presets: mvlm-small"):
        load_preset_model("heuristic")


def test_rmot_small_networks_export_with_parity(tmp_path):
    """The referring tracker's per-frame networks (trunk, OneTrack-M window) export too."""
    args = Namespace(model="rmot-small", format="onnx", fp16=False, int8=False, out=str(tmp_path), variants=None,
                     weights_dir=None, opset=17, fixed_batch=0, max_batch=8, opt_batch=1, workspace_mb=2048,
                     calibration_frames=0, device="cuda", parity_frames=1, json=str(tmp_path / "summary.json"))
    assert cli_export.run(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [f["variant"] for f in summary["files"]] == ["backbone", "onetrack"]
    for f in summary["files"]:
        onnx.checker.check_model(onnx.load(f["onnx"]))
        # trunk features reach ~30, head maps ~1: both well inside float32 reordering noise
        assert max(f["parity_max_abs_diff"].values()) < (2e-3 if f["variant"] == "backbone" else 1e-4)
    assert "heatmap" in summary["files"][1]["outputs"]
