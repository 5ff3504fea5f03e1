"""One folder per release run, safe path parts, atomic writes, file artifacts with their sha256."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

import pytest

from release_gates.artifacts import artifact_dir, file_artifact, safe_name, write_atomic

# What DEFAULT_RELEASE_ID renders to for a manually triggered run: Airflow's run id carries the
# UTC offset, so ':' and '+' reach every folder name built from it.
RUN_RELEASE_ID = "release_gate__manual__2026-01-01T10:00:00+00:00"


@pytest.fixture
def airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "airflow-home"
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    return home


def test_the_drift_report_the_image_scan_and_the_seal_report_share_one_run_folder(airflow_home: Path) -> None:
    from release_gates.operators.data import DataDriftCheckOperator
    from release_gates.operators.image_scan import ImageScanOperator
    from release_gates.reports.seal import artifacts_dir as seal_report_dir

    drift = DataDriftCheckOperator(
        task_id="drift",
        check_id="data.drift",
        spec={"kind": "drift", "reference": "train", "current": "eval"},
        release_id=RUN_RELEASE_ID,
    )
    scan = ImageScanOperator(
        task_id="scan",
        check_id="security.image_scan",
        spec={"kind": "image_scan", "image": "registry.example/model:1"},
        release_id=RUN_RELEASE_ID,
    )

    drift_folder = drift._artifact_dir()
    scan_folder = scan._artifacts_path()
    report_folder = seal_report_dir(RUN_RELEASE_ID)

    run_folder = (
        airflow_home / "release_gates" / "artifacts" / "release_gate__manual__2026-01-01T10_00_00_00_00"
    )
    assert drift_folder == scan_folder == run_folder
    assert report_folder == run_folder / "report"
    assert artifact_dir(RUN_RELEASE_ID) == run_folder


def test_an_explicit_folder_argument_still_wins(airflow_home: Path, tmp_path: Path) -> None:
    from release_gates.operators.data import DataDriftCheckOperator

    drift = DataDriftCheckOperator(
        task_id="drift",
        check_id="data.drift",
        spec={"kind": "drift", "reference": "train", "current": "eval"},
        release_id=RUN_RELEASE_ID,
        artifact_dir=str(tmp_path / "elsewhere"),
    )
    assert drift._artifact_dir() == tmp_path / "elsewhere"


def test_without_airflow_home_the_folder_is_under_airflows_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    assert artifact_dir("r1") == Path.home() / "airflow" / "release_gates" / "artifacts" / "r1"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("manual__2026-01-01T10:00:00+00:00", "manual__2026-01-01T10_00_00_00_00"),
        ("security.image_scan", "security.image_scan"),
        ("rel:1+op", "rel_1_op"),
        ("a b/c\\d", "a_b_c_d"),
        ("modèle", "mod_le"),
        ("..", "release"),
        (".", "release"),
        ("../../etc/passwd", "etc_passwd"),
        (".hidden", "hidden"),
        ("", "release"),
        ("::", "release"),
    ],
)
def test_safe_name_keeps_one_harmless_path_part(value: str, expected: str) -> None:
    assert safe_name(value) == expected


def test_safe_name_falls_back_to_the_given_default() -> None:
    assert safe_name("///", default="drift") == "drift"


def test_no_release_id_or_part_leaves_the_artifacts_root(airflow_home: Path) -> None:
    root = airflow_home / "release_gates" / "artifacts"
    for release_id in ("..", "../..", "/etc", "~root", ".", ""):
        folder = artifact_dir(release_id, "report")
        assert folder.parent.parent == root, release_id
    with pytest.raises(ValueError, match="no usable characters"):
        artifact_dir("r1", "..")


def test_write_atomic_writes_bytes_and_text_and_replaces_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, b'{"a": 1}')
    assert target.read_bytes() == b'{"a": 1}'
    write_atomic(target, "ünïcode")
    assert target.read_text("utf-8") == "ünïcode"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_write_atomic_gives_the_permissions_of_a_plain_write(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    atomic = tmp_path / "atomic"
    write_atomic(atomic, b"x")
    assert atomic.stat().st_mode == plain.stat().st_mode


@pytest.mark.parametrize("failing", ["fsync", "replace"])
@pytest.mark.parametrize("existed", [True, False])
def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, existed: bool
) -> None:
    target = tmp_path / "report.json"
    if existed:
        target.write_bytes(b"the previous, complete report")

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, b"x" * 100_000)
    monkeypatch.undo()

    if existed:
        assert target.read_bytes() == b"the previous, complete report"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    else:
        assert list(tmp_path.iterdir()) == []


def test_write_atomic_never_writes_through_a_planted_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"untouched")
    monkeypatch.setattr(secrets, "token_hex", lambda n: "fixed")
    target = tmp_path / "report.json"
    planted = tmp_path / f".report.json.{os.getpid()}.fixed.tmp"
    planted.symlink_to(victim)
    with pytest.raises(FileExistsError):
        write_atomic(target, b"new")
    assert victim.read_bytes() == b"untouched"
    assert not target.exists()


def test_file_artifact_records_uri_sha256_size_and_media_type(tmp_path: Path) -> None:
    path = tmp_path / "scan.trivy.json"
    payload = b'{"SchemaVersion": 2}'
    write_atomic(path, payload)
    artifact = file_artifact(path, "trivy-report", "application/json")
    assert artifact.name == "trivy-report"
    assert artifact.uri == path.resolve().as_uri()
    assert artifact.sha256 == hashlib.sha256(payload).hexdigest()
    assert artifact.size_bytes == len(payload)
    assert artifact.media_type == "application/json"
