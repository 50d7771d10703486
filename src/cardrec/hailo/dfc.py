"""Hailo-8L HEF build with the Hailo Dataflow Compiler (DFC 3.x): ONNX -> HAR -> quantised HAR -> HEF.

The DFC (``hailo_sdk_client``) is x86-64 Linux only and not on PyPI, so it is imported lazily
(``require_dfc``) and every DFC entry point takes ``runner_cls``: the real ``ClientRunner`` by
default, a recording stand-in in unit tests. Normalisation lives in the model script, so the
HEF (and the calibration set) take raw NHWC 0-255 RGB pixels letterboxed by the contract.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import numpy as np

from cardrec_edge.preprocess import Preprocess

from cardrec.errors import ConfigError, ToolError

DFC_VERSION = "3.33.0"  # Hailo-8/8L are built by the DFC 3.x line
HAILORT_VERSION = "4.23.0"  # runtime pinned with DFC 3.33; the manifest records the one beside the DFC
PRECISIONS = ("a16_w16", "a8_w8")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HailoConfig:
    """DFC settings (the ``hailo`` block of the workflow config).

    Args:
        hw_arch: DFC target, ``hailo8l`` (Raspberry Pi AI Kit) or ``hailo8``.
        optimization_level: ``model_optimization_flavor`` level 0-4 (>=2 wants a GPU).
        compression_level: 4-bit weight compression level 0-5 (0: none).
        output_precision: ``a16_w16`` (16-bit embedding output, Model Zoo practice) or ``a8_w8``.
        finetune: quantisation-aware fine-tune with an L2REL loss on the embedding layer.
        finetune_epochs: epochs of that fine-tune.
        calib_size: calibration images used (capped by what the calibration file holds).
        calib_batch_size: calibration batch size.
        start_node: ONNX input name.
        end_node: ONNX node (or output tensor) where the HEF ends; ``auto``: the node feeding the L2
            normalisation (ReduceL2 ... Div), which the host does instead (see ``embedding_end_node``).
        net_name: network name inside the HAR/HEF (layers become ``<net_name>/<layer>``).
        docker_image: run the DFC steps in this Hailo AI Software Suite image (``docker run``) instead
            of this environment; see ``cardrec.hailo.steps``.
        docker_args: extra ``docker run`` arguments (e.g. ``["--gpus", "all"]`` for optimisation level >= 2).
    """

    hw_arch: str = "hailo8l"
    optimization_level: int = 2
    compression_level: int = 0
    output_precision: str = "a16_w16"
    finetune: bool = False
    finetune_epochs: int = 4
    calib_size: int = 64
    calib_batch_size: int = 8
    start_node: str = "input"
    end_node: str = "auto"
    net_name: str = "cardrec_student"
    docker_image: Optional[str] = None
    docker_args: tuple = ()

    def __post_init__(self) -> None:
        if self.output_precision not in PRECISIONS:
            raise ConfigError(f"hailo.output_precision must be one of {PRECISIONS}, got {self.output_precision!r}")
        if not 0 <= self.optimization_level <= 4 or not 0 <= self.compression_level <= 5:
            raise ConfigError("hailo.optimization_level must be 0-4 and hailo.compression_level 0-5")
        if self.calib_size < 1 or self.calib_batch_size < 1 or self.finetune_epochs < 1:
            raise ConfigError("hailo.calib_size, hailo.calib_batch_size and hailo.finetune_epochs must be >= 1")

    @classmethod
    def from_dict(cls, d: Optional[dict]) -> "HailoConfig":
        """Build from a config mapping, rejecting unknown keys (typos must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d or {}) - known
        if unknown:
            raise ConfigError(f"unknown hailo config keys {sorted(unknown)}; valid: {sorted(known)}")
        d = dict(d or {})
        if "docker_args" in d:
            d["docker_args"] = tuple(d["docker_args"] or ())
        return cls(**d)


class DfcUnavailable(ToolError):
    """The Hailo Dataflow Compiler is not importable here."""


UNAVAILABLE_MESSAGE = (
    f"The Hailo Dataflow Compiler (python package hailo_sdk_client) is not installed. Building a "
    f"Hailo-8L HEF needs DFC {DFC_VERSION} (device runtime: HailoRT {HAILORT_VERSION}). The DFC runs "
    f"on x86-64 Linux only and is not on PyPI. Either download the wheel from Hailo's Developer Zone "
    f"(https://hailo.ai/developer-zone/) and install it into this environment: `pip install "
    f"hailo_dataflow_compiler-{DFC_VERSION}-py3-none-linux_x86_64.whl`; or run this rule inside Hailo's "
    f"AI Software Suite docker container: set config key `hailo.docker_image` to the suite's image "
    f"(e.g. `--config hailo='{{docker_image: hailo_ai_sw_suite_2025-10:1, hw_arch: hailo8l}}'`) and the "
    f"hailo_* rules run their DFC step there with this repository mounted. The default configuration does not need the "
    f"DFC: it targets INT8 ONNX (config key `export.targets`); request the HEF there only where the "
    f"DFC is available."
)


