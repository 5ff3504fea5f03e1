"""The release's side of a SageMaker model package (``deployment.registry``): approve, reject, record.

* :func:`approve_in_registry` — called by the promote step after the identity re-check and before
  the target changes, so every gate and sign-off is behind it. The package goes from pending to
  approved with the evidence chain head in its description (``registry_approval`` record). A
  package that is not pending (approved by hand, rejected) refuses the promotion: nothing changes
  on the target and the release ends held.
* :func:`seal_registry` — called by the seal when the release does not ship (held, aborted, rolled
  back): the package goes to rejected (``registry_rejection`` record), unless someone else approved
  it, which is recorded and left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.deploy.sagemaker_registry import SageMakerModelPackage
    from release_gates.policy import ReleasePolicy

REGISTRY_APPROVAL = "registry_approval"
REGISTRY_REJECTION = "registry_rejection"


def model_package(registry: dict[str, Any]) -> SageMakerModelPackage:
    """The package a rendered ``deployment.registry`` mapping names, on its AWS connection's clients."""
    from release_gates.deploy.sagemaker_registry import SageMakerModelPackage
    from release_gates.hooks.aws import AwsDeploymentHook
    from release_gates.policy.sagemaker_registry import SageMakerModelPackageRegistry

    spec = SageMakerModelPackageRegistry.model_validate(registry)
    if "{{" in spec.model_package_arn:
        raise ValueError(
            f"deployment.registry.model_package_arn was not rendered: {spec.model_package_arn!r}"
        )
    clients = AwsDeploymentHook(spec.aws_conn_id, region_name=spec.region).get_client
    return SageMakerModelPackage(clients, model_package_arn=spec.model_package_arn)


def approve_in_registry(
    operator: Any, registry: dict[str, Any], release_id: str, version: str, context: Context
) -> dict[str, Any]:
    """Approve the release's package (see the module docstring); returns the appended record.

    ``operator`` is the promote step (it writes evidence). The caller refuses the promotion unless
    the record's ``status`` is ``approved``. A registry that cannot be reached is an ``error``
    record, never an approval.
    """
    from release_gates.deploy.sagemaker_registry import approval_description

    head = operator.evidence_store.chain(release_id).head_hash
    record: dict[str, Any]
    try:
        package = model_package(registry)
    except Exception as exc:  # recorded: the promotion is refused, the release held
        record = {"action": REGISTRY_APPROVAL, "status": "error", "summary": f"{type(exc).__name__}: {exc}"}
    else:
        description = approval_description("released", release_id, head, f"version {version}")
        record = package.approve(description, release_id=release_id)
    record["evidence_head"] = head
    record["evidence_seq"] = operator.append_evidence(REGISTRY_APPROVAL, record, context).seq
    return record


def reject_in_registry(
    operator: Any,
    policy: ReleasePolicy,
    release_id: str,
    decision: str,
    *,
    reasons: list[str],
    context: Context,
) -> dict[str, Any] | None:
    """Reject the package of a release that does not ship; None when the policy names no registry.

    ``operator`` is the seal step (it writes evidence; the registry's templates are rendered with
    its context). Errors are recorded, never raised: the seal's decision stands, and the record says
    the package still needs rejecting.
    """
    from release_gates.deploy.sagemaker_registry import approval_description
    from release_gates.operators.base import render_policy_values

    if policy.deployment is None or policy.deployment.registry is None:
        return None
    head = operator.evidence_store.chain(release_id).head_hash
    raw = policy.deployment.registry.model_dump(mode="json", exclude_none=True)
    record: dict[str, Any]
    try:
        package = model_package(render_policy_values(operator, raw, context))
        reason = reasons[0] if reasons else ""
        record = package.reject(
            approval_description(decision, release_id, head, reason), release_id=release_id
        )
    except Exception as exc:  # recorded, not raised: the decision is sealed either way
        record = {"action": REGISTRY_REJECTION, "status": "error", "summary": f"{type(exc).__name__}: {exc}"}
    record["evidence_head"] = head
    record["evidence_seq"] = operator.append_evidence(REGISTRY_REJECTION, record, context).seq
    return record


def seal_registry(
    operator: Any, policy: ReleasePolicy, decision: str, reasons: list[str], context: Context
) -> dict[str, Any]:
    """What the seal adds to its summary about the registry: a release that does not ship rejects
    its package (:func:`reject_in_registry`); a released one was approved at promotion."""
    if decision == "released":
        return {}
    rejected = reject_in_registry(
        operator, policy, operator.release_id, decision, reasons=reasons, context=context
    )
    if rejected is None:
        return {}
    return {"registry": {k: rejected.get(k) for k in ("status", "summary", "evidence_seq")}}


def registry_refusal(record: dict[str, Any], target: dict[str, Any], version: str) -> dict[str, Any]:
    """The ``promotion`` record of a promotion refused because the registry did not approve: the
    target was not touched (the seal and the rollback step read ``status: refused`` that way)."""
    return {
        "action": "promotion",
        "status": "refused",
        "target": target,
        "to_version": version,
        "healthy": None,
        "reasons": [f"model registry: {record.get('summary')}"],
        "registry": {k: record.get(k) for k in ("status", "from_status", "summary", "evidence_seq")},
        "summary": f"promotion to {version} refused: model registry {record.get('summary')}",
        "finished_at": record.get("finished_at"),
        "api_calls": [],
    }
