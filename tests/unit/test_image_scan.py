"""Image scan engine without the binary: parsing real Trivy reports, redaction, the gate, waivers, CLI."""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from release_gates import cli
from release_gates.checks.image_scan.evidence_budget import fit_for_evidence
from release_gates.checks.image_scan.image_identity import UNPINNED_ID, resolve_digest
from release_gates.checks.image_scan.redaction import REDACTED, redact_secrets
from release_gates.checks.image_scan.report import load_report, parse_findings
from release_gates.checks.image_scan.scan import run_image_scan
from release_gates.checks.image_scan.targets import is_pinned, validate_image_reference
from release_gates.checks.image_scan.verdict import evaluate_trivy_report
from release_gates.exceptions import InvalidTargetError, TrivyReportError
from release_gates.policy import ImageScanCheck, Waiver
from release_gates.results import Severity, Status

# Real Trivy reports, kept in the repository with their upstream source (see the README there).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trivy"
TODAY = date(2026, 6, 1)
DIGEST = "sha256:" + "ab" * 32
# The GitHub token that upstream's secrets.json quotes on a context line, around a masked secret.
SECRET_IN_CONTEXT = "ghp_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def spec(**fields: Any) -> ImageScanCheck:
    return ImageScanCheck.model_validate(
        {"kind": "image_scan", "image": "report.json", "target": "report", **fields}
    )


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def evaluate(report: dict[str, Any], check: ImageScanCheck | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("today", TODAY)
    return evaluate_trivy_report(report, check or spec(), check_id="security.image_scan", **kwargs)


def waiver(finding_id: str, expires: date, **fields: Any) -> Waiver:
    return Waiver(
        id=finding_id, owner="security_engineer", statement="accepted for the test", expires=expires, **fields
    )


# --------------------------------------------------------------------------------------------------
# Real reports: counts must match the fixture README's table exactly
# --------------------------------------------------------------------------------------------------


def _readme_rows() -> list[dict[str, str]]:
    text = (FIXTURES / "README.md").read_text()
    section = text[text.index("## Contents per file") :]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def _sev(cell: str) -> dict[str, int]:
    return dict(
        zip(("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"), map(int, cell.split(" / ")), strict=True)
    )


README_ROWS = _readme_rows()


def test_the_readme_table_lists_every_fixture() -> None:
    assert sorted(r["File"] for r in README_ROWS) == sorted(p.name for p in FIXTURES.glob("*.json"))
    assert len(README_ROWS) == 11


@pytest.mark.parametrize("row", README_ROWS, ids=[r["File"] for r in README_ROWS])
def test_counts_match_the_fixture_readme(row: dict[str, str]) -> None:
    report = fixture(row["File"])
    result = evaluate(report)
    assert result.status is not Status.ERROR, result.summary
    counts = result.metrics["counts"]
    assert counts["vulnerability"] == _sev(row["Vulnerabilities by Severity"])
    assert sum(counts["vulnerability"].values()) == int(row["Vulnerabilities (total)"])
    assert sum(result.metrics["fixable"].values()) == int(row["Fixed"])
    assert counts["misconfiguration"] == _sev(row["Misconfigurations by Severity"])
    fail, passed = map(int, row["Misconfigurations FAIL / PASS"].split(" / "))
    assert result.metrics["misconfig_status"].get("FAIL", 0) == fail
    assert result.metrics["misconfig_status"].get("PASS", 0) == passed
    assert counts["secret"] == _sev(row["Secrets by Severity"])
    assert result.inputs["artifact_type"] == row["ArtifactType"]
    assert len(report["Results"]) == int(row["Results"])
    # every vulnerability, failed misconfiguration and secret is a finding of its own
    by_class: dict[str, int] = {}
    for finding in result.findings:
        by_class[finding.data["class"]] = by_class.get(finding.data["class"], 0) + 1
    assert by_class.get("vulnerability", 0) == int(row["Vulnerabilities (total)"])
    assert by_class.get("misconfiguration", 0) == fail
    assert by_class.get("secret", 0) == sum(_sev(row["Secrets by Severity"]).values())


def test_a_vulnerability_finding_carries_package_versions_class_and_url() -> None:
    result = evaluate(fixture("debian-buster.json"))
    critical = next(f for f in result.findings if f.id == "CVE-2019-18224")
    assert critical.severity is Severity.CRITICAL
    assert (
        critical.location == "testdata/fixtures/images/debian-buster.tar.gz (debian 10.1): libidn2-0@2.0.5-1"
    )
    assert critical.data == {
        "class": "vulnerability",
        "target": "testdata/fixtures/images/debian-buster.tar.gz (debian 10.1)",
        "package": "libidn2-0",
        "installed_version": "2.0.5-1",
        "fixed_version": "2.0.5-1+deb10u1",
        "status": "fixed",
        "primary_url": "https://avd.aquasec.com/nvd/cve-2019-18224",
        "purl": "pkg:deb/debian/libidn2-0@2.0.5-1?arch=amd64&distro=debian-10.1",
        "trivy_severity": "CRITICAL",
    }
    unfixed = next(f for f in result.findings if f.id == "CVE-2019-18276")
    assert "fixed_version" not in unfixed.data and "no fixed version" in unfixed.detail
    assert result.findings[0].id == "CVE-2019-18224"  # worst first
    json.dumps(result.to_dict())


def test_default_policy_fails_on_critical_only() -> None:
    assert evaluate(fixture("alpine-39.json")).status is Status.FAIL  # 2 CRITICAL
    assert evaluate(fixture("alpine-310.json")).status is Status.PASS  # 4 MEDIUM
    result = evaluate(fixture("alpine-39.json"))
    assert result.summary.startswith("vulnerabilities CRITICAL 2 > 0 — 6 findings (0 waived)")
    assert result.metrics["violations"] == ["vulnerabilities CRITICAL 2 > 0"]


def test_thresholds_per_severity_change_the_verdict() -> None:
    report = fixture("alpine-39.json")
    assert evaluate(report, spec(max_findings={"CRITICAL": 2})).status is Status.PASS
    assert evaluate(report, spec(max_findings={"CRITICAL": 2, "MEDIUM": 3})).status is Status.FAIL
    assert evaluate(report, spec(max_findings={"critical": 2, "medium": 4})).status is Status.PASS
    ubuntu = fixture("ubuntu-1804.json")
    assert evaluate(ubuntu, spec(max_findings={"LOW": 0})).status is Status.FAIL
    assert evaluate(ubuntu, spec(max_findings={})).status is Status.PASS


def test_fixable_only_counts_only_vulnerabilities_with_a_fix() -> None:
    report = fixture("distroless-base.json")  # 2 MEDIUM without a fix, 2 LOW with one
    strict = spec(max_findings={"MEDIUM": 0})
    assert evaluate(report, strict).status is Status.FAIL
    fixable = evaluate(report, spec(max_findings={"MEDIUM": 0}, fixable_only=True))
    assert fixable.status is Status.PASS
    assert fixable.metrics["gated"]["vulnerability"]["MEDIUM"] == 0
    assert fixable.metrics["counts"]["vulnerability"]["MEDIUM"] == 2  # still reported
    assert len(fixable.findings) == 4
    assert evaluate(report, spec(max_findings={"LOW": 1}, fixable_only=True)).status is Status.FAIL


def test_fixable_only_matches_trivys_own_ignore_unfixed_report() -> None:
    full = evaluate(fixture("debian-buster.json"), spec(max_findings={"LOW": 0}, fixable_only=True))
    ignore_unfixed = evaluate(fixture("debian-buster-ignore-unfixed.json"), spec(max_findings={"LOW": 0}))
    assert full.metrics["gated"] == ignore_unfixed.metrics["gated"]


def test_an_active_waiver_covers_findings_which_stay_reported() -> None:
    report = fixture("alpine-39.json")
    check = spec(waivers=[waiver("CVE-2019-14697", TODAY + timedelta(days=200))])
    result = evaluate(report, check)
    assert result.status is Status.PASS
    waived = [f for f in result.findings if f.waived]
    assert {f.location for f in waived} == {
        "testdata/fixtures/images/alpine-39.tar.gz (alpine 3.9.4): musl@1.1.20-r4",
        "testdata/fixtures/images/alpine-39.tar.gz (alpine 3.9.4): musl-utils@1.1.20-r4",
    }
    assert all(f.waived_by == "CVE-2019-14697" for f in waived)
    assert waived[0].data["waiver"] == {"owner": "security_engineer", "expires": "2026-12-18"}
    assert result.metrics["findings_waived"] == 2 and result.metrics["findings_total"] == 6
    assert result.metrics["waivers_applied"] == [
        {"id": "CVE-2019-14697", "owner": "security_engineer", "expires": "2026-12-18", "findings": 2}
    ]
    assert result.counts_by_severity()["CRITICAL"] == 0
    assert result.counts_by_severity(include_waived=True)["CRITICAL"] == 2


def test_a_waiver_expiring_within_warn_days_warns_and_names_the_owner() -> None:
    check = spec(waivers=[waiver("CVE-2019-14697", TODAY + timedelta(days=14))])
    result = evaluate(fixture("alpine-39.json"), check)
    assert result.status is Status.WARN
    assert "waiver CVE-2019-14697 (owner security_engineer) expires 2026-06-15" in result.summary
    assert result.metrics["waivers_expiring"] == ["CVE-2019-14697"]
    # one day later than warn_days: no warning
    later = spec(waivers=[waiver("CVE-2019-14697", TODAY + timedelta(days=15))])
    assert evaluate(fixture("alpine-39.json"), later).status is Status.PASS
    assert evaluate(fixture("alpine-39.json"), later, today=TODAY + timedelta(days=1)).status is Status.WARN
    assert evaluate(fixture("alpine-39.json"), spec(waivers=check.waivers, warn_days=3)).status is Status.PASS


def test_an_expired_waiver_no_longer_applies() -> None:
    check = spec(waivers=[waiver("CVE-2019-14697", TODAY - timedelta(days=1))])
    result = evaluate(fixture("alpine-39.json"), check)
    assert result.status is Status.FAIL
    assert not any(f.waived for f in result.findings)
    assert result.metrics["waivers_expired"] == [
        {"id": "CVE-2019-14697", "owner": "security_engineer", "expires": "2026-05-31", "findings": 2}
    ]
    # the last day of a waiver still counts
    assert evaluate(fixture("alpine-39.json"), check, today=TODAY - timedelta(days=1)).status is Status.WARN


def test_waivers_scoped_by_purl_and_path() -> None:
    report = fixture("alpine-39.json")
    musl_only = spec(waivers=[waiver("CVE-2019-14697", date(2027, 1, 1), purls=["pkg:apk/alpine/musl"])])
    result = evaluate(report, musl_only)
    assert result.status is Status.FAIL  # musl-utils is still open
    assert [f.location.rsplit(": ", 1)[1] for f in result.findings if f.waived] == ["musl@1.1.20-r4"]
    by_glob = spec(waivers=[waiver("CVE-2019-14697", date(2027, 1, 1), purls=["pkg:apk/alpine/musl*"])])
    assert evaluate(report, by_glob).status is Status.PASS
    other_path = spec(waivers=[waiver("CVE-2019-14697", date(2027, 1, 1), paths=["other/*"])])
    assert evaluate(report, other_path).status is Status.FAIL
    this_path = spec(
        waivers=[waiver("cve-2019-14697", date(2027, 1, 1), paths=["testdata/fixtures/images/*"])]
    )
    assert evaluate(report, this_path).status is Status.PASS


def test_policy_level_waivers_apply_to_their_gates_only() -> None:
    report = fixture("alpine-39.json")
    for_security = waiver("CVE-2019-14697", date(2027, 1, 1), gates=["security"])
    for_other = waiver("CVE-2019-14697", date(2027, 1, 1), gates=["data"])
    everywhere = waiver("CVE-2019-14697", date(2027, 1, 1))
    assert evaluate(report, policy_waivers=[for_security]).status is Status.PASS
    assert evaluate(report, policy_waivers=[for_other]).status is Status.FAIL
    assert evaluate(report, policy_waivers=[everywhere]).status is Status.PASS


def test_secrets_always_fail_and_their_values_are_never_kept() -> None:
    report = fixture("secrets.json")
    assert SECRET_IN_CONTEXT in json.dumps(report)  # upstream's report quotes it on a context line
    lenient = spec(max_findings={}, misconfig_max={})
    result = evaluate(report, lenient)
    assert result.status is Status.FAIL
    assert "2 secrets (secrets always fail)" in result.summary
    secret = next(f for f in result.findings if f.id == "aws-access-key-id")
    assert secret.location == "deploy.sh:3" and secret.severity is Severity.CRITICAL
    assert secret.data == {
        "class": "secret",
        "target": "deploy.sh",
        "rule": "aws-access-key-id",
        "trivy_severity": "CRITICAL",
        "category": "AWS",
        "start_line": 3,
        "end_line": 3,
    }
    assert SECRET_IN_CONTEXT not in result.to_json()
    assert "AWS_ACCESS_KEY_ID" not in result.to_json()

    redacted, count = redact_secrets(report)
    assert count == 2
    text = json.dumps(redacted)
    assert SECRET_IN_CONTEXT not in text and "export AWS_ACCESS_KEY_ID" not in text
    for found in redacted["Results"][0]["Secrets"]:
        assert found["Match"] == REDACTED
        assert all(line.get("Content", "") in ("", REDACTED) for line in found["Code"]["Lines"])
    assert SECRET_IN_CONTEXT in json.dumps(report), "the input must not be modified"


def test_a_waiver_never_covers_a_secret() -> None:
    waivers = [
        waiver("aws-access-key-id", date(2027, 1, 1), paths=["deploy.sh"]),
        waiver("mysecret", date(2027, 1, 1)),
    ]
    result = evaluate(fixture("secrets.json"), spec(waivers=waivers))
    assert result.status is Status.FAIL and "2 secrets (secrets always fail)" in result.summary
    assert all(f.waived_by is None for f in result.findings)
    assert result.metrics["waivers_ignored"] == ["aws-access-key-id", "mysecret"]
    assert result.metrics["waivers_applied"] == []


def test_no_quoted_source_line_survives_redaction() -> None:
    # A misconfiguration quotes its lines unmasked (DS-0031 quotes the ENV line holding a token).
    def lines(*numbers: int) -> dict[str, Any]:
        return {
            "Lines": [
                {"Number": n, "Content": f"ENV T{n}=s3cr3t-{n}", "Highlighted": f"s3cr3t-{n}"}
                for n in numbers
            ]
        }

    secret = {"RuleID": "r", "StartLine": 4, "EndLine": 4, "Match": "T4=s3cr3t-4", "Code": lines(3, 4, 5)}
    misconfig = {
        "ID": "DS-0031",
        "Status": "FAIL",
        "CauseMetadata": {"StartLine": 2, "Code": lines(2), "RenderedCause": {"Raw": "password = s3cr3t-9"}},
    }
    vulnerable = {"Target": "img (debian 12)", "Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]}
    report = {
        "SchemaVersion": 2,
        "Results": [
            {"Target": "config.json", "Class": "secret", "Secrets": [secret]},
            {"Target": "Dockerfile", "Class": "config", "Misconfigurations": [misconfig]},
            vulnerable,
        ],
    }
    redacted, count = redact_secrets(report)
    assert count == 1
    assert "s3cr3t" not in json.dumps(redacted)
    assert redacted["Results"][1]["Misconfigurations"][0]["CauseMetadata"]["StartLine"] == 2  # where stays
    assert redacted["Results"][2] is vulnerable  # results that quote nothing are shared, not copied
    assert "s3cr3t-4" in json.dumps(report)  # the input is not modified


def test_the_image_config_keeps_no_env_value_or_build_command() -> None:
    report = fixture("alpine-39.json")
    config = report["Metadata"]["ImageConfig"]
    config["config"]["Env"] = ["PATH=/usr/bin", "API_TOKEN=tok-8f2c1d"]
    config["history"].append(
        {"created": "2024-01-01T00:00:00Z", "created_by": "RUN login --password hunter2"}
    )
    redacted, _ = redact_secrets(report)
    text = json.dumps(redacted)
    assert "tok-8f2c1d" not in text and "hunter2" not in text
    kept = redacted["Metadata"]["ImageConfig"]
    assert kept["config"]["Env"] == ["PATH=[REDACTED]", "API_TOKEN=[REDACTED]"]
    assert kept["rootfs"] == config["rootfs"] and kept["architecture"] == "amd64"
    assert redacted["Metadata"]["ImageID"] == report["Metadata"]["ImageID"]
    assert len(kept["history"]) == len(config["history"])
    assert "tok-8f2c1d" in json.dumps(report)  # the input is not modified


def test_layer_build_commands_are_redacted() -> None:
    layer = {"DiffID": "sha256:aa", "CreatedBy": "RUN curl -H 'Authorization: token tok-51a0' https://x"}
    report = {
        "SchemaVersion": 2,
        "Metadata": {"Layers": [layer]},
        "Results": [
            {
                "Target": "t",
                "Packages": [{"Name": "p", "Layer": layer}],
                "Vulnerabilities": [{"Layer": layer}],
            },
            {"Target": "u", "Packages": [{"Name": "q", "Layer": {"DiffID": "sha256:bb"}}]},
        ],
    }
    redacted, _ = redact_secrets(report)
    assert "tok-51a0" not in json.dumps(redacted)
    assert redacted["Metadata"]["Layers"][0] == {"DiffID": "sha256:aa", "CreatedBy": REDACTED}
    assert redacted["Results"][1] is report["Results"][1]
    assert layer["CreatedBy"].startswith("RUN curl")


def test_misconfigurations_gate_on_their_own_thresholds() -> None:
    report = fixture("dockerfile.json")  # one HIGH failure: DS-0002 (root user)
    result = evaluate(report)
    assert result.status is Status.FAIL
    assert result.metrics["violations"] == ["misconfigurations HIGH 1 > 0"]
    root = result.findings[0]
    assert (root.id, root.severity, root.location) == ("DS-0002", Severity.HIGH, "Dockerfile")
    assert "Add 'USER <non root user name>'" in root.detail
    # a configuration scan: no package scanner, so no packages are expected in the report
    config_only = {"scanners": ["misconfig"]}
    assert evaluate(report, spec(misconfig_max={"HIGH": 1}, **config_only)).status is Status.PASS
    assert evaluate(report, spec(misconfig_max={}, **config_only)).status is Status.PASS
    waived = spec(waivers=[waiver("DS-0002", date(2027, 6, 30))], **config_only)
    assert evaluate(report, waived).status is Status.PASS
    # with the default scanners the same report measured no packages: not a pass
    assert evaluate(report, spec(misconfig_max={})).status is Status.INCONCLUSIVE


def test_passing_misconfiguration_checks_are_counted_but_are_not_findings() -> None:
    report = {
        "SchemaVersion": 2,
        "Results": [
            {
                "Target": "Dockerfile",
                "Class": "config",
                "Misconfigurations": [
                    {"ID": "DS-0001", "Severity": "MEDIUM", "Status": "PASS"},
                    {"ID": "DS-0002", "Severity": "HIGH", "Status": "FAIL"},
                    {"ID": "DS-0005", "Severity": "LOW", "Status": "EXCEPTION"},
                ],
            }
        ],
    }
    result = evaluate(report)
    assert [f.id for f in result.findings] == ["DS-0002"]
    assert result.metrics["misconfig_status"] == {"PASS": 1, "FAIL": 1, "EXCEPTION": 1}


def _license_report() -> dict[str, Any]:
    # The shape trivy 0.76 writes for `--scanners license` on a Debian image.
    return {
        "SchemaVersion": 2,
        "ArtifactName": "img.tar",
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "debian", "Name": "12.5"}, "ImageID": DIGEST},
        "Results": [
            {"Target": "img.tar (debian 12.5)", "Class": "os-pkgs", "Type": "debian"},
            {
                "Target": "OS Packages",
                "Class": "license",
                "Licenses": [
                    {"Severity": "LOW", "Category": "notice", "PkgName": "openssl", "Name": "Apache-2.0"},
                    {
                        "Severity": "HIGH",
                        "Category": "restricted",
                        "PkgName": "readline-common",
                        "Name": "GPL-3.0-or-later",
                        "Confidence": 1,
                    },
                ],
            },
        ],
    }


