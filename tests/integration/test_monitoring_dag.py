"""The monitoring DAG run for real with dag.test(), one run per daily window of HMDA traffic.

Ten windows: the applicant population shifts from window 6 on, and the live model version (3)
wrongs Black applicants from window 7 on. The policy rolls back on a P1 fairness breach in two
consecutive windows; the AWS target is a Lambda alias on the moto server.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from release_gates.evidence import EvidenceStore
from release_gates.monitoring import build_monitoring_dag
from release_gates.monitoring.incidents import Incident, fold_monitoring
from release_gates.monitoring.plan import monitor_chain_id
from release_gates_testing.airflow import migrate_airflow_db, sync_dag
from tests.integration.aws_test_support import alias_version, make_lambda
from tests.integration.monitoring_sim import LOGGED, SENSITIVE, HmdaTraffic, write_partition

pytestmark = pytest.mark.integration

MODEL = "mortgage-approval"
CHAIN = monitor_chain_id(MODEL)
DAY0 = datetime(2025, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
FEATURES = [c for c in LOGGED if c not in (*SENSITIVE, "approved", "pred", "score")]

POLICY = """\
policy_version: 1
release: {{model: {model}, risk_tier: low}}
owners:
  ethics_reviewer: {{users: [aisha], email: ethics@example.org}}
  data_steward: {{users: [tomas]}}
  security_engineer: {{users: [li]}}
  ops_oncall: {{users: [marta]}}
  release_manager: {{users: [admin]}}
datasets:
  train: {{uri: train.parquet, label: approved}}
  eval: {{uri: eval.parquet, label: approved, prediction: pred, score: score, label_values: [0, 1]}}
gates:
  - id: data
    owner: data_steward
    rationale: Production applicants must still look like the evaluation data.
    checks:
      - {{kind: drift, reference: train, current: eval, drift_share: 0.3, severity: MEDIUM}}
  - id: ethics
    owner: ethics_reviewer
    rationale: Approval and wrongful-denial rates must not differ by race.
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [afam]
        reference_group: {{afam: "no"}}
        min_group_size: 30
        criteria:
          - {{metric: selection_rate, ratio_min: 0.8, severity: HIGH}}
          - {{metric: fnr, difference_max: 0.15, severity: HIGH}}
deployment:
  target: {{type: lambda, name: {function}, alias: live, poll_interval: 0.1s}}
  stable_timeout: 1m
monitoring:
  schedule: "@daily"
  source:
    uri: {source}
    timestamp: ts
    label: approved
    prediction: pred
    score: score
    label_values: [0, 1]
    features: [{features}]
    {partition}
  reference: eval
  owner: data_steward
  escalation:
    path: [ops_oncall, gate_owner, release_manager]
    after: {{P1: 1d, P2: 2d}}
  rollback_on:
    - {{check: fairness, min_priority: P1, consecutive_windows: 2}}
