"""The release policy: which gates a model release must pass, who owns them, and what happens on failure.

Loaded from YAML at DAG parse time, so loading is cheap (no network, no file besides the policy) and
strict: every problem is reported at once, one line each, naming file, line and field path::

    include/release_policy.yaml:42 gates[1].checks[0].criteria[0].ratio_min: must be between 0 and 1

Structure (see ``include/release_policy.yaml`` for a complete, commented example)::

    policy_version: 1
    release:          model name, risk tier
    owners:           role → Airflow users + contact
    remediation_sla:  severity → time to fix
    datasets:         name → uri, sha256 pin, owner, description, legal basis, columns
    gates:            id, owner role, rationale, mitigations, estimate, checks (typed per kind)
    waivers:          accepted findings: id, owner role, statement, expiry
    approvals:        sign-off name → roles, timeout
    monitoring:       production windows, inference log, tolerances, priorities, escalation, rollback
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from release_gates._yaml import LocatedYaml, Path_, YamlSyntaxError, format_path, load_located
from release_gates.exceptions import ReleaseGatesError
from release_gates.results import Severity

POLICY_VERSION = 1

# --------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------


class PolicyProblem:
    """One problem in a policy file: where it is and what is wrong."""

    __slots__ = ("line", "message", "path", "source")

    def __init__(self, source: str, line: int | None, path: Path_, message: str) -> None:
        self.source = source
        self.line = line
        self.path = path
        self.message = message

    @property
    def field(self) -> str:
        return format_path(self.path)

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where} {self.field}: {self.message}"

    def __repr__(self) -> str:
        return f"PolicyProblem({self!s})"


class PolicyError(ReleaseGatesError, ValueError):
    """The policy file is invalid. ``problems`` lists every problem found, in file order."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.field))
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in release policy"
        super().__init__(header + ":\n" + "\n".join(f"  {p}" for p in self.problems))


# --------------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
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
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"must be a duration like 30m, 24h or 3d, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError("must be a positive duration")
    return timedelta(seconds=seconds)


def _duration_input(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("P"):
        return value  # ISO 8601, as a dumped policy writes durations: pydantic parses it
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration_input)]


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


def _severity(value: Any) -> Any:
    # Policies are written by people: accept "high" as well as "HIGH".
    return value.upper() if isinstance(value, str) else value


def _identifier(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise ValueError("must be lower_snake_case (letters, digits, underscores; starts with a letter)")
    return value


Fraction = Annotated[float, AfterValidator(_fraction)]
OpenUnit = Annotated[float, AfterValidator(_open_unit)]
PositiveFloat = Annotated[float, AfterValidator(_positive)]
SeverityField = Annotated[Severity, BeforeValidator(_severity)]
Identifier = Annotated[str, AfterValidator(_identifier)]


def is_templated(value: Any) -> bool:
    """True for Jinja-templated strings that only resolve at run time (``{{ params.image }}``)."""
    return isinstance(value, str) and "{{" in value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------------------------------
# Top-level sections
# --------------------------------------------------------------------------------------------------


class Release(_Model):
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Model name, as registered.")
    risk_tier: Literal["low", "medium", "high", "critical"] = "high"
    description: str = ""


class OwnerRole(_Model):
    users: list[str] = Field(default_factory=list, description="Airflow user names who act for this role.")
    email: str | None = None
    slack_channel: str | None = None
    description: str = ""

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class RemediationSla(_Model):
    critical: Duration = timedelta(hours=24)
    high: Duration = timedelta(days=3)
    medium: Duration = timedelta(days=10)
    low: Duration = timedelta(days=30)
    info: Duration = timedelta(days=90)

    def for_severity(self, severity: Severity) -> timedelta:
        value: timedelta = getattr(self, severity.value.lower())
        return value


class Dataset(_Model):
    uri: str = Field(min_length=1, description="Local path, s3://…, or sql://<conn_id>/<table>.")
    sha256: str | None = Field(default=None, description="Pinned content fingerprint.")
    format: Literal["parquet", "csv", "sql"] | None = None
    owner: str | None = Field(default=None, description="Team or person accountable for the data.")
    description: str | None = None
    legal_basis: str | None = None
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    label_values: list[int | str] | None = Field(
        default=None,
        description="The two label values, negative first; the last is the positive (favourable) class.",
    )

    @field_validator("label_values")
    @classmethod
    def _binary(cls, value: list[int | str] | None) -> list[int | str] | None:
        if value is not None and (len(value) != 2 or value[0] == value[1]):
            raise ValueError("must list exactly two different values, negative first, positive last")
        return value

    @property
    def positive_label(self) -> int | str:
        """The positive class of label and prediction: last of ``label_values``, else 1."""
        return self.label_values[-1] if self.label_values else 1

    @property
    def negative_label(self) -> int | str:
        return self.label_values[0] if self.label_values else 0

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str | None) -> str | None:
        if value is not None and not is_templated(value) and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lower-case hex characters (a sha256 digest)")
        return value

    @property
    def documented(self) -> bool:
        return bool(self.owner and self.description and self.legal_basis)