def test_licenses_are_reported_and_the_deny_list_fails_them() -> None:
    report = _license_report()
    result = evaluate(report)
    assert result.status is Status.PASS  # reported, not gated without a deny-list
    gpl = next(f for f in result.findings if f.id == "GPL-3.0-or-later")
    assert gpl.severity is Severity.HIGH and gpl.location == "OS Packages: readline-common"
    assert gpl.data["category"] == "restricted" and gpl.data["package"] == "readline-common"
    assert result.metrics["counts"]["license"] == {
        "CRITICAL": 0,
        "HIGH": 1,
        "MEDIUM": 0,
        "LOW": 1,
        "UNKNOWN": 0,
    }

    denied = evaluate(report, spec(license_deny=["gpl-3.0*"]))
    assert denied.status is Status.FAIL
    assert denied.metrics["denied_licenses"] == ["GPL-3.0-or-later (readline-common)"]
    assert evaluate(report, spec(license_deny=["category:restricted"])).status is Status.FAIL
    assert evaluate(report, spec(license_deny=["AGPL-*", "category:forbidden"])).status is Status.PASS
    waived = spec(license_deny=["GPL-*"], waivers=[waiver("GPL-3.0-or-later", date(2027, 1, 1))])
    assert evaluate(report, waived).status is Status.PASS


