"""AWS emulator fixtures and a release run for the deployment identity attacks.

The moto fixtures mirror ``tests/integration/conftest.py`` (one server per module here).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from release_gates.evidence import EvidenceStore
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates_testing import aws


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not aws.MOTO_SERVER.exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    proc, url = aws.start_moto(tmp_path_factory.mktemp("moto") / "moto_server.log")
    try:
        yield url
    finally:
        aws.stop_moto(proc)


@pytest.fixture
def hook(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AwsDeploymentHook:
    conn = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"region_name": "us-east-1", "endpoint_url": moto_endpoint},
    }
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return AwsDeploymentHook("aws_default")


def model_file(workdir: Path, content: bytes = b"candidate model bytes") -> tuple[Path, str]:
    path = workdir / "model.bin"
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def start_release(store: EvidenceStore, release_id: str, model_sha256: str, image_digest: str | None) -> None:
    """The evidence a release has before its operations gate: started (model verified), image scanned."""
    store.append(
        release_id,
        "release_started",
        {"inputs": {"model_sha256": model_sha256, "model_sha256_verified": model_sha256}},
        actor="test",
    )
    if image_digest:
        store.append(
            release_id,
            "check_result",
            {
                "check_id": "security.image_scan",
                "kind": "image_scan",
                "status": "PASS",
                "inputs": {
                    "image_digest": image_digest,
                    "image_digest_source": "ImageID",
                    "repo_digests": [],
                },
            },
            actor="test",
        )


def evidence(tmp_path: Path) -> EvidenceStore:
    url = f"sqlite:///{tmp_path / 'evidence.db'}"
    os.environ["RELEASE_GATES_EVIDENCE_URL"] = url
    return EvidenceStore(url)


def as_json(value: Any) -> str:
    return json.dumps(value, default=str)
