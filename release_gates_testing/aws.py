"""The demo's AWS side, on an AWS API emulator (``moto_server``): what the policy's checks look at.

* the Lambda function ``mortgage-approval-scorer`` with versions 1–4 and the alias ``live`` on 2
  (version 1 is the known-good fallback for the rollback drill; 3 and 4 are the two candidates);
* a CloudWatch alarm on its errors that notifies an SNS topic (the automatic rollback trigger);
* the artifacts bucket, encrypted, versioned, private and TLS-only.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

FUNCTION = "mortgage-approval-scorer"
BUCKET = "release-gates-demo-artifacts"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A ``moto_server`` on a free loopback port; returns the process and its URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start: {log_path.read_text()[-1500:]}") from None
            time.sleep(0.2)


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


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        proc.kill()
