"""The signing connection holds no usable key (a broken rotation, a secrets backend that did not
answer). The store looks the key up once, at a task's first append; the seal step's first append is
the policy snapshot inside the report, which logs a failure and records it — by appending again.

Before, that second append found the key lookup already spent and wrote unsigned, and so did the
seal: a release sealed "released" with no signed checkpoint, although ``evidence.signing.required``
was true. The lookup must fail every append until it succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from release_gates.evidence import EvidenceStore
from release_gates.evidence.signing import SigningKey
from tests.adversarial.evidence_support import RELEASE
from tests.unit.test_attestation import Release

SECRET = "not-a-pem-but-secret-material"


@pytest.mark.parametrize(
    "signing",
    [
        "evidence: {signing: {required: true, attestation: false}}\n",
        # Not required: still "a connection that exists but holds no usable key fails the append".
        "evidence: {signing: {attestation: false}}\n",
    ],
    ids=["required", "not required"],
)
def test_the_seal_fails_and_the_release_is_not_sealed_unsigned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, signing: str
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", raising=False)
    release = Release(tmp_path, monkeypatch, signing=signing)
    release.give_key(password=SECRET)
    before = release.store.count(release.release_id)

    with pytest.raises(Exception, match="release_gates_signing") as raised:
        release.seal()
    assert SECRET not in str(raised.value) and SECRET not in caplog.text

    assert release.store.chain(release.release_id).sealed_at is None
    kinds = [r.kind for r in release.store.records(release.release_id)][before:]
    assert kinds == []  # nothing went in unsigned: no snapshot, no report, no seal


def test_every_append_fails_until_the_key_loads_then_signs(tmp_path: Path) -> None:
    key = SigningKey.generate()
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    tries: list[int] = []

    def setup(target: EvidenceStore) -> None:  # the lookup fails twice, then finds the key
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("secrets backend did not answer")
        target.signer = key

    store.signing_setup = setup
    for _ in range(2):
        with pytest.raises(ConnectionError):
            store.append(RELEASE, "release_started", {"model": "m"})
    assert store.records(RELEASE) == []
    store.append(RELEASE, "release_started", {"model": "m"})
    store.append(RELEASE, "release_sealed", {"decision": "held"})
    assert len(tries) == 3  # looked up until it worked, then never again
    (checkpoint,) = store.checkpoints(RELEASE)
    assert checkpoint.seq == 2 and checkpoint.key_id == key.key_id