class Waiver(_Model):
    """An accepted finding. Never open-ended: owner and expiry are required."""

    id: str = Field(min_length=1, description="Finding id it covers, e.g. CVE-2025-0001.")
    owner: str = Field(min_length=1, description="Owner role accountable for the accepted risk.")
    statement: str = Field(min_length=1, description="Why the risk is accepted.")
    expires: date
    paths: list[str] = Field(default_factory=list)
    purls: list[str] = Field(default_factory=list)
    gates: list[str] = Field(default_factory=list, description="Restrict to these gates (default: all).")

    def is_active(self, today: date) -> bool:
        return today <= self.expires


class Approval(_Model):
    roles: list[str] = Field(min_length=1)
    timeout: Duration = timedelta(hours=24)
    description: str = ""


# --------------------------------------------------------------------------------------------------
# Check specs, one per kind (discriminated on ``kind``)
# --------------------------------------------------------------------------------------------------


class _CheckBase(_Model):
    id: Identifier | None = Field(default=None, description="Unique within the gate; defaults to kind.")
    description: str = ""
    severity: SeverityField = Field(default=Severity.HIGH, description="Severity of a failure of this check.")

    @property
    def check_name(self) -> str:
        return self.id or str(getattr(self, "kind"))  # noqa: B009 - kind is declared on subclasses

    def dataset_refs(self) -> list[tuple[str, str]]:
        """(field name, dataset name) pairs this check reads; used for cross-checks and lineage."""
        return []


FairnessMetric = Literal["selection_rate", "tpr", "fpr", "fnr", "precision", "error_rate", "base_rate"]


class Criterion(_Model):
    metric: FairnessMetric
    ratio_min: Fraction | None = None
    difference_max: Fraction | None = None
    rationale: str = ""
    severity: SeverityField | None = None

    @model_validator(mode="after")
    def _one_rule(self) -> Criterion:
        rules = [r for r in ("ratio_min", "difference_max") if getattr(self, r) is not None]
        if len(rules) != 1:
            raise ValueError("give exactly one of ratio_min or difference_max")
        if self.ratio_min == 0:
            raise ValueError("ratio_min of 0 accepts anything; use a value above 0")
        return self

    @property
    def rule(self) -> str:
        return "ratio_min" if self.ratio_min is not None else "difference_max"

    @property
    def threshold(self) -> float:
        value = self.ratio_min if self.ratio_min is not None else self.difference_max
        assert value is not None
        return value


class LineageCheck(_CheckBase):
    kind: Literal["lineage"]
    datasets: list[str] = Field(min_length=1)
    suites: dict[str, str] = Field(
        default_factory=dict, description="Dataset name → Great Expectations suite JSON file."
    )
    label_balance: dict[str, Fraction] | None = Field(
        default=None, description="Bounds on the positive-label share: {min: 0.05, max: 0.5}."
    )

    def dataset_refs(self) -> list[tuple[str, str]]:
        refs = [("datasets", d) for d in self.datasets]
        refs += [("suites", d) for d in self.suites]
        return refs


class DriftCheck(_CheckBase):
    kind: Literal["drift"]
    reference: str
    current: str
    columns: list[str] | None = None
    method: str = Field(default="auto", description="auto, or an Evidently stattest name.")
    column_methods: dict[str, str] = Field(default_factory=dict)
    num_method: str | None = Field(default=None, description="Stattest for numerical columns (else auto).")
    cat_method: str | None = Field(default=None, description="Stattest for categorical columns (else auto).")
    threshold: PositiveFloat | None = None
    column_thresholds: dict[str, PositiveFloat] = Field(default_factory=dict)
    large_sample_rows: Annotated[int, Field(ge=1)] = Field(
        default=1000,
        description="Above this many reference rows, auto picks distance measures over p-value tests.",
    )
    drift_share: Fraction = 0.5
    prediction_drift: bool = True
    sample_rows: Annotated[int, Field(gt=0)] | None = None
    seed: int = 0

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("reference", self.reference), ("current", self.current)]


