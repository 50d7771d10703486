"""Whole frames through the shipped edge runtime: what a user of ``cardrec-edge identify`` gets.

The runtime is run exactly as the CLI runs it (``cardrec_edge.cli.main(["identify", "--json", ...])``) on a
copy of the edge bundle whose reference leaves out the cards held out as unknown (``evaluate.unknown_fraction``,
as the crop-level evaluation does): same model, threshold, retry, index settings and every other manifest
setting. Predictions are matched to the true cards by centre overlap; each true card gets one outcome.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import cv2
import numpy as np
from cardrec_edge.bundle import MANIFEST

from cardrec.deploy.bundle import write_bundle
from cardrec.deploy.index import build_reference_index, save_projection
from cardrec.evaluation.summary import LABELS

PER_CARD = ("embeddings", "cards", "thumbnails")  # rows or entries per card: the held-out ones are dropped
REBUILT = ("index", "projection")  # built again from the kept embeddings, with the manifest's index settings
VERBATIM = ("model", "hef", "orientation", "segmenter", "segmenter_hef", "corners")  # the same for any gallery
STANDARD_KEYS = ("format_version", "model_variant", "hw_arch", "threshold", "score", "preprocess", "files",
                 "versions")


# --- the bundle without the unknown cards -------------------------------------------------------------------

def subset_bundle(src: Path, out: Path, drop: set[str]) -> dict:
    """Write a bundle like ``src`` whose gallery lacks the cards in ``drop``; returns its manifest."""
    m = json.loads((src / MANIFEST).read_text())
    files = {role: src / e["path"] for role, e in m["files"].items()}
    unknown_roles = sorted(set(files) - set(PER_CARD) - set(REBUILT) - set(VERBATIM))
    if unknown_roles:
        raise ValueError(f"bundle files {unknown_roles} are not known to cardrec.evaluation.frames.subset_bundle: if "
                         "they hold per-card data, drop the held-out cards from them there too")
    cards = json.loads(files["cards"].read_text())
    keep = [i for i, c in enumerate(cards) if c["id"] not in drop]
    stage = out.parent / f"{out.name}.staging"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    emb = np.load(files["embeddings"])[keep]
    new = {"embeddings": stage / "embeddings.npy", "cards": stage / "cards.json",
           "index": stage / "gallery.usearch", "projection": stage / "projection.npz"}
    np.save(new["embeddings"], emb)
    new["cards"].write_text(json.dumps([cards[i] for i in keep], ensure_ascii=False))
    index, projection = build_reference_index(emb, m["index"])
    index.save(str(new["index"]))
    save_projection(projection, emb.shape[1], new["projection"])
    if "thumbnails" in files:
        new["thumbnails"] = stage / "thumbnails.zip"
        kept = {f"{cards[i]['id']}.jpg" for i in keep}
        with zipfile.ZipFile(files["thumbnails"]) as zin, zipfile.ZipFile(new["thumbnails"], "w") as zout:
            for entry in zin.infolist():  # each entry's own date and mode, not the time of this copy: the same
                if entry.filename in kept:  # bundle gives the same held-out bytes and bundle_id at every rebuild
                    zout.writestr(entry, zin.read(entry))
    for role in VERBATIM:
        if role in files:
            new[role] = files[role]
    extra = {k: v for k, v in m.items() if k not in STANDARD_KEYS}
    extra["held_out"] = {"source": str(src), "cards_dropped": len(cards) - len(keep)}
    manifest = write_bundle(out, {r: str(p) for r, p in new.items()}, m["preprocess"], m["threshold"],
                            m["model_variant"], m["hw_arch"], extra)
    shutil.rmtree(stage)
    return manifest


# --- running the runtime ------------------------------------------------------------------------------------

def identify_frames(bundle: Path, frames_dir: Path, threads: int, options: list[str] = ()) -> dict[str, dict]:
    """``cardrec-edge identify --json`` on every frame (in process), with more CLI ``options``; file name -> the CLI's
    JSON line."""
    from cardrec_edge.cli import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["identify", "--bundle", str(bundle), "--json", "--threads", str(threads), *options,
                   str(frames_dir)])
    lines = [json.loads(x) for x in buf.getvalue().splitlines() if x.startswith("{")]
    if rc != 0:
        bad = [x["file"] for x in lines if "error" in x]
        raise RuntimeError(f"cardrec-edge identify failed (exit {rc}) on {bad[:5] or frames_dir}")
    return {Path(x["file"]).name: x for x in lines}


# --- matching and scoring -----------------------------------------------------------------------------------

def _polygon(q) -> np.ndarray:
    return np.asarray(q, np.float32).reshape(-1, 2)


def _visible(quad, size: tuple[int, int]) -> np.ndarray:
    """The part of a quad inside a (height, width) frame."""
    h, w = size
    frame = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    area, inter = cv2.intersectConvexConvex(_polygon(quad), frame)
    return inter.reshape(-1, 2) if area > 0 and inter is not None else _polygon(quad)


def _centre(poly: np.ndarray) -> tuple[float, float]:
    m = cv2.moments(poly)
    return (m["m10"] / m["m00"], m["m01"] / m["m00"]) if m["m00"] else tuple(poly.mean(0))


def _inside(point, poly: np.ndarray) -> bool:
    return cv2.pointPolygonTest(poly, (float(point[0]), float(point[1])), False) >= 0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - inter
    return float(inter / union) if union > 0 else 0.0


def match(truth: list[dict], preds: list[dict], size: tuple[int, int]) -> list[int | None]:
    """For each true card, the index of the prediction matched to it (or None).

    A pair qualifies when each one's centre lies inside the other (the true card's visible part); pairs are
    taken greedily by intersection over union, one prediction per card.
    """
    vis = [_visible(t["corners"], size) for t in truth]
    quads = [_polygon(p["corners"]) for p in preds]
    pairs = []
    for i, v in enumerate(vis):
        for j, q in enumerate(quads):
            if _inside(_centre(q), v) and _inside(_centre(v), q):
                pairs.append((_iou(v, q), i, j))
    out: list[int | None] = [None] * len(truth)
    used: set[int] = set()
    for _, i, j in sorted(pairs, reverse=True):
        if out[i] is None and j not in used:
            out[i], used = j, used | {j}
    return out


def corner_errors(pred, truth) -> tuple[float, float]:
    """Largest corner distance over the card's diagonal with the corner order as given and turned by 180° (the
    smaller one says which way up ``pred`` lies)."""
    p, t = _polygon(pred), _polygon(truth)
    diag = (np.linalg.norm(t[2] - t[0]) + np.linalg.norm(t[3] - t[1])) / 2
    upright, turned = (float(np.linalg.norm(np.roll(p, s, axis=0) - t, axis=1).max() / diag) for s in (0, 2))
    return upright, turned


def corner_error(pred, truth) -> float:
    """Largest corner distance over the card's diagonal, with the corner order turned by 0 or 180° (the
    detector cannot tell upright from upside down)."""
    return min(corner_errors(pred, truth))


def card_outcomes(labels: dict, predictions: dict[str, dict], max_corner_error: float) -> list[dict]:
    """One row per true card: category, kind (known / unknown / partial), detected, outcome; plus one row per
    identification that matches no card (``kind: "spurious"``)."""
    size = tuple(labels["size"])
    rows = []
    for fr in labels["frames"]:
        preds = predictions.get(fr["file"], {}).get("cards", [])
        matched = match(fr["cards"], preds, size)
        for t, j in zip(fr["cards"], matched):
            p = preds[j] if j is not None else None
            kind = "partial" if not t["fully_visible"] else "unknown" if t["expected"] == "unknown" else "known"
            if p is None:
                outcome = "missed"
            elif p["status"] == "identified":
                outcome = ("correct" if p["card_id"] == t["expected"] else "wrong") if kind != "unknown" \
                    else "identified"
            else:
                outcome = p["status"]
            err = corner_error(p["corners"], t["corners"]) if p is not None else None
            rows.append({"file": fr["file"], "category": fr["category"], "kind": kind, "card_id": t["card_id"],
                         "detected": err is not None and err <= max_corner_error,
                         "corner_error": None if err is None else round(err, 4), "outcome": outcome,
                         "predicted": p and p.get("card_id"), "score": p and p.get("score")})
        for j, p in enumerate(preds):
            if j not in matched and p["status"] == "identified":
                rows.append({"file": fr["file"], "category": fr["category"], "kind": "spurious",
                             "card_id": None, "detected": False, "corner_error": None, "outcome": "identified",
                             "predicted": p["card_id"], "score": p.get("score")})
    return rows


def _rate(rows: list[dict], pred) -> float | None:
    return round(sum(map(pred, rows)) / len(rows), 4) if rows else None


def summarize_rows(rows: list[dict]) -> dict:
    """The figures of a group of card rows (see ``card_outcomes``)."""
    known = [r for r in rows if r["kind"] == "known"]
    unknown = [r for r in rows if r["kind"] == "unknown"]
    partial = [r for r in rows if r["kind"] == "partial"]
    visible = known + unknown
    detected_known = [r for r in known if r["detected"]]
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(r["kind"], {}).setdefault(r["outcome"], 0)
        counts[r["kind"]][r["outcome"]] += 1
    return {
        "frames": len({r["file"] for r in rows}), "cards_known": len(known), "cards_unknown": len(unknown),
        "cards_partial": len(partial),
        "detection": _rate(visible, lambda r: r["detected"]),
        "top1": _rate(known, lambda r: r["outcome"] == "correct"),
        "top1_detected": _rate(detected_known, lambda r: r["outcome"] == "correct"),
        "wrong": _rate(known, lambda r: r["outcome"] == "wrong"),
        "false_reject": _rate(known, lambda r: r["outcome"] == "unknown"),
        "abstain": _rate(known, lambda r: r["outcome"] not in ("correct", "wrong", "unknown")),
        "unknown_reject": _rate(unknown, lambda r: r["outcome"] != "identified"),
        "partial_identified": _rate(partial, lambda r: r["outcome"] in ("correct", "wrong")),
        "spurious": sum(r["kind"] == "spurious" for r in rows),
        "outcomes": counts,
    }


def score(labels: dict, predictions: dict[str, dict], max_corner_error: float) -> dict:
    """Overall and per-category figures of one split."""
    rows = card_outcomes(labels, predictions, max_corner_error)
    cats = list(dict.fromkeys(fr["category"] for fr in labels["frames"]))
    return {"split": labels["split"], "max_corner_error": max_corner_error,
            "overall": summarize_rows(rows),
            "categories": {c: summarize_rows([r for r in rows if r["category"] == c]) for c in cats},
            "cards": rows}


COLUMNS = (("detection", "detection"), ("top1", "top-1 known"), ("false_reject", "false reject"),
           ("wrong", "wrong id"), ("abstain", "abstain"), ("unknown_reject", "unknown rejected"),
           ("partial_identified", "partial identified"), ("spurious", "spurious ids"))


def markdown(report: dict) -> str:
    """The split's figures as a Markdown table, one row per category and one overall."""
    head = "| category | frames | known | unknown | partial | " + " | ".join(t for _, t in COLUMNS) + " |"
    lines = [head, "|---" + "|---:" * (4 + len(COLUMNS)) + "|"]
    for name, g in [*report["categories"].items(), ("**overall**", report["overall"])]:
        cells = [g["frames"], g["cards_known"], g["cards_unknown"], g["cards_partial"]]
        cells += ["-" if g[k] is None else g[k] if k == "spurious" else f"{g[k]:.3f}" for k, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines) + "\n"