"""


def write_policy(workdir: Path, function: str, source: str, *, partitioned: bool = True) -> Path:
    path = workdir / "policy.yaml"
    path.write_text(
        POLICY.format(
            model=MODEL,
            function=function,
            source=source,
            features=", ".join(FEATURES),
            partition="partition: {column: date}" if partitioned else "",
        )
    )
    return path


def released(
    store: EvidenceStore,
    target: dict[str, Any],
    versions: list[tuple[str, str]],
    items: dict[str, dict[str, Any]] | None = None,
) -> dict[str, int]:
    """Release chains as the release DAG leaves them: started, (remediation items,) promoted, sealed.

    Returns the evidence seq of each remediation item, by the version whose release recorded it.
    """
    seqs = {}
    for from_version, to_version in versions:
        release_id = f"release_mortgage_approval__manual__v{to_version}"
        store.append(release_id, "release_started", {"model": MODEL, "inputs": {"model_version": to_version}})
        if items and to_version in items:
            seqs[to_version] = store.append(release_id, "remediation_item", items[to_version]).seq
        store.append(
            release_id,
            "promotion",
            {
                "action": "promotion",
                "target": target,
                "from_version": from_version,
                "to_version": to_version,
                "status": "done",
                "summary": f"promotion {from_version} → {to_version}",
            },
        )
        store.append(release_id, "release_sealed", {"decision": "released", "model": MODEL})
    return seqs


@pytest.fixture(scope="module")
def traffic() -> HmdaTraffic:
    return HmdaTraffic.build()


@pytest.fixture
def clients(aws_connection: str, moto_endpoint: str) -> Any:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    return lambda service: session.client(service, endpoint_url=moto_endpoint)


def notifications(store: EvidenceStore, purpose: str) -> list[dict[str, Any]]:
    return [r.payload for r in store.records(CHAIN, kind="notification") if r.payload["purpose"] == purpose]


def at(day: int) -> str:
    """The end of window ``day`` (1-based), as evidence records it."""
    return (DAY0 + day * DAY).isoformat()


def test_ten_windows_drift_then_fairness_incident_escalation_and_one_automatic_rollback(
    tmp_path: Path, traffic: HmdaTraffic, clients: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    function = make_lambda(clients, versions=3, live="3")
    target = {"type": "lambda", "name": function, "alias": "live"}
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    # Every step after the third window folds from a recorded snapshot of the chain, not from its start.
    monkeypatch.setenv("RELEASE_GATES_MONITOR_SNAPSHOT_EVERY", "3")
    store = EvidenceStore(evidence_url)
    # The live release left a remediation item (not a monitored check: it never closes), due at 1.5 d.
    item = {
        "check_id": "security.image_scan",
        "finding_id": "CVE-2099-0001",
        "title": "openssl advisory",
        "severity": "HIGH",
        "owner_role": "security_engineer",
        "found_at": (DAY0 - 5 * DAY).isoformat(),
        "deadline": (DAY0 + 1.5 * DAY).isoformat(),
    }
    item_seq = released(store, target, [("1", "2"), ("2", "3")], items={"3": item})["3"]
    traffic.reference.to_parquet(tmp_path / "eval.parquet", index=False)
    policy = write_policy(tmp_path, function, "logs")
    dag = build_monitoring_dag(policy, dag_id="monitor_hmda_windows", default_args={"retries": 0})
    migrate_airflow_db()
    sync_dag(dag)

    statuses: dict[int, dict[str, str]] = {}
    for day in range(1, 11):
        start = DAY0 + (day - 1) * DAY
        live = alias_version(clients, function)  # the simulated traffic is scored by what is live
        write_partition(traffic.window(day, start, DAY, live), tmp_path / "logs", start)
        run = dag.test(logical_date=start + DAY)
        assert run.state == "success", f"window {day}: {run.state}"
        summary = store.records(CHAIN, kind="monitoring_window")[-1].payload
        assert summary["window"] == {
            "start": start.isoformat(),
            "end": at(day),
            "labelled_start": start.isoformat(),
            "labelled_end": at(day),
        }
        statuses[day] = {v["check_id"]: v["status"] for v in summary["verdicts"]}

    drift, fairness = incidents_as_expected(store, statuses)
    rollback_as_expected(store, fairness.incident_id)
    assert alias_version(clients, function) == "2"
    escalations_as_expected(
        store, drift.incident_id, fairness.incident_id, f"release_mortgage_approval__manual__v3#{item_seq}"
    )
    assert store.verify(CHAIN).ok
    snapshots_as_expected(store)


def snapshots_as_expected(store: EvidenceStore) -> None:
    """The steps recorded the chain's state every three windows, and folding from the latest one is
    the fold of the whole chain."""
    from release_gates.monitoring.snapshot import LIMITS, load_state, state_to_json

    snapshots = store.records(CHAIN, kind="monitoring_state")
    assert len(snapshots) >= 3, [s.payload["source_seq"] for s in snapshots]
    folded = load_state(store, CHAIN)
    assert folded.ignored is None and folded.snapshot_seq == snapshots[-1].seq
    assert folded.records_read < store.count(CHAIN) / 2
    whole = fold_monitoring(store.records(CHAIN), limits=LIMITS)
    assert state_to_json(folded.state) == state_to_json(whole)


def incidents_as_expected(
    store: EvidenceStore, statuses: dict[int, dict[str, str]]
) -> tuple[Incident, Incident]:
    # No alert in windows 1–5: every check passed (or warned).
    for day in range(1, 6):
        assert not {c: s for c, s in statuses[day].items() if s in ("FAIL", "ERROR")}, statuses[day]
    incidents = {i.check_id: i for i in fold_monitoring(store.records(CHAIN)).incidents.values()}
    assert set(incidents) == {"data.drift", "ethics.fairness"}, incidents
    drift, fairness = incidents["data.drift"], incidents["ethics.fairness"]
    # Drift alert at 6 (P2: MEDIUM, all traffic); it persists as one incident, updated, never re-opened.
    assert statuses[6]["data.drift"] == "FAIL" and statuses[6]["ethics.fairness"] == "PASS"
    assert (drift.opened_at.isoformat(), drift.priority, drift.state) == (at(6), "P2", "open")
    assert drift.windows == [at(day) for day in range(6, 11)]
    # Fairness incident at 7: P1 (HIGH, and Black applicants are more than 10% of traffic).
    assert (fairness.opened_at.isoformat(), fairness.priority) == (at(7), "P1")
    assert 0.10 <= fairness.traffic_share < 0.25
    # Version 2 serves fairly again after the rollback at 8: window 9 resolves the incident.
    assert [statuses[day]["ethics.fairness"] for day in (7, 8, 9, 10)] == ["FAIL", "FAIL", "PASS", "PASS"]
    assert fairness.state == "resolved" and fairness.resolved_at == DAY0 + 9 * DAY
    return drift, fairness


def rollback_as_expected(store: EvidenceStore, incident_id: str) -> None:
    """One rollback, at the policy's threshold (the second consecutive P1 window), from 3 to 2."""
    rollbacks = [r.payload for r in store.records(CHAIN, kind="rollback")]
    assert len(rollbacks) == 1, rollbacks
    rollback = rollbacks[0]
    assert (rollback["incident_id"], rollback["status"], rollback["clock"]) == (incident_id, "done", at(8))
    assert (rollback["from_version"], rollback["to_version"]) == ("3", "2")
    assert "released by release_mortgage_approval__manual__v2" in rollback["version_source"]
    told = notifications(store, "rollback")
    assert {n["role"] for n in told} == {"ops_oncall", "ethics_reviewer", "release_manager"}
    assert {n["clock"] for n in told} == {at(8)}


