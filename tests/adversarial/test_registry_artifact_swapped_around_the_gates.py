"""Attacks on a models:/ candidate (real MLflow registry on SQLite, the whole release DAG with
``dag.test()``):

* the policy pins a sha256 the registry's file does not have → refused at start, never released,
  the alias stays;
* the version's artifact is re-uploaded after the gates judged it (while the release waits for its
  sign-off) → the promotion is refused, nothing moves, the release is not released.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from release_gates.evidence import EvidenceStore
from release_gates_testing.humans import Answer
from tests.integration.mlflow_support import (
    MODEL,
    POLICY,
    Registry,
    biased_model,
    conf,
    fair_model,
    release,
    setup_release,
)

pytestmark = pytest.mark.integration


def test_a_policy_pin_the_registry_file_does_not_match_is_never_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "0" * 64
    policy = POLICY.replace(
        '  uri: "{{ params.model_uri }}"\n', f'  uri: "{{{{ params.model_uri }}}}"\n  sha256: "{wrong}"\n'
    )
    assert wrong in policy
    registry, evidence_url = setup_release(tmp_path, monkeypatch, policy)
    baseline, _ = registry.register(fair_model(seed=5))
    registry.client.set_registered_model_alias(MODEL, "champion", baseline)
    candidate, actual = registry.register(fair_model())
    store = EvidenceStore(evidence_url)

    _, release_id = release(tmp_path, "wrong_pin", conf(candidate), {})
    refused = store.records(release_id, kind="release_refused")[-1].payload
    assert refused["stage"] == "candidate" and actual in refused["summary"] and wrong in refused["summary"]
    assert not store.records(release_id, kind="promotion")
    assert store.records(release_id, kind="release_sealed")[0].payload["decision"] != "released"
    assert registry.alias() == baseline


@dataclass(frozen=True)
class ReuploadThenApprove(Answer):
    """The release manager approves — and someone re-uploads the version's artifact just before."""

    registry: Registry | None = field(default=None, compare=False)
    version: str = ""

    def params(self) -> dict[str, Any]:
        assert self.registry is not None
        self.registry.reupload(self.version, biased_model())
        return super().params()


def test_an_artifact_reuploaded_after_the_gates_is_not_promoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, evidence_url = setup_release(tmp_path, monkeypatch)
    baseline, _ = registry.register(fair_model(seed=5))
    registry.client.set_registered_model_alias(MODEL, "champion", baseline)
    candidate, judged = registry.register(fair_model())
    store = EvidenceStore(evidence_url)
    script = {"signoff.release_release_manager": ReuploadThenApprove("admin", "Approve", registry=registry,
                                                                     version=candidate)}  # fmt: skip

    run, release_id = release(tmp_path, "reuploaded", conf(candidate), script)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["ethics.fairness"].endswith("success")  # the gates judged the original bytes
    promotion = store.records(release_id, kind="promotion")[-1].payload
    assert promotion["status"] == "refused", promotion
    assert "changed since the gates" in promotion["summary"] and judged[:12] in promotion["summary"]
    assert registry.alias() == baseline  # nothing moved
    assert not [
        k for k in registry.client.get_model_version(MODEL, candidate).tags if k.startswith("release_gates")
    ]
    assert store.records(release_id, kind="release_sealed")[0].payload["decision"] != "released"
