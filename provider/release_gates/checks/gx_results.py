"""What a lineage finding may say about a Great Expectations result: statistics, never cells.

GX reports an expectation's observed value and the errors of its metrics as it computed them; a
minimum, a most common value or a parser error can be a cell of the user's data. Findings reach
evidence, logs and the UI, so only counts, shares and type names pass through here.
"""

from __future__ import annotations

import math
from typing import Any

# Expectations whose observed value is a cell of the data (a minimum, a quantile, the most common or
# the distinct values). Findings reach evidence, logs and the UI, which must never hold user data.
_OBSERVES_A_CELL = ("_min_", "_max_", "median", "quantile", "most_common", "distinct_values")
_OBSERVES_A_TYPE = frozenset(
    {"expect_column_values_to_be_of_type", "expect_column_values_to_be_in_type_list"}
)


def observed_value(stats: dict[str, Any], rule_name: str | None, kind: str = "") -> Any:
    """The observed value a finding records: a statistic, a share or a type name, never a cell."""
    if "observed_value" in stats:
        return _observed_value(kind, stats["observed_value"])
    percent = json_safe(stats.get("unexpected_percent"))
    if rule_name == "label_share_min" and percent is not None:
        return {"positive_share": round(1 - percent / 100, 6)}
    if rule_name == "label_share_max" and percent is not None:
        return {"positive_share": round(percent / 100, 6)}
    if percent is not None:
        return {"unexpected_percent": round(percent, 4)}
    return None


def _observed_value(kind: str, value: Any) -> Any:
    """What a finding may say about GX's observed value: a statistic or a type name, never a cell."""
    safe = json_safe(value)
    if kind in _OBSERVES_A_TYPE or safe is None:
        return safe
    if any(marker in kind for marker in _OBSERVES_A_CELL):
        return {"withheld": "a data value"}
    if isinstance(safe, int | float) and not isinstance(safe, bool):
        return safe
    if isinstance(safe, list):
        return {"values": len(safe)}
    return {"withheld": "not a count or a statistic"}


def exception_message(info: Any) -> str | None:
    """GX puts one exception record per failed metric under ``exception_info`` (or a flat record)."""
    if not isinstance(info, dict) or not info:
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message")) if info.get("raised_exception") else None
    messages = [
        str(v.get("exception_message"))
        for v in info.values()
        if isinstance(v, dict) and v.get("raised_exception", True)
    ]
    return "; ".join(dict.fromkeys(messages)) if messages else None


def json_safe(value: Any) -> Any:
    """JSON-safe copy of a GX value: non-finite floats become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    item = getattr(value, "item", None)
    if callable(item):
        return json_safe(item())
    return str(value)
