"""S3 lifecycle rules and Intelligent-Tiering for the project prefix, from the ``aws:`` config section.

Rules are owned by ID: ``apply`` replaces the rules whose IDs the config names and keeps every other rule of the
bucket. A rule that would archive the DVC remote (``project/<name>/dvc/``) to a class that needs a restore is
refused unless forced: DVC cannot read GLACIER / DEEP_ARCHIVE objects.
"""
from __future__ import annotations

from dataclasses import dataclass

from cardrec.aws.common import ARCHIVED, error_code
from cardrec.errors import ToolError

DEFAULT_RULES = [
    {"id": "ArchiveOldTrainingOutputs", "prefix": "models/embedding/", "transition_days": 90,
     "storage_class": "GLACIER"},
    {"id": "ArchiveOldProfilingData", "prefix": "profiling/", "transition_days": 180, "storage_class": "GLACIER"},
    {"id": "DeleteIncompleteMultipartUploads", "prefix": "", "abort_multipart_days": 7},
]
ARCHIVE_TIERS = ARCHIVED | {"ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"}


def s3_rule(spec: dict, prefix: str) -> dict:
    """One config rule as an S3 lifecycle rule; its prefix is relative to ``prefix`` (project/<name>)."""
    rule: dict = {"ID": spec["id"], "Filter": {"Prefix": f"{prefix}/{spec.get('prefix', '')}"}, "Status": "Enabled"}
    if spec.get("transition_days") is not None:
        rule["Transitions"] = [{"Days": int(spec["transition_days"]), "StorageClass": spec["storage_class"]}]
    if spec.get("expiration_days"):
        rule["Expiration"] = {"Days": int(spec["expiration_days"])}
    if spec.get("abort_multipart_days"):
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(spec["abort_multipart_days"])}
    if len(rule) == 3:
        raise ToolError(f"lifecycle rule {spec['id']}: no action (transition_days, expiration_days or "
                            "abort_multipart_days)")
    return rule


def desired_rules(cfg: dict, prefix: str) -> list[dict]:
    specs = ((cfg.get("aws") or {}).get("lifecycle")) or DEFAULT_RULES
    ids = [s["id"] for s in specs]
    if len(set(ids)) != len(ids):
        raise ToolError(f"aws.lifecycle: duplicate rule IDs in {ids}")
    return [s3_rule(s, prefix) for s in specs]


def normalize(rule: dict) -> dict:
    """The parts of a rule that matter, in one shape (servers add defaults or use the legacy top-level Prefix)."""
    flt = rule.get("Filter") or {}
    out = {"ID": rule.get("ID"), "Status": rule.get("Status"),
           "Filter": {"Prefix": flt.get("Prefix", rule.get("Prefix", ""))} if "And" not in flt and "Tag" not in flt
           else flt}
    for key in ("Transitions", "Expiration", "AbortIncompleteMultipartUpload", "NoncurrentVersionTransitions",
                "NoncurrentVersionExpiration"):
        if rule.get(key):
            val = rule[key]
            keep = ("Days", "Date", "StorageClass", "NoncurrentDays")
            out[key] = ([{k: v for k, v in t.items() if k in keep} for t in val] if isinstance(val, list)
                        else {k: v for k, v in val.items() if v not in (None, False)})
    return out


def rule_prefix(rule: dict) -> str:
    flt = rule.get("Filter") or {}
    return flt.get("Prefix", (flt.get("And") or {}).get("Prefix", rule.get("Prefix", ""))) or ""


def dvc_conflicts(rules: list[dict], prefix: str) -> list[str]:
    """IDs of rules that would move objects of the DVC remote to a class DVC cannot read without a restore."""
    dvc = f"{prefix}/dvc/"
    bad = []
    for r in rules:
        p = rule_prefix(r)
        overlaps = dvc.startswith(p) or p.startswith(dvc)
        if overlaps and any(t.get("StorageClass") in ARCHIVED for t in r.get("Transitions") or []):
            bad.append(r["ID"])
    return bad


def current_rules(s3, bucket: str) -> list[dict]:
    from botocore.exceptions import ClientError

    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as e:
        if error_code(e) == "NoSuchLifecycleConfiguration":
            return []
        raise


@dataclass
class Plan:
    current: list[dict]
    merged: list[dict]
    added: list[str]
    changed: list[str]
    unchanged: list[str]

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed)


