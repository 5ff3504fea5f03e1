"""An AWS API emulator (``moto_server``) for tests, the demo and benchmarks, and the demo's AWS side.

:func:`start_moto` starts the emulator; :func:`setup` creates what the demo policy's checks look at:

* the Lambda function ``mortgage-approval-scorer`` with versions 1–4 and the alias ``live`` on 2
  (version 1 is the known-good fallback for the rollback drill; 3 and 4 are the two candidates);
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


def setup(url: str) -> dict[str, Any]:
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
    for version in range(1, 5):
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr(
                "app.py", f"MODEL_VERSION = {version}\ndef handler(event, context):\n    return {{}}\n"
            )
        if version == 1:
            lam.create_function(
                FunctionName=FUNCTION, Runtime="python3.12", Role=role, Handler="app.handler",
                Code={"ZipFile": code.getvalue()}, Publish=True,
            )  # fmt: skip
        else:
            lam.update_function_code(FunctionName=FUNCTION, ZipFile=code.getvalue())
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
