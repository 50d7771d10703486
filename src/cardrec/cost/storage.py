"""Storage inventory (live S3 bucket, paginated, or local artifacts) grouped by project prefix and class, priced."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

GB = 1024 ** 3  # S3 bills GB-months of 2^30 bytes
ARCHIVE = ("GLACIER", "DEEP_ARCHIVE")  # classes with per-object archive overhead


@dataclass(frozen=True)
class Obj:
    """One stored object: key relative to the project prefix, bytes, storage class, age in days."""

    key: str
    size: int
    storage_class: str = "STANDARD"
    age_days: float = 0.0


def list_inventory(client, bucket: str, prefix: str, now: datetime | None = None) -> list[Obj]:
    """Every object under ``prefix`` via ListObjectsV2 (all pages), with storage class and age."""
    now = now or datetime.now(timezone.utc)
    base = prefix.rstrip("/") + "/"
    out: list[Obj] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        for o in page.get("Contents", []):
            age = (now - o["LastModified"]).total_seconds() / 86400 if o.get("LastModified") else 0.0
            out.append(Obj(o["Key"][len(base):], int(o["Size"]), o.get("StorageClass") or "STANDARD", max(0.0, age)))
    return out


def local_inventory(root: str | Path, prefix: str = "dvc/", exclude: tuple[str, ...] = ("cost",)) -> list[Obj]:
    """Local artifacts as ``dvc push`` would store them: one STANDARD object per file under ``prefix``.

    Top-level directories in ``exclude`` (the report's own outputs) are skipped."""
    root = Path(root)
    return [Obj(f"{prefix}{p.relative_to(root).as_posix()}", p.stat().st_size)
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] not in exclude]


def group_of(key: str, groups: list[str]) -> str:
    """The longest configured group prefix of ``key`` ("other" when none matches)."""
    best = max((g for g in groups if key.startswith(g)), key=len, default=None)
    return best or "other"


def billed_gb(size: int, storage_class: str, s3: dict) -> dict[str, float]:
    """GB billed per class for one object: archived objects add 32 KB at the archive price + 8 KB at Standard."""
    if storage_class in ARCHIVE:
        oh = s3["archive_overhead_kb"]
        return {storage_class: (size + oh["archive"] * 1024) / GB, "STANDARD": oh["standard"] * 1024 / GB}
    return {storage_class: size / GB}


def month_usd(gb_by_class: dict[str, float], s3: dict) -> float:
    """Storage $ for one month of the given GB per class."""
    return sum(gb * s3["storage_gb_month"][c] for c, gb in gb_by_class.items())


def storage_table(objs: list[Obj], groups: list[str], s3: dict) -> list[dict]:
    """Rows (group, class, objects, bytes, GB, $/month incl. archive overhead), sorted by group and class."""
    acc: dict[tuple[str, str], list] = {}
    for o in objs:
        row = acc.setdefault((group_of(o.key, groups), o.storage_class), [0, 0, 0.0])
        row[0] += 1
        row[1] += o.size
        row[2] += month_usd(billed_gb(o.size, o.storage_class, s3), s3)
    return [{"group": g, "storage_class": c, "objects": n, "bytes": b, "gb": round(b / GB, 6), "usd_month": round(u, 9)}
            for (g, c), (n, b, u) in sorted(acc.items())]


def one_off_fees(rows: list[dict], s3: dict) -> dict:
    """One-off fees of the inventory: uploading every object (PUT), and restoring every archived object once
    (retrieval $/GB + restore requests per 1,000), per storage class."""
    put = sum(r["objects"] for r in rows) * s3["requests_per_1000"]["put"] / 1000
    restore: dict[str, float] = {}
    for r in rows:
        c = r["storage_class"]
        if c in s3.get("retrieval_gb", {}):
            fee = r["gb"] * s3["retrieval_gb"][c] + r["objects"] * s3.get("restore_per_1000", {}).get(c, 0.0) / 1000
            restore[c] = round(restore.get(c, 0.0) + fee, 6)
    return {"upload_usd": round(put, 6), "restore_all_usd": restore}
