"""Required documents through the release DAG's own steps, against a real SQLite evidence store: the
review step (as the DAG factory builds it), its recorder, the documents check, remediation — and the
attacks: a review by someone who is not the owner, a document edited while under review, a review in
another model's chain. Airflow's HITL machinery is not run (it needs a scheduler and an API server);
the steps get the answer event Airflow hands them, through the same methods."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from release_gates.evidence import EvidenceStore
from release_gates.hooks.evidence import EvidenceStoreHook
from release_gates.kinds.documents import NOT_REVIEWED
from release_gates.operators.documents import (
    DocumentReviewOperator,
    DocumentsCheckOperator,
    document_review_steps,
)
from release_gates.operators.release import RemediationOperator, StartReleaseOperator
from release_gates.policy import load_policy
from tests.adversarial.human_support import FakeTI

pytestmark = pytest.mark.integration

POLICY = """\
policy_version: 1
release: {{model: {model}}}
owners:
  ml_owner: {{users: [olga]}}
  security: {{users: [alice], email: security@example.org}}
  privacy: {{users: [priya]}}
gates:
  - id: governance
    owner: ml_owner
    rationale: A model ships with its threat model and DPIA current.
    checks:
      - kind: documents
        documents:
          threat model: {{owner: security, location: docs/threat-model.md, sha256: "{tm}", max_age: 90d}}
          DPIA: {{owner: privacy, location: docs/dpia.md, sha256: "{dpia}", max_age: 180d}}
