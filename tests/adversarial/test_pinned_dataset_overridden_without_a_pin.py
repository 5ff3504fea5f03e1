"""A run must not swap a pinned dataset for other data and lose the pin on the way.

The attack: trigger the release with ``datasets: {eval: <other file>}``. Before, the override replaced
the URI and dropped the sha256 pin, and lineage only warned "unversioned input". Now the run is
refused at start (nothing is checked, nothing passes); an override that carries its own sha256 and
lies under an allow-listed prefix is accepted, and lineage verifies that new pin.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.adversarial.release_support import APPROVE_ALL, OWNERS, run, sha256_of

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def policy(pin: str) -> str:
    return f"""\
policy_version: 1
release: {{model: pinned-model, risk_tier: low}}
{OWNERS}
datasets:
  eval:
    uri: eval.parquet
    sha256: {pin}
    owner: data_steward
    description: evaluation set
    legal_basis: synthetic
    overrides:
      uri_prefixes: [candidates/]
gates:
  - id: data
    owner: data_steward
    rationale: Only pinned, documented data.
    checks:
      - kind: lineage
        datasets: [eval]
"""


def workdir(tmp_path: Path, name: str) -> tuple[Path, Path, str]:
    """A policy directory with the pinned eval.parquet and a different candidates/other.parquet."""
    root = tmp_path / name
    (root / "candidates").mkdir(parents=True)
    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(root / "eval.parquet")
    other = root / "candidates" / "other.parquet"
    pd.DataFrame({"x": [7, 8, 9]}).to_parquet(other)
    return root, other, sha256_of(root / "eval.parquet")


def test_overriding_a_pinned_dataset_without_a_pin_is_refused_at_start(tmp_path: Path) -> None:
    root, _other, pin = workdir(tmp_path, "no_pin")
    release = run(root, "no_pin", policy(pin), {"eval": "candidates/other.parquet"})
    states = release.task_states()
    assert states["start"] == "failed"
    assert states["data.lineage"] == "upstream_failed"  # nothing was checked
    assert not release.records("check_result")
    assert not release.records("release_started")  # the chain never opened for this run's inputs
    assert release.sealed()["decision"] == "held"


def test_an_override_with_its_own_pin_is_accepted_and_lineage_verifies_it(tmp_path: Path) -> None:
    root, other, pin = workdir(tmp_path, "new_pin")
    override = {"uri": "candidates/other.parquet", "sha256": sha256_of(other)}
    release = run(root, "new_pin", policy(pin), {"eval": override}, APPROVE_ALL)
    started = release.records("release_started")[0].payload
    assert started["inputs"]["datasets"] == {"eval": override}
    lineage = release.results()["data.lineage"]
    assert lineage["inputs"]["datasets"]["eval"]["sha256"] == override["sha256"]
    finding_ids = [f["id"] for f in lineage["findings"]]
    assert not [f for f in finding_ids if f.startswith(("unversioned_input", "fingerprint_mismatch"))]
    assert lineage["status"] == "PASS", lineage["summary"]


def test_an_override_with_a_wrong_pin_fails_lineage(tmp_path: Path) -> None:
    root, _other, pin = workdir(tmp_path, "wrong_pin")
    override = {"uri": "candidates/other.parquet", "sha256": pin}  # the old file's digest
    release = run(root, "wrong_pin", policy(pin), {"eval": override})
    lineage = release.results()["data.lineage"]
    assert lineage["status"] == "FAIL"
    assert "fingerprint_mismatch:eval" in [f["id"] for f in lineage["findings"]]
    assert release.sealed()["decision"] == "held"
