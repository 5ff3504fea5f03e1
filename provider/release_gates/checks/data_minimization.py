"""Data minimization: the model reads only what it has a stated purpose for, never a sensitive attribute,
and the data the release keeps holds nothing nobody uses ("collect what you use").

The model's inputs are the ones the model itself declares (a scikit-learn model's ``feature_names_in_``,
an ONNX graph's per-column input names), never what the policy says it is fed: a model that declares
none is INCONCLUSIVE, never a pass. Then:

* FAIL for each input not in ``allowed_features`` (each allowed feature carries its purpose);
* FAIL for each input that is a sensitive attribute — by name, or (``detect_encodings``) because its
  values map one-to-one onto a sensitive column's in the audited data: ``afam_b`` (0/1) recodes
  ``afam`` (no/yes), and renaming an attribute does not make it another one. Only exact recodings are
  caught; a proxy that merely correlates (a postcode for ethnicity) is the fairness gates' business;
* WARN listing each audited dataset's columns that neither the model reads nor any check of the
  policy uses (label, prediction and score columns, sensitive features, drift columns…);
* PASS otherwise.

This module imports no Airflow.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.kinds.data_minimization import DataMinimizationCheck

KIND = "data_minimization"
#: Columns named one by one in an unused-columns finding; the rest are counted.
MAX_NAMED_COLUMNS = 50


def evaluate_data_minimization(
    model_features: Sequence[str] | None,
    spec: DataMinimizationCheck,
    data: Mapping[str, pd.DataFrame],
    *,
    used_columns: Mapping[str, Collection[str]],
    check_id: str = KIND,
    inputs: Mapping[str, Any] | None = None,
) -> CheckResult:
    """Judge ``model_features`` (as the model declares them; None: it declares none) against ``spec``.

    :param data: audited dataset name → its rows (every column: the unused ones are what is listed).
    :param used_columns: audited dataset name → the columns something other than the model uses there
        (its label/prediction/score columns, columns the policy's other checks name).
    """
    started = utcnow()
    facts = dict(inputs or {})

    def result(
        status: Status, summary: str, findings: Sequence[Finding], metrics: dict[str, Any]
    ) -> CheckResult:
        return CheckResult(
            check_id=check_id,
            kind=KIND,
            status=status,
            summary=" ".join(summary.split())[:1000],
            findings=tuple(findings),
            metrics=metrics,
            inputs=facts,
            engine={"release-gates": __version__},
            started_at=started,
            finished_at=utcnow(),
        )

    if not model_features:
        finding = Finding(
            id="model_features_unknown",
            severity=spec.severity,
            title="the model does not declare its input features",
            detail="Neither feature_names_in_ (scikit-learn fitted on a named frame) nor per-column ONNX "
            "inputs: what the model reads cannot be told from the model itself. Fit it on a DataFrame, or "
            "export one ONNX input per column.",
            location="candidate",
        )
        summary = "not judged: the model does not declare its input features"
        return result(Status.INCONCLUSIVE, summary, [finding], {})

    features = list(dict.fromkeys(str(f) for f in model_features))
    sensitive = list(dict.fromkeys(spec.sensitive_features))
    not_allowed = [f for f in features if f not in spec.allowed_features and f not in sensitive]
    named_sensitive = [f for f in features if f in sensitive]
    encodings = (
        _encodings(data, [f for f in features if f not in sensitive], sensitive)
        if spec.detect_encodings
        else {}
    )
    findings: list[Finding] = []
    for feature in named_sensitive:
        findings.append(
            Finding(
                id=f"input_sensitive:{feature}",
                severity=spec.severity,
                title=f"the model reads the sensitive attribute {feature}",
                detail=f"{feature} is listed in sensitive_features; remove it from the model's inputs.",
                location=feature,
                data={"feature": feature, "sensitive": feature},
            )
        )
    for feature, (attribute, dataset) in encodings.items():
        findings.append(
            Finding(
                id=f"input_encodes_sensitive:{feature}",
                severity=spec.severity,
                title=f"the model reads {feature}, a one-to-one recoding of the sensitive {attribute}",
                detail=f"In dataset {dataset!r} every value of {feature} stands for exactly one value of "
                f"{attribute} and back: it is {attribute} under another name. Remove it from the inputs.",
                location=feature,
                data={"feature": feature, "sensitive": attribute, "dataset": dataset},
            )
        )
    for feature in not_allowed:
        findings.append(
            Finding(
                id=f"input_not_allowed:{feature}",
                severity=spec.severity,
                title=f"the model reads {feature}, which has no stated purpose",
                detail=f"{feature} is not in allowed_features. Remove it from the model, or add it with the "
                "purpose it serves.",
                location=feature,
                data={"feature": feature},
            )
        )
    unused = {
        name: [
            c for c in map(str, frame.columns) if c not in features and c not in used_columns.get(name, ())
        ]
        for name, frame in data.items()
    }
    unused = {name: columns for name, columns in unused.items() if columns}
    for name, columns in unused.items():
        shown = ", ".join(columns[:MAX_NAMED_COLUMNS]) + (
            f" and {len(columns) - MAX_NAMED_COLUMNS} more" if len(columns) > MAX_NAMED_COLUMNS else ""
        )
        findings.append(
            Finding(
                id=f"unused_columns:{name}",
                severity=Severity.LOW,
                title=f"{len(columns)} column(s) of {name!r} are used by neither the model nor any check",
                detail=f"{shown}. Collect what you use: drop them from the data the release keeps, or "
                "name the check that needs them.",
                location=name,
                data={"dataset": name, "columns": columns[:500]},
            )
        )
    metrics: dict[str, Any] = {
        "model_features": features,
        "not_allowed": not_allowed,
        "sensitive_inputs": named_sensitive,
        "encoded_sensitive": {f: {"sensitive": a, "dataset": d} for f, (a, d) in encodings.items()},
        "allowed_not_read": [f for f in spec.allowed_features if f not in features],
        "unused_columns": unused,
    }
    failed = [f for f in findings if not f.id.startswith("unused_columns:")]
    if failed:
        named = sorted(
            {str(f.data["feature"]) for f in failed}
            | {str(f.data["sensitive"]) for f in failed if "sensitive" in f.data}
        )
        summary = f"{len(failed)} input problem(s): {failed[0].title}; names: {', '.join(named)}"
        return result(Status.FAIL, summary, findings, metrics)
    if unused:
        listing = "; ".join(
            f"{name}: {', '.join(columns[:10])}" + ("…" if len(columns) > 10 else "")
            for name, columns in unused.items()
        )
        summary = f"{len(features)} input(s), each with a stated purpose; unused columns — {listing}"
        return result(Status.WARN, summary, findings, metrics)
    return result(
        Status.PASS,
        f"{len(features)} input(s), each with a stated purpose, none sensitive; every column of "
        f"{', '.join(data) or 'no dataset'} is used",
        findings,
        metrics,
    )


def _encodings(
    data: Mapping[str, pd.DataFrame], features: Sequence[str], sensitive: Sequence[str]
) -> dict[str, tuple[str, str]]:
    """Input → (sensitive column, dataset) for each input that recodes a sensitive column one-to-one."""
    found: dict[str, tuple[str, str]] = {}
    for name, frame in data.items():
        for feature in features:
            if feature in found or feature not in frame.columns:
                continue
            for attribute in sensitive:
                if attribute in frame.columns and _one_to_one(frame, feature, attribute):
                    found[feature] = (attribute, name)
                    break
    return found


def _one_to_one(frame: pd.DataFrame, a: str, b: str) -> bool:
    """Whether, on rows where both are present, each value of ``a`` goes with one value of ``b`` and back.

    A sensitive column with a single value tells nothing (everything "recodes" a constant): never a match.
    """
    pair = frame[[a, b]].dropna()
    if pair.empty or pair[b].nunique() < 2:
        return False
    # Categorical columns group by their observed values only.
    forward = pair.groupby(a, observed=True)[b].nunique()
    backward = pair.groupby(b, observed=True)[a].nunique()
    return bool((forward <= 1).all() and (backward <= 1).all())
