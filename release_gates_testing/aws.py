"""An AWS API emulator (``moto_server``) for tests, the demo and benchmarks, and the demo's AWS side.

:func:`start_moto` starts the emulator; :func:`setup` creates what the demo policy's checks look at:

* the Lambda function ``mortgage-approval-scorer`` with versions 1–4 (or up to the highest version
  given a model) and the alias ``live`` on 2 (version 1 is the known-good fallback for the rollback
  drill; the demo's candidates are 3, 4 and 5); given the model sha256 of each version and the
  serving image's digest, it is an image-package function whose versions carry them (image
  ``…@<digest>``, ``MODEL_SHA256``), as the policy's ``deployment_identity`` check expects;
* a CloudWatch alarm on its errors that notifies an SNS topic (the automatic rollback trigger);
* the artifacts bucket, encrypted, versioned, private and TLS-only.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from release_gates_testing.processes import BIN, answers_http, free_port, stop_group

FUNCTION = "mortgage-approval-scorer"
BUCKET = "release-gates-demo-artifacts"
REGION = "us-east-1"
#: The emulator's executable (``pip install 'moto[server]'``).
MOTO_SERVER = BIN / "moto_server"


def start_moto(
    log_path: Path, *, env: Mapping[str, str] | None = None, timeout: float = 60
) -> tuple[subprocess.Popen[bytes], str]:
    """A ``moto_server`` on a free loopback port, in its own process group; returns it and its URL.

    ``env`` adds to this process's environment (e.g. ``MOTO_ECS_SERVICE_RUNNING``). Raises
    :class:`RuntimeError` with the end of the log if it exits or does not answer within ``timeout`` s.
    """
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while not answers_http(f"{url}/moto-api/"):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_moto(proc)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"moto_server did not answer on {url} (exit {proc.returncode}):\n{tail}")
        time.sleep(0.1)
    return proc, url


def stop_moto(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a server from :func:`start_moto` (no-op for ``None`` or one that has exited)."""
    stop_group(proc, grace=10)


def connection(url: str) -> dict[str, Any]:
    """The Airflow AWS connection (JSON form) that points boto3 at the emulator."""
    return {
        "conn_type": "aws",
        "login": "demo",
        "password": "demo",
        "extra": {"region_name": REGION, "endpoint_url": url},
    }


#: The repository the demo's serving image is deployed from (the emulator does not check it exists).
IMAGE_REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mortgage-approval"
#: The environment variable a function version holds its model's sha256 in.
MODEL_SHA256_ENV = "MODEL_SHA256"


def setup(
    url: str, *, model_sha256s: Mapping[str, str] | None = None, image_digest: str | None = None
) -> dict[str, Any]:
    """Create the demo's AWS side (see the module docstring).

    :param model_sha256s: function version → the model sha256 that version serves (``MODEL_SHA256``).
    :param image_digest: ``sha256:…`` of the serving image; makes the function an image-package one.
    """
    import boto3  # type: ignore[import-untyped]

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )

    iam = client("iam")
    role = iam.create_role(
        RoleName="mortgage-approval-scorer",
        AssumeRolePolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "lambda.amazonaws.com"}}]}
        ),
    )["Role"]["Arn"]  # fmt: skip
    lam = client("lambda")
    models = dict(model_sha256s or {})
    versions = max([4, *(int(v) for v in models)])
    for version in range(1, versions + 1):
        environment = (
            {"Variables": {MODEL_SHA256_ENV: models[str(version)]}} if str(version) in models else {}
        )
        if image_digest:
            code: dict[str, Any] = {"ImageUri": f"{IMAGE_REPOSITORY}@{image_digest}"}
            package: dict[str, Any] = {"PackageType": "Image"}
        else:
            archive_bytes = io.BytesIO()
            with zipfile.ZipFile(archive_bytes, "w") as archive:
                archive.writestr(
                    "app.py", f"MODEL_VERSION = {version}\ndef handler(event, context):\n    return {{}}\n"
                )
            code = {"ZipFile": archive_bytes.getvalue()}
            package = {"Runtime": "python3.12", "Handler": "app.handler"}
        if version == 1:
            lam.create_function(
                FunctionName=FUNCTION, Role=role, Code=code, Publish=True, Environment=environment, **package
            )
        else:
            lam.update_function_code(FunctionName=FUNCTION, **code)
            lam.update_function_configuration(
                FunctionName=FUNCTION, Environment=environment or {"Variables": {}}
            )
            lam.publish_version(FunctionName=FUNCTION)
    lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="2")

    topic = client("sns").create_topic(Name="mortgage-approval-oncall")["TopicArn"]
    client("cloudwatch").put_metric_alarm(
        AlarmName="mortgage-approval-scorer-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": FUNCTION}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[topic],
        ActionsEnabled=True,
    )

    s3 = client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
        ),
    )
    return {"function": FUNCTION, "alias": "live", "live_version": "2", "bucket": BUCKET, "topic": topic}
