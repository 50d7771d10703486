"""Hailo HEF build without the Dataflow Compiler: model script, calibration format, the
HailoUnavailable path, and the DFC call sequence against a recording stand-in."""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cardrec import hailo
from cardrec.hailo import HailoConfig, HailoUnavailable
from cardrec_edge.preprocess import Preprocess

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Preprocess(height=32, width=24)
LAYER = "cardrec_student/fc1"


class InferenceContext:
    """Stand-in for hailo_sdk_client.InferenceContext (found through the runner's module)."""

    SDK_QUANTIZED = "sdk_quantized"


class RecordingClientRunner:
    """Records every DFC call; mimics the parts of ClientRunner that cardrec.hailo uses."""

    calls: list[tuple] = []
    dim = 8

    def __init__(self, hw_arch: str | None = None, har: str | None = None) -> None:
        self.calls.append(("init", {"hw_arch": hw_arch, "har": har}))

    def translate_onnx_model(self, model, net_name, **kw):
        self.calls.append(("translate_onnx_model", model, net_name, kw))

    def get_hn_dict(self) -> dict:
        return {"net_params": {"output_layers_order": [LAYER]},
                "layers": {LAYER: {"type": "dense"},
                           "cardrec_student/output_layer1": {"type": "output_layer", "input": [LAYER]}}}

    def load_model_script(self, script: str) -> None:
        self.calls.append(("load_model_script", script))

    def optimize(self, calib) -> None:
        self.calls.append(("optimize", calib))

    def save_har(self, path: str) -> None:
        Path(path).write_bytes(b"har")
        self.calls.append(("save_har", path))

    @contextlib.contextmanager
    def infer_context(self, kind):
        self.calls.append(("infer_context", kind))
        yield "ctx"

    def infer(self, ctx, data):
        self.calls.append(("infer", ctx, data))
        return np.arange(len(data) * self.dim, dtype=np.float32).reshape(len(data), 1, 1, self.dim) + 1

    def compile(self) -> bytes:
        self.calls.append(("compile",))
        return b"HEF-bytes"


@pytest.fixture
def runner():
    RecordingClientRunner.calls = []
    return RecordingClientRunner


def _calls(name: str) -> list[tuple]:
    return [c for c in RecordingClientRunner.calls if c[0] == name]


def _calib(tmp_path: Path, n: int = 5) -> Path:
    path = tmp_path / "calib.npy"
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(0, 256, (n, CONTRACT.height, CONTRACT.width, 3), dtype=np.uint8))
    return path


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


# -- model script -----------------------------------------------------------------------------

def test_normalization_matches_contract():
    contract = Preprocess()
    alls = hailo.model_script(HailoConfig(), contract, LAYER)
    m = re.search(r"^normalization1 = normalization\(\[(.*?)\], \[(.*?)\]\)$", alls, re.M)
    assert m, alls
    np.testing.assert_allclose(_floats(m.group(1)), np.array(contract.mean) * 255, atol=5e-4)
    np.testing.assert_allclose(_floats(m.group(2)), np.array(contract.std) * 255, atol=5e-4)
    assert alls.splitlines()[0].startswith("normalization1")


def test_flavor_and_calibration_lines():
    cfg = HailoConfig(optimization_level=1, compression_level=0, calib_size=64)
    alls = hailo.model_script(cfg, CONTRACT, LAYER)
    assert "model_optimization_flavor(optimization_level=1, compression_level=0)" in alls
    assert "model_optimization_config(calibration, batch_size=8, calibset_size=64)" in alls


def test_a16_w16_line_follows_output_precision():
    line = f"quantization_param({LAYER}, precision_mode=a16_w16)"
    assert line in hailo.model_script(HailoConfig(), CONTRACT, LAYER)
    alls8 = hailo.model_script(HailoConfig(output_precision="a8_w8"), CONTRACT, LAYER)
    assert "quantization_param" not in alls8 and "a16_w16" not in alls8


