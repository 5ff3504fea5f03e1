"""A SageMaker Model Registry model package whose approval status only the release moves.

SageMaker lets anyone with ``sagemaker:UpdateModelPackage`` approve a package, and a CI/CD pipeline
usually deploys on that approval. The release keeps that step honest: the package goes from
``PendingManualApproval`` to ``Approved`` once, after every gate and sign-off, with the evidence
chain head in its approval description; to ``Rejected`` when the release ends without shipping. A
package found in any other state is never approved: someone moved it outside the gates.

SageMaker has no conditional update (no "only if still pending"), so :meth:`approve` reads the
status, refuses anything but pending, updates, and reads it back: a change that lands between the
read and the update is not prevented, but the read-back shows what the package holds afterwards and
both reads are recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import ApiCallLog, TargetError, aws_call, now_iso

if TYPE_CHECKING:
    from release_gates.deploy.targets import ClientSource

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
#: SageMaker's limit on ApprovalDescription (the API rejects longer text).
DESCRIPTION_LIMIT = 1024


class SageMakerModelPackage:
    """One model package (by ARN) in the SageMaker Model Registry; every call is logged in :attr:`calls`."""

    def __init__(self, clients: ClientSource, *, model_package_arn: str) -> None:
        self.arn = model_package_arn
        self.client = clients("sagemaker")
        self.calls = ApiCallLog()

    def identity(self) -> dict[str, Any]:
        return {"type": "sagemaker_model_package", "model_package_arn": self.arn}

    def status(self) -> dict[str, Any]:
        """The package's approval status and description as SageMaker holds them now."""
        described = aws_call(self.client, "describe_model_package", self.calls, ModelPackageName=self.arn)
        return {
            "status": described.get("ModelApprovalStatus"),
            "approval_description": described.get("ApprovalDescription"),
            "group": described.get("ModelPackageGroupName"),
            "version": described.get("ModelPackageVersion"),
        }

    def approve(self, description: str, *, release_id: str) -> dict[str, Any]:
        """Pending → Approved with ``description``; a package in any other state is refused, unchanged.

        Returns the record: ``status`` is ``approved``, ``refused`` (not pending: nothing changed) or
        ``error`` (an AWS call failed; ``error`` says which and whether a retry may help). A package
        this same release approved already (a retried promotion) is ``approved`` without a change.
        """
        return self._move(PENDING, APPROVED, description, action="registry_approval", release_id=release_id)

    def reject(self, description: str, *, release_id: str) -> dict[str, Any]:
        """→ Rejected with ``description``, from pending or from an approval release ``release_id`` made.

        A package found approved by someone else (by hand, or by another release) is left alone
        (``refused``): rejecting it would undo a decision this release did not make; the record says
        what was found.
        """
        return self._move(None, REJECTED, description, action="registry_rejection", release_id=release_id)

    def _move(
        self, expected: str | None, to: str, description: str, *, action: str, release_id: str = ""
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "action": action,
            "registry": self.identity(),
            "to_status": to,
            "approval_description": description[:DESCRIPTION_LIMIT],
        }
        try:
            before = self.status()
            record["from_status"] = before["status"]
            record["before"] = before
            problem = self._refusal(before, expected, to, release_id)
            if to == APPROVED and before["status"] == APPROVED and _approved_by(before, release_id):
                record.update(status="approved", summary=f"{self.arn}: already approved by this release")
            elif problem:
                record.update(status="refused", summary=f"{self.arn}: {problem}; nothing changed")
            else:
                aws_call(
                    self.client,
                    "update_model_package",
                    self.calls,
                    ModelPackageArn=self.arn,
                    ModelApprovalStatus=to,
                    ApprovalDescription=record["approval_description"],
                )
                after = self.status()
                record["after"] = after
                landed = after["status"] == to
                record["status"] = ("approved" if to == APPROVED else "rejected") if landed else "error"
                record["summary"] = (
                    f"{self.arn}: {before['status']} → {to}"
                    if landed
                    else f"{self.arn}: set to {to}, but it reads {after['status']} afterwards"
                )
        except TargetError as exc:
            record.update(status="error", error=exc.to_dict(), summary=f"{self.arn}: {exc.message}")
        record["finished_at"] = now_iso()
        record["api_calls"] = self.calls.drain()
        return record

    def _refusal(self, before: dict[str, Any], expected: str | None, to: str, release_id: str) -> str | None:
        status = before["status"]
        if expected is not None and status != expected:
            # Approved by hand, rejected, or approved by another release: only a pending package is
            # this release's to approve.
            return f"the package is {status!r}, not {expected!r}: it was moved outside this release"
        if to == REJECTED and status == APPROVED and not _approved_by(before, release_id):
            return "the package was approved outside this release; it is not this release's to reject"
        return None


#: The marker every approval description this provider writes starts with.
MARKER = "release-gates:"


def _approved_by(before: dict[str, Any], release_id: str) -> bool:
    """Whether the package's approval is the one release ``release_id`` wrote."""
    text = str(before.get("approval_description") or "")
    return text.startswith(MARKER) and f" release {release_id};" in text


def approval_description(decision: str, release_id: str, chain_head: str | None, reason: str = "") -> str:
    """What the package's approval description says: the decision, the release and its evidence head."""
    text = f"{MARKER} {decision} by release {release_id}; evidence chain head {chain_head or 'none'}"
    return f"{text}; {reason}" if reason else text
