"""The Dataflow Compiler's ``ClientRunner`` as a recording stand-in (the DFC is not on PyPI), shared by
tests/test_hailo.py and tests/fake_dfc/hailo_sdk_client.py (the DFC of the docker stand-in's "image")."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

LAYER = "cardrec_student/fc1"


class InferenceContext:
    """Stand-in for hailo_sdk_client.InferenceContext (found through the runner's module)."""

    SDK_QUANTIZED = "sdk_quantized"


class RecordingClientRunner:
    """Records every DFC call; mimics the parts of ClientRunner that cardrec.hailo.dfc uses."""

    calls: list[tuple] = []
    dim = 8
    emulator = None

    def _record(self, call: tuple) -> None:
        self.calls.append(call)
        if os.environ.get("CARDREC_TEST_DFC_LOG"):  # in the docker stand-in's process: names to a file
            with open(os.environ["CARDREC_TEST_DFC_LOG"], "a") as f:
                f.write(json.dumps([c for c in call if isinstance(c, str)]) + "\n")

    def __init__(self, hw_arch: str | None = None, har: str | None = None) -> None:
        self._record(("init", {"hw_arch": hw_arch, "har": har}))

    def translate_onnx_model(self, model, net_name, **kw):
        self._record(("translate_onnx_model", model, net_name, kw))

    def get_hn_dict(self) -> dict:
        return {"net_params": {"output_layers_order": [LAYER]},
                "layers": {LAYER: {"type": "dense"},
                           "cardrec_student/output_layer1": {"type": "output_layer", "input": [LAYER]}}}

    def load_model_script(self, script: str) -> None:
        self._record(("load_model_script", script))

    def optimize(self, calib) -> None:
        self._record(("optimize", calib))

    def save_har(self, path: str) -> None:
        Path(path).write_bytes(b"har")
        self._record(("save_har", path))

    @contextlib.contextmanager
    def infer_context(self, kind):
        self._record(("infer_context", kind))
        yield "ctx"

    def infer(self, ctx, data):
        self._record(("infer", ctx, data))
        if self.emulator is not None:  # a test may plug in the FP32 model as "perfect" emulation
            return self.emulator(data)
        return np.arange(len(data) * self.dim, dtype=np.float32).reshape(len(data), 1, 1, self.dim) + 1

    def compile(self) -> bytes:
        self._record(("compile",))
        return b"HEF-bytes"
