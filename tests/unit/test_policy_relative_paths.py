"""Every path in a policy resolves against the policy file, in the DAG and the CLI alike (issue 16).

The image scan's on-disk targets (tarball, filesystem, sbom, report) used to resolve against the
worker's working directory while datasets, models and suites resolved against the policy.
"""

from __future__ import annotations

import io
import json
import shutil
import textwrap
from pathlib import Path

import pytest

from release_gates import cli
from release_gates.inputs.image_scan import resolve_target_path
from release_gates.policy import ImageScanCheck, load_policy

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "trivy"

POLICY = textwrap.dedent(
    """\
    policy_version: 1
    release:
      model: paths-model
    owners:
      security_engineer:
        users: [bob]
    gates:
      - id: security
        owner: security_engineer
        rationale: The image is scanned.
        checks:
          - kind: image_scan
            image: {image}
            target: {target}
            scanners: [vuln]
            sbom: false
            max_findings: {{CRITICAL: 5}}
    approvals:
      release:
        roles: [security_engineer]
        timeout: 1h
    """
)


def _policy_dir(tmp_path: Path, image: str, target: str = "report") -> Path:
    folder = tmp_path / "team"
    (folder / "scans").mkdir(parents=True)
    shutil.copy(FIXTURES / "alpine-39.json", folder / "scans" / "serving.json")
    (folder / "serving").mkdir()
    (folder / "policy.yaml").write_text(POLICY.format(image=image, target=target))
    return folder


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


def test_a_relative_target_resolves_against_the_policy_directory(tmp_path: Path) -> None:
    folder = _policy_dir(tmp_path, "serving", target="filesystem")
    policy = load_policy(folder / "policy.yaml")
    (_, check, _), *_ = list(policy.iter_checks())
    assert isinstance(check, ImageScanCheck)
    resolved = resolve_target_path(check, policy.base_dir)
    assert Path(resolved.image) == folder.resolve() / "serving"
    # Image references, absolute paths and templates stay as written.
    for image, target in (("registry.example.org/m:1", "image"), (str(tmp_path), "filesystem")):
        spec = check.model_copy(update={"image": image, "target": target})
        assert resolve_target_path(spec, policy.base_dir).image == image
    templated = check.model_copy(update={"image": "{{ params.image }}"})
    assert resolve_target_path(templated, policy.base_dir).image == "{{ params.image }}"


def test_the_operator_scans_the_target_next_to_the_policy_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from release_gates.evidence import EvidenceStore
    from release_gates.operators.image_scan import ImageScanOperator

    folder = _policy_dir(tmp_path, "scans/serving.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    operator = ImageScanOperator(
        task_id="scan",
        check_id="security.image_scan",
        policy_path=str(folder / "policy.yaml"),
        release_id="paths-1",
        artifacts_dir=str(tmp_path / "artifacts"),
    )
    summary = operator.execute(context={})
    assert summary["status"] == "PASS", summary
    (record,) = EvidenceStore(evidence_url).records("paths-1")
    assert Path(record.payload["inputs"]["target"]) == folder / "scans" / "serving.json"


def test_the_cli_takes_the_target_from_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _policy_dir(tmp_path, "scans/serving.json")
    monkeypatch.chdir(tmp_path)
    art = ["--artifacts-dir", str(tmp_path / "artifacts")]
    policy = ["--policy", str(folder / "policy.yaml"), "--gate", "security"]
    code, out = _cli("check", "image-scan", *policy, *art, "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["check_id"] == "security.image_scan" and result["status"] == "PASS"
    assert Path(result["inputs"]["target"]) == folder / "scans" / "serving.json"
    # A TARGET typed on the command line still wins, relative to the working directory.
    code, out = _cli("check", "image-scan", "team/scans/serving.json", *policy, *art, "--max", "CRITICAL=0")
    assert code == 1 and "CRITICAL 2 > 0" in out


def test_the_cli_needs_a_target_for_a_templated_policy_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _policy_dir(tmp_path, '"{{ params.report }}"')
    policy = ["--policy", str(folder / "policy.yaml"), "--gate", "security"]
    art = ["--artifacts-dir", str(tmp_path / "artifacts")]
    code, _ = _cli("check", "image-scan", *policy, *art)
    assert code == 2 and "give the value as TARGET or --image" in capsys.readouterr().err
    code, out = _cli("check", "image-scan", *policy, *art, "--image", str(folder / "scans" / "serving.json"))
    assert code == 0, out
    code, _ = _cli("check", "image-scan", *art)
    assert code == 2 and "TARGET is required without --policy" in capsys.readouterr().err
