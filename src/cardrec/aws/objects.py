"""Object-level storage operations: restore archived objects under a key/prefix, and compress profiling folders.

``compress_profiling`` turns every dated folder ``<prefix>/profiling/<stage>/<YYYY-MM-DD>/`` into one
``<prefix>/profiling/<stage>/<YYYY-MM-DD>.tar.gz`` (sha256 in its metadata) and deletes the originals only after
the uploaded archive was downloaded again and checked: its sha256, its size, and every original inside it with
the same bytes. A rerun after an interruption reuses a verified archive and replaces an unverified one.
"""
from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field

from cardrec.aws.common import ARCHIVED, error_code, list_keys, request_restore, restore_state
from cardrec.errors import ToolError
from cardrec.config import PREFIX_ROOT

DATED = re.compile(r"^(?P<stage>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/(?P<name>.+)$")


def resolve(prefix: str, key: str) -> str:
    """A KEY|PREFIX argument relative to project/<name>/ (or already starting with project/)."""
    key = key.lstrip("/")
    return key if key.startswith(f"{PREFIX_ROOT}/") else f"{prefix}/{key}"


def objects(s3, bucket: str, key: str) -> list[str]:
    """The object at ``key`` if it exists, else every object under it as a prefix."""
    from botocore.exceptions import ClientError

    if not key.endswith("/"):
        try:
            s3.head_object(Bucket=bucket, Key=key)
            return [key]
        except ClientError as e:
            if error_code(e) not in ("404", "NoSuchKey", "NotFound"):
                raise
    keys = [o["Key"] for o in list_keys(s3, bucket, key)]
    if not keys:
        raise ToolError(f"nothing at s3://{bucket}/{key}")
    return keys


def restore_status(s3, bucket: str, keys: list[str]) -> dict[str, str]:
    """key -> readable | restored | in-progress | archived (with the class and expiry where known)."""
    out = {}
    for key in keys:
        head = s3.head_object(Bucket=bucket, Key=key)
        state = restore_state(head)
        if state != "readable":
            state += f" ({head.get('StorageClass')})"
            m = re.search(r'expiry-date="([^"]+)"', head.get("Restore", ""))
            if m:
                state += f", readable until {m.group(1)}"
        out[key] = state
    return out


def restore(s3, bucket: str, keys: list[str], days: int, tier: str, dry_run: bool = False) -> dict[str, str]:
    """Issue restores for the archived objects among ``keys``; key -> what happened."""
    out = {}
    for key in keys:
        state = restore_state(s3.head_object(Bucket=bucket, Key=key))
        if state == "archived":
            state = "would request" if dry_run else request_restore(s3, bucket, key, days, tier)
        out[key] = state
    return out


def tally(states: dict[str, str]) -> str:
    counts = Counter(s.split(" (")[0] for s in states.values())
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


@dataclass
class Folder:
    stage: str
    date: str
    keys: list[dict] = field(default_factory=list)  # list_objects_v2 entries

    def archive_key(self, profiling: str) -> str:
        return f"{profiling}/{self.stage}/{self.date}.tar.gz"

    def folder(self, profiling: str) -> str:
        return f"{profiling}/{self.stage}/{self.date}/"


def dated_folders(s3, bucket: str, prefix: str) -> tuple[list[Folder], set[str]]:
    """Dated profiling folders with their objects, and the archive keys that exist already."""
    profiling = f"{prefix}/profiling"
    folders: dict[tuple[str, str], Folder] = {}
    archives = set()
    for o in list_keys(s3, bucket, profiling + "/"):
        rel = o["Key"][len(profiling) + 1:]
        m = DATED.match(rel)
        if m:
            folders.setdefault((m["stage"], m["date"]), Folder(m["stage"], m["date"])).keys.append(o)
        elif re.fullmatch(r"[^/]+/\d{4}-\d{2}-\d{2}\.tar\.gz", rel):
            archives.add(o["Key"])
    return sorted(folders.values(), key=lambda f: (f.stage, f.date)), archives


