"""Find personal data in a sample of model outputs or logs — and report where, never what.

Built-in detectors: e-mail addresses, phone numbers, payment card numbers (13–19 digits that pass
the Luhn check, so order ids and timestamps rarely count); plus the policy's own patterns (national
ids, customer numbers). The result holds counts and locations (column, row positions) only: a
matched value never leaves this module, so neither logs, XCom nor the evidence trail can leak it.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy import PiiPattern

EMAIL = r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
PHONE = (
    # North American style with separators, optional country code: +1 (555) 010-0199, 555-010-0199
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)"
    # International with a leading +: +44 20 7946 0958, +4915112345678
    r"|(?<![\w+])\+\d{1,3}(?:[ .-]?\d{2,5}){2,5}(?!\w)"
)
CARD_CANDIDATE = r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)"

BUILTIN_PATTERNS: dict[str, str] = {"email": EMAIL, "phone": PHONE, "card_number": CARD_CANDIDATE}


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(candidate: str) -> bool:
    digits = re.sub(r"[ -]", "", candidate)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


@dataclass
class PiiHit:
    """Matches of one pattern in one column: how many, and in which rows (positions, 0-based)."""

    pattern: str
    column: str
    count: int = 0
    rows: list[int] = field(default_factory=list)
    rows_with_match: int = 0

    def to_dict(self, max_rows: int) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "column": self.column,
            "count": self.count,
            "rows_with_match": self.rows_with_match,
            "rows": self.rows[:max_rows],
            "rows_truncated": len(self.rows) > max_rows,
        }


@dataclass
class PiiScan:
    rows_total: int
    rows_scanned: int
    columns_scanned: list[str]
    patterns: list[str]
    hits: list[PiiHit]
    max_rows_listed: int = 20

    @property
    def sampled(self) -> bool:
        return self.rows_scanned < self.rows_total

    @property
    def total_matches(self) -> int:
        return sum(h.count for h in self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_total": self.rows_total,
            "rows_scanned": self.rows_scanned,
            "sampled": self.sampled,
            "columns_scanned": self.columns_scanned,
            "patterns": self.patterns,
            "matches": self.total_matches,
            "hits": [h.to_dict(self.max_rows_listed) for h in self.hits],
        }


def _compile(patterns: Sequence[PiiPattern] | Mapping[str, str]) -> dict[str, re.Pattern[str]]:
    compiled = {name: re.compile(regex) for name, regex in BUILTIN_PATTERNS.items()}
    extra = patterns.items() if isinstance(patterns, Mapping) else ((p.name, p.regex) for p in patterns)
    for name, regex in extra:
        compiled[name] = re.compile(regex)
    return compiled


def _text_columns(frame: pd.DataFrame) -> list[str]:
    """Every column that could hold text or a long digit run, whatever its storage: object, strings
    (NumPy, Python or Arrow backed), categoricals of those, integers, and any dtype not known to be
    text-free. Skipped only: booleans, floats, complex numbers, dates, durations, periods, intervals —
    and categoricals of those. An unknown dtype is scanned (as text), never skipped."""
    return [column for column in frame.columns if _can_hold_text(frame[column].dtype)]


def _can_hold_text(dtype: Any) -> bool:
    import pandas as pd

    types = pd.api.types
    if isinstance(dtype, pd.CategoricalDtype):
        return _can_hold_text(dtype.categories.dtype)
    text_free = (
        types.is_bool_dtype(dtype)
        or types.is_float_dtype(dtype)
        or types.is_complex_dtype(dtype)
        or types.is_datetime64_any_dtype(dtype)
        or types.is_timedelta64_dtype(dtype)
        or isinstance(dtype, pd.PeriodDtype | pd.IntervalDtype)
    )
    return not text_free


def sample_positions(total: int, limit: int, *, seed: int = 0) -> list[int]:
    """All row positions, or a seeded random sample of ``limit`` of them, in file order."""
    if total <= limit:
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), limit))


def scan_pii(
    frame: pd.DataFrame,
    patterns: Sequence[PiiPattern] | Mapping[str, str] = (),
    *,
    sample_rows: int = 10_000,
    seed: int = 0,
    max_rows_listed: int = 20,
) -> PiiScan:
    """Count built-in and policy PII patterns per text column over a seeded sample of rows."""
    import pandas as pd

    compiled = _compile(patterns)
    positions = sample_positions(len(frame), sample_rows, seed=seed)
    columns = _text_columns(frame)
    hits: list[PiiHit] = []
    for column in columns:
        values = (
            frame[column].iloc[positions].tolist() if len(positions) < len(frame) else frame[column].tolist()
        )
        column_hits = {name: PiiHit(pattern=name, column=str(column)) for name in compiled}
        for position, value in zip(positions, values, strict=True):
            # pd.NA is the missing value of nullable and Arrow-backed columns (str() would give "<NA>")
            if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                continue
            text = str(value)
            for name, regex in compiled.items():
                found = _count(name, regex.finditer(text))
                if found:
                    hit = column_hits[name]
                    hit.count += found
                    hit.rows_with_match += 1
                    if len(hit.rows) <= max_rows_listed:
                        hit.rows.append(position)
        hits += [h for h in column_hits.values() if h.count]
    return PiiScan(
        rows_total=len(frame),
        rows_scanned=len(positions),
        columns_scanned=[str(c) for c in columns],
        patterns=list(compiled),
        hits=hits,
        max_rows_listed=max_rows_listed,
    )


def _count(name: str, matches: Iterable[re.Match[str]]) -> int:
    if name == "card_number":
        return sum(1 for m in matches if _is_card(m.group(0)))
    return sum(1 for _ in matches)