class FairnessCheck(_CheckBase):
    kind: Literal["fairness"]
    data: str
    sensitive_features: list[str] = Field(min_length=1)
    intersectional: bool = False
    reference_group: dict[str, str] | None = None
    min_group_size: Annotated[int, Field(ge=1)] = 30
    min_cell_size: Annotated[int, Field(ge=1)] = 10
    confidence: OpenUnit = 0.95
    decision: Literal["interval", "point_estimate"] = "interval"
    criteria: list[Criterion] = Field(min_length=1)

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("data", self.data)]


class StressScenario(_Model):
    name: Identifier
    kind: Literal["baseline", "gaussian_noise", "missing_values", "category_swap"]
    columns: list[str] = Field(default_factory=list)
    relative_std: PositiveFloat | None = None
    rate: Fraction | None = None


class ModelRef(_Model):
    uri: str = Field(min_length=1, description="skops file, or module:callable.")
    sha256: str | None = None
    format: Literal["skops", "callable"] = "skops"
    trusted_types: list[str] = Field(
        default_factory=list, description="Extra types a skops file may contain beyond skops' defaults."
    )


class StressSafetyCheck(_CheckBase):
    kind: Literal["stress_safety"]
    data: str
    model: ModelRef
    sensitive_features: list[str] = Field(min_length=1)
    metric: Literal["error_rate", "fnr", "fpr"] = "error_rate"
    ceiling: Fraction
    scenarios: list[StressScenario] = Field(min_length=1)
    min_group_size: Annotated[int, Field(ge=1)] = 30
    min_cell_size: Annotated[int, Field(ge=1)] = 10
    confidence: OpenUnit = 0.95
    seed: int = 0

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("data", self.data)]


ScanTarget = Literal["image", "tarball", "filesystem", "sbom", "report"]
Scanner = Literal["vuln", "secret", "misconfig", "license"]
_DEFAULT_SCANNERS: tuple[Scanner, ...] = ("vuln", "secret", "misconfig")


class ImageScanCheck(_CheckBase):
    kind: Literal["image_scan"]
    image: str = Field(min_length=1, description="Image ref, tarball, path or report; may be templated.")
    target: ScanTarget = "image"
    scanners: list[Scanner] = Field(default_factory=lambda: list(_DEFAULT_SCANNERS))
    max_findings: dict[Annotated[Severity, BeforeValidator(_severity)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {Severity.CRITICAL: 0}
    )
    misconfig_max: dict[Annotated[Severity, BeforeValidator(_severity)], Annotated[int, Field(ge=0)]] = Field(
        default_factory=lambda: {Severity.CRITICAL: 0, Severity.HIGH: 0}
    )
    fixable_only: bool = False
    license_deny: list[str] = Field(default_factory=list)
    require_digest: bool = True
    unpinned_severity: SeverityField = Severity.MEDIUM
    unknown_severity: SeverityField = Field(
        default=Severity.MEDIUM,
        description="Severity for findings Trivy rates UNKNOWN (not yet scored by any source).",
    )
    sbom: bool = Field(default=True, description="Store a CycloneDX SBOM converted from the scan's report.")
    waivers: list[Waiver] = Field(default_factory=list)
    warn_days: Annotated[int, Field(ge=0)] = 14
    timeout: Duration = timedelta(minutes=10)


class DeploymentTargetSpec(_Model):
    type: Literal["ecs", "lambda", "sagemaker", "s3_pointer"]
    name: str = Field(min_length=1, description="Service/function/endpoint name, or bucket/key.")
    cluster: str | None = None
    alias: str | None = None
    health_url: str | None = None
    aws_conn_id: str = "aws_default"
    region: str | None = None
    health_expected_status: Annotated[int, Field(ge=100, le=599)] = 200
    health_json_field: str | None = Field(
        default=None, description="Dotted path into the probe's JSON body that must hold health_json_value."
    )
    health_json_value: str | int | float | bool | None = Field(
        default=None, description="Expected value at health_json_field (default: any truthy value)."
    )
    health_timeout: Duration = timedelta(seconds=5)
    poll_interval: Duration = Field(
        default=timedelta(seconds=5), description="Pause between platform state polls while waiting."
    )

    @model_validator(mode="after")
    def _addressable(self) -> DeploymentTargetSpec:
        if self.type == "lambda" and not self.alias:
            raise ValueError("a lambda target needs an alias (the version behind it is what rolls back)")
        if self.type == "s3_pointer" and not is_templated(self.name) and "/" not in self.name.strip("/"):
            raise ValueError("an s3_pointer target's name is bucket/key of the pointer object")
        return self


class RollbackDrillCheck(_CheckBase):
    kind: Literal["rollback_drill"]
    target: DeploymentTargetSpec
    previous_version: str | None = None
    rto_budget: Duration = timedelta(minutes=15)
    dry_run: bool = False
    stable_timeout: Duration | None = Field(
        default=None, description="How long to wait for the target to settle (default: rto_budget)."
    )


class OpsReadinessCheck(_CheckBase):
    kind: Literal["ops_readiness"]
    target: DeploymentTargetSpec
    require_alarm_actions: bool = True
    image: str | None = Field(default=None, description="Image the release ships; must be pinned by digest.")
    model_uri: str | None = Field(default=None, description="Model artifact the release ships.")
    model_sha256: str | None = Field(default=None, description="The artifact's pinned sha256.")


class PiiPattern(_Model):
    name: Identifier
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


class PostureCheck(_CheckBase):
    kind: Literal["posture"]
    buckets: list[str] = Field(default_factory=list)
    require_kms: bool = False
    outputs_sample: str | None = Field(default=None, description="Dataset of model outputs/logs to scan.")
    pii_patterns: list[PiiPattern] = Field(default_factory=list)
    outputs_sample_rows: Annotated[int, Field(ge=1)] = Field(
        default=10_000, description="Rows of outputs_sample scanned for PII (a seeded random sample)."
    )
    aws_conn_id: str = "aws_default"
    region: str | None = None

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("outputs_sample", self.outputs_sample)] if self.outputs_sample else []


