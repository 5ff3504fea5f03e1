"""The real ``trivy`` binary, offline: vulnerabilities in an image tarball the test builds, against a
vulnerability DB the test writes; misconfigurations in the demo Dockerfile; a planted credential.
Faults of the binary (missing, too old, hanging, failing, printing garbage) use small stand-in
executables, since the real one cannot be made to misbehave on demand."""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import string
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from release_gates.checks.image_scan.scan import run_image_scan
from release_gates.policy import ImageScanCheck, Waiver
from release_gates.results import Severity, Status
from release_gates_testing.offline_trivy import Advisory, build_image_tarball, build_trivy_db

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {"openssl": "3.0.11-1~deb12u2", "zlib1g": "1:1.2.13.dfsg-1", "bash": "5.2.15-2+b2"}
ADVISORIES = [
    Advisory("CVE-2099-0001", "openssl", "CRITICAL", fixed_version="3.0.13-1~deb12u1", title="openssl: bad"),
    Advisory("CVE-2099-0002", "zlib1g", "LOW", title="zlib: not so bad"),
]


@pytest.fixture(scope="session")
def trivy_binary() -> Path:
    from release_gates.exceptions import TrivyError
    from release_gates.hooks.trivy import TrivyHook

    try:
        return TrivyHook(None).find_binary()
    except TrivyError as exc:
        pytest.skip(f"real trivy binary not installed ({exc})")


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    pytest.importorskip("boltdb", reason="the boltdb package (dev extra) writes the test's vulnerability DB")
    cache = tmp_path / "trivy-cache"
    build_trivy_db(cache, ADVISORIES)
    return cache


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return build_image_tarball(tmp_path / "model-image.tar", PACKAGES).path


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every command the code under test really runs (subprocess.run is wrapped, not replaced)."""
    from release_gates.hooks import trivy as trivy_module

    monkeypatch.setattr(trivy_module, "_version_memo", {})
    seen: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(argv: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append([str(a) for a in argv])
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", counting_run)
    yield seen


def offline_hook(cache: Path, **kwargs: Any) -> Any:
    from release_gates.hooks.trivy import TrivyHook

    return TrivyHook(None, cache_dir=cache, skip_db_update=True, offline_scan=True, **kwargs)


def scan_spec(image: str, **fields: Any) -> ImageScanCheck:
    return ImageScanCheck.model_validate({"kind": "image_scan", "image": image, **fields})


def subcommands(seen: list[list[str]]) -> list[str]:
    return [argv[1] for argv in seen]


# --------------------------------------------------------------------------------------------------
# Vulnerabilities: image tarball + tiny DB
# --------------------------------------------------------------------------------------------------


def test_one_scan_finds_the_db_advisories_in_the_built_image(
    trivy_binary: Path, cache_dir: Path, image: Path, tmp_path: Path, calls: list[list[str]]
) -> None:
    check = scan_spec(str(image), target="tarball", scanners=["vuln", "secret", "misconfig", "license"])
    result = run_image_scan(
        check, check_id="security.image_scan", scanner=offline_hook(cache_dir), artifacts_dir=tmp_path / "out"
    )

    # Trivy ran once for the scan and once to convert its report into the SBOM (plus the version probe).
    assert subcommands(calls) == ["--version", "image", "convert"]
    scan_argv = calls[1]
    assert f"--input={image}" in scan_argv
    assert "--skip-db-update" in scan_argv and "--offline-scan" in scan_argv

    assert result.status is Status.FAIL, result.summary
    assert result.summary.startswith("vulnerabilities CRITICAL 1 > 0 — 3 findings (0 waived)")
    by_id = {f.id: f for f in result.findings}
    # the two advisories, and the image config's missing HEALTHCHECK (LOW, not gated by default)
    assert set(by_id) == {"CVE-2099-0001", "CVE-2099-0002", "DS-0026"}
    openssl = by_id["CVE-2099-0001"]
    assert openssl.severity is Severity.CRITICAL and openssl.title == "openssl: bad"
    assert openssl.data["fixed_version"] == "3.0.13-1~deb12u1" and openssl.data["status"] == "fixed"
    assert openssl.location.endswith("openssl@3.0.11-1~deb12u2")
    zlib = by_id["CVE-2099-0002"]
    assert zlib.data["status"] == "affected" and zlib.severity is Severity.LOW
    assert result.metrics["os"] == "debian 12.5"
    assert result.metrics["fixable"]["CRITICAL"] == 1

    # reproducibility: what was scanned, with what
    expected_id = build_image_tarball(tmp_path / "again.tar", PACKAGES).image_id
    assert result.inputs["image_id"] == expected_id == result.inputs["image_digest"]
    assert result.inputs["image_digest_source"] == "ImageID"
    assert result.inputs["input_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    assert result.inputs["trivy_db"]["Version"] == 2
    assert result.engine["trivy"].count(".") == 2

    # artifacts: the report and a CycloneDX SBOM of the packages Trivy detected
    report_artifact, sbom_artifact = result.artifacts
    for artifact in result.artifacts:
        path = Path(artifact.uri.removeprefix("file://"))
        assert artifact.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert artifact.size_bytes == path.stat().st_size
    sbom = json.loads(Path(sbom_artifact.uri.removeprefix("file://")).read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom_artifact.media_type == "application/vnd.cyclonedx+json"
    purls = sorted(c.get("purl", "") for c in sbom["components"] if c.get("type") == "library")
    assert [p.split("@")[0] for p in purls] == [
        "pkg:deb/debian/bash",
        "pkg:deb/debian/openssl",
        "pkg:deb/debian/zlib1g",
    ]
    report = json.loads(Path(report_artifact.uri.removeprefix("file://")).read_text())
    assert report["SchemaVersion"] == 2 and len(report["Results"][0]["Packages"]) == 3


def test_the_image_config_is_checked_too_root_user_and_credentials_in_env(
    trivy_binary: Path, cache_dir: Path, tmp_path: Path
) -> None:
    token = "ghp_" + _random(string.ascii_letters + string.digits, 36)
    image = build_image_tarball(tmp_path / "root.tar", PACKAGES, user=None, env={"GITHUB_TOKEN": token}).path
    check = scan_spec(str(image), target="tarball", scanners=["secret", "misconfig"])
    result = run_image_scan(
        check, check_id="s.i", scanner=offline_hook(cache_dir), artifacts_dir=tmp_path / "out"
    )
    ids = {f.id for f in result.findings}
    assert {"DS-0002", "DS-0031", "github-pat"} <= ids
    assert result.status is Status.FAIL and "secrets always fail" in result.summary
    assert "misconfigurations HIGH" in result.summary
    assert token not in result.to_json()
    assert all(token not in p.read_text() for p in (tmp_path / "out").iterdir())


def test_the_version_is_asked_once_per_binary_then_remembered(
    trivy_binary: Path, cache_dir: Path, image: Path, tmp_path: Path, calls: list[list[str]]
) -> None:
    check = scan_spec(str(image), target="tarball", scanners=["vuln"], sbom=False)
    for _ in range(2):
        result = run_image_scan(
            check, check_id="s.i", scanner=offline_hook(cache_dir), artifacts_dir=tmp_path
        )
        assert result.status is Status.FAIL
    assert subcommands(calls) == ["--version", "image", "image"]
    # a new process finds it in the cache dir
    from release_gates.hooks import trivy as trivy_module

    trivy_module._version_memo.clear()
    run_image_scan(check, check_id="s.i", scanner=offline_hook(cache_dir), artifacts_dir=tmp_path)
    assert subcommands(calls) == ["--version", "image", "image", "image"]


def test_fixable_only_and_waivers_on_a_real_scan(
    trivy_binary: Path, cache_dir: Path, image: Path, tmp_path: Path
) -> None:
    hook = offline_hook(cache_dir)
    base: dict[str, Any] = {
        "target": "tarball",
        "scanners": ["vuln"],
        "max_findings": {"CRITICAL": 0, "LOW": 0},
    }
    strict = run_image_scan(
        scan_spec(str(image), **base), check_id="s.i", scanner=hook, artifacts_dir=tmp_path
    )
    assert strict.status is Status.FAIL
    assert strict.metrics["violations"] == ["vulnerabilities CRITICAL 1 > 0", "vulnerabilities LOW 1 > 0"]
    waiver = Waiver(
        id="CVE-2099-0001",
        owner="security_engineer",
        statement="The vulnerable code path is not reachable from the model server.",
        expires=date(2026, 7, 1),
        purls=["pkg:deb/debian/openssl"],
    )
    check = scan_spec(str(image), fixable_only=True, waivers=[waiver], **base)
    result = run_image_scan(
        check, check_id="s.i", scanner=hook, artifacts_dir=tmp_path, today=date(2026, 6, 20)
    )
    assert result.status is Status.WARN  # unfixed LOW not counted, CRITICAL waived, waiver ends in 11 days
    assert "owner security_engineer" in result.summary
    assert next(f for f in result.findings if f.id == "CVE-2099-0001").waived_by == "CVE-2099-0001"
    expired = run_image_scan(
        check, check_id="s.i", scanner=hook, artifacts_dir=tmp_path, today=date(2026, 7, 2)
    )
    assert expired.status is Status.FAIL


def test_trivy_settings_from_the_environment_cannot_hide_findings(
    trivy_binary: Path, cache_dir: Path, image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIVY_SEVERITY", "CRITICAL")
    monkeypatch.setenv("TRIVY_IGNORE_UNFIXED", "true")
    work = tmp_path / "cwd"
    work.mkdir()
    (work / ".trivyignore").write_text("CVE-2099-0001\nCVE-2099-0002\n")
    (work / "trivy.yaml").write_text("severity: [CRITICAL]\n")
    monkeypatch.chdir(work)
    check = scan_spec(str(image), target="tarball", scanners=["vuln"], sbom=False)
    result = run_image_scan(check, check_id="s.i", scanner=offline_hook(cache_dir), artifacts_dir=tmp_path)
    assert {f.id for f in result.findings} == {"CVE-2099-0001", "CVE-2099-0002"}


def test_the_sbom_of_one_scan_can_be_scanned_again_as_a_target(
    trivy_binary: Path, cache_dir: Path, image: Path, tmp_path: Path
) -> None:
    hook = offline_hook(cache_dir)
    first = run_image_scan(
        scan_spec(str(image), target="tarball", scanners=["vuln"]),
        check_id="s.i",
        scanner=hook,
        artifacts_dir=tmp_path,
    )
    sbom = Path(first.artifacts[1].uri.removeprefix("file://"))
    again = run_image_scan(
        scan_spec(str(sbom), target="sbom", scanners=["vuln", "secret"]),
        check_id="s.sbom",
        scanner=hook,
        artifacts_dir=tmp_path,
    )
    assert again.inputs["trivy_command"] == "sbom" and again.inputs["scanners"] == ["vuln"]
    assert {f.id for f in again.findings} == {"CVE-2099-0001", "CVE-2099-0002"}


def test_an_unpacked_image_root_is_scanned_as_a_rootfs(
    trivy_binary: Path, cache_dir: Path, image: Path, tmp_path: Path
) -> None:
    root = tmp_path / "rootfs"
    with tarfile.open(image) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layer = outer.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(layer)) as inner:
        inner.extractall(root, filter="data")
    check = scan_spec(str(root), target="filesystem", scanners=["vuln"], sbom=False)
    result = run_image_scan(check, check_id="s.i", scanner=offline_hook(cache_dir), artifacts_dir=tmp_path)
    assert result.inputs["trivy_command"] == "rootfs"
    assert {f.id for f in result.findings} == {"CVE-2099-0001", "CVE-2099-0002"}


# --------------------------------------------------------------------------------------------------
# Misconfigurations and secrets
# --------------------------------------------------------------------------------------------------


def test_the_demo_dockerfile_misconfigurations(
    trivy_binary: Path, tmp_path: Path, calls: list[list[str]]
) -> None:
    check = scan_spec(
        str(REPO / "include" / "demo" / "image"), target="filesystem", scanners=["misconfig", "secret"]
    )
    result = run_image_scan(
        check,
        check_id="security.image_scan",
        scanner=offline_hook(tmp_path / "empty-cache"),
        artifacts_dir=tmp_path,
    )
    assert subcommands(calls) == ["--version", "fs"]  # no packages: no SBOM to convert
    assert {(f.id, f.severity) for f in result.findings} == {
        ("DS-0001", Severity.MEDIUM),
        ("DS-0002", Severity.HIGH),
        ("DS-0005", Severity.LOW),
    }
    assert result.status is Status.FAIL and result.metrics["violations"] == ["misconfigurations HIGH 1 > 0"]
    latest = next(f for f in result.findings if f.id == "DS-0001")
    assert latest.location == "Dockerfile:8" and latest.data["primary_url"].endswith("ds-0001")
    assert result.metrics["misconfig_status"] == {"FAIL": 3}
    assert len(result.artifacts) == 1

    root_waiver = Waiver(
        id="DS-0002",
        owner="security_engineer",
        statement="drops privileges at start",
        expires=date(2099, 1, 1),
    )
    demo = scan_spec(
        str(REPO / "include" / "demo" / "image"),
        target="filesystem",
        scanners=["misconfig"],
        waivers=[root_waiver],
    )
    hook = offline_hook(tmp_path / "empty-cache")
    waived = run_image_scan(demo, check_id="security.image_scan", scanner=hook, artifacts_dir=tmp_path)
    assert waived.status is Status.PASS


def _random(alphabet: str, size: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(size))


@pytest.fixture
def planted_secrets(tmp_path: Path) -> tuple[Path, list[str]]:
    token = "ghp_" + _random(string.ascii_letters + string.digits, 36)
    neighbour = _random(string.ascii_letters + string.digits, 28)  # not a known pattern: context line
    tree = tmp_path / "model-server"
    (tree / "app").mkdir(parents=True)
    (tree / "app" / "settings.py").write_text(
        f'import os\n\nDB_PASSWORD = "{neighbour}"\nGITHUB_TOKEN = "{token}"\nDEBUG = False\n'
    )
    (tree / "README.md").write_text("A model server.\n")
    return tree, [token, neighbour]


def test_a_planted_credential_fails_and_its_value_appears_nowhere(
    trivy_binary: Path,
    *,
    planted_secrets: tuple[Path, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from airflow.sdk import DAG

    from release_gates.evidence import EvidenceStore
    from release_gates.operators.image_scan import ImageScanOperator

    tree, values = planted_secrets
    cache = tmp_path / "cache"
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIVY_DEFAULT",
        json.dumps(
            {"conn_type": "release_gates_trivy", "extra": {"cache_dir": str(cache), "skip_db_update": True}}
        ),
    )
    caplog.set_level("DEBUG")
    with DAG("image_scan_secret_test", schedule=None):
        op = ImageScanOperator(
            task_id="scan",
            check_id="security.image_scan",
            spec={"image": str(tree), "target": "filesystem", "scanners": ["secret", "misconfig"]},
            release_id="rel-secret",
            artifacts_dir=str(tmp_path / "artifacts"),
        )
    summary = op.execute(context={})

    assert summary["status"] == "FAIL"
    (record,) = EvidenceStore(evidence_url).records("rel-secret")
    finding = next(f for f in record.payload["findings"] if f["id"] == "github-pat")
    assert finding["location"] == "app/settings.py:4" and finding["severity"] == "CRITICAL"
    assert record.payload["inputs"]["secrets_redacted"] == 1

    captured = capfd.readouterr()
    places = {
        "xcom summary": json.dumps(summary),
        "evidence payload": json.dumps(record.payload),
        "logs": caplog.text + captured.out + captured.err,
    }
    for artifact in sorted((tmp_path / "artifacts").iterdir()):
        places[f"artifact {artifact.name}"] = artifact.read_text()
    assert places["logs"].strip(), "expected some log output to check"
    for value in values:
        for where, text in places.items():
            assert value not in text, f"secret value found in {where}"


# --------------------------------------------------------------------------------------------------
# Through Airflow: evidence, XCom, ERROR raises after recording
# --------------------------------------------------------------------------------------------------


def test_the_operator_records_evidence_and_an_error_raises_after_recording(
    trivy_binary: Path, cache_dir: Path, image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import DAG

    from release_gates.evidence import EvidenceStore
    from release_gates.operators.base import CheckErrorException
    from release_gates.operators.image_scan import ImageScanOperator

    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow-home"))
    extra = {"cache_dir": str(cache_dir), "skip_db_update": True, "offline_scan": True}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIVY_DEFAULT", json.dumps({"conn_type": "release_gates_trivy", "extra": extra})
    )
    empty = {**extra, "cache_dir": str(tmp_path / "no-db")}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIVY_NO_DB", json.dumps({"conn_type": "release_gates_trivy", "extra": empty})
    )
    spec = {"image": str(image), "target": "tarball", "max_findings": {"CRITICAL": 1}, "scanners": ["vuln"]}
    with DAG("image_scan_operator_test", schedule=None):
        scan = ImageScanOperator(
            task_id="scan", check_id="security.image_scan", spec=spec, release_id="rel:1+op"
        )
        broken = ImageScanOperator(
            task_id="broken",
            check_id="security.image_scan",
            spec=spec,
            release_id="rel:1+op",
            trivy_conn_id="trivy_no_db",
        )

    summary = scan.execute(context={})
    json.dumps(summary)
    assert summary["status"] == "PASS" and summary["evidence_seq"] == 1
    assert summary["findings_by_severity"]["CRITICAL"] == 1
    assert "metrics" not in summary and "findings" not in summary
    report_uri = summary["artifacts"][0]["uri"]
    assert report_uri.startswith(
        (tmp_path / "airflow-home" / "release_gates" / "artifacts" / "rel_1_op").as_uri()
    )

    with pytest.raises(CheckErrorException, match="vulnerability DB missing in offline mode"):
        broken.execute(context={})

    records = EvidenceStore(evidence_url).records("rel:1+op")
    assert [r.payload["status"] for r in records] == ["PASS", "ERROR"]
    assert records[0].payload["artifacts"][0]["sha256"] == summary["artifacts"][0]["sha256"]
    assert records[0].payload["inputs"]["image_id"].startswith("sha256:")
    assert records[0].actor == "image_scan_operator_test.scan"


def test_the_cli_runs_a_real_scan(trivy_binary: Path, tmp_path: Path) -> None:
    from release_gates import cli

    out = io.StringIO()
    argv = ["check", "image-scan", str(REPO / "include" / "demo" / "image"), "--target", "filesystem"]
    argv += [
        "--scanners",
        "misconfig",
        "--cache-dir",
        str(tmp_path / "c"),
        "--skip-db-update",
        "--offline-scan",
    ]
    argv += ["--artifacts-dir", str(tmp_path / "a"), "--json"]
    code = cli.main(argv, out=out)
    result = json.loads(out.getvalue())
    assert code == 1 and result["status"] == "FAIL" and result["check_id"] == "image_scan"
    assert (tmp_path / "a" / "image_scan.trivy.json").is_file()


# --------------------------------------------------------------------------------------------------
# Faults: each an ERROR result with a one-line message
# --------------------------------------------------------------------------------------------------


def _error(check: ImageScanCheck, scanner: Any, tmp_path: Path) -> str:
    result = run_image_scan(
        check, check_id="security.image_scan", scanner=scanner, artifacts_dir=tmp_path / "out"
    )
    assert result.status is Status.ERROR, result.summary
    assert "\n" not in result.summary
    return result.summary


def test_missing_binary_is_an_error(tmp_path: Path, image: Path) -> None:
    from release_gates.hooks.trivy import TrivyHook

    hook = TrivyHook(None, binary=tmp_path / "no-trivy", cache_dir=tmp_path)
    message = _error(scan_spec(str(image), target="tarball"), hook, tmp_path)
    assert message == f"trivy binary not found or not executable: {tmp_path / 'no-trivy'}"


def test_without_path_the_binary_installed_with_this_python_is_found(
    trivy_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.hooks.trivy import TrivyHook

    bundled = Path(sysconfig.get_path("scripts")) / "trivy"
    if not bundled.is_file():
        pytest.skip(f"trivy is not installed next to this Python ({bundled})")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert TrivyHook(None).find_binary() == bundled


def _stand_in(tmp_path: Path, body: str, version: str = "0.76.0") -> Path:
    """A `trivy` that answers --version and otherwise runs ``body`` (a POSIX shell snippet)."""
    script = tmp_path / "bin" / "trivy"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Version: {version}"; exit 0; fi\n{body}\n'
    )
    script.chmod(0o755)
    return script


def test_too_old_trivy_is_an_error(tmp_path: Path, image: Path) -> None:
    from release_gates.hooks.trivy import TrivyHook

    fake = _stand_in(tmp_path, "exit 0", version="0.50.1")
    message = _error(
        scan_spec(str(image), target="tarball"), TrivyHook(None, binary=fake, cache_dir=tmp_path), tmp_path
    )
    assert message == f"trivy 0.50.1 at {fake} is too old: this provider needs trivy >= 0.63.0"
    unknown = _stand_in(tmp_path, "exit 0", version="dev")
    message = _error(
        scan_spec(str(image), target="tarball"), TrivyHook(None, binary=unknown, cache_dir=tmp_path), tmp_path
    )
    assert message.startswith("cannot tell the trivy version")


def test_a_hanging_scan_times_out(tmp_path: Path, image: Path) -> None:
    from release_gates.hooks.trivy import TrivyHook

    fake = _stand_in(tmp_path, "exec sleep 30")
    check = scan_spec(str(image), target="tarball", timeout="1s")
    message = _error(check, TrivyHook(None, binary=fake, cache_dir=tmp_path), tmp_path)
    assert message == "trivy image timed out after 1s and was stopped"


def test_a_failing_run_quotes_the_last_lines_of_its_error_output(
    trivy_binary: Path, tmp_path: Path, image: Path
) -> None:
    # The real binary, told to fetch its DB from a registry that is not there.
    from release_gates.hooks.trivy import TrivyHook

    hook = TrivyHook(
        None, cache_dir=tmp_path / "fresh", db_repository="127.0.0.1:9/trivy-db:2", max_attempts=1
    )
    message = _error(
        scan_spec(str(image), target="tarball", scanners=["vuln"], timeout="60s"), hook, tmp_path
    )
    assert message.startswith("trivy image exited 1: FATAL")
    assert "127.0.0.1:9" in message


def test_an_offline_vulnerability_scan_without_db_is_an_error(
    trivy_binary: Path, tmp_path: Path, image: Path
) -> None:
    message = _error(scan_spec(str(image), target="tarball"), offline_hook(tmp_path / "empty"), tmp_path)
    assert message.startswith("vulnerability DB missing in offline mode: no db/trivy.db in")
    # and the binary's own word for it, should the DB vanish after the check
    from release_gates.hooks.trivy import TrivyDbMissingError, TrivyHook

    hook = TrivyHook(None, cache_dir=tmp_path / "empty")
    stderr = (
        "2026-01-01T00:00:00Z\tFATAL\tFatal error\trun error: init error: DB error: "
        "database error: --skip-db-update cannot be specified on the first run"
    )
    error = hook._failure("image", 1, stderr)
    assert isinstance(error, TrivyDbMissingError) and "cannot be specified on the first run" in str(error)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("exit 0", "Trivy produced no report (empty output)"),
        ("echo 'Scanning...'; exit 0", "Trivy output is not JSON (12 bytes, invalid at line 1 column 1)"),
        (
            'echo \'{"SchemaVersion": 3, "Results": []}\'',
            "unsupported Trivy report SchemaVersion 3 (this reader supports 2)",
        ),
        ("echo 'boom: cannot open image' >&2; exit 3", "trivy image exited 3: boom: cannot open image"),
    ],
)
def test_unusable_output_is_an_error(tmp_path: Path, image: Path, body: str, message: str) -> None:
    from release_gates.hooks.trivy import TrivyHook

    fake = _stand_in(tmp_path, body)
    hook = TrivyHook(None, binary=fake, cache_dir=tmp_path)
    assert _error(scan_spec(str(image), target="tarball", scanners=["secret"]), hook, tmp_path) == message


def test_registry_rate_limits_are_retried_with_backoff(
    tmp_path: Path, image: Path, calls: list[list[str]]
) -> None:
    from release_gates.hooks.trivy import TrivyHook

    os_info = {"OS": {"Family": "debian", "Name": "12"}}
    # one result (a report with none is INCONCLUSIVE), no packages (no SBOM conversion to stand in for)
    results = [{"Target": "img (debian 12)", "Class": "os-pkgs", "Type": "debian"}]
    report = json.dumps(
        {"SchemaVersion": 2, "ArtifactType": "container_image", "Metadata": os_info, "Results": results}
    )
    marker = tmp_path / "attempts"
    body = (
        f'echo x >> "{marker}"\n'
        f'if [ "$(wc -l < "{marker}")" -lt 3 ]; then\n'
        "  echo 'FATAL failed to download: GET https://ghcr.io/v2/x: TOOMANYREQUESTS: later' >&2\n"
        "  exit 1\n"
        "fi\n"
        f"echo '{report}'"
    )
    fake = _stand_in(tmp_path, body)
    waits: list[float] = []
    hook = TrivyHook(None, binary=fake, cache_dir=tmp_path, backoff_seconds=2.0, sleep=waits.append)
    result = run_image_scan(
        scan_spec(str(image), target="tarball", scanners=["secret"]),
        check_id="s.i",
        scanner=hook,
        artifacts_dir=tmp_path / "out",
    )
    assert result.status is Status.PASS, result.summary
    assert waits == [2.0, 4.0] and subcommands(calls) == ["--version", "image", "image", "image"]

    marker.write_text("")
    hook = TrivyHook(None, binary=fake, cache_dir=tmp_path, max_attempts=2, sleep=waits.append)
    message = _error(scan_spec(str(image), target="tarball", scanners=["secret"]), hook, tmp_path)
    assert message.startswith("trivy image: registry rate limit after 2 attempts: FATAL failed to download")


def test_arguments_never_go_through_a_shell(trivy_binary: Path, tmp_path: Path) -> None:
    from release_gates.hooks.trivy import TrivyHook

    odd = tmp_path / "dir with $(touch pwned) ; and spaces"
    odd.mkdir()
    (odd / "Dockerfile").write_text("FROM scratch\nUSER 1000\n")
    hook = offline_hook(tmp_path / "c")
    argv = hook.build_scan_command(
        trivy_binary, str(odd), kind="filesystem", scanners=["misconfig"], timeout=60
    )
    assert argv[-2:] == ["--", str(odd)]
    check = scan_spec(str(odd), target="filesystem", scanners=["misconfig"])
    result = run_image_scan(check, check_id="s.i", scanner=hook, artifacts_dir=tmp_path / "out")
    assert result.status is Status.PASS, result.summary
    assert not (Path.cwd() / "pwned").exists() and not (tmp_path / "pwned").exists()
    assert TrivyHook(None).build_scan_command(
        trivy_binary, "alpine:3.20", kind="image", scanners=["vuln"], timeout=5
    )[-2:] == ["--", "alpine:3.20"]


def test_connection_settings_and_their_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from release_gates.hooks.trivy import TrivyHook

    extra = {
        "cache_dir": str(tmp_path / "c"),
        "timeout": "30m",
        "db_repository": "registry.example.org/mirror/trivy-db:2,ghcr.io/aquasecurity/trivy-db:2",
        "skip_db_update": "true",
        "binary": sys.executable,
    }
    conn = {"conn_type": "release_gates_trivy", "login": "bot", "password": "pw", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_TRIVY_MIRROR", json.dumps(conn))
    monkeypatch.setenv("TRIVY_SEVERITY", "CRITICAL")
    hook = TrivyHook("trivy_mirror", skip_db_update=False)
    settings = hook.get_settings()
    assert settings.timeout == 1800 and settings.skip_db_update is False
    assert settings.db_repositories == (
        "registry.example.org/mirror/trivy-db:2",
        "ghcr.io/aquasecurity/trivy-db:2",
    )
    env = hook._environment()
    assert env["TRIVY_USERNAME"] == "bot" and env["TRIVY_PASSWORD"] == "pw" and "TRIVY_SEVERITY" not in env
    binary = Path(shutil.which("true") or "/bin/true")
    argv = hook.build_scan_command(
        binary, str(tmp_path), kind="filesystem", scanners=["secret"], timeout=1800
    )
    assert "pw" not in argv and "--db-repository" in argv and "--skip-db-update" not in argv

    from airflow.sdk.exceptions import AirflowNotFoundException

    with pytest.raises(AirflowNotFoundException):
        TrivyHook("no_such_connection").get_settings()
    assert TrivyHook().get_settings().skip_db_update is False  # missing default connection: defaults
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIVY_BAD", json.dumps({"conn_type": "x", "extra": {"db_repository": "-x"}})
    )
    from release_gates.exceptions import TrivyError

    with pytest.raises(TrivyError, match="db_repository: invalid image reference"):
        TrivyHook("trivy_bad").get_settings()
