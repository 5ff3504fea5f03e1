"""Drift method selection (no Evidently import): which test runs on which column, and why."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from release_gates.checks.drift import choose_method, column_kind, more_than_few_values
from release_gates.policy import DriftCheck


def _spec(**fields: Any) -> DriftCheck:
    return DriftCheck.model_validate({"kind": "drift", "reference": "r", "current": "c", **fields})


def _numbers(n: int, distinct: int | None = None) -> pd.Series:
    values = np.arange(n, dtype=float)
    return pd.Series(values % distinct if distinct else values)


@pytest.mark.parametrize(
    ("rows", "distinct", "kind", "method"),
    [
        (5000, None, "num", "wasserstein"),  # large, many values: distance
        (5000, 4, "num", "jensenshannon"),  # large, few values: distance for categories
        (800, None, "num", "ks"),  # small: p-value tests
        (800, 4, "num", "chisquare"),
        (800, 2, "num", "z"),
    ],
)
def test_auto_follows_evidently_rule(rows: int, distinct: int | None, kind: str, method: str) -> None:
    series = _numbers(rows, distinct)
    choice = choose_method("x", "num" if kind == "num" else "cat", series, series, _spec())
    assert choice.name == method
    assert choice.reason.startswith("auto:") and f"{rows} reference rows" in choice.reason
    if method in ("wasserstein", "jensenshannon"):
        assert "evidently#50" in choice.reason


def test_categorical_columns_get_jensen_shannon_when_large() -> None:
    cats = pd.Series(["a", "b", "c", "d", "e", "f", "g"] * 300)
    assert choose_method("c", "cat", cats, cats, _spec()).name == "jensenshannon"


def test_the_row_threshold_is_a_policy_setting() -> None:
    series = _numbers(5000)
    assert choose_method("x", "num", series, series, _spec(large_sample_rows=10_000)).name == "ks"


def test_policy_overrides_in_order() -> None:
    series = _numbers(5000)
    spec = _spec(method="psi", num_method="ks", column_methods={"x": "anderson"})
    assert choose_method("x", "num", series, series, spec).name == "anderson"
    assert choose_method("y", "num", series, series, spec).reason == "num_method in the policy"
    assert choose_method("y", "cat", series, series, spec).name == "psi"


def test_distinct_value_count_is_exact_beyond_the_prefix() -> None:
    few_then_many = pd.Series([1.0] * 20_000 + [2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert more_than_few_values(few_then_many, pd.Series([1.0]))
    assert not more_than_few_values(pd.Series([1.0, 2.0] * 20_000), pd.Series([3.0, 4.0, 5.0]))


def test_column_kinds() -> None:
    assert column_kind(pd.Series([1.5, 2.0])) == "num"
    assert column_kind(pd.Series([1, 2])) == "num"
    assert column_kind(pd.Series(["a", "b"])) == "cat"
    assert column_kind(pd.Series([True, False])) == "cat"