CheckSpec = Annotated[
    LineageCheck
    | DriftCheck
    | FairnessCheck
    | StressSafetyCheck
    | ImageScanCheck
    | RollbackDrillCheck
    | OpsReadinessCheck
    | PostureCheck,
    Field(discriminator="kind"),
]
CHECK_KINDS: tuple[str, ...] = (
    "lineage",
    "drift",
    "fairness",
    "stress_safety",
    "image_scan",
    "rollback_drill",
    "ops_readiness",
    "posture",
)


class Notifications(_Model):
    """How owners and stakeholders are told. With no connection configured, notices go to the task log."""

    smtp_conn_id: str | None = None
    slack_conn_id: str | None = None
    stakeholders: list[str] = Field(
        default_factory=list, description="Roles that receive the plain-language stakeholder notice."
    )


class Deployment(_Model):
    """Where an approved release is promoted, and how it is smoke-checked (the target's health)."""

    target: DeploymentTargetSpec
    version: str = Field(default="{{ params.model_version }}", description="Version to promote (templated).")
    stable_timeout: Duration = timedelta(minutes=15)


# --------------------------------------------------------------------------------------------------
# Post-deployment monitoring: the same checks on production windows, alerts, escalation, rollback
# --------------------------------------------------------------------------------------------------

Priority = Literal["P1", "P2", "P3", "P4"]
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4")
#: The checks the monitoring DAG runs on every production window.
MONITORED_CHECKS = ("drift", "fairness", "error_rate", "volume", "freshness")
MonitoredCheckName = Literal["drift", "fairness", "error_rate", "volume", "freshness"]
#: Stands for "the owner of the gate whose check breached" in an escalation path.
GATE_OWNER = "gate_owner"

_CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly")


def _schedule(value: str) -> str:
    value = " ".join(value.split())
    if value in _CRON_PRESETS:
        return value
    if _DURATION.match(value):
        parse_duration(value)
        return value
    if len(value.split(" ")) in (5, 6):
        try:
            from croniter import croniter  # type: ignore[import-untyped]
        except ImportError:  # validated again by Airflow when the DAG is built
            return value
        try:
            croniter(value)
        except Exception as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value
    raise ValueError(
        f"must be a cron expression ('0 * * * *'), a preset ({', '.join(_CRON_PRESETS)}) or a duration "
        f"(1h, 1d), got {value!r}"
    )


def _non_negative_duration(value: Any) -> Any:
    if value in (0, "0") or (isinstance(value, timedelta) and not value):
        return timedelta(0)
    return _duration_input(value)


NonNegativeDuration = Annotated[timedelta, BeforeValidator(_non_negative_duration)]


class LogPartition(_Model):
    """A Hive-style partition key of a Parquet inference log (``date=2025-03-01/…``)."""

    column: str = Field(min_length=1)
    format: str = Field(default="%Y-%m-%d", description="strftime pattern of the partition values.")


