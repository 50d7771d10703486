"""Month-by-month lifecycle projection of a storage inventory: transitions, fees, overheads, minimum durations."""
from __future__ import annotations

import math

from cardrec.cost.storage import ARCHIVE, Obj, billed_gb, month_usd

MONTH_DAYS = 365 / 12
TRANSITION_FROM = ("STANDARD", "STANDARD_IA")  # lifecycle transitions considered (to IA, Glacier IR, Glacier, Deep)


def _months_until(days: float, age: float) -> int:
    """Month index (0 = now) in which an object of ``age`` days reaches ``days``."""
    return max(0, math.ceil((days - age) / MONTH_DAYS))


def schedule(o: Obj, rules: list[dict], s3: dict) -> tuple[str | None, int | None, int | None, str]:
    """(target class, transition month, expiry month, reason) for one object under the longest matching rule."""
    rule = max((r for r in rules if o.key.startswith(r["prefix"])), key=lambda r: len(r["prefix"]), default=None)
    if rule is None:
        return None, None, None, "no rule"
    exp = _months_until(rule["expire_days"], o.age_days) if rule.get("expire_days") is not None else None
    if not rule.get("storage_class") or o.storage_class not in TRANSITION_FROM:
        return None, None, exp, rule["id"]
    if o.size < s3["transition_min_kb"] * 1024:
        return None, None, exp, f"{rule['id']}: under {s3['transition_min_kb']} KB, not transitioned"
    return rule["storage_class"], _months_until(rule["days"], o.age_days), exp, rule["id"]


def rules_from_lifecycle(aws_rules: list[dict]) -> list[dict]:
    """The bucket's rules as `cardrec aws lifecycle` applies them (config ``aws.lifecycle``), in projection form."""
    return [{"id": r["id"], "prefix": r.get("prefix", ""), "days": r.get("transition_days"),
             "storage_class": r.get("storage_class"), "expire_days": r.get("expiration_days")}
            for r in aws_rules if r.get("transition_days") is not None or r.get("expiration_days")]


def project(objs: list[Obj], rules: list[dict], s3: dict, months: int = 60) -> dict:
    """Project storage cost month by month.

    Each month bills the class an object is in at the month's start (a transition in month m bills the new
    class from m on, plus the transition request fee in m). Archived objects add their per-object overhead;
    an object expired before the archive class's minimum duration is billed the remaining days at once.
    """
    cohorts: dict[tuple, list[int]] = {}
    reasons: dict[str, list[int]] = {}
    for o in objs:
        target, mt, me, why = schedule(o, rules, s3)
        c = cohorts.setdefault((o.storage_class, target, mt, me), [0, 0, 0.0])
        c[0] += 1
        c[1] += o.size
        c[2] += o.age_days
        r = reasons.setdefault(why, [0, 0])
        r[0] += 1
        r[1] += o.size
    rows = []
    for m in range(months):
        gb: dict[str, float] = {}
        fees = early = 0.0
        for (cls, target, mt, me), (n, size, ages) in cohorts.items():
            moved = bool(target) and mt is not None and m >= mt
            now_cls, avg = (target if moved else cls), size / n
            if me is not None and m == me and now_cls in s3["min_storage_days"]:  # deleted now: bill the rest
                since = (me - mt) * MONTH_DAYS if moved else ages / n + me * MONTH_DAYS
                short = max(0.0, s3["min_storage_days"][now_cls] - since) / MONTH_DAYS
                early += short * month_usd({k: v * n for k, v in billed_gb(avg, now_cls, s3).items()}, s3)
            if me is not None and m >= me:
                continue
            for c, g in billed_gb(avg, now_cls, s3).items():
                gb[c] = gb.get(c, 0.0) + g * n
            if target and mt == m:
                fees += n * s3["transition_per_1000"][target] / 1000
        storage = month_usd(gb, s3)
        rows.append({"month": m + 1, "gb_by_class": {k: round(v, 6) for k, v in sorted(gb.items())},
                     "storage_usd": round(storage, 6), "transition_usd": round(fees, 6),
                     "early_delete_usd": round(early, 6), "total_usd": round(storage + fees + early, 6)})
    cum = 0.0
    for r in rows:
        cum += r["total_usd"]
        r["cumulative_usd"] = round(cum, 6)
    transitions = [{"from": cls, "to": t, "month": mt + 1, "objects": n, "gb": round(size / 1024 ** 3, 6),
                    "fee_usd": round(n * s3["transition_per_1000"][t] / 1000, 6)}
                   for (cls, t, mt, _), (n, size, _a) in sorted(cohorts.items(), key=str) if t and mt is not None
                   and mt < months]
    return {"months": rows, "transitions": transitions,
            "by_rule": {k: {"objects": n, "bytes": b} for k, (n, b) in sorted(reasons.items())},
            "archive_classes": list(ARCHIVE)}
