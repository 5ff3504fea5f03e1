"""The scoring engine: chunked scoring equals whole-frame scoring; the pin is checked before loading;
skops and ONNX loaders; declared predictions verified on a seeded sample; scored artifacts verified."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from release_gates.exceptions import DatasetError, ModelLoadError
from release_gates.inputs.catalog import DatasetCatalog
from release_gates.inputs.scored import (
    NOT_FROM_MODEL,
    release_catalog,
    score_datasets,
    verify_declared_predictions,
)
from release_gates.policy import parse_policy
from release_gates.results import Status
from release_gates.scoring.engine import OutputColumns, ScoringError, score_file
from release_gates.scoring.loaders import load_model

FEATURES = ["x1", "x2"]


def frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {
            "g": np.where(rng.random(n) < 0.5, "a", "b"),
            "x1": x1,
            "x2": x2,
            "y": (x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0).astype(int),
            "pred": 1,  # what the data file claims; the candidate's outputs replace it
            "score": 0.5,
        }
    )


def fitted(data: pd.DataFrame, threshold: float = 0.5) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import FixedThresholdClassifier

    return FixedThresholdClassifier(LogisticRegression(), threshold=threshold).fit(data[FEATURES], data["y"])


class Ref:
    """A model reference as the policy gives it (uri, sha256, format, trusted_types)."""

    def __init__(self, uri: Path | str, sha256: str | None, fmt: str = "skops") -> None:
        self.uri, self.sha256, self.format, self.trusted_types = str(uri), sha256, fmt, ["numpy.dtype"]


def skops_file(model: Any, path: Path) -> tuple[Path, str]:
    import skops.io as sio

    sio.dump(model, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def data() -> pd.DataFrame:
    return frame()


def test_chunked_scoring_equals_whole_frame_predict_and_keeps_every_other_column(
    data: pd.DataFrame, tmp_path: Path
) -> None:
    model = fitted(data)
    path, digest = skops_file(model, tmp_path / "m.skops")
    source = tmp_path / "eval.parquet"
    data.to_parquet(source, index=False)
    loaded = load_model(Ref(path, digest))
    seen: list[int] = []
    counting = type(loaded)(
        lambda f: (seen.append(len(f)), loaded.predict(f))[1],
        loaded.predict_score,
        loaded.features,
        loaded.info,
    )
    columns = OutputColumns(prediction="pred", score="score", excluded=("y",))
    out = score_file(
        source, "parquet", counting, columns, tmp_path / "out.parquet", name="eval", chunk_rows=7
    )

    scored = pd.read_parquet(out.artifact.uri.removeprefix("file://"))
    assert out.rows == len(data) == len(scored)
    assert (scored["pred"].to_numpy() == model.predict(data[FEATURES])).all()
    assert np.allclose(scored["score"], model.predict_proba(data[FEATURES])[:, 1], atol=0)
    pd.testing.assert_frame_equal(
        scored.drop(columns=["pred", "score"]), data.drop(columns=["pred", "score"])
    )
    assert out.artifact.sha256 == hashlib.sha256((tmp_path / "out.parquet").read_bytes()).hexdigest()
    # Memory is flat in rows: the model never saw more than one chunk, and the file is written per chunk.
    assert max(seen) <= 7 and sum(seen) == len(data)
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups == -(-len(data) // 7)


def test_csv_is_scored_in_chunks_with_the_same_outputs(data: pd.DataFrame, tmp_path: Path) -> None:
    model = fitted(data)
    path, digest = skops_file(model, tmp_path / "m.skops")
    data.to_csv(tmp_path / "eval.csv", index=False)
    columns = OutputColumns(prediction="pred", score=None, excluded=("y",))
    out = score_file(
        tmp_path / "eval.csv", "csv", load_model(Ref(path, digest)), columns, tmp_path / "o.parquet",
        name="eval", chunk_rows=50,
    )  # fmt: skip
    scored = pd.read_parquet(tmp_path / "o.parquet")
    assert out.rows == len(data)
    assert (scored["pred"].to_numpy() == model.predict(data[FEATURES])).all()
    assert (scored["score"] == 0.5).all()  # no score column named: left as the file had it


def test_a_model_whose_sha256_differs_from_the_pin_is_never_deserialised(
    data: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import skops.io as sio

    path, _ = skops_file(fitted(data), tmp_path / "m.skops")

    def must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("deserialised before the hash was checked")

    monkeypatch.setattr(sio, "loads", must_not_run)
    monkeypatch.setattr(sio, "get_untrusted_types", must_not_run)
    with pytest.raises(ModelLoadError, match="pins"):
        load_model(Ref(path, "0" * 64))


def test_missing_model_inputs_refuse_to_score(data: pd.DataFrame, tmp_path: Path) -> None:
    path, digest = skops_file(fitted(data), tmp_path / "m.skops")
    data.drop(columns=["x2"]).to_parquet(tmp_path / "eval.parquet", index=False)
    with pytest.raises(ScoringError, match="x2"):
        score_file(
            tmp_path / "eval.parquet", "parquet", load_model(Ref(path, digest)),
            OutputColumns(prediction="pred"), tmp_path / "o.parquet", name="eval",
        )  # fmt: skip
    assert not (tmp_path / "o.parquet").exists()


def test_onnx_model_exported_with_skl2onnx_scores_like_sklearn(data: pd.DataFrame, tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(data[FEATURES], data["y"])
    onnx = to_onnx(pipeline, data[FEATURES].to_numpy(dtype="float32")[:1], options={"zipmap": False})
    path = tmp_path / "m.onnx"
    path.write_bytes(onnx.SerializeToString())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    loaded = load_model(Ref(path, digest, "onnx"), features=FEATURES)
    assert loaded.info == {"uri": str(path), "format": "onnx", "sha256": digest, "pinned": True}
    data.to_parquet(tmp_path / "eval.parquet", index=False)
    columns = OutputColumns(prediction="pred", score="score", excluded=("y",), features=tuple(FEATURES))
    score_file(
        tmp_path / "eval.parquet", "parquet", loaded, columns, tmp_path / "o.parquet", name="e", chunk_rows=64
    )
    scored = pd.read_parquet(tmp_path / "o.parquet")
    expected = pipeline.predict(data[FEATURES])
    # float32 inside ONNX: a row exactly at the threshold could flip; none of these is that close.
    assert (scored["pred"].to_numpy() == expected).mean() > 0.99
    assert np.allclose(scored["score"], pipeline.predict_proba(data[FEATURES])[:, 1], atol=1e-5)
    with pytest.raises(ModelLoadError, match="pins"):
        load_model(Ref(path, "f" * 64, "onnx"))


# --------------------------------------------------------------------------------------------------
# Through the catalog: scored artifacts and declared predictions
# --------------------------------------------------------------------------------------------------

POLICY = """\
policy_version: 1
release: {{model: m}}
owners: {{ethics: {{users: [aisha]}}}}
datasets:
  eval: {{uri: eval.parquet, label: y, prediction: pred, score: score, label_values: [0, 1]{extra}}}