"""
CHECK_ID = "governance.documents"


class Docs:
    """A policy with two documents in ``root``, the release chains of its model, and the DAG's steps."""

    def __init__(self, root: Path, store: EvidenceStore, model: str = "loan-scorer") -> None:
        self.root, self.store, self.model = root, store, model
        (root / "docs").mkdir(parents=True, exist_ok=True)
        self.write("threat-model.md", "# Threat model\n\nAttackers: …\n")
        self.write("dpia.md", "# DPIA\n\nLawful basis: contract.\n")
        self.pin()
        self.ti = FakeTI(dag_id=f"release_{model}")
        self.release_id = ""

    def write(self, name: str, text: str) -> None:
        (self.root / "docs" / name).write_text(text, encoding="utf-8")

    def sha(self, name: str) -> str:
        return hashlib.sha256((self.root / "docs" / name).read_bytes()).hexdigest()

    def pin(self) -> None:
        """The policy names each document's current sha256 (what an owner does after a review)."""
        text = POLICY.format(model=self.model, tm=self.sha("threat-model.md"), dpia=self.sha("dpia.md"))
        (self.root / "policy.yaml").write_text(text, encoding="utf-8")

    @property
    def common(self) -> dict[str, Any]:
        return {
            "policy_path": str(self.root / "policy.yaml"),
            "release_id": self.release_id,
            "evidence_conn_id": "release_gates_evidence_default",
        }

    def context(self, task_id: str) -> dict[str, Any]:
        self.ti.task_id = task_id
        dag_run = type("DagRun", (), {"dag_id": self.ti.dag_id, "triggering_user_name": "ci-bot"})
        return {"ti": self.ti, "task_instance": self.ti, "dag_run": dag_run(), "run_id": self.ti.run_id}

    def start(self, run: str) -> None:
        self.ti = FakeTI(dag_id=f"release_{self.model}", run_id=run)
        self.release_id = f"release_{self.model}__{run}"
        with DAG(self.ti.dag_id, schedule=None):
            step = StartReleaseOperator(task_id="start", release_inputs={}, **self.common)
        step.execute(self.context("start"))  # type: ignore[arg-type]

    def steps(self) -> tuple[dict[str, DocumentReviewOperator], Any]:
        """The review steps and recorder exactly as the DAG factory builds them (role → step)."""
        policy = load_policy(self.root / "policy.yaml")
        check = policy.gate("governance").checks[0]
        with DAG(self.ti.dag_id, schedule=None):
            asks, recorder = document_review_steps(policy, check, CHECK_ID, self.common)  # type: ignore[arg-type]
        return {ask.owner_role: ask for ask in asks}, recorder  # type: ignore[attr-defined]

    def review(
        self,
        role: str,
        user: str | None,
        chosen: list[str],
        *,
        note: str = "Read it end to end.",
        at: datetime | None = None,
        before_answer: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """The role's review step asks, ``user`` answers, the recorder records: returns the record."""
        asks, recorder = self.steps()
        ask = asks[role]
        ask.prepare(self.context(ask.task_id))  # type: ignore[arg-type]
        if before_answer is not None:
            before_answer()
        event = {
            "chosen_options": chosen,
            "params_input": {"rationale": note},
            "responded_at": at or datetime.now(UTC),
            "responded_by_user": {"id": user, "name": user} if user else None,
        }
        ask.execute_complete(self.context(ask.task_id), event)  # type: ignore[arg-type]
        red = False
        try:
            recorder.execute(self.context(recorder.task_id))
        except AirflowFailException:
            red = True  # recorded, then red
        record = self.records("human_decision")[-1]
        assert red is (not record["authorized"]), "a review that does not count turns the recorder red"
        return record

    def check(self) -> dict[str, Any]:
        with DAG(self.ti.dag_id, schedule=None):
            step = DocumentsCheckOperator(task_id="documents", check_id=CHECK_ID, **self.common)
        step.execute(self.context(f"{CHECK_ID}"))  # type: ignore[arg-type]
        return self.records("check_result")[-1]

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [r.payload for r in self.store.records(self.release_id, kind=kind)]

    def problems(self, result: dict[str, Any]) -> dict[str, tuple[str, list[str]]]:
        return {
            f["data"]["document"]: (f["data"]["owner_role"], f["data"]["problems"])
            for f in result["findings"]
        }


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EvidenceStore:
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    monkeypatch.setattr(EvidenceStoreHook, "get_store", lambda _hook: store)
    return store


@pytest.fixture
def docs(tmp_path: Path, store: EvidenceStore) -> Docs:
    return Docs(tmp_path / "release", store)


def test_unreviewed_changed_and_stale_documents_fail_and_their_items_go_to_their_owners(docs: Docs) -> None:
    docs.start("run-0")
    # Reviews answered long ago (the DPIA 200 days back, beyond its 180d), through the review step.
    long_ago = datetime.now(UTC) - timedelta(days=200)
    assert docs.review("security", "alice", ["threat model"], at=long_ago + timedelta(days=150))["authorized"]
    assert docs.review("privacy", "priya", ["DPIA"], at=long_ago)["authorized"]
    # Then the threat model is rewritten and its new version pinned, but nobody reviews it again.
    docs.write("threat-model.md", "# Threat model\n\nAttackers: insiders too.\n")
    docs.pin()

    docs.start("run-1")
    result = docs.check()
    assert result["status"] == "FAIL"
    assert docs.problems(result) == {
        "threat model": ("security", ["changed"]),
        "DPIA": ("privacy", ["stale"]),
    }
    assert "alice" in result["findings"][0]["title"] + result["findings"][0]["detail"]

    with DAG(docs.ti.dag_id, schedule=None):
        RemediationOperator(task_id="remediate", gate_id="governance", **docs.common).execute(
            docs.context("governance.remediate")  # type: ignore[arg-type]
        )
    items = {i["finding_id"]: i for i in docs.records("remediation_item")}
    assert {k: (i["owner_role"], i["owners"], i["contact"]) for k, i in items.items()} == {
        "document:threat model": ("security", ["alice"], "security@example.org"),
        "document:DPIA": ("privacy", ["priya"], None),
    }
    assert all(datetime.fromisoformat(i["deadline"]) > datetime.now(UTC) for i in items.values())
    # The gate's owner is told, and so is each role that owns an item.
    assert {n["to"] for n in docs.records("notification")} == {"ml_owner", "security", "privacy"}


def test_a_review_through_the_review_step_clears_the_document(docs: Docs) -> None:
    docs.start("run-1")
    assert docs.problems(docs.check())["threat model"] == ("security", ["unreviewed"])
    record = docs.review("security", "alice", ["threat model"])
    assert record["authorized"] is True
    assert record["documents"] == {
        "threat model": {"sha256": docs.sha("threat-model.md"), "location": "docs/threat-model.md"}
    }
    assert set(docs.problems(docs.check())) == {"DPIA"}
    docs.review("privacy", "priya", ["DPIA"])
    result = docs.check()
    assert result["status"] == "PASS", result["summary"]
    assert result["metrics"]["documents"]["DPIA"]["review"]["user"] == "priya"


def test_a_review_by_someone_who_is_not_the_owner_does_not_count(docs: Docs) -> None:
    docs.start("run-1")
    # olga owns the gate, not the threat model; the record says so, and the step turns red.
    record = docs.review("security", "olga", ["threat model"])
    assert record["authorized"] is False
    assert "olga is not a user of the security role" in record["problem"]
    result = docs.check()
    assert docs.problems(result)["threat model"] == ("security", ["unreviewed"])
    assert "olga" in result["findings"][0]["detail"]


def test_a_review_carries_over_to_later_releases_and_their_step_does_not_ask(docs: Docs) -> None:
    docs.start("run-1")
    docs.review("security", "alice", ["threat model"])
    docs.review("privacy", "priya", ["DPIA"])
    docs.start("run-2")
    asks, _ = docs.steps()
    for ask in asks.values():
        with pytest.raises(AirflowSkipException):
            ask.prepare(docs.context(ask.task_id))  # type: ignore[arg-type]
    result = docs.check()
    assert result["status"] == "PASS"
    assert result["metrics"]["documents"]["threat model"]["review"]["evidence"].startswith(
        "release_loan-scorer__run-1#"
    )
    # Edited afterwards: the next release asks again, showing the new version.
    docs.write("threat-model.md", "# Threat model v2\n")
    docs.pin()
    docs.start("run-3")
    asks, _ = docs.steps()
    shown = asks["security"].prepare(docs.context(asks["security"].task_id))  # type: ignore[arg-type]
    assert shown == {
        "threat model": {"sha256": docs.sha("threat-model.md"), "location": "docs/threat-model.md"}
    }
    assert asks["security"].options == ["threat model", NOT_REVIEWED]


def test_a_document_edited_while_under_review_is_not_reviewed(docs: Docs) -> None:
    docs.start("run-1")
    record = docs.review(
        "security",
        "alice",
        ["threat model"],
        before_answer=lambda: docs.write("threat-model.md", "# swapped\n"),
    )
    assert record["authorized"] is False
    assert "changed while under review" in record["problem"]
    assert docs.problems(docs.check())["threat model"][1][:2] == ["not_pinned_version", "unreviewed"]


def test_a_review_in_another_models_chain_does_not_count(
    docs: Docs, tmp_path: Path, store: EvidenceStore
) -> None:
    other = Docs(tmp_path / "other", store, model="other-model")
    for name in ("threat-model.md", "dpia.md"):  # the very same documents, another model's release
        other.write(name, (docs.root / "docs" / name).read_text())
    other.start("run-1")
    assert other.review("security", "alice", ["threat model"])["authorized"] is True
    docs.start("run-1")
    assert docs.problems(docs.check())["threat model"] == ("security", ["unreviewed"])


def test_the_dag_reviews_before_the_check_and_runs_it_whatever_the_review_did(docs: Docs) -> None:
    from release_gates.dag_factory import build_release_dag

    dag = build_release_dag(docs.root / "policy.yaml")
    check = dag.get_task(CHECK_ID)
    recorder = dag.get_task("governance.documents_reviewed")
    asks = [dag.get_task(f"governance.documents_review_{role}") for role in ("security", "privacy")]
    assert check.upstream_task_ids == {"start", recorder.task_id}
    assert check.trigger_rule == "all_done_min_one_success"
    assert recorder.upstream_task_ids == {a.task_id for a in asks}
    assert recorder.trigger_rule == "none_failed_min_one_success"
    for ask in asks:
        assert ask.upstream_task_ids == {"start"}
        assert ask.multiple is True and ask.defaults == [NOT_REVIEWED]
    assert asks[0].options == ["threat model", NOT_REVIEWED]
    assert asks[0].assigned_users == [{"id": "alice", "name": "alice"}]
    assert asks[1].response_timeout == timedelta(hours=24)


def test_the_cli_reads_the_same_reviews(docs: Docs, tmp_path: Path) -> None:
    import io
    import json

    from release_gates.cli import main

    def cli() -> tuple[int, dict[str, Any]]:
        out = io.StringIO()
        argv = [
            "check",
            "documents",
            "--policy",
            str(docs.root / "policy.yaml"),
            "--gate",
            "governance",
            "--url",
            str(docs.store.engine.url),
            "--json",
        ]
        return main(argv, out=out), json.loads(out.getvalue())

    docs.start("run-1")
    code, result = cli()
    assert (code, result["status"]) == (1, "FAIL")
    docs.review("security", "alice", ["threat model"])
    docs.review("privacy", "priya", ["DPIA"])
    code, result = cli()
    assert (code, result["status"]) == (0, "PASS")
    assert result["inputs"]["reviews"]["chains_read"] == 1


def test_a_document_owned_by_an_undeclared_role_is_refused(docs: Docs) -> None:
    from release_gates.dag_factory import build_release_dag
    from release_gates.policy import PolicyError

    policy = docs.root / "policy.yaml"
    policy.write_text(policy.read_text().replace("owner: privacy", "owner: legal"))
    # Refused where the policy is read — validation, the DAG file, every task — naming the line.
    with pytest.raises(PolicyError, match=r"documents\.DPIA\.owner: unknown owner role 'legal'"):
        build_release_dag(policy)
