"""An edited bundle's ``head`` claims the release was sealed: a held, still-open release would read as
closed. The seal is a record (the store derives ``sealed_at`` from it), so ``verify_bundle`` must
derive it too and name a head that says otherwise — with or without the trusted key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release_gates.evidence import verify_bundle
from release_gates.evidence.signing import SigningKey
from tests.adversarial.evidence_support import RELEASE, run_cli, signed_store, trusted

SIGNER = SigningKey.generate()


@pytest.mark.parametrize("keys", [trusted(SIGNER), None], ids=["with the key", "links only"])
def test_an_open_chain_whose_head_says_sealed_fails(tmp_path: Path, keys: object) -> None:
    bundle = signed_store(tmp_path, SIGNER).export(RELEASE)  # open: the gate is blocked, nothing sealed
    honest = verify_bundle(bundle, keys=trusted(SIGNER))
    assert honest.ok and not honest.sealed

    bundle["head"]["sealed_at"] = "2026-03-02T09:00:00.000000+00:00"
    report = verify_bundle(bundle, keys=keys)  # type: ignore[arg-type]
    assert not report.ok and not report.sealed
    assert report.problem == (
        "chain head says sealed at 2026-03-02T09:00:00.000000+00:00 but no record seals it — head was altered"
    )


def test_a_sealed_chain_whose_head_says_open_or_another_time_fails(tmp_path: Path) -> None:
    bundle = signed_store(tmp_path, SIGNER, seal="held").export(RELEASE)
    assert verify_bundle(bundle, keys=trusted(SIGNER)).ok
    seal_at = bundle["records"][-1]["recorded_at"]
    assert bundle["head"]["sealed_at"] == seal_at

    bundle["head"]["sealed_at"] = None
    report = verify_bundle(bundle, keys=trusted(SIGNER))
    assert not report.ok
    assert report.problem == f"chain head says open but #4 seals it at {seal_at} — head was altered"
    bundle["head"]["sealed_at"] = "2020-01-01T00:00:00+00:00"
    assert not verify_bundle(bundle, keys=trusted(SIGNER)).ok


def test_the_cli_exits_1_for_the_forged_head(tmp_path: Path) -> None:
    bundle = signed_store(tmp_path, SIGNER).export(RELEASE)
    bundle["head"]["sealed_at"] = "2026-03-02T09:00:00.000000+00:00"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    public = tmp_path / "signing.pub"
    public.write_text(SIGNER.public_pem)
    code, out = run_cli("evidence", "verify", "--bundle", str(path), "--key", str(public))
    assert code == 1 and "FAILED" in out and "no record seals it" in out, out