def test_unknown_severity_is_gated_as_medium_by_default_and_configurable() -> None:
    report = {
        "SchemaVersion": 2,
        "Results": [
            {
                "Target": "t",
                "Vulnerabilities": [{"VulnerabilityID": "CVE-2099-1", "PkgName": "p", "Severity": "UNKNOWN"}],
            }
        ],
    }
    result = evaluate(report, spec(max_findings={"MEDIUM": 0}))
    assert result.status is Status.FAIL and result.findings[0].severity is Severity.MEDIUM
    assert result.findings[0].data["trivy_severity"] == "UNKNOWN"
    assert result.metrics["counts"]["vulnerability"]["UNKNOWN"] == 1
    high = evaluate(report, spec(max_findings={"HIGH": 0}, unknown_severity="high"))
    assert high.status is Status.FAIL and high.findings[0].severity is Severity.HIGH
    # a severity Trivy does not define counts as UNKNOWN, never as nothing
    report["Results"][0]["Vulnerabilities"][0]["Severity"] = "NEGLIGIBLE"
    assert evaluate(report).findings[0].data["trivy_severity"] == "UNKNOWN"


def test_unknown_and_future_fields_are_ignored() -> None:
    report = fixture("alpine-39.json")
    future = copy.deepcopy(report)
    future["NewTopLevel"] = {"x": 1}
    future["Results"][0]["NewResultField"] = [1, 2]
    for vuln in future["Results"][0]["Vulnerabilities"]:
        vuln["ExploitPrediction"] = {"EPSS": 0.5}
    a, b = evaluate(report), evaluate(future)
    assert (a.status, a.metrics, a.findings) == (b.status, b.metrics, b.findings)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (1, "unsupported Trivy report SchemaVersion 1 (this reader supports 2)"),
        (3, "unsupported Trivy report SchemaVersion 3 (this reader supports 2)"),
        ("2", "unsupported Trivy report SchemaVersion '2'"),
        (None, "not a Trivy JSON report: it has no SchemaVersion"),
    ],
)
def test_another_schema_version_is_an_error_naming_it(version: Any, message: str) -> None:
    report: dict[str, Any] = {"Results": []}
    if version is not None:
        report["SchemaVersion"] = version
    result = evaluate(report)
    assert result.status is Status.ERROR
    assert message in result.summary