candidate: {{uri: m.skops, sha256: "{sha}", trusted_types: [numpy.dtype]}}
scoring: {{datasets: [eval], chunk_rows: 50, verify_rows: 40}}
gates:
  - id: ethics
    owner: ethics
    rationale: r
    checks:
      - kind: fairness
        data: eval
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
"""


def release_setup(tmp_path: Path, data: pd.DataFrame, *, declared: bool) -> tuple[Any, DatasetCatalog]:
    _, digest = skops_file(fitted(data), tmp_path / "m.skops")
    text = POLICY.format(sha=digest, extra=", predictions: declared" if declared else "")
    (tmp_path / "policy.yaml").write_text(text)
    from release_gates.policy import load_policy

    policy = load_policy(tmp_path / "policy.yaml")
    return policy, DatasetCatalog.build(policy.datasets, base_dir=policy.base_dir)


def test_scored_dataset_is_read_from_its_artifact_and_its_sha256_is_checked(
    data: pd.DataFrame, tmp_path: Path
) -> None:
    data.to_parquet(tmp_path / "eval.parquet", index=False)
    policy, catalog = release_setup(tmp_path, data, declared=False)
    payload = score_datasets(catalog, policy.candidate, policy.scoring, ["eval"], tmp_path / "scored")
    entry = payload["datasets"]["eval"]
    assert (
        entry["rows"] == len(data)
        and entry["source"]["sha256"] == hashlib.sha256((tmp_path / "eval.parquet").read_bytes()).hexdigest()
    )
    assert payload["model"]["sha256"] == policy.candidate.sha256

    scored = release_catalog(catalog, policy, policy.candidate, record=payload, substitute=True)
    loaded = scored.load("eval")
    assert (loaded["pred"].to_numpy() == fitted(data).predict(data[FEATURES])).all()
    assert scored.scored_inputs("eval")["artifact_sha256"] == entry["artifact"]["sha256"]

    # The artifact changed after it was recorded: never read.
    tampered = release_catalog(catalog, policy, policy.candidate, record=payload, substitute=True)
    path = Path(entry["artifact"]["uri"].removeprefix("file://"))
    pd.read_parquet(path).assign(pred=1).to_parquet(path, index=False)
    with pytest.raises(DatasetError, match="recorded"):
        tampered.load("eval")
    # No record (the score step failed or never ran): reading the dataset raises.
    missing = release_catalog(catalog, policy, policy.candidate, record=None, substitute=True)
    with pytest.raises(DatasetError, match="no scored artifact"):
        missing.dataset("eval")


def test_declared_predictions_are_verified_on_a_seeded_sample(data: pd.DataFrame, tmp_path: Path) -> None:
    model = fitted(data)
    honest = data.assign(pred=model.predict(data[FEATURES]), score=model.predict_proba(data[FEATURES])[:, 1])
    honest.to_parquet(tmp_path / "eval.parquet", index=False)
    policy, catalog = release_setup(tmp_path, data, declared=True)
    candidate_catalog = release_catalog(catalog, policy, policy.candidate, record=None, substitute=True)

    refused, facts = verify_declared_predictions(candidate_catalog, ["eval"], check_id="e.f", kind="fairness")
    assert refused is None
    assert facts["eval"]["compared"] == 40 and facts["eval"]["mismatched"] == 0

    other = honest.assign(pred=1 - honest["pred"])
    other.to_parquet(tmp_path / "eval.parquet", index=False)
    refused, _ = verify_declared_predictions(candidate_catalog, ["eval"], check_id="e.f", kind="fairness")
    assert refused is not None and refused.status is Status.FAIL
    assert NOT_FROM_MODEL in refused.summary

    (tmp_path / "m.skops").unlink()  # cannot re-score: undecidable, not a pass
    refused, _ = verify_declared_predictions(candidate_catalog, ["eval"], check_id="e.f", kind="fairness")
    assert refused is not None and refused.status is Status.INCONCLUSIVE


# --------------------------------------------------------------------------------------------------
# Policy rules
# --------------------------------------------------------------------------------------------------

SHA = "a" * 64


def policy_text(datasets: str, sections: str, checks: str) -> str:
    return (
        "policy_version: 1\nrelease: {model: m}\nowners: {ethics: {users: [aisha]}}\n"
        f"datasets:\n{datasets}{sections}gates:\n  - id: ethics\n    owner: ethics\n    rationale: r\n"
        f"    checks:\n{checks}"
    )


EVAL = "  eval: {uri: e.parquet, label: y, prediction: p}\n  ref: {uri: r.parquet, label: y}\n"
FAIRNESS = (
    "      - {kind: fairness, data: eval, sensitive_features: [g],\n"
    "         criteria: [{metric: tpr, ratio_min: 0.8}]}\n"
)
STRESS = (
    "      - {kind: stress_safety, data: eval, sensitive_features: [g], ceiling: 0.3,\n"
    "         scenarios: [{name: b, kind: baseline}]}\n"
)
CANDIDATE = f'candidate: {{uri: "{{{{ params.model_uri }}}}", sha256: "{SHA}"}}\n'


def problems(text: str) -> list[str]:
    from release_gates.policy import PolicyError

    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    return [str(p) for p in info.value.problems]


def test_a_policy_with_candidate_and_scoring_loads() -> None:
    policy = parse_policy(policy_text(EVAL, CANDIDATE + "scoring: {datasets: [eval]}\n", FAIRNESS))
    assert policy.candidate is not None and policy.candidate.format == "skops"
    assert policy.scoring is not None and policy.scoring.chunk_rows == 100_000
    assert policy.scoring.verify_rows == 500 and policy.datasets["eval"].predictions == "scored"


@pytest.mark.parametrize(
    ("datasets", "sections", "checks", "expected"),
    [
        (
            EVAL,
            CANDIDATE + "scoring: {datasets: [evl]}\n",
            FAIRNESS,
            "p.yaml:8 scoring.datasets[0]: unknown dataset 'evl' (did you mean 'eval'?)",
        ),
        (
            EVAL,
            CANDIDATE + "scoring: {datasets: [eval, ref]}\n",
            FAIRNESS,
            "scoring.datasets[1]: dataset 'ref' declares no prediction column",
        ),
        (EVAL, "scoring: {datasets: [eval]}\n", FAIRNESS, "scoring: scoring needs a top-level candidate"),
        (
            EVAL,
            CANDIDATE + "scoring: {datasets: [ref]}\n",
            FAIRNESS,
            "checks[0].data: a fairness check judges the candidate: list dataset 'eval'",
        ),
        (
            EVAL.replace("prediction: p}", "prediction: p, predictions: declared}"),
            "",
            FAIRNESS,
            "datasets.eval.predictions: declared predictions are checked against the candidate",
        ),
        (
            EVAL,
            "",
            STRESS,
            "checks[0].model: stress_safety needs a model",
        ),
        (
            EVAL,
            CANDIDATE.replace("}\n", ", format: onnx, trusted_types: [numpy.dtype]}\n")
            + "scoring: {datasets: [eval]}\n",
            FAIRNESS,
            "candidate.trusted_types: trusted_types apply to skops files only",
        ),
        (
            EVAL,
            CANDIDATE.replace(SHA, "abc") + "scoring: {datasets: [eval]}\n",
            FAIRNESS,
            "candidate.sha256: must be 64 lower-case hex",
        ),
        (
            EVAL,
            CANDIDATE + "scoring: {datasets: [eval], chunk_rows: 0}\n",
            FAIRNESS,
            "scoring.chunk_rows: input should be greater than or equal to 1",
        ),
    ],
)
def test_policy_rules_of_candidate_and_scoring(
    datasets: str, sections: str, checks: str, expected: str
) -> None:
    found = problems(policy_text(datasets, sections, checks))
    assert any(expected in p for p in found), found
