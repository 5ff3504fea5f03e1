"""The evidence plumbing every operator base shares: one connection default, one store, one actor."""

from __future__ import annotations

import inspect
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG

from release_gates.evidence import DEFAULT_EVIDENCE_CONN_ID, EvidenceStore
from release_gates.hooks.evidence import EvidenceStoreHook
from release_gates.operators.base import BaseCheckOperator
from release_gates.operators.deployment import _DeploymentActionOperator
from release_gates.operators.evidence import EvidenceWriterMixin
from release_gates.operators.monitoring import _MonitorStep
from release_gates.operators.release import ManualPromotionOperator, _ReleaseStep


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str | None]:
    """Connection ids the hook was asked for; every lookup gets the same SQLite store."""
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    asked: list[str | None] = []

    def get_store(hook: EvidenceStoreHook) -> EvidenceStore:
        asked.append(hook.evidence_conn_id)
        return store

    monkeypatch.setattr(EvidenceStoreHook, "get_store", get_store)
    return asked


def _promote(**kwargs: Any) -> ManualPromotionOperator:
    with DAG("release_dag", schedule=None):
        return ManualPromotionOperator(
            task_id="promote", policy_path="unused.yaml", release_id="rel-1", **kwargs
        )


@pytest.mark.parametrize("base", [BaseCheckOperator, _ReleaseStep, _DeploymentActionOperator, _MonitorStep])
def test_every_base_writes_through_the_mixin_with_one_connection_default(base: type[Any]) -> None:
    assert issubclass(base, EvidenceWriterMixin)
    assert inspect.signature(base.__init__).parameters["evidence_conn_id"].default == DEFAULT_EVIDENCE_CONN_ID
    assert EvidenceStoreHook.default_conn_name == DEFAULT_EVIDENCE_CONN_ID


def test_constructor_does_no_lookup_and_the_store_is_looked_up_once(lookups: list[str | None]) -> None:
    operator = _promote(evidence_conn_id="evidence_prod")
    assert lookups == []  # the DAG file runs the constructor at every parse
    assert operator.evidence_store is operator.evidence_store
    assert lookups == ["evidence_prod"]


def test_records_are_written_as_the_task_and_try(lookups: list[str | None]) -> None:
    operator = _promote()
    result = operator.execute({"ti": SimpleNamespace(try_number=3)})
    record = operator.evidence_store.records("rel-1")[-1]
    assert (record.kind, record.seq, record.actor) == (
        "promotion",
        result["evidence_seq"],
        "release_dag.promote#3",
    )
    assert record.payload == {
        "status": "done",
        "target": None,
        "summary": "no deployment target in the policy: cleared for manual rollout",
    }
    assert lookups == [DEFAULT_EVIDENCE_CONN_ID]


def test_actor_without_a_task_instance_and_an_explicit_actor(lookups: list[str | None]) -> None:
    operator = _promote()
    assert operator.evidence_actor({}) == "release_dag.promote"
    record = operator.append_evidence("human_decision", {"choice": "approve"}, {}, actor="alice")
    assert record.actor == "alice" and record.release_id == "rel-1"


def test_a_writer_without_a_chain_must_name_one(lookups: list[str | None]) -> None:
    with DAG("monitor_dag", schedule=None):
        step = _MonitorStep(task_id="step", policy_path="unused.yaml")
    with pytest.raises(NotImplementedError, match="pass chain_id"):
        step.append_evidence("incident", {}, {})
    record = step.append_evidence("incident", {"n": 1}, {}, chain_id="monitor__m")
    assert (record.release_id, record.actor) == ("monitor__m", "monitor_dag.step")


def _signing_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, pem: str) -> None:
    """An Airflow connection from the environment, as any secrets backend would give it."""
    import json

    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "generic", "password": pem})
    )


def test_the_signing_key_is_looked_up_at_the_first_append_and_signs_the_seal(
    lookups: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.evidence.signing import PublicKeys, SigningKey

    key = SigningKey.generate()
    _signing_connection(monkeypatch, "release_gates_signing", key.private_pem())
    operator = _promote()
    store = operator.evidence_store
    assert store.signer is None  # no lookup yet: a task that only reads never asks for the key
    store.append("rel-signed", "release_started", {"model": "m"})
    assert store.signer is not None and store.signer.key_id == key.key_id
    store.append("rel-signed", "release_sealed", {"decision": "held"})
    [checkpoint] = store.checkpoints("rel-signed")
    assert checkpoint.seq == 2 and checkpoint.record_kind == "release_sealed"
    assert store.verify("rel-signed", keys=PublicKeys({key.key_id: key.public_key})).ok


def test_the_policy_names_the_signing_connection_and_the_checkpoint_interval(
    lookups: list[str | None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from release_gates.evidence.signing import SigningKey
    from tests.minimal_policy import MINIMAL_POLICY

    key = SigningKey.generate()
    _signing_connection(monkeypatch, "team_signing", key.private_pem())
    policy = tmp_path / "policy.yaml"
    policy.write_text(MINIMAL_POLICY + "evidence:\n  signing: {conn_id: team_signing, checkpoint_every: 3}\n")
    with DAG("release_dag", schedule=None):
        operator = ManualPromotionOperator(task_id="promote", policy_path=str(policy), release_id="rel-1")
    store = operator.evidence_store
    for i in range(7):
        store.append("monitor__m", "monitoring_window", {"i": i})
    assert store.signer is not None and store.signer.key_id == key.key_id
    assert [c.seq for c in store.checkpoints("monitor__m")] == [3, 6]


def test_a_signing_connection_without_a_usable_key_fails_the_append(
    lookups: list[str | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.evidence.signing import SigningKeyError

    _signing_connection(monkeypatch, "release_gates_signing", "-----BEGIN PRIVATE KEY-----\nnot a key\n")
    store = _promote().evidence_store
    with pytest.raises(SigningKeyError, match="release_gates_signing") as raised:
        store.append("rel-x", "release_started", {"model": "m"})
    assert "not a key" not in str(raised.value)  # never the key material
    assert store.chains() == []  # nothing was written unsigned


def test_required_signing_without_a_key_writes_nothing(lookups: list[str | None], tmp_path: Path) -> None:
    from release_gates.evidence.signing import SigningKeyError
    from tests.minimal_policy import MINIMAL_POLICY

    policy = tmp_path / "policy.yaml"
    policy.write_text(MINIMAL_POLICY + "evidence:\n  signing: {conn_id: absent_signing, required: true}\n")
    with DAG("release_dag", schedule=None):
        operator = ManualPromotionOperator(task_id="promote", policy_path=str(policy), release_id="rel-1")
    with pytest.raises(SigningKeyError, match="absent_signing"):
        operator.evidence_store.append("rel-1", "release_started", {"model": "m"})
    assert operator.evidence_store.chains() == []