def require_dfc() -> ModuleType:
    """Import the DFC.

    Returns:
        The ``hailo_sdk_client`` module.

    Raises:
        DfcUnavailable: with installation instructions when it cannot be imported.
    """
    try:
        return importlib.import_module("hailo_sdk_client")
    except ImportError as e:
        raise DfcUnavailable(UNAVAILABLE_MESSAGE) from e


def model_script(cfg: HailoConfig, contract: Preprocess, output_layer: str) -> str:
    """Generate the model script (.alls) text.

    Syntax follows hailo-ai/hailo_model_zoo, hailo_model_zoo/cfg/alls/generic/
    repvgg_a0_person_reid_512.alls (``normalization``, ``post_quantization_optimization(finetune,
    ..., loss_types=[L2REL], loss_layer_names=[fc1])``) and the DFC optimisation tutorial
    (``quantization_param(output_layer1, precision_mode=a16_w16)``,
    ``model_optimization_config(calibration, batch_size=..., calibset_size=...)``).

    Args:
        cfg: DFC settings.
        contract: preprocessing contract; its mean/std (0-1) become 0-255 normalisation.
        output_layer: HN name of the embedding layer (see ``output_layer_name``).

    Returns:
        The script, one command per line.
    """
    mean = [round(m * 255.0, 3) for m in contract.mean]
    std = [round(s * 255.0, 3) for s in contract.std]
    lines = [
        f"normalization1 = normalization({mean}, {std})",
        f"model_optimization_flavor(optimization_level={cfg.optimization_level}, "
        f"compression_level={cfg.compression_level})",
        f"model_optimization_config(calibration, batch_size={min(cfg.calib_batch_size, cfg.calib_size)}, "
        f"calibset_size={cfg.calib_size})",
    ]
    if cfg.output_precision == "a16_w16":
        lines.append(f"quantization_param({output_layer}, precision_mode=a16_w16)")
    if cfg.finetune:
        lines.append(
            f"post_quantization_optimization(finetune, policy=enabled, epochs={cfg.finetune_epochs}, "
            f"dataset_size={cfg.calib_size}, loss_layer_names=[{output_layer}], loss_types=[l2rel])")
    return "\n".join(lines) + "\n"


def calibration_for_dfc(calib_uint8: np.ndarray) -> np.ndarray:
    """Check a calibration set and convert it to what ``ClientRunner.optimize`` takes.

    Args:
        calib_uint8: letterboxed RGB images, uint8 (N,H,W,3).

    Returns:
        float32 (N,H,W,3) with the same 0-255 values (the model script normalises).
    """
    x = np.asarray(calib_uint8)
    if x.dtype != np.uint8:
        raise ValueError(f"calibration must be uint8 0-255 pixels, got {x.dtype}")
    if x.ndim != 4 or x.shape[-1] != 3 or x.shape[0] == 0:
        raise ValueError(f"calibration must be NHWC (N,H,W,3) with N>0, got shape {x.shape}")
    return x.astype(np.float32)


def output_layer_name(runner: Any, net_name: str) -> str:
    """HN name of the embedding layer of a parsed network.

    Prefers ``runner.get_hn_dict()["net_params"]["output_layers_order"]`` (DFC 3.x: the layer that
    *feeds* the output, e.g. ``<net>/fc1``, the layer Model Zoo embedding scripts widen and use as
    fine-tune loss layer), then the input of the sole ``output_layer``-typed layer; falls back to
    ``<net_name>/output_layer1`` (the DFC tutorial's 16-bit-output target) when the HN is not exposed.
    """
    get = getattr(runner, "get_hn_dict", None)
    hn = get() if callable(get) else None
    if isinstance(hn, dict):
        order = (hn.get("net_params") or {}).get("output_layers_order") or []
        if len(order) == 1:
            return str(order[0])
        outs = [(n, l) for n, l in (hn.get("layers") or {}).items() if l.get("type") == "output_layer"]
        if len(outs) == 1:
            inputs = outs[0][1].get("input") or []
            return str(inputs[0]) if len(inputs) == 1 else str(outs[0][0])
    return f"{net_name}/output_layer1"


