"""The Dataflow Compiler rules as steps: hailo_parse, hailo_optimize, hailo_emulate, hailo_embed, hailo_compile (the
embedding model) and hailo_segmenter (the card segmenter, all its steps in one).

A step reads ``{"inputs": {...}, "outputs": {...}, "params": {...}}`` (a rule's named inputs, outputs
and params; paths relative to the working directory). It runs in this environment when
``hailo_sdk_client`` is importable, or, with ``hailo.docker_image`` set, inside Hailo's AI Software
Suite container (the DFC ships there; it is x86-64 Linux only and not on PyPI)::

    docker run --rm -v $PWD:$PWD -w $PWD -e PYTHONPATH=<src> IMAGE python3 -m cardrec.hailo.steps STEP SPEC

so Snakemake keeps the DAG on the host and only the DFC call moves into the container.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from cardrec_edge.preprocess import Preprocess

from cardrec.hailo import dfc
from cardrec.hailo.dfc import HailoConfig, DfcUnavailable
from cardrec.records import write_json
from cardrec.errors import CardrecError

log = logging.getLogger(__name__)
STEPS: dict[str, Callable[[dict, dict, dict], None]] = {}


class StepError(CardrecError):
    """An expected failure of a DFC step (no DFC, no docker, quality gate): one line for the user."""


def _step(fn):
    STEPS[fn.__name__.removeprefix("step_")] = fn
    return fn


def _setup(inputs: dict, params: dict) -> tuple[HailoConfig, Preprocess]:
    contract = Preprocess.from_dict(json.loads(Path(inputs["contract"]).read_text()))
    return HailoConfig.from_dict(params.get("hailo")), contract


@_step
def step_parse(inputs: dict, outputs: dict, params: dict) -> None:
    """Fixed-shape FP32 ONNX -> HAR (``translate_onnx_model`` with explicit start/end nodes)."""
    cfg, contract = _setup(inputs, params)
    info = dfc.parse(inputs["onnx"], outputs["har"], cfg, contract)
    write_json(outputs["report"], {**info, "hw_arch": cfg.hw_arch, "dfc_version": dfc.dfc_version()})


@_step
def step_optimize(inputs: dict, outputs: dict, params: dict) -> None:
    """HAR -> quantised HAR with the generated model script and the calibration set."""
    cfg, contract = _setup(inputs, params)
    opt = dfc.optimize(inputs["har"], inputs["calib"], outputs["har"], cfg, contract)
    Path(outputs["alls"]).write_text(opt.pop("alls"))
    write_json(outputs["report"], opt)


@_step
def step_emulate(inputs: dict, outputs: dict, params: dict) -> None:
    """SDK_QUANTIZED emulation on the held-out queries vs FP32 ONNX: the same gate as INT8 on the crops."""
    from cardrec_edge.runtime import OnnxEmbedder

    from cardrec.data.shards import EvalSet
    from cardrec.export.gate import QualityGateError, drift_report, enforce

    _, contract = _setup(inputs, params)
    fp32 = OnnxEmbedder(inputs["fp32"], contract)
    report = drift_report(fp32.embed_letterboxed, lambda x: dfc.emulate(inputs["har"], x),
                          EvalSet.load(inputs["gallery"], inputs["queries"]), params["unknown_fraction"])
    try:
        enforce(report, params["gate"]["min_cosine"], params["gate"]["max_top1_drop"], "Hailo emulator")
    except QualityGateError as e:
        raise StepError(str(e)) from None
    write_json(outputs["report"], report)


@_step
def step_frame_gate(inputs: dict, outputs: dict, params: dict) -> None:
    """SDK_QUANTIZED emulation vs FP32 ONNX on the cards of the held-out test frames, cut as the runtime cuts a
    detection: the same frame gate as INT8 (cardrec.export.gate.frame_gate)."""
    from cardrec_edge.runtime import OnnxEmbedder

    from cardrec.export.gate import QualityGateError, frame_gate

    _, contract = _setup(inputs, params)
    fp32 = OnnxEmbedder(inputs["fp32"], contract)
    try:
        report = frame_gate(fp32.embed_letterboxed, lambda x: dfc.emulate(inputs["har"], x), inputs["gallery"],
                            inputs["frames"], contract, params["unknown_fraction"], params["gate"], "Hailo emulator")
    except QualityGateError as e:
        raise StepError(str(e)) from None
    write_json(outputs["report"], report)


@_step
def step_embed(inputs: dict, outputs: dict, params: dict) -> None:
    """The gallery and the held-out queries embedded by the quantised HAR in the emulator (what the HEF computes,
    bit-exact): rule evaluate's ``hef`` variant scores these on the host."""
    from cardrec.data.shards import EvalSet

    data = EvalSet.load(inputs["gallery"], inputs["queries"])
    for name, images in (("gallery", data.gallery), ("queries", data.queries)):
        Path(outputs[name]).parent.mkdir(parents=True, exist_ok=True)
        np.save(outputs[name], dfc.emulate(inputs["har"], images))


@_step
def step_compile(inputs: dict, outputs: dict, params: dict) -> None:
    """Quantised HAR -> HEF, and the manifest the edge runtime checks."""
    cfg, contract = _setup(inputs, params)
    hef = dfc.compile_hef(inputs["har"], outputs["hef"])
    steps = {k: json.loads(Path(inputs[k]).read_text()) for k in ("parse", "optimize", "emulate")}
    doc = dfc.manifest(hef, Path(inputs["alls"]).read_text(), cfg, contract, steps)
    write_json(outputs["manifest"], {**doc, "hef": hef.name})