class InferenceLog(_Model):
    """Where production inferences are logged: one row per scored request."""

    uri: str = Field(
        min_length=1,
        description="A Parquet file or directory (Hive partitions allowed), sql://<conn_id>/<table>, or a "
        "SQLAlchemy URL with ?table=.",
    )
    format: Literal["parquet", "sql"] | None = None
    timestamp: str = Field(default="timestamp", min_length=1, description="When the request was scored.")
    label: str | None = Field(default=None, description="Ground truth; null until the label arrives.")
    prediction: str | None = None
    score: str | None = None
    label_values: list[int | str] | None = Field(
        default=None, description="The two label values, negative first; the last is the favourable one."
    )
    features: list[str] | None = Field(
        default=None, description="Columns tested for data drift (default: those shared with the reference)."
    )
    partition: LogPartition | None = None

    @field_validator("label_values")
    @classmethod
    def _binary(cls, value: list[int | str] | None) -> list[int | str] | None:
        if value is not None and (len(value) != 2 or value[0] == value[1]):
            raise ValueError("must list exactly two different values, negative first, positive last")
        return value

    @property
    def positive_label(self) -> int | str:
        return self.label_values[-1] if self.label_values else 1

    @property
    def negative_label(self) -> int | str:
        return self.label_values[0] if self.label_values else 0


class _MonitoredCheck(_Model):
    enabled: bool | None = Field(
        default=None,
        description="Default: on when the policy has a gate check to inherit from (or settings of its own).",
    )
    gate_check: str | None = Field(
        default=None, description="'<gate>.<check>' whose thresholds this check inherits."
    )
    severity: SeverityField | None = None


class DriftMonitor(_MonitoredCheck):
    """Data and prediction drift of each window against the release's reference dataset."""

    drift_share: Fraction | None = None
    threshold: PositiveFloat | None = None
    column_thresholds: dict[str, PositiveFloat] | None = None
    columns: list[str] | None = None
    prediction_drift: bool | None = None
    sample_rows: Annotated[int, Field(gt=0)] | None = None


class FairnessMonitor(_MonitoredCheck):
    """Subgroup fairness on labelled windows, with the release gate's interval rule."""

    sensitive_features: list[str] | None = None
    criteria: list[Criterion] | None = None
    intersectional: bool | None = None
    reference_group: dict[str, str] | None = None
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    confidence: OpenUnit | None = None


class ErrorRateMonitor(_MonitoredCheck):
    """Per-subgroup error rates on labelled windows against a ceiling (default: the stress test's)."""

    metric: Literal["error_rate", "fnr", "fpr"] | None = None
    ceiling: Fraction | None = None
    sensitive_features: list[str] | None = None
    min_group_size: Annotated[int, Field(ge=1)] | None = None
    confidence: OpenUnit | None = None


class VolumeMonitor(_Model):
    enabled: bool = True
    min_rows: Annotated[int, Field(ge=1)] = Field(
        default=1, description="Fewer rows is a breach (an empty window always is)."
    )
    max_rows: Annotated[int, Field(ge=1)] | None = None
    severity: SeverityField = Severity.HIGH


class FreshnessMonitor(_Model):
    enabled: bool = True
    max_staleness: Duration | None = Field(
        default=None,
        description="Newest row at most this long before the window end (default: half the window).",
    )
    severity: SeverityField = Severity.HIGH


class MonitoredChecks(_Model):
    drift: DriftMonitor = DriftMonitor()
    fairness: FairnessMonitor = FairnessMonitor()
    error_rate: ErrorRateMonitor = ErrorRateMonitor()
    volume: VolumeMonitor = VolumeMonitor()
    freshness: FreshnessMonitor = FreshnessMonitor()


class PriorityRule(_Model):
    """A breach at least this severe, affecting at least this share of the traffic, gets ``priority``."""

    priority: Priority
    min_severity: SeverityField = Severity.INFO
    min_traffic_share: Fraction = 0.0


DEFAULT_PRIORITY_RULES: tuple[PriorityRule, ...] = (
    PriorityRule(priority="P1", min_severity=Severity.HIGH, min_traffic_share=0.10),
    PriorityRule(priority="P2", min_severity=Severity.HIGH),
    PriorityRule(priority="P2", min_severity=Severity.MEDIUM, min_traffic_share=0.50),
    PriorityRule(priority="P3", min_severity=Severity.MEDIUM),
    PriorityRule(priority="P3", min_severity=Severity.LOW, min_traffic_share=0.50),
)

DEFAULT_ESCALATION_DELAYS: dict[Priority, timedelta] = {
    "P1": timedelta(minutes=30),
    "P2": timedelta(hours=4),
    "P3": timedelta(days=1),
    "P4": timedelta(days=3),
}


