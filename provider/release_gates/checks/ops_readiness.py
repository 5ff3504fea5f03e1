"""Operational readiness: someone is paged when the release misbehaves, and we know what shipped.

* The deployment target exists (its current version is read).
* CloudWatch metric alarms watch the target (by dimension: ``FunctionName``, ``ServiceName`` +
  ``ClusterName``, ``EndpointName``, ``BucketName``; metric-math alarms included), and each has
  enabled alarm actions — an alarm that notifies nobody pages nobody.
* The release's model and image are pinned, and the pins are checked against the release's actual
  artifacts: the pins are the spec's (or the run's) ``image`` reference and ``model_sha256``; the
  actual artifacts are what the release judged (``judged``: the verified model sha256 and the
  scanned image's digests from the release's evidence, or what the CLI's flags name). A pin that
  differs from the actual artifact FAILs; with no pin, the actual artifact identified by its hash
  is what is checked.

FAIL when anything above is missing or differs; INCONCLUSIVE when the model or the image was not
checked at all (neither a pin nor the release's artifact was known) — "not checked" is never a
pass, and the summary names only what was checked; ERROR when AWS could not be asked (the target
does not exist, access denied, errors after retries). This module imports no Airflow.
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
    from release_gates.inputs.deployment_identity import JudgedArtifacts
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
    judged: JudgedArtifacts | None = None,
) -> CheckResult:
    """Check alarms on ``target`` and the release's pins against its actual artifacts (``judged``).

    ``image``, ``model_uri`` and ``model_sha256`` override the spec's pins.
    """
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
    image_facts = _image_pin(image, judged, findings)
    model_facts = _model_pin(model_uri, model_sha256, judged, findings)
    checked = [str(facts["checked"]) for facts in (model_facts, image_facts) if facts.get("checked")]
    unchecked = [
        name for name, facts in (("model", model_facts), ("image", image_facts)) if not facts["checked"]
    ]

    gaps = [f for f in findings if f.severity is not Severity.INFO]
    alarms_line = f"{len(alarms)} alarm(s) with actions watch {where}"
    if gaps:
        status = Status.FAIL
        summary = f"{len(gaps)} readiness gap(s): {gaps[0].title}"
    elif unchecked:
        status = Status.INCONCLUSIVE
        summary = "; ".join(
            [
                alarms_line,
                *checked,
                f"{' and '.join(unchecked)} not checked (not in the release inputs or evidence)",
            ]
        )
    else:
        status = Status.PASS
        summary = "; ".join([alarms_line, *checked])
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
        inputs={
            **dict(inputs or {}),
            "image": image,
            "model_uri": model_uri,
            "model_sha256": model_sha256,
            "release_artifacts": judged.to_dict() if judged is not None else None,
        },
        engine={"release-gates": __version__},
        started_at=started,
        finished_at=utcnow(),
    )


def _scanned_digests(judged: JudgedArtifacts | None) -> list[tuple[str, tuple[str, ...]]]:
    if judged is None:
        return []
    return [(scan.check_id, scan.digests) for scan in judged.image_scans if scan.digests]


def _image_pin(image: str | None, judged: JudgedArtifacts | None, findings: list[Finding]) -> dict[str, Any]:
    """The image pin against the scanned image(s). ``checked`` says what was checked, or None."""
    scans = _scanned_digests(judged)
    facts: dict[str, Any] = {"reference": image, "pinned": None, "scanned": [list(d) for _, d in scans]}
    facts["checked"] = None
    if image and "{{" in image:
        findings.append(
            Finding(
                id="image_unresolved",
                severity=Severity.HIGH,
                title="The image reference is an unrendered template",
                location=image,
            )
        )
        return facts
    if image:
        facts["pinned"] = image_pinned(image)
        if not facts["pinned"]:
            findings.append(
                Finding(
                    id="image_not_pinned",
                    severity=Severity.HIGH,
                    title="The image is not pinned by digest",
                    detail="A tag can move after review; ship repo@sha256:<digest>.",
                    location=image,
                )
            )
            return facts
        digest = image.rsplit("@", 1)[1]
        differing = [check_id for check_id, digests in scans if digest not in digests]
        if differing:
            findings.append(
                Finding(
                    id="image_pin_mismatch",
                    severity=Severity.HIGH,
                    title="The pinned image is not the image the release scanned",
                    detail=f"pin {digest[:19]}…; scan(s) {', '.join(differing)} identified another digest",
                    location=image,
                )
            )
            return facts
        facts["checked"] = (
            "image pinned by digest and equal to the scanned image" if scans else "image pinned by digest"
        )
        return facts
    if scans:
        facts["pinned"] = True
        facts["checked"] = f"image identified by its scan as {scans[0][1][0][:19]}…"
        return facts
    findings.append(
        Finding(
            id="image_not_given",
            severity=Severity.INFO,
            title="No image in the release inputs or evidence; image pinning not checked",
        )
    )
    return facts


def _model_pin(
    model_uri: str | None, model_sha256: str | None, judged: JudgedArtifacts | None, findings: list[Finding]
) -> dict[str, Any]:
    """The model pin against the release's verified model sha256. ``checked`` as for the image."""
    actual = judged.model_sha256 if judged is not None else None
    facts: dict[str, Any] = {"uri": model_uri, "sha256": model_sha256, "pinned": None, "actual": actual}
    facts["checked"] = None
    if model_uri or model_sha256:
        facts["pinned"] = bool(model_sha256 and _SHA256.match(model_sha256.strip()))
        if not facts["pinned"]:
            findings.append(
                Finding(
                    id="model_not_pinned",
                    severity=Severity.HIGH,
                    title="The model artifact is not pinned by sha256",
                    detail="Give the artifact's sha256 (64 lower-case hex characters) with the release.",
                    location=model_uri,
                )
            )
            return facts
        assert model_sha256 is not None
        if actual is not None and model_sha256.strip() != actual:
            findings.append(
                Finding(
                    id="model_pin_mismatch",
                    severity=Severity.HIGH,
                    title="The pinned model is not the release's model",
                    detail=f"pin {model_sha256.strip()[:12]}…; the release's model is {actual[:12]}… "
                    f"({judged.model_source if judged is not None else 'given'})",
                    location=model_uri,
                )
            )
            return facts
        facts["checked"] = (
            "model pinned by sha256 and equal to the release's model"
            if actual is not None
            else "model pinned by sha256 (not compared with the artifact)"
        )
        return facts
    if actual is not None:
        facts["pinned"] = True
        facts["checked"] = "model identified by its verified sha256"
        return facts
    findings.append(
        Finding(
            id="model_not_given",
            severity=Severity.INFO,
            title="No model artifact in the release inputs or evidence; model pinning not checked",
        )
    )
    return facts


def _calls(target: DeploymentTarget, log: ApiCallLog) -> list[dict[str, Any]]:
    return sorted(target.calls.drain() + log.drain(), key=lambda call: str(call["at"]))
