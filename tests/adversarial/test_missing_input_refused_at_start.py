"""A release whose inputs are not usable is refused at ``start``, with one list, in seconds.

The attack (or the slip): trigger a release whose evaluation file is missing, whose candidate model is
not the pinned one, whose suite and image tarball are gone. Before, each check found its own problem
minutes later, one at a time, after retries. Now ``start`` pre-flights every input the run will read,
records ``release_refused`` with the whole list and fails without retries; no check runs and the
release is sealed held with that reason.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from tests.adversarial.release_support import OWNERS, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

POLICY = f"""\
policy_version: 1
release: {{model: preflight-model, risk_tier: high}}
{OWNERS}
datasets:
  eval:
    uri: data/eval.parquet
    owner: data_steward
    description: evaluation set
    legal_basis: synthetic
    label: y
    prediction: p
    label_values: [0, 1]
  reference:
    uri: data/reference.parquet
    owner: data_steward
    description: training sample
    legal_basis: synthetic
    label: y
    prediction: p
gates:
  - id: data
    owner: data_steward
    rationale: Only documented data with expectations that hold.
    checks:
      - kind: lineage
        datasets: [eval]
        suites: {{eval: suites/eval.json}}
      - kind: fairness
        data: reference
        sensitive_features: [g]
        criteria: [{{metric: selection_rate, ratio_min: 0.8}}]
  - id: security
    owner: data_steward
    rationale: The serving image is scanned.
    checks:
      - kind: image_scan
        image: image/serving.tar
        target: tarball
"""


def _seconds(moment: object) -> float:
    from datetime import datetime

    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    return value.timestamp()


def test_missing_inputs_are_refused_at_start_with_one_list(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    # eval.parquet is missing; reference.parquet lacks the sensitive column g; the suite and the image
    # tarball do not exist.
    pd.DataFrame({"y": [0, 1], "p": [1, 0]}).to_parquet(tmp_path / "data" / "reference.parquet")
    began = time.monotonic()
    release = run(tmp_path, "preflight", POLICY, {})
    whole = time.monotonic() - began

    states = release.task_states()
    assert states["start"] == "failed"
    assert all(
        states[t] == "upstream_failed" for t in ("data.lineage", "data.fairness", "security.image_scan")
    )
    assert not release.records("check_result")  # nothing was checked

    (refused,) = release.records("release_refused")
    decided = _seconds(refused.recorded_at) - _seconds(release.run.start_date)
    print(f"\nrefused at start {decided:.1f} s after the run began ({whole:.1f} s for the whole dag.test())")
    problems = {p["input"]: p["problem"] for p in refused.payload["problems"]}
    assert refused.payload["stage"] == "preflight"
    assert "file not found" in problems["dataset 'eval'"]
    assert "lacks column(s) the checks need: g" in problems["dataset 'reference'"]
    assert "file not found" in problems["data.lineage suite of 'eval'"]
    assert "file not found" in problems["security.image_scan tarball target"]
    assert refused.payload["summary"].startswith("4 input problem(s): ")

    sealed = release.sealed()
    assert sealed["decision"] == "held"
    assert sealed["reasons"][0].startswith("refused at start: 4 input problem(s)")


def test_a_candidate_that_is_not_the_pinned_file_is_refused_at_start(tmp_path: Path) -> None:
    policy = POLICY.replace(
        "gates:\n",
        'candidate:\n  uri: "{{ params.model_uri }}"\n  sha256: "'
        + "0" * 64
        + '"\n  format: skops\nscoring: {datasets: [reference]}\ngates:\n',
        1,
    )
    release = run(tmp_path, "preflight_model", policy, {})
    (refused,) = release.records("release_refused")
    problems = {p["input"]: p["problem"] for p in refused.payload["problems"]}
    assert "the pin is 000000000000" in problems["candidate model"]
    assert release.sealed()["decision"] == "held"