def escalations_as_expected(store: EvidenceStore, drift: str, fairness: str, item: str) -> None:
    """Exactly one notice per escalation step, sent in the run where it fell due."""
    escalations = notifications(store, "escalation")
    steps = Counter((n["subject_id"], n["step"]) for n in escalations)
    assert set(steps.values()) == {1}, steps
    sent = {(n["subject_id"], n["step"]): (n["clock"], n["role"]) for n in escalations}
    assert sent == {
        # P1 steps a day apart: on-call at 7, the ethics gate's owner at 8; resolved before step 3.
        (fairness, 0): (at(7), "ops_oncall"),
        (fairness, 1): (at(8), "ethics_reviewer"),
        # P2 steps two days apart: 6, 8, 10; the data gate's owner in the middle.
        (drift, 0): (at(6), "ops_oncall"),
        (drift, 1): (at(8), "data_steward"),
        (drift, 2): (at(10), "release_manager"),
        # The remediation item was due at 1.5 d (HIGH, no traffic share: P2): 2, 4, 6.
        (item, 0): (at(2), "ops_oncall"),
        (item, 1): (at(4), "security_engineer"),
        (item, 2): (at(6), "release_manager"),
    }
    assert all(n["ok"] and n["deliveries"][0]["channel"] == "log" for n in escalations)


