"""The check-kind registry: every kind of check declared once, everything else derived from it.

Each kind lives in one module of this package: its policy spec model and a :class:`CheckKind` that
names its engine, input resolver, operator, ``release-gates check`` command and report panel. The
policy's ``CheckSpec`` union, the DAG factory's operator lookup, the CLI's command table and
``get_provider_info`` are all derived from :data:`CHECK_KINDS`; ``tests/unit/test_check_kinds.py``
walks it and proves every part exists.

Adding a kind: write ``kinds/<kind>.py`` (spec + ``KIND``) and the parts it names, then add it to
:data:`CHECK_KINDS` and :data:`CheckSpec` below.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from release_gates.kinds import (
    data_minimization,
    deployment_identity,
    documents,
    drift,
    explainability,
    fairness,
    image_scan,
    lineage,
    model_signature,
    ops_readiness,
    posture,
    rollback_drill,
    stress_safety,
)
from release_gates.kinds.declaration import CheckKind, load_dotted

#: Every check kind, in the order the policy reference lists them.
CHECK_KINDS: tuple[CheckKind, ...] = (
    lineage.KIND,
    drift.KIND,
    fairness.KIND,
    stress_safety.KIND,
    explainability.KIND,
    image_scan.KIND,
    rollback_drill.KIND,
    ops_readiness.KIND,
    deployment_identity.KIND,
    model_signature.KIND,
    posture.KIND,
    data_minimization.KIND,
    documents.KIND,
)

#: A gate's check as the policy declares it, discriminated on ``kind``. Written out (not built from
#: CHECK_KINDS) so type checkers see the union; the registry test proves the two agree.
CheckSpec = Annotated[
    lineage.LineageCheck
    | drift.DriftCheck
    | fairness.FairnessCheck
    | stress_safety.StressSafetyCheck
    | explainability.ExplainabilityCheck
    | image_scan.ImageScanCheck
    | rollback_drill.RollbackDrillCheck
    | ops_readiness.OpsReadinessCheck
    | deployment_identity.DeploymentIdentityCheck
    | model_signature.ModelSignatureCheck
    | posture.PostureCheck
    | data_minimization.DataMinimizationCheck
    | documents.DocumentsCheck,
    Field(discriminator="kind"),
]

#: The policy ``kind:`` values.
KIND_NAMES: tuple[str, ...] = tuple(kind.name for kind in CHECK_KINDS)


def check_kind(name: str) -> CheckKind:
    """The declaration of kind ``name`` (a policy ``kind`` or a CLI name like ``stress-safety``)."""
    for kind in CHECK_KINDS:
        if name in (kind.name, kind.cli_name):
            return kind
    raise KeyError(f"unknown check kind {name!r} (known: {', '.join(KIND_NAMES)})")


__all__ = ["CHECK_KINDS", "KIND_NAMES", "CheckKind", "CheckSpec", "check_kind", "load_dotted"]
