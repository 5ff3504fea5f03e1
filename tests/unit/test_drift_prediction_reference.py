"""``prediction_reference`` of a drift check: prediction drift against the live version's outputs.

Training data has no predictions, so prediction drift against it is never measured. A policy names a
dataset holding the live version's predictions on the same evaluation rows instead; data drift stays
reference vs current.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from release_gates.checks.drift import evaluate_drift
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.drift import resolve_drift_inputs, run_drift_check
from release_gates.policy import DriftCheck, PolicyError, parse_policy
from release_gates.results import Status

ROWS = 1500


def _spec(**fields: Any) -> DriftCheck:
    return DriftCheck.model_validate(
        {"kind": "drift", "reference": "train", "current": "eval", "prediction_reference": "live", **fields}
    )


def _features(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=ROWS), "y": rng.integers(0, 2, ROWS)})


def _outputs(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    score = np.clip(rng.beta(4, 2, ROWS) - shift, 0, 1)
    return pd.DataFrame({"score": score.round(6), "pred": (score > 0.5).astype(int)})


def _evaluate(current: pd.DataFrame, live: pd.DataFrame | None, **kwargs: Any) -> Any:
    return evaluate_drift(
        _features(1),
        current,
        _spec(),
        check_id="data.drift",
        reference_name="train",
        current_name="eval",
        prediction_columns=["score", "pred"],
        prediction_reference=live,
        prediction_reference_name="live",
        **kwargs,
    )


# --------------------------------------------------------------------------------------------------
# Engine
# --------------------------------------------------------------------------------------------------


def test_predictions_are_compared_with_the_prediction_reference_not_the_training_data() -> None:
    current = pd.concat([_features(2), _outputs(3)], axis=1)
    result = _evaluate(current, _outputs(4))
    assert result.status is Status.PASS, [f.title for f in result.findings]
    prediction = result.metrics["prediction"]
    assert prediction["measured"] is True and prediction["reference"] == "live"
    assert set(prediction["columns"]) == {"score", "pred"}
    # Data drift is still reference (training) vs current, over the features only.
    assert set(result.metrics["columns"]) == {"x", "y"}


def test_without_a_prediction_reference_training_data_without_outputs_is_a_warning() -> None:
    current = pd.concat([_features(2), _outputs(3)], axis=1)
    result = _evaluate(current, None)
    assert result.status is Status.WARN
    assert {f.id for f in result.findings} == {
        "prediction_not_measured:score",
        "prediction_not_measured:pred",
    }


def test_shifted_predictions_against_the_live_version_fail() -> None:
    current = pd.concat([_features(2), _outputs(3, shift=0.3)], axis=1)
    result = _evaluate(current, _outputs(4))
    assert result.status is Status.FAIL
    drifted = {f.location for f in result.findings if f.id.startswith("prediction_drift:")}
    assert drifted == {"score", "pred"}


def test_a_prediction_reference_lacking_an_output_column_is_inconclusive_not_a_warning() -> None:
    current = pd.concat([_features(2), _outputs(3)], axis=1)
    result = _evaluate(current, _outputs(4).drop(columns=["score"]))
    assert result.status is Status.INCONCLUSIVE
    finding = next(f for f in result.findings if f.id == "prediction_not_measured:score")
    assert "'live' (reference)" in finding.title


def test_an_empty_prediction_reference_is_inconclusive() -> None:
    current = pd.concat([_features(2), _outputs(3)], axis=1)
    result = _evaluate(current, _outputs(4).iloc[:0])
    assert result.status is Status.INCONCLUSIVE
    assert any("'live' (reference)" in f.title and "no values" in f.title for f in result.findings)


def test_the_prediction_reference_is_sampled_like_the_other_sides() -> None:
    current = pd.concat([_features(2), _outputs(3)], axis=1)
    spec = _spec(sample_rows=500)
    result = evaluate_drift(
        _features(1),
        current,
        spec,
        check_id="data.drift",
        prediction_columns=["score"],
        prediction_reference=_outputs(4),
        prediction_reference_name="live",
    )
    assert result.metrics["prediction"]["columns"]["score"]["reference_rows"] == 500


# --------------------------------------------------------------------------------------------------
# Resolver
# --------------------------------------------------------------------------------------------------


def _catalog(tmp_path: Path) -> DatasetCatalog:
    _features(1).to_parquet(tmp_path / "train.parquet")
    pd.concat([_features(2), _outputs(3)], axis=1).to_parquet(tmp_path / "eval.parquet")
    live = _outputs(4).rename(columns={"score": "live_score", "pred": "live_pred"})
    pd.concat([_features(2), live], axis=1).to_parquet(tmp_path / "live.parquet")
    return DatasetCatalog.build(
        {
            "train": {"uri": "train.parquet", "label": "y"},
            "eval": {"uri": "eval.parquet", "label": "y", "prediction": "pred", "score": "score"},
            "live": {"uri": "live.parquet", "prediction": "live_pred", "score": "live_score"},
        },
        base_dir=tmp_path,
    )


def test_the_resolver_reads_the_prediction_reference_under_the_current_column_names(tmp_path: Path) -> None:
    resolved = resolve_drift_inputs(_spec(), _catalog(tmp_path))
    assert resolved.prediction_columns == ["score", "pred"]
    assert resolved.prediction_reference is not None
    assert list(resolved.prediction_reference.columns) == ["score", "pred"]
    expected = _outputs(4)
    assert resolved.prediction_reference["score"].tolist() == expected["score"].tolist()
    # Fingerprinted like the other two, and named as the prediction baseline.
    assert set(resolved.inputs["datasets"]) == {"train", "eval", "live"}
    assert len(resolved.inputs["datasets"]["live"]["sha256"]) == 64
    assert resolved.inputs["prediction_reference"] == "live"


def test_without_prediction_drift_the_prediction_reference_is_not_read(tmp_path: Path) -> None:
    resolved = resolve_drift_inputs(_spec(prediction_drift=False), _catalog(tmp_path))
    assert resolved.prediction_reference is None
    assert set(resolved.inputs["datasets"]) == {"train", "eval"}


def test_the_check_run_compares_with_the_live_outputs(tmp_path: Path) -> None:
    result = run_drift_check(_spec(), _catalog(tmp_path), check_id="data.drift")
    assert result.status is Status.PASS, [f.title for f in result.findings]
    assert result.metrics["prediction"]["reference"] == "live"
    assert "no prediction drift" in result.summary


# --------------------------------------------------------------------------------------------------
# Policy rules
# --------------------------------------------------------------------------------------------------

DATASETS = (
    "  train: {uri: t.parquet, label: y}\n"
    "  eval: {uri: e.parquet, label: y, prediction: p, score: s}\n"
    "  live: {uri: l.parquet, prediction: p, score: s}\n"
)


def _policy(check: str, datasets: str = DATASETS, sections: str = "") -> str:
    return (
        "policy_version: 1\nrelease: {model: m}\nowners: {data: {users: [tomas]}}\n"
        f"datasets:\n{datasets}{sections}gates:\n  - id: data\n    owner: data\n    rationale: r\n"
        f"    checks:\n      - {{kind: drift, reference: train, current: eval{check}}}\n"
    )


def _problems(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    return [str(p) for p in info.value.problems]


def test_a_policy_with_a_prediction_reference_loads() -> None:
    policy = parse_policy(_policy(", prediction_reference: live"), source="p.yaml")
    check = policy.gates[0].checks[0]
    assert isinstance(check, DriftCheck) and check.prediction_reference == "live"
    assert ("prediction_reference", "live") in check.dataset_refs()


@pytest.mark.parametrize(
    ("check", "datasets", "sections", "expected"),
    [
        (", prediction_reference: liv", DATASETS, "", "prediction_reference: unknown dataset 'liv'"),
        (
            ", prediction_reference: train",
            DATASETS,
            "",
            "prediction_reference: dataset 'train' declares no prediction or score column",
        ),
        (
            ", prediction_reference: live",
            DATASETS.replace(
                "live: {uri: l.parquet, prediction: p, score: s}", "live: {uri: l.parquet, prediction: p}"
            ),
            "",
            "dataset 'live' declares no score column, which the current dataset 'eval' has",
        ),
        (
            ", prediction_reference: eval",
            DATASETS,
            "",
            "prediction_reference: is the current dataset",
        ),
        (
            ", prediction_reference: live, prediction_drift: false",
            DATASETS,
            "",
            "prediction_reference: is read only for prediction drift",
        ),
        (
            ", prediction_reference: live",
            DATASETS,
            f'candidate: {{uri: m.skops, sha256: "{"a" * 64}"}}\nscoring: {{datasets: [eval, live]}}\n',
            "dataset 'live' is in scoring.datasets",
        ),
    ],
)
def test_policy_rules_of_the_prediction_reference(
    check: str, datasets: str, sections: str, expected: str
) -> None:
    found = _problems(_policy(check, datasets, sections))
    assert any(expected in p for p in found), found
