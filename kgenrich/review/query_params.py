"""The queue's filters as the pages and the API pass them (query parameters and forms)."""

from __future__ import annotations

import math
from typing import Any

from .collection import BadFilter


def _share(params, name: str, pct_name: str, default: str):
    """A confidence bound: ``min``/``max`` as a fraction (the API), ``min_pct``/``max_pct`` in
    percent (the page, which shows percentages)."""
    pct = params.get(pct_name)
    if pct not in (None, ""):
        try:
            value = float(str(pct).strip().rstrip("%").strip())
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 100.0:
            raise BadFilter(f"confidence {'from' if pct_name.startswith('min') else 'to'} must be a percentage "
                            f"from 0 to 100, not {pct!r}")
        return value / 100.0
    return params.get(name, default) or default


def filters_of(params) -> dict[str, Any]:
    return {
        "task": params.get("task", "") or "",
        "museum": params.get("museum", "") or "",
        "value": params.get("value", "") or "",
        "min_confidence": _share(params, "min", "min_pct", "0"),
        "max_confidence": _share(params, "max", "max_pct", "1"),
    }


def decided_filters(params) -> dict[str, Any]:
    return {k: params.get(k, "") or "" for k in ("reviewer", "since", "until", "decision")}


def whole_number(params, name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadFilter(f"{name} must be a whole number from {low:,} to {high:,}, not {raw!r}")
    return value


def queue_query(filters: dict, params, status: str, order: str, decided: dict) -> dict:
    """The filter part of a queue URL (what paging, bulk acceptance and redirects carry along)."""
    query = {"task": filters["task"], "museum": filters["museum"], "value": filters["value"],
             "min_pct": params.get("min_pct", ""), "max_pct": params.get("max_pct", ""),
             "min": params.get("min", "") if not params.get("min_pct") else "",
             "max": params.get("max", "") if not params.get("max_pct") else "",
             "status": status if status != "pending" else "", "order": order, **decided}
    return {k: v for k, v in query.items() if v}


def queue_args(params, status: str) -> dict:
    args = dict(filters_of(params), status=status, order=params.get("order", "") or "",
                after=params.get("after", "") or "", before=params.get("before", "") or "",
                **decided_filters(params))
    return args
