"""``release-gates evidence checkpoint`` signs a chain's head for an operator — "a seal made without a
key". An insider who can write the database but has no key tries to get that signature for a chain
they prepared, or to make the command report a signature that was never made:

* a row in the checkpoint table under the operator's key id, for the head, with a made-up signature
  (the runtime role may INSERT there): the command used to return it as "signed by <key>";
* a chain rewritten after one of its checkpoints: the command used to sign the rewritten head.

A signature vouches for everything before the head, so the command signs only a chain that
verifies, and never reports a row it did not make as its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from release_gates.evidence import EvidenceError, EvidenceStore
from release_gates.evidence.signing import SigningKey
from tests.adversarial.evidence_support import RELEASE, run_cli, signed_store, trusted
from tests.integration.evidence_support import switch_off_guards

OPERATOR = SigningKey.generate()


@pytest.fixture
def operator_key(monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    conn = {"conn_type": "generic", "password": OPERATOR.private_pem()}
    monkeypatch.setenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", json.dumps(conn))
    return OPERATOR


def _insert_checkpoint(store: EvidenceStore, seq: int, record_hash: str, key_id: str) -> None:
    """What the runtime role can do: INSERT into the checkpoint table."""
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO release_gates_checkpoint (release_id, seq, record_hash, record_kind, key_id, "
                "signature, signed_at) VALUES (:r, :s, :h, 'release_sealed', :k, :sig, '2026-03-02')"
            ),
            {"r": RELEASE, "s": seq, "h": record_hash, "k": key_id, "sig": "A" * 86 + "=="},
        )


def test_a_planted_row_under_the_operators_key_is_not_reported_as_signed(
    tmp_path: Path, operator_key: SigningKey
) -> None:
    store = signed_store(tmp_path, None, seal="released")  # sealed without a key
    head = store.chain(RELEASE)
    _insert_checkpoint(store, head.head_seq, head.head_hash, operator_key.key_id)

    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    code, out = run_cli("evidence", "checkpoint", RELEASE, "--url", url)
    assert code == 1 and "REFUSED" in out and "this key did not make" in out, out
    assert "signed by" not in out
    assert not store.verify(RELEASE, keys=trusted(operator_key)).ok  # and verify still says so


def test_a_chain_rewritten_after_its_checkpoint_is_not_signed(
    tmp_path: Path, operator_key: SigningKey
) -> None:
    store = signed_store(tmp_path, operator_key)  # open, nothing signed yet
    store.checkpoint(RELEASE, operator_key)  # the operator signs #3 (the blocked gate)
    with store.engine.begin() as conn:  # the insider turns the blocked gate into a pass, rehashed
        switch_off_guards(conn)
        conn.execute(
            text("DELETE FROM release_gates_evidence WHERE release_id = :r AND seq = 3"), {"r": RELEASE}
        )
    unsigned = EvidenceStore(store.url)
    unsigned.append(RELEASE, "gate_decision", {"gate": "ethics", "outcome": "passed"})
    unsigned.append(RELEASE, "release_sealed", {"decision": "released", "reasons": []})

    with pytest.raises(EvidenceError, match=r"does not verify, so its head is not signed.*#3"):
        store.checkpoint(RELEASE, operator_key)
    assert [c.seq for c in store.checkpoints(RELEASE)] == [3]  # nothing new was signed

    # An honest chain is still signed, once per key.
    (tmp_path / "honest").mkdir()
    honest = signed_store(tmp_path / "honest", operator_key)
    first = honest.checkpoint(RELEASE, operator_key)
    assert honest.checkpoint(RELEASE, operator_key) == first
    assert honest.verify(RELEASE, keys=trusted(operator_key)).ok
