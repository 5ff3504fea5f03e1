"""A Trivy report that measured nothing must not read as "no vulnerabilities".

The attack: hand the gate a report with no results (``{"SchemaVersion": 2, "Results": null}``), or
one that lists no package for its artifact, as an existing report or from a scan that could not
unpack the target. Whatever the target kind, that is INCONCLUSIVE (human review), never PASS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from release_gates.checks.image_scan import evaluate_trivy_report, run_image_scan
from release_gates.policy import ImageScanCheck
from release_gates.results import Status

TARGET_KINDS = ["image", "tarball", "filesystem", "sbom", "report"]
ARTIFACT_TYPES = {
    "image": "container_image",
    "tarball": "container_image",
    "filesystem": "filesystem",
    "sbom": "cyclonedx",
    "report": None,
}


def _spec(target: str, **fields: Any) -> ImageScanCheck:
    scanners = ["vuln", "license"] if target == "sbom" else ["vuln", "secret", "misconfig"]
    check = {"kind": "image_scan", "image": "x", "target": target, "scanners": scanners}
    return ImageScanCheck.model_validate({**check, **fields})


def _gate(report: dict[str, Any], spec: ImageScanCheck) -> Any:
    return evaluate_trivy_report(report, spec, check_id="security.image_scan")


@pytest.mark.parametrize("target", TARGET_KINDS)
@pytest.mark.parametrize(
    "report",
    [
        {"SchemaVersion": 2, "Results": None},
        {"SchemaVersion": 2},
        {"SchemaVersion": 2, "Results": []},
    ],
    ids=["results_null", "results_missing", "results_empty"],
)
def test_a_report_without_results_is_inconclusive(target: str, report: dict[str, Any]) -> None:
    typed = {**report, "ArtifactName": "candidate", "ArtifactType": ARTIFACT_TYPES[target]}
    for candidate in (report, typed):
        result = _gate(candidate, _spec(target))
        assert result.status is Status.INCONCLUSIVE, result.summary
        assert "no results" in result.summary
    # not even a scan limited to secrets passes on nothing
    if target != "sbom":
        assert _gate(typed, _spec(target, scanners=["secret"])).status is Status.INCONCLUSIVE


@pytest.mark.parametrize("target", TARGET_KINDS)
def test_a_report_listing_no_packages_is_inconclusive_for_a_vulnerability_scan(target: str) -> None:
    # Results exist (an OS was named, a config file was read) but no package was listed.
    report = {
        "SchemaVersion": 2,
        "ArtifactName": "candidate",
        "ArtifactType": ARTIFACT_TYPES[target],
        "Metadata": {"OS": {"Family": "debian", "Name": "12"}},
        "Results": [
            {"Target": "candidate (debian 12)", "Class": "os-pkgs", "Type": "debian"},
            {"Target": "Dockerfile", "Class": "config", "Misconfigurations": []},
        ],
    }
    result = _gate(report, _spec(target))
    assert result.status is Status.INCONCLUSIVE, result.summary
    assert "recognised no OS or packages in candidate" in result.summary

    listed = json.loads(json.dumps(report))
    listed["Results"][0]["Packages"] = [{"Name": "openssl", "Version": "3.0.11"}]
    assert _gate(listed, _spec(target)).status is Status.PASS


def test_the_gate_of_an_existing_empty_report_file_is_inconclusive(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text('{"SchemaVersion": 2, "Results": null}')
    result = run_image_scan(
        _spec("report", image=str(path)),
        check_id="security.image_scan",
        scanner=None,
        artifacts_dir=tmp_path / "out",
    )
    assert result.status is Status.INCONCLUSIVE and not result.status.is_passing
