"""Registry alias watch: the version an MLflow alias serves must be one a sealed release promoted.

An alias moved by hand (``set_registered_model_alias`` outside the release DAG) puts a version live
that no gate judged. Every monitoring window reads the alias and compares it with the versions
promoted to that alias by releases that ended ``released`` (their ``promotion`` records, read
through :func:`release_gates.monitoring.history.load_history`) and the versions monitoring itself
rolled back to. Anything else is a FAIL with a CRITICAL finding, and the incident it opens is
always P1 (:func:`alias_priority`), whatever the priority rules say: the gates were bypassed.
A registry that cannot be read is an ERROR (monitoring is blind), never a PASS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.deploy.targets import DeploymentTarget
    from release_gates.monitoring.priority import Verdict
    from release_gates.policy.monitoring_plan import MonitoredCheck

CHECK_ID = "monitor.registry_alias"
KIND = "registry_alias"


def alias_check(owner_role: str | None) -> MonitoredCheck:
    from release_gates.policy.monitoring_plan import MonitoredCheck

    return MonitoredCheck(
        name="registry_alias",
        check_id=CHECK_ID,
        kind=KIND,
        gate_id=None,
        owner_role=owner_role,
        severity=Severity.CRITICAL,
        spec=None,
    )


def evaluate_alias(target: DeploymentTarget, released: Iterable[str], *, known_from: str) -> CheckResult:
    """PASS when the alias serves a released version; FAIL (CRITICAL) otherwise; ERROR when unreadable."""
    from release_gates.deploy import TargetError

    started = utcnow()
    allowed = sorted(set(released), key=lambda v: (len(v), v))
    facts: dict[str, Any] = {
        "target": target.identity(),
        "released_versions": allowed,
        "known_from": known_from,
    }
    try:
        serving = target.current_version()
    except TargetError as exc:
        return CheckResult.error(
            check_id=CHECK_ID,
            kind=KIND,
            message=f"cannot read {target.description}: {exc.message}",
            started_at=started,
            metrics=facts,
        )
    facts["serving"] = serving
    if serving in allowed:
        return CheckResult(
            check_id=CHECK_ID,
            kind=KIND,
            status=Status.PASS,
            summary=f"{target.description} serves version {serving}, promoted by a sealed release",
            metrics=facts,
            started_at=started,
            finished_at=utcnow(),
        )
    finding = Finding(
        id="alias_outside_gates",
        severity=Severity.CRITICAL,
        title=f"{target.description} serves version {serving}, which no sealed release promoted",
        detail="The alias was moved outside the release gates: release the version through the release DAG, "
        "or move the alias back to a released version ("
        + (", ".join(allowed) if allowed else "none is recorded")
        + ").",
        location=f"models:/{target.identity().get('name')}@{target.identity().get('alias')}",
    )
    return CheckResult(
        check_id=CHECK_ID,
        kind=KIND,
        status=Status.FAIL,
        summary=finding.title,
        metrics=facts,
        findings=(finding,),
        started_at=started,
        finished_at=utcnow(),
    )


def alias_priority(verdict: Verdict) -> Verdict:
    """A breach of the alias watch is always P1 (a change outside the gates); other verdicts unchanged."""
    if verdict.kind != KIND or verdict.priority is None:
        return verdict
    return dataclasses.replace(verdict, priority="P1")


def watched_results(run: Any) -> list[tuple[MonitoredCheck, CheckResult]]:
    """The alias watch of the monitoring run ``run`` (policy, plan, store, state): one result when the
    policy deploys to an ``mlflow_alias`` target, none otherwise."""
    deployment = run.policy.deployment
    if deployment is None or deployment.target.type != "mlflow_alias":
        return []
    from release_gates.monitoring.history import load_history
    from release_gates.monitoring.rollback import released_versions
    from release_gates.operators.aws import deployment_target

    check = alias_check(run.plan.monitoring.owner)
    try:
        target = deployment_target(deployment.target)
    except Exception as exc:  # no registry configured or reachable: blind, never a pass
        message = f"cannot reach the registry: {type(exc).__name__}: {exc}"
        return [(check, CheckResult.error(check_id=CHECK_ID, kind=KIND, message=message))]
    history = load_history(run.store, model=run.plan.model, monitoring=False)
    released = {v.version for v in released_versions(history.releases, target.identity())}
    rolled_back = {
        str(r["to_version"])
        for r in run.state().rollbacks
        if r.get("status") == "done" and r.get("to_version") and r.get("target") == target.identity()
    }
    source = "promotion records of sealed releases" + (" and monitoring rollbacks" if rolled_back else "")
    return [(check, evaluate_alias(target, released | rolled_back, known_from=source))]
