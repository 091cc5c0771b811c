"""Engine sidecar metadata: write / read / verify, and every kind of mismatch."""
from __future__ import annotations

import json

import pytest

from vl_tracking_ros.engines.base import EngineMetadataError, TensorSpec
from vl_tracking_ros.engines.metadata import (EngineMetadata, EngineMetadataMismatch, read_metadata, sidecar_path,
                                              verify_metadata, write_metadata)

INPUTS = [TensorSpec("image", (-1, 3, 160, 160), "float32"), TensorSpec("text_mask", (-1, 16), "bool")]


def _meta(**kw):
    base = dict(format="tensorrt", model="mvlm-small", model_hash="abc123", precision="fp16", inputs=INPUTS,
                outputs=["score_map", "box_cxcywh"], min_batch=1, opt_batch=1, max_batch=8,
                tensorrt_version="10.3.0", gpu_name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
    base.update(kw)
    return EngineMetadata(**base)


@pytest.fixture
def engine(tmp_path):
    path = tmp_path / "mvlm-small-fp16-b8.engine"
    path.write_bytes(b"\x00serialized-engine-bytes" * 10)  # the metadata layer treats the engine as opaque bytes
    write_metadata(path, _meta())
    return path


def test_round_trip(engine):
    assert sidecar_path(engine).name == "mvlm-small-fp16-b8.engine.json"
    meta = read_metadata(engine)
    assert meta.inputs == INPUTS and meta.outputs == ["score_map", "box_cxcywh"]
    assert meta.max_batch == 8 and meta.gpu_name.startswith("NVIDIA H100") and len(meta.file_sha256) == 64
    assert json.loads(sidecar_path(engine).read_text())["metadata_version"] == 1


def test_verify_accepts_the_matching_expectation(engine):
    meta = verify_metadata(engine, {"format": "tensorrt", "model_hash": "abc123", "precision": "fp16",
                                    "inputs": INPUTS, "tensorrt_version": "10.3.0",
                                    "gpu_name": "NVIDIA H100 80GB HBM3", "max_batch": 4})
    assert meta.model == "mvlm-small"


@pytest.mark.parametrize("field, value", [
    ("model_hash", "def456"),
    ("precision", "int8"),
    ("tensorrt_version", "10.4.0"),
    ("gpu_name", "NVIDIA GeForce RTX 4090"),
    ("compute_capability", "8.9"),
    ("inputs", [TensorSpec("image", (-1, 3, 192, 256), "float32"), INPUTS[1]]),
    ("outputs", ["score_map"]),
    ("max_batch", 16),
])
def test_each_mismatch_is_named(engine, field, value):
    with pytest.raises(EngineMetadataMismatch) as info:
        verify_metadata(engine, {field: value}, hint="rebuild it")
    assert [m[0] for m in info.value.mismatches] == [field]
    assert field in str(info.value) and "rebuild it" in str(info.value)


def test_several_mismatches_are_all_listed(engine):
    with pytest.raises(EngineMetadataMismatch) as info:
        verify_metadata(engine, {"model_hash": "x", "gpu_name": "Orin"})
    assert {m[0] for m in info.value.mismatches} == {"model_hash", "gpu_name"}


def test_a_modified_engine_file_is_caught(engine):
    engine.write_bytes(engine.read_bytes()[:-3])
    with pytest.raises(EngineMetadataMismatch, match="file_sha256"):
        verify_metadata(engine, {})
    verify_metadata(engine, {}, check_file_hash=False)  # opt-out still reads fine


def test_missing_sidecar(tmp_path):
    path = tmp_path / "a.engine"
    path.write_bytes(b"x")
    with pytest.raises(EngineMetadataError, match="has no metadata file"):
        read_metadata(path)


@pytest.mark.parametrize("content, message", [
    ("{not json", "unreadable"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"metadata_version": 99}), "version 99 is not supported"),
    (json.dumps({"metadata_version": 1, "format": "tensorrt"}), "lacks"),
])
def test_bad_sidecar(tmp_path, content, message):
    path = tmp_path / "a.engine"
    path.write_bytes(b"x")
    sidecar_path(path).write_text(content)
    with pytest.raises(EngineMetadataError, match=message):
        read_metadata(path)


def test_metadata_needs_the_engine_file_first(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_metadata(tmp_path / "missing.engine", _meta())


def test_unbounded_onnx_batch_covers_any_expectation(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"onnx")
    write_metadata(path, _meta(format="onnx", max_batch=-1))
    verify_metadata(path, {"max_batch": 64})
