"""Inference engines for the trackers' per-frame networks (see docs/engines.md).

base         the Backend interface, errors, ``build_backend`` factory
torch_backend / ort_backend / tensorrt_backend   the three implementations
onnx_export  ``export_onnx`` (named I/O, opset >= 17, checked)
metadata     engine sidecar metadata: write / read / verify
cache        engine cache paths, ``build_cached_backend`` for trackers
batching     multi-stream batching (``forward_batched``, ``BatchingServer``)
text_ort     onnxruntime copy of the frozen text encoder
presets / calibration   preset networks and generated-frame inputs (export, int8, bench)
cli_export / bench      ``vl-tracking export`` and ``vl-tracking bench model``

Importing this package imports nothing heavy; torch / onnxruntime /
tensorrt load with the module that needs them.
"""