def _runner_cls(runner_cls: Optional[type]) -> type:
    return runner_cls if runner_cls is not None else require_dfc().ClientRunner


def embedding_end_node(onnx_path: Path | str, name: str = "auto") -> str:
    """ONNX *node* name where the HEF ends.

    ``auto``: the node producing the input of the L2 normalisation (``ReduceL2`` ... ``Div``) when
    the graph has one, else the producer of the graph output. The NPU then returns the projection
    and the host normalises it (every runtime L2-normalises anyway), so the HEF needs no reduction or
    division layers. Any other ``name`` is an output tensor mapped to its producer, or a node name.
    """
    try:
        import onnx
        graph = onnx.load(str(onnx_path), load_external_data=False).graph
    except Exception:  # onnx missing or not a parsable model (unit-test stand-ins): keep the name
        return name
    producer = {o: n.name for n in graph.node for o in n.output}
    if name == "auto":
        norm = next((n for n in graph.node if n.op_type == "ReduceL2"), None)
        tensor = norm.input[0] if norm is not None else graph.output[0].name
        return producer.get(tensor, tensor)
    return producer.get(name, name)


@dataclass(frozen=True)
class Net:
    """The network a HAR is built from: its name inside the HAR and HEF (layers become ``<name>/<layer>``), the
    ONNX input node and the (height, width) it takes, and the ONNX node where the HEF ends."""

    name: str
    start_node: str
    end_node: str
    height: int
    width: int


def embedder_net(onnx_path: Path | str, cfg: HailoConfig, contract: Preprocess) -> Net:
    """The embedding model's ``Net``: the config's names, the contract's size, ``embedding_end_node``."""
    return Net(cfg.net_name, cfg.start_node, embedding_end_node(onnx_path, cfg.end_node), contract.height,
               contract.width)


def parse(onnx_path: Path | str, har_path: Path | str, cfg: HailoConfig, contract: Preprocess,
          runner_cls: Optional[type] = None, net: Optional[Net] = None) -> dict:
    """Translate the fixed-shape fp32 ONNX into a HAR (``net``: default the embedding model's, ``embedder_net``).

    Returns:
        ``{"end_node": ONNX node the HEF ends at, "output_layer": HN name of the output layer}``.
    """
    net = net or embedder_net(onnx_path, cfg, contract)
    runner = _runner_cls(runner_cls)(hw_arch=cfg.hw_arch)
    runner.translate_onnx_model(
        str(onnx_path), net.name, start_node_names=[net.start_node], end_node_names=[net.end_node],
        net_input_shapes={net.start_node: [1, 3, net.height, net.width]})
    runner.save_har(str(har_path))
    return {"end_node": net.end_node, "output_layer": output_layer_name(runner, net.name)}


def optimize(har_in: Path | str, calib_npy: Path | str, har_out: Path | str, cfg: HailoConfig,
             contract: Preprocess, runner_cls: Optional[type] = None, net: Optional[Net] = None) -> dict:
    """Quantise a parsed HAR with the generated model script and the calibration set.

    Args:
        calib_npy: ``.npy`` uint8 (N,H,W,3) calibration images at the network's input size (the embedding
            model's: letterboxed crops); the first ``cfg.calib_size`` are used.
        net: the network (its name and input size); default the embedding model's, at the contract's size.

    Returns:
        ``{"alls": script text, "calib_count": images used, "output_layer": HN name}``.
    """
    name, size = (net.name, (net.height, net.width)) if net else (cfg.net_name, (contract.height, contract.width))
    calib = calibration_for_dfc(np.load(calib_npy))
    if calib.shape[1:3] != size:
        raise ValueError(f"calibration is {calib.shape[1:3]} (H,W); the network takes {size}")
    n = min(cfg.calib_size, len(calib))
    if n < cfg.calib_size:
        log.warning("calibration file holds %d images, config asks for %d", n, cfg.calib_size)
    runner = _runner_cls(runner_cls)(hw_arch=cfg.hw_arch, har=str(har_in))
    layer = output_layer_name(runner, name)
    alls = model_script(dataclasses.replace(cfg, calib_size=n), contract, layer)
    runner.load_model_script(alls)
    runner.optimize(calib[:n])
    runner.save_har(str(har_out))
    return {"alls": alls, "calib_count": n, "output_layer": layer}


def _sdk_quantized(runner_cls: type) -> Any:
    """``InferenceContext.SDK_QUANTIZED`` from the DFC, else from the stand-in's module."""
    for mod in (sys.modules.get("hailo_sdk_client"), sys.modules.get(runner_cls.__module__)):
        ctx = getattr(mod, "InferenceContext", None)
        if ctx is not None:
            return ctx.SDK_QUANTIZED
    return "SDK_QUANTIZED"


