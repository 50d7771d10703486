"""Fetch card images (``images.large`` URLs) with retries and resume of partial downloads."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from urllib.parse import urlparse

import requests
from tqdm import tqdm

log = logging.getLogger(__name__)


def fetch(url: str, dest: Path, retries: int = 4, backoff: float = 0.5, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest``; a ``dest.part`` left by an interrupted run is resumed with Range."""
    if dest.exists():
        return dest
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=timeout) as r:
                if r.status_code == 416:  # already complete
                    part.rename(dest)
                    return dest
                if r.status_code >= 500 or r.status_code == 429:
                    raise requests.HTTPError(f"HTTP {r.status_code}", response=r)
                r.raise_for_status()
                mode = "ab" if have and r.status_code == 206 else "wb"
                with open(part, mode) as f:
                    for chunk in r.iter_content(1 << 16):
                        f.write(chunk)
                total = r.headers.get("Content-Range", "").rpartition("/")[2]
                if not total.isdigit():
                    total = r.headers.get("Content-Length", "") if mode == "wb" else ""
                if total.isdigit() and part.stat().st_size < int(total):
                    raise requests.ConnectionError(f"short read: {part.stat().st_size} of {total} bytes")
            part.rename(dest)
            return dest
        except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status is not None and 400 <= status < 500 and status != 429 or attempt == retries:
                raise RuntimeError(f"download of {url} failed after {attempt + 1} attempts: {e}") from None
            log.warning("retry %d for %s: %s", attempt + 1, url, e)
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


def download_set(cards: list[dict], images_dir: Path) -> dict:
    """Fetch every card's ``images.large`` as ``<images_dir>/<id><ext>``; failures are counted, not fatal."""
    ok, failed = 0, []
    for card in tqdm(cards, desc="download", mininterval=2):
        url = (card.get("images") or {}).get("large")
        if not url or not card.get("id"):
            failed.append({"id": card.get("id"), "reason": "no images.large URL"})
            continue
        ext = Path(urlparse(url).path).suffix or ".png"
        try:
            fetch(url, images_dir / f"{card['id']}{ext}")
            ok += 1
        except RuntimeError as e:
            failed.append({"id": card["id"], "reason": str(e)})
    return {"downloaded": ok, "failed": failed}
