"""Key id spoofing: the attacker signs a checkpoint with their own key and names it by the trusted
key's id, then gets their public key listed under that id somewhere a verifier also reads keys from
(the signing connection's ``extra.public_keys``, a policy's ``evidence.signing.public_keys``).

Before, the last source read replaced the trusted key without a word, and ``verify`` said "signed
checkpoints verified" — under the trusted key's id. A key id of the derived form must now be the
key's own fingerprint, and one id bound to two keys is refused wherever the keys come from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release_gates.evidence.signing import PublicKeys, SigningKey, SigningKeyError, load_public_keys
from tests.adversarial.evidence_support import RELEASE, run_cli, signed_store
from tests.minimal_policy import MINIMAL_POLICY

TRUSTED = SigningKey.generate()
ATTACKER = SigningKey.generate()


def _policy(tmp_path: Path, public_keys: dict[str, str]) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        MINIMAL_POLICY + "evidence: " + json.dumps({"signing": {"public_keys": public_keys}}) + "\n"
    )
    return path


def test_a_checkpoint_by_the_attackers_key_under_the_trusted_id_is_not_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The database holds a sealed chain whose seal checkpoint the attacker signed, naming TRUSTED's id.
    forger = SigningKey(ATTACKER.private_key, TRUSTED.key_id)
    signed_store(tmp_path, forger, seal="released")
    public = tmp_path / "trusted.pub"
    public.write_text(TRUSTED.public_pem)
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    argv = ("evidence", "verify", RELEASE, "--url", url, "--key", str(public))
    code, out = run_cli(*argv)
    assert code == 1 and "does not match" in out, out  # the trusted key alone: caught

    # The attacker's public key, listed under the trusted id in the signing connection.
    conn = {"conn_type": "generic", "extra": {"public_keys": {TRUSTED.key_id: ATTACKER.public_pem}}}
    monkeypatch.setenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", json.dumps(conn))
    capsys.readouterr()
    code, out = run_cli(*argv)
    error = capsys.readouterr().err  # a usage error (exit 2): the keys cannot be trusted as given
    assert code == 2 and "verified" not in out
    assert f"{TRUSTED.key_id!r} is the key id of another key" in error, error
    assert ATTACKER.key_id in error  # it says which key it really is

    # The same through a policy.
    monkeypatch.delenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING")
    policy = _policy(tmp_path, {TRUSTED.key_id: ATTACKER.public_pem})
    code, out = run_cli("evidence", "verify", RELEASE, "--url", url, "--policy", str(policy))
    assert code == 2 and "is the key id of another key" in capsys.readouterr().err


def test_one_name_for_two_keys_is_refused_whichever_source_comes_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "generic", "extra": {"public_keys": {"release-2026": ATTACKER.public_pem}}}
    monkeypatch.setenv("AIRFLOW_CONN_RELEASE_GATES_SIGNING", json.dumps(conn))
    with pytest.raises(
        SigningKeyError, match="two different public keys are trusted under key id 'release-2026'"
    ):
        load_public_keys(pems={"release-2026": TRUSTED.public_pem}, conn_id="release_gates_signing")
    with pytest.raises(SigningKeyError, match="two different public keys"):
        PublicKeys({"k": TRUSTED.public_key}).merged({"k": ATTACKER.public_key})
    # The same key listed twice, under its own id or one name, is no conflict.
    keys = load_public_keys(pems={"release-2026": ATTACKER.public_pem}, conn_id="release_gates_signing")
    assert list(keys) == ["release-2026"]
    own = PublicKeys.from_pems({TRUSTED.key_id: TRUSTED.public_pem}).merged(
        PublicKeys.from_pems([TRUSTED.public_pem])
    )
    assert list(own) == [TRUSTED.key_id]


def test_a_signing_key_cannot_claim_another_keys_id() -> None:
    with pytest.raises(SigningKeyError, match="is the key id of another key"):
        SigningKey.from_pem(
            ATTACKER.private_pem(), TRUSTED.key_id, source="the private key of connection 'x'"
        )
    named = SigningKey.from_pem(ATTACKER.private_pem(), "release-2026")  # a name of its own: fine
    assert named.key_id == "release-2026"
