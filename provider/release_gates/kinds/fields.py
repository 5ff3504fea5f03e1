"""Field types and the base model shared by the release policy and every check spec.

A leaf of the policy language: the check-kind specs (``release_gates.kinds``) and the policy sections
(``release_gates.policy``) both build on it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from release_gates.results import Severity

DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``30m``, ``24h``, ``3d``, ``2w`` (or a number of seconds) → timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30m, 24h or 3d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = DURATION_PATTERN.match(str(value))
        if not match:
            raise ValueError(f"must be a duration like 30m, 24h or 3d, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return timedelta(seconds=seconds)


def duration_input(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("P"):
        return value  # ISO 8601, as a dumped policy writes durations: pydantic parses it
    return parse_duration(value)


#: What editors are told a duration looks like (the policy's JSON Schema): ``30m``, ``24h``, ``3d``,
#: ``2w``, a number of seconds, or ISO 8601 (``P1D``, as a dumped policy writes it).
DURATION_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhdw]\s*$"},
        {"type": "string", "pattern": "^P"},
        {"type": "number", "exclusiveMinimum": 0},
    ],
    "description": "A duration: 30m, 24h, 3d, 2w (or seconds).",
}

Duration = Annotated[timedelta, BeforeValidator(duration_input), WithJsonSchema(DURATION_JSON_SCHEMA)]


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration` for whole units: 1 day → ``1d``, 90 minutes → ``90m``."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def _fraction(value: float) -> float:
    if not 0 <= value <= 1:
        raise ValueError("must be between 0 and 1")
    return value


def _open_unit(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError("must be strictly between 0 and 1")
    return value


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def severity_input(value: Any) -> Any:
    # Policies are written by people: accept "high" as well as "HIGH" (stored upper-case).
    return value.strip().upper() if isinstance(value, str) else value


def any_case_pattern(*words: str) -> str:
    """A JSON Schema pattern matching ``words`` in any case (its regexes have no case-insensitive flag)."""
    return "^(" + "|".join("".join(f"[{c.upper()}{c.lower()}]" for c in word) for word in words) + ")$"


#: Severities in any case, for editors (the policy's JSON Schema); the model stores upper case.
SEVERITY_JSON_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": any_case_pattern(*(s.value for s in Severity)),
    "examples": [s.value for s in Severity],
}


def _identifier(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise ValueError("must be lower_snake_case (letters, digits, underscores; starts with a letter)")
    return value


Fraction = Annotated[float, AfterValidator(_fraction)]
OpenUnit = Annotated[float, AfterValidator(_open_unit)]
PositiveFloat = Annotated[float, AfterValidator(_positive)]
SeverityField = Annotated[Severity, BeforeValidator(severity_input), WithJsonSchema(SEVERITY_JSON_SCHEMA)]
Identifier = Annotated[
    str, AfterValidator(_identifier), WithJsonSchema({"type": "string", "pattern": "^[a-z][a-z0-9_]*$"})
]


def is_templated(value: Any) -> bool:
    """True for Jinja-templated strings that only resolve at run time (``{{ params.image }}``)."""
    return isinstance(value, str) and "{{" in value


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CheckSpecBase(PolicyModel):
    """What every check spec has: an id within its gate, a description and a failure severity."""

    id: Identifier | None = Field(default=None, description="Unique within the gate; defaults to kind.")
    description: str = Field(default="", description="What the check is for, shown in reports.")
    severity: SeverityField = Field(default=Severity.HIGH, description="Severity of a failure of this check.")

    @property
    def check_name(self) -> str:
        return self.id or str(getattr(self, "kind"))  # noqa: B009 - kind is declared on subclasses

    def dataset_refs(self) -> list[tuple[str, str]]:
        """(field name, dataset name) pairs this check reads; used for cross-checks and lineage."""
        return []

    def required_columns(self) -> list[str]:
        """Dataset columns (``label``, ``prediction``…) every dataset this check reads must declare."""
        return []