SEGMENTER_NET = "cardrec_segmenter"
SEGMENTER_IO = {"input": {"layout": "NHWC", "dtype": "uint8",
                          "range": "0-255, the frame area-resized to the input size; normalisation in the HEF"},
                "output": "card-face logits (NHWC, one channel) at half the input size: a card where > 0"}


@_step
def step_segmenter(inputs: dict, outputs: dict, params: dict) -> None:
    """The card segmenter (``cardrec_edge.segment``) as a HEF: its FP32 ONNX parsed (input ``frame`` at
    ``segmenter.input``, ending at ``logits``), optimised on the scenes its INT8 model was calibrated on (rule
    quantize_segmenter), the emulator's mask held to the FP32 model's on them (``segmenter.min_mask_agreement``,
    as the INT8 model is), compiled; the manifest says what the runtime feeds it."""
    from cardrec_edge.segment import INPUT_NAME, OUTPUT_NAME

    from cardrec.export.gate import QualityGateError
    from cardrec.export.segmenter import agreement, mask_gate, onnx_logits

    cfg, contract = _setup(inputs, params)
    cfg = dataclasses.replace(cfg, finetune=False)  # its loss is the embedding's (L2REL on the embedding layer)
    seg = params["segmenter"]
    net = dfc.Net(SEGMENTER_NET, INPUT_NAME, dfc.embedding_end_node(inputs["onnx"], OUTPUT_NAME), *seg["input"])
    parsed = dfc.parse(inputs["onnx"], outputs["har"], cfg, contract, net=net)
    optimized = dfc.optimize(outputs["har"], inputs["scenes"], outputs["quantized"], cfg, contract, net=net)
    scenes = np.load(inputs["scenes"])
    agree = agreement(dfc.emulate_outputs(outputs["quantized"], scenes), onnx_logits(inputs["onnx"], scenes, contract))
    try:
        mask_gate(agree, seg["min_mask_agreement"], len(scenes), "the Hailo emulator's segmenter",
                  "leave hef out of export.targets (the runtime then runs the segmenter on the CPU)")
    except QualityGateError as e:
        raise StepError(str(e)) from None
    hef = dfc.compile_hef(outputs["quantized"], outputs["hef"])
    alls = optimized.pop("alls")
    emulated = {"scenes": len(scenes), "mask_agreement": round(agree, 5), "min_mask_agreement": seg["min_mask_agreement"]}
    doc = dfc.manifest(hef, alls, cfg, contract, {"parse": parsed, "optimize": optimized, "emulate": emulated},
                       net_name=SEGMENTER_NET, io=SEGMENTER_IO)
    write_json(outputs["manifest"], {**doc, "hef": hef.name, "height": net.height, "width": net.width})


def docker_command(step: str, spec: Path, image: str, extra_args: tuple = ()) -> list[str]:
    """``docker run`` of one step: working directory and the cardrec sources mounted at their own paths."""
    import cardrec_edge

    import cardrec

    cwd = Path.cwd().resolve()
    sources = [Path(m.__file__).resolve().parents[1] for m in (cardrec, cardrec_edge)]
    mounts = [cwd] + [s for s in sources if cwd not in s.parents and s != cwd]
    argv = ["docker", "run", "--rm", "--user", f"{os.getuid()}:{os.getgid()}", "-w", str(cwd),
            "-e", "PYTHONPATH=" + os.pathsep.join(map(str, sources))]
    for m in mounts:
        argv += ["-v", f"{m}:{m}"]
    return argv + [*extra_args, image, "python3", "-m", "cardrec.hailo.steps", step, str(spec)]


def run_step(step: str, inputs: dict, outputs: dict, params: dict) -> None:
    """Run a step here, or in the AI Software Suite container when ``hailo.docker_image`` is set.

    Raises:
        StepError: the DFC (or docker) is missing, the container step failed, or the gate failed.
    """
    cfg = HailoConfig.from_dict(params.get("hailo"))
    if not cfg.docker_image:
        try:
            dfc.require_dfc()
        except DfcUnavailable as e:
            raise StepError(str(e)) from None
        STEPS[step](inputs, outputs, params)
        return
    if shutil.which("docker") is None:
        raise StepError(f"hailo.docker_image is {cfg.docker_image!r} but `docker` is not on PATH; install Docker "
                        f"and load the Hailo AI Software Suite image (docker load -i <suite>.tar.gz)")
    spec = Path(next(iter(outputs.values()))).parent / f".{step}.spec.json"
    spec.parent.mkdir(parents=True, exist_ok=True)
    write_json(spec, {"inputs": inputs, "outputs": outputs, "params": params})
    argv = docker_command(step, spec, cfg.docker_image, cfg.docker_args)
    log.info("running in the AI Software Suite container: %s", " ".join(argv))
    if subprocess.run(argv).returncode != 0:
        raise StepError(f"hailo_{step} failed inside {cfg.docker_image} (its output is above in this log)")
    spec.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cardrec.hailo.steps", description=__doc__.split("\n\n")[0],
                                     epilog="Normally run by the hailo_* rules; this is the container entry point.")
    parser.add_argument("step", choices=sorted(STEPS), help="which DFC step to run")
    parser.add_argument("spec", type=Path, help='JSON {"inputs": {...}, "outputs": {...}, "params": {...}}')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    spec = json.loads(args.spec.read_text())
    try:
        dfc.require_dfc()
        STEPS[args.step](spec["inputs"], spec["outputs"], spec["params"])
    except (DfcUnavailable, StepError) as e:
        print(f"hailo_{args.step}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
