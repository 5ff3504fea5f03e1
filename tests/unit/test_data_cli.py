"""``release-gates check lineage|drift``: registration, usage errors and standalone lineage runs."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd
import pytest

from release_gates import cli

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(list(argv), out=out), out.getvalue()


@pytest.fixture
def parquet(tmp_path: Path) -> Path:
    path = tmp_path / "train.parquet"
    pd.DataFrame({"deny": ["no", "yes"], "pirat": [0.2, 0.3]}).to_parquet(path, index=False)
    return path


def test_both_commands_are_registered() -> None:
    cli.build_parser()
    assert {"lineage", "drift"} <= set(cli.CHECK_COMMANDS)


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "lineage"],
        ["check", "lineage", "--gate", "data"],
        ["check", "lineage", "--policy", str(REPO / "include/release_policy.yaml")],
        ["check", "lineage", "--policy", str(REPO / "include/release_policy.yaml"), "--gate", "nope"],
        ["check", "lineage", "--policy", str(REPO / "include/release_policy.yaml"), "--gate", "ethics"],
        ["check", "lineage", "--dataset", "train"],
        ["check", "lineage", "--dataset", "a=x.parquet", "--pin", "b=abc"],
        ["check", "drift"],
        ["check", "drift", "--reference", "a.parquet"],
        ["check", "drift", "--reference", "a.parquet", "--current", "b.parquet", "--drift-share", "3"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    assert run(*argv)[0] == 2


def test_standalone_lineage_documented_and_pinned_passes(parquet: Path) -> None:
    sha = hashlib.sha256(parquet.read_bytes()).hexdigest()
    code, out = run(
        "check", "lineage", "--dataset", f"train={parquet}", "--pin", f"train={sha}",
        "--owner", "train=steward", "--description", "train=apps", "--legal-basis", "train=public",
        "--json",
    )  # fmt: skip
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "PASS" and result["check_id"] == "lineage"
    assert result["inputs"]["datasets"]["train"]["sha256"] == sha


def test_standalone_lineage_undocumented_fails_with_exit_1(parquet: Path) -> None:
    code, out = run("check", "lineage", "--dataset", f"train={parquet}")
    assert code == 1
    assert out.startswith("FAIL") and "undocumented_dataset:train" in out


def test_unreadable_dataset_is_error_exit_4(tmp_path: Path) -> None:
    code, out = run("check", "lineage", "--dataset", f"train={tmp_path / 'nope.parquet'}", "--json")
    assert code == 4 and json.loads(out)["status"] == "ERROR"
    code, out = run(
        "check", "drift", "--reference", str(tmp_path / "nope.parquet"), "--current", str(tmp_path / "b.csv")
    )
    assert code == 4 and "dataset 'reference'" in out
