"""The policy's top-level sections besides gates and monitoring: release, owners, SLAs, datasets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator

from release_gates.kinds.common import DeploymentTargetSpec
from release_gates.kinds.fields import Duration, PolicyModel, is_templated
from release_gates.results import Severity


class BinaryLabels(PolicyModel):
    """Label columns with two values, negative first: the positive (favourable) class is the last."""

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


class Release(PolicyModel):
    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Model name, as registered.")
    risk_tier: Literal["low", "medium", "high", "critical"] = "high"
    description: str = ""


class OwnerRole(PolicyModel):
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


class RemediationSla(PolicyModel):
    critical: Duration = timedelta(hours=24)
    high: Duration = timedelta(days=3)
    medium: Duration = timedelta(days=10)
    low: Duration = timedelta(days=30)
    info: Duration = timedelta(days=90)

    def for_severity(self, severity: Severity) -> timedelta:
        value: timedelta = getattr(self, severity.value.lower())
        return value


class DatasetOverrides(PolicyModel):
    """Where a run may point this dataset instead (the release DAG's ``datasets`` trigger parameter).

    A dataset without this section cannot be overridden by a run. Local prefixes are directories,
    relative to the policy file's directory unless absolute; object-store prefixes (``s3://bucket/dir/``)
    are compared as directories too. A SQL override is ``sql://<connection>/<table>`` with both the
    connection and the table listed here. Raw database URLs and ``query=`` are never accepted from a run.
    """

    uri_prefixes: list[str] = Field(
        default_factory=list, description="Directories (local or s3://bucket/dir/) an override may name."
    )
    connections: list[str] = Field(
        default_factory=list, description="Airflow connection ids an sql:// override may name."
    )
    tables: list[str] = Field(
        default_factory=list, description="Tables (table or schema.table) an sql:// override may name."
    )


class Dataset(BinaryLabels):
    uri: str = Field(min_length=1, description="Local path, s3://…, or sql://<conn_id>/<table>.")
    sha256: str | None = Field(default=None, description="Pinned content fingerprint.")
    format: Literal["parquet", "csv", "sql"] | None = None
    owner: str | None = Field(default=None, description="Team or person accountable for the data.")
    description: str | None = None
    legal_basis: str | None = None
    label: str | None = None
    prediction: str | None = None
    score: str | None = None
    predictions: Literal["scored", "declared"] = Field(
        default="scored",
        description="With a candidate: 'scored' replaces the prediction/score columns with the "
        "candidate's outputs; 'declared' keeps them and re-scores a sample that must match.",
    )
    verify_rows: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Rows re-scored to verify declared predictions (default: scoring's)."
    )
    overrides: DatasetOverrides | None = Field(
        default=None, description="What a run may substitute for this dataset; none → no override."
    )

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str | None) -> str | None:
        if value is not None and not is_templated(value) and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError("must be 64 lower-case hex characters (a sha256 digest)")
        return value

    @property
    def documented(self) -> bool:
        return bool(self.owner and self.description and self.legal_basis)


class Approval(PolicyModel):
    roles: list[str] = Field(min_length=1)
    timeout: Duration = timedelta(hours=24)
    description: str = ""


class Notifications(PolicyModel):
    """How owners and stakeholders are told. With no connection configured, notices go to the task log."""

    smtp_conn_id: str | None = None
    slack_conn_id: str | None = None
    stakeholders: list[str] = Field(
        default_factory=list, description="Roles that receive the plain-language stakeholder notice."
    )


class Deployment(PolicyModel):
    """Where an approved release is promoted, and how it is smoke-checked (the target's health)."""

    target: DeploymentTargetSpec
    version: str = Field(default="{{ params.model_version }}", description="Version to promote (templated).")
    stable_timeout: Duration = timedelta(minutes=15)
