"""Hailo HEF build without the Dataflow Compiler: model script, calibration format, the
DfcUnavailable path, and the DFC call sequence against a recording stand-in."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import runpy
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

from cardrec.hailo import dfc as hailo
from cardrec.hailo import steps as hailo_steps
from cardrec.hailo.dfc import HailoConfig, DfcUnavailable
from cardrec_edge.preprocess import Preprocess

from .hailo_support import LAYER, InferenceContext, RecordingClientRunner

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = Preprocess(height=32, width=24)


@pytest.fixture
def runner():
    RecordingClientRunner.calls = []
    RecordingClientRunner.emulator = None
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
    with pytest.raises(DfcUnavailable) as err:
        hailo.require_dfc()
    msg = str(err.value)
    assert "3.33.0" in msg and hailo.HAILORT_VERSION in msg
    assert "hailo_dataflow_compiler-3.33.0-py3-none-linux_x86_64.whl" in msg and "export.targets" in msg


def test_step_without_dfc_is_a_step_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", None)
    with pytest.raises(hailo_steps.StepError, match="3.33.0"):
        hailo_steps.run_step("parse", {"onnx": "m.onnx"}, {"har": str(tmp_path / "m.har")}, {"hailo": {}})
    assert not (tmp_path / "m.har").exists()


def test_rule_script_exits_with_message_without_dfc(monkeypatch, tmp_path, capfd):
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", None)
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the script reassigns it; restore afterwards
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    (tmp_path / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    smk = SimpleNamespace(
        rule="hailo_parse", input={"onnx": str(tmp_path / "m.onnx"), "contract": str(tmp_path / "contract.json")},
        output={"har": str(tmp_path / "model.har"), "report": str(tmp_path / "parse.json")},
        params={"hailo": {"hw_arch": "hailo8l"}}, log=[str(tmp_path / "hailo.log")])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(ROOT / "scripts" / "hailo_step.py"), init_globals={"snakemake": smk})
    sys.stderr.close()
    assert exit_info.value.code == 1
    assert "hailo_parse: " in (tmp_path / "hailo.log").read_text()
    err = capfd.readouterr().err
    assert "3.33.0" in err and "hailo.docker_image" in err and "Traceback" not in err
    assert not (tmp_path / "model.har").exists()


def test_docker_step_without_docker_names_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker here
    with pytest.raises(hailo_steps.StepError, match="docker` is not on PATH"):
        hailo_steps.run_step("parse", {}, {"har": str(tmp_path / "m.har")},
                             {"hailo": {"docker_image": "hailo_ai_sw_suite_2025-10:1"}})


def test_docker_command_mounts_workdir_and_sources(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    argv = hailo_steps.docker_command("optimize", Path("results/hailo/.optimize.spec.json"), "suite:1",
                                      ("--gpus", "all"))
    assert argv[:3] == ["docker", "run", "--rm"]
    assert argv[-6:] == ["suite:1", "python3", "-m", "cardrec.hailo.steps", "optimize",
                         "results/hailo/.optimize.spec.json"]
    mounts = [argv[i + 1] for i, a in enumerate(argv) if a == "-v"]
    assert f"{tmp_path}:{tmp_path}" in mounts
    src = str(ROOT / "src")
    assert any(m == f"{src}:{src}" for m in mounts) and f"PYTHONPATH={src}" in " ".join(argv)
    assert argv[argv.index("-w") + 1] == str(tmp_path)
    assert argv.index("--gpus") < argv.index("suite:1")


def test_container_entry_point_help(capsys):
    with pytest.raises(SystemExit) as e:
        hailo_steps.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert all(step in out for step in ("parse", "optimize", "emulate", "compile"))


# -- DFC call sequence, against the recording stand-in ----------------------------------------

def _embedder_onnx(path: Path, dim: int = 8) -> Path:
    """A small real ONNX embedder with the student's tail: pool -> Gemm -> ReduceL2 -> Clip -> Div."""
    from onnx import TensorProto, helper, numpy_helper, save
    w = np.random.default_rng(3).normal(size=(3, dim)).astype(np.float32)
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["pool"], name="/pool"),
             helper.make_node("Flatten", ["pool"], ["flat"], name="/flatten"),
             helper.make_node("Gemm", ["flat", "w"], ["proj"], name="/head/Gemm"),
             helper.make_node("ReduceL2", ["proj"], ["norm"], name="/ReduceL2", axes=[1], keepdims=1),
             helper.make_node("Clip", ["norm", "eps"], ["normc"], name="/Clip"),
             helper.make_node("Div", ["proj", "normc"], ["embedding"], name="/Div")]
    graph = helper.make_graph(
        nodes, "embedder", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 3, None, None])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, dim])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.float32(1e-12), "eps")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _eval_files(tmp_path: Path) -> tuple[list[str], list[str]]:
    """One shard of 4 cards and 8 queries (4 val, 4 test) in the rule-input layout."""
    rng = np.random.default_rng(5)
    shard, qdir = tmp_path / "preprocess/s", tmp_path / "queries/s"
    shard.mkdir(parents=True), qdir.mkdir(parents=True)
    gallery = rng.integers(0, 256, (4, CONTRACT.height, CONTRACT.width, 3), dtype=np.uint8)
    np.save(shard / "gallery.npy", gallery)
    (shard / "cards.json").write_text(json.dumps([{"id": f"s-{i}"} for i in range(4)]))
    np.save(qdir / "images.npy", np.concatenate([gallery, gallery]))
    (qdir / "queries.json").write_text(json.dumps([{"card_id": f"s-{i}", "split": s}
                                                   for s in ("val", "test") for i in range(4)]))
    return [str(shard / "gallery.npy")], [str(qdir / "images.npy")]


