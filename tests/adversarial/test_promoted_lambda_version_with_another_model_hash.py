"""Attack: the promoted Lambda version serves another model than the one the release judged.

The release verified (and judged) the fair model; version 2 was published with the biased model's
sha256 in its ``MODEL_SHA256``. The gate FAILs naming both hashes, the promote step refuses, and the
run's ``model_sha256`` parameter (which names the biased model) is not taken as what was judged.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.operators.aws import DeploymentIdentityCheckOperator
from release_gates.operators.deployment import PromoteModelOperator
from tests.adversarial.identity_support import evidence, hook, model_file, moto_endpoint, start_release
from tests.integration.aws_test_support import alias_version, make_image_lambda

__all__ = ["hook", "moto_endpoint"]
pytestmark = pytest.mark.integration

IMAGE = "sha256:" + "a" * 64


def test_promoted_lambda_version_with_another_model_hash(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    _, judged_sha = model_file(tmp_path, b"fair model")
    biased_sha = hashlib.sha256(b"biased model").hexdigest()
    function = make_image_lambda(
        hook.get_client,
        [
            {"image_digest": IMAGE, "model_sha256": judged_sha},
            {"image_digest": IMAGE, "model_sha256": biased_sha},
        ],
        live="1",
    )
    store = evidence(tmp_path)
    start_release(store, "rel-model", judged_sha, IMAGE)
    # The trigger parameter names the biased model: it is a run parameter, never what was judged.
    store.append("rel-model", "run_note", {"params": {"model_sha256": biased_sha}}, actor="test")
    target = {"type": "lambda", "name": function, "alias": "live", "poll_interval": 0.05}
    spec = {
        "kind": "deployment_identity",
        "target": target,
        "version": "2",
        "model_sha256_env": "MODEL_SHA256",
    }

    gate = DeploymentIdentityCheckOperator(
        task_id="identity", check_id="operations.deployment_identity", spec=spec, release_id="rel-model"
    ).execute(context={})
    assert gate["status"] == "FAIL", gate
    result = store.records("rel-model", kind="check_result")[-1].payload
    assert [f["id"] for f in result["findings"] if f["severity"] != "INFO"] == ["model_mismatch"]
    assert judged_sha[:12] in result["summary"] and biased_sha[:12] in result["summary"]

    with pytest.raises(AirflowFailException, match="refused"):
        PromoteModelOperator(task_id="promote", target=target, version="2", release_id="rel-model").execute(
            context={}
        )
    assert alias_version(hook.get_client, function) == "1"
    # The version that does carry the judged model passes, and is promoted.
    spec_v1 = {**spec, "version": "1"}
    assert (
        DeploymentIdentityCheckOperator(
            task_id="identity", check_id="operations.identity_v1", spec=spec_v1, release_id="rel-model"
        ).execute(context={})["status"]
        == "PASS"
    )
