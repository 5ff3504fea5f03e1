"""Release actions on a deployment target, each appending one evidence record.

* :class:`PromoteModelOperator` — re-check the deployment identity the gate recorded, then set the
  candidate version, wait stable, smoke-check health (``promotion``; a changed identity is a
  ``promotion`` record with status ``refused`` and nothing changes on the target);
* :class:`RollbackOperator` — move back to the version recorded before the promotion (``rollback``).

Each holds the target's lease in evidence while it acts (:mod:`release_gates.deploy.target_journal`),
like the rollback drill in :mod:`release_gates.operators.aws`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.exceptions import DeploymentActionError
from release_gates.operators.aws import deployment_target, duration_seconds, release_records, target_lease
from release_gates.operators.base import DEFAULT_RELEASE_ID
from release_gates.operators.evidence import EvidenceWriterMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.deploy import DeploymentTarget
    from release_gates.evidence import EvidenceStore


class _DeploymentActionOperator(EvidenceWriterMixin, BaseOperator):
    template_fields: Sequence[str] = ("target", "release_id")
    template_fields_renderers = {"target": "json"}
    ui_color = "#e6f4ea"

    def __init__(
        self,
        *,
        target: dict[str, Any],
        release_id: str = DEFAULT_RELEASE_ID,
        evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
        stable_timeout: float | str = "15m",
        lease_wait: float | str = "30m",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.release_id = release_id
        self.evidence_conn_id = evidence_conn_id
        self.stable_timeout = stable_timeout
        self.lease_wait = lease_wait

    def _deployment(self) -> DeploymentTarget:
        from release_gates.policy import DeploymentTargetSpec

        return deployment_target(DeploymentTargetSpec.model_validate(self.target))

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def _timeout(self) -> float:
        return duration_seconds(self.stable_timeout)

    def _lease(self, target: DeploymentTarget, context: Context, purpose: str) -> Any:
        """The target's lease for this task (a retry takes over its own try's lease)."""
        from release_gates.deploy.target_journal import TargetJournal

        return target_lease(
            TargetJournal(self.evidence_store, target.identity()),
            f"{self.release_id}:{self.evidence_task_name}",
            purpose=purpose,
            release_id=self.release_id,
            ttl=max(900.0, 3 * self._timeout()),
            wait=duration_seconds(self.lease_wait),
            actor=self.evidence_actor(context),
        )

    def _promotions(self, store: EvidenceStore, target: DeploymentTarget) -> list[dict[str, Any]]:
        from release_gates.evidence import EvidenceNotFoundError

        try:
            records = store.records(self.release_id, kind="promotion")
        except EvidenceNotFoundError:
            return []
        return [r.payload for r in records if r.payload.get("target") == target.identity()]

    def _append(self, kind: str, record: dict[str, Any], context: Context) -> int:
        return self.append_evidence(kind, record, context).seq


class PromoteModelOperator(_DeploymentActionOperator):
    """Re-check the deployment identity, deploy ``version`` to the target, wait until it is stable, and
    smoke-check its health.

    Immediately before the change, every ``deployment_identity`` result this release recorded for the
    target is made again (same settings, the version about to be promoted, the release's evidence as
    it is now). If anything changed since the gate — another version, another image digest or model
    hash on the version, other judged artifacts — or the version now carries something other than
    what was judged, the promotion is refused: nothing changes on the target, a ``promotion`` record
    with status ``refused`` says why, and the task fails without retry (the seal step then holds the
    release; the rollback step finds nothing to undo).

    Otherwise appends a ``promotion`` record (from/to versions, health, AWS request ids, the identity
    re-check) and returns ``{"status", "from_version", "to_version", "previous_version", "release_id",
    "evidence_seq"}``. An unhealthy candidate fails the task without retry (the DAG's rollback path
    takes over); an API error raises :class:`DeploymentActionError`, which Airflow retries.

    :param target: a policy ``target:`` mapping (``type``, ``name``, ``alias``/``cluster``, …; templated).
    :param version: the candidate version (templated).
    :param stable_timeout: how long to wait for the platform to settle (seconds or ``15m``).
    :param lease_wait: how long to wait while another run's drill, promotion or rollback holds the
        target's lease (seconds or ``30m``); past it the task fails and Airflow retries it.
    :param registry: the policy's ``deployment.registry`` (templated): its model package is approved
        after the identity re-check and before the target changes; a package that is not pending
        refuses the promotion (:mod:`release_gates.operators.sagemaker_registry`).
    """

    template_fields: Sequence[str] = (*_DeploymentActionOperator.template_fields, "version", "registry")

    def __init__(self, *, version: str, registry: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version
        self.registry = registry

    def execute(self, context: Context) -> dict[str, Any]:
        target = self._deployment()
        # One change at a time: the identity re-check and the change happen under the target's lease.
        with self._lease(target, context, f"promotion to {self.version}"):
            return self._promote(target, context)

    def _promote(self, target: DeploymentTarget, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.deploy.actions import change_version
        from release_gates.operators.mlflow_registry import registry_promotion_guard

        store = self.evidence_store
        version = target.normalize_version(str(self.version))
        # A registry alias: the version the release pinned, still with the bytes it judged (else refused).
        version = registry_promotion_guard(self, target, version, context)
        recheck = self._identity_recheck(target, version, store)
        if recheck is not None and recheck["refused"]:
            record = self._refusal(target, version, recheck)
            seq = self._append("promotion", record, context)
            self.log.error("%s (evidence %s #%d)", record["summary"], self.release_id, seq)
            raise AirflowFailException(f"{record['summary']} (evidence {self.release_id} #{seq})")
        if self.registry:
            self._approve_in_registry(target, version, context)
        # A retried promotion finds the candidate already live: what came before is in the first record.
        earlier = [
            p
            for p in self._promotions(store, target)
            if p.get("to_version") == version and p.get("status") != "refused"
        ]
        record = change_version(
            target,
            version,
            action="promotion",
            stable_timeout=self._timeout(),
            from_version=earlier[0].get("from_version") if earlier else None,
        )
        if recheck is not None:
            record["identity_recheck"] = recheck
        seq = self._append("promotion", record, context)
        self.log.info("%s (evidence %s #%d)", record["summary"], self.release_id, seq)
        if record["status"] == "error":
            raise DeploymentActionError(f"{record['summary']} (evidence {self.release_id} #{seq})")
        if record["status"] == "unhealthy":
            raise AirflowFailException(f"{record['summary']} (evidence {self.release_id} #{seq})")
        return {
            "status": record["status"],
            "target": target.identity(),
            "from_version": record["from_version"],
            "to_version": version,
            "previous_version": record["from_version"],
            "release_id": self.release_id,
            "evidence_seq": seq,
        }

    def _approve_in_registry(self, target: DeploymentTarget, version: str, context: Context) -> None:
        """Approve the registry's package; anything but an approval refuses the promotion, recorded."""
        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.operators.sagemaker_registry import approve_in_registry, registry_refusal

        approval = approve_in_registry(self, dict(self.registry or {}), self.release_id, version, context)
        if approval["status"] == "approved":
            self.log.info(
                "%s (evidence %s #%d)", approval["summary"], self.release_id, approval["evidence_seq"]
            )
            return
        # Refused or an AWS error (botocore already retried it): the promotion is refused, not retried,
        # so the rollback step finds a refused promotion and leaves the target alone.
        record = registry_refusal(approval, target.identity(), version)
        seq = self._append("promotion", record, context)
        self.log.error("%s (evidence %s #%d)", record["summary"], self.release_id, seq)
        raise AirflowFailException(f"{record['summary']} (evidence {self.release_id} #{seq})")

    def _identity_recheck(
        self, target: DeploymentTarget, version: str, store: EvidenceStore
    ) -> dict[str, Any] | None:
        """The gate's deployment identity results for this target, made again now; None when the
        release recorded none (the policy has no such check for this target)."""
        from release_gates.checks.deployment_identity import evaluate_deployment_identity, identity_changes
        from release_gates.deploy import TargetError
        from release_gates.deploy.identity import IdentitySettings
        from release_gates.inputs.deployment_identity import judged_from_evidence

        records = release_records(store, self.release_id)
        gate_results: dict[str, tuple[int, dict[str, Any]]] = {}
        for record in records:
            payload = record.payload
            if (
                record.kind == "check_result"
                and payload.get("kind") == "deployment_identity"
                and (payload.get("metrics") or {}).get("target") == target.identity()
            ):
                gate_results[str(payload.get("check_id"))] = (record.seq, payload)
        if not gate_results:
            self.log.info("No deployment_identity result for %s in %s", target.description, self.release_id)
            return None
        judged = judged_from_evidence(records)
        rechecks = []
        for check_id, (seq, gate) in gate_results.items():
            inputs = gate.get("inputs") or {}
            settings = dict(inputs.get("identity_settings") or {})
            target.calls.drain()
            observed, error = None, None
            try:
                observed = target.version_identity(version, IdentitySettings.from_dict(settings))
            except TargetError as exc:
                error = exc.to_dict()
            now = evaluate_deployment_identity(
                observed,
                judged,
                compare=tuple(inputs.get("compare") or ("model", "image")),
                check_id=check_id,
                target=target.identity(),
                version=version,
                settings=settings,
                read_error=error,
                api_calls=target.calls.drain(),
            )
            changes = identity_changes(gate, now)
            self.log.info(
                "Identity re-check %s: gate %s (evidence #%d), now %s — %s",
                check_id, gate.get("status"), seq, now.status.value, "; ".join(changes) or "unchanged",
            )  # fmt: skip
            rechecks.append(
                {
                    "check_id": check_id,
                    "gate_evidence_seq": seq,
                    "gate_status": gate.get("status"),
                    "status": now.status.value,
                    "summary": now.summary,
                    "fingerprint": now.metrics.get("fingerprint"),
                    "comparisons": now.metrics.get("comparisons", []),
                    "api_calls": now.metrics.get("api_calls", []),
                    "changes": changes,
                }
            )
        return {"refused": any(r["changes"] for r in rechecks), "rechecks": rechecks}

    def _refusal(self, target: DeploymentTarget, version: str, recheck: dict[str, Any]) -> dict[str, Any]:
        """The ``promotion`` record of a refused promotion: nothing was changed on the target."""
        from release_gates.deploy import TargetError
        from release_gates.deploy.calls import now_iso

        reasons = [reason for r in recheck["rechecks"] for reason in r["changes"]]
        try:
            serving: str | None = target.current_version()
        except TargetError:
            serving = None
        return {
            "action": "promotion",
            "status": "refused",
            "target": target.identity(),
            "to_version": version,
            "from_version": serving,
            "serving_before": serving,
            "healthy": None,
            "reasons": reasons,
            "identity_recheck": recheck,
            "summary": f"promotion of {target.description} to {version} refused: {reasons[0]}",
            "finished_at": now_iso(),
            "api_calls": target.calls.drain(),
        }


