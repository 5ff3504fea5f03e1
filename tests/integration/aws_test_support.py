"""Building blocks for tests against the moto server: deployable resources and injected faults.

Faults are injected with botocore's event system on the very clients the code under test uses:

* ``before-call`` — the handler answers the call itself with an error response, so the request never
  leaves the client and botocore does not retry it (each injected fault is one failed attempt of a
  drill step);
* ``before-send`` — the handler answers at the HTTP layer, so botocore's own retry logic
  (``needs-retry``) sees it and retries, as it would a real 503.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.awsrequest import AWSResponse

ZIP = io.BytesIO()
with zipfile.ZipFile(ZIP, "w") as _archive:
    _archive.writestr("app.py", "def handler(event, context):\n    return {'ok': True}\n")
LAMBDA_ZIP = ZIP.getvalue()


#: Spec options of a live drill (the target itself is rolled back) whose window is always open: one
#: starts every minute and lasts a minute. Tests of live-drill mechanics use it; the default is shadow.
LIVE_DRILL: dict[str, Any] = {"mode": "live", "window": {"cron": "* * * * *", "duration": "1m"}}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------------


def lambda_role(iam: Any) -> str:
    name = "release-gates-test-lambda"
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        document = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        return str(
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(document))["Role"]["Arn"]
        )


def make_lambda(clients: Any, *, versions: int = 3, live: str | None = None, alias: str = "live") -> str:
    """A function with ``versions`` published versions and an alias on ``live`` (default: the last).

    moto stores the zip and reports versions Active without Docker; invoking would need Docker, which
    is why health relies on platform state and the HTTP probe.
    """
    lam = clients("lambda")
    name = unique("scorer")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lambda_role(clients("iam")),
        Handler="app.handler",
        Code={"ZipFile": LAMBDA_ZIP},
        Publish=True,
    )
    for _ in range(versions - 1):
        lam.update_function_code(FunctionName=name, ZipFile=LAMBDA_ZIP)
        lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=live or str(versions))
    return name


def alias_version(clients: Any, function: str, alias: str = "live") -> str:
    return str(clients("lambda").get_alias(FunctionName=function, Name=alias)["FunctionVersion"])


def make_ecs_service(clients: Any, *, revisions: int = 3) -> tuple[str, str, str]:
    """(cluster, service, family) with ``revisions`` task definitions; the service runs the last."""
    ecs = clients("ecs")
    cluster, service, family = unique("cluster"), unique("svc"), unique("scorer")
    ecs.create_cluster(clusterName=cluster)
    for i in range(revisions):
        ecs.register_task_definition(
            family=family, containerDefinitions=[{"name": "app", "image": f"scorer:{i}", "memory": 128}]
        )
    ecs.create_service(
        cluster=cluster, serviceName=service, taskDefinition=f"{family}:{revisions}", desiredCount=1
    )
    return cluster, service, family


def make_s3_pointer(clients: Any, *, deployments: int = 3) -> tuple[str, str, list[str]]:
    """(bucket, pointer key, model version ids): a versioned bucket whose pointer was written
    ``deployments`` times, each naming the next upload of the model object."""
    s3 = clients("s3")
    bucket = unique("models")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    model_key, pointer_key = "scorer/model.tar.gz", "scorer/current"
    versions = []
    for i in range(deployments):
        version = s3.put_object(Bucket=bucket, Key=model_key, Body=f"model {i}".encode())["VersionId"]
        versions.append(version)
        s3.put_object(
            Bucket=bucket,
            Key=pointer_key,
            Body=json.dumps({"key": model_key, "version_id": version}).encode(),
        )
    return bucket, pointer_key, versions


def pointer_version(clients: Any, bucket: str, key: str) -> str:
    body = clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return str(json.loads(body)["version_id"])


# --------------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------------


@dataclass
class _Rule:
    operation: str
    code: str
    status: int
    skip: int
    times: int
    message: str
    layer: str


@dataclass
class RawBody:
    data: bytes = b""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


@dataclass
class FaultInjector:
    """Fail chosen occurrences of AWS operations.

    Occurrences are counted per operation and layer, from 0, across the clients it is attached to:
    ``skip=2, times=3`` fails the third, fourth and fifth call of that operation.
    """

    rules: list[_Rule] = field(default_factory=list)
    seen: dict[str, Counter[str]] = field(default_factory=lambda: {"call": Counter(), "send": Counter()})
    injected: list[dict[str, Any]] = field(default_factory=list)

    def fail(
        self,
        operation: str,
        *,
        code: str = "ThrottlingException",
        status: int = 400,
        skip: int = 0,
        times: int = 1,
        message: str = "injected fault",
        layer: str = "call",
    ) -> FaultInjector:
        self.rules.append(_Rule(operation, code, status, skip, times, message, layer))
        return self

    def attach(self, *clients: Any) -> FaultInjector:
        for client in clients:
            client.meta.events.register("before-call", self._before_call, unique_id=f"faults-call-{id(self)}")
            client.meta.events.register("before-send", self._before_send, unique_id=f"faults-send-{id(self)}")
        return self

    def detach(self, *clients: Any) -> None:
        for client in clients:
            client.meta.events.unregister("before-call", unique_id=f"faults-call-{id(self)}")
            client.meta.events.unregister("before-send", unique_id=f"faults-send-{id(self)}")

    def _match(self, operation: str, layer: str) -> _Rule | None:
        index = self.seen[layer][operation]
        self.seen[layer][operation] += 1
        for rule in self.rules:
            if (
                rule.operation == operation
                and rule.layer == layer
                and rule.skip <= index < rule.skip + rule.times
            ):
                return rule
        return None

    def _before_call(self, event_name: str, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        operation = event_name.rsplit(".", 1)[-1]
        rule = self._match(operation, "call")
        if rule is None:
            return None
        request_id = f"injected-{len(self.injected) + 1}"
        self.injected.append({"operation": operation, "code": rule.code, "request_id": request_id})
        parsed = {
            "Error": {"Code": rule.code, "Message": rule.message},
            "ResponseMetadata": {
                "RequestId": request_id,
                "HTTPStatusCode": rule.status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        }
        return AWSResponse("https://injected.invalid", rule.status, {}, RawBody()), parsed

    def _before_send(self, event_name: str, request: Any, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        rule = self._match(operation, "send")
        if rule is None:
            return None
        self.injected.append({"operation": operation, "code": rule.code, "status": rule.status})
        return AWSResponse(request.url, rule.status, {}, RawBody())


def answer(operation: str, response: dict[str, Any]) -> Any:
    """A ``before-call`` handler answering ``operation`` with ``response`` (for APIs moto lacks)."""

    def handler(event_name: str, **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if event_name.rsplit(".", 1)[-1] != operation:
            return None
        parsed = {
            **response,
            "ResponseMetadata": {"RequestId": "answered", "HTTPStatusCode": 200, "HTTPHeaders": {}},
        }
        return AWSResponse("https://answered.invalid", 200, {}, RawBody()), parsed

    return handler


# --------------------------------------------------------------------------------------------------
# A health endpoint
# --------------------------------------------------------------------------------------------------


@dataclass
class HealthServer:
    """A local HTTP health endpoint whose answer the test controls."""

    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"status": "ok"})
    delay: float = 0.0
    requests: int = 0
    url: str = ""
    #: When set, decides the status at each request (e.g. from the target's state at that moment).
    status_now: Callable[[], int] | None = None


@contextmanager
def health_server(**settings: Any) -> Iterator[HealthServer]:
    state = HealthServer(**settings)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            if state.delay:
                time.sleep(state.delay)
            payload = json.dumps(state.body).encode()
            status = state.status_now() if state.status_now is not None else state.status
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the probe gave up waiting and closed the connection

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/health"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


IMAGE_REPOSITORY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/scorer"


def make_image_lambda(
    clients: Any,
    versions: list[dict[str, str]],
    *,
    live: str = "1",
    alias: str = "live",
    model_env: str = "MODEL_SHA256",
    tags: dict[str, str] | None = None,
) -> str:
    """An image-package function with one published version per entry of ``versions``
    (``{"image_digest": "sha256:…", "model_sha256": "…"}``, either optional) and an alias on ``live``.

    moto keeps one code record for the function, so every version reads the last ``ImageUri``; tests
    that need versions with different images compare the last one.
    """
    lam = clients("lambda")
    name = unique("scorer")
    for index, version in enumerate(versions):
        code = {"ImageUri": f"{IMAGE_REPOSITORY}@{version.get('image_digest') or 'sha256:' + '0' * 64}"}
        env = {"Variables": {model_env: version["model_sha256"]}} if version.get("model_sha256") else {}
        if index == 0:
            lam.create_function(
                FunctionName=name, Role=lambda_role(clients("iam")), PackageType="Image", Code=code,
                Environment=env, Publish=True, Tags=tags or {},
            )  # fmt: skip
        else:
            lam.update_function_code(FunctionName=name, **code)
            lam.update_function_configuration(FunctionName=name, Environment=env or {"Variables": {}})
            lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=live)
    return name
