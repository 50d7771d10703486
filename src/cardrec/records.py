"""What run records are made of: JSON files and the versions of the packages that produced them."""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

VERSIONED = ("torch", "timm", "onnx", "onnxruntime", "usearch", "numpy", "opencv-python-headless", "snakemake")


def write_json(path, obj) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def package_versions(names=VERSIONED) -> dict[str, str | None]:
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out