def test_malformed_known_fields_are_an_error_not_a_pass() -> None:
    result = evaluate({"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": {"a": 1}}]})
    assert result.status is Status.ERROR and "Results[0].Vulnerabilities is not a list" in result.summary
    assert evaluate({"SchemaVersion": 2, "Results": "nope"}).status is Status.ERROR


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "Trivy produced no report (empty output)"),
        (b"  \n", "Trivy produced no report (empty output)"),
        (b"FATAL something broke", "Trivy output is not JSON (21 bytes, invalid at line 1 column 1)"),
        (b'{"SchemaVersion": 2, "Results": [', "Trivy output is not JSON"),
        (b"[1, 2]", "Trivy output is a JSON list, not a report object"),
        (b'{"SchemaVersion": 3}', "unsupported Trivy report SchemaVersion 3"),
    ],
)
def test_unusable_output_is_a_report_error(raw: bytes, message: str) -> None:
    with pytest.raises(TrivyReportError, match=re.escape(message)):
        load_report(raw)


def test_the_non_json_message_never_quotes_the_output() -> None:
    with pytest.raises(TrivyReportError) as caught:
        load_report(b'{"Match": "password=hunter2", ')
    assert "hunter2" not in str(caught.value)


def test_an_image_without_os_or_packages_is_inconclusive_for_vulnerabilities() -> None:
    report = {"SchemaVersion": 2, "ArtifactName": "x:1", "ArtifactType": "container_image", "Results": []}
    result = evaluate(report)
    assert result.status is Status.INCONCLUSIVE
    assert "Trivy recognised no OS or packages" in result.summary
    # no results at all is never a pass, whatever the scanners or what the metadata claims
    assert evaluate(report, spec(scanners=["secret"])).status is Status.INCONCLUSIVE
    with_os = {**report, "Metadata": {"OS": {"Family": "alpine", "Name": "3.20.0"}}}
    assert evaluate(with_os).status is Status.INCONCLUSIVE
    listed = {
        **with_os,
        "Results": [{"Target": "x:1 (alpine 3.20.0)", "Class": "os-pkgs", "Packages": [{"Name": "musl"}]}],
    }
    assert evaluate(listed).status is Status.PASS


