"""What a version carries, read from each platform (the moto server over HTTP), and the CLI command."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from typing import Any

import pytest

from release_gates.cli import main as cli_main
from release_gates.deploy.identity import IdentitySettings
from release_gates.hooks.aws import AwsDeploymentHook
from release_gates.inputs.deployment_identity import JudgedArtifacts, run_deployment_identity_check
from release_gates.kinds.deployment_identity import DeploymentIdentityCheck
from release_gates.results import Status
from tests.integration.aws_test_support import (
    lambda_role,
    make_image_lambda,
    make_lambda,
    make_s3_pointer,
    unique,
)

pytestmark = pytest.mark.integration

MODEL = hashlib.sha256(b"model 2").hexdigest()
IMAGE = "sha256:" + "1" * 64
OTHER = "sha256:" + "2" * 64


@pytest.fixture
def hook(aws_connection: str) -> AwsDeploymentHook:
    return AwsDeploymentHook(aws_connection)


def check(hook: AwsDeploymentHook, target: dict[str, Any], version: str, **options: Any) -> Any:
    spec = DeploymentIdentityCheck(kind="deployment_identity", target=target, version=version, **options)
    judged = JudgedArtifacts.given(model_sha256=MODEL, image_digests=[IMAGE])
    return run_deployment_identity_check(spec, hook.get_client, judged, check_id="operations.identity")


def test_lambda_image_function_carries_image_digest_and_model_env(hook: AwsDeploymentHook) -> None:
    function = make_image_lambda(
        hook.get_client, [{"image_digest": OTHER}, {"image_digest": IMAGE, "model_sha256": MODEL}]
    )
    target = {"type": "lambda", "name": function, "alias": "live"}
    identity = hook.deployment_target(
        DeploymentIdentityCheck(kind="deployment_identity", target=target).target
    )
    read = identity.version_identity("2", IdentitySettings(model_sha256_env="MODEL_SHA256"))
    (component,) = read.components
    assert (component.image_digest, component.model_sha256) == (IMAGE, MODEL)
    assert component.facts["package_type"] == "Image"
    # Version 1 has no MODEL_SHA256: cannot tell, never a pass.
    assert (
        identity.version_identity("1", IdentitySettings(model_sha256_env="MODEL_SHA256"))
        .components[0]
        .model_sha256
        is None
    )
    result = check(hook, target, "2", model_sha256_env="MODEL_SHA256")
    assert result.status is Status.PASS, result.summary
    assert all(c["request_id"] for c in result.metrics["api_calls"])


def test_lambda_zip_function_model_hash_from_a_tag(hook: AwsDeploymentHook) -> None:
    function = make_lambda(hook.get_client, versions=2)
    lam = hook.get_client("lambda")
    arn = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"model-sha256": MODEL})
    target = {"type": "lambda", "name": function, "alias": "live"}
    both = check(hook, target, "2", model_sha256_tag="model-sha256")
    assert both.status is Status.INCONCLUSIVE and "zip-package" in both.summary
    model_only = check(hook, target, "2", model_sha256_tag="model-sha256", compare=["model"])
    assert model_only.status is Status.WARN  # a function-wide tag is not bound to the version


def test_ecs_task_definition_image_digest_and_model_env(hook: AwsDeploymentHook) -> None:
    ecs = hook.get_client("ecs")
    cluster, service, family = unique("cluster"), unique("svc"), unique("scorer")
    ecs.create_cluster(clusterName=cluster)
    containers = [
        {"name": "app", "image": f"registry.example/scorer@{IMAGE}", "memory": 128,
         "environment": [{"name": "MODEL_SHA256", "value": MODEL}]},
    ]  # fmt: skip
    ecs.register_task_definition(family=family, containerDefinitions=containers)
    ecs.register_task_definition(
        family=family,
        containerDefinitions=[{**containers[0], "image": "registry.example/scorer:2"}],
    )
    ecs.create_service(cluster=cluster, serviceName=service, taskDefinition=f"{family}:1", desiredCount=1)
    target = {"type": "ecs", "name": service, "cluster": cluster}
    assert check(hook, target, "1", model_sha256_env="MODEL_SHA256").status is Status.PASS
    tagged = check(hook, target, f"{family}:2", model_sha256_env="MODEL_SHA256")
    assert tagged.status is Status.INCONCLUSIVE and "not pinned" in tagged.summary


def test_sagemaker_model_image_and_model_data_checksum(hook: AwsDeploymentHook) -> None:
    s3, sagemaker = hook.get_client("s3"), hook.get_client("sagemaker")
    bucket = unique("sm-models")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="scorer/model.skops", Body=b"model 2", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket=bucket, Key="scorer/other.tar.gz", Body=b"model 3")
    s3.put_object_tagging(
        Bucket=bucket,
        Key="scorer/other.tar.gz",
        Tagging={"TagSet": [{"Key": "model-sha256", "Value": MODEL}]},
    )
    role = lambda_role(hook.get_client("iam"))
    for name, key in (("checksummed", "scorer/model.skops"), ("tagged", "scorer/other.tar.gz")):
        sagemaker.create_model(
            ModelName=f"{name}-{bucket}",
            ExecutionRoleArn=role,
            PrimaryContainer={
                "Image": f"registry.example/scorer@{IMAGE}",
                "ModelDataUrl": f"s3://{bucket}/{key}",
            },
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"{name}-{bucket}",
            ProductionVariants=[{"VariantName": "main", "ModelName": f"{name}-{bucket}",
                                 "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
        )  # fmt: skip
    target = {"type": "sagemaker", "name": f"endpoint-{bucket}"}
    checksummed = check(hook, target, f"checksummed-{bucket}")
    assert checksummed.status is Status.PASS, checksummed.summary
    assert (
        checksummed.metrics["observed"]["components"][0]["model_source"] == "S3 ChecksumSHA256 of the object"
    )
    # Without the policy naming the tag, the tarball's own bytes are hashed: not the judged model.
    assert check(hook, target, f"tagged-{bucket}").status is Status.FAIL
    assert check(hook, target, f"tagged-{bucket}", model_sha256_tag="model-sha256").status is Status.PASS


def test_s3_pointer_object_version_sha256(hook: AwsDeploymentHook) -> None:
    bucket, key, versions = make_s3_pointer(hook.get_client, deployments=3)
    target = {"type": "s3_pointer", "name": f"{bucket}/{key}"}
    # make_s3_pointer uploads b"model <i>": version 2 is b"model 2", hashed from its bytes.
    result = check(hook, target, versions[2], compare=["model"])
    assert result.status is Status.PASS, result.summary
    assert check(hook, target, versions[1], compare=["model"]).status is Status.FAIL
    # A pointer serves no image: comparing it cannot be done, so both → INCONCLUSIVE.
    assert check(hook, target, versions[2]).status is Status.INCONCLUSIVE
    s3 = hook.get_client("s3")
    put = s3.put_object(Bucket=bucket, Key="scorer/model.tar.gz", Body=b"model 2", ChecksumAlgorithm="SHA256")
    head = s3.head_object(
        Bucket=bucket, Key="scorer/model.tar.gz", VersionId=put["VersionId"], ChecksumMode="ENABLED"
    )
    assert base64.b64decode(head["ChecksumSHA256"]).hex() == MODEL
    by_checksum = check(hook, target, put["VersionId"], compare=["model"], read_object=False)
    assert by_checksum.status is Status.PASS
    assert (
        by_checksum.metrics["observed"]["components"][0]["model_source"] == "S3 ChecksumSHA256 of the object"
    )


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli_main(list(argv), out=out)
    return code, out.getvalue()


def test_cli_command(hook: AwsDeploymentHook) -> None:
    function = make_image_lambda(hook.get_client, [{"image_digest": IMAGE, "model_sha256": MODEL}])
    common = ["check", "deployment-identity", "--type", "lambda", "--name", function, "--alias", "live",
              "--version", "1", "--model-sha256-env", "MODEL_SHA256", "--json"]  # fmt: skip
    code, out = run_cli(*common, "--model-sha256", MODEL, "--image-digest", IMAGE)
    assert code == 0 and json.loads(out)["status"] == "PASS"
    code, out = run_cli(*common, "--model-sha256", "ef" * 32, "--image-digest", IMAGE)
    assert code == 1 and json.loads(out)["findings"][0]["id"] == "model_mismatch"
    code, out = run_cli(*common)  # nothing judged given: cannot tell
    assert code == 3
    assert (
        run_cli("check", "deployment-identity", "--type", "lambda", "--name", function, "--alias", "live")[0]
        == 2
    )
