"""Operational readiness: someone is paged when the release misbehaves, and we know what shipped.

* The deployment target exists (its current version is read).
* CloudWatch metric alarms watch the target (by dimension: ``FunctionName``, ``ServiceName`` +
  ``ClusterName``, ``EndpointName``, ``BucketName``; metric-math alarms included), and each has
  enabled alarm actions — an alarm that notifies nobody pages nobody.
* The image is pinned by digest (``…@sha256:<64 hex>``) and the model artifact by its sha256.

FAIL when anything above is missing; ERROR when AWS could not be asked (the target does not exist,
access denied, errors after retries). This module imports no Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.deploy.calls import ApiCallLog, TargetError, aws_call
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.deploy import DeploymentTarget
    from release_gates.policy import OpsReadinessCheck

_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def image_pinned(reference: str) -> bool:
    """``registry/repo@sha256:…`` (optionally with a tag before the digest) is pinned; a tag alone is not."""
    return bool(_DIGEST.search(reference.strip()))


def _alarm_dimension_sets(alarm: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    if alarm.get("Dimensions"):
        yield {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    for query in alarm.get("Metrics") or []:
        metric = (query.get("MetricStat") or {}).get("Metric") or {}
        if metric.get("Dimensions"):
            yield {d["Name"]: d["Value"] for d in metric["Dimensions"]}


def _metric_alarms(cloudwatch: Any, log: ApiCallLog) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"], "MaxRecords": 100}
    while True:
        page = aws_call(cloudwatch, "describe_alarms", log, **params)
        yield from page.get("MetricAlarms", [])
        token = page.get("NextToken")
        if not token:
            return
        params["NextToken"] = token


def evaluate_ops_readiness(
    target: DeploymentTarget,
    cloudwatch: Any,
    spec: OpsReadinessCheck,
    *,
    check_id: str = "ops_readiness",
    image: str | None = None,
    model_uri: str | None = None,
    model_sha256: str | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Check alarms on ``target`` and the release inputs' pinning. Parameters override the spec's."""
    started = utcnow()
    image = image if image is not None else spec.image
    model_uri = model_uri if model_uri is not None else spec.model_uri
    model_sha256 = model_sha256 if model_sha256 is not None else spec.model_sha256
    log = ApiCallLog()
    target.calls.drain()
    findings: list[Finding] = []
    where = target.description
    try:
        version = target.current_version()
        scanned, alarms = 0, []
        for alarm in _metric_alarms(cloudwatch, log):
            scanned += 1
            if any(target.watched_by(dims) for dims in _alarm_dimension_sets(alarm)):
                alarms.append(alarm)
    except TargetError as exc:
        return CheckResult.error(
            check_id=check_id,
            kind="ops_readiness",
            message=f"could not read {where}: {exc}",
            started_at=started,
            metrics={"target": target.identity(), "error": exc.to_dict(), "api_calls": _calls(target, log)},
            inputs=dict(inputs or {}),
            engine={"release-gates": __version__},
        )

    alarm_facts = []
    for alarm in alarms:
        actions = list(alarm.get("AlarmActions") or [])
        enabled = bool(alarm.get("ActionsEnabled", True))
        alarm_facts.append(
            {
                "name": alarm["AlarmName"],
                "state": alarm.get("StateValue"),
                "metric": f"{alarm.get('Namespace') or 'metric-math'}/{alarm.get('MetricName') or '-'}",
                "actions_enabled": enabled,
                "alarm_actions": len(actions),
            }
        )
        if spec.require_alarm_actions and not (actions and enabled):
            findings.append(
                Finding(
                    id="alarm_without_actions",
                    severity=Severity.MEDIUM,
                    title=f"Alarm {alarm['AlarmName']} notifies nobody",
                    detail="It has no alarm actions" if not actions else "Its actions are disabled",
                    location=alarm["AlarmName"],
                )
            )
    if not alarms:
        findings.append(
            Finding(
                id="no_alarms",
                severity=Severity.HIGH,
                title=f"No CloudWatch alarm watches {where}",
                detail=f"None of {scanned} metric alarms has this target's dimensions.",
                location=where,
            )
        )
    image_facts, model_facts = _pinning(image, model_uri, model_sha256, findings)

    status = Status.FAIL if any(f.severity is not Severity.INFO for f in findings) else Status.PASS
    if status is Status.PASS:
        summary = f"{len(alarms)} alarm(s) with actions watch {where}; release inputs pinned"
    else:
        first = next(f for f in findings if f.severity is not Severity.INFO)
        summary = (
            f"{len([f for f in findings if f.severity is not Severity.INFO])} readiness gap(s): {first.title}"
        )
    return CheckResult(
        check_id=check_id,
        kind="ops_readiness",
        status=status,
        summary=summary,
        metrics={
            "target": target.identity(),
            "version": version,
            "alarms_scanned": scanned,
            "alarms": alarm_facts,
            "image": image_facts,
            "model": model_facts,
            "api_calls": _calls(target, log),
        },
        findings=findings,
        inputs={**dict(inputs or {}), "image": image, "model_uri": model_uri, "model_sha256": model_sha256},
        engine={"release-gates": __version__},
        started_at=started,
        finished_at=utcnow(),
    )


def _pinning(
    image: str | None, model_uri: str | None, model_sha256: str | None, findings: list[Finding]
) -> tuple[dict[str, Any], dict[str, Any]]:
    image_facts: dict[str, Any] = {"reference": image, "pinned": None}
    if not image:
        findings.append(
            Finding(
                id="image_not_given",
                severity=Severity.INFO,
                title="No image in the release inputs; image pinning not checked",
            )
        )
    elif "{{" in image:
        findings.append(
            Finding(
                id="image_unresolved",
                severity=Severity.HIGH,
                title="The image reference is an unrendered template",
                location=image,
            )
        )
    else:
        image_facts["pinned"] = image_pinned(image)
        if not image_facts["pinned"]:
            findings.append(
                Finding(
                    id="image_not_pinned",
                    severity=Severity.HIGH,
                    title="The image is not pinned by digest",
                    detail="A tag can move after review; ship repo@sha256:<digest>.",
                    location=image,
                )
            )
    model_facts: dict[str, Any] = {"uri": model_uri, "sha256": model_sha256, "pinned": None}
    if not model_uri and not model_sha256:
        findings.append(
            Finding(
                id="model_not_given",
                severity=Severity.INFO,
                title="No model artifact in the release inputs; model pinning not checked",
            )
        )
    else:
        model_facts["pinned"] = bool(model_sha256 and _SHA256.match(model_sha256.strip()))
        if not model_facts["pinned"]:
            findings.append(
                Finding(
                    id="model_not_pinned",
                    severity=Severity.HIGH,
                    title="The model artifact is not pinned by sha256",
                    detail="Give the artifact's sha256 (64 lower-case hex characters) with the release.",
                    location=model_uri,
                )
            )
    return image_facts, model_facts


def _calls(target: DeploymentTarget, log: ApiCallLog) -> list[dict[str, Any]]:
    return sorted(target.calls.drain() + log.drain(), key=lambda call: str(call["at"]))
