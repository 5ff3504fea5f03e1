"""Lineage engine logic that needs no Great Expectations run: documentation, pins, suites, label rules."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from release_gates.checks.lineage import (
    RULE_META_KEY,
    SuiteError,
    evaluate_lineage,
    label_expectations,
    load_suite_file,
)
from release_gates.policy import Dataset, LineageCheck
from release_gates.results import Severity, Status

DOCS = {"owner": "data_steward", "description": "HMDA applications", "legal_basis": "public research data"}


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "train.parquet"
    pd.DataFrame({"deny": ["no", "yes", "no"], "pirat": [0.2, 0.4, 0.3]}).to_parquet(path, index=False)
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _spec(**fields: Any) -> LineageCheck:
    return LineageCheck.model_validate({"kind": "lineage", "datasets": ["train"], **fields})


def test_documented_pinned_dataset_passes_and_records_its_fingerprint(parquet: Path) -> None:
    declared = {"train": Dataset(uri=str(parquet), sha256=_sha(parquet), **DOCS)}
    result = evaluate_lineage(_spec(), declared, check_id="data.lineage")
    assert result.status is Status.PASS, result.findings
    assert result.inputs["datasets"]["train"]["sha256"] == _sha(parquet)
    assert result.inputs["datasets"]["train"]["rows"] == 3
    assert result.metrics["datasets"]["train"]["fingerprint_match"] is True
    assert "great_expectations" not in result.engine  # nothing to validate: GX never imported


def test_undeclared_and_undocumented_datasets_fail(parquet: Path) -> None:
    declared = {"train": Dataset(uri=str(parquet), sha256=_sha(parquet), owner="someone")}
    result = evaluate_lineage(_spec(), declared, check_id="data.lineage", used=["eval", "train"])
    assert result.status is Status.FAIL
    ids = {f.id: f for f in result.findings}
    assert ids["undocumented_dataset:train"].data["missing"] == ["description", "legal_basis"]
    assert "undeclared_dataset:eval" in ids
    assert ids["undeclared_dataset:eval"].location == "eval"


def test_pin_mismatch_is_a_high_fail_and_no_pin_a_warning(parquet: Path) -> None:
    declared = {"train": Dataset(uri=str(parquet), sha256="0" * 64, **DOCS)}
    result = evaluate_lineage(_spec(severity="LOW"), declared, check_id="data.lineage")
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == "fingerprint_mismatch:train" and finding.severity is Severity.HIGH
    assert finding.data == {"pinned_sha256": "0" * 64, "actual_sha256": _sha(parquet)}

    result = evaluate_lineage(_spec(severity="CRITICAL"), declared, check_id="data.lineage")
    assert result.findings[0].severity is Severity.CRITICAL  # the worse of HIGH and the check's

    unpinned = {"train": Dataset(uri=str(parquet), **DOCS)}
    result = evaluate_lineage(_spec(), unpinned, check_id="data.lineage")
    assert result.status is Status.WARN
    assert result.findings[0].id == "unversioned_input:train"
    assert "unversioned input" in result.findings[0].title


def test_unrendered_template_pin_is_inconclusive(parquet: Path) -> None:
    declared = {"train": Dataset(uri=str(parquet), sha256="{{ params.train_sha }}", **DOCS)}
    result = evaluate_lineage(_spec(), declared, check_id="data.lineage")
    assert result.status is Status.INCONCLUSIVE and result.findings[0].id == "unrendered_pin:train"


def test_unreadable_and_empty_datasets_never_pass(tmp_path: Path) -> None:
    missing = {"train": Dataset(uri=str(tmp_path / "nope.parquet"), **DOCS)}
    result = evaluate_lineage(_spec(), missing, check_id="data.lineage")
    assert result.status is Status.ERROR
    assert "dataset 'train'" in result.findings[0].title

    empty = tmp_path / "empty.parquet"
    pd.DataFrame({"deny": pd.Series([], dtype=object)}).to_parquet(empty)
    declared = {"train": Dataset(uri=str(empty), sha256=_sha(empty), **DOCS)}
    result = evaluate_lineage(_spec(), declared, check_id="data.lineage")
    assert result.status is Status.INCONCLUSIVE
    assert result.findings[0].id == "empty_dataset:train" and "0 rows" in result.findings[0].title


def test_unknown_suite_file_is_an_error_naming_dataset_and_path(parquet: Path, tmp_path: Path) -> None:
    declared = {"train": Dataset(uri=str(parquet), sha256=_sha(parquet), **DOCS)}
    spec = _spec(suites={"train": "gx/missing.json"})
    result = evaluate_lineage(spec, declared, check_id="data.lineage", base_dir=tmp_path)
    assert result.status is Status.ERROR
    title = result.findings[0].title
    assert "dataset 'train'" in title and "suite file not found" in title and "missing.json" in title


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"name": "s"}', "has no 'expectations' list"),
        ('{"expectations": [{"kwargs": {}}]}', "needs a 'type'"),
    ],
)
def test_bad_suite_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "suite.json"
    path.write_text(content)
    with pytest.raises(SuiteError, match=message):
        load_suite_file(path)


def test_gx_zero_style_expectation_type_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "suite.json"
    path.write_text(
        json.dumps({"expectations": [{"expectation_type": "expect_column_to_exist", "kwargs": {}}]})
    )
    assert load_suite_file(path)["expectations"][0]["type"] == "expect_column_to_exist"


def test_label_rules_follow_the_declared_label_set_and_balance() -> None:
    dataset = Dataset(uri="x.parquet", label="deny", label_values=["no", "yes"])
    rules = {e["meta"][RULE_META_KEY]: e for e in label_expectations(dataset, {"min": 0.05, "max": 0.4})}
    assert set(rules) == {
        "label_present",
        "label_not_null",
        "label_values",
        "label_share_min",
        "label_share_max",
    }
    assert rules["label_values"]["kwargs"] == {"column": "deny", "value_set": ["no", "yes"]}
    # positive = last label value; min share via in-set, max share via not-in-set with mostly = 1 - max
    assert rules["label_share_min"]["kwargs"] == {"column": "deny", "value_set": ["yes"], "mostly": 0.05}
    assert rules["label_share_max"]["type"] == "expect_column_values_to_not_be_in_set"
    assert rules["label_share_max"]["kwargs"]["mostly"] == pytest.approx(0.6)

    bounds_only_max = label_expectations(dataset, {"max": 0.5})
    assert "label_share_min" not in {e["meta"][RULE_META_KEY] for e in bounds_only_max}
    assert label_expectations(Dataset(uri="x.parquet"), {"min": 0.1}) == []


@pytest.mark.parametrize(
    ("bounds", "message"),
    [({"low": 0.1}, "unknown key"), ({"min": 0.5, "max": 0.2}, "above max")],
)
def test_bad_label_balance_is_an_error(parquet: Path, bounds: dict[str, float], message: str) -> None:
    declared = {"train": Dataset(uri=str(parquet), **DOCS)}
    result = evaluate_lineage(_spec(label_balance=bounds), declared, check_id="data.lineage")
    assert result.status is Status.ERROR and message in result.summary
