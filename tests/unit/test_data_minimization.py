"""Data minimization: the spec, the engine's verdicts, and which columns the policy's checks use."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from pydantic import ValidationError

from release_gates.checks.data_minimization import evaluate_data_minimization
from release_gates.kinds.data_minimization import DataMinimizationCheck
from release_gates.results import Status

ALLOWED = {"income": "ability to repay", "debt": "ability to repay"}


def _spec(**extra: Any) -> DataMinimizationCheck:
    raw: dict[str, Any] = {
        "kind": "data_minimization",
        "allowed_features": ALLOWED,
        "sensitive_features": ["race"],
        "data": ["train"],
    }
    return DataMinimizationCheck.model_validate({**raw, **extra})


def _frame(**columns: list[Any]) -> pd.DataFrame:
    base: dict[str, list[Any]] = {
        "income": [10, 20, 30, 40],
        "debt": [1, 2, 3, 4],
        "race": ["a", "b", "a", "b"],
        "label": [0, 1, 0, 1],
    }
    return pd.DataFrame({**base, **columns})


def _run(features: list[str] | None, frame: pd.DataFrame, spec: DataMinimizationCheck | None = None) -> Any:
    used = {"train": {"label", "race"}}  # the label column and a fairness check's sensitive feature
    return evaluate_data_minimization(features, spec or _spec(), {"train": frame}, used_columns=used)


# -- the spec ---------------------------------------------------------------------------------------


def test_every_allowed_feature_needs_a_purpose() -> None:
    with pytest.raises(ValidationError, match=r"purpose.*debt"):
        _spec(allowed_features={"income": "ability to repay", "debt": "   "})


def test_a_sensitive_attribute_is_never_also_allowed() -> None:
    with pytest.raises(ValidationError, match="race listed both"):
        _spec(allowed_features={**ALLOWED, "race": "it predicts well"})


def test_data_takes_one_name_or_several() -> None:
    assert _spec(data="train").data == ["train"]
    assert _spec(data=["train", "eval"]).dataset_refs() == [("data", "train"), ("data", "eval")]


# -- the engine -------------------------------------------------------------------------------------


def test_allowed_inputs_and_every_column_used_pass() -> None:
    result = _run(["income", "debt"], _frame())
    assert result.status is Status.PASS, result.summary
    assert result.findings == ()
    assert result.metrics["model_features"] == ["income", "debt"]


def test_a_model_that_declares_no_inputs_is_never_a_pass() -> None:
    for features in (None, []):
        result = _run(features, _frame())
        assert result.status is Status.INCONCLUSIVE
        assert [f.id for f in result.findings] == ["model_features_unknown"]


def test_an_input_without_a_purpose_fails_by_name() -> None:
    result = _run(["income", "debt", "zip_code"], _frame(zip_code=[1, 2, 3, 4]))
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings] == ["input_not_allowed:zip_code"]
    assert "zip_code" in result.summary


def test_a_sensitive_input_fails_by_name() -> None:
    result = _run(["income", "debt", "race"], _frame())
    assert result.status is Status.FAIL
    assert [f.id for f in result.findings] == ["input_sensitive:race"]
    assert "race" in result.summary


def test_a_renamed_sensitive_attribute_fails_naming_both() -> None:
    # race_code is race under another name: 0 ↔ a, 1 ↔ b on every row.
    frame = _frame(race_code=[0, 1, 0, 1])
    spec = _spec(allowed_features={**ALLOWED, "race_code": "claimed: region"})
    result = _run(["income", "race_code"], frame, spec)
    assert result.status is Status.FAIL
    (finding,) = [f for f in result.findings if f.id.startswith("input_encodes_sensitive")]
    assert finding.data == {"feature": "race_code", "sensitive": "race", "dataset": "train"}
    assert "race_code" in result.summary and "race" in result.summary
    # Switched off, the same input passes (its purpose is stated).
    assert _run(
        ["income", "race_code"], frame, spec.model_copy(update={"detect_encodings": False})
    ).status in (
        Status.PASS,
        Status.WARN,
    )


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ([0, 1, 0, 0], "not one-to-one: value 0 goes with both a and b"),
        ([0, 0, 1, 2], "one race value maps to two codes"),
    ],
)
def test_a_column_that_only_overlaps_a_sensitive_one_is_not_an_encoding(values: list[int], why: str) -> None:
    spec = _spec(allowed_features={**ALLOWED, "region": "pricing zone"})
    result = _run(["income", "region"], _frame(region=values), spec)
    assert not any(f.id.startswith("input_encodes") for f in result.findings), why


def test_a_constant_sensitive_column_encodes_nothing() -> None:
    frame = _frame(race=["a"] * 4, flag=[1, 1, 1, 1])
    spec = _spec(allowed_features={**ALLOWED, "flag": "product flag"})
    result = _run(["income", "flag"], frame, spec)
    assert not any(f.id.startswith("input_encodes") for f in result.findings)


def test_missing_values_do_not_hide_or_fake_an_encoding() -> None:
    frame = _frame(race=["a", "b", None, "b"], race_code=[0, 1, 1, None])
    spec = _spec(allowed_features={**ALLOWED, "race_code": "claimed: region"})
    assert _run(["income", "race_code"], frame, spec).status is Status.FAIL


def test_columns_nobody_uses_warn_by_name() -> None:
    result = _run(["income", "debt"], _frame(phone=["x"] * 4, notes=["y"] * 4))
    assert result.status is Status.WARN
    (finding,) = result.findings
    assert finding.id == "unused_columns:train"
    assert finding.data["columns"] == ["phone", "notes"]
    assert "phone" in result.summary and "notes" in result.summary


def test_a_failure_still_lists_the_unused_columns() -> None:
    result = _run(["income", "race"], _frame(phone=["x"] * 4))
    assert result.status is Status.FAIL
    assert {f.id for f in result.findings} == {"input_sensitive:race", "unused_columns:train"}


# -- which columns the policy's checks use ----------------------------------------------------------

POLICY = """
policy_version: 1
release: {model: m}
owners: {steward: {users: [tomas]}}
candidate: {uri: model.skops, sha256: "SHA256", features: [income, debt, branch]}
scoring: {datasets: [eval]}
datasets:
  train: {uri: train.parquet, label: y}
  eval: {uri: eval.parquet, label: y, prediction: p}
gates:
  - id: ethics
    owner: steward
    rationale: r
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [sex]
        reference_group: {age_band: "30-40"}
        criteria: [{metric: selection_rate, ratio_min: 0.8}]
      - kind: drift
        reference: train
        current: eval
        columns: [income]
        column_methods: {tenure: psi}
      - kind: data_minimization
        allowed_features: {income: repay}
        sensitive_features: [never_counted]
        data: train
""".replace("SHA256", "0" * 64)


def test_columns_named_by_other_checks_count_as_used(tmp_path: Any) -> None:
    from release_gates.inputs.data_minimization import columns_used_by_checks
    from release_gates.policy import load_policy

    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    used = columns_used_by_checks(load_policy(path))
    assert used == {
        "sex": ["ethics.fairness"],
        "age_band": ["ethics.fairness"],
        "income": ["ethics.drift", "candidate.features"],
        "tenure": ["ethics.drift"],
        "debt": ["candidate.features"],
        "branch": ["candidate.features"],
    }
