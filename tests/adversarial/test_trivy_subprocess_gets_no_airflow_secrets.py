"""The scanner subprocess must not inherit the worker's secrets.

The attack: a Trivy binary (or plugin, or a compromised build of it) reads its environment. On an
Airflow worker that environment holds the Fernet key and the metadata database URL. A stand-in
``trivy`` placed through the hook's ``binary`` option dumps what it was given.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release_gates.checks.image_scan import run_image_scan
from release_gates.policy import ImageScanCheck
from release_gates.results import Status

FERNET = "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMDA="
DATABASE = "postgresql+psycopg2://airflow:s3cr3t-db@db.internal:5432/airflow"
REPORT = {
    "SchemaVersion": 2,
    "ArtifactName": "target",
    "ArtifactType": "filesystem",
    "Results": [{"Target": "requirements.txt", "Class": "lang-pkgs", "Type": "pip"}],
}


def _stand_in(tmp_path: Path, dump: Path) -> Path:
    script = tmp_path / "bin" / "trivy"
    script.parent.mkdir(parents=True)
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "Version: 0.76.0"; exit 0; fi\n'
        f'env > "{dump}"\n'
        f"echo '{json.dumps(REPORT)}'\n"
    )
    script.chmod(0o755)
    return script


def test_trivy_sees_an_allow_list_of_its_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from release_gates.hooks.trivy import TrivyHook

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", FERNET)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", DATABASE)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://etl:hunter2@warehouse/dw")
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", "postgresql://rg:pw@db/rg")
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-123")
    monkeypatch.setenv("TRIVY_SEVERITY", "CRITICAL")  # would hide findings from the gate
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # ECR credentials travel this way
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "for-ecr")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca.pem")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("TRIVY_REGISTRY_TOKEN", "registry-token")
    # the hook's own connection: its password reaches Trivy as TRIVY_PASSWORD, the variable does not
    registry = {"conn_type": "release_gates_trivy", "login": "reg-user", "password": "reg-pw"}
    monkeypatch.setenv("AIRFLOW_CONN_TRIVY_REGISTRY", json.dumps(registry))

    dump = tmp_path / "environment.txt"
    target = tmp_path / "target"
    target.mkdir()
    (target / "requirements.txt").write_text("requests==2.0.0\n")
    hook = TrivyHook("trivy_registry", binary=_stand_in(tmp_path, dump), cache_dir=tmp_path / "cache")
    spec = ImageScanCheck.model_validate(
        {"kind": "image_scan", "image": str(target), "target": "filesystem", "scanners": ["secret"]}
    )
    result = run_image_scan(
        spec, check_id="security.image_scan", scanner=hook, artifacts_dir=tmp_path / "out"
    )
    assert result.status is Status.PASS, result.summary

    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    text = dump.read_text()
    for secret in (FERNET, "s3cr3t-db", "hunter2", "postgresql://rg:pw", "tok-123"):
        assert secret not in text
    assert not [name for name in seen if name.startswith("AIRFLOW")]
    assert "TRIVY_SEVERITY" not in seen and "SOME_SERVICE_TOKEN" not in seen
    assert "RELEASE_GATES_EVIDENCE_URL" not in seen
    # what Trivy needs to run and to reach a registry still arrives
    assert seen["PATH"] and "HOME" in seen
    assert seen["AWS_REGION"] == "eu-west-1" and seen["AWS_SECRET_ACCESS_KEY"] == "for-ecr"
    assert seen["HTTPS_PROXY"] == "http://proxy.internal:3128"
    assert seen["SSL_CERT_FILE"] == "/etc/ssl/certs/ca.pem" and seen["DOCKER_CONFIG"]
    assert seen["TRIVY_REGISTRY_TOKEN"] == "registry-token"
    assert (seen["TRIVY_USERNAME"], seen["TRIVY_PASSWORD"]) == ("reg-user", "reg-pw")
