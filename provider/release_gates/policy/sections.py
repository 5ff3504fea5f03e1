"""The policy's top-level sections besides gates and monitoring: release, owners, SLAs, datasets."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from release_gates.kinds.common import DeploymentTargetSpec
from release_gates.kinds.fields import Duration, PolicyModel, is_templated
from release_gates.policy.canary import Canary
from release_gates.policy.sagemaker_registry import SageMakerModelPackageRegistry
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


class ReleaseTrigger(PolicyModel):
    """What starts a release besides a manual trigger: an Airflow Asset event from the model registry."""

    asset: str = Field(
        min_length=1,
        description="Asset URI whose events start the release DAG (schedule=[Asset]); each event's extra "
        "names the registry version: {model, version, uri[, sha256]}.",
        examples=["mlflow://registry/income-classifier"],
    )
    registered_model: str | None = Field(
        default=None, description="Registered model name the events must name (default: release.model)."
    )


class Release(PolicyModel):
    model: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Model name, as registered; names the release DAG (release_<model>) and evidence.",
        examples=["income-classifier"],
    )
    risk_tier: Literal["low", "medium", "high", "critical"] = Field(
        default="low",
        description="Risk tier of the model: sets minimums and defaults the policy must meet (statistical "
        "confidence, min_group_size, required check kinds, distinct approvers, document review age; "
        "release_gates.policy.tiers); shown on every report and notice.",
    )
    description: str = Field(default="", description="What the model decides, in one sentence.")
    trigger: ReleaseTrigger | None = Field(
        default=None,
        description="Start the release on a registry Asset event (default: manual trigger only).",
    )


class OwnerRole(PolicyModel):
    users: list[str] = Field(
        default_factory=list,
        description="Airflow user names who act for this role (answer its human steps, sign off).",
        examples=[["alice", "bob"]],
    )
    email: str | None = Field(
        default=None,
        description="Where the role's notices go (with notifications.smtp_conn_id).",
        examples=["ml-team@example.org"],
    )
    slack_channel: str | None = Field(
        default=None,
        description="Slack channel of the role's notices (with notifications.slack_conn_id).",
        examples=["#ml-releases"],
    )
    description: str = Field(default="", description="What the role is accountable for.")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class RemediationSla(PolicyModel):
    """Severity → time to fix a failed check's remediation item (its deadline is now + this)."""

    critical: Duration = Field(default=timedelta(hours=24), description="Time to fix a CRITICAL finding.")
    high: Duration = Field(default=timedelta(days=3), description="Time to fix a HIGH finding.")
    medium: Duration = Field(default=timedelta(days=10), description="Time to fix a MEDIUM finding.")
    low: Duration = Field(default=timedelta(days=30), description="Time to fix a LOW finding.")
    info: Duration = Field(default=timedelta(days=90), description="Time to fix an INFO finding.")

    @model_validator(mode="before")
    @classmethod
    def _any_case(cls, data: object) -> object:
        # Severities are written upper-case elsewhere (max_findings, severity): accept CRITICAL too.
        if isinstance(data, dict):
            return {key.lower() if isinstance(key, str) else key: value for key, value in data.items()}
        return data

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
    uri: str = Field(
        min_length=1,
        description="Local path (relative to the policy file), s3://…, or sql://<conn_id>/<table>.",
        examples=["data/eval.parquet"],
    )
    sha256: str | None = Field(
        default=None, description="Pinned content fingerprint (lineage FAILs on a mismatch; none → WARN)."
    )
    format: Literal["parquet", "csv", "sql"] | None = Field(
        default=None, description="How to read uri (default: from its suffix or scheme)."
    )
    owner: str | None = Field(
        default=None, description="Team or person accountable for the data.", examples=["data-platform"]
    )
    description: str | None = Field(
        default=None,
        description="What the data is (lineage needs it documented).",
        examples=["Scored hold-out set"],
    )
    legal_basis: str | None = Field(
        default=None,
        description="Why the data may be used (lineage needs it documented).",
        examples=["public data set (CC0)"],
    )
    label: str | None = Field(
        default=None, description="Ground-truth column (binary).", examples=["approved"]
    )
    prediction: str | None = Field(
        default=None, description="The model's decision column (binary).", examples=["prediction"]
    )
    score: str | None = Field(
        default=None, description="The model's score / probability column, if any.", examples=["score"]
    )
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
    """One sign-off: a user of each role approves. Every approval of a release takes another person."""

    roles: list[str] = Field(
        min_length=1,
        description="Owner roles that must each approve (one distinct person per role).",
        examples=[["ml_owner", "release_manager"]],
    )
    timeout: Duration = Field(
        default=timedelta(hours=24), description="No answer within this time is a rejection."
    )
    description: str = Field(default="", description="What the sign-off attests, shown to the approvers.")
    allow_submitter: bool = Field(
        default=False,
        description="Whether the user who triggered the release may approve it here (default: no).",
    )