# --------------------------------------------------------------------------------------------------
# Digest pinning and image references
# --------------------------------------------------------------------------------------------------


def test_a_tag_only_reference_is_a_finding_and_the_digest_is_recorded() -> None:
    report = fixture("alpine-310.json")
    tag = "ghcr.io/aquasecurity/trivy-test-images:alpine-310"
    result = evaluate(report, reference=tag)
    assert result.status is Status.FAIL
    unpinned = next(f for f in result.findings if f.id == UNPINNED_ID)
    assert unpinned.severity is Severity.MEDIUM
    image_id = report["Metadata"]["ImageID"]
    assert image_id in unpinned.detail
    assert result.inputs["image_digest"] == image_id and result.inputs["image_digest_source"] == "ImageID"
    assert result.inputs["reference"] == tag

    assert (
        evaluate(report, spec(unpinned_severity="high"), reference=tag).findings[0].severity is Severity.HIGH
    )
    assert evaluate(report, spec(require_digest=False), reference=tag).status is Status.PASS
    waived = spec(waivers=[waiver(UNPINNED_ID, date(2027, 1, 1))])
    assert evaluate(report, waived, reference=tag).status is Status.PASS

    pinned = evaluate(report, reference=f"{tag}@{DIGEST}")
    assert pinned.status is Status.PASS
    assert pinned.inputs["image_digest"] == DIGEST and pinned.inputs["image_digest_source"] == "reference"


