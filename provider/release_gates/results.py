"""The one result type every check returns.

A check engine turns inputs + a policy spec into a :class:`CheckResult`. Operators store it in the
evidence trail and push a small summary to XCom; gates route on :attr:`CheckResult.status`.

Status semantics (fail closed):

============  ==========================================  ===================
status        meaning                                     the gate routes to
============  ==========================================  ===================
PASS          measured, within thresholds                 pass
WARN          within thresholds, needs attention          pass (warning kept)
FAIL          measured, outside thresholds                remediation
INCONCLUSIVE  not enough evidence to decide               human review
ERROR         could not run                               blocked, never pass
============  ==========================================  ===================
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = "1.0"
"""Bumped on any change a reader must know about; readers refuse a major version they do not know."""

SCHEMA_PATH = Path(__file__).parent / "schemas" / "check_result.schema.json"


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"

    @property
    def exit_code(self) -> int:
        """CLI exit code: 0 PASS/WARN, 1 FAIL, 3 INCONCLUSIVE, 4 ERROR (2 is reserved for usage errors)."""
        return _EXIT_CODES[self]

    @property
    def is_passing(self) -> bool:
        return self in (Status.PASS, Status.WARN)

    @classmethod
    def worst(cls, statuses: Any) -> Status:
        """The status a set of results adds up to. Nothing measured is not a pass: empty → INCONCLUSIVE."""
        ranked = [cls(s) for s in statuses]
        if not ranked:
            return cls.INCONCLUSIVE
        return max(ranked, key=_STATUS_RANK.__getitem__)


# ERROR outranks FAIL: an errored check means the verdict is unknown, which must block harder than a
# known failure (a FAIL can be remediated or waived; an ERROR has to be re-run).
_STATUS_RANK = {
    Status.PASS: 0,
    Status.WARN: 1,
    Status.INCONCLUSIVE: 2,
    Status.FAIL: 3,
    Status.ERROR: 4,
}
_EXIT_CODES = {
    Status.PASS: 0,
    Status.WARN: 0,
    Status.FAIL: 1,
    Status.INCONCLUSIVE: 3,
    Status.ERROR: 4,
}


class Severity(StrEnum):
    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFO = "INFO"

    @property
    def rank(self) -> int:
        """0 for CRITICAL … 4 for INFO, so ``sorted(key=rank)`` puts the worst first."""
        return list(Severity).index(self)


def _json_safe(value: Any, where: str = "") -> Any:
    """Refuse values that would not survive a JSON round-trip unchanged.

    Engines convert numpy scalars to ``int``/``float`` at their boundary; NaN and infinities have no
    JSON form, so an undefined rate is ``None`` rather than NaN.
    """
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):  # numpy.float64 subclasses float: normalized to a plain float here
        if not math.isfinite(value):
            raise ValueError(f"{where or 'value'}: {value!r} is not JSON-safe; use null for undefined")
        return float(value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"{where or 'value'}: dict key {key!r} must be a string")
        return {k: _json_safe(v, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(
        f"{where or 'value'}: {type(value).__name__} is not JSON-safe; convert it at the engine boundary"
    )


JsonDict = Annotated[dict[str, Any], AfterValidator(_json_safe)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a timezone (use UTC)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class Finding(_Frozen):
    """One thing a check found: a failed criterion, a vulnerability, a drifted column."""

    id: str = Field(min_length=1, description="Stable identifier, e.g. CVE id or criterion name.")
    severity: Severity
    title: str = Field(min_length=1)
    detail: str = ""
    location: str | None = Field(default=None, description="Where: column, group, package@version, file.")
    waived_by: str | None = Field(
        default=None, description="Waiver id when a waiver in force covers this finding; still reported."
    )
    data: JsonDict = Field(default_factory=dict, description="Structured facts (aggregates only).")

    @property
    def waived(self) -> bool:
        return self.waived_by is not None


class Artifact(_Frozen):
    """A file a check produced (full tool report, HTML, SBOM), stored outside XCom and evidence."""

    name: str
    uri: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    media_type: str | None = None
    size_bytes: int | None = Field(default=None, ge=0)


class CheckResult(_Frozen):
    """The verdict of one check, with everything an auditor needs to trust it a year later."""

    schema_version: str = SCHEMA_VERSION
    check_id: str = Field(min_length=1, description="Unique within the policy: '<gate>.<check>'.")
    kind: str = Field(min_length=1, description="Check kind, e.g. fairness, image_scan.")
    status: Status
    summary: str = Field(min_length=1, description="One line a human can act on.")
    metrics: JsonDict = Field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    inputs: JsonDict = Field(
        default_factory=dict, description="Fingerprints: dataset sha256/rows, image digest, policy hash."
    )
    artifacts: tuple[Artifact, ...] = ()
    engine: dict[str, str] = Field(default_factory=dict, description="Library name → version used.")
    started_at: AwareDatetime
    finished_at: AwareDatetime

    @field_validator("summary")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value:
            raise ValueError("summary must be one line; put details in findings")
        return value

    @field_validator("schema_version")
    @classmethod
    def _known_major(cls, value: str) -> str:
        if value.split(".", maxsplit=1)[0] != SCHEMA_VERSION.split(".", maxsplit=1)[0]:
            raise ValueError(
                f"unsupported CheckResult schema_version {value!r} (this reader: {SCHEMA_VERSION})"
            )
        return value

    @model_validator(mode="after")
    def _ordered_times(self) -> Self:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        return self

    # -- convenience -------------------------------------------------------------------------------

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def active_findings(self) -> list[Finding]:
        """Findings not covered by a waiver, worst first."""
        return sorted((f for f in self.findings if not f.waived), key=lambda f: f.severity.rank)

    def counts_by_severity(self, *, include_waived: bool = False) -> dict[str, int]:
        counts = {s.value: 0 for s in Severity}
        for finding in self.findings:
            if include_waived or not finding.waived:
                counts[finding.severity.value] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self, *, indent: int | None = None) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> CheckResult:
        return cls.model_validate_json(text)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        return cls.model_validate(data)

    def summary_for_xcom(self) -> dict[str, Any]:
        """What an operator returns: small, JSON-safe, no raw data. The full result is in evidence."""
        return {
            "check_id": self.check_id,
            "kind": self.kind,
            "status": self.status.value,
            "summary": self.summary,
            "findings_by_severity": self.counts_by_severity(),
            "artifacts": [{"name": a.name, "uri": a.uri, "sha256": a.sha256} for a in self.artifacts],
        }

    @classmethod
    def error(
        cls, *, check_id: str, kind: str, message: str, started_at: datetime | None = None, **extra: Any
    ) -> CheckResult:
        """A result for a check that could not run. The message says what and where, on one line."""
        now = utcnow()
        return cls(
            check_id=check_id,
            kind=kind,
            status=Status.ERROR,
            summary=" ".join(message.split()),
            started_at=started_at or now,
            finished_at=now,
            **extra,
        )


def json_schema() -> dict[str, Any]:
    """The published JSON Schema of :class:`CheckResult` (``schemas/check_result.schema.json``)."""
    schema = CheckResult.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"urn:release-gates:check-result:{SCHEMA_VERSION}"
    return schema


def write_json_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
