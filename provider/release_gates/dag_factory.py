"""``build_release_dag(policy_path)``: the release policy as an Airflow DAG.

::

    start ─► score (with a policy candidate: the pinned model scores the evaluation data)
          ─► per gate (TaskGroup): checks in parallel ─► decide (branch, ALL_DONE)
               (a documents check runs after its owners' review steps: release_gates.operators.documents)
               ├─ passed
               ├─ remediate (items + notices) ─► decision (HITL: delay / waive / abort) ─► record
               ├─ review (HITL: accept risk / remediate) ─► record, or ─► remediate
               └─ blocked (a check errored or has no result: never passes)
    all gates ─► release_decision ─► sign-off (one ApprovalOperator per approval role; timeout = reject)
              ─► signoff_check ─► promote (set version, wait stable, smoke check) ─► rollback if it fails
                 (with deployment.canary: canary steps before promote, each shift → wait → judge,
                  FAIL → canary rollback, undecided → a human; release_gates.operators.canary)
              └─► hold
    seal (ALL_DONE): final decision from evidence, chain closed and verified

Adding a gate or a check to the policy changes the DAG; no code. The policy is read at parse time
(cheap: YAML + validation) and again by each task at run time, so an edited policy is picked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, TaskGroup

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID
from release_gates.gates import MIN_RATIONALE
from release_gates.inputs.overrides import OVERRIDES_SCHEMA
from release_gates.operators.base import DEFAULT_RELEASE_ID
from release_gates.policy import load_policy
from release_gates.pools import target_pool_name

if TYPE_CHECKING:
    from release_gates.operators.base import BaseCheckOperator
    from release_gates.policy import Gate, ReleasePolicy


DECISION_OPTIONS = {"Delay release": "delay", "Release with waiver": "waive", "Abort release": "abort"}
REVIEW_OPTIONS = {"Accept risk": "accept_risk", "Remediate": "remediate"}


def release_params(policy: ReleasePolicy | None = None) -> dict[str, Param]:
    """Trigger parameters with a JSON schema: an invalid trigger is refused before anything runs.

    With ``policy``, a parameter its ``{{ params.… }}`` templates never read is optional: a policy
    with no image scan does not make every trigger invent an image.
    """
    used = referenced_params(policy) if policy is not None else None

    def needed(name: str) -> bool:
        # An asset-triggered release takes its model from the registry event (operators.release_trigger).
        if policy is not None and policy.release.trigger is not None and name.startswith("model_"):
            return False
        return used is None or name in used

    return {
        "model_version": Param(
            "",
            type="string",
            minLength=1 if needed("model_version") else 0,
            maxLength=200,
            description="Version to release (e.g. a registry version).",
        ),
        "model_uri": Param(
            "",
            type="string",
            minLength=1 if needed("model_uri") else 0,
            description="Candidate model artifact (skops or ONNX file path or URI).",
        ),
        "model_sha256": Param(
            "",
            type="string",
            pattern="^[0-9a-f]{64}$" if needed("model_sha256") else "^([0-9a-f]{64})?$",
            description="sha256 of the candidate model artifact.",
        ),
        "image": Param(
            "",
            type="string",
            minLength=1 if needed("image") else 0,
            description="Serving image: reference, or tarball path for scans.",
        ),
        "datasets": Param(
            {},
            **OVERRIDES_SCHEMA,
            description=(
                "Dataset overrides: policy dataset name → {uri, sha256} (or → uri for a dataset the "
                "policy does not pin); only where the dataset's 'overrides' allow-list permits."
            ),
        ),
    }


def referenced_params(policy: ReleasePolicy) -> set[str]:
    """The trigger parameters the policy's templates read (``{{ params.image }}`` → ``image``)."""
    import re

    return set(re.findall(r"params\.([A-Za-z_][A-Za-z0-9_]*)", policy.model_dump_json()))


def _operator_class(kind: str) -> type[BaseCheckOperator]:
    """The operator the check-kind registry names for ``kind``, imported when the DAG is built."""
    from release_gates.kinds import check_kind, load_dotted

    cls: type[BaseCheckOperator] = load_dotted(check_kind(kind).operator)
    return cls


def _users(policy: ReleasePolicy, role: str) -> list[dict[str, str]]:
    return [{"id": user, "name": user} for user in policy.users_of(role)]


def build_release_dag(
    policy_path: str | Path,
    *,
    dag_id: str | None = None,
    schedule: Any = None,
    start_date: datetime | None = None,
    evidence_conn_id: str = DEFAULT_EVIDENCE_CONN_ID,
    tags: Sequence[str] = ("release-gates",),
    default_args: dict[str, Any] | None = None,
    remediation_deadline: bool = False,
    **dag_kwargs: Any,
) -> DAG:
    """Build the release DAG for the policy at ``policy_path`` (see the module docstring).

    ``remediation_deadline``: give the DAG an Airflow deadline alert (release_gates.release_deadline);
    off by default because Airflow 3.3's ``dag.test()`` cannot finish a run of a DAG that has one.
    """
    path = str(Path(policy_path).resolve())
    policy = load_policy(path)
    dag_id = dag_id or f"release_{policy.release.model.replace('-', '_')}"
    common = {"policy_path": path, "release_id": DEFAULT_RELEASE_ID, "evidence_conn_id": evidence_conn_id}
    doc = (
        f"### Release of `{policy.release.model}` (risk tier {policy.release.risk_tier})\n\n"
        f"Built from `{policy_path}` (sha256 `{policy.sha256[:12]}…`). Gates: "
        + ", ".join(f"**{g.id}** (owner: {g.owner})" for g in policy.gates)
        + ". Every step is recorded in the evidence trail: "
        "`release-gates evidence verify <dag_id>__<run_id>`."
    )
    if remediation_deadline:  # a run still open past the first remediation due date alerts its owners
        from release_gates.release_deadline import release_deadline

        dag_kwargs["deadline"] = release_deadline(policy, path, evidence_conn_id=evidence_conn_id)
    with DAG(
        dag_id=dag_id,
        # A policy's release.trigger schedules the release on its registry Asset (else manual only).
        schedule=schedule if schedule is not None or policy.release.trigger is None else _trigger(policy),
        start_date=start_date,
        catchup=False,
        params=release_params(policy),
        render_template_as_native_obj=True,
        tags=list(tags),
        doc_md=doc,
        default_args={"retries": 1, **(default_args or {})},
        max_active_runs=dag_kwargs.pop("max_active_runs", 4),
        **dag_kwargs,
    ) as dag:
        from airflow.providers.standard.operators.empty import EmptyOperator

        from release_gates.operators.release import (
            ReleaseDecisionOperator,
            SealReleaseOperator,
            StartReleaseOperator,
        )

        start = StartReleaseOperator(
            task_id="start",
            release_inputs={
                "model_version": "{{ params.model_version }}",
                "model_uri": "{{ params.model_uri }}",
                "model_sha256": "{{ params.model_sha256 }}",
                "image": "{{ params.image }}",
                "datasets": "{{ params.datasets }}",
            },
            retries=0,
            **common,
        )
        # With a candidate, the checks run after it scored the evaluation data (see _score_step).
        upstream = _score_step(policy, start, common)
        gate_ends = [_gate_group(policy, gate, upstream, common) for gate in policy.gates]
        _order_result_readers(dag, policy)

        approval_tasks, signoff_entry, signoff_check = _signoff(policy, common)
        promote, rollback = _promotion(policy, common)
        entry, canary_ends = _canary(policy, common, promote)
        hold = EmptyOperator(task_id="hold", trigger_rule="none_failed_min_one_success")
        decision = ReleaseDecisionOperator(
            task_id="release_decision",
            proceed=signoff_entry or [entry.task_id],
            hold=hold.task_id,
            **common,
        )
        for ends in gate_ends:
            ends >> decision
        if approval_tasks:
            decision >> [dag.get_task(t) for t in signoff_entry]
            signoff_check >> [entry, hold]
        else:
            decision >> entry
        decision >> hold
        promote >> rollback
        seal = SealReleaseOperator(task_id="seal", approval_tasks=approval_tasks, retries=2, **common)
        [hold, promote, rollback, *canary_ends] >> seal
    return dag


def _trigger(policy: ReleasePolicy) -> list[Any]:
    from airflow.sdk import Asset

    assert policy.release.trigger is not None
    return [Asset(policy.release.trigger.asset)]


def _score_step(policy: ReleasePolicy, start: Any, common: dict[str, Any]) -> list[Any]:
    """``start`` ─► ``score`` when the policy has a candidate to score with; the checks' upstream.

    The checks wait for the score step but run whatever its outcome (``all_done_min_one_success``
    over start and score: start must have succeeded). A failed score step leaves an ERROR
    ``model_scored`` record, so a check judging scored data ends as ERROR and blocks its gate, while
    the checks that need no scores still decide their gates.
    """
    if policy.candidate is None or policy.scoring is None:
        return [start]
    from release_gates.operators.scoring import ScoreCandidateOperator

    score = ScoreCandidateOperator(
        task_id="score",
        dataset_overrides="{{ params.datasets }}",
        doc_md="The pinned candidate scores the evaluation data; checks judge its own predictions.",
        **common,
    )
    start >> score
    return [start, score]


def _gate_group(policy: ReleasePolicy, gate: Gate, upstream: list[Any], common: dict[str, Any]) -> list[Any]:
    """One TaskGroup per gate; returns its terminal tasks."""
    from airflow.providers.standard.operators.empty import EmptyOperator

    from release_gates.operators.hitl import RecordedHITLBranchOperator
    from release_gates.operators.release import (
        GateBranchOperator,
        RecordHumanDecisionOperator,
        RemediationOperator,
    )
    from release_gates.ui.links import ReleaseReportLink

    owners = ", ".join(policy.users_of(gate.owner))
    with TaskGroup(group_id=gate.id, tooltip=gate.title or gate.rationale) as group:
        checks = []
        check_ids = []
        reviewed: list[tuple[Any, Any]] = []  # (a documents check's review steps, the check)
        # After a score step: run once start succeeded, whatever scoring did (see _score_step).
        trigger: dict[str, Any] = {"trigger_rule": "all_done_min_one_success"} if len(upstream) > 1 else {}
        for _, check, check_id in policy.iter_checks():
            if not check_id.startswith(f"{gate.id}."):
                continue
            operator = _operator_class(check.kind)
            # Operators that know their datasets (lineage, drift) declare them as inlets.
            build: Any = getattr(operator, "from_policy", None)
            # A drill changes its target: it queues in the target's one-slot pool (release_gates.pools).
            pool: dict[str, Any] = (
                {"pool": target_pool_name(check.target)} if check.kind == "rollback_drill" else {}
            )
            # A documents check waits for its owners' review steps, which may be skipped (see there).
            rule = {"trigger_rule": "all_done_min_one_success"} if check.kind == "documents" else trigger
            checks.append(
                (build or operator)(
                    **({"policy": policy} if build else {"policy_path": common["policy_path"]}),
                    task_id=check.check_name,
                    check_id=check_id,
                    release_id=common["release_id"],
                    evidence_conn_id=common["evidence_conn_id"],
                    dataset_overrides="{{ params.datasets }}",
                    doc_md=f"**{check_id}** ({check.kind}), owner `{gate.owner}` ({owners}).",
                    **rule,
                    **pool,
                )
            )
            check_ids.append(check_id)
            if check.kind == "documents":
                from release_gates.operators.documents import document_review_steps

                reviewed.append((document_review_steps(policy, check, check_id, common), checks[-1]))
        prefix = f"{gate.id}."
        branches = {o: prefix + o for o in ("passed", "remediate", "review", "blocked")}
        decide = GateBranchOperator(
            task_id="decide", gate_id=gate.id, check_ids=check_ids, branches=branches, **common
        )
        # "Release report" on the gate task: opens this run's Release gates tab.
        decide.operator_extra_links = (ReleaseReportLink(),)
        passed = EmptyOperator(task_id="passed")
        blocked = EmptyOperator(task_id="blocked")
        remediate = RemediationOperator(task_id="remediate", gate_id=gate.id, **common)
        # The form enforces what the recorder requires (gates.MIN_RATIONALE), so nobody can submit an
        # answer that would be recorded as "not accepted"; an answer sent past the form fails the step.
        # null while the step waits (Airflow validates a task's params when it starts); any text a
        # person types must be long enough, and an empty answer is recorded as not accepted (red).
        rationale = {
            "rationale": Param(
                None,
                type=["null", "string"],
                minLength=MIN_RATIONALE,
                title="Rationale",
                description=f"Why — at least {MIN_RATIONALE} characters; recorded with your name.",
            )
        }
        decision = RecordedHITLBranchOperator(
            task_id="decision",
            subject=f"{policy.release.model}: gate '{gate.id}' failed — decide",
            body=(
                f"**Gate:** {gate.title or gate.id}  \n**Why it exists:** {gate.rationale}  \n"
                f"**Suggested mitigations:** {', '.join(gate.mitigations) or '—'}  \n\n"
                "The remediation items and their deadlines are in the task log of `remediate` and in the "
                "Release gates tab. A waiver needs a rationale; it is recorded with your name."
            ),
            options=list(DECISION_OPTIONS),
            options_mapping={o: prefix + t for o, t in DECISION_OPTIONS.items()},
            defaults=["Delay release"],
            params=rationale,
            assigned_users=_users(policy, gate.owner),
            response_timeout=gate.decision_timeout,
            asked_about_task_id=decide.task_id,
        )
        review = RecordedHITLBranchOperator(
            task_id="review",
            subject=f"{policy.release.model}: gate '{gate.id}' is inconclusive — review",
            body=(
                f"**Gate:** {gate.title or gate.id}  \nThe evidence is not enough to decide (small groups, "
                "undefined rates, or an interval straddling the threshold). Accept the risk with a "
                "rationale, "
                "or send it to remediation."
            ),
            options=list(REVIEW_OPTIONS),
            options_mapping={o: prefix + t for o, t in REVIEW_OPTIONS.items()},
            defaults=["Remediate"],
            params=dict(rationale),
            assigned_users=_users(policy, gate.owner),
            response_timeout=gate.decision_timeout,
            asked_about_task_id=decide.task_id,
        )
        recorders = {
            choice: RecordHumanDecisionOperator(
                task_id=choice,
                hitl_task_id=source.task_id,
                gate_id=gate.id,
                options=options,
                allowed_role=gate.owner,
                **common,
            )
            for source, options in ((decision, DECISION_OPTIONS), (review, REVIEW_OPTIONS))
            for choice in options.values()
            if choice != "remediate"
        }
        for task in upstream:
            task >> checks
        for (asks, recorder), check_task in reviewed:
            upstream[0] >> asks  # the release's start: a review needs no scores
            recorder >> check_task
        checks >> decide >> [passed, remediate, review, blocked]
        review >> [recorders["accept_risk"], remediate]
        remediate >> decision >> [recorders["delay"], recorders["waive"], recorders["abort"]]
    del group
    return [passed, blocked, *recorders.values()]


def _order_result_readers(dag: DAG, policy: ReleasePolicy) -> None:
    """A check that reads other checks' results runs after them, across gates: deployment identity
    and ops readiness compare against the digest the image scan identified, so they wait for it.

    The operator declares what it reads (``reads_results_of``, kinds); gates otherwise run side by side.
    """
    by_kind: dict[str, list[Any]] = {}
    for gate, check, _ in policy.iter_checks():
        by_kind.setdefault(check.kind, []).append(dag.get_task(f"{gate.id}.{check.check_name}"))
    for gate, check, _ in policy.iter_checks():
        reader = dag.get_task(f"{gate.id}.{check.check_name}")
        for kind in getattr(_operator_class(check.kind), "reads_results_of", ()):
            for producer in by_kind.get(kind, []):
                producer >> reader


def _signoff(policy: ReleasePolicy, common: dict[str, Any]) -> tuple[list[str], list[str], Any]:
    """One ApprovalOperator per approval role, each answered by another person; no answer in time = Reject."""
    if not policy.approvals:
        return [], [], None
    from airflow.providers.standard.operators.empty import EmptyOperator

    from release_gates.operators.hitl import RecordedApprovalOperator
    from release_gates.operators.release import SignoffCheckOperator

    approvals: dict[str, str] = {}
    approval_names: dict[str, str] = {}
    entries: list[str] = []
    markers = []
    with TaskGroup(group_id="signoff", tooltip="Named humans approve the release"):
        for name, approval in policy.approvals.items():
            for role in approval.roles:
                ask = RecordedApprovalOperator(
                    task_id=f"{name}_{role}",
                    subject=f"Approve the {policy.release.model} release? ({role.replace('_', ' ')})",
                    body=(
                        f"All gates of **{policy.release.model}** cleared. {approval.description}  \n"
                        "Review the Release gates tab of this run before you answer. "
                        f"No answer within {approval.timeout} counts as **Reject**."
                    ),
                    defaults=["Reject"],
                    assigned_users=_users(policy, role),
                    response_timeout=approval.timeout,
                )
                # A rejection skips the approval's direct downstream: this marker absorbs that,
                # so the check below still runs and records the refusal.
                marker = EmptyOperator(task_id=f"{name}_{role}_answered")
                ask >> marker
                markers.append(marker)
                approvals[ask.task_id] = role
                approval_names[ask.task_id] = name
                entries.append(ask.task_id)
        check = SignoffCheckOperator(
            task_id="check",
            approvals=approvals,
            approval_names=approval_names,
            promote=_promotion_entry(policy),
            hold="hold",
            **common,
        )
        markers >> check
    return list(approvals), entries, check


def _promotion_entry(policy: ReleasePolicy) -> str:
    """The first task of the promotion: the canary's first step when the policy has one."""
    return "canary.step_1" if policy.deployment is not None and policy.deployment.canary else "promote"


def _canary(policy: ReleasePolicy, common: dict[str, Any], promote: Any) -> tuple[Any, list[Any]]:
    """With ``deployment.canary``: its steps before ``promote`` (release_gates.operators.canary);
    returns the promotion's entry task and the tasks the seal waits for besides promote and rollback."""
    if policy.deployment is None or policy.deployment.canary is None:
        return promote, []
    from release_gates.operators.canary import canary_steps

    entry, rollback = canary_steps(policy, common, promote)
    return entry, [rollback]


def _promotion(policy: ReleasePolicy, common: dict[str, Any]) -> tuple[Any, Any]:
    from airflow.providers.standard.operators.empty import EmptyOperator

    if policy.deployment is None:
        from release_gates.operators.release import ManualPromotionOperator

        return (
            ManualPromotionOperator(task_id="promote", **common),
            EmptyOperator(task_id="rollback", trigger_rule="one_failed"),
        )
    from release_gates.operators.deployment import PromoteModelOperator, RollbackOperator

    target = policy.deployment.target.model_dump(mode="json", exclude_none=True)
    kwargs = {
        "release_id": common["release_id"],
        "evidence_conn_id": common["evidence_conn_id"],
        # Promotion and rollback change the target: they queue in its one-slot pool with its drills.
        "pool": target_pool_name(policy.deployment.target),
    }
    timeout = int(policy.deployment.stable_timeout.total_seconds())
    registry = policy.deployment.registry
    promote = PromoteModelOperator(
        task_id="promote", target=target, version=policy.deployment.version, stable_timeout=timeout,
        registry=registry.model_dump(mode="json", exclude_none=True) if registry else None, **kwargs,
    )  # fmt: skip
    if policy.deployment.promoted_asset:  # an event per promotion, e.g. for monitoring to follow
        from airflow.sdk import Asset

        promote.outlets = [Asset(policy.deployment.promoted_asset)]
    return promote, RollbackOperator(
        task_id="rollback",
        target=target,
        reason="smoke check failed after promotion",
        stable_timeout=timeout,
        trigger_rule="one_failed",
        **kwargs,
    )
