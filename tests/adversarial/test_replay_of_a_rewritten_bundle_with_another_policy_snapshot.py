"""Replay answers an auditor's "would today's rules decide the same?" from an exported bundle. The
bundle's editor wants a biased model's held release to read as a clean release: the failed fairness
check becomes a pass, the gate passed, a promotion and a "released" seal, and the policy snapshot the
auditor reads the rules from is loosened — with ``credentials_redacted: 1`` so that its text need not
hash to the policy's sha256. Every hash recomputed, the checkpoints dropped.

Before, replay verified only the links and answered SAME, "released"; it took no key. Given the
trusted key (``--key``, ``--policy``'s keys or the signing connection's, as ``evidence verify``) it
refuses the bundle; without one it still replays, and says nothing proves what it replayed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from release_gates.evidence import EvidenceStore
from release_gates.evidence.replay import ReplayError, chain_from_bundle, replay
from release_gates.evidence.signing import SigningKey
from release_gates.results import Status
from tests.adversarial.evidence_support import rehashed, run_cli, trusted
from tests.minimal_policy import MINIMAL_POLICY
from tests.unit.test_evidence_replay_offline import RELEASE, _write_chain

KEY = SigningKey.generate()


def _forge(bundle: dict[str, Any]) -> None:
    records = bundle["records"]
    started, check, gate, sealed = records
    snapshot = started["payload"]["policy_snapshot"]
    assert "ratio_min: 0.8" in snapshot["text"]
    snapshot["text"] = snapshot["text"].replace("ratio_min: 0.8", "ratio_min: 0.1")
    snapshot["credentials_redacted"] = 1  # "masked", so a text that does not hash is accepted
    check["payload"]["status"] = "PASS"
    gate["payload"].update(outcome="passed", reason="every check passed")
    promotion = {**gate, "seq": 4, "kind": "promotion", "payload": {"status": "done", "target": None}}
    sealed.update(seq=5)
    sealed["payload"].update(decision="released", reasons=[], gates={"ethics": "passed"})
    records[3:] = [promotion, sealed]


@pytest.fixture
def bundles(tmp_path: Path) -> tuple[Path, Path, Path]:
    (tmp_path / "policy.yaml").write_text(MINIMAL_POLICY)
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}", signer=KEY)
    _write_chain(store, tmp_path / "policy.yaml", snapshot=True, status=Status.FAIL)  # held, signed seal
    honest = store.export_to(RELEASE, tmp_path / "bundle.json")
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(rehashed(json.loads(honest.read_text()), _forge)))
    public = tmp_path / "signing.pub"
    public.write_text(KEY.public_pem)
    return honest, forged, public


def test_with_the_trusted_key_the_rewritten_bundle_is_refused(bundles: tuple[Path, Path, Path]) -> None:
    honest, forged, public = bundles
    assert replay(chain_from_bundle(honest, keys=trusted(KEY))).recorded_decision == "held"
    with pytest.raises(
        ReplayError, match=r"does not verify.*the seal \(#5\) carries no valid signed checkpoint"
    ):
        chain_from_bundle(forged, keys=trusted(KEY))
    code, out = run_cli("evidence", "replay", "--bundle", str(forged), "--key", str(public))
    assert code == 4 and "SAME" not in out and "no valid signed checkpoint" in out, out
    code, out = run_cli("evidence", "replay", "--bundle", str(honest), "--key", str(public))
    assert code == 0 and "SAME" in out and "not checked" not in out, out


def test_without_a_key_the_report_says_nothing_proves_the_chain(bundles: tuple[Path, Path, Path]) -> None:
    _, forged, _ = bundles
    report = replay(chain_from_bundle(forged))  # what an auditor without the key gets
    assert report.same and report.recorded_decision == "released"
    assert any("signatures were not checked" in note for note in report.notes), report.notes
    code, out = run_cli("evidence", "replay", "--bundle", str(forged))
    assert code == 0 and "note: its signatures were not checked" in out, out  # SAME, but said so