class Escalation(_Model):
    """Who is told, in order, while an incident stays open and unacknowledged."""

    path: list[str] = Field(
        min_length=1, description=f"Owner roles in order; '{GATE_OWNER}' is the breaching check's gate owner."
    )
    after: dict[Priority, Duration] = Field(
        default_factory=dict, description="Per priority: time between steps (defaults: 30m, 4h, 1d, 3d)."
    )

    def delay(self, priority: Priority) -> timedelta:
        """Time between two steps of the path for an incident of ``priority``."""
        return self.after.get(priority) or DEFAULT_ESCALATION_DELAYS[priority]


class RollbackRule(_Model):
    """Roll the deployment back when a check breaches at this priority in enough consecutive windows."""

    check: MonitoredCheckName
    min_priority: Priority = "P1"
    consecutive_windows: Annotated[int, Field(ge=1)] = 1


class Monitoring(_Model):
    """Post-deployment monitoring of the released model (the monitoring DAG is built from this)."""

    schedule: Annotated[str, AfterValidator(_schedule)] = "@daily"
    start_date: datetime | date | None = None
    catchup: bool = False
    source: InferenceLog
    reference: str | None = Field(
        default=None, description="Dataset windows are compared with (default: the drift check's reference)."
    )
    window: Duration | None = Field(default=None, description="Window length (default: the data interval).")
    label_delay: NonNegativeDuration = Field(
        default=timedelta(0), description="Fairness and error rates look at the window this long ago."
    )
    min_label_coverage: Fraction = Field(
        default=0.9, description="Share of a window's rows that must be labelled before it is judged."
    )
    owner: str | None = Field(
        default=None, description="Owner role of volume and freshness (stands in for a gate owner)."
    )
    checks: MonitoredChecks = MonitoredChecks()
    priorities: list[PriorityRule] = Field(default_factory=lambda: list(DEFAULT_PRIORITY_RULES))
    escalation: Escalation
    rollback_on: list[RollbackRule] = Field(default_factory=list)
    rollback_notify: list[str] | None = Field(
        default=None, description="Roles told about an automatic rollback (default: the escalation path)."
    )


class Gate(_Model):
    id: Identifier
    owner: str = Field(min_length=1, description="Owner role (a key of `owners`).")
    title: str = ""
    rationale: str = Field(min_length=1, description="Why this gate exists, quoted in remediation items.")
    mitigations: list[str] = Field(default_factory=list)
    estimate: Duration | None = Field(default=None, description="Time estimate to run and review.")
    checks: list[CheckSpec] = Field(min_length=1)
    decision_timeout: Duration = Field(
        default=timedelta(hours=24),
        description="How long the owner has to decide on remediation (then: delay).",
    )


class ReleasePolicy(_Model):
    policy_version: Literal[1]
    release: Release
    owners: dict[Identifier, OwnerRole] = Field(min_length=1)
    remediation_sla: RemediationSla = RemediationSla()
    datasets: dict[Identifier, Dataset] = Field(default_factory=dict)
    gates: list[Gate] = Field(min_length=1)
    waivers: list[Waiver] = Field(default_factory=list)
    approvals: dict[Identifier, Approval] = Field(default_factory=dict)
    deployment: Deployment | None = None
    notifications: Notifications = Notifications()
    monitoring: Monitoring | None = None

    _source: str = PrivateAttr(default="<memory>")
    _sha256: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        return self._source

    @property
    def sha256(self) -> str:
        """sha256 of the policy file's bytes: the policy fingerprint recorded with every release."""
        return self._sha256

    @property
    def base_dir(self) -> Path:
        """Relative paths in the policy (datasets, suites, models) are relative to the policy file."""
        return Path.cwd() if self._source.startswith("<") else Path(self._source).resolve().parent

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name]
        except KeyError:
            raise KeyError(f"no dataset {name!r} in policy {self._source}") from None

    def gate(self, gate_id: str) -> Gate:
        for gate in self.gates:
            if gate.id == gate_id:
                return gate
        raise KeyError(f"no gate {gate_id!r} in policy (gates: {', '.join(g.id for g in self.gates)})")

    def iter_checks(self) -> Iterator[tuple[Gate, CheckSpec, str]]:
        """Every check with its gate and its policy-wide id ``<gate>.<check>``."""
        for gate in self.gates:
            for check in gate.checks:
                yield gate, check, f"{gate.id}.{check.check_name}"

    def users_of(self, role: str) -> list[str]:
        return list(self.owners[role].users)


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------


