"""Deployment identity: the version about to serve carries the model and image the release judged.

Pure: what the version carries (:class:`~release_gates.deploy.identity.VersionIdentity`, read from
the platform by the input resolver) against what was judged
(:class:`~release_gates.inputs.deployment_identity.JudgedArtifacts`, from the release's evidence).

* FAIL: a serving component carries another model sha256, or an image whose digest is not the
  scanned image's (every image scan of the release must name the deployed digest).
* INCONCLUSIVE: something could not be told — no judged model or scan in evidence, the platform does
  not expose the fact, the image is not pinned by digest. Never PASS without every comparison the
  policy's ``compare`` names.
* WARN: every comparison matched, but a model fact is not bound to the version (a Lambda function
  tag is function-wide and can change without a new version).
* ERROR: the platform could not be read.

Messages name digests and hashes only. This module imports no Airflow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    from release_gates.deploy.identity import ServingComponent, VersionIdentity
    from release_gates.inputs.deployment_identity import JudgedArtifacts

KIND = "deployment_identity"


@dataclass(frozen=True)
class Comparison:
    fact: str  # "model" | "image"
    component: str
    outcome: str  # "match" | "mismatch" | "unknown"
    deployed: str | None
    judged: list[str]
    reason: str
    judged_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fact": self.fact,
            "component": self.component,
            "outcome": self.outcome,
            "deployed": self.deployed,
            "judged": list(self.judged),
            "judged_source": self.judged_source,
            "reason": self.reason,
        }


def _short(digest: str | None) -> str:
    if not digest:
        return "none"
    head, _, tail = digest.rpartition(":")
    return f"{head + ':' if head else ''}{tail[:12]}…"


def compare_model(component: ServingComponent, judged: JudgedArtifacts) -> Comparison:
    """The component's model sha256 against the judged one."""
    if judged.model_sha256 is None:
        reason = "; ".join(n for n in judged.notes if "model" in n) or "no judged model in evidence"
        return Comparison("model", component.name, "unknown", component.model_sha256, [], reason)
    wanted = [judged.model_sha256]
    if component.model_sha256 is None:
        reason = component.model_note or "the version does not expose its model sha256"
        return Comparison("model", component.name, "unknown", None, wanted, reason, judged.model_source)
    outcome = "match" if component.model_sha256 == judged.model_sha256 else "mismatch"
    reason = (
        f"{component.model_source} holds {_short(component.model_sha256)}; "
        f"the release judged {_short(judged.model_sha256)}"
    )
    return Comparison(
        "model", component.name, outcome, component.model_sha256, wanted, reason, judged.model_source
    )


def compare_image(component: ServingComponent, judged: JudgedArtifacts) -> list[Comparison]:
    """The component's image digest against every image scan of the release."""
    if not judged.image_scans:
        reason = "; ".join(n for n in judged.notes if "image" in n) or "no image scan in evidence"
        return [Comparison("image", component.name, "unknown", component.image_digest, [], reason)]
    out = []
    for scan in judged.image_scans:
        source = f"{scan.check_id} (evidence #{scan.evidence_seq})" if scan.evidence_seq else scan.check_id
        if not scan.digests:
            reason = f"image scan {scan.check_id} did not identify the image it scanned by digest"
            out.append(
                Comparison("image", component.name, "unknown", component.image_digest, [], reason, source)
            )
        elif component.image_digest is None:
            reason = component.image_note or "the version does not expose its image digest"
            out.append(
                Comparison("image", component.name, "unknown", None, list(scan.digests), reason, source)
            )
        else:
            outcome = "match" if component.image_digest in scan.digests else "mismatch"
            reason = (
                f"deployed image {_short(component.image_digest)}; scan {scan.check_id} identified "
                + ", ".join(_short(d) for d in scan.digests)
            )
            out.append(
                Comparison(
                    "image",
                    component.name,
                    outcome,
                    component.image_digest,
                    list(scan.digests),
                    reason,
                    source,
                )
            )
    return out