class Notifications(PolicyModel):
    """How owners and stakeholders are told. With no connection configured, notices go to the task log."""

    smtp_conn_id: str | None = Field(
        default=None, description="Airflow SMTP connection for e-mail notices to the roles' email."
    )
    slack_conn_id: str | None = Field(
        default=None, description="Airflow Slack connection for notices to the roles' slack_channel."
    )
    stakeholders: list[str] = Field(
        default_factory=list, description="Roles that receive the plain-language stakeholder notice."
    )


class Signing(PolicyModel):
    """The key that signs the evidence trail's checkpoints and the release attestation.

    The private key lives in an Airflow connection (any secrets backend), never in the policy or the
    evidence database; verifiers need only the public keys.
    """

    conn_id: str = Field(
        default="release_gates_signing",
        description="Airflow connection with the Ed25519 private key (password: PEM; extra.key_id optional).",
    )
    required: bool = Field(
        default=False,
        description="true: a release without a usable signing key is not sealed (the seal step fails).",
    )
    public_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Trusted public keys for `verify`, key id → PEM (old keys stay listed after rotation).",
    )
    checkpoint_every: int = Field(
        default=100,
        ge=1,
        description="Besides the seal, sign the head of a long chain (monitoring) every this many records.",
    )
    attestation: bool = Field(
        default=True,
        description="Write a signed in-toto release attestation (DSSE) at the seal when a key is available.",
    )

    @field_validator("public_keys")
    @classmethod
    def _no_private_key(cls, value: dict[str, str]) -> dict[str, str]:
        # The policy's text is recorded in the evidence and exported: a private key pasted here (the
        # .key file for the .pub) would be handed to every auditor. Refused before anything is
        # recorded; the message names the entry, never its text.
        for key_id, pem in value.items():
            if "PRIVATE KEY" in pem:
                raise ValueError(
                    f"{key_id!r} holds a PRIVATE key: list the public key here (signing.pub) and keep the "
                    "private one in the signing connection only — and replace that key, it has been exposed"
                )
        return value


class EvidencePolicy(PolicyModel):
    """How the evidence trail is made provable later."""

    signing: Signing = Field(default=Signing(), description="Signed checkpoints and the release attestation.")


class Deployment(PolicyModel):
    """Where an approved release is promoted, and how it is smoke-checked (the target's health)."""

    target: DeploymentTargetSpec = Field(
        description="The deployment target an approved release is promoted on."
    )
    version: str = Field(default="{{ params.model_version }}", description="Version to promote (templated).")
    stable_timeout: Duration = Field(
        default=timedelta(minutes=15), description="How long the target may take to become stable."
    )
    canary: Canary | None = Field(
        default=None,
        description="Shift traffic to the candidate in steps, judging canary against baseline at each "
        "(release_gates.policy.canary); without it the promotion moves all traffic at once.",
    )
    promoted_asset: str | None = Field(
        default=None,
        description="Asset URI the promote step emits an event on (extra: model, version, release, target); "
        "monitoring.follow_promotions schedules the monitoring DAG on it.",
    )
    registry: SageMakerModelPackageRegistry | None = Field(
        default=None,
        description="The model registry entry the release approves after every gate and sign-off, and "
        "rejects when it is held (optional).",
    )
