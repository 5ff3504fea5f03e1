"""The attestation signs the chain up to the head the decision was made at; the policy snapshot, the
report record and the seal come after it. Someone who edits an exported bundle rewrites those, drops
the signed checkpoints and recomputes every hash: the seal now lists every check as PASS and a waiver
nobody gave, the report record names a doctored report. ``attest verify --bundle`` must not pass it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from release_gates.evidence import verify_bundle
from release_gates.evidence.attestation import verify_attestation
from release_gates.evidence.signing import SigningKey
from tests.adversarial.evidence_support import record_of, rehashed, run_cli, trusted
from tests.unit.test_attestation import Release


@pytest.fixture
def sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Release, SigningKey, Path]:
    monkeypatch.delenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", raising=False)
    release = Release(tmp_path, monkeypatch)
    key = release.give_key()
    entry = release.seal()["attestation"]
    return release, key, Path(entry["uri"].removeprefix("file://"))


def _seal_says_all_passed(bundle: dict[str, Any]) -> None:
    payload = record_of(bundle, "release_sealed")["payload"]
    payload["checks"] = dict.fromkeys(payload["checks"], "PASS")
    payload["waived"] = {"ethics": {"by": "aisha", "rationale": "accepted risk"}}


def _report_names_another_file(bundle: dict[str, Any]) -> None:
    record_of(bundle, "report")["payload"]["files"][0]["sha256"] = "9" * 64


def _snapshot_shows_other_rules(bundle: dict[str, Any]) -> None:
    payload = record_of(bundle, "policy_snapshot")["payload"]
    payload["text"] = payload["text"].replace("ratio_min: 0.8", "ratio_min: 0.1")


@pytest.mark.parametrize(
    "edit",
    [_seal_says_all_passed, _report_names_another_file, _snapshot_shows_other_rules],
    ids=["seal summary", "report hashes", "policy snapshot"],
)
def test_records_after_the_attested_head_rewritten_fail(
    sealed: tuple[Release, SigningKey, Path], edit: Callable[[dict[str, Any]], None]
) -> None:
    release, key, envelope = sealed
    honest = release.bundle()
    assert verify_attestation(envelope.read_bytes(), trusted(key), bundle=honest).ok

    forged = rehashed(honest, edit)
    assert [r["payload"] for r in forged["records"]] != [r["payload"] for r in honest["records"]]
    assert verify_bundle(forged).ok  # consistent in itself: only a signature can tell
    report = verify_attestation(envelope.read_bytes(), trusted(key), bundle=forged)
    assert not report.ok
    assert report.problem is not None and "signed by nobody" in report.problem, report.problems
    assert "the seal (#" in report.problem  # names the record the missing signature would cover


def test_the_cli_exits_1(sealed: tuple[Release, SigningKey, Path], tmp_path: Path) -> None:
    release, key, envelope = sealed
    public = tmp_path / "signing.pub"
    public.write_text(key.public_pem)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(rehashed(release.bundle(), _seal_says_all_passed)))
    code, out = run_cli("attest", "verify", str(envelope), "--key", str(public), "--bundle", str(forged))
    assert code == 1 and "signed by nobody" in out, out
