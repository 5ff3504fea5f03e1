"""Sensitive attributes among the candidate's inputs: read as such, re-encoded, or stood in for by a proxy.

Three questions the explainability check asks of every (input, sensitive attribute) pair:

* **read directly** — the attribute itself is an input: the model declares it (a skops model's
  ``feature_names_in_``, an ONNX graph's inputs, the policy's ``candidate.features``) or, for a model
  that declares nothing and receives every column, permuting it changes at least one decision;
* **re-encoded** — an input that is a function of the attribute (constant within each of its groups
  and not constant overall, e.g. ``afam_b = afam == "yes"`` or one one-hot column of it) carries
  nothing but the attribute, so it counts as reading the attribute;
* **proxy** — an input whose values alone predict the attribute: ROC AUC of the input as the score
  of "belongs to group g" (one-vs-rest for each group with ``min_group_size`` rows on both sides,
  the best group), taken as max(AUC, 1 − AUC) because a feature that ranks the groups the wrong way
  round predicts them just as well. Numeric and boolean inputs are the score as they are (rows with
  a missing value left out); a categorical input is first replaced by its groups' target encoding
  (scikit-learn's ``TargetEncoder``, cross-fitted, so a column of unique IDs does not look like a
  perfect predictor of anything).

No Airflow here: pure functions of frames, used by :mod:`release_gates.checks.explainability`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class SensitiveRead:
    """One input through which the model reads a sensitive attribute."""

    attribute: str
    input: str
    #: ``declared input``, ``changes decisions`` or ``encodes <attribute>``.
    how: str


def is_encoding(values: pd.Series, attribute: pd.Series) -> bool:
    """True when ``values`` is a non-constant function of the (categorical) ``attribute``.

    Rows where the attribute is missing are left out; a missing input value is a value of its own.
    An attribute with more than half as many groups as rows is not categorical (an ID, a timestamp):
    everything would be "a function" of it, so nothing is.
    """
    import pandas as pd

    known = attribute.notna().to_numpy()
    pair = pd.DataFrame({"v": values.to_numpy()[known], "a": attribute.to_numpy()[known]})
    if pair.empty or pair["v"].nunique(dropna=False) < 2:
        return False
    groups = int(pair["a"].nunique())
    if groups < 2 or 2 * groups > len(pair):
        return False
    return bool((pair.groupby("a", observed=True)["v"].nunique(dropna=False) == 1).all())


def changes_decisions(
    inputs: pd.DataFrame, column: str, predict: Callable[[pd.DataFrame], Any], baseline: np.ndarray, seed: int
) -> bool:
    """Whether one seeded permutation of ``column`` changes any of the model's decisions."""
    import numpy as np

    shuffled = inputs.copy()
    order = np.random.default_rng(seed).permutation(len(inputs))
    shuffled[column] = inputs[column].to_numpy()[order]
    return bool((np.asarray(predict(shuffled)).ravel() != baseline).any())


def sensitive_reads(
    inputs: pd.DataFrame,
    sensitive: pd.DataFrame,
    *,
    declared: bool,
    predict: Callable[[pd.DataFrame], Any],
    baseline: np.ndarray,
    seed: int,
) -> list[SensitiveRead]:
    """Every input through which the model reads one of the ``sensitive`` columns (see the module doc).

    ``declared``: the model names its inputs, so each of them is read. Otherwise it received every
    column and an input counts as read only if permuting it changes a decision.
    """
    found: list[SensitiveRead] = []
    read_cache: dict[str, bool] = {}

    def read(column: str) -> bool:
        if declared:
            return True
        if column not in read_cache:
            read_cache[column] = changes_decisions(inputs, column, predict, baseline, seed)
        return read_cache[column]

    for attribute in sensitive.columns:
        if attribute in inputs.columns and read(attribute):
            found.append(
                SensitiveRead(attribute, attribute, "declared input" if declared else "changes decisions")
            )
        for column in inputs.columns:
            if column in sensitive.columns:
                continue
            if is_encoding(inputs[column], sensitive[attribute]) and read(column):
                found.append(SensitiveRead(attribute, column, f"encodes {attribute}"))
    return found


def proxy_auc(values: pd.Series, attribute: pd.Series, *, min_group_size: int, seed: int) -> float | None:
    """max(AUC, 1 − AUC) of ``values`` predicting membership of the attribute's best-predicted group.

    None when no group has ``min_group_size`` rows inside and outside it (nothing to decide on).
    """
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    numeric = pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
    known = attribute.notna().to_numpy()
    if numeric:
        known &= values.notna().to_numpy()
    groups = attribute.to_numpy()[known]
    column = values.to_numpy()[known]
    counts = pd.Series(groups).value_counts()
    levels = [g for g, n in counts.items() if n >= min_group_size and len(groups) - n >= min_group_size]
    if len(counts) == 2:
        levels = levels[:1]  # two groups: "is g" and "is the other" have the same AUC, mirrored
    best: float | None = None
    for level in levels:
        target = groups == level
        score = column.astype("float64") if numeric else _encoded(column, target, seed)
        auc = float(roc_auc_score(target, score))
        auc = max(auc, 1.0 - auc)
        best = auc if best is None else max(best, auc)
    return None if best is None else float(np.round(best, 6))


def _encoded(column: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray:
    """A categorical input as the cross-fitted share of ``target`` among rows with its value."""
    import sklearn
    from sklearn.model_selection import StratifiedKFold
    from sklearn.preprocessing import TargetEncoder

    release = re.match(r"(\d+)\.(\d+)", sklearn.__version__)
    if release is not None and (int(release[1]), int(release[2])) >= (
        1,
        9,
    ):  # folds given as a splitter; shuffle/random_state are deprecated
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        encoder = TargetEncoder(target_type="binary", cv=folds)
    else:
        encoder = TargetEncoder(target_type="binary", shuffle=True, random_state=seed)
    encoded: np.ndarray = encoder.fit_transform(column.astype(str).reshape(-1, 1), target).ravel()
    return encoded
