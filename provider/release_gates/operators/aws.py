"""Operators for the operations and security gates on AWS, and for promotion and real rollback.

Check operators (spec → engine → evidence → XCom summary, see :class:`BaseCheckOperator`):

* :class:`RollbackDrillOperator` — ``kind: rollback_drill``
* :class:`OpsReadinessCheckOperator` — ``kind: ops_readiness``
* :class:`DeploymentIdentityCheckOperator` — ``kind: deployment_identity``
* :class:`SecurityPostureCheckOperator` — ``kind: posture``

Release actions, each appending one evidence record:

* :class:`PromoteModelOperator` — re-check the deployment identity the gate recorded, then set the
  candidate version, wait stable, smoke-check health (``promotion``; a changed identity is a
  ``promotion`` record with status ``refused`` and nothing changes on the target);
* :class:`RollbackOperator` — move back to the version recorded before the promotion (``rollback``).

The drill, promotion and rollback change the target one at a time: each holds the target's lease in
evidence (:mod:`release_gates.deploy.target_journal`) while it acts, and the release DAG puts them in
the target's one-slot Airflow pool (:mod:`release_gates.pools`).

AWS credentials, region and ``endpoint_url`` come from an Airflow ``aws`` connection through
:class:`~release_gates.hooks.aws.AwsDeploymentHook`; boto3 loads when a task runs, not at DAG parse.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.exceptions import CheckErrorException, DeploymentActionError
from release_gates.operators.base import DEFAULT_RELEASE_ID, BaseCheckOperator
from release_gates.operators.evidence import EvidenceWriterMixin

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.checks.drill_recovery import TargetDrillJournal
    from release_gates.deploy import ClientSource, DeploymentTarget
    from release_gates.deploy.target_journal import Lease
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


def _target(spec: DeploymentTargetSpec) -> DeploymentTarget:
    from release_gates.deploy import build_target

    return build_target(spec, _clients(spec.aws_conn_id, spec.region))


def _seconds(value: float | str) -> float:
    from release_gates.policy import parse_duration

    return parse_duration(value).total_seconds()


@contextmanager
def _target_lease(
    store: EvidenceStore,
    target: DeploymentTarget,
    holder: str,
    *,
    purpose: str,
    release_id: str | None,
    ttl: float,
    wait: float,
    actor: str | None,
) -> Iterator[Lease]:
    """Hold the target's lease (waiting up to ``wait`` s for another holder) while the block runs."""
    from release_gates.deploy.target_journal import TargetJournal

    journal = TargetJournal(store, target.identity())
    options: dict[str, Any] = {"release_id": release_id, "ttl": ttl, "wait": wait, "actor": actor}
    with journal.hold(holder, purpose=purpose, **options) as lease:
        yield lease


def _release_records(store: EvidenceStore, release_id: str) -> list[Any]:
    from release_gates.evidence import EvidenceNotFoundError

    try:
        return list(store.records(release_id))
    except EvidenceNotFoundError:
        return []


