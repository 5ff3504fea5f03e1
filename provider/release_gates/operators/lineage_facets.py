"""What a check operator reports to OpenLineage when its task ends (``get_openlineage_facets_on_*``).

Follows the OpenLineage provider's developer guide: the operator returns an ``OperatorLineage``
whose inputs are the datasets the check read, each with a ``dataQualityAssertions`` facet (one
assertion per criterion and per finding, and one for the check as a whole: its outcome and
severity), and a ``releaseGatesCheck`` run facet with the verdict and the evidence chain head the
result was recorded at. Everything OpenLineage is imported inside the functions: the provider works
without ``apache-airflow-providers-openlineage`` installed (the ``openlineage`` extra).

Fail closed here too: only PASS and WARN are successful assertions. A check that ended ERROR or
INCONCLUSIVE reports its assertions unsuccessful, and a check that left no result (it crashed before
recording one) reports no assertion at all and the verdict ``ERROR`` — never a success.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from release_gates.operators.base import BaseCheckOperator
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult

#: Where the run facet's JSON Schema ships (in the wheel); its ``$id`` is :data:`RUN_FACET_SCHEMA_ID`.
RUN_FACET_SCHEMA_PATH = Path(__file__).parent.parent / "schemas" / "ReleaseGatesCheckRunFacet.json"
RUN_FACET_SCHEMA_ID = "urn:release-gates:openlineage:ReleaseGatesCheckRunFacet:1.0"
RUN_FACET_KEY = "releaseGatesCheck"
#: Verdicts that count as a successful assertion; every other status (and no result) does not.
SUCCESSFUL = frozenset({"PASS", "WARN"})


@cache
def run_facet_class() -> type[Any]:
    """The ``releaseGatesCheck`` run facet: a proper OpenLineage ``RunFacet`` (attrs), defined on
    first use because openlineage may not be installed."""
    import attr
    from openlineage.client.generated.base import RunFacet

    @attr.define
    class ReleaseGatesCheckRunFacet(RunFacet):
        """The gate verdict of one release check and where its result sits in the evidence trail."""

        checkId: str  # OpenLineage facets name their fields in camelCase
        kind: str
        gate: str
        verdict: str
        summary: str
        releaseId: str
        evidenceSeq: int | None = attr.field(default=None)
        evidenceHead: str | None = attr.field(default=None)

        @staticmethod
        def _get_schema() -> str:
            return f"{RUN_FACET_SCHEMA_ID}#/$defs/ReleaseGatesCheckRunFacet"

    return ReleaseGatesCheckRunFacet


def check_lineage(operator: BaseCheckOperator) -> Any:
    """The ``OperatorLineage`` of a check task that ended (see the module docstring)."""
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    recorded: tuple[CheckResult, int, str] | None = getattr(operator, "_recorded_result", None)
    result, seq, head = recorded if recorded is not None else (None, None, None)
    policy = _policy(operator)
    severity = _severity(operator, policy)
    assertions = [dq.Assertion(**a) for a in assertions_of(result, operator.check_id, severity)]
    inputs = [
        # An input facet in the spec (InputDatasetFacet): it goes in inputFacets, not facets.
        InputDataset(
            namespace=namespace,
            name=name,
            inputFacets={
                "dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(assertions=assertions)
            },
        )
        for namespace, name in _datasets(operator, policy)
    ]
    facet = run_facet_class()(
        checkId=operator.check_id,
        kind=operator.check_kind,
        gate=operator.check_id.split(".", 1)[0],
        verdict=result.status.value if result is not None else "ERROR",
        summary=result.summary if result is not None else "the check left no result",
        releaseId=str(operator.release_id),
        evidenceSeq=seq,
        evidenceHead=head,
    )
    return OperatorLineage(inputs=inputs, outputs=[], run_facets={RUN_FACET_KEY: facet}, job_facets={})


def assertions_of(result: CheckResult | None, check_id: str, severity: str) -> list[dict[str, Any]]:
    """The assertions a result makes, as ``Assertion`` keyword arguments: the check as a whole, each
    criterion it reports (``metrics.criteria``) and each active finding. None for no result."""
    if result is None:
        return []
    ok = result.status.value in SUCCESSFUL
    out: list[dict[str, Any]] = [
        {
            "assertion": result.kind,
            "name": check_id,
            "success": ok,
            "severity": severity,
            "description": result.summary,
            "actual": result.status.value,
        }
    ]
    criteria = result.metrics.get("criteria")
    for i, criterion in enumerate(criteria if isinstance(criteria, list) else []):
        if not isinstance(criterion, dict):
            continue
        status = str(criterion.get("status") or "")
        grouping = criterion.get("grouping")
        out.append(
            {
                "assertion": str(criterion.get("metric") or result.kind),
                "name": f"{check_id}.criteria[{i}]",
                # A criterion passes only as far as its check does: an ERROR check's criteria are not
                # evidence of anything, whatever they say.
                "success": ok and status in SUCCESSFUL,
                "severity": severity,
                "column": ",".join(map(str, grouping)) if isinstance(grouping, list) and grouping else None,
                "expected": _text(criterion.get("rule"), criterion.get("threshold")),
                "actual": _text(criterion.get("value")),
                "description": str(criterion.get("reason") or "") or None,
            }
        )
    for finding in result.active_findings():
        out.append(
            {
                "assertion": "finding",
                "name": f"{check_id}:{finding.id}",
                "success": False,
                "severity": finding.severity.value.lower(),
                "column": finding.location,
                "description": finding.title,
            }
        )
    return out


def _text(*values: Any) -> str | None:
    shown = [str(v) for v in values if v is not None]
    return " ".join(shown) if shown else None


def _policy(operator: BaseCheckOperator) -> ReleasePolicy | None:
    try:
        return operator._load_policy()
    except Exception:  # lineage is best effort: the check's own verdict is in evidence already
        return None


def _check_spec(operator: BaseCheckOperator, policy: ReleasePolicy | None) -> Any:
    if policy is not None:
        return next((c for _, c, cid in policy.iter_checks() if cid == operator.check_id), None)
    return None


def _severity(operator: BaseCheckOperator, policy: ReleasePolicy | None) -> str:
    spec = _check_spec(operator, policy)
    value = getattr(spec, "severity", None) or (operator.spec or {}).get("severity") or "HIGH"
    return str(getattr(value, "value", value)).lower()


def _datasets(operator: BaseCheckOperator, policy: ReleasePolicy | None) -> list[tuple[str, str]]:
    """(namespace, name) of each dataset the check reads, after this run's overrides; no I/O."""
    spec = _check_spec(operator, policy)
    if spec is not None and policy is not None:
        refs = [name for _, name in spec.dataset_refs()]
        declared = {n: d.uri for n, d in policy.datasets.items()}
        base = policy.base_dir
    else:
        declared = {n: str(d.get("uri") or "") for n, d in (operator.datasets or {}).items()}
        refs = list(declared)
        base = None
    overrides = operator.dataset_overrides if isinstance(operator.dataset_overrides, dict) else {}
    out = []
    for name in dict.fromkeys(refs):
        override = overrides.get(name)
        uri = override.get("uri") if isinstance(override, dict) else override
        uri = str(uri or declared.get(name) or "")
        if uri and "{{" not in uri:
            out.append(dataset_name(uri, base))
    return out


def dataset_name(uri: str, base_dir: str | Path | None = None) -> tuple[str, str]:
    """OpenLineage's naming for a dataset URI: ``file`` + absolute path, ``s3://bucket`` + key,
    ``sql://<connection>`` + table (the connection id, never its URL: it may hold a password)."""
    from release_gates.datasets import mask_password

    parts = urlsplit(uri)
    if parts.scheme == "sql":
        return f"sql://{parts.netloc}", parts.path.lstrip("/")
    if parts.scheme and parts.scheme not in ("file", "local"):
        return mask_password(f"{parts.scheme}://{parts.netloc}"), parts.path.lstrip("/")
    path = Path(parts.path if parts.scheme else uri)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return "file", str(path)