def test_windows_whose_labels_have_not_arrived_are_inconclusive_not_alarms(
    tmp_path: Path, traffic: HmdaTraffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SQL inference log whose latest day has no labels yet: fairness waits, nothing pages."""
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    traffic.reference.to_parquet(tmp_path / "eval.parquet", index=False)
    frame = traffic.window(1, DAY0, DAY, live_version="2")
    frame["approved"] = frame["approved"].astype("Int64")
    frame.loc[:, "approved"] = pd.NA  # scored today; the outcomes are weeks away
    with sqlite3.connect(tmp_path / "log.db") as conn:
        frame.to_sql("inference_log", conn, index=False)
    policy = write_policy(
        tmp_path, "unused", f"sqlite:///{tmp_path / 'log.db'}?table=inference_log", partitioned=False
    )
    policy.write_text(
        policy.read_text().replace(
            "  rollback_on:\n    - {check: fairness, min_priority: P1, consecutive_windows: 2}\n", ""
        )
    )
    dag = build_monitoring_dag(policy, dag_id="monitor_hmda_late_labels", default_args={"retries": 0})
    migrate_airflow_db()
    sync_dag(dag)
    run = dag.test(logical_date=DAY0 + DAY)
    assert run.state == "success"
    window = store_window(evidence_url)
    verdicts = {v["check_id"]: v for v in window["verdicts"]}
    assert verdicts["ethics.fairness"]["status"] == "INCONCLUSIVE"
    assert "labels have not arrived" in verdicts["ethics.fairness"]["summary"]
    assert "0 of 1500 rows labelled" in verdicts["ethics.fairness"]["summary"]
    assert (
        verdicts["data.drift"]["status"] in ("PASS", "WARN")
        and verdicts["monitor.volume"]["status"] == "PASS"
    )
    assert window["labels"] == {"rows": 1500, "labelled": 0, "share": 0.0, "needed": 0.9}
    store = EvidenceStore(evidence_url)
    assert not store.records(CHAIN, kind="incident") and not store.records(CHAIN, kind="notification")


def store_window(evidence_url: str) -> dict[str, Any]:
    records = EvidenceStore(evidence_url).records(CHAIN, kind="monitoring_window")
    assert len(records) == 1
    return records[0].payload


REPO = Path(__file__).resolve().parents[2]
HEAVY = (
    "pandas",
    "numpy",
    "great_expectations",
    "evidently",
    "sklearn",
    "boto3",
    "matplotlib",
    "skops",
    "pyarrow",
)


def test_the_dag_file_parses_in_safe_mode_imports_nothing_heavy_and_follows_the_policy() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import CronDataIntervalTimetable

    bag = DagBag(dag_folder=str(REPO / "dags"), safe_mode=True)
    assert bag.import_errors == {}
    dag = bag.dags["monitor_mortgage_approval"]
    assert [t.task_id for t in dag.topological_sort()] == ["evaluate", "incidents", "escalate", "rollback"]
    assert {dag.get_task(t).trigger_rule for t in ("incidents", "escalate", "rollback")} == {"all_done"}
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and dag.timetable.expression == "0 0 * * *"
    assert dag.max_active_runs == 1 and dag.catchup is False
    code = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "dags" / "monitor_model.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ""


def test_without_a_known_previous_version_it_never_rolls_back_and_escalates_instead(
    tmp_path: Path, clients: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.operators.monitoring import AutoRollbackOperator

    function = make_lambda(clients, versions=3, live="3")
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    store = EvidenceStore(evidence_url)  # no release of this model is recorded: nothing to go back to
    incident_id = "ethics.fairness@20250303T0000Z"
    for day, action in ((2, "opened"), (3, "updated")):
        start = DAY0 + (day - 1) * DAY
        window = {
            "start": start.isoformat(),
            "end": at(day),
            "labelled_start": start.isoformat(),
            "labelled_end": at(day),
        }
        store.append(
            CHAIN,
            "incident",
            {
                "action": action,
                "incident_id": incident_id,
                "check_id": "ethics.fairness",
                "monitored_check": "fairness",
                "kind": "fairness",
                "priority": "P1",
                "severity": "HIGH",
                "traffic_share": 0.14,
                "summary": "fnr gap",
                "window": window,
                "status": "FAIL",
                "owner_role": "ethics_reviewer",
                "gate": "ethics",
            },
        )
    policy = write_policy(tmp_path, function, "logs")
    context: Any = {"data_interval_start": DAY0 + 2 * DAY, "data_interval_end": DAY0 + 3 * DAY, "run_id": "t"}
    operator = AutoRollbackOperator(task_id="rollback", policy_path=str(policy))
    first = operator.execute(context)
    assert [r["status"] for r in first["rollbacks"]] == ["skipped"]
    assert alias_version(clients, function) == "3"  # untouched
    (record,) = [r.payload for r in store.records(CHAIN, kind="rollback")]
    assert record["to_version"] is None and "no release promoted 3" in record["version_source"]
    told = notifications(store, "escalation")
    assert [(n["step"], n["role"]) for n in told] == [
        (0, "ops_oncall"),
        (1, "ethics_reviewer"),
        (2, "release_manager"),
    ]
    assert all(n["reason"].startswith("automatic rollback impossible") for n in told)
    # Never twice for the same incident: a later run neither retries nor pages again.
    later: Any = {**context, "data_interval_end": DAY0 + 4 * DAY}
    assert operator.execute(later)["rollbacks"] == []
    assert len(store.records(CHAIN, kind="rollback")) == 1 and len(notifications(store, "escalation")) == 3


def test_a_sql_log_on_postgresql_is_read_by_window(postgres_url: str, traffic: HmdaTraffic) -> None:
    import sqlalchemy as sa

    from release_gates.monitoring.source import load_window
    from release_gates.policy import InferenceLog

    frames = [traffic.window(day, DAY0 + (day - 1) * DAY, DAY, live_version="2") for day in (1, 2, 3)]
    engine = sa.create_engine(postgres_url)
    pd.concat(frames).to_sql("inference_log", engine, index=False, dtype={"ts": sa.TIMESTAMP(timezone=True)})
    engine.dispose()
    log = InferenceLog(
        uri=f"{postgres_url}&table=inference_log", timestamp="ts", label="approved", prediction="pred"
    )
    window = load_window(log, DAY0 + DAY, DAY0 + 2 * DAY, columns=["afam", "approved", "pred"])
    assert len(window) == len(frames[1])
    assert window["ts"].min() >= DAY0 + DAY and window["ts"].max() < DAY0 + 2 * DAY
