"""The bundle manifest's identity and the checks on every field the runtime reads.

``bundle_id`` is the sha256 of the manifest's canonical JSON (sorted keys, no whitespace, UTF-8) without the
``bundle_id`` key itself. The manifest lists every file's sha256, so the id names the whole bundle: a changed
byte in any file, or an edited manifest field (the threshold, the preprocessing contract), no longer matches it.
It guards against edits and corruption, not against someone who recomputes it (it is not a signature).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import PurePosixPath

from .errors import CardrecError

ID_KEY = "bundle_id"
REQUIRED_FILES = ("model", "embeddings", "index", "cards")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleError(CardrecError, ValueError):
    """A bundle that is missing, incomplete, corrupt or built for other hardware."""


def canonical(manifest: dict) -> bytes:
    """The manifest without its ``bundle_id``, as sorted, compact UTF-8 JSON."""
    body = {k: v for k, v in manifest.items() if k != ID_KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def bundle_id(manifest: dict) -> str:
    """sha256 (hex) of ``canonical(manifest)``."""
    return hashlib.sha256(canonical(manifest)).hexdigest()


def _bad(key: str, want: str, got) -> BundleError:
    shown = "missing" if got is _MISSING else f"got {json.dumps(got)[:60]}"
    return BundleError(f"manifest.json: {key} must be {want}, {shown}")


_MISSING = object()


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


def _check_preprocess(p) -> None:
    if not isinstance(p, dict):
        raise _bad("preprocess", "an object (the model input contract)", p)
    for key in ("height", "width"):
        if not _positive_int(p.get(key, _MISSING)):
            raise _bad(f"preprocess.{key}", "a positive integer", p.get(key, _MISSING))
    for key, positive in (("mean", False), ("std", True)):
        v = p.get(key, _MISSING)
        if not (isinstance(v, list) and len(v) == 3 and all(_number(x) and (x > 0 or not positive) for x in v)):
            raise _bad(f"preprocess.{key}", f"a list of 3 {'positive ' if positive else ''}numbers", v)
    pad = p.get("pad_value", 0)
    if not (isinstance(pad, int) and not isinstance(pad, bool) and 0 <= pad <= 255):
        raise _bad("preprocess.pad_value", "an integer 0-255", pad)


def _check_files(files) -> None:
    if not isinstance(files, dict):
        raise _bad("files", "an object (role -> path and sha256)", files)
    for role in REQUIRED_FILES:
        if role not in files:
            raise _bad(f"files.{role}", "present", _MISSING)
    for role, entry in files.items():
        if not isinstance(entry, dict):
            raise _bad(f"files.{role}", "an object with path and sha256", entry)
        path = entry.get("path", _MISSING)
        if not isinstance(path, str) or not path or PurePosixPath(path).is_absolute() or "\\" in path \
                or ".." in PurePosixPath(path).parts:
            raise _bad(f"files.{role}.path", "a relative path inside the bundle", path)
        sha = entry.get("sha256", _MISSING)
        if not (isinstance(sha, str) and _SHA256.fullmatch(sha)):
            raise _bad(f"files.{role}.sha256", "64 lowercase hex digits", sha)


def validate(m) -> None:
    """Raise ``BundleError`` naming the first field the runtime reads that is missing or of the wrong type."""
    if not isinstance(m, dict):
        raise BundleError("manifest.json must hold a JSON object")
    if not (isinstance(m.get(ID_KEY), str) and _SHA256.fullmatch(m[ID_KEY])):
        if ID_KEY not in m:
            raise BundleError(f"manifest.json has no {ID_KEY} (built before bundles had an identity): rebuild the "
                              f"bundle (snakemake results/edge/manifest.json)")
        raise _bad(ID_KEY, "64 lowercase hex digits", m[ID_KEY])
    t = m.get("threshold", _MISSING)
    if not (_number(t) and -1.0 <= t <= 1.0):
        raise _bad("threshold", "a number between -1 and 1 (a cosine similarity)", t)
    _check_preprocess(m.get("preprocess", _MISSING))
    _check_files(m.get("files", _MISSING))
    hw = m.get("hw_arch")
    if hw is not None and not isinstance(hw, str):
        raise _bad("hw_arch", "a string or null", hw)
    for key in ("index", "hailo", "verify", "orientation", "segmenter", "corners"):
        if m.get(key) is not None and not isinstance(m[key], dict):
            raise _bad(key, "an object or null", m[key])
    search = m.get("index") or {}
    if search.get("expansion_search") is not None and not _positive_int(search["expansion_search"]):
        raise _bad("index.expansion_search", "a positive integer or null", search["expansion_search"])
    if "candidates" in search and not _positive_int(search["candidates"]):
        raise _bad("index.candidates", "a positive integer", search["candidates"])
    verify = m.get("verify") or {}
    if verify and not isinstance(verify.get("enabled", True), bool):
        raise _bad("verify.enabled", "true or false", verify["enabled"])
    for key in ("min_inliers", "art_inliers", "height", "width", "features", "top_k"):
        zero = key in ("min_inliers", "art_inliers")  # counts that may be 0
        if key in verify and not (_positive_int(verify[key]) or (zero and verify[key] == 0)):
            raise _bad(f"verify.{key}", "an integer >= 0" if zero else "a positive integer", verify[key])
    for key in ("ratio", "reproj", "max_corner_shift"):
        if key in verify and not (_number(verify[key]) and verify[key] > 0):
            raise _bad(f"verify.{key}", "a positive number", verify[key])
    box = verify.get("art_box", [0, 0, 1, 1])
    if not (isinstance(box, list) and len(box) == 4 and all(_number(v) and 0 <= v <= 1 for v in box)
            and box[0] < box[2] and box[1] < box[3]):
        raise _bad("verify.art_box", "[x0, y0, x1, y1], fractions of the card with x0 < x1 and y0 < y1", box)
    if "tie_margin" in verify and not (_number(verify["tie_margin"]) and verify["tie_margin"] >= 0):
        raise _bad("verify.tie_margin", "a number >= 0", verify["tie_margin"])
    gate = m.get("orientation")
    if gate is not None:
        c = gate.get("confidence", _MISSING)
        if not (_number(c) and 0.5 <= c < 1):
            raise _bad("orientation.confidence", "a probability in [0.5, 1)", c)
        if "orientation" not in m["files"]:
            raise _bad("files.orientation", "present (the orientation gate's weights)", _MISSING)
    seg = m.get("segmenter")
    if seg is not None:
        for key in ("height", "width", "band"):
            if not _positive_int(seg.get(key, _MISSING)):
                raise _bad(f"segmenter.{key}", "a positive integer", seg.get(key, _MISSING))
        if "segmenter" not in m["files"]:
            raise _bad("files.segmenter", "present (the segmenter's ONNX)", _MISSING)
        if seg.get("hailo") is not None and not isinstance(seg["hailo"], dict):
            raise _bad("segmenter.hailo", "an object or null", seg["hailo"])
        if seg.get("hailo") and "segmenter_hef" not in m["files"]:
            raise _bad("files.segmenter_hef", "present (the segmenter's HEF, segmenter.hailo)", _MISSING)
    corners = m.get("corners")
    if corners is not None:
        for key in ("size", "iterations"):
            if not _positive_int(corners.get(key, _MISSING)):
                raise _bad(f"corners.{key}", "a positive integer", corners.get(key, _MISSING))
        if not (_number(corners.get("span", _MISSING)) and 0 < corners["span"] <= 1):
            raise _bad("corners.span", "a number in (0, 1]", corners.get("span", _MISSING))
        if "corners" not in m["files"]:
            raise _bad("files.corners", "present (the corner refiner's ONNX)", _MISSING)
