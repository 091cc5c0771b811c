"""ONNX export round trips and torch-vs-onnxruntime parity (stand-in network)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from standin_engines_net import StandInNetwork, example_numpy
from vl_tracking_ros.engines.base import build_backend
from vl_tracking_ros.engines.metadata import read_metadata
from vl_tracking_ros.engines.netio import model_hash
from vl_tracking_ros.engines.onnx_export import OnnxExportError, export_onnx, onnx_io_spec
from vl_tracking_ros.engines.ort_backend import OrtBackend


@pytest.fixture(scope="module")
def net():
    return StandInNetwork()


@pytest.fixture(scope="module")
def exported(net, tmp_path_factory):
    return export_onnx(net, tmp_path_factory.mktemp("onnx") / "standin.onnx", model_name="standin")


def test_export_has_named_io_opset_and_dynamic_batch(exported):
    model = onnx.load(str(exported.path))
    onnx.checker.check_model(model)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    assert [i.name for i in model.graph.input] == ["image", "text_tokens", "text_mask", "x_images", "x_present"]
    assert [o.name for o in model.graph.output] == ["score_map", "box_cxcywh"]
    spec, outs = onnx_io_spec(exported.path)
    assert spec["image"].shape == (-1, 3, 64, 64) and spec["text_mask"].dtype == "bool"
    assert outs == ("score_map", "box_cxcywh")
    props = {p.key: p.value for p in model.metadata_props}
    assert props["model"] == "standin" and props["model_hash"] == exported.model_hash


def test_export_writes_a_matching_sidecar(net, exported):
    meta = read_metadata(exported.path)
    assert meta.format == "onnx" and meta.model == "standin" and meta.precision == "fp32"
    assert meta.model_hash == model_hash(net, exported.input_spec, exported.output_names)
    assert [s.name for s in meta.inputs] == list(exported.input_spec) and meta.max_batch == -1


@pytest.mark.parametrize("batch", [1, 4])
def test_torch_and_onnxruntime_agree(net, exported, batch):
    ex = example_numpy(net, batch_size=batch, seed=batch)
    with build_backend("torch", net) as t, OrtBackend(exported.path, threads=1) as o:
        a, b = t.forward(ex), o.forward(ex)
    assert list(a) == list(b)
    for k in a:
        assert a[k].shape == b[k].shape
        np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5)


def test_fixed_shape_export_rejects_other_batches(net, tmp_path):
    res = export_onnx(net, tmp_path / "fixed.onnx", batch_size=2, dynamic_batch=False)
    assert res.input_spec["image"].shape == (2, 3, 64, 64)
    with OrtBackend(res.path) as o:
        assert o.max_batch_size == 2
        out = o.forward(example_numpy(net, batch_size=2))
        assert out["box_cxcywh"].shape == (2, 4)
        with pytest.raises(ValueError, match="dim 0 must be 2"):
            o.forward(example_numpy(net, batch_size=1))


def test_weights_change_the_hash(net):
    other = StandInNetwork(seed=5)
    from vl_tracking_ros.engines.netio import inspect_network

    io = inspect_network(net)
    assert model_hash(net, io.input_spec, io.output_names) != model_hash(other, io.input_spec, io.output_names)
    assert model_hash(net, io.input_spec, io.output_names) == model_hash(StandInNetwork(), io.input_spec, io.output_names)


def test_low_opset_is_refused(net, tmp_path):
    with pytest.raises(ValueError, match="opset must be >= 17"):
        export_onnx(net, tmp_path / "x.onnx", opset=13)


class _IgnoresAnInput(nn.Module):
    def example_inputs(self, batch_size=1):
        return {"a": torch.ones(batch_size, 3), "unused": torch.ones(batch_size, 2)}

    def forward(self, a, unused):
        return {"y": a * 2}


def test_an_unused_input_is_a_clear_export_error(tmp_path):
    with pytest.raises(OnnxExportError, match="an input the network does not use"):
        export_onnx(_IgnoresAnInput(), tmp_path / "x.onnx")


def test_missing_onnx_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="vl-tracking export"):
        OrtBackend(tmp_path / "nope.onnx")


def test_ort_backend_from_module_cleans_its_temporary_export(net):
    b = build_backend("onnxruntime", net)
    path = b.onnx_path
    assert path.is_file()
    b.close()
    assert not path.exists()


def test_ort_threads_from_the_environment(exported, monkeypatch):
    monkeypatch.setenv("VL_TRACKING_ORT_THREADS", "1")
    with OrtBackend(exported.path) as o:
        assert o.threads == 1
    with OrtBackend(exported.path, threads=2) as o:  # an explicit argument wins
        assert o.threads == 2
    monkeypatch.setenv("VL_TRACKING_ORT_THREADS", "zero")
    with pytest.raises(ValueError, match="VL_TRACKING_ORT_THREADS must be a positive integer"):
        OrtBackend(exported.path)
