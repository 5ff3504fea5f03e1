"""The deployment identity engine: what a version carries against what the release judged (no AWS)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest

from release_gates.checks.deployment_identity import evaluate_deployment_identity, identity_changes
from release_gates.deploy.identity import (
    ServingComponent,
    VersionIdentity,
    checksum_sha256_hex,
    image_component_facts,
    normalize_digest,
    reference_digest,
)
from release_gates.inputs.deployment_identity import JudgedArtifacts, judged_from_evidence
from release_gates.results import CheckResult, Status

MODEL = "ab" * 32
OTHER_MODEL = "cd" * 32
IMAGE = "sha256:" + "1" * 64
OTHER_IMAGE = "sha256:" + "2" * 64
TARGET = {"type": "lambda", "name": "scorer", "alias": "live"}


@dataclass
class Record:
    kind: str
    payload: dict[str, Any]
    seq: int = 1


def version(model: str | None = MODEL, image: str | None = IMAGE, **extra: Any) -> VersionIdentity:
    component = ServingComponent(
        name="scorer:3",
        image_digest=image,
        image_note=None if image else "a zip-package function has no container image",
        model_sha256=model,
        model_source="environment variable MODEL_SHA256" if model else None,
        **extra,
    )
    return VersionIdentity(TARGET, "3", (component,))


def judged(model: str | None = MODEL, images: tuple[str, ...] = (IMAGE,)) -> JudgedArtifacts:
    return JudgedArtifacts.given(model_sha256=model, image_digests=images)


def evaluate(observed: VersionIdentity, artifacts: JudgedArtifacts, **kwargs: Any) -> CheckResult:
    result = evaluate_deployment_identity(observed, artifacts, check_id="operations.identity", **kwargs)
    assert CheckResult.from_json(result.to_json()) == result
    return result


def test_both_match_passes_and_names_what_was_compared() -> None:
    result = evaluate(version(), judged())
    assert result.status is Status.PASS, result.summary
    assert "model sha256 and image digest" in result.summary
    assert {c["outcome"] for c in result.metrics["comparisons"]} == {"match"}


def test_another_model_hash_fails_naming_both_hashes() -> None:
    result = evaluate(version(model=OTHER_MODEL), judged())
    assert result.status is Status.FAIL
    finding = next(f for f in result.findings if f.id == "model_mismatch")
    assert OTHER_MODEL[:12] in finding.detail and MODEL[:12] in finding.detail


def test_another_image_digest_fails() -> None:
    result = evaluate(version(image=OTHER_IMAGE), judged())
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings if f.severity.value != "INFO"] == ["image_mismatch"]


@pytest.mark.parametrize(
    ("observed", "artifacts", "why"),
    [
        (version(), judged(images=()), "no image scan"),
        (version(image=None), judged(), "zip-package"),
        (version(model=None), judged(), "model sha256"),
        (version(), judged(model=None), "no judged model"),
        (VersionIdentity(TARGET, "3", (), ("exposes nothing",)), judged(), "exposes nothing"),
    ],
)
def test_cannot_tell_is_inconclusive_never_pass(
    observed: VersionIdentity, artifacts: JudgedArtifacts, why: str
) -> None:
    result = evaluate(observed, artifacts)
    assert result.status is Status.INCONCLUSIVE
    assert why in result.summary


def test_policy_may_compare_only_the_model() -> None:
    result = evaluate(version(image=None), judged(images=()), compare=("model",))
    assert result.status is Status.PASS
    assert "image" not in result.summary


def test_model_hash_from_a_function_wide_tag_is_a_warning() -> None:
    result = evaluate(version(model_bound_to_version=False), judged())
    assert result.status is Status.WARN
    assert "model_hash_not_bound_to_version" in {f.id for f in result.findings}


def test_every_image_scan_must_name_the_deployed_digest() -> None:
    artifacts = JudgedArtifacts(
        MODEL, "given", (*judged().image_scans, *judged(images=(OTHER_IMAGE,)).image_scans)
    )
    assert evaluate(version(), artifacts).status is Status.FAIL


def test_read_error_is_error() -> None:
    result = evaluate_deployment_identity(
        None, judged(), read_error={"message": "lambda GetFunction: AccessDeniedException"}, target=TARGET
    )
    assert result.status is Status.ERROR and "AccessDenied" in result.summary


def test_judged_artifacts_come_from_evidence_and_prefer_the_scored_model() -> None:
    records = [
        Record(
            "release_started", {"inputs": {"model_sha256": OTHER_MODEL, "model_sha256_verified": MODEL}}, 1
        ),
        Record(
            "check_result",
            {
                "kind": "image_scan",
                "check_id": "security.image_scan",
                "inputs": {
                    "image_digest": IMAGE,
                    "image_digest_source": "ImageID",
                    "image_id": IMAGE,
                    "repo_digests": [f"registry.example/scorer@{OTHER_IMAGE}"],
                },
            },
            4,
        ),
    ]
    artifacts = judged_from_evidence(records)
    # The run parameter (model_sha256) is never what was judged; the verified hash is.
    assert artifacts.model_sha256 == MODEL and "release_started #1" in str(artifacts.model_source)
    assert artifacts.image_scans[0].digests == (IMAGE, OTHER_IMAGE)
    scored = judged_from_evidence([*records, Record("model_scored", {"model": {"sha256": MODEL}}, 3)])
    assert "model_scored #3" in str(scored.model_source)
    differing = judged_from_evidence(
        [*records, Record("model_scored", {"model": {"sha256": OTHER_MODEL}}, 3)]
    )
    assert differing.model_sha256 is None


def test_no_release_evidence_judges_nothing() -> None:
    artifacts = judged_from_evidence([])
    assert artifacts.model_sha256 is None and not artifacts.image_scans
    assert evaluate(version(), artifacts).status is Status.INCONCLUSIVE


def test_identity_changes_between_gate_and_promotion() -> None:
    gate = evaluate(version(), judged()).to_dict()
    assert identity_changes(gate, evaluate(version(), judged())) == []
    changed = identity_changes(gate, evaluate(version(model=OTHER_MODEL), judged()))
    assert any("changed since the gate" in reason for reason in changed)
    other_version = VersionIdentity(TARGET, "4", version().components)
    assert any("moves to 4" in r for r in identity_changes(gate, evaluate(other_version, judged())))
    assert any(
        "judged changed" in r
        for r in identity_changes(gate, evaluate(version(), judged(images=(OTHER_IMAGE,))))
    )
    # An inconclusive gate (accepted by a person) stays acceptable only while nothing changes.
    unsure = evaluate(version(image=None), judged()).to_dict()
    assert identity_changes(unsure, evaluate(version(image=None), judged())) == []


def test_digest_helpers() -> None:
    assert reference_digest(f"repo:1.0@{IMAGE}") == IMAGE
    assert reference_digest("repo:1.0") is None
    assert normalize_digest("1" * 64) == IMAGE and normalize_digest("sha256:xyz") is None
    raw = hashlib.sha256(b"model").digest()
    assert checksum_sha256_hex(base64.b64encode(raw).decode()) == raw.hex()
    assert checksum_sha256_hex(base64.b64encode(raw).decode() + "-3") is None  # multipart: not the object's
    assert image_component_facts("repo:latest")["image_note"].startswith("the image is not pinned")
    assert image_component_facts("repo:latest", f"repo@{IMAGE}")["image_digest"] == IMAGE