def emulate_outputs(har_path: Path | str, nhwc_uint8: np.ndarray, runner_cls: Optional[type] = None) -> np.ndarray:
    """Run the quantised HAR in the DFC's bit-exact emulator (``InferenceContext.SDK_QUANTIZED``) on uint8 NHWC
    images: float32 (N, ...) outputs as the HEF gives them (NHWC)."""
    cls = _runner_cls(runner_cls)
    runner = cls(har=str(har_path))
    x = calibration_for_dfc(nhwc_uint8)
    with runner.infer_context(_sdk_quantized(cls)) as ctx:
        out = runner.infer(ctx, x)
    out = out[0] if isinstance(out, (list, tuple)) else out
    return np.asarray(out, np.float32).reshape(len(x), *np.shape(out)[1:])


def emulate(har_path: Path | str, nhwc_uint8: np.ndarray, runner_cls: Optional[type] = None) -> np.ndarray:
    """The embedding model's quantised HAR in the emulator (``emulate_outputs``).

    Returns:
        float32 (N,D) L2-normalised embeddings.
    """
    emb = emulate_outputs(har_path, nhwc_uint8, runner_cls).reshape(len(nhwc_uint8), -1)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def compile_hef(har_path: Path | str, hef_path: Path | str, runner_cls: Optional[type] = None) -> Path:
    """Compile a quantised HAR and write the HEF bytes. Returns the HEF path."""
    runner = _runner_cls(runner_cls)(har=str(har_path))
    hef = Path(hef_path)
    hef.write_bytes(bytes(runner.compile()))
    return hef


def dfc_version() -> str:
    """The imported DFC's version (warns when it is not the pinned line), else the pinned one."""
    version = getattr(sys.modules.get("hailo_sdk_client"), "__version__", None) or DFC_VERSION
    if not str(version).startswith(DFC_VERSION.rsplit(".", 1)[0]):
        log.warning("DFC %s is not the pinned %s (HailoRT %s)", version, DFC_VERSION, HAILORT_VERSION)
    return str(version)


def hailort_version() -> tuple[str, str]:
    """(version, where it came from) of the HailoRT the DFC environment pairs with the HEF.

    The AI Software Suite (and a DFC install beside HailoRT) has HailoRT's Python package: its
    ``hailo_platform.__version__`` (e.g. ``4.23.0``), else the installed ``hailort`` wheel's metadata. Only
    when neither is present is the pinned pairing used, with a warning, and the manifest says so.
    """
    try:
        return str(importlib.import_module("hailo_platform").__version__), "hailo_platform.__version__"
    except (ImportError, AttributeError):
        pass
    try:
        return metadata.version("hailort"), "hailort package metadata"
    except metadata.PackageNotFoundError:
        log.warning("HailoRT (hailo_platform) is not installed beside the DFC: recording the pinned HailoRT %s",
                    HAILORT_VERSION)
        return HAILORT_VERSION, f"pinned for DFC {DFC_VERSION} (HailoRT not installed beside the DFC)"


EMBEDDING_IO = {"input": {"layout": "NHWC", "dtype": "uint8", "range": "0-255, letterboxed; normalisation in the HEF"},
                "output": "embedding before L2 normalisation: normalise on the host"}


def manifest(hef_path: Path | str, alls: str, cfg: HailoConfig, contract: Preprocess, steps: dict,
             net_name: Optional[str] = None, io: Optional[dict] = None) -> dict:
    """What the edge runtime checks before loading the HEF: versions, hw_arch, input format, hashes.

    Args:
        steps: the parse/optimize/emulate reports (end node, output layer, calibration count, gate).
        net_name, io: the network's name and what goes in and comes out (default: the embedding model's,
            ``EMBEDDING_IO``).
    """
    hef = Path(hef_path).read_bytes()
    runtime, source = hailort_version()
    if runtime.split(".")[:2] != HAILORT_VERSION.split(".")[:2]:
        log.warning("HailoRT %s beside the DFC is not the pinned %s line", runtime, HAILORT_VERSION)
    return {
        "format": "hef", "dfc_version": dfc_version(), "hailort_version": runtime, "hailort_version_source": source,
        "hw_arch": cfg.hw_arch, "net_name": net_name or cfg.net_name, "config": dataclasses.asdict(cfg),
        "alls_sha256": hashlib.sha256(alls.encode()).hexdigest(),
        "hef_sha256": hashlib.sha256(hef).hexdigest(), "hef_bytes": len(hef),
        **(io or EMBEDDING_IO), "preprocess": contract.to_dict(),
        **steps,
    }