def build_archive(members: dict[str, bytes]) -> bytes:
    """A deterministic tar.gz (sorted names, fixed mtimes) of name -> bytes."""
    buf = io.BytesIO()
    import gzip

    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(members[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(members[name]))
    return buf.getvalue()


def verify(s3, bucket: str, key: str, members: dict[str, bytes]) -> str | None:
    """None if the stored archive holds exactly ``members`` and matches its sha256 metadata and size; else why not."""
    from botocore.exceptions import ClientError

    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        return f"cannot read it ({error_code(e)})"
    data = obj["Body"].read()
    if obj.get("ContentLength") != len(data):
        return f"size {len(data)} != ContentLength {obj.get('ContentLength')}"
    want = (obj.get("Metadata") or {}).get("sha256")
    if want != hashlib.sha256(data).hexdigest():
        return "sha256 differs from its metadata"
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            inside = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as e:
        return f"not a readable tar.gz ({e})"
    missing = [n for n, b in members.items() if inside.get(n) != b]
    return f"{len(missing)} originals missing or different inside" if missing else None


def upload(s3, bucket: str, key: str, data: bytes) -> None:
    """Put the archive with its sha256 in the metadata (a separate function so tests can inject failures)."""
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/gzip",
                  Metadata={"sha256": hashlib.sha256(data).hexdigest()})


def delete(s3, bucket: str, keys: list[str]) -> None:
    for i in range(0, len(keys), 1000):
        res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                       "Quiet": True})
        if res.get("Errors"):
            raise ToolError(f"delete failed for {len(res['Errors'])} objects, e.g. {res['Errors'][0]}")


def compress_profiling(s3, bucket: str, prefix: str, act: bool = False, log=print,
                       min_age_days: int = 2) -> dict[str, int]:
    """Compress each dated profiling folder at least ``min_age_days`` old (a run may still write to a younger
    one); dry run unless ``act``; counts of folders by outcome."""
    import datetime as dt

    from botocore.exceptions import BotoCoreError, ClientError

    profiling = f"{prefix}/profiling"
    folders, archives = dated_folders(s3, bucket, prefix)
    newest = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=min_age_days)).isoformat()
    young = [f for f in folders if f.date > newest]
    for f in young:
        log(f"skip {f.folder(profiling)}: younger than {min_age_days} days (--min-age-days)")
    counts: Counter = Counter({"too recent": len(young)} if young else {})
    folders = [f for f in folders if f not in young]
    if not folders and not young:
        log(f"no dated profiling folders under s3://{bucket}/{profiling}/")
    for f in folders:
        akey, size = f.archive_key(profiling), sum(o["Size"] for o in f.keys)
        where = f"{f.folder(profiling)} ({len(f.keys)} objects, {size} bytes)"
        archived = [o["Key"] for o in f.keys if o.get("StorageClass") in ARCHIVED]
        if archived:
            log(f"skip {where}: {len(archived)} objects archived; `cardrec aws restore {f.folder(profiling)}` first")
            counts["skipped"] += 1
            continue
        if not act:
            log(f"would compress {where} -> {akey}" + (" (an archive exists: verified first)" if akey in archives
                                                       else ""))
            counts["planned"] += 1
            continue
        members = {o["Key"][len(f.folder(profiling)):]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                   for o in f.keys}
        why = verify(s3, bucket, akey, members) if akey in archives else "absent"
        if why is None:
            log(f"{akey}: already uploaded and verified (resuming)")
        else:
            if akey in archives:
                log(f"{akey}: replacing an unverified archive ({why})")
            data = build_archive(members)
            try:
                upload(s3, bucket, akey, data)
            except (OSError, BotoCoreError, ClientError) as e:  # connection reset, timeout, refused
                raise ToolError(f"upload of {akey} failed ({e}); originals kept") from None
            why = verify(s3, bucket, akey, members)
            if why is not None:
                raise ToolError(f"{akey} failed verification ({why}); originals kept")
            log(f"{akey}: uploaded {len(data)} bytes ({size} before), verified")
        delete(s3, bucket, [o["Key"] for o in f.keys])
        log(f"deleted {len(f.keys)} originals under {f.folder(profiling)}")
        counts["compressed"] += 1
    return dict(counts)
