"""The package as Airflow and pip see it: registration, wheel contents, import cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from release_gates import __version__

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _airflow_env(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def test_airflow_lists_the_provider_with_its_version(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "airflow"), "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        env=_airflow_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = json.loads(proc.stdout[proc.stdout.index("[") :])
    ours = [p for p in listed if p["package_name"] == "airflow-provider-release-gates"]
    assert ours and ours[0]["version"] == __version__


def test_airflow_knows_the_evidence_connection_type(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "airflow"), "providers", "hooks", "--output", "json"],
        capture_output=True,
        text=True,
        env=_airflow_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    hooks = json.loads(proc.stdout[proc.stdout.index("[") :])
    ours = [h for h in hooks if h.get("connection_type") == "release_gates_evidence"]
    assert ours, "connection type release_gates_evidence not registered"
    assert ours[0]["class"] == "release_gates.hooks.evidence.EvidenceStoreHook"


def test_provider_info_matches_airflow_runtime_schema() -> None:
    import airflow
    import jsonschema

    from release_gates.get_provider_info import get_provider_info

    schema_file = Path(airflow.__file__).parent / "provider_info.schema.json"
    jsonschema.validate(get_provider_info(), json.loads(schema_file.read_text()))


def test_wheel_ships_migrations_schema_and_entry_points(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("airflow_provider_release_gates-*.whl"))
    assert f"-{__version__}-" in wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "release_gates/evidence/migrations/env.py",
        "release_gates/evidence/migrations/versions/0001_evidence_chain.py",
        "release_gates/schemas/check_result.schema.json",
        "release_gates/get_provider_info.py",
    ):
        assert required in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "release_gates.get_provider_info:get_provider_info" in text
    assert "release-gates = release_gates.cli:main" in text


HEAVY = (
    "pandas",
    "numpy",
    "great_expectations",
    "evidently",
    "sklearn",
    "scipy",
    "boto3",
    "botocore",
    "matplotlib",
    "fairlearn",
    "skops",
)


def test_operators_hooks_and_policy_import_nothing_heavy() -> None:
    """A DAG parse pays for every module-level import (checked in a fresh interpreter)."""
    code = f"""
import importlib, pkgutil, sys
import release_gates, release_gates.policy, release_gates.results, release_gates.evidence, release_gates.cli
for sub in ("operators", "hooks"):
    pkg = importlib.import_module("release_gates." + sub)
    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"release_gates.{{sub}}.{{info.name}}")
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
