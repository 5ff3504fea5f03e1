"""``release-gates init`` with flags only: proposals from the data, files that validate and parse."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from release_gates.cli import EXIT_OK, EXIT_USAGE, main
from release_gates.policy import load_policy


def write_csv(path: Path, rows: int = 200) -> Path:
    frame = pd.DataFrame(
        {
            "age": [20 + i % 50 for i in range(rows)],
            "sex": ["f" if i % 3 else "m" for i in range(rows)],
            "income": [1000.0 + i for i in range(rows)],
            "approved": [i % 2 for i in range(rows)],
            "pred": [(i // 2) % 2 for i in range(rows)],
            "proba": [0.25 + (i % 2) / 2 for i in range(rows)],
        }
    )
    frame.loc[0, "income"] = None
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_init_with_flags_writes_a_policy_that_validates_and_a_dag_airflow_would_parse(tmp_path: Path) -> None:
    from airflow.utils.file import might_contain_dag_via_default_heuristic

    data = write_csv(tmp_path / "data" / "scored.csv")
    code, output = run(
        "init", "--dir", str(tmp_path), "--model", "loan-scorer", "--dataset", f"eval={data}",
        "--owner", "data_owner=dana", "--owner", "ethics_reviewer=erin", "--owner", "release_manager=rita",
        "--email", "ethics_reviewer=ethics@example.org", "--target", "lambda:scorer:live", "--yes", "--json",
    )  # fmt: skip
    assert code == EXIT_OK, output
    written = json.loads(output)
    assert written["columns"]["proposed"] == {
        "label": "approved",
        "prediction": "pred",
        "score": "proba",
        "sensitive": ["sex"],  # age has too many values to be grouped as it is
    }
    policy = load_policy(written["files"]["policy"])
    assert policy.datasets["eval"].label == "approved" and policy.datasets["eval"].uri == "data/scored.csv"
    assert policy.deployment is not None and policy.deployment.target.alias == "live"
    assert policy.owners["ethics_reviewer"].email == "ethics@example.org"
    assert [g.id for g in policy.gates] == ["data", "ethics"]
    assert policy.release.risk_tier == "high"  # a fairness gate and two approver roles: it meets high
    assert written["next"][0].startswith("release-gates policy validate ")

    dag_file = Path(written["files"]["dag"])
    assert dag_file.name == "release_loan_scorer.py"
    assert might_contain_dag_via_default_heuristic(str(dag_file))
    assert "from release_gates import build_release_dag" in dag_file.read_text()

    suite = json.loads(Path(written["files"]["suites"]["eval"]).read_text())
    types = {e["type"] for e in suite["expectations"]}
    assert {"expect_table_columns_to_match_set", "expect_column_values_to_be_in_set"} <= types
    by_column = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    assert by_column[("expect_column_values_to_be_in_set", "sex")]["value_set"] == ["f", "m"]
    assert by_column[("expect_column_values_to_not_be_null", "income")]["mostly"] < 1
    assert ("expect_column_values_to_be_in_type_list", "pred") not in by_column  # the release rewrites it


def test_init_claims_only_the_risk_tier_its_policy_meets(tmp_path: Path) -> None:
    """No sensitive column, so no fairness gate: the policy says medium (high would refuse it) and loads."""
    data = write_csv(tmp_path / "data" / "scored.csv").with_name("plain.csv")
    pd.read_csv(tmp_path / "data" / "scored.csv").drop(columns=["sex"]).to_csv(data, index=False)
    code, output = run(
        "init", "--dir", str(tmp_path), "--model", "plain", "--dataset", f"eval={data}",
        "--owner", "data_owner=dana", "--owner", "release_manager=rita", "--yes", "--json",
    )  # fmt: skip
    assert code == EXIT_OK, output
    policy = load_policy(json.loads(output)["files"]["policy"])
    assert policy.release.risk_tier == "medium"
    assert "ethics" not in [g.id for g in policy.gates]


def test_init_never_prompts_with_yes_and_says_which_flags_are_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(tmp_path / "scored.csv")
    code, _ = run("init", "--dir", str(tmp_path), "--model", "m", "--dataset", f"eval={data}", "--yes")
    assert code == EXIT_USAGE
    assert "--owner data_owner=USER" in capsys.readouterr().err


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "scored.csv")
    owners = ["--owner", "data_owner=a", "--owner", "ethics_reviewer=b", "--owner", "release_manager=c"]
    argv = ["init", "--dir", str(tmp_path), "--model", "m", "--dataset", f"eval={data}", "--yes", *owners]
    assert run(*argv)[0] == EXIT_OK
    assert run(*argv)[0] == EXIT_USAGE
    assert run(*argv, "--force")[0] == EXIT_OK
