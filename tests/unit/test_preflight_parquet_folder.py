"""Pre-flight at ``start`` accepts a Parquet folder (Hive partitions) as the aggregate engine reads it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from release_gates.datasets import folder_fingerprint
from release_gates.inputs.preflight import preflight_inputs
from release_gates.policy import load_policy
from tests.minimal_policy import MINIMAL_POLICY

FOLDER_POLICY = MINIMAL_POLICY.replace("{uri: eval.parquet,", "{uri: eval, format: parquet,")


def _policy(tmp_path: Path, text: str = FOLDER_POLICY) -> Path:
    (tmp_path / "policy.yaml").write_text(text)
    return tmp_path / "policy.yaml"


def _folder(tmp_path: Path, columns: dict[str, list[object]]) -> Path:
    folder = tmp_path / "eval"
    for part in ("a", "b"):
        (folder / f"g={part}").mkdir(parents=True)
        pd.DataFrame(columns).to_parquet(folder / f"g={part}" / "data.parquet", index=False)
    return folder


def test_a_partitioned_folder_with_the_columns_is_usable(tmp_path: Path) -> None:
    _folder(tmp_path, {"y": [0, 1], "p": [1, 1]})  # g is the partition
    assert preflight_inputs(load_policy(_policy(tmp_path))) == []


def test_an_empty_folder_a_missing_column_and_a_wrong_pin_are_refused(tmp_path: Path) -> None:
    (tmp_path / "eval").mkdir()
    [problem] = preflight_inputs(load_policy(_policy(tmp_path)))
    assert "no Parquet files in the folder" in str(problem)

    folder = _folder(tmp_path, {"y": [0, 1]})
    [problem] = preflight_inputs(load_policy(_policy(tmp_path)))
    assert "eval/ lacks column(s) the checks need: p" in str(problem)

    pin = folder_fingerprint("eval", folder)["sha256"]
    pinned = FOLDER_POLICY.replace("format: parquet,", f"format: parquet, sha256: {pin},")
    pd.DataFrame({"y": [0], "p": [1]}).to_parquet(folder / "g=a" / "data.parquet", index=False)
    problems = [str(p) for p in preflight_inputs(load_policy(_policy(tmp_path, pinned)))]
    assert any(f"the pin is {pin[:12]}" in p for p in problems), problems