def test_finetune_line_uses_l2rel_on_output_layer():
    assert "finetune" not in hailo.model_script(HailoConfig(), CONTRACT, LAYER)
    alls = hailo.model_script(HailoConfig(finetune=True, finetune_epochs=3, calib_size=32), CONTRACT, LAYER)
    line = next(l for l in alls.splitlines() if l.startswith("post_quantization_optimization(finetune"))
    assert "policy=enabled" in line and "epochs=3" in line and "dataset_size=32" in line
    assert f"loss_layer_names=[{LAYER}]" in line
    assert re.search(r"loss_types=\[l2rel\]", line, re.I)


def test_config_rejects_bad_values_and_unknown_keys():
    with pytest.raises(ValueError):
        HailoConfig(output_precision="a4_w4")
    with pytest.raises(ValueError, match="optimisation_level"):
        HailoConfig.from_dict({"optimisation_level": 2})
    assert HailoConfig.from_dict({"finetune": True}).finetune


def test_output_layer_name_prefers_hn_then_falls_back():
    assert hailo.output_layer_name(RecordingClientRunner.__new__(RecordingClientRunner), "x") == LAYER
    assert hailo.output_layer_name(object(), "cardrec_student") == "cardrec_student/output_layer1"
    hn_only_layers = SimpleNamespace(get_hn_dict=lambda: {"net_params": {}, "layers": {
        "n/output_layer1": {"type": "output_layer", "input": ["n/conv9"]}}})
    assert hailo.output_layer_name(hn_only_layers, "n") == "n/conv9"


# -- calibration ------------------------------------------------------------------------------

def test_calibration_rejects_float_input():
    with pytest.raises(ValueError, match="uint8"):
        hailo.calibration_for_dfc(np.zeros((2, 8, 8, 3), np.float32))


def test_calibration_rejects_nchw():
    with pytest.raises(ValueError, match="NHWC"):
        hailo.calibration_for_dfc(np.zeros((2, 3, 8, 8), np.uint8))


def test_calibration_accepts_nhwc_uint8_unchanged():
    x = np.random.default_rng(1).integers(0, 256, (4, 8, 6, 3), dtype=np.uint8)
    y = hailo.calibration_for_dfc(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, x.astype(np.float32))
    assert y.max() > 1.0  # 0-255, not rescaled


# -- DFC availability -------------------------------------------------------------------------

def test_require_dfc_raises_with_versions(monkeypatch):
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", None)  # makes the import fail
    with pytest.raises(HailoUnavailable) as err:
        hailo.require_dfc()
    msg = str(err.value)
    assert "3.33.0" in msg and hailo.HAILORT_VERSION in msg
    assert "hailo_dataflow_compiler-3.33.0-py3-none-linux_x86_64.whl" in msg and "export.targets" in msg


def test_build_hef_without_dfc_raises(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", None)
    with pytest.raises(HailoUnavailable):
        hailo.build_hef(tmp_path / "m.onnx", _calib(tmp_path), tmp_path / "out", HailoConfig(), CONTRACT)


def test_script_exits_with_message_without_dfc(monkeypatch, tmp_path, capfd):
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", None)
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the script reassigns it; restore afterwards
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    (tmp_path / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    smk = SimpleNamespace(
        input=SimpleNamespace(onnx=str(tmp_path / "m.onnx"), calib=str(_calib(tmp_path)),
                              contract=str(tmp_path / "contract.json")),
        output=SimpleNamespace(hef=str(tmp_path / "student.hef"), manifest=str(tmp_path / "student.json")),
        params=SimpleNamespace(hailo={"hw_arch": "hailo8l"}), log=[str(tmp_path / "hailo.log")])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "scripts" / "hailo_hef.py"), init_globals={"snakemake": smk})
    sys.stderr.close()
    assert exit_info.value.code == 1
    assert "3.33.0" in (tmp_path / "hailo.log").read_text()
    assert "3.33.0" in capfd.readouterr().err
    assert not (tmp_path / "student.hef").exists()


