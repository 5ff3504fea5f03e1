"""Operators for the operations and security gates on AWS, and the helpers the release actions share.

Check operators (spec → engine → evidence → XCom summary, see :class:`BaseCheckOperator`):

* :class:`RollbackDrillOperator` — ``kind: rollback_drill``
* :class:`OpsReadinessCheckOperator` — ``kind: ops_readiness``
* :class:`DeploymentIdentityCheckOperator` — ``kind: deployment_identity``
* :class:`SecurityPostureCheckOperator` — ``kind: posture``

Promotion and real rollback are in :mod:`release_gates.operators.deployment`. The drill, promotion
and rollback change the target one at a time: each holds the target's lease in evidence
(:mod:`release_gates.deploy.target_journal`) while it acts, and the release DAG puts them in the
target's one-slot Airflow pool (:mod:`release_gates.pools`).

AWS credentials, region and ``endpoint_url`` come from an Airflow ``aws`` connection through
:class:`~release_gates.hooks.aws.AwsDeploymentHook`; boto3 loads when a task runs, not at DAG parse.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from release_gates.exceptions import CheckErrorException
from release_gates.operators.base import BaseCheckOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.checks.drill_recovery import TargetDrillJournal
    from release_gates.deploy import ClientSource, DeploymentTarget
    from release_gates.deploy.target_journal import DeferredLease, Lease, TargetJournal
    from release_gates.evidence import EvidenceStore
    from release_gates.inputs.deployment_identity import JudgedArtifacts
    from release_gates.kinds.deployment_identity import DeploymentIdentityCheck
    from release_gates.policy import (
        DeploymentTargetSpec,
        OpsReadinessCheck,
        PostureCheck,
        ReleasePolicy,
        RollbackDrillCheck,
    )
    from release_gates.results import CheckResult


def _clients(aws_conn_id: str, region: str | None) -> ClientSource:
    """boto3 clients through the Airflow AWS connection (credentials, region, ``endpoint_url``)."""
    from release_gates.hooks.aws import AwsDeploymentHook

    return AwsDeploymentHook(aws_conn_id, region_name=region).get_client


def deployment_target(spec: DeploymentTargetSpec) -> DeploymentTarget:
    from release_gates.deploy import build_target

    if spec.type == "mlflow_alias":  # the registry's client, through the MLflow connection
        from release_gates.operators.candidate_pin import registry_client

        client = registry_client(spec.mlflow_conn_id)
        return build_target(spec, lambda service: client)
    return build_target(spec, _clients(spec.aws_conn_id, spec.region))


def duration_seconds(value: float | str) -> float:
    from release_gates.policy import parse_duration

    return parse_duration(value).total_seconds()


@contextmanager
def target_lease(
    journal: TargetJournal,
    holder: str,
    *,
    purpose: str,
    release_id: str | None,
    ttl: float,
    wait: float,
    actor: str | None,
) -> Iterator[Lease]:
    """Hold the target's lease (waiting up to ``wait`` s for another holder) while the block runs."""
    options: dict[str, Any] = {"release_id": release_id, "ttl": ttl, "wait": wait, "actor": actor}
    with journal.hold(holder, purpose=purpose, **options) as lease:
        yield lease


def release_records(store: EvidenceStore, release_id: str) -> list[Any]:
    from release_gates.evidence import EvidenceNotFoundError

    try:
        return list(store.records(release_id))
    except EvidenceNotFoundError:
        return []


def judged_artifacts(store: EvidenceStore, release_id: str) -> JudgedArtifacts | None:
    """What the release judged, from its evidence; None outside a release (no ``release_started``)."""
    from release_gates.inputs.deployment_identity import judged_from_evidence

    records = release_records(store, release_id)
    if not any(r.kind == "release_started" for r in records):
        return None
    return judged_from_evidence(records)


