"""Edge bundle: deployed model, reference embeddings + index, card table and a manifest of hashes."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from cardrec_edge.bundle import FORMAT_VERSION, MANIFEST, sha256_file
from cardrec_edge.manifest import ID_KEY, bundle_id, validate

from cardrec.records import package_versions


def write_bundle(out_dir: Path, files: dict[str, str], contract: dict, threshold: float, variant: str,
                 hw_arch: str | None, extra: dict) -> dict:
    """Copy ``files`` (role -> source path) into ``out_dir`` and write ``manifest.json`` last, with its
    ``bundle_id`` (sha256 of the canonical manifest: the same inputs give the same bytes and id)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = {}
    for role, src in files.items():
        name = f"{role}{''.join(Path(src).suffixes)}"
        shutil.copyfile(src, out_dir / name)
        entries[role] = {"path": name, "sha256": sha256_file(out_dir / name), "bytes": (out_dir / name).stat().st_size}
    manifest = {"format_version": FORMAT_VERSION, "model_variant": variant, "hw_arch": hw_arch,
                "threshold": threshold, "score": "cosine similarity of L2-normalised embeddings",
                "preprocess": contract, "files": entries, "versions": package_versions(), **extra}
    return _write_manifest(out_dir, manifest)


def add_to_manifest(out_dir: Path, key: str, value) -> dict:
    """Set ``manifest[key]`` of a written bundle (its files unchanged) and sign it again."""
    manifest = json.loads((Path(out_dir) / MANIFEST).read_text())
    manifest[key] = value
    return _write_manifest(Path(out_dir), manifest)


def _write_manifest(out_dir: Path, manifest: dict) -> dict:
    manifest = json.loads(json.dumps(manifest))  # exactly what a reader will see (lists, string keys)
    manifest[ID_KEY] = bundle_id(manifest)
    validate(manifest)  # never write a bundle the runtime refuses
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest
