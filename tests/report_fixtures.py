"""Recorded release trails for report and UI tests, written the way the release DAG writes them.

Check results come from the real engines (fairness) or are the engines' result type (drift, image
scan, rollback); gate decisions, remediation items, the final decision and the seal step's report
come from the provider's own functions. Two releases of one model: ``rel-1`` (released) and
``rel-2`` (held: the fairness criterion fails; the image scan fails and is waived by its owner).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from release_gates.checks.fairness import Cell, OutcomeCounts, evaluate_subgroup_fairness
from release_gates.evidence import EvidenceStore
from release_gates.gates import (
    HumanAnswer,
    HumanChoice,
    decide_gate,
    decision_ref,
    final_decision,
    fold,
    latest_results,
    remediation_items,
)
from release_gates.policy import ReleasePolicy, load_policy
from release_gates.reports.seal import record_release_report
from release_gates.results import CheckResult, Finding, Severity, Status

POLICY = """\
policy_version: 1
release: {model: credit-model, risk_tier: high}
owners:
  ethics_reviewer: {users: [aisha], email: ethics@example.org}
  data_steward: {users: [tomas]}
  security_engineer: {users: [li]}
  ops_oncall: {users: [marta]}
  release_manager: {users: [admin]}
remediation_sla: {critical: 24h, high: 3d, medium: 10d, low: 30d}
datasets:
  train: {uri: train.parquet, owner: data team, description: d, legal_basis: l}
  eval: {uri: eval.parquet, owner: data team, description: d, legal_basis: l, label: y, prediction: p}
gates:
  - id: ethics
    owner: ethics_reviewer
    title: Subgroup fairness
    rationale: Selection rates must not differ by group beyond the four-fifths rule.
    mitigations: [reweight, adjust the threshold]
    estimate: 4h
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        reference_group: {g: a}
        min_group_size: 30
        min_cell_size: 10
        criteria:
          - {metric: selection_rate, ratio_min: 0.8, rationale: Four-fifths rule., severity: HIGH}
  - id: data
    owner: data_steward
    rationale: Evaluation data must still look like the training data.
    estimate: 2h
    checks:
      - {kind: drift, reference: train, current: eval, drift_share: 0.5, severity: MEDIUM}
  - id: security
    owner: security_engineer
    rationale: No critical vulnerabilities may ship.
    mitigations: [rebuild with fixed packages]
    estimate: 1h
    checks:
      - kind: image_scan
        image: "{{ params.image }}"
        max_findings: {CRITICAL: 0, HIGH: 5}
        waivers:
          - id: CVE-2025-0002
            owner: security_engineer
            statement: Not reachable from the model server.
            expires: 2027-01-31
  - id: operations
    owner: ops_oncall
    rationale: A bad release must be reversible within 15 minutes.
    estimate: 30m
    checks:
      - kind: rollback_drill
        target: {type: lambda, name: scorer, alias: live}
        rto_budget: 15m
approvals:
  release: {roles: [ethics_reviewer, release_manager], timeout: 24h}
