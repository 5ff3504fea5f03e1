"""``release-gates pools``: the target pools a policy needs, listed and created in a real metadata DB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from release_gates.policy import load_policy
from release_gates.pools import policy_target_pools
from release_gates_testing.airflow import AirflowEnv

pytestmark = pytest.mark.integration

POLICY = Path(__file__).parents[2] / "include" / "release_policy.yaml"


def _pools(env: AirflowEnv, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release_gates.cli", "pools", str(POLICY), *args],
        env=env.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_missing_pools_are_reported_then_created_once(airflow_home: AirflowEnv) -> None:
    wanted = policy_target_pools(load_policy(POLICY))
    assert wanted, "the example policy drills and promotes: it needs at least one target pool"

    listed = _pools(airflow_home, "--json")
    assert listed.returncode == 1, listed.stderr
    report = json.loads(listed.stdout)
    assert sorted(report["missing"]) == sorted(wanted)

    created = _pools(airflow_home, "--create", "--json")
    assert created.returncode == 0, created.stderr
    rows = json.loads(created.stdout)["pools"]
    assert {r["pool"] for r in rows if r["created"]} == set(wanted)

    again = _pools(airflow_home)
    assert again.returncode == 0 and "MISSING" not in again.stdout
    assert again.stdout.count("exists") == len(wanted)

    # Airflow itself sees them, one slot each.
    shown = subprocess.run(
        [sys.executable, "-m", "airflow", "pools", "list", "--output", "json"],
        env=airflow_home.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    slots = {p["pool"]: int(p["slots"]) for p in json.loads(shown.stdout)}
    assert all(slots[name] == 1 for name in wanted)
