"""HTML of the server: the scanner page (upload, live camera, collection) and a server-rendered scan result.

The page, its script and its style sheet are package data (``static/index.html``, ``app.js``, ``style.css``);
system fonts, no CDN. The scan view is rendered here, needs no JS (for headless screenshots) and uses the same
card markup as the page's script.
"""
from __future__ import annotations

import json
from functools import cache
from html import escape
from importlib.resources import files

from ..collection import CONDITIONS, PRINTINGS

STATIC_TYPES = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


@cache
def static_file(name: str) -> bytes:
    """A file of ``static/`` (read once)."""
    return (files(__package__) / "static" / name).read_bytes()


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _card_title(card: dict) -> str:
    if card["status"] == "identified":
        return card.get("name") or card.get("card_id") or "?"
    return "Unknown card" if card["status"] == "unknown" else "Low quality"


def card_html(i: int, card: dict, threshold: float) -> str:
    """One detected card: crop, match, candidates (the same markup as ``renderCard`` in the page's script)."""
    best = card["candidates"][0] if card.get("candidates") else None
    status = card["status"]
    parts = [f'<article class="card-result status-{escape(status)}">']
    if card.get("crop"):
        parts.append(f'<img class="crop" src="{escape(card["crop"])}" alt="rectified crop of card {i + 1}">')
    if card.get("ref_image"):
        parts.append(f'<img class="crop ref" src="{escape(card["ref_image"])}" alt="reference image of the match">')
    parts.append('<div class="info"><div class="title-row">'
                 f'<span class="num">#{i + 1}</span><h3>{escape(_card_title(card))}</h3>'
                 f'<span class="badge {escape(status)}">{escape(status.replace("_", " "))}</span></div>')
    if best and status == "identified":
        sub = [best.get("set"), f"No. {best['number']}" if best.get("number") else None, best.get("rarity")]
        parts.append(f'<p class="sub">{" · ".join(escape(str(x)) for x in sub if x)}</p>')
    elif best:
        parts.append(f'<p class="sub">closest: {escape(best.get("name") or "?")} ({escape(best["card_id"])})</p>')
    if card.get("score") is not None:
        pct = max(0.0, min(1.0, card["score"])) * 100
        parts.append(f'<div class="score-row"><span class="small">score</span>'
                     f'<span class="score-value">{_fmt(card["score"])}</span>'
                     f'<div class="bar"><span style="width:{pct:.1f}%"></span>'
                     f'<i style="left:{threshold * 100:.1f}%"></i></div>'
                     f'<span class="small">threshold {_fmt(threshold)}</span></div>')
    q = card.get("quality") or {}
    extra = [f"blur {q.get('blur', 0):.0f}", f"glare {100 * q.get('glare', 0):.1f}%"]
    if card.get("rotated"):
        extra.append("matched upside down")
    if q.get("reasons"):
        extra.append("; ".join(map(str, q["reasons"])))
    parts.append(f'<p class="small">{escape(" · ".join(extra))}</p>')
    others = card.get("candidates", [])[1:4] if status == "identified" else card.get("candidates", [])[:3]
    if others:
        parts.append('<ol class="candidates">' + "".join(
            f'<li>{escape(c.get("name") or "?")} <span>({escape(c["card_id"])}, {_fmt(c.get("score"))})</span></li>'
            for c in others) + "</ol>")
    parts.append("</div></article>")
    return "".join(parts)


def _frame_svg(scan: dict) -> str:
    w, h = scan["frame_size"]
    polys = []
    for i, card in enumerate(scan["cards"]):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in card["corners"])
        x0, y0 = card["corners"][0]
        polys.append(f'<polygon class="halo" points="{pts}"/><polygon class="quad {escape(card["status"])}" '
                     f'points="{pts}"/>'
                     f'<text class="quad-label" x="{x0 + 8:.1f}" y="{y0 + 8:.1f}" dominant-baseline="hanging" '
                     f'font-size="{max(14, w / 30):.0f}">{i + 1}</text>')
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="frame with detected cards">'
            f'<image href="{escape(scan["frame"])}" x="0" y="0" width="{w}" height="{h}"/>{"".join(polys)}</svg>')


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f'<link rel="stylesheet" href="/static/style.css"></head><body>{body}</body></html>')


def scan_html(scan: dict) -> str:
    """A stored scan as a static page: the frame with its quadrilaterals, then each crop and its match."""
    n = len(scan["cards"])
    cards = "".join(card_html(i, c, scan["threshold"]) for i, c in enumerate(scan["cards"]))
    timing = ", ".join(f"{k} {v:.0f} ms" for k, v in scan["timings_ms"].items())
    body = (f'<header class="top"><div class="brand"><a href="/"><span class="logo"></span>Card scanner</a></div>'
            f'<div class="meta">scan {escape(scan["scan_id"])} · {escape(scan["created"])}</div></header><main>'
            f'<section class="panel"><div class="panel-head"><h2>{n} card{"s" if n != 1 else ""} found</h2>'
            f'<a class="button" href="/">New scan</a></div><div class="result-grid">'
            f'<figure class="frame"><div class="frame-box">{_frame_svg(scan)}</div>'
            f'<figcaption>{scan["frame_size"][0]}×{scan["frame_size"][1]} px · {escape(timing)}</figcaption></figure>'
            f'<div class="cards">{cards or "<p class=empty>No card found in this picture.</p>"}</div>'
            f"</div></section></main>")
    return _page(f"Scan {scan['scan_id']} – card scanner", body)


def index_html() -> str:
    """The scanner page, with the collection's choice lists for its script."""
    choices = json.dumps({"conditions": CONDITIONS, "printings": PRINTINGS}).replace("<", "\\u003c")
    return static_file("index.html").decode().replace("__CHOICES_JSON__", choices)