def _judged(store: EvidenceStore, release_id: str) -> JudgedArtifacts | None:
    """What the release judged, from its evidence; None outside a release (no ``release_started``)."""
    from release_gates.inputs.deployment_identity import judged_from_evidence

    records = _release_records(store, release_id)
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
        if journal is None or spec is None or journal.in_flight is None:
            return
        drill_id = journal.in_flight["drill_id"]
        self._drill_killed = True
        records = journal.journal.records()
        drill = next((d for d in started_drills(records) if d.drill_id == drill_id), None)
        if drill is None or not drill.needs_restore:
            return
        target = _target(spec.target)
        outcome = restore_unfinished(
            target,
            journal.journal,
            drill,
            lease=journal.lease,
            by="on_kill",
            stable_timeout=(spec.stable_timeout or spec.rto_budget).total_seconds(),
            records=records,
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
        ttl = _seconds(self.lease_ttl) if self.lease_ttl is not None else max(900.0, 4 * stable)
        with _target_lease(
            self.evidence_store,
            target,
            f"{self.release_id}:{self.evidence_task_name}",
            purpose=f"rollback drill {self.check_id}",
            release_id=self.release_id,
            ttl=ttl,
            wait=_seconds(self.lease_wait),
            actor=actor,
        ) as lease:
            result = self._journaled_drill(target, spec, lease, stable, actor)
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

    def _journaled_drill(
        self, target: DeploymentTarget, spec: RollbackDrillCheck, lease: Lease, stable: float, actor: str
    ) -> CheckResult:
        """Restore unfinished drills, report this check's interrupted one, or drill (journaled)."""
        from release_gates.checks.drill_recovery import (
            TargetDrillJournal,
            interrupted_drill_result,
            interrupted_drills,
            recover_unfinished_drills,
        )
        from release_gates.checks.rollback_drill import RetryPolicy, run_rollback_drill
        from release_gates.deploy.target_journal import TargetJournal

        journal = TargetJournal(self.evidence_store, target.identity())
        recoveries = recover_unfinished_drills(
            target, journal, lease=lease, by=actor, stable_timeout=stable, actor=actor
        )
        for recovery in recoveries:
            self.log.warning("Unfinished drill %s on %s: %s", recovery["drill_id"], target.description,
                             recovery["outcome"])  # fmt: skip
        interrupted = interrupted_drills(
            journal, release_id=self.release_id, check_id=self.check_id, reported=self._reported()
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
            for record in _release_records(self.evidence_store, self.release_id)
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

        judged = _judged(self.evidence_store, self.release_id)
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

        judged = judged_from_evidence(_release_records(self.evidence_store, self.release_id))
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


# --------------------------------------------------------------------------------------------------
# Release actions
# --------------------------------------------------------------------------------------------------


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

        return _target(DeploymentTargetSpec.model_validate(self.target))

    def evidence_chain_id(self, context: Context) -> str:
        return self.release_id

    def _timeout(self) -> float:
        return _seconds(self.stable_timeout)

    def _lease(self, target: DeploymentTarget, context: Context, purpose: str) -> Any:
        """The target's lease for this task (a retry takes over its own try's lease)."""
        return _target_lease(
            self.evidence_store,
            target,
            f"{self.release_id}:{self.evidence_task_name}",
            purpose=purpose,
            release_id=self.release_id,
            ttl=max(900.0, 3 * self._timeout()),
            wait=_seconds(self.lease_wait),
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
    """

    template_fields: Sequence[str] = (*_DeploymentActionOperator.template_fields, "version")

    def __init__(self, *, version: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version = version

    def execute(self, context: Context) -> dict[str, Any]:
        target = self._deployment()
        # One change at a time: the identity re-check and the change happen under the target's lease.
        with self._lease(target, context, f"promotion to {self.version}"):
            return self._promote(target, context)

    def _promote(self, target: DeploymentTarget, context: Context) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from release_gates.deploy.actions import change_version

        store = self.evidence_store
        version = target.normalize_version(str(self.version))
        recheck = self._identity_recheck(target, version, store)
        if recheck is not None and recheck["refused"]:
            record = self._refusal(target, version, recheck)
            seq = self._append("promotion", record, context)
            self.log.error("%s (evidence %s #%d)", record["summary"], self.release_id, seq)
            raise AirflowFailException(f"{record['summary']} (evidence {self.release_id} #{seq})")
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

    def _identity_recheck(
        self, target: DeploymentTarget, version: str, store: EvidenceStore
    ) -> dict[str, Any] | None:
        """The gate's deployment identity results for this target, made again now; None when the
        release recorded none (the policy has no such check for this target)."""
        from release_gates.checks.deployment_identity import evaluate_deployment_identity, identity_changes
        from release_gates.deploy import TargetError
        from release_gates.deploy.identity import IdentitySettings
        from release_gates.inputs.deployment_identity import judged_from_evidence

        records = _release_records(store, self.release_id)
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