def test_the_registry_digest_wins_over_the_image_id() -> None:
    report = {
        "Metadata": {
            "ImageID": "sha256:" + "11" * 32,
            "RepoDigests": ["other/image@sha256:" + "22" * 32, "ghcr.io/org/model@sha256:" + "33" * 32],
        }
    }
    facts = resolve_digest(report, "ghcr.io/org/model:1.0")
    assert facts["image_digest"] == "sha256:" + "33" * 32 and facts["image_digest_source"] == "RepoDigests"
    assert resolve_digest(report, None)["image_digest"] == "sha256:" + "22" * 32
    assert resolve_digest({}, None)["image_digest"] is None


@pytest.mark.parametrize(
    "reference",
    [
        "alpine",
        "alpine:3.20",
        "library/alpine:3.20",
        "ghcr.io/org/team/model:1.0.0-rc1",
        "localhost:5000/model",
        f"registry.example.org:443/org/model:2024_01@{DIGEST}",
        f"model@{DIGEST}",
    ],
)
def test_valid_image_references(reference: str) -> None:
    assert validate_image_reference(reference) == reference


@pytest.mark.parametrize(
    "reference",
    [
        "-alpine",
        "--input=/etc/passwd",
        "alpine latest",
        "alpine:3.20\n",
        "alpine;rm -rf /",
        "alpine$(id)",
        "alpine`id`",
        "alpine|cat",
        "alpine&&true",
        "a>b",
        "../../etc/passwd",
        "Alpine:3",
        "alpine:",
        "alpine@sha256:abc",
        "x" * 600,
    ],
)
def test_invalid_image_references_are_refused(reference: str) -> None:
    with pytest.raises(InvalidTargetError):
        validate_image_reference(reference)