def evaluate_split(bundle: Path, frames_dir: Path, max_corner_error: float, threads: int) -> dict:
    labels = json.loads((frames_dir / "labels.json").read_text())
    model = json.loads((bundle / MANIFEST).read_text())["model_variant"]
    return {"model": model, **score(labels, identify_frames(bundle, frames_dir, threads), max_corner_error)}


BASELINE_COLUMNS = (("top1", "top-1 known"), ("unknown_reject", "unknown rejected"), ("wrong", "wrong id"),
                    ("false_reject", "false reject"), ("abstain", "abstain"))


def comparison(shipped: dict, baseline: dict) -> str:
    """Overall figures of the shipped bundle and of the pHash+dHash baseline on the same frames (Markdown)."""
    lines = ["| model | " + " | ".join(t for _, t in BASELINE_COLUMNS) + " |", "|---" + "|---:" * len(BASELINE_COLUMNS)
             + "|"]
    for name, r in ((baseline.get("model", "pHash+dHash"), baseline),
                    (f"{LABELS.get(shipped.get('model'), 'edge bundle')} (shipped)", shipped)):
        o = r["overall"]
        lines.append(f"| {name} | " + " | ".join("-" if o[k] is None else f"{o[k]:.3f}" for k, _ in BASELINE_COLUMNS)
                     + " |")
    return "\n".join(lines) + "\n"


def write_summary(crops_md: Path, frame_reports: list[Path], out: Path, baselines: list[Path] = ()) -> None:
    """``summary.md``: the crop-level table, then each split's whole-frame table, each followed by the overall
    comparison with the pHash+dHash baseline of the same split when ``baselines`` has it."""
    base = {r["split"]: r for r in (json.loads(f.read_text()) for f in baselines)}
    parts = ["## Held-out query crops (every model)\n", crops_md.read_text()]
    for f in frame_reports:
        r = json.loads(f.read_text())
        parts += [f"\n## Whole frames through the edge runtime ({r['split']} frames, corners within "
                  f"{r['max_corner_error']:.0%} of the diagonal count as detected)\n", markdown(r)]
        if r["split"] in base:
            parts += [f"Overall against pHash+dHash on the same {r['split']} frames (the runtime's detection and "
                      "rectification, the crop baseline's threshold, no verification):\n",
                      comparison(r, base[r["split"]])]
    out.write_text("\n".join(parts))