"""

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class RecordedReleases:
    store: EvidenceStore
    policy: ReleasePolicy
    policy_path: Path
    previous: str
    current: str
    report_dir: Path
    report_files: list[str]


def _fairness(policy: ReleasePolicy, rate_b: float) -> CheckResult:
    spec = policy.gate("ethics").checks[0]
    selected_a, selected_b = 500, round(400 * rate_b)
    cells = {
        ("a",): Cell(tp=selected_a // 2, fp=selected_a // 2, tn=250, fn=250),
        ("b",): Cell(
            tp=selected_b // 2,
            fp=selected_b - selected_b // 2,
            tn=(400 - selected_b) // 2,
            fn=400 - selected_b - (400 - selected_b) // 2,
        ),
        ("c",): Cell(tp=2, fp=1, tn=2, fn=1),  # six rows: suppressed as "<10" in the trail
    }
    counts = OutcomeCounts(features=("g",), cells=cells, source="test counts")
    return evaluate_subgroup_fairness(
        counts, spec, check_id="ethics.fairness", inputs={"eval": {"sha256": "e" * 64, "rows": 1406}}
    )


def _drift(drifted: bool) -> CheckResult:
    columns = {
        "income": {
            "score": 0.12 if drifted else 0.03,
            "threshold": 0.1,
            "method": "wasserstein",
            "method_kind": "distance",
            "drifted": drifted,
        },
        "age": {
            "score": 0.02,
            "threshold": 0.1,
            "method": "wasserstein",
            "method_kind": "distance",
            "drifted": False,
        },
    }
    findings = [Finding(id="unmatched_column:zip", severity=Severity.LOW, title="column 'zip' only in train")]
    if drifted:
        findings.append(
            Finding(id="drift:income", severity=Severity.MEDIUM, title="drift in column 'income'")
        )
    return CheckResult(
        check_id="data.drift",
        kind="drift",
        status=Status.WARN,
        summary=f"{int(drifted)} of 2 column(s) drifted",
        metrics={"columns": columns},
        findings=tuple(findings),
        started_at=T0,
        finished_at=T0,
    )


def _image_scan(critical: bool) -> CheckResult:
    findings = [
        Finding(id="CVE-2025-0003", severity=Severity.HIGH, title="openssl: fixed upstream"),
        Finding(id="CVE-2025-0004", severity=Severity.HIGH, title="zlib: fixed upstream"),
        Finding(
            id="CVE-2025-0002",
            severity=Severity.HIGH,
            title="libfoo: not reachable",
            waived_by="CVE-2025-0002",
            data={"waiver": {"expires": "2027-01-31", "owner": "security_engineer"}},
        ),
    ]
    if critical:
        findings.insert(
            0, Finding(id="CVE-2025-0001", severity=Severity.CRITICAL, title="libssl: remote code execution")
        )
    metrics = {
        "waivers_applied": [
            {"id": "CVE-2025-0002", "owner": "security_engineer", "expires": "2027-01-31", "findings": 1}
        ]
    }
    return CheckResult(
        check_id="security.image_scan",
        kind="image_scan",
        status=Status.FAIL if critical else Status.PASS,
        summary=f"{int(critical)} CRITICAL over the limit 0" if critical else "within policy",
        metrics=metrics,
        findings=tuple(findings),
        started_at=T0,
        finished_at=T0,
    )


def _rollback() -> CheckResult:
    return CheckResult(
        check_id="operations.rollback_drill",
        kind="rollback_drill",
        status=Status.PASS,
        summary="rolled back in 41 ms and forward again (budget 15m)",
        metrics={"rto_seconds": 0.041},
        started_at=T0,
        finished_at=T0,
    )


def record_release(
    store: EvidenceStore,
    policy: ReleasePolicy,
    policy_path: Path,
    release_id: str,
    *,
    version: str,
    failing: bool,
    now: datetime,
    report_dir: Path,
) -> list[str]:
    """One release through the same evidence steps the release DAG takes; returns the report files."""
    store.append(
        release_id,
        "release_started",
        {
            "model": policy.release.model,
            "risk_tier": policy.release.risk_tier,
            "policy": {"source": str(policy_path), "sha256": policy.sha256},
            "inputs": {
                "model_version": version,
                "model_sha256": version * 64,
                "image": f"img@sha256:{version * 64}",
            },
            "gates": [g.id for g in policy.gates],
            "checks": [cid for _, _, cid in policy.iter_checks()],
            "run_id": release_id.split("__", 1)[1],
            "triggered_by": "ci-bot",  # not an approver: the submitter never signs off their own release
        },
    )
    results = [
        _fairness(policy, 0.25 if failing else 0.48),
        _drift(failing),
        _image_scan(failing),
        _rollback(),
    ]
    for result in results:
        store.append(release_id, "check_result", result.to_dict(), actor=f"dag.{result.check_id}")
    recorded = latest_results(store.records(release_id))
    decided: dict[str, dict[str, Any]] = {}  # gate → the decision record a human answer names
    for gate in policy.gates:
        check_ids = [cid for g, _, cid in policy.iter_checks() if g.id == gate.id]
        verdict = decide_gate(gate.id, check_ids, recorded)
        decided[gate.id] = decision_ref(store.append(release_id, "gate_decision", verdict.to_payload()))
        if verdict.outcome.value == "remediate":
            for item in remediation_items(policy, gate, recorded, now=now):
                store.append(release_id, "remediation_item", item.to_payload())
    if failing:
        answers = [
            HumanAnswer(
                "ethics.decision",
                "ethics",
                HumanChoice.DELAY,
                "aisha",
                now.isoformat(),
                "Retrain with reweighting first.",
                True,
            ),
            HumanAnswer(
                "security.decision",
                "security",
                HumanChoice.WAIVE,
                "li",
                now.isoformat(),
                "Exploit needs local access; patched image next sprint.",
                True,
            ),
        ]
    else:
        # Group c is too small to decide on: the fairness check is inconclusive and its owner accepts it.
        answers = [
            HumanAnswer(
                "ethics.review",
                "ethics",
                HumanChoice.ACCEPT_RISK,
                "aisha",
                now.isoformat(),
                "Group c is tiny; monitored after release.",
                True,
            ),
        ] + [
            HumanAnswer(f"signoff.release_{role}", None, HumanChoice.APPROVE, user, now.isoformat(), "", True)
            for role, user in (("ethics_reviewer", "aisha"), ("release_manager", "admin"))
        ]
    for answer in answers:
        payload = answer.to_payload()
        if answer.gate_id:
            payload["answers_decision"] = decided[answer.gate_id]
        if answer.task_id.startswith("signoff."):
            payload["role"] = answer.task_id.removeprefix("signoff.release_")
        store.append(release_id, "human_decision", payload, actor=answer.user)
    if not failing:
        store.append(release_id, "promotion", {"status": "done", "target": None})
    state = fold(store.records(release_id))
    approvals = [f"signoff.release_{r}" for r in ("ethics_reviewer", "release_manager")]
    decision, reasons = final_decision(policy, state, approvals)
    summary = {
        "decision": decision.value,
        "reasons": reasons,
        "model": policy.release.model,
        "gates": state.gates,
        "checks": {c: r["status"] for c, r in latest_results(store.records(release_id)).items()},
    }
    files = record_release_report(
        store, release_id, policy_path=policy_path, pending_seal=summary, actor="dag.seal", out_dir=report_dir
    )
    store.append(release_id, "release_sealed", summary, actor="dag.seal")
    return files


def recorded_releases(tmp: Path, *, now: datetime | None = None) -> RecordedReleases:
    """``rel-1`` (released, version 1) then ``rel-2`` (held, version 2) of credit-model."""
    tmp.mkdir(parents=True, exist_ok=True)
    policy_path = tmp / "policy.yaml"
    policy_path.write_text(POLICY)
    policy = load_policy(policy_path)
    store = EvidenceStore(f"sqlite:///{tmp / 'evidence.db'}")
    record_release(
        store,
        policy,
        policy_path,
        "release_credit__rel-1",
        version="1",
        failing=False,
        now=(now or T0) - timedelta(days=7),
        report_dir=tmp / "report-1",
    )
    files = record_release(
        store,
        policy,
        policy_path,
        "release_credit__rel-2",
        version="2",
        failing=True,
        now=now or T0,
        report_dir=tmp / "report-2",
    )
    return RecordedReleases(
        store, policy, policy_path, "release_credit__rel-1", "release_credit__rel-2", tmp / "report-2", files
    )


def payloads(store: EvidenceStore, release_id: str, kind: str) -> list[dict[str, Any]]:
    return [r.payload for r in store.records(release_id, kind=kind)]
