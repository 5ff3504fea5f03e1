"""Inputs of ``kind: lineage``: every declared dataset, and the names the release's other checks read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.policy import LineageCheck, ReleasePolicy
    from release_gates.results import CheckResult


@dataclass(frozen=True)
class LineageInputs:
    #: Every dataset any check of the release reads, so an undeclared one is reported too.
    used: list[str]


def resolve_lineage_inputs(
    spec: LineageCheck, catalog: DatasetCatalog, policy: ReleasePolicy | None = None
) -> LineageInputs:
    from release_gates.policy import is_templated

    used: list[str] = []
    if policy is not None:
        for _, check, _ in policy.iter_checks():
            used += [name for _, name in check.dataset_refs() if not is_templated(name)]
    return LineageInputs(used=used)


def run_lineage_check(
    spec: LineageCheck, catalog: DatasetCatalog, *, check_id: str, policy: ReleasePolicy | None = None
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.lineage import evaluate_lineage

    resolved = resolve_lineage_inputs(spec, catalog, policy)
    return evaluate_lineage(
        spec,
        catalog.datasets,
        check_id=check_id,
        used=resolved.used,
        base_dir=catalog.base_dir,
        resolve_connection=catalog.resolve_connection,
    )
