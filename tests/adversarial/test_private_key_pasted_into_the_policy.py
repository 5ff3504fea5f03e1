"""The commonest key mistake: ``signing.key`` pasted into the policy where ``signing.pub`` belongs.

The start step records the policy's text in ``release_started`` (and the seal step in
``policy_snapshot``), so before, the private key went into the evidence, every exported bundle and
every report that quotes the policy — readable by anyone who may read the trail, who could then sign
checkpoints and attestations. A private key under ``evidence.signing.public_keys`` now refuses the
policy before anything is recorded, and one pasted anywhere else is removed from recorded text."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from airflow.sdk.exceptions import AirflowFailException

from release_gates.credentials import redact_credentials
from release_gates.evidence import EvidenceStore
from release_gates.evidence.signing import SigningKey
from release_gates.evidence.snapshot import snapshot_of
from release_gates.policy import PolicyError, load_policy
from tests.minimal_policy import MINIMAL_POLICY
from tests.unit.test_evidence_replay_offline import RELEASE, _start, workdir  # noqa: F401  # the fixture

KEY = SigningKey.generate()
BODY = KEY.private_pem().splitlines()[1]  # the key material itself


def _block(pem: str, indent: int) -> str:
    return textwrap.indent(pem, " " * indent)


def test_a_private_key_among_the_public_keys_refuses_the_release_before_anything_is_recorded(
    workdir: Path,  # noqa: F811  # the fixture imported above
    caplog: pytest.LogCaptureFixture,
) -> None:
    policy = workdir / "policy.yaml"
    policy.write_text(
        MINIMAL_POLICY
        + "evidence:\n  signing:\n    public_keys:\n      release-2026: |\n"
        + _block(KEY.private_pem(), 8)
    )
    with pytest.raises(PolicyError) as refused:
        load_policy(policy)
    message = str(refused.value)
    assert "evidence.signing.public_keys" in message and "'release-2026' holds a PRIVATE key" in message
    assert BODY not in message

    with pytest.raises((AirflowFailException, PolicyError)) as raised:  # the task fails either way
        _start(policy)
    assert "PRIVATE key" in str(raised.value) and BODY not in str(raised.value) and BODY not in caplog.text
    store = EvidenceStore(f"sqlite:///{workdir / 'evidence.db'}")
    assert store.records(RELEASE) == []


def test_a_private_key_anywhere_else_is_removed_from_the_recorded_policy(workdir: Path) -> None:  # noqa: F811
    public = KEY.public_pem
    text = (
        MINIMAL_POLICY.replace("policy_version: 1\n", "policy_version: 1\n# signing key, for reference:\n")
        + "evidence:\n  signing:\n    public_keys:\n      release-2026: |\n"
        + _block(public, 8)
        + "# "
        + KEY.private_pem().replace("\n", "\n# ")
        + "\n"
    )
    policy = workdir / "policy.yaml"
    policy.write_text(text)
    _start(policy)
    store = EvidenceStore(f"sqlite:///{workdir / 'evidence.db'}")
    (started,) = store.records(RELEASE)
    recorded = json.dumps(started.payload)
    assert BODY not in recorded and "PRIVATE-KEY-REDACTED" in recorded
    assert public.splitlines()[1] in recorded  # the public key is not a secret: it stays
    snapshot = started.payload["policy_snapshot"]
    assert snapshot["credentials_redacted"] == 1 and snapshot["text_sha256"] != snapshot["sha256"]


@pytest.mark.parametrize(
    "document",
    [
        "note: |\n" + _block(KEY.private_pem(), 2),  # a block scalar
        "note: " + json.dumps(KEY.private_pem()) + "\n",  # one double-quoted line with \n escapes
        "private_key: " + json.dumps(KEY.private_pem()) + "\n",  # a secret-named key: masked (once)
    ],
    ids=["block", "double-quoted", "secret-named key"],
)
def test_the_recorded_text_still_parses_and_counts_the_key_once(document: str) -> None:
    masked, count = redact_credentials(document)
    assert BODY not in masked and count == 1
    assert isinstance(yaml.safe_load(masked), dict)
    assert BODY not in json.dumps(snapshot_of(document.encode()))