def evaluate_deployment_identity(
    observed: VersionIdentity | None,
    judged: JudgedArtifacts,
    *,
    compare: Sequence[str] = ("model", "image"),
    check_id: str = KIND,
    target: Mapping[str, Any] | None = None,
    version: str | None = None,
    settings: Mapping[str, Any] | None = None,
    severity: Severity = Severity.HIGH,
    read_error: Mapping[str, Any] | None = None,
    api_calls: Sequence[Mapping[str, Any]] = (),
    started_at: datetime | None = None,
) -> CheckResult:
    """Compare what the version carries with what the release judged (see the module docstring)."""
    started = started_at or utcnow()
    target_facts = dict(target or (observed.target if observed else {}))
    version = version if version is not None else (observed.version if observed else None)
    inputs: dict[str, Any] = {
        "version": version,
        "compare": list(compare),
        "identity_settings": dict(settings or {}),
        "model_sha256_judged": judged.model_sha256,
        "image_digests_judged": [list(s.digests) for s in judged.image_scans],
    }
    where = f"{target_facts.get('type')} {target_facts.get('name')} version {version}"
    if read_error is not None or observed is None:
        message = (read_error or {}).get("message") or "the version's identity was not read"
        return CheckResult.error(
            check_id=check_id,
            kind=KIND,
            message=f"could not read what {where} carries: {message}",
            started_at=started,
            metrics={
                "target": target_facts,
                "version": version,
                "error": dict(read_error or {}),
                "api_calls": [dict(c) for c in api_calls],
            },
            inputs=inputs,
            engine={"release-gates": __version__},
        )

    comparisons: list[Comparison] = []
    if not observed.components:
        reason = "; ".join(observed.notes) or "the platform exposes nothing the version carries"
        comparisons += [Comparison(fact, "-", "unknown", None, [], reason) for fact in compare]
    for component in observed.components:
        if "model" in compare:
            comparisons.append(compare_model(component, judged))
        if "image" in compare:
            comparisons += compare_image(component, judged)

    findings = _findings(comparisons, observed, severity)
    mismatched = [c for c in comparisons if c.outcome == "mismatch"]
    unknown = [c for c in comparisons if c.outcome == "unknown"]
    unbound = [
        c
        for c in observed.components
        if "model" in compare and c.model_sha256 and not c.model_bound_to_version
    ]
    compared = " and ".join(f"{fact} {'sha256' if fact == 'model' else 'digest'}" for fact in compare)
    if mismatched:
        status = Status.FAIL
        first = mismatched[0]
        summary = f"{where} does not carry the judged {first.fact}: {first.reason}"
    elif unknown:
        status = Status.INCONCLUSIVE
        first = unknown[0]
        summary = f"cannot tell whether {where} carries the judged {first.fact}: {first.reason}"
    elif unbound:
        status = Status.WARN
        summary = (
            f"{where} carries the judged {compared}; the model hash is a function-wide tag, "
            "not bound to the version"
        )
    else:
        status = Status.PASS
        summary = f"{where} carries the judged {compared}"
    return CheckResult(
        check_id=check_id,
        kind=KIND,
        status=status,
        summary=summary,
        metrics={
            "target": target_facts,
            "version": version,
            "compare": list(compare),
            "comparisons": [c.to_dict() for c in comparisons],
            "observed": observed.to_dict(),
            "fingerprint": observed.fingerprint(),
            "judged": judged.to_dict(),
            "api_calls": [dict(c) for c in api_calls],
        },
        findings=findings,
        inputs=inputs,
        engine={"release-gates": __version__},
        started_at=started,
        finished_at=max(utcnow(), started),
    )


def _findings(
    comparisons: Sequence[Comparison], observed: VersionIdentity, severity: Severity
) -> list[Finding]:
    findings = []
    for c in comparisons:
        if c.outcome == "mismatch":
            findings.append(
                Finding(
                    id=f"{c.fact}_mismatch",
                    severity=severity,
                    title=f"Version {observed.version} carries another {c.fact} than the release judged",
                    detail=c.reason,
                    location=c.component,
                    data={"deployed": c.deployed, "judged": c.judged, "judged_source": c.judged_source},
                )
            )
        elif c.outcome == "unknown":
            findings.append(
                Finding(
                    id=f"{c.fact}_unknown",
                    severity=Severity.INFO,
                    title=f"Cannot compare the {c.fact} of version {observed.version} with the judged one",
                    detail=c.reason,
                    location=c.component,
                )
            )
    for component in observed.components:
        if component.model_sha256 and not component.model_bound_to_version:
            findings.append(
                Finding(
                    id="model_hash_not_bound_to_version",
                    severity=Severity.LOW,
                    title="The model hash is read from a function-wide tag",
                    detail=f"{component.model_source} applies to every version; prefer an environment "
                    "variable, which a published version cannot change.",
                    location=component.name,
                )
            )
    return findings


def identity_changes(gate: Mapping[str, Any], now: CheckResult) -> list[str]:
    """Why a promotion must not go ahead: what differs between the gate's recorded result (a
    ``check_result`` payload) and the same comparison made again just before the change.

    Empty when nothing changed and nothing is known to differ from what was judged. A gate result
    that was INCONCLUSIVE (and accepted by a person) stays acceptable only while nothing changes.
    """
    reasons: list[str] = []
    if now.status in (Status.FAIL, Status.ERROR):
        reasons.append(now.summary)
    gate_metrics = gate.get("metrics") or {}
    gate_print, now_print = gate_metrics.get("fingerprint"), now.metrics.get("fingerprint")
    if gate_print is None:
        reasons.append(f"the gate's {gate.get('check_id')} recorded no identity ({gate.get('status')})")
    elif now_print is not None and gate_print != now_print:
        if gate_print.get("version") != now_print.get("version"):
            reasons.append(
                f"the gate checked version {gate_print.get('version')}; the promotion moves to "
                f"{now_print.get('version')}"
            )
        else:
            before = {c["name"]: c for c in gate_print.get("components") or []}
            after = {c["name"]: c for c in now_print.get("components") or []}
            changed = []
            for name in sorted(set(before) | set(after)):
                for fact in ("model_sha256", "image_digest"):
                    old, new = before.get(name, {}).get(fact), after.get(name, {}).get(fact)
                    if old != new:
                        changed.append(f"{name}: {fact} {_short(old)} → {_short(new)}")
            reasons.append(
                f"what version {now_print.get('version')} carries changed since the gate: "
                + ("; ".join(changed) or "its serving components differ")
            )
    gate_inputs = gate.get("inputs") or {}
    for key in ("model_sha256_judged", "image_digests_judged"):
        if gate_inputs.get(key) != now.inputs.get(key):
            reasons.append(f"what the release judged changed since the gate ({key.removesuffix('_judged')})")
    if gate.get("status") in (Status.PASS.value, Status.WARN.value) and not now.status.is_passing:
        reasons.append(f"the gate's result was {gate.get('status')}; now {now.status.value}: {now.summary}")
    return list(dict.fromkeys(reasons))