class RollbackOperator(_DeploymentActionOperator):
    """Move the target back to the version it served before this release's promotion.

    The version comes from ``to_version`` (templated, e.g. the promote task's XCom) or, when that is
    empty, from the newest ``promotion`` record of this release for the same target. Appends a
    ``rollback`` record. No recorded version fails the task without retry; a rollback that cannot
    settle or stays unhealthy raises :class:`DeploymentActionError`, which Airflow retries.
    """

    template_fields: Sequence[str] = (*_DeploymentActionOperator.template_fields, "to_version", "reason")

    def __init__(self, *, to_version: str | None = None, reason: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.to_version = to_version
        self.reason = reason

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.deploy.actions import change_version

        target = self._deployment()
        store = self.evidence_store
        promotions = self._promotions(store, target)
        if promotions and promotions[-1].get("status") == "refused":
            from airflow.sdk.exceptions import AirflowSkipException

            # A refused promotion changed nothing: rolling "back" would be the first change.
            raise AirflowSkipException(f"the promotion of {target.description} was refused; nothing to undo")
        version, source = (
            (str(self.to_version).strip(), "argument") if self.to_version else (None, "evidence")
        )
        if version is None:
            recorded = [
                p.get("from_version")
                for p in promotions
                if p.get("from_version") and p.get("status") != "refused"
            ]
            if not recorded:
                raise AirflowFailException(
                    f"no version to roll {target.description} back to: no promotion of it is recorded in "
                    f"evidence {self.release_id}; pass to_version"
                )
            version = str(recorded[-1])
        with self._lease(target, context, f"rollback to {version}"):
            record = change_version(
                target, version, action="rollback", stable_timeout=self._timeout(), reason=self.reason or None
            )
        record["version_source"] = source
        seq = self._append("rollback", record, context)
        self.log.info("%s (evidence %s #%d)", record["summary"], self.release_id, seq)
        if record["status"] != "done":
            raise DeploymentActionError(f"{record['summary']} (evidence {self.release_id} #{seq})")
        return {
            "status": record["status"],
            "target": target.identity(),
            "from_version": record["from_version"],
            "to_version": record["to_version"],
            "release_id": self.release_id,
            "evidence_seq": seq,
        }
