"""Shadow rollback drill: the rollback mechanics proved on a stand-in that serves no live traffic.

The live target is only read (its version, its history, whether the previous version exists). Then,
per platform:

=============  ==============================================================================
lambda         a temporary alias ``rg-drill-<id>`` on the same function
s3_pointer     a drill pointer object ``<key>.rg-drill-<id>`` next to the live pointer
ecs            a drill service ``<service>-rg-drill-<id>`` in the same cluster, from the live
               service's task definitions, one task, no load balancer (``ecs_drill_service:
               false``: the live service's deployment circuit breaker is verified instead)
sagemaker      no stand-in (an endpoint takes minutes and costs instances): the previous endpoint
               config and its models are validated with describe calls; ``mode: live`` with a
               window measures the RTO on the endpoint itself
=============  ==============================================================================

A stand-in is created serving the live version, rolled back to the previous version (the RTO is
measured there: ``metrics.measured_on`` is ``standin``), restored, and removed — the removal runs
whatever happened before it. With a journal, the intent (``drill_started`` with ``mode: shadow``
and ``standin``) is recorded *before* the stand-in is created and ``drill_finished`` says whether it
was removed, so a stand-in left by a killed drill is found and removed by the next try
(:mod:`release_gates.checks.drill_recovery`). ``metrics.standin`` lists what was created and removed.

This module imports no Airflow.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from release_gates.checks.drill_engine import Drill, DrillJournal, DrillSteps, StepFailedError
from release_gates.checks.drill_verdict import drill_result
from release_gates.results import CheckResult, Finding, Severity, Status

if TYPE_CHECKING:
    from release_gates.deploy import DeploymentTarget
    from release_gates.policy import RollbackDrillCheck


def new_drill_id() -> str:
    return uuid.uuid4().hex[:10]


class _Shadow:
    def __init__(
        self,
        live: DeploymentTarget,
        spec: RollbackDrillCheck,
        steps: DrillSteps,
        journal: DrillJournal | None,
        new_id: Callable[[], str],
    ) -> None:
        self.live = live
        self.spec = spec
        self.steps = steps
        self.journal = journal
        self.new_id = new_id
        self.drill = Drill(live, spec, steps, steps.clock, journal=None)
        self.standin: dict[str, Any] = {"kind": live.standin_kind, "name": None, "created": False,
                                        "removed": None}  # fmt: skip
        self.measured_on: str | None = None
        self.facts: dict[str, Any] | None = None

    def run(self) -> None:
        drill = self.drill
        try:
            ready = drill.prepare()
        except StepFailedError as exc:
            drill.error = exc
            return
        if not ready:
            return
        if self.live.type == "sagemaker":
            self._validate_only()
        elif self.live.type == "ecs" and not self.spec.ecs_drill_service:
            self._circuit_breaker()
        elif self.live.standin_kind is None:
            drill.inconclusive = (
                f"{self.live.description}: this target type has no stand-in for a shadow drill; use "
                "mode: live with a window to drill it; nothing changed"
            )
        else:
            self._on_standin()

    # -- without a stand-in -------------------------------------------------------------------------

    def _validate_only(self) -> None:
        live, drill, previous = self.live, self.drill, self.drill.previous
        assert previous is not None
        self.measured_on = "validation"
        validate = getattr(live, "validate_version")  # noqa: B009 - SageMaker's own read-only check
        try:
            self.facts = self.steps.run(
                "validate_previous", lambda: validate(previous), phase="prepare", describe=dict
            )
        except StepFailedError as exc:
            drill.error = exc
            return
        if self.facts["problems"]:
            drill._fail(
                "previous_version_not_deployable",
                f"The rollback config {previous} of {live.description} could not be deployed",
                "; ".join(self.facts["problems"]) + ".",
                version=previous,
            )

    def _circuit_breaker(self) -> None:
        live, drill = self.live, self.drill
        self.measured_on = "circuit_breaker"
        breaker = getattr(live, "circuit_breaker")  # noqa: B009 - ECS's own automatic rollback
        try:
            self.facts = self.steps.run("verify_circuit_breaker", breaker, phase="prepare", describe=dict)
        except StepFailedError as exc:
            drill.error = exc
            return
        if not (self.facts["enable"] and self.facts["rollback"]):
            drill._fail(
                "circuit_breaker_off",
                f"{live.description} has no deployment circuit breaker with rollback",
                "Without a drill service (ecs_drill_service: false) the rollback is left to ECS: enable "
                "deploymentCircuitBreaker with rollback on the service, or allow a drill service.",
                **self.facts,
            )

    # -- on a stand-in ------------------------------------------------------------------------------

    def _on_standin(self) -> None:
        live, drill, steps = self.live, self.drill, self.steps
        original, previous = drill.original, drill.previous
        assert original is not None and previous is not None
        self.measured_on = "standin"
        name = live.standin_name(self.new_id())
        self.standin.update(name=name, target=live.standin(name).identity())
        journal = self.journal
        if journal is not None:
            # Intent first: a process killed after creating the stand-in leaves a record to find it by.
            record = {"name": name, "kind": live.standin_kind, "target": self.standin["target"]}
            try:
                steps.run(
                    "record_intent",
                    lambda: journal.drill_started(original, previous, standin=record),
                    phase="standin",
                    attempts=1,
                )
            except StepFailedError as exc:
                drill.error = exc
                return
        try:
            standin = steps.run(
                "create_standin", lambda: live.create_standin(name, original), phase="standin"
            )
            self.standin["created"] = True
            steps.run(
                "wait_stable_standin",
                lambda: standin.wait_stable(drill.stable_timeout, version=original),
                phase="standin",
            )
        except StepFailedError as exc:
            drill.error = exc
        else:
            drill.run_on(standin)
        finally:
            self._remove(name)

    def _remove(self, name: str) -> None:
        try:
            existed = self.steps.run(
                "remove_standin",
                lambda: self.live.remove_standin(name),
                phase="cleanup",
                attempts=self.steps.retry.restore_attempts,
            )
        except StepFailedError as exc:
            self.standin.update(removed=False, remove_error=str(exc.error))
        else:
            self.standin.update(removed=True, existed=existed)
        if self.journal is None:
            return
        end = {"name": name, "removed": self.standin["removed"]}
        try:
            self.journal.drill_finished(self.drill.restore or {"restored": False}, standin=end)
        except Exception as exc:  # the next try finds the drill unfinished and removes the stand-in
            self.drill.journal_error = f"{type(exc).__name__}: {exc}"


def run_shadow_drill(
    live: DeploymentTarget,
    spec: RollbackDrillCheck,
    *,
    steps: DrillSteps,
    check_id: str,
    inputs: Mapping[str, Any] | None,
    journal: DrillJournal | None,
    started_at: Any,
    started: float,
    new_id: Callable[[], str] = new_drill_id,
) -> CheckResult:
    """The shadow drill of ``spec`` for the live target ``live`` (see the module docstring)."""
    shadow = _Shadow(live, spec, steps, journal, new_id)
    shadow.run()
    drill = shadow.drill
    drill.target = live  # the result describes the live target; the stand-in is in metrics.standin
    result = drill_result(
        drill, check_id=check_id, inputs=inputs, started_at=started_at, seconds=steps.clock() - started
    )
    return _shadow_result(shadow, result)


def _shadow_result(shadow: _Shadow, result: CheckResult) -> CheckResult:
    drill, live, standin = shadow.drill, shadow.live, shadow.standin
    status, summary, findings = result.status, result.summary, list(result.findings)
    what = live.description
    if standin["name"] is not None:
        where = f"the stand-in {standin['kind']} {standin['name']}"
        # A stand-in that could not be restored is removed anyway: live was never at risk, but the
        # roll-forward mechanics did not work — that is the finding, not a by-hand repair of live.
        for index, finding in enumerate(findings):
            if finding.id == "restore_failed":
                findings[index] = Finding(
                    id="standin_restore_failed",
                    severity=Severity.HIGH,
                    title=f"Rolling {where} forward to {drill.original} failed",
                    detail=finding.detail.replace(
                        "Set it back to", "A real rollback would need setting back to"
                    ),
                    location=what,
                    data=finding.data,
                )
        summary = (
            summary.replace("RESTORE FAILED: ", "")
            .replace(f"rolled {what} back", f"rolled {where} back")
            .replace(f"rollback drill on {what}", f"rollback drill on {where}")
        )
        if standin["removed"] is False:
            status = Status.ERROR
            findings.insert(
                0,
                Finding(
                    id="standin_not_removed",
                    severity=Severity.HIGH,
                    title=f"{where} could not be removed",
                    detail=f"{standin.get('remove_error')}. It serves no live traffic; the next try "
                    "of this drill finds it in the target's journal and removes it.",
                    location=what,
                    data={"standin": standin["name"]},
                ),
            )
        created = "created and removed" if standin["removed"] else "created, NOT removed"
        summary = (
            f"shadow drill: {summary} (RTO measured on the stand-in; {what} only read; stand-in {created})"
        )
    elif shadow.measured_on in ("validation", "circuit_breaker") and status in (Status.PASS, Status.WARN):
        if shadow.measured_on == "validation":
            done = (
                f"the previous endpoint config {drill.previous} and its models are in place "
                f"(describe calls); {what} only read"
            )
            why = "no stand-in endpoint is created; mode: live with a window measures the RTO"
        else:
            done = f"{what} rolls back on its own (deployment circuit breaker with rollback); only read"
            why = "no drill service (ecs_drill_service: false)"
        summary = f"shadow rollback drill: {done}; RTO not measured"
        findings.append(
            Finding(
                id="rto_not_measured",
                severity=Severity.LOW,
                title=f"The recovery time of {what} was not measured",
                detail=f"Shadow mode on this target validates the rollback without a stand-in: {why}.",
                location=what,
            )
        )
    elif status is not Status.PASS:
        summary = f"shadow drill: {summary}"
    metrics = {
        **result.metrics,
        "mode": "shadow",
        "measured_on": shadow.measured_on if drill.rto is not None or shadow.facts is not None else None,
        "changed": False,  # the live target is only read
        "standin_changed": drill.change_attempted,
        "standin": standin,
        "validation": shadow.facts,
    }
    return result.model_copy(update={"status": status, "summary": summary, "findings": tuple(findings),
                                     "metrics": metrics})  # fmt: skip