def load_policy(path: str | Path) -> ReleasePolicy:
    """Read and validate a policy file; raises :class:`PolicyError` listing every problem."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(
            [PolicyProblem(source, None, (), f"cannot read policy file: {exc.strerror}")]
        ) from exc
    return parse_policy(raw, source=source)


def parse_policy(text: str | bytes, *, source: str = "<string>") -> ReleasePolicy:
    raw = text.encode() if isinstance(text, str) else text
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([PolicyProblem(source, None, (), f"not UTF-8 text: {exc}")]) from exc
    try:
        located, dup_problems = load_located(decoded)
    except YamlSyntaxError as exc:
        raise PolicyError([PolicyProblem(source, exc.line, (), exc.message)]) from exc

    problems = [PolicyProblem(source, p.line, p.path, p.message) for p in dup_problems]
    if not isinstance(located.data, dict):
        kind = "empty" if located.data is None else f"a {type(located.data).__name__}"
        problems.append(PolicyProblem(source, 1, (), f"the policy must be a mapping, the file is {kind}"))
        raise PolicyError(problems)

    try:
        policy = ReleasePolicy.model_validate(located.data)
    except ValidationError as exc:
        problems += _translate(exc, located, source)
        raise PolicyError(problems) from None
    problems += [PolicyProblem(source, located.line_of(p), p, m) for p, m in _cross_check(policy)]
    if problems:
        raise PolicyError(problems)
    policy._source = source
    policy._sha256 = hashlib.sha256(raw).hexdigest()
    return policy


def _translate(exc: ValidationError, located: LocatedYaml, source: str) -> list[PolicyProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        path, missing = _data_path(error["loc"], located.data)
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            path, missing = (*path, "kind"), error["type"] == "union_tag_not_found"
        message = _message(error, path, located)
        line = located.line_of(path if not missing else path[:-1])
        problems.append(PolicyProblem(source, line, path, message))
    return problems


def _data_path(loc: tuple[str | int, ...], data: Any) -> tuple[Path_, bool]:
    """Map a pydantic error location onto the document, dropping union tags and validator names.

    Returns the path and whether its last element is absent from the document (a missing field).
    """
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if part == "[key]":
            # pydantic's marker for "the mapping key itself is invalid": the path already ends at it
            continue
        if isinstance(node, dict) and part in node:
            node = node[part]
            path.append(str(part))  # mapping keys print as names, never as list indices
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(node, dict):
            path.append(str(part))
            return tuple(path), True
        # otherwise: a discriminator tag ("fairness") or a validator name: skip it
    return tuple(path), False


def _message(error: Any, path: Path_, located: LocatedYaml) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field_message(path, located)
    if kind == "union_tag_invalid":
        return (
            f"unknown check kind {error['input'].get('kind')!r} (expected one of: {', '.join(CHECK_KINDS)})"
        )
    if kind == "union_tag_not_found":
        return f"check needs a 'kind' (one of: {', '.join(CHECK_KINDS)})"
    if kind == "literal_error":
        return f"{error['input']!r} is not allowed; expected {error['ctx']['expected']}"
    msg: str = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg[:1].lower() + msg[1:]


def _unknown_field_message(path: Path_, located: LocatedYaml) -> str:
    # Suggest the nearest known field: typos are the most common policy mistake.
    model = _model_at(path[:-1], located.data)
    known = list(model.model_fields) if model is not None else []
    close = difflib.get_close_matches(str(path[-1]), known, n=1)
    return f"unknown field (did you mean {close[0]!r}?)" if close else "unknown field"


def _model_at(path: Path_, data: Any) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``path`` of the document, if any."""
    annotation: Any = ReleasePolicy
    node = data
    for part in path:
        model = _pick_model(annotation, node)
        if model is not None:
            field = model.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        else:
            args = [a for a in get_args(annotation) if a is not type(None)]
            container = get_origin(_strip_optional(annotation))
            if container is list:
                annotation = get_args(_strip_optional(annotation))[0]
            elif container is dict:
                annotation = get_args(_strip_optional(annotation))[1]
            elif not args:
                return None
        node = node[part]
    return _pick_model(annotation, node)


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _pick_model(annotation: Any, node: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _pick_model(get_args(annotation)[0], node)
    if origin in (Union, UnionType):
        models = [m for a in get_args(annotation) if (m := _pick_model(a, node)) is not None]
        if len(models) == 1:
            return models[0]
        kind = node.get("kind") if isinstance(node, dict) else None
        for model in models:
            kind_field = model.model_fields.get("kind")
            if kind_field is not None and kind in get_args(kind_field.annotation):
                return model
    return None


# --------------------------------------------------------------------------------------------------
# Cross-field rules (the model is structurally valid here)
# --------------------------------------------------------------------------------------------------


Problems = list[tuple[Path_, str]]


def _cross_check(policy: ReleasePolicy) -> Problems:
    return (
        _check_gates(policy)
        + _check_waivers(policy)
        + _check_approvals(policy)
        + _check_notifications(policy)
        + _check_monitoring(policy)
    )


def _role_problem(policy: ReleasePolicy, path: Path_, role: str, *, empty: str | None = None) -> Problems:
    """An unknown role, or a known role with nobody in it when ``empty`` (the message) is given."""
    if role not in policy.owners:
        return [(path, f"unknown owner role {role!r}{_suggest(role, sorted(policy.owners))}")]
    if empty and not policy.owners[role].users:
        return [(path, empty.format(role=role))]
    return []


def _check_gates(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    first_gate: dict[str, int] = {}
    for gi, gate in enumerate(policy.gates):
        if gate.id in first_gate:
            problems.append(
                (("gates", gi, "id"), f"duplicate gate id {gate.id!r} (also gates[{first_gate[gate.id]}])")
            )
        first_gate.setdefault(gate.id, gi)
        problems += _role_problem(
            policy,
            ("gates", gi, "owner"),
            gate.owner,
            empty="owner role {role!r} has no users to own remediation",
        )
        seen_checks: dict[str, int] = {}
        for ci, check in enumerate(gate.checks):
            base: Path_ = ("gates", gi, "checks", ci)
            name = check.check_name
            if name in seen_checks:
                problems.append(
                    (
                        (*base, "id" if check.id else "kind"),
                        f"duplicate check {name!r} in gate {gate.id!r} (also checks[{seen_checks[name]}]); "
                        "give each an 'id'",
                    )
                )
            seen_checks.setdefault(name, ci)
            problems += _check_datasets(policy, check, base)
            for wi, waiver in enumerate(getattr(check, "waivers", [])):
                problems += _role_problem(policy, (*base, "waivers", wi, "owner"), waiver.owner)
    return problems


def _check_waivers(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    gate_ids = [g.id for g in policy.gates]
    for wi, waiver in enumerate(policy.waivers):
        problems += _role_problem(policy, ("waivers", wi, "owner"), waiver.owner)
        for gi, gate_id in enumerate(waiver.gates):
            if gate_id not in gate_ids:
                problems.append(
                    (("waivers", wi, "gates", gi), f"unknown gate {gate_id!r}{_suggest(gate_id, gate_ids)}")
                )
    return problems


def _check_notifications(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    for ri, role in enumerate(policy.notifications.stakeholders):
        problems += _role_problem(policy, ("notifications", "stakeholders", ri), role)
    return problems


def _check_monitoring(policy: ReleasePolicy) -> Problems:
    if policy.monitoring is None:
        return []
    # The rules live next to the code that applies them (which gate check a monitored check inherits
    # from, what it needs from the inference log); imported here, once the policy module is loaded.
    from release_gates.monitoring.plan import monitoring_problems

    return monitoring_problems(policy)


def _check_approvals(policy: ReleasePolicy) -> Problems:
    problems: Problems = []
    for name, approval in policy.approvals.items():
        for ri, role in enumerate(approval.roles):
            path: Path_ = ("approvals", name, "roles", ri)
            problems += _role_problem(
                policy, path, role, empty="approval role {role!r} has no users who could sign off"
            )
        if len(set(approval.roles)) != len(approval.roles):
            problems.append((("approvals", name, "roles"), "a role is listed twice"))
    return problems


def _check_datasets(policy: ReleasePolicy, check: CheckSpec, base: Path_) -> list[tuple[Path_, str]]:
    problems: list[tuple[Path_, str]] = []
    names = sorted(policy.datasets)
    for field_name, dataset in check.dataset_refs():
        if is_templated(dataset):
            continue
        path: Path_ = (*base, field_name)
        if field_name in ("datasets", "suites"):
            container = getattr(check, field_name)
            index: str | int = container.index(dataset) if isinstance(container, list) else dataset
            path = (*path, index)
        if dataset not in policy.datasets:
            problems.append((path, f"unknown dataset {dataset!r}{_suggest(dataset, names)}"))
            continue
        declared = policy.datasets[dataset]
        needs = _columns_needed(check)
        missing = [col for col in needs if getattr(declared, col) is None]
        if missing:
            problems.append(
                (
                    path,
                    f"dataset {dataset!r} declares no {' / '.join(missing)} column, "
                    f"which a {check.kind} check needs",
                )
            )
    return problems


def _columns_needed(check: CheckSpec) -> list[str]:
    if isinstance(check, FairnessCheck):
        return ["label", "prediction"]
    if isinstance(check, StressSafetyCheck):
        return ["label"]
    return []


def _suggest(value: str, known: list[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (known: {', '.join(known)})" if known else " (none declared)"
