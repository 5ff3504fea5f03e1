"""A database password must not leak through what the provider prints, logs or records.

The attack surface: an evidence store URL (its ``repr`` is printed by ``release-gates evidence
migrate`` and names the source of every report), and the policy file the seal records whole in the
trail (``policy_snapshot``), which auditors read and export. Passwords holding ``/``, ``#`` and ``@``
are included, written raw or percent-encoded, and password-like query parameters.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from release_gates import cli
from release_gates.credentials import redact_credentials
from release_gates.evidence import EvidenceStore
from release_gates.reports.build import snapshot_policy
from release_gates.reports.seal import record_policy_snapshot

EXAMPLE = Path(__file__).parents[2] / "include" / "release_policy.yaml"
SECRETS = ("p/ss#w@rd", "p%2Fss%23w%40rd", "k3y-s3cr3t", "hunter2", "xoxb-1234")


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg2://rg:p%2Fss%23w%40rd@db.internal:5432/rg",
        "postgresql+psycopg2://rg:p/ss#w@rd@db.internal:5432/rg",
        "postgresql+psycopg2://rg@db.internal/rg?sslpassword=k3y-s3cr3t",
    ],
    ids=["percent_encoded", "raw_slash_hash_at", "query_parameter"],
)
def test_the_evidence_store_repr_masks_the_password(url: str) -> None:
    store = EvidenceStore(url)
    shown = repr(store)
    assert _leaks(shown) == [], shown
    assert "db.internal" in shown and "***" in shown


def test_evidence_migrate_prints_the_store_masked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    out = io.StringIO()
    assert cli.main(["evidence", "migrate", "--url", url], out=out) == 0
    assert out.getvalue().strip() == f"evidence store at head revision: EvidenceStore({url!r})"


def _policy_with_credentials(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text().replace(
        "    uri: demo/data/train.parquet",
        "    uri: postgresql+psycopg2://etl:p/ss#w@rd@db.internal:5432/dw?table=train&sslpassword=k3y-s3cr3t",
    )
    text += "# moved from: https://ops:hunter2@git.example.org/policies/release.yaml\n"
    path = tmp_path / "release_policy.yaml"
    path.write_text(text)
    return path


def test_the_policy_snapshot_is_recorded_without_credentials(tmp_path: Path) -> None:
    path = _policy_with_credentials(tmp_path)
    raw_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    store.migrate()
    store.append("rel-1", "release_started", {"policy": {"source": str(path), "sha256": raw_sha256}})

    record_policy_snapshot(store, "rel-1", path, actor="test")
    (snapshot,) = store.records("rel-1", kind="policy_snapshot")
    assert _leaks(snapshot.payload["text"]) == []
    assert "postgresql+psycopg2://etl:***@db.internal:5432/dw" in snapshot.payload["text"]
    assert "https://ops:***@git.example.org" in snapshot.payload["text"]
    assert snapshot.payload["credentials_redacted"] == 2
    # the recorded sha256 is still the file's, and the report still reads the snapshot
    assert snapshot.payload["sha256"] == raw_sha256 and snapshot.payload["matches_release_started"]
    policy, note = snapshot_policy(store.records("rel-1"))
    assert policy is not None and note is None
    assert _leaks(store.export("rel-1").__repr__()) == []


def test_secret_named_values_are_redacted_and_the_yaml_still_reads() -> None:
    import yaml

    text = (
        "notifications:\n"
        "  password: hunter2   # old\n"
        '  slack_token: "xoxb-1234"\n'
        "  extra: {host: db, client_secret: k3y-s3cr3t, port: 5432}\n"
        "scanners: [vuln, secret]\n"
    )
    redacted, count = redact_credentials(text)
    assert count == 3 and _leaks(redacted) == []
    assert yaml.safe_load(redacted) == {
        "notifications": {
            "password": "***",
            "slack_token": "***",
            "extra": {"host": "db", "client_secret": "***", "port": 5432},
        },
        "scanners": ["vuln", "secret"],
    }


@pytest.mark.parametrize(
    "line",
    [
        "  eval: {uri: 'postgresql://u:s3cr3t@h/dw', owner: steward}",
        '  eval: {uri: "postgresql://u:s3,cr3t@h/dw?x=1&password=s3cr3t", owner: steward}',
        "  eval: {uri: postgresql://u:s3cr3t@h/dw, owner: steward}",
        "  eval: {uri: 'postgresql://u:it''s3cr3t@h/dw', owner: steward}",
        "  eval:\n    uri: mysql://u:p#s3cr3t:x@h:3306/db?token=s3cr3t\n    owner: steward",
    ],
)
def test_a_masked_policy_text_still_parses_and_keeps_everything_but_the_secret(line: str) -> None:
    """The recorded policy snapshot is replayed a year later: masking must not break the YAML (a
    re-encoded ``',`` once swallowed the end of a flow mapping into the URL)."""
    import yaml

    from release_gates.credentials import redact_credentials

    text = f"datasets:\n{line}\n"
    masked, count = redact_credentials(text)
    assert "s3cr3t" not in masked and count >= 1
    parsed = yaml.safe_load(masked)["datasets"]["eval"]
    assert parsed["owner"] == "steward"
    assert parsed["uri"].split("://")[0] in ("postgresql", "mysql") and "***@h" in parsed["uri"]
