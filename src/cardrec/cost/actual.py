"""Actual monthly spend per AWS service from Cost Explorer (``get_cost_and_usage``), beside the report's estimate."""
from __future__ import annotations

import re
from datetime import date

from cardrec.errors import UsageError

# Cost Explorer's SERVICE names for what the report estimates.
SERVICES = {"sagemaker": "Amazon SageMaker", "s3": "Amazon Simple Storage Service"}


def month_period(month: str) -> dict[str, str]:
    """``YYYY-MM`` -> Cost Explorer TimePeriod (End is exclusive: the first day of the next month)."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise UsageError(f"--month must be YYYY-MM, got {month!r}")
    y, m = map(int, month.split("-"))
    end = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
    return {"Start": date(y, m, 1).isoformat(), "End": end.isoformat()}


def request(month: str, metric: str = "UnblendedCost") -> dict:
    """The ``get_cost_and_usage`` arguments: one month, grouped by service."""
    return {"TimePeriod": month_period(month), "Granularity": "MONTHLY", "Metrics": [metric],
            "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]}


def per_service(response: dict, metric: str = "UnblendedCost") -> dict[str, float]:
    """Service -> USD summed over the response's periods (pages merged by the caller)."""
    out: dict[str, float] = {}
    for period in response.get("ResultsByTime", []):
        for g in period.get("Groups", []):
            out[g["Keys"][0]] = out.get(g["Keys"][0], 0.0) + float(g["Metrics"][metric]["Amount"])
    return out


def actual(client, month: str, metric: str = "UnblendedCost") -> dict[str, float]:
    """Actual spend per service for ``month`` (follows NextPageToken)."""
    args, total = request(month, metric), {}
    while True:
        resp = client.get_cost_and_usage(**args)
        for k, v in per_service(resp, metric).items():
            total[k] = total.get(k, 0.0) + v
        if not resp.get("NextPageToken"):
            return total
        args["NextPageToken"] = resp["NextPageToken"]


def beside_estimate(spend: dict[str, float], report: dict | None) -> list[dict]:
    """Rows (service, actual, estimate): the estimate is the report's SageMaker jobs and first-month storage."""
    est = {}
    if report:
        est[SERVICES["sagemaker"]] = report.get("jobs_total_usd")
        months = report.get("lifecycle", {}).get("months") or []
        est[SERVICES["s3"]] = months[0]["total_usd"] if months else None
    names = sorted(set(spend) | set(est))
    return [{"service": s, "actual_usd": round(spend.get(s, 0.0), 4), "estimate_usd": est.get(s)} for s in names]
