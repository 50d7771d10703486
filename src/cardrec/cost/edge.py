"""Cloud (SageMaker real-time endpoints) vs edge (Raspberry Pi 5 + Hailo-8L): capacity, monthly cost, break-even."""
from __future__ import annotations

import math


def capacity_per_hour(ms_per_image: float) -> float:
    """Requests one unit serves per hour, one request at a time."""
    return 3_600_000.0 / ms_per_image


def units_needed(demand_per_hour: float, ms_per_image: float) -> int:
    """Units (instances or devices) that cover the demand; at least one."""
    return max(1, math.ceil(demand_per_hour / capacity_per_hour(ms_per_image)))


def cumulative(upfront: float, monthly: float, months: int) -> list[float]:
    """Cumulative cost at the end of months 1..months."""
    return [round(upfront + monthly * m, 4) for m in range(1, months + 1)]


def endpoint_option(name: str, hour_usd: float, ms: float, demand: float, hours_per_month: float,
                    months: int) -> dict:
    """An always-on real-time endpoint with enough instances for ``demand`` requests per hour."""
    n = units_needed(demand, ms)
    monthly = n * hour_usd * hours_per_month
    return {"name": name, "kind": "cloud", "units": n, "capacity_per_hour": round(n * capacity_per_hour(ms)),
            "upfront_usd": 0.0, "monthly_usd": round(monthly, 4), "year1_usd": round(12 * monthly, 4),
            "cumulative_usd": cumulative(0.0, monthly, months)}


def edge_option(hardware_usd: float, watts: float, usd_per_kwh: float, ms: float, demand: float,
                hours_per_month: float, months: int, name: str = "Raspberry Pi 5 + Hailo-8L") -> dict:
    """Devices bought up front (hardware sum), then electricity for ``watts`` around the clock."""
    n = units_needed(demand, ms)
    upfront = n * hardware_usd
    monthly = n * watts / 1000 * hours_per_month * usd_per_kwh
    return {"name": name, "kind": "edge", "units": n, "capacity_per_hour": round(n * capacity_per_hour(ms)),
            "upfront_usd": round(upfront, 4), "monthly_usd": round(monthly, 4),
            "year1_usd": round(upfront + 12 * monthly, 4), "cumulative_usd": cumulative(upfront, monthly, months)}


def break_even_month(cloud: dict, edge: dict) -> int | None:
    """First month (1-based) after which the edge option's cumulative cost is at most the cloud's."""
    for m, (c, e) in enumerate(zip(cloud["cumulative_usd"], edge["cumulative_usd"]), start=1):
        if e <= c:
            return m
    return None


def compare(cfg: dict, prices: dict) -> dict:
    """Every configured endpoint against the edge device at the configured demand."""
    months, hpm, demand = cfg["months"], cfg["hours_per_month"], cfg["demand_per_hour"]
    ep_prices = prices["endpoints"]["instances"]
    edge_cfg = cfg["edge"]
    hw = prices["hardware"]["items"]
    edge = edge_option(sum(hw[h] for h in edge_cfg["hardware"]), edge_cfg["watts"],
                       prices["electricity"]["usd_per_kwh"], edge_cfg["ms_per_image"], demand, hpm, months)
    edge["hardware"] = {h: hw[h] for h in edge_cfg["hardware"]}
    clouds = [endpoint_option(name, ep_prices[name]["on_demand_hour"], spec["ms_per_image"], demand, hpm, months)
              for name, spec in cfg["endpoints"].items()]
    for c in clouds:
        c["break_even_month"] = break_even_month(c, edge)
        c["five_year_saving_usd"] = round(c["cumulative_usd"][-1] - edge["cumulative_usd"][-1], 4)
    return {"demand_per_hour": demand, "hours_per_month": hpm, "months": months, "edge": edge, "cloud": clouds,
            "read_on": {k: prices[k]["read_on"] for k in ("endpoints", "hardware", "electricity")}}
