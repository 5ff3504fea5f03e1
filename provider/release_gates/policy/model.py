"""The release policy as a validated model: gates (with their typed checks) and every section."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from release_gates.kinds import CheckSpec
from release_gates.kinds.common import Waiver
from release_gates.kinds.fields import Duration, Identifier, PolicyModel
from release_gates.policy.candidate import Candidate, Scoring
from release_gates.policy.monitoring import Monitoring
from release_gates.policy.sections import (
    Approval,
    Dataset,
    Deployment,
    EvidencePolicy,
    Notifications,
    OwnerRole,
    Release,
    RemediationSla,
)
from release_gates.policy.tiers import with_tier_defaults

POLICY_VERSION = 1


class Gate(PolicyModel):
    id: Identifier = Field(
        description="Gate name (unique), e.g. data, ethics, security; names the gate's task group.",
        examples=["ethics"],
    )
    owner: str = Field(min_length=1, description="Owner role (a key of `owners`).", examples=["ml_owner"])
    title: str = Field(default="", description="Human-readable title for reports (default: the id).")
    rationale: str = Field(
        min_length=1,
        description="Why this gate exists, quoted in remediation items.",
        examples=["Decisions must not disadvantage a protected group."],
    )
    mitigations: list[str] = Field(
        description="What the owner can do when the gate fails; listed in remediation items.",
        default_factory=list,
    )
    estimate: Duration | None = Field(default=None, description="Time estimate to run and review.")
    checks: list[CheckSpec] = Field(
        description="The gate's checks (each a mapping with a kind:); they run in parallel.", min_length=1
    )
    decision_timeout: Duration = Field(
        default=timedelta(hours=24),
        description="How long the owner has to decide on remediation (then: delay).",
    )


class ReleasePolicy(PolicyModel):
    policy_version: Literal[1] = Field(description="Version of the policy language; write 1.")
    release: Release = Field(description="The model being released.")
    owners: dict[Identifier, OwnerRole] = Field(
        description="Owner roles: role name → the Airflow users who act for it and how to reach them.",
        examples=[{"ml_owner": {"users": ["alice"], "email": "ml-team@example.org"}}],
        min_length=1,
    )
    remediation_sla: RemediationSla = Field(
        default=RemediationSla(),
        description="Severity → time to fix a failed check (critical, high, medium, low, info; any case).",
        examples=[{"critical": "1d", "high": "3d"}],
    )
    datasets: dict[Identifier, Dataset] = Field(
        description="Dataset name → where the data is and what it holds; checks name these datasets.",
        examples=[{"eval": {"uri": "data/eval.parquet", "label": "approved", "prediction": "prediction"}}],
        default_factory=dict,
    )
    candidate: Candidate | None = Field(
        default=None,
        description="The model file under release, pinned by sha256; the release scores data with it.",
    )
    scoring: Scoring | None = Field(
        default=None, description="Which datasets the candidate scores inside the release (needs candidate)."
    )
    gates: list[Gate] = Field(
        description="The gates a release must pass, in order; each has an owner role and typed checks.",
        min_length=1,
    )
    waivers: list[Waiver] = Field(
        description="Accepted findings of every gate (image scans): finding id, owner, statement, expiry.",
        default_factory=list,
    )
    approvals: dict[Identifier, Approval] = Field(
        description="Sign-offs after all gates: sign-off name → the roles that must each approve.",
        examples=[{"release": {"roles": ["ml_owner", "release_manager"], "timeout": "24h"}}],
        default_factory=dict,
    )
    deployment: Deployment | None = Field(
        default=None,
        description="Where an approved release is promoted (none: the release ends at the decision).",
    )
    notifications: Notifications = Field(
        default=Notifications(),
        description="How owners are told (SMTP / Slack connections); default: the task log.",
    )
    monitoring: Monitoring | None = Field(
        default=None, description="Post-deployment monitoring; the monitoring DAG is built from it."
    )
    evidence: EvidencePolicy = Field(
        default=EvidencePolicy(),
        description="Signing of the evidence trail (checkpoints, release attestation).",
    )

    _source: str = PrivateAttr(default="<memory>")
    _sha256: str = PrivateAttr(default="")

    @model_validator(mode="before")
    @classmethod
    def _tier_defaults(cls, data: object) -> object:
        # What a check leaves unsaid comes from the risk tier (release_gates.policy.tiers).
        return with_tier_defaults(data)

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