@pytest.fixture
def dfc(monkeypatch, runner):
    """``hailo_sdk_client`` replaced by a module holding the recording stand-in."""
    module = ModuleType("hailo_sdk_client")
    module.ClientRunner, module.InferenceContext, module.__version__ = runner, InferenceContext, "3.33.0"
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", module)
    hailort = ModuleType("hailo_platform")  # HailoRT's Python package, installed beside the DFC in the suite
    hailort.__version__ = "4.23.1"
    monkeypatch.setitem(sys.modules, "hailo_platform", hailort)
    return runner


def test_dfc_steps_call_sequence(dfc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from cardrec_edge.runtime import OnnxEmbedder
    onnx_path = _embedder_onnx(tmp_path / "student.onnx")
    (tmp_path / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    contract, calib = str(tmp_path / "contract.json"), str(_calib(tmp_path, n=6))
    gallery, queries = _eval_files(tmp_path)
    fp32 = OnnxEmbedder(onnx_path, CONTRACT)
    dfc.emulator = staticmethod(lambda x: fp32.session.run(None, {"input": CONTRACT.normalize(x.astype(np.uint8))})[0])
    params = {"hailo": {"hw_arch": "hailo8l", "calib_size": 4, "finetune": True},
              "gate": {"min_cosine": 0.99, "max_top1_drop": 0.01}, "unknown_fraction": 0.0}
    h = tmp_path / "hailo"
    h.mkdir()
    out = {"parse": {"har": str(h / "model.har"), "report": str(h / "parse.json")},
           "optimize": {"har": str(h / "model_quantized.har"), "alls": str(h / "model.alls"),
                        "report": str(h / "optimize.json")},
           "emulate": {"report": str(h / "emulate.json")},
           "compile": {"hef": str(h / "student.hef"), "manifest": str(h / "manifest.json")}}
    inp = {"parse": {"onnx": str(onnx_path), "contract": contract},
           "optimize": {"har": out["parse"]["har"], "calib": calib, "contract": contract},
           "emulate": {"har": out["optimize"]["har"], "fp32": str(onnx_path), "gallery": gallery,
                       "queries": queries, "contract": contract},
           "compile": {"har": out["optimize"]["har"], "alls": out["optimize"]["alls"],
                       "parse": out["parse"]["report"], "optimize": out["optimize"]["report"],
                       "emulate": out["emulate"]["report"], "contract": contract}}
    for step in ("parse", "optimize", "emulate", "compile"):
        hailo_steps.run_step(step, inp[step], out[step], params)

    names = [c[0] for c in dfc.calls]
    assert names.index("translate_onnx_model") < names.index("optimize") < names.index("infer") < names.index("compile")
    assert _calls("init")[0][1]["hw_arch"] == "hailo8l"
    (_, model, net_name, kw), = _calls("translate_onnx_model")
    assert model == str(onnx_path) and net_name == "cardrec_student"
    assert kw["start_node_names"] == ["input"]
    assert kw["end_node_names"] == ["/head/Gemm"]  # before the L2 normalisation, which the host does
    assert kw["net_input_shapes"] == {"input": [1, 3, CONTRACT.height, CONTRACT.width]}

    (_, script), = _calls("load_model_script")
    assert script == (h / "model.alls").read_text() == hailo.model_script(
        HailoConfig(calib_size=4, finetune=True), CONTRACT, LAYER)
    assert f"quantization_param({LAYER}, precision_mode=a16_w16)" in script
    (_, calib_arr), = _calls("optimize")
    assert calib_arr.dtype == np.float32 and calib_arr.shape == (4, CONTRACT.height, CONTRACT.width, 3)
    np.testing.assert_array_equal(calib_arr, np.load(calib)[:4].astype(np.float32))
    assert _calls("infer_context")[0][1] == InferenceContext.SDK_QUANTIZED

    emulated = json.loads((h / "emulate.json").read_text())
    assert emulated["mean_cosine"] == pytest.approx(1.0, abs=1e-5) and emulated["top1_drop"] == 0
    assert emulated["gate_min_mean_cosine"] == 0.99
    manifest = json.loads((h / "manifest.json").read_text())
    assert (h / "student.hef").read_bytes() == b"HEF-bytes" and manifest["hef"] == "student.hef"
    assert manifest["hef_sha256"] == hashlib.sha256(b"HEF-bytes").hexdigest()
    assert manifest["hw_arch"] == "hailo8l" and manifest["dfc_version"] == "3.33.0"
    # the HailoRT beside the DFC (hailo_platform.__version__), not the pinned constant
    assert manifest["hailort_version"] == "4.23.1" != hailo.HAILORT_VERSION
    assert manifest["hailort_version_source"] == "hailo_platform.__version__"
    assert manifest["preprocess"] == CONTRACT.to_dict()
    assert manifest["optimize"]["calib_count"] == 4 and manifest["parse"]["end_node"] == "/head/Gemm"
    assert manifest["emulate"]["mean_cosine"] == emulated["mean_cosine"]
    assert manifest["alls_sha256"] == hashlib.sha256(script.encode()).hexdigest()


def test_emulate_step_enforces_the_gate(dfc, tmp_path):
    onnx_path = _embedder_onnx(tmp_path / "student.onnx")
    (tmp_path / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    gallery, queries = _eval_files(tmp_path)
    (tmp_path / "q.har").write_bytes(b"har")  # the stand-in's emulator returns unrelated vectors
    inp = {"har": str(tmp_path / "q.har"), "fp32": str(onnx_path), "gallery": gallery, "queries": queries,
           "contract": str(tmp_path / "contract.json")}
    params = {"hailo": {}, "gate": {"min_cosine": 0.99, "max_top1_drop": 0.01}, "unknown_fraction": 0.0}
    with pytest.raises(hailo_steps.StepError, match="Hailo emulator quality gate failed.*gate.min_cosine=0.99"):
        hailo_steps.run_step("emulate", inp, {"report": str(tmp_path / "emulate.json")}, params)
    assert not (tmp_path / "emulate.json").exists()


@pytest.mark.parametrize("faithful", [True, False])
def test_frame_gate_step_holds_the_emulator_to_fp32_on_the_frames_cards(dfc, tmp_path, faithful):
    """Rule hailo_frame_gate: the emulated HEF against FP32 on the cards of the held-out test frames, cut as the
    runtime cuts a detection; an emulator that drifts there stops the DAG with the figures."""
    from cardrec_edge.runtime import OnnxEmbedder

    from .frame_support import gallery_shard, render_test_frames, smooth_faces

    onnx_path = _embedder_onnx(tmp_path / "student.onnx")
    (tmp_path / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    faces, ids = smooth_faces(6), [f"s-{i}" for i in range(6)]
    render_test_frames(tmp_path / "frames", faces, ids, set(), CONTRACT)
    fp32 = OnnxEmbedder(onnx_path, CONTRACT)
    if faithful:
        dfc.emulator = staticmethod(lambda x: fp32.session.run(None, {"input": CONTRACT.normalize(x)})[0])
    (tmp_path / "q.har").write_bytes(b"har")  # else the stand-in's emulator returns unrelated vectors
    inp = {"har": str(tmp_path / "q.har"), "fp32": str(onnx_path), "frames": str(tmp_path / "frames"),
           "gallery": gallery_shard(tmp_path / "preprocess/s", faces, ids, CONTRACT),
           "contract": str(tmp_path / "contract.json")}
    params = {"hailo": {}, "gate": {"min_cosine": 0.99, "max_top1_drop": 0.01}, "unknown_fraction": 0.0}
    out = {"report": str(tmp_path / "frame_gate.json")}
    if not faithful:
        with pytest.raises(hailo_steps.StepError, match="Hailo emulator quality gate failed: .* cards of the test frames"):
            hailo_steps.run_step("frame_gate", inp, out, params)
        assert not (tmp_path / "frame_gate.json").exists()
        return
    hailo_steps.run_step("frame_gate", inp, out, params)
    report = json.loads((tmp_path / "frame_gate.json").read_text())
    assert report["frames_crops"] >= 9 and report["frames_mean_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert report["frames_top1_drop"] == 0.0 and report["gate_max_top1_drop"] == 0.01
    assert _calls("infer_context")[0][1] == InferenceContext.SDK_QUANTIZED


def test_optimize_rejects_calibration_of_wrong_size(runner, tmp_path):
    np.save(tmp_path / "calib.npy", np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(ValueError, match="network takes"):
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


def test_end_node_auto_stops_before_l2_normalisation_else_maps_tensor_to_node(tmp_path):
    path = _embedder_onnx(tmp_path / "e.onnx")
    assert hailo.embedding_end_node(path) == "/head/Gemm"
    assert hailo.embedding_end_node(path, "embedding") == "/Div"  # an output tensor -> its node
    assert hailo.embedding_end_node(path, "/flatten") == "/flatten"  # a node name stays


def test_end_node_auto_without_normalisation_is_the_output_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    node = helper.make_node("Relu", ["input"], ["embedding"], name="/head/Relu")
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4]) for n in ("input", "embedding")]
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(helper.make_graph([node], "g", io[:1], io[1:])), str(path))
    assert hailo.embedding_end_node(path) == "/head/Relu"


def test_hailort_version_without_hailort_is_the_pinned_one_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "hailo_platform", None)
    monkeypatch.setattr(hailo.metadata, "version", lambda name: (_ for _ in ()).throw(
        hailo.metadata.PackageNotFoundError(name)))
    version, source = hailo.hailort_version()
    assert version == hailo.HAILORT_VERSION and source.startswith("pinned for DFC 3.33.0")


# -- evaluation of the HEF, and the pairing the Pi runs ------------------------------------------

class Named(dict):
    """Snakemake's named lists/params as the rule scripts use them: attributes and ``keys()``."""

    __getattr__ = dict.__getitem__


def run_rule_script(name: str, monkeypatch, tmp_path: Path, **smk) -> None:
    """Run scripts/<name>.py as Snakemake would, with a ``snakemake`` object holding ``smk``."""
    monkeypatch.setattr(sys, "stderr", sys.stderr)  # the script reassigns it; restore afterwards
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    ns = SimpleNamespace(rule=name, log=[str(tmp_path / f"{name}.log")], threads=1, **smk)
    runpy.run_path(str(ROOT / "scripts" / f"{name}.py"), init_globals={"snakemake": ns})


def _evaluate(variant: str, tmp_path: Path, monkeypatch, gallery, queries, **inputs) -> dict:
    out = tmp_path / "evaluate" / variant
    run_rule_script("evaluate", monkeypatch, tmp_path, wildcards=Named(variant=variant),
                    params=Named(evaluate={"unknown_fraction": 0.0, "max_false_reject": 0.0, "top_k": 2}),
                    input=Named(gallery=gallery, queries=queries, contract=str(tmp_path / "contract.json"), **inputs),
                    output=Named(metrics=str(out / "metrics.json"), confusions=str(out / "confusions.png")))
    return json.loads((out / "metrics.json").read_text())


def _fp32_run(tmp_path: Path, monkeypatch) -> tuple[dict, list[str], list[str], Path]:
    """A real ONNX model as the deployed CPU model: its gallery embeddings and its evaluation."""
    from cardrec_edge.runtime import OnnxEmbedder

    onnx_path = _embedder_onnx(tmp_path / "student.onnx")
    (tmp_path / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    gallery, queries = _eval_files(tmp_path)
    emb = tmp_path / "embeddings" / "fp32.npy"
    emb.parent.mkdir()
    np.save(emb, OnnxEmbedder(onnx_path, CONTRACT).embed_letterboxed(np.load(gallery[0])))
    deployed = _evaluate("fp32", tmp_path, monkeypatch, gallery, queries, model=str(onnx_path), embeddings=[str(emb)])
    return deployed, gallery, queries, emb


def _hef_embed_out(tmp_path: Path) -> dict:
    return {"gallery": str(tmp_path / "hailo/embeddings/gallery.npy"),
            "queries": str(tmp_path / "hailo/embeddings/queries.npy")}


def test_hef_evaluation_runs_in_the_container_without_a_local_dfc(monkeypatch, tmp_path):
    """hailo.docker_image set, no DFC on the host: the HEF's emulation for rule evaluate goes through the same
    runner as the other hailo_* steps (rule hailo_embed), and evaluate itself needs no DFC.

    The docker CLI is the boundary: tests/fake_dfc/docker stands for it on PATH, records its argv and runs the
    container's command here, with tests/fake_dfc/hailo_sdk_client.py (the recording ClientRunner) as the
    image's DFC."""
    deployed, gallery, queries, emb = _fp32_run(tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "hailo_sdk_client", None)  # no DFC on the host
    fake = ROOT / "tests" / "fake_dfc"
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(tmp_path / "docker.log"))
    monkeypatch.setenv("FAKE_DOCKER_PYTHONPATH", f"{fake}{os.pathsep}{ROOT}")
    monkeypatch.setenv("FAKE_DOCKER_PYTHON", sys.executable)
    monkeypatch.setenv("CARDREC_TEST_DFC_LOG", str(tmp_path / "dfc.log"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.har").write_bytes(b"har")
    out = _hef_embed_out(tmp_path)
    hailo_steps.run_step("embed", {"har": "q.har", "gallery": gallery, "queries": queries}, out,
                         {"hailo": {"docker_image": "hailo_ai_sw_suite_2025-10:1"}})

    (argv,) = [json.loads(line) for line in (tmp_path / "docker.log").read_text().splitlines()]
    assert argv[:3] == ["docker", "run", "--rm"] and argv[-6:-1] == [
        "hailo_ai_sw_suite_2025-10:1", "python3", "-m", "cardrec.hailo.steps", "embed"]
    dfc_calls = [json.loads(line) for line in (tmp_path / "dfc.log").read_text().splitlines()]
    assert dfc_calls.count(["infer_context", InferenceContext.SDK_QUANTIZED]) == 2  # gallery, queries
    assert np.load(out["gallery"]).shape == (4, RecordingClientRunner.dim)
    assert np.load(out["queries"]).shape == (8, RecordingClientRunner.dim)

    metrics = _evaluate("hef", tmp_path, monkeypatch, gallery, queries, hef_gallery=out["gallery"],
                        hef_queries=out["queries"], embeddings=[str(emb)],
                        deployed_metrics=str(tmp_path / "evaluate/fp32/metrics.json"))
    assert metrics["variant"] == "hef" and metrics["queries_test"] == 4
    pairing = metrics["deployed_pairing"]
    assert (pairing["query_model"], pairing["gallery_model"]) == ("hef", "fp32")
    assert pairing["threshold"] == deployed["threshold"]  # scored at the bundle's threshold, not its own


def _bundle(tmp_path: Path, monkeypatch, deployed_metrics: Path, hef_metrics: Path) -> Path:
    """Rule edge_bundle with a HEF, on small stand-in files (the bundle copies and hashes them)."""
    files = {}
    for role in ("model", "embeddings", "index", "cards", "thumbnails", "projection", "hef", "hef_manifest",
                 "summary"):
        files[role] = tmp_path / "in" / f"{role}.json"
        files[role].parent.mkdir(exist_ok=True)
        files[role].write_text(json.dumps({"role": role}))
    # the stand-in files are no model: the verified decision's calibration (edge/tests/test_edge_verify.py) is
    # replaced by its "disabled" answer, the pairing gate is what this test checks
    monkeypatch.setattr("cardrec.deploy.verification.calibrate_bundle", lambda *a, **k: {"enabled": False})
    run_rule_script("edge_bundle", monkeypatch, tmp_path,
                    input=Named({k: str(v) for k, v in files.items()}, metrics=str(deployed_metrics),
                                hef_metrics=str(hef_metrics), contract=str(tmp_path / "contract.json"),
                                val_frames=str(tmp_path / "frames")),
                    params=Named(variant="fp32", hw_arch="hailo8l", seed=1, index={},
                                 gate={"min_cosine": 0.99, "max_top1_drop": 0.05},
                                 evaluate={"unknown_fraction": 0.1, "max_false_reject": 0.02},
                                 max_corner_error=0.03),
                    output=Named(manifest=str(tmp_path / "edge" / "manifest.json")))
    return tmp_path / "edge" / "manifest.json"


@pytest.mark.parametrize("faithful", [True, False])
def test_bundle_gates_the_pairing_the_pi_runs(dfc, tmp_path, monkeypatch, capfd, faithful):
    """The bundle's gallery and threshold come from the deployed CPU model while a Hailo device embeds queries
    with the HEF: that pairing is scored (evaluate, variant hef) and gated (edge_bundle). An emulator that
    reproduces the model passes and the manifest records the pairing; one that does not fails the bundle."""
    deployed, gallery, queries, emb = _fp32_run(tmp_path, monkeypatch)
    if faithful:  # the FP32 model as "perfect" quantisation; otherwise the stand-in's unrelated vectors
        from cardrec_edge.runtime import OnnxEmbedder
        fp32 = OnnxEmbedder(tmp_path / "student.onnx", CONTRACT)
        dfc.emulator = staticmethod(
            lambda x: fp32.session.run(None, {"input": CONTRACT.normalize(x.astype(np.uint8))})[0])
    (tmp_path / "q.har").write_bytes(b"har")
    out = _hef_embed_out(tmp_path)
    hailo_steps.run_step("embed", {"har": str(tmp_path / "q.har"), "gallery": gallery, "queries": queries}, out,
                         {"hailo": {}})
    _evaluate("hef", tmp_path, monkeypatch, gallery, queries, hef_gallery=out["gallery"], hef_queries=out["queries"],
              embeddings=[str(emb)], deployed_metrics=str(tmp_path / "evaluate/fp32/metrics.json"))
    metrics = tmp_path / "evaluate/fp32/metrics.json", tmp_path / "evaluate/hef/metrics.json"
    if faithful:
        manifest = json.loads(_bundle(tmp_path, monkeypatch, *metrics).read_text())
        pairing = manifest["hailo"]["deployed_pairing"]
        assert pairing["top1"] == deployed["top1"] == 1.0 and pairing["gate_max_drop"] == 0.05
        assert pairing["threshold"] == manifest["threshold"] == deployed["threshold"]
        return
    with pytest.raises(SystemExit) as e:
        _bundle(tmp_path, monkeypatch, *metrics)
    sys.stderr.close()
    assert e.value.code == 1
    err = capfd.readouterr().err
    assert "edge_bundle: HEF queries against the fp32 gallery at its threshold" in err
    assert "lose more than gate.max_top1_drop=0.05: top1 1.000 -> " in err and "Traceback" not in err
    assert not (tmp_path / "edge" / "manifest.json").exists()


# -- the card segmenter's HEF (rule hailo_segmenter) --------------------------------------------------------

SEG_SIZE = (16, 24)  # its input (height, width); logits at half that


def _segmenter_onnx(path: Path) -> Path:
    """A small real ONNX segmenter with the runtime's names: frame (1,3,H,W) -> 1x1 conv -> 2x2 pool -> logits."""
    from onnx import TensorProto, helper, numpy_helper, save
    h, w = SEG_SIZE
    nodes = [helper.make_node("Conv", ["frame", "w", "b"], ["c"], name="/conv"),
             helper.make_node("AveragePool", ["c"], ["logits"], name="/pool", kernel_shape=[2, 2], strides=[2, 2])]
    graph = helper.make_graph(
        nodes, "segmenter", [helper.make_tensor_value_info("frame", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, h // 2, w // 2])],
        [numpy_helper.from_array(np.float32([1, -1, 0.5]).reshape(1, 3, 1, 1), "w"),
         numpy_helper.from_array(np.float32([0.1]), "b")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _segmenter_step(tmp_path: Path, dfc, emulated_sign: float) -> tuple[dict, dict, dict]:
    """rule hailo_segmenter's step on the small segmenter and 6 scenes, the emulator being the FP32 model in NHWC
    times ``emulated_sign`` (1: perfect; -1: every mask pixel flipped)."""
    from cardrec.export.segmenter import onnx_logits
    onnx_path = _segmenter_onnx(tmp_path / "segmenter.onnx")
    (tmp_path / "contract.json").write_text(json.dumps(CONTRACT.to_dict()))
    scenes = np.random.default_rng(4).integers(0, 256, (6, *SEG_SIZE, 3), dtype=np.uint8)
    np.save(tmp_path / "calibration.npy", scenes)
    dfc.emulator = staticmethod(lambda x: emulated_sign * onnx_logits(onnx_path, x.astype(np.uint8), CONTRACT)[..., None])
    inp = {"onnx": str(onnx_path), "scenes": str(tmp_path / "calibration.npy"), "contract": str(tmp_path / "contract.json")}
    out = {"har": str(tmp_path / "segmenter.har"), "quantized": str(tmp_path / "segmenter_quantized.har"),
           "hef": str(tmp_path / "segmenter.hef"), "manifest": str(tmp_path / "segmenter.json")}
    params = {"hailo": {"hw_arch": "hailo8l", "calib_size": 4, "finetune": True},
              "segmenter": {"input": list(SEG_SIZE), "min_mask_agreement": 0.99}}
    return inp, out, params


def test_segmenter_hef_step_parses_calibrates_gates_and_compiles_the_segmenter(dfc, tmp_path):
    """The segmenter's own input and end nodes and size, its INT8 model's calibration scenes, no embedding
    fine-tune, its mask held to FP32's in the emulator, and a manifest saying what the runtime feeds it."""
    inp, out, params = _segmenter_step(tmp_path, dfc, 1.0)
    hailo_steps.run_step("segmenter", inp, out, params)

    (_, model, net_name, kw), = _calls("translate_onnx_model")
    assert model == inp["onnx"] and net_name == hailo_steps.SEGMENTER_NET
    assert kw["start_node_names"] == ["frame"] and kw["end_node_names"] == ["/pool"]
    assert kw["net_input_shapes"] == {"frame": [1, 3, *SEG_SIZE]}
    (_, script), = _calls("load_model_script")
    assert "finetune" not in script and "normalization1 = normalization(" in script
    (_, calib), = _calls("optimize")
    np.testing.assert_array_equal(calib, np.load(inp["scenes"])[:4].astype(np.float32))
    (_, _, emulated), = _calls("infer")
    assert emulated.shape == (6, *SEG_SIZE, 3)

    manifest = json.loads(Path(out["manifest"]).read_text())
    assert Path(out["hef"]).read_bytes() == b"HEF-bytes" and manifest["hef"] == "segmenter.hef"
    assert manifest["net_name"] == hailo_steps.SEGMENTER_NET and manifest["config"]["finetune"] is False
    assert (manifest["height"], manifest["width"]) == SEG_SIZE
    assert manifest["emulate"] == {"scenes": 6, "mask_agreement": 1.0, "min_mask_agreement": 0.99}
    assert "logits" in manifest["output"] and manifest["input"]["dtype"] == "uint8"
    assert manifest["hef_sha256"] == hashlib.sha256(b"HEF-bytes").hexdigest()


def test_segmenter_hef_step_refuses_a_mask_that_drifts_from_fp32(dfc, tmp_path):
    inp, out, params = _segmenter_step(tmp_path, dfc, -1.0)
    with pytest.raises(hailo_steps.StepError, match=r"emulator's segmenter's mask agrees with FP32 on 0\.0000 "
                                                    r".*segmenter\.min_mask_agreement=0\.99.*export\.targets"):
        hailo_steps.run_step("segmenter", inp, out, params)
    assert "compile" not in [c[0] for c in RecordingClientRunner.calls] and not Path(out["hef"]).exists()


class _FakeHailoRT:
    """HailoRT's InferModel API as the runtime uses it (``hailo_platform`` is not on PyPI), computing a HEF's output
    with ``fn`` on the uint8 NHWC buffer the runtime binds."""

    __version__ = "4.23.0"
    FormatType = SimpleNamespace(UINT8="uint8", FLOAT32="float32")

    def __init__(self, fn, out_shape):
        self.fed = []
        fake = self

        class Stream(SimpleNamespace):
            def set_format_type(self, t):
                self.format = t

            def set_buffer(self, buf):
                self.buf = buf

        class Bindings:
            def __init__(self):
                self._in, self._out = Stream(), Stream()

            def input(self):
                return self._in

            def output(self):
                return self._out

        class Configured:
            def create_bindings(self):
                return Bindings()

            def run(self, bindings, timeout_ms):
                for b in bindings:
                    fake.fed.append(b.input().buf)
                    b.output().buf[...] = fn(b.input().buf)

        class Model:
            def __init__(self):
                self.i, self.o = Stream(), Stream(shape=out_shape)

            def set_batch_size(self, n):
                assert n == 1

            def input(self):
                return self.i

            def output(self):
                return self.o

            def configure(self):
                import contextlib
                return contextlib.nullcontext(Configured())

        self.vdevice = SimpleNamespace(create_infer_model=lambda hef: Model())


def test_the_runtime_runs_the_segmenter_hef_beside_the_embedding_hef_else_its_onnx_model(tmp_path):
    """``open_segmenter``: with a Hailo embedder (its VDevice) and the bundle's segmenter HEF, ``HailoSegmenter`` feeds
    the HEF the frame area-resized to its input as uint8 NHWC and reads its NHWC logits, the same mask as the ONNX
    model's; a HEF built for another chip is refused; with an ONNX embedder the ONNX segmenter runs."""
    from cardrec.export.segmenter import onnx_logits
    from cardrec_edge.bundle import BundleError
    from cardrec_edge.segment import CardSegmenter, HailoSegmenter, open_segmenter, small_frame

    onnx_path = _segmenter_onnx(tmp_path / "segmenter.onnx")
    h, w = SEG_SIZE
    rt = _FakeHailoRT(lambda x: onnx_logits(onnx_path, x[None], CONTRACT)[0][..., None], (h // 2, w // 2, 1))
    spec = {"height": h, "width": w, "band": 2, "hailo": {"hw_arch": "hailo8l", "hailort_version": "4.23.0"}}
    bundle = SimpleNamespace(manifest={"segmenter": spec}, segmenter=onnx_path, segmenter_hef=tmp_path / "s.hef",
                             contract=CONTRACT)
    embedder = SimpleNamespace(hp=rt, vdevice=rt.vdevice, arch="HAILO8L")
    frame = np.random.default_rng(7).integers(0, 256, (90, 160, 3), dtype=np.uint8)

    seg = open_segmenter(bundle, embedder)
    assert isinstance(seg, HailoSegmenter)
    logits = seg.logits(frame)
    fed, = rt.fed
    assert fed.dtype == np.uint8 and fed.shape == (h, w, 3)
    np.testing.assert_array_equal(fed, small_frame(frame, SEG_SIZE))
    onnx_seg = open_segmenter(bundle, object(), threads=1)  # an ONNX embedder: no VDevice
    assert isinstance(onnx_seg, CardSegmenter)
    np.testing.assert_allclose(logits, onnx_seg.logits(frame), rtol=1e-5, atol=1e-5)
    (band, quads), (onnx_band, onnx_quads) = seg.look(frame), onnx_seg.look(frame)  # what the runtime uses of it
    np.testing.assert_array_equal(band, onnx_band)
    assert [q.corners.tolist() for q in quads] == [q.corners.tolist() for q in onnx_quads]

    with pytest.raises(BundleError, match="compiled for hailo8l, this device is hailo8"):
        open_segmenter(bundle, SimpleNamespace(hp=rt, vdevice=rt.vdevice, arch="HAILO8"))