def plan(current: list[dict], desired: list[dict]) -> Plan:
    """Merge the desired (owned) rules into the bucket's rules, keeping foreign ones in place."""
    want = {r["ID"]: r for r in desired}
    merged, added, changed, unchanged, seen = [], [], [], [], set()
    for r in current:
        rid = r.get("ID")
        if rid in want:
            seen.add(rid)
            (unchanged if normalize(r) == normalize(want[rid]) else changed).append(rid)
            merged.append(want[rid])
        else:
            merged.append(r)
    for rid, r in want.items():
        if rid not in seen:
            added.append(rid)
            merged.append(r)
    return Plan(current, merged, added, changed, unchanged)


def diff_lines(p: Plan) -> list[str]:
    cur = {r.get("ID"): normalize(r) for r in p.current}
    lines = []
    for r in p.merged:
        rid = r.get("ID")
        if rid in p.added:
            lines.append(f"+ {rid}: {describe(r)}")
        elif rid in p.changed:
            lines.append(f"~ {rid}: {describe(cur[rid])}  ->  {describe(r)}")
    return lines


def describe(rule: dict) -> str:
    parts = [f"prefix '{rule_prefix(rule)}'"]
    parts += [f"-> {t['StorageClass']} after {t.get('Days')} d" for t in rule.get("Transitions") or []]
    if rule.get("Expiration"):
        parts.append(f"expire after {rule['Expiration'].get('Days')} d")
    if rule.get("AbortIncompleteMultipartUpload"):
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        parts.append(f"abort incomplete uploads after {days} d")
    return ", ".join(parts) + ("" if rule.get("Status", "Enabled") == "Enabled" else " (disabled)")


def apply(s3, bucket: str, p: Plan) -> bool:
    """Write the merged configuration if anything changes; True when written."""
    if p.empty:
        return False
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": p.merged})
    return True


def tiering_request(cfg: dict, bucket: str, prefix: str) -> dict:
    """Keyword arguments of ``put_bucket_intelligent_tiering_configuration`` (pure; moto does not emulate it).

    Only objects stored in the INTELLIGENT_TIERING class are affected; the archive tiers then need a restore
    before a GET, like GLACIER.
    """
    t = (cfg.get("aws") or {}).get("tiering") or {}
    tid = t.get("id", "cardrec-auto-tier")
    archive, deep = int(t.get("archive_days", 90)), int(t.get("deep_archive_days", 180))
    if not 90 <= archive <= 730 or not 180 <= deep <= 730 or deep <= archive:
        raise ToolError(f"aws.tiering: archive_days must be 90..730 and deep_archive_days 180..730 and larger "
                        f"(got {archive}, {deep})")
    conf = {"Id": tid, "Filter": {"Prefix": f"{prefix}/{t.get('prefix', '')}"}, "Status": "Enabled",
            "Tierings": [{"Days": archive, "AccessTier": "ARCHIVE_ACCESS"},
                         {"Days": deep, "AccessTier": "DEEP_ARCHIVE_ACCESS"}]}
    return {"Bucket": bucket, "Id": tid, "IntelligentTieringConfiguration": conf}


def tiering_covers_dvc(request: dict, prefix: str) -> bool:
    p = request["IntelligentTieringConfiguration"]["Filter"]["Prefix"]
    dvc = f"{prefix}/dvc/"
    return dvc.startswith(p) or p.startswith(dvc)


def current_tiering(s3, bucket: str, tid: str) -> dict:
    """The bucket's Intelligent-Tiering configuration ``tid`` ({} if absent; moto answers {} always)."""
    from botocore.exceptions import ClientError

    try:
        return s3.get_bucket_intelligent_tiering_configuration(Bucket=bucket, Id=tid).get(
            "IntelligentTieringConfiguration") or {}
    except ClientError as e:
        if error_code(e) in ("NoSuchConfiguration", "404"):
            return {}
        raise


def same_tiering(current: dict, request: dict) -> bool:
    want = request["IntelligentTieringConfiguration"]

    def key(c: dict) -> tuple:
        return (c.get("Status"), (c.get("Filter") or {}).get("Prefix"),
                sorted((t["AccessTier"], t["Days"]) for t in c.get("Tierings") or []))

    return bool(current) and key(current) == key(want)