# -- DFC call sequence ------------------------------------------------------------------------

def test_build_hef_call_sequence(runner, tmp_path):
    onnx = tmp_path / "student.onnx"
    onnx.write_bytes(b"not really onnx")  # the stand-in does not parse it
    cfg = HailoConfig(calib_size=4, finetune=True)
    calib = _calib(tmp_path, n=6)
    manifest = hailo.build_hef(onnx, calib, tmp_path / "out", cfg, CONTRACT, runner_cls=runner)
    out = tmp_path / "out"

    names = [c[0] for c in runner.calls]
    assert names.index("translate_onnx_model") < names.index("optimize") < names.index("compile")
    assert _calls("init")[0][1]["hw_arch"] == "hailo8l"

    (_, model, net_name, kw), = _calls("translate_onnx_model")
    assert model == str(onnx) and net_name == "cardrec_student"
    assert kw["start_node_names"] == ["input"] and kw["end_node_names"] == ["embedding"]
    assert kw["net_input_shapes"] == {"input": [1, 3, CONTRACT.height, CONTRACT.width]}

    (_, script), = _calls("load_model_script")
    assert script == (out / "model.alls").read_text()
    assert script == hailo.model_script(cfg, CONTRACT, LAYER)
    assert f"quantization_param({LAYER}, precision_mode=a16_w16)" in script

    (_, calib), = _calls("optimize")
    assert calib.dtype == np.float32 and calib.shape == (4, CONTRACT.height, CONTRACT.width, 3)
    np.testing.assert_array_equal(calib, np.load(tmp_path / "calib.npy")[:4].astype(np.float32))

    assert len(_calls("compile")) == 1
    assert (out / "model.hef").read_bytes() == b"HEF-bytes"
    assert (out / "model.har").exists() and (out / "model_quantized.har").exists()
    assert _calls("init")[-1][1]["har"] == str(out / "model_quantized.har")

    assert manifest["hw_arch"] == "hailo8l"
    assert manifest["dfc_version"] == hailo.DFC_VERSION == "3.33.0"
    assert manifest["hailort_version"] == hailo.HAILORT_VERSION == "4.23.0"
    assert manifest["calib_count"] == 4
    assert manifest["preprocess"] == CONTRACT.to_dict()
    assert manifest["hef_sha256"] == hashlib.sha256(b"HEF-bytes").hexdigest()
    assert manifest["alls_sha256"] == hashlib.sha256(script.encode()).hexdigest()
    json.dumps(manifest)  # serialisable


def test_optimize_rejects_calibration_of_wrong_size(runner, tmp_path):
    np.save(tmp_path / "calib.npy", np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="contract"):
        hailo.optimize(tmp_path / "m.har", tmp_path / "calib.npy", tmp_path / "q.har",
                       HailoConfig(), CONTRACT, runner)


def test_emulate_uses_quantized_context_and_normalises(runner, tmp_path):
    x = np.random.default_rng(2).integers(0, 256, (3, CONTRACT.height, CONTRACT.width, 3), dtype=np.uint8)
    emb = hailo.emulate(tmp_path / "model_quantized.har", x, runner_cls=runner)
    assert emb.dtype == np.float32 and emb.shape == (3, RecordingClientRunner.dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-6)
    assert _calls("infer_context")[0][1] == InferenceContext.SDK_QUANTIZED
    (_, ctx, data), = _calls("infer")
    assert ctx == "ctx" and data.dtype == np.float32 and data.shape == x.shape


def test_end_node_resolves_onnx_output_tensor_to_its_node(runner, tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    node = helper.make_node("Relu", ["input"], ["embedding"], name="/head/Relu")
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("input", "embedding")]
    graph = helper.make_graph([node], "g", io[:1], io[1:])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), str(path))
    hailo.parse(path, tmp_path / "m.har", HailoConfig(), CONTRACT, runner_cls=runner)
    assert _calls("translate_onnx_model")[0][3]["end_node_names"] == ["/head/Relu"]