def test_an_invalid_image_reference_is_an_error_before_any_scan(tmp_path: Path) -> None:
    class NoScanner:
        def scan(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("must not be called")

        def convert(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("must not be called")

    check = ImageScanCheck(kind="image_scan", image="alpine;rm -rf /", target="image")
    result = run_image_scan(
        check, check_id="security.image_scan", scanner=NoScanner(), artifacts_dir=tmp_path
    )
    assert result.status is Status.ERROR
    assert result.summary.startswith("invalid image reference 'alpine;rm -rf /'")
    assert "\n" not in result.summary and not list(tmp_path.iterdir())


def test_is_pinned() -> None:
    assert is_pinned(f"model@{DIGEST}") and not is_pinned("model:1.0") and not is_pinned("model@sha256:ab")


# --------------------------------------------------------------------------------------------------
# Gating an existing report (no scanner), artifacts, evidence size
# --------------------------------------------------------------------------------------------------


def test_gating_an_existing_report_stores_it_redacted_with_its_sha256(tmp_path: Path) -> None:
    import hashlib

    check = ImageScanCheck(kind="image_scan", image=str(FIXTURES / "secrets.json"), target="report")
    result = run_image_scan(check, check_id="security.image_scan", scanner=None, artifacts_dir=tmp_path / "a")
    assert result.status is Status.FAIL
    (artifact,) = result.artifacts
    stored = tmp_path / "a" / "security.image_scan.trivy.json"
    assert artifact.uri == stored.as_uri() and artifact.name == "trivy-report"
    assert artifact.sha256 == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert artifact.size_bytes == stored.stat().st_size
    assert SECRET_IN_CONTEXT not in stored.read_text()
    assert json.loads(stored.read_text())["Results"][0]["Secrets"][0]["Match"] == REDACTED
    original = (FIXTURES / "secrets.json").read_bytes()
    assert result.inputs["input_sha256"] == hashlib.sha256(original).hexdigest()
    assert result.inputs["secrets_redacted"] == 2
    assert result.engine == {"trivy": "dev"}


def test_a_missing_report_is_an_error(tmp_path: Path) -> None:
    check = ImageScanCheck(kind="image_scan", image=str(tmp_path / "nope.json"), target="report")
    result = run_image_scan(check, check_id="s.image_scan", scanner=None, artifacts_dir=tmp_path)
    assert result.status is Status.ERROR and "report target is not a file" in result.summary


def test_an_unrendered_template_is_an_error(tmp_path: Path) -> None:
    check = ImageScanCheck(kind="image_scan", image="{{ params.image }}")
    result = run_image_scan(check, check_id="s.image_scan", scanner=None, artifacts_dir=tmp_path)
    assert result.status is Status.ERROR and "unrendered template" in result.summary


def test_a_huge_result_is_shortened_to_fit_evidence_keeping_counts_and_verdict() -> None:
    report = fixture("alpine-39.json")
    vulns = report["Results"][0]["Vulnerabilities"]
    report["Results"][0]["Vulnerabilities"] = [
        {**vulns[i % len(vulns)], "PkgName": f"pkg{i}"} for i in range(10_000)
    ]
    result = evaluate(report)
    assert len(result.to_json()) > 1024 * 1024
    fitted = fit_for_evidence(result)
    assert len(fitted.to_json().encode()) <= 768 * 1024
    assert fitted.status is result.status and fitted.metrics["counts"] == result.metrics["counts"]
    assert fitted.metrics["findings_listed"] + fitted.metrics["findings_omitted"] == 10_000
    assert fitted.findings[0].severity is Severity.CRITICAL
    assert "only in the report artifact" in fitted.summary
    small = evaluate(fixture("alpine-39.json"))
    assert fit_for_evidence(small) is small


def test_top_packages_rank_by_vulnerability_count() -> None:
    result = evaluate(fixture("ubuntu-1804.json"))
    top = result.metrics["top_packages"]
    assert len(top) == 5 and top[0]["vulnerabilities"] == 1
    assert {t["package"] for t in top} == {"bash", "e2fsprogs", "libcom-err2", "libext2fs2", "libss2"}
    bash = next(t for t in top if t["package"] == "bash")
    assert bash == {"package": "bash", "vulnerabilities": 1, "fixable": 0, "worst": "LOW"}


def test_parse_findings_reads_no_secret_value() -> None:
    secret = {
        "RuleID": "github-pat",
        "Title": "GitHub PAT",
        "Severity": "CRITICAL",
        "StartLine": 1,
        "EndLine": 1,
        "Match": "TOKEN=ghp_x",
        "Code": {"Lines": [{"Content": "TOKEN=ghp_x"}]},
    }
    report = {"SchemaVersion": 2, "Results": [{"Target": "a.env", "Secrets": [secret]}]}
    (item,) = parse_findings(report)
    assert "ghp_x" not in repr(item)


# --------------------------------------------------------------------------------------------------
# CLI (gating reports: no scanner)
# --------------------------------------------------------------------------------------------------


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


def test_cli_gates_a_report_with_exit_codes(tmp_path: Path) -> None:
    art = ["--artifacts-dir", str(tmp_path)]
    report = str(FIXTURES / "alpine-39.json")
    code, out = run_cli("check", "image-scan", report, "--target", "report", *art)
    assert code == 1 and out.startswith("FAIL         image_scan: vulnerabilities CRITICAL 2 > 0")
    assert "CRITICAL CVE-2019-14697" in out
    code, out = run_cli("check", "image-scan", report, "--target", "report", "--max", "CRITICAL=2", *art)
    assert code == 0, out
    code, out = run_cli(
        "check", "image-scan", report, "--target", "report", "--max", "CRITICAL=2", "--max", "medium=1", *art
    )
    assert code == 1 and "vulnerabilities MEDIUM 4 > 1" in out
    code, out = run_cli(
        "check",
        "image-scan",
        str(FIXTURES / "distroless-base.json"),
        "--target",
        "report",
        "--max",
        "MEDIUM=0",
        "--fixable-only",
        "--json",
        *art,
    )
    assert code == 0 and json.loads(out)["metrics"]["thresholds"]["fixable_only"] is True


def test_cli_takes_thresholds_and_waivers_from_the_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        (Path(__file__).resolve().parents[2] / "include" / "release_policy.yaml")
        .read_text()
        .replace("expires: 2027-06-30", "expires: 2099-06-30")
    )
    art = ["--artifacts-dir", str(tmp_path / "a")]
    dockerfile = str(FIXTURES / "dockerfile.json")
    code, out = run_cli(
        "check",
        "image-scan",
        dockerfile,
        "--target",
        "report",
        "--policy",
        str(policy),
        "--gate",
        "security",
        "--scanners",
        "misconfig",  # the fixture is a configuration scan: it lists no packages
        *art,
    )
    assert code == 0, out  # DS-0002 is waived in the example policy
    assert out.startswith("PASS         security.image_scan:") and "1 finding(s) waived: DS-0002" in out
    code, out = run_cli("check", "image-scan", dockerfile, "--target", "report", *art)
    assert code == 1


def test_cli_usage_errors_and_faults(tmp_path: Path) -> None:
    art = ["--artifacts-dir", str(tmp_path)]
    report = str(FIXTURES / "alpine-39.json")
    assert run_cli("check", "image-scan", report, "--target", "report", "--max", "CRIT=0", *art)[0] == 2
    assert run_cli("check", "image-scan", report, "--target", "report", "--max", "HIGH=-1", *art)[0] == 2
    assert run_cli("check", "image-scan", str(tmp_path / "missing.json"), "--target", "report", *art)[0] == 2
    assert run_cli("check", "image-scan", report, "--target", "report", "--policy", report, *art)[0] == 2
    assert (
        run_cli("check", "image-scan", report, "--target", "report", "--scanners", "vuln,virus", *art)[0] == 2
    )
    bad = tmp_path / "v3.json"
    bad.write_text('{"SchemaVersion": 3, "Results": []}')
    code, out = run_cli("check", "image-scan", str(bad), "--target", "report", *art)
    assert code == 4 and "unsupported Trivy report SchemaVersion 3" in out
    code, out = run_cli("check", "image-scan", "alpine:3 ; id", *art)
    assert code == 4 and "invalid image reference" in out
