"""Security posture of where the model and its outputs live, and of what the outputs contain.

Per S3 bucket (model artifacts, outputs, logs):

* default encryption on — KMS (``aws:kms`` / ``aws:kms:dsse``) when the policy requires it;
* the bucket's public access block with all four settings on;
* versioning enabled (a deleted or overwritten model can be recovered, and rolled back to);
* a bucket policy that grants no wildcard principal without a condition;
* TLS only: a ``Deny`` of ``s3:*`` to everyone when ``aws:SecureTransport`` is false.

Plus a PII scan of a sample of model outputs/logs (:mod:`release_gates.checks.pii`) — counts and
locations only. The account-level public access block (S3 Control) is not part of this check.

FAIL on any gap; INCONCLUSIVE when there was nothing to check (no buckets and no sample, or an outputs
sample with no rows or no column that could hold text); ERROR when a bucket's settings could
not be read (access denied, errors after retries). This module imports no Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.checks.pii import PiiScan, scan_pii
from release_gates.deploy.calls import ApiCallLog, TargetError, aws_call
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy import PostureCheck

PUBLIC_ACCESS_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_ABSENT = {
    "get_bucket_encryption": "ServerSideEncryptionConfigurationNotFoundError",
    "get_public_access_block": "NoSuchPublicAccessBlockConfiguration",
    "get_bucket_policy": "NoSuchBucketPolicy",
}


def _optional(s3: Any, method: str, log: ApiCallLog, bucket: str) -> dict[str, Any] | None:
    """The bucket setting, or None when the bucket has none (S3 answers that with an error code)."""
    try:
        return aws_call(s3, method, log, Bucket=bucket)
    except TargetError as exc:
        if exc.code == _ABSENT[method]:
            return None
        raise


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _any_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return "*" in _as_list(principal.get("AWS"))
    return False


def _denies_plain_http(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Deny" or not _any_principal(statement.get("Principal")):
        return False
    if not {"*", "s3:*"} & {str(a).lower() for a in _as_list(statement.get("Action"))}:
        return False
    for operator, clause in (statement.get("Condition") or {}).items():
        if str(operator).lower() not in ("bool", "boolifexists") or not isinstance(clause, Mapping):
            continue
        for key, value in clause.items():
            if str(key).lower() == "aws:securetransport" and any(
                str(v).lower() == "false" for v in _as_list(value)
            ):
                return True
    return False


def policy_findings(bucket: str, document: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[Finding]]:
    """Wildcard principals and the TLS-only condition in a bucket policy document."""
    statements = _as_list((document or {}).get("Statement"))
    wildcard = [
        (i, s)
        for i, s in enumerate(statements)
        if s.get("Effect") == "Allow" and _any_principal(s.get("Principal")) and not s.get("Condition")
    ]
    tls_only = any(_denies_plain_http(s) for s in statements)
    findings = [
        Finding(
            id="policy_public_principal",
            severity=Severity.CRITICAL,
            title=f"Bucket {bucket} policy allows any principal without a condition",
            detail=f"Statement {s.get('Sid') or f'#{i}'} allows {_as_list(s.get('Action'))} to '*'.",
            location=f"s3://{bucket} policy statement {s.get('Sid') or i}",
        )
        for i, s in wildcard
    ]
    if not tls_only:
        findings.append(
            Finding(
                id="tls_not_enforced",
                severity=Severity.MEDIUM,
                title=f"Bucket {bucket} does not require TLS",
                detail="Add a Deny of s3:* for Principal '*' when aws:SecureTransport is false.",
                location=f"s3://{bucket}",
            )
        )
    facts = {
        "statements": len(statements),
        "unconditioned_wildcard_allows": len(wildcard),
        "tls_only": tls_only,
    }
    return facts, findings


def bucket_posture(
    s3: Any, bucket: str, *, require_kms: bool, log: ApiCallLog
) -> tuple[dict[str, Any], list[Finding]]:
    """Facts and findings for one bucket. Errors other than "not configured" propagate."""
    where = f"s3://{bucket}"
    try:
        versioning = aws_call(s3, "get_bucket_versioning", log, Bucket=bucket)
    except TargetError as exc:
        if exc.code != "NoSuchBucket":
            raise
        return {"bucket": bucket, "exists": False}, [
            Finding(
                id="bucket_missing",
                severity=Severity.HIGH,
                title=f"Bucket {bucket} does not exist",
                detail="The policy names it; a missing bucket cannot be vouched for.",
                location=where,
            )
        ]
    findings: list[Finding] = []
    facts: dict[str, Any] = {
        "bucket": bucket,
        "exists": True,
        "versioning": versioning.get("Status") or "Off",
    }
    if versioning.get("Status") != "Enabled":
        findings.append(
            Finding(
                id="versioning_off",
                severity=Severity.MEDIUM,
                title=f"Bucket {bucket} has versioning {facts['versioning']}",
                detail="Without versioning an overwritten or deleted artifact cannot be restored.",
                location=where,
            )
        )

    encryption = _optional(s3, "get_bucket_encryption", log, bucket)
    rules = ((encryption or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules", [])
    algorithms = sorted(
        {str((r.get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")) for r in rules}
        - {"None"}
    )
    facts["encryption"] = algorithms
    if not algorithms:
        findings.append(
            Finding(
                id="encryption_off",
                severity=Severity.HIGH,
                title=f"Bucket {bucket} has no default encryption",
                location=where,
            )
        )
    elif require_kms and not any(a.startswith("aws:kms") for a in algorithms):
        findings.append(
            Finding(
                id="kms_required",
                severity=Severity.HIGH,
                title=f"Bucket {bucket} encrypts with {', '.join(algorithms)}, not KMS",
                detail="The policy requires KMS keys (aws:kms or aws:kms:dsse).",
                location=where,
            )
        )

    block = _optional(s3, "get_public_access_block", log, bucket)
    settings = (block or {}).get("PublicAccessBlockConfiguration") or {}
    facts["public_access_block"] = {name: bool(settings.get(name)) for name in PUBLIC_ACCESS_SETTINGS}
    off = [name for name in PUBLIC_ACCESS_SETTINGS if not settings.get(name)]
    if off:
        findings.append(
            Finding(
                id="public_access_block_incomplete" if block else "public_access_block_missing",
                severity=Severity.HIGH,
                title=f"Bucket {bucket} public access block: {', '.join(off)} off",
                location=where,
                data={"off": off},
            )
        )

    policy = _optional(s3, "get_bucket_policy", log, bucket)
    document: dict[str, Any] | None = None
    if policy is not None:
        try:
            document = json.loads(policy["Policy"])
        except (ValueError, KeyError, TypeError):
            document = None
            findings.append(
                Finding(
                    id="policy_unreadable",
                    severity=Severity.HIGH,
                    title=f"Bucket {bucket} policy is not valid JSON",
                    location=where,
                )
            )
    facts["policy"], policy_gaps = policy_findings(bucket, document)
    facts["policy"]["present"] = policy is not None
    return facts, findings + policy_gaps


def evaluate_security_posture(
    s3: Any,
    spec: PostureCheck,
    *,
    outputs: pd.DataFrame | None = None,
    check_id: str = "posture",
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Bucket settings of ``spec.buckets`` (through ``s3``) and a PII scan of ``outputs``."""
    started = utcnow()
    log = ApiCallLog()
    findings: list[Finding] = []
    buckets: list[dict[str, Any]] = []
    for bucket in spec.buckets:
        try:
            facts, gaps = bucket_posture(s3, bucket, require_kms=spec.require_kms, log=log)
        except TargetError as exc:
            return CheckResult.error(
                check_id=check_id,
                kind="posture",
                message=f"could not read the settings of bucket {bucket}: {exc}",
                started_at=started,
                metrics={"buckets": buckets, "error": exc.to_dict(), "api_calls": log.drain()},
                inputs=dict(inputs or {}),
                engine={"release-gates": __version__},
            )
        buckets.append(facts)
        findings += gaps

    pii: dict[str, Any] | None = None
    unscanned: str | None = None
    if outputs is not None:
        scan = scan_pii(outputs, spec.pii_patterns, sample_rows=spec.outputs_sample_rows)
        pii = scan.to_dict()
        unscanned = _nothing_scanned(scan, spec)
        for hit in scan.hits:
            listed = hit.to_dict(scan.max_rows_listed)
            rows = ", ".join(map(str, listed["rows"][:5])) + (", …" if len(listed["rows"]) > 5 else "")
            findings.append(
                Finding(
                    id=f"pii_{hit.pattern}",
                    severity=Severity.HIGH,
                    title=f"{hit.count} {hit.pattern} match(es) in output column {hit.column}",
                    detail=f"In {hit.rows_with_match} of {scan.rows_scanned} sampled rows (values not kept).",
                    location=f"column {hit.column}, rows {rows}",
                    data=listed,
                )
            )

    findings.sort(key=lambda f: f.severity.rank)
    if not spec.buckets and outputs is None:
        status, summary = Status.INCONCLUSIVE, "nothing to check: no buckets and no outputs sample given"
    elif findings:
        status = Status.FAIL
        summary = f"{len(findings)} posture gap(s); first: {findings[0].title}"
    elif unscanned:
        # An empty sample (or one with no column that could hold text) proves nothing about PII.
        status, summary = Status.INCONCLUSIVE, unscanned
    else:
        status = Status.PASS
        parts = (
            [f"{len(spec.buckets)} bucket(s) encrypted, private, versioned and TLS-only"]
            if spec.buckets
            else []
        )
        if pii is not None:
            parts.append(f"{pii['rows_scanned']} sampled output rows free of PII")
        summary = "; ".join(parts)
    if unscanned:
        findings.append(
            Finding(
                id="pii_not_scanned",
                severity=Severity.HIGH,
                title=unscanned,
                location=spec.outputs_sample or "outputs sample",
            )
        )
    return CheckResult(
        check_id=check_id,
        kind="posture",
        status=status,
        summary=summary,
        metrics={"buckets": buckets, "pii": pii, "api_calls": log.drain()},
        findings=findings,
        inputs=dict(inputs or {}),
        engine={"release-gates": __version__},
        started_at=started,
        finished_at=utcnow(),
    )


def _nothing_scanned(scan: PiiScan, spec: PostureCheck) -> str | None:
    """Why the PII scan saw nothing, or None when it scanned rows of at least one column."""
    name = repr(spec.outputs_sample) if spec.outputs_sample else "given"
    if scan.rows_scanned == 0:
        return f"PII not assessed: the outputs sample {name} has no rows"
    if not scan.columns_scanned:
        return f"PII not assessed: no column of the outputs sample {name} can hold text"
    return None
