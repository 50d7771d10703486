"""Edge bundle: a directory with ``manifest.json`` at its root naming model, index and metadata."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .manifest import ID_KEY, BundleError, bundle_id, validate
from .preprocess import Preprocess

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
__all__ = ["MANIFEST", "FORMAT_VERSION", "Bundle", "BundleError", "sha256_file"]


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Bundle:
    """What the runtime needs from a bundle, resolved from its manifest."""

    root: Path
    model: Path
    embeddings: Path
    index: Path
    cards: Path
    threshold: float
    contract: Preprocess
    manifest: dict
    thumbnails: Path | None = None  # zip of <card id>.jpg (optional)
    projection: Path | None = None  # .npz the HNSW graph's space is projected with (optional)
    segmenter: Path | None = None  # ONNX card segmenter (optional; manifest["segmenter"]: cardrec_edge.segment)
    segmenter_hef: Path | None = None  # the same segmenter compiled for the Hailo NPU (manifest["segmenter"]["hailo"])
    corners: Path | None = None  # ONNX corner refiner (optional; manifest["corners"]: cardrec_edge.corners)

    @classmethod
    def load(cls, root: str | Path, device_arch: str | None = None, verify: bool = True) -> "Bundle":
        """Read ``root/manifest.json``; check its format and fields, its ``bundle_id`` and every file's sha256
        (unless ``verify`` is false) and, when given, the device's hw_arch. An edited manifest or a changed byte in
        any file refuses the bundle, naming what changed."""
        root = Path(root)
        path = root / MANIFEST
        if not path.is_file():
            raise BundleError(f"no {MANIFEST} in {root}: is this an edge bundle (results/edge/)?")
        try:
            m = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise BundleError(f"{path} is not valid JSON: {e}") from None
        if not isinstance(m, dict) or m.get("format_version") != FORMAT_VERSION:
            got = m.get("format_version") if isinstance(m, dict) else None
            raise BundleError(f"bundle format {got!r}, this runtime reads {FORMAT_VERSION}")
        validate(m)
        if device_arch and m.get("hw_arch") and m["hw_arch"] != device_arch:
            raise BundleError(f"bundle built for {m['hw_arch']}, device is {device_arch}")
        files = m["files"]
        for key in ("model", "embeddings", "index", "cards"):
            if key not in files or not (root / files[key]["path"]).is_file():
                raise BundleError(f"bundle file {key!r} missing from {root}")
        bundle = cls(root=root, model=root / files["model"]["path"],
                     embeddings=root / files["embeddings"]["path"], index=root / files["index"]["path"],
                     cards=root / files["cards"]["path"], threshold=float(m["threshold"]),
                     contract=Preprocess.from_dict(m["preprocess"]), manifest=m,
                     thumbnails=root / files["thumbnails"]["path"] if "thumbnails" in files else None,
                     projection=root / files["projection"]["path"] if "projection" in files else None,
                     segmenter=root / files["segmenter"]["path"] if m.get("segmenter") else None,
                     segmenter_hef=root / files["segmenter_hef"]["path"]
                     if (m.get("segmenter") or {}).get("hailo") else None,
                     corners=root / files["corners"]["path"] if m.get("corners") else None)
        problems = bundle.verify() if verify else []
        if problems:
            raise BundleError(f"bundle {root} refused, it does not match its manifest: {'; '.join(problems)} "
                              f"(copy the bundle again; `cardrec-edge verify-bundle {root}` lists them)")
        return bundle

    @property
    def bundle_id(self) -> str:
        """The identity recorded in the manifest (see ``cardrec_edge.manifest``)."""
        return self.manifest[ID_KEY]

    def verify(self) -> list[str]:
        """Return a list of problems: a manifest edited since its ``bundle_id`` was computed, files whose sha256
        differs from the manifest."""
        problems = []
        if bundle_id(self.manifest) != self.manifest[ID_KEY]:
            problems.append(f"{MANIFEST}: its content does not match its {ID_KEY} (edited after the bundle was built)")
        for key, entry in self.manifest["files"].items():
            p = self.root / entry["path"]
            if not p.is_file():
                problems.append(f"{key}: {entry['path']} missing")
            elif sha256_file(p) != entry["sha256"]:
                problems.append(f"{key}: {entry['path']} sha256 mismatch")
        return problems

    def thumbnail(self, card_id: str) -> bytes | None:
        """JPEG bytes of a card's reference image, when the bundle ships thumbnails."""
        import zipfile

        if self.thumbnails is None:
            return None
        with zipfile.ZipFile(self.thumbnails) as zf:
            try:
                return zf.read(f"{card_id}.jpg")
            except KeyError:
                return None

    def card_table(self) -> list[dict]:
        """Card metadata rows, in index order."""
        return json.loads(self.cards.read_text())
