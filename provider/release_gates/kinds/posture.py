"""``kind: posture`` — bucket security and a PII scan of output samples."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from release_gates.kinds.common import PiiPattern
from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase


class PostureCheck(CheckSpecBase):
    kind: Literal["posture"] = Field(description="posture: bucket security and a PII scan of output samples.")
    buckets: list[str] = Field(
        description="S3 buckets that must be encrypted, private, versioned and TLS-only.",
        default_factory=list,
    )
    require_kms: bool = Field(default=False, description="Buckets must use KMS encryption (not only SSE-S3).")
    outputs_sample: str | None = Field(default=None, description="Dataset of model outputs/logs to scan.")
    pii_patterns: list[PiiPattern] = Field(
        description="Extra PII patterns (name, regex) for the outputs_sample scan.", default_factory=list
    )
    outputs_sample_rows: Annotated[int, Field(ge=1)] = Field(
        default=10_000, description="Rows of outputs_sample scanned for PII (a seeded random sample)."
    )
    aws_conn_id: str = Field(default="aws_default", description="Airflow AWS connection.")
    region: str | None = Field(default=None, description="AWS region (default: the connection's).")

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("outputs_sample", self.outputs_sample)] if self.outputs_sample else []


KIND = CheckKind(
    name="posture",
    spec=PostureCheck,
    engine="release_gates.checks.posture:evaluate_security_posture",
    resolver="release_gates.inputs.posture:resolve_posture_inputs",
    operator="release_gates.operators.aws:SecurityPostureCheckOperator",
    cli_command="release_gates.cli.checks.posture:COMMAND",
)
