"""Inputs of ``kind: data_minimization``: the candidate's own input names, the audited data, and which
columns the policy's other checks use.

The model is the release's candidate (``candidate:`` rendered for the run; from the CLI, with
``--model``/``--model-sha256``), loaded with its sha256 checked first and *without* the policy's
``candidate.features``: the inputs judged are the ones the model declares, never the ones the policy
says it is fed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates.exceptions import ModelLoadError

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.inputs.catalog import DatasetCatalog
    from release_gates.kinds.data_minimization import DataMinimizationCheck
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult

#: Spec fields whose values are column names, wherever they appear in a check (drift's ``columns``,
#: fairness's ``sensitive_features``, a stress scenario's ``columns``…).
COLUMN_LISTS = frozenset({"sensitive_features", "columns", "features"})
#: Spec fields whose keys are column names (drift's per-column settings, fairness's reference groups).
COLUMN_KEYED = frozenset({"column_methods", "column_thresholds", "reference_group"})


@dataclass(frozen=True)
class DataMinimizationInputs:
    #: The inputs the model declares, in order; None when it declares none.
    model_features: tuple[str, ...] | None
    data: dict[str, pd.DataFrame]
    #: Audited dataset → the columns something other than the model uses there.
    used_columns: dict[str, set[str]]
    inputs: dict[str, Any]


def columns_used_by_checks(policy: ReleasePolicy) -> dict[str, list[str]]:
    """Column → the checks (``<gate>.<check>``) that name it; data minimization checks do not count
    (what they list as allowed or sensitive is what they judge, not a use). The policy's
    ``candidate.features`` (the columns scoring feeds the model) count as a use by the candidate."""
    used: dict[str, list[str]] = {}
    for _, check, check_id in policy.iter_checks():
        if check.kind == "data_minimization":
            continue
        for column in _column_names(check.model_dump(mode="json")):
            used.setdefault(column, []).append(check_id)
    if policy.candidate is not None:
        for column in policy.candidate.features or []:
            used.setdefault(column, []).append("candidate.features")
    return used


def _column_names(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in COLUMN_LISTS and isinstance(item, list):
                yield from (str(c) for c in item if isinstance(c, str))
            elif key in COLUMN_KEYED and isinstance(item, Mapping):
                yield from (str(c) for c in item)
            else:
                yield from _column_names(item)
    elif isinstance(value, list):
        for item in value:
            yield from _column_names(item)


def resolve_data_minimization_inputs(
    spec: DataMinimizationCheck, catalog: DatasetCatalog, *, policy: ReleasePolicy | None = None
) -> DataMinimizationInputs:
    """The candidate's declared inputs, every audited dataset in full, and the columns in use."""
    from release_gates.inputs.scored import ReleaseCatalog
    from release_gates.scoring.loaders import load_model

    candidate = catalog.candidate if isinstance(catalog, ReleaseCatalog) else None
    if candidate is None:
        raise ModelLoadError(f"{spec.kind} check: no model to audit (the policy has no candidate: section)")
    if "{{" in candidate.uri or "{{" in candidate.sha256:
        raise ModelLoadError(f"the candidate's uri or sha256 is still a template ({candidate.uri})")
    # No features= here: the policy's candidate.features would win over what the model declares.
    model = load_model(candidate, base_dir=catalog.base_dir)
    by_checks = columns_used_by_checks(policy) if policy is not None else {}
    data: dict[str, pd.DataFrame] = {}
    used: dict[str, set[str]] = {}
    facts: dict[str, Any] = {
        "model": {**model.info, "declares_features": model.features is not None},
        "used_by_checks": {column: checks[:10] for column, checks in sorted(by_checks.items())},
    }
    for name in dict.fromkeys(spec.data):
        dataset = catalog.dataset(name)
        location = catalog.locate(name)
        frame = catalog.load(name, location=location)
        data[name] = frame
        own = {c for c in (dataset.label, dataset.prediction, dataset.score) if c}
        used[name] = own | set(by_checks)
        facts[name] = {
            **catalog.fingerprint(name, location),
            "rows": len(frame),
            "columns": len(frame.columns),
        }
    return DataMinimizationInputs(model.features, data, used, facts)


def run_data_minimization_check(
    spec: DataMinimizationCheck,
    catalog: DatasetCatalog,
    *,
    check_id: str,
    policy: ReleasePolicy | None = None,
) -> CheckResult:
    """Resolve the inputs and run the engine: what the operator and the CLI both call."""
    from release_gates.checks.data_minimization import evaluate_data_minimization

    resolved = resolve_data_minimization_inputs(spec, catalog, policy=policy)
    return evaluate_data_minimization(
        resolved.model_features,
        spec,
        resolved.data,
        used_columns=resolved.used_columns,
        check_id=check_id,
        inputs=resolved.inputs,
    )