class RollbackDrillOperator(BaseCheckOperator):
    """Roll back and forward again, measuring the RTO: a stand-in (``mode: shadow``) or the target.

    Under the target's lease, and journaled in the target's evidence chain: before anything else,
    every drill on the target that did not finish (its task was killed) is restored to the original
    it recorded (compare-and-set: never over another's version), or its stand-in removed. A drill of this
    check that was interrupted is then reported instead of drilling again: INCONCLUSIVE when its
    target was restored (clear the task to drill again), ERROR when it could not be or someone else
    changed the target. ``on_kill`` (SIGTERM, an execution timeout) restores synchronously.

    The original version is always restored. If restoring fails the result is ERROR with a CRITICAL
    finding naming the version the target serves; the task then fails without retrying — a retry
    would take the wrong version for the original. The same holds when someone else changed the
    target during the drill. Other ERRORs (throttling past the retries, an API outage, the lease
    held by another run past ``lease_wait``) raise a retryable exception as usual.

    :param step_retries: step retries on transient AWS errors, e.g. ``{"attempts": 3,
        "restore_attempts": 6, "base_delay": 1.0, "max_delay": 30.0}`` (those are the defaults).
    :param lease_wait: how long to wait for the target's lease (seconds or ``30m``).
    :param lease_ttl: how long the lease holds if this task dies without releasing it (default:
        four times the drill's stable timeout, at least 15 minutes).
    """

    check_kind = "rollback_drill"
    ui_color = "#fde7e9"
    #: Findings after which a retry would drill from the wrong "original": fail without retry.
    NO_RETRY_FINDINGS = frozenset({"restore_failed", "target_changed_during_drill"})

    def __init__(
        self,
        *,
        step_retries: dict[str, Any] | None = None,
        lease_wait: float | str = "30m",
        lease_ttl: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        allowed = {"attempts", "restore_attempts", "base_delay", "max_delay"}
        unknown = set(step_retries or {}) - allowed
        if unknown:
            raise ValueError(
                f"{self.task_id}: unknown step_retries keys {sorted(unknown)} (use {sorted(allowed)})"
            )
        self.step_retries = dict(step_retries or {})
        self.lease_wait = lease_wait
        self.lease_ttl = lease_ttl
        self._drill_journal: TargetDrillJournal | None = None
        self._drill_spec: RollbackDrillCheck | None = None
        self._drill_killed = False

    def execute(self, context: Context) -> dict[str, Any]:
        self._last_result: CheckResult | None = None
        self._actor = self.evidence_actor(context)
        try:
            return super().execute(context)
        except CheckErrorException as exc:
            result = self._last_result
            if result is not None and any(f.id in self.NO_RETRY_FINDINGS for f in result.findings):
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(str(exc)) from exc
            raise

    def on_kill(self) -> None:
        """Restore the drill in flight, now (SIGTERM or an execution timeout); its retry reports it."""
        from release_gates.checks.drill_recovery import restore_unfinished
        from release_gates.deploy.target_journal import started_drills

        journal, spec = self._drill_journal, self._drill_spec
        if journal is None or spec is None or journal.in_flight is None or journal.lease is None:
            return
        drill_id = journal.in_flight["drill_id"]
        self._drill_killed = True
        records = journal.journal.state()
        drill = next((d for d in started_drills(records) if d.drill_id == drill_id), None)
        if drill is None or not drill.needs_restore:
            return
        target = deployment_target(spec.target)
        outcome = restore_unfinished(
            target,
            journal.journal,
            drill,
            lease=journal.lease,
            by="on_kill",
            stable_timeout=(spec.stable_timeout or spec.rto_budget).total_seconds(),
            actor=getattr(self, "_actor", None),
        )
        if outcome["outcome"] != "restore_failed":
            journal.in_flight = None  # ended by on_kill: the drill's own end record must not hide that
        self.log.warning("on_kill: drill %s on %s: %s", drill_id, target.description, outcome["outcome"])

    def run_check(
        self, spec: RollbackDrillCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.inputs.rollback_drill import resolve_rollback_drill_inputs

        target = resolve_rollback_drill_inputs(spec, _clients(spec.target.aws_conn_id, spec.target.region))
        self.log.info(
            f"Rollback drill ({spec.mode}) on %s (dry run: %s, RTO budget %s)",
            target.description,
            spec.dry_run,
            spec.rto_budget,
        )
        stable = (spec.stable_timeout or spec.rto_budget).total_seconds()
        actor = self.evidence_actor(context)
        ttl = duration_seconds(self.lease_ttl) if self.lease_ttl is not None else max(900.0, 4 * stable)
        from release_gates.deploy.target_journal import TargetJournal

        journal = TargetJournal(self.evidence_store, target.identity())
        holder, purpose = f"{self.release_id}:{self.evidence_task_name}", f"rollback drill {self.check_id}"
        wait = duration_seconds(self.lease_wait)
        ti = context.get("ti")
        first_try = ti is not None and getattr(ti, "try_number", None) == 1
        # A first try on a free target with no unfinished drill writes its lease with drill_started
        # (one commit); anything else takes the lease first and restores what needs restoring.
        deferred = (
            journal.defer(holder, purpose=purpose, release_id=self.release_id, ttl=ttl, actor=actor)
            if first_try
            else None
        )
        result = (
            self._deferred_drill(target, journal, spec, deferred, stable=stable, actor=actor, wait=wait)
            if deferred is not None
            else None
        )
        if result is None:
            with target_lease(
                journal, holder, purpose=purpose, release_id=self.release_id, ttl=ttl, wait=wait, actor=actor
            ) as lease:
                result = self._journaled_drill(
                    target, journal, spec, lease=lease, stable=stable, actor=actor, first_try=first_try
                )
        self._last_result = result
        for step in result.metrics.get("steps", []):
            self.log.info(
                "  %-28s %s in %.3f s, %d attempt(s)",
                step["step"],
                "ok" if step.get("ok") else "FAILED",
                step.get("duration_s", 0.0),
                len(step["attempts"]),
            )
        return result

    def _deferred_drill(
        self,
        target: DeploymentTarget,
        journal: TargetJournal,
        spec: RollbackDrillCheck,
        deferred: DeferredLease,
        *,
        stable: float,
        actor: str,
        wait: float,
    ) -> CheckResult | None:
        """The drill with its lease written together with ``drill_started`` (see
        :class:`~release_gates.checks.drill_recovery.TargetDrillJournal`); the lease, if written, is
        given back with the drill's end, or here when the drill stopped after taking it.

        None when the drill ended before writing anything (nothing to roll back to, say) while
        someone else wrote to the target's chain: what it read may have been another drill's
        passing state, so the caller drills again under the lease."""
        from release_gates.checks.drill_recovery import TargetDrillJournal, recover_unfinished_drills
        from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill

        recoveries: list[dict[str, Any]] = []

        def contended() -> Lease:
            lease = journal.acquire(
                deferred.holder,
                purpose=deferred.purpose,
                release_id=deferred.release_id,
                ttl=deferred.ttl,
                wait=wait,
                actor=actor,
            )
            recoveries.extend(
                recover_unfinished_drills(
                    target, journal, lease=lease, by=actor, stable_timeout=stable, actor=actor
                )
            )
            return lease

        self._drill_spec = spec
        drill_journal = self._drill_journal = TargetDrillJournal(
            journal,
            None,
            self.release_id,
            self.check_id,
            actor,
            deferred=deferred,
            contended=contended,
            current_version=target.current_version,
        )
        try:
            result = run_rollback_drill(
                target,
                spec,
                check_id=self.check_id,
                retry=RetryPolicy(**self.step_retries),
                journal=drill_journal,
            )
        finally:
            self._drill_journal = None
            if drill_journal.lease is not None:
                journal.release(drill_journal.lease)  # a no-op after the drill's own end released it
        if drill_journal.lease is None:
            records = journal.state()
            if (records[-1].seq if records else 0) != deferred.expected_seq:
                self.log.info(
                    "The target's chain moved during an unjournaled drill: drilling again under its lease"
                )
                return None
        if recoveries:
            result = result.model_copy(update={"metrics": {**result.metrics, "recoveries": recoveries}})
        return result

    def _journaled_drill(
        self,
        target: DeploymentTarget,
        journal: TargetJournal,
        spec: RollbackDrillCheck,
        *,
        lease: Lease,
        stable: float,
        actor: str,
        first_try: bool = False,
    ) -> CheckResult:
        """Restore unfinished drills, report this check's interrupted one, or drill (journaled)."""
        from release_gates.checks.drill_recovery import (
            TargetDrillJournal,
            interrupted_drill_result,
            interrupted_drills,
            recover_unfinished_drills,
        )
        from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill

        recoveries = recover_unfinished_drills(
            target, journal, lease=lease, by=actor, stable_timeout=stable, actor=actor
        )
        for recovery in recoveries:
            self.log.warning("Unfinished drill %s on %s: %s", recovery["drill_id"], target.description,
                             recovery["outcome"])  # fmt: skip
        # Only an earlier try of this task drills for this release's check: a first try has none.
        interrupted = (
            []
            if first_try
            else interrupted_drills(
                journal, release_id=self.release_id, check_id=self.check_id, reported=self._reported()
            )
        )
        early = interrupted_drill_result(
            target, check_id=self.check_id, interrupted=interrupted, recoveries=recoveries
        )
        if early is not None:
            return early
        self._drill_spec = spec
        self._drill_journal = TargetDrillJournal(journal, lease, self.release_id, self.check_id, actor)
        try:
            result = run_rollback_drill(
                target,
                spec,
                check_id=self.check_id,
                retry=RetryPolicy(**self.step_retries),
                journal=self._drill_journal,
            )
        finally:
            self._drill_journal = None
        if self._drill_killed:  # on_kill restored it mid-drill: whatever the engine saw, it was cut short
            interrupted = interrupted_drills(
                journal, release_id=self.release_id, check_id=self.check_id, reported=self._reported()
            )
            return (
                interrupted_drill_result(
                    target, check_id=self.check_id, interrupted=interrupted, recoveries=recoveries
                )
                or result
            )
        if recoveries:
            result = result.model_copy(update={"metrics": {**result.metrics, "recoveries": recoveries}})
        return result

    def _reported(self) -> set[str]:
        """Interrupted drills this check's recorded results already reported."""
        return {
            str(drill_id)
            for record in release_records(self.evidence_store, self.release_id)
            if record.kind == "check_result" and record.payload.get("check_id") == self.check_id
            for drill_id in (record.payload.get("metrics") or {}).get("interrupted_drills") or []
        }


class OpsReadinessCheckOperator(BaseCheckOperator):
    """CloudWatch alarms with actions on the target; image and model pinned (``kind: ops_readiness``).

    ``image``, ``model_uri`` and ``model_sha256`` (templated) override the spec's pins. In a release
    the pins are checked against the release's own evidence: the verified model sha256 and the image
    scans' digests (the release DAG runs this check after the image scans).
    """

    check_kind = "ops_readiness"
    #: Kinds whose results this check reads: the release DAG runs it after them.
    reads_results_of: ClassVar[tuple[str, ...]] = ("image_scan",)
    template_fields: Sequence[str] = (
        *BaseCheckOperator.template_fields,
        "image",
        "model_uri",
        "model_sha256",
    )

    def __init__(
        self,
        *,
        image: str | None = None,
        model_uri: str | None = None,
        model_sha256: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.image = image
        self.model_uri = model_uri
        self.model_sha256 = model_sha256

    def run_check(
        self, spec: OpsReadinessCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.inputs.ops_readiness import run_ops_readiness_check

        judged = judged_artifacts(self.evidence_store, self.release_id)
        if judged is None:
            self.log.info("No release evidence in %s: pins are checked as given", self.release_id)
        return run_ops_readiness_check(
            spec,
            _clients(spec.target.aws_conn_id, spec.target.region),
            check_id=self.check_id,
            image=self.image,
            model_uri=self.model_uri,
            model_sha256=self.model_sha256,
            judged=judged,
        )


class DeploymentIdentityCheckOperator(BaseCheckOperator):
    """The version to promote carries the judged model and image (``kind: deployment_identity``).

    What was judged comes from the release's evidence only (never from run parameters): the scored or
    verified model sha256, and every image scan's digest. The release DAG runs this check after the
    image scans; the promote step runs the same comparison again just before it changes the target.
    """

    check_kind = "deployment_identity"
    reads_results_of: ClassVar[tuple[str, ...]] = ("image_scan",)

    def run_check(
        self, spec: DeploymentIdentityCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.inputs.deployment_identity import (
            judged_from_evidence,
            run_deployment_identity_check,
        )

        judged = judged_from_evidence(release_records(self.evidence_store, self.release_id))
        self.log.info(
            "Judged in %s: model %s, %d image scan(s)",
            self.release_id,
            judged.model_sha256 or "unknown",
            len(judged.image_scans),
        )
        return run_deployment_identity_check(
            spec, _clients(spec.target.aws_conn_id, spec.target.region), judged, check_id=self.check_id
        )


class SecurityPostureCheckOperator(BaseCheckOperator):
    """S3 bucket posture and a PII scan of sampled model outputs (``kind: posture``)."""

    check_kind = "posture"

    def run_check(self, spec: PostureCheck, policy: ReleasePolicy | None, context: Context) -> CheckResult:
        from release_gates.inputs.posture import run_posture_check

        if spec.outputs_sample:
            self.log.info("Scanning a sample of the outputs in %s for PII", spec.outputs_sample)
        clients = _clients(spec.aws_conn_id, spec.region) if spec.buckets else None
        return run_posture_check(spec, self.dataset_catalog(policy, context), clients, check_id=self.check_id)
