"""Attack: the image that was scanned is not the image the promoted Lambda version runs.

The scan judged image A; version 2 of the function is deployed from image B (the run's ``image``
parameter and ``model_version`` are independent). The operations gate's deployment identity check
FAILs naming both digests, and the promote step refuses to move the alias.
"""

from __future__ import annotations

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

SCANNED = "sha256:" + "a" * 64
SHIPPED = "sha256:" + "b" * 64


def test_promoted_lambda_version_with_another_image_digest(hook: AwsDeploymentHook, tmp_path: Path) -> None:
    _, model_sha = model_file(tmp_path)
    function = make_image_lambda(
        hook.get_client,
        [
            {"image_digest": SCANNED, "model_sha256": model_sha},
            {"image_digest": SHIPPED, "model_sha256": model_sha},
        ],
        live="1",
    )
    store = evidence(tmp_path)
    start_release(store, "rel-image", model_sha, SCANNED)
    target = {"type": "lambda", "name": function, "alias": "live", "poll_interval": 0.05}
    spec = {
        "kind": "deployment_identity",
        "target": target,
        "version": "2",
        "model_sha256_env": "MODEL_SHA256",
    }

    gate = DeploymentIdentityCheckOperator(
        task_id="identity", check_id="operations.deployment_identity", spec=spec, release_id="rel-image"
    ).execute(context={})
    assert gate["status"] == "FAIL", gate
    result = store.records("rel-image", kind="check_result")[-1].payload
    mismatch = next(f for f in result["findings"] if f["id"] == "image_mismatch")
    assert mismatch["data"]["deployed"] == SHIPPED and mismatch["data"]["judged"] == [SCANNED]

    with pytest.raises(AirflowFailException, match="refused"):
        PromoteModelOperator(task_id="promote", target=target, version="2", release_id="rel-image").execute(
            context={}
        )
    assert alias_version(hook.get_client, function) == "1"  # nothing changed on the target
    refusal = store.records("rel-image", kind="promotion")[-1].payload
    assert refusal["status"] == "refused" and refusal["serving_before"] == "1"
