"""The ``release-gates`` CLI package: commands load lazily, and nothing outside it imports it back."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import release_gates
from release_gates.kinds import CHECK_KINDS, CheckKind, load_dotted

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(release_gates.__file__).resolve().parent

# Runs one command in a fresh interpreter and reports which release_gates modules it imported.
_RUN_AND_LIST_MODULES = """
import io, json, sys
from release_gates.cli import main
code = main(sys.argv[1:], out=io.StringIO())
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.startswith("release_gates"))}))
"""


def _run_in_fresh_interpreter(*argv: str) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout, proc.stderr
    reported = json.loads(proc.stdout.strip().splitlines()[-1])
    return reported["code"], reported["modules"]


def _under(modules: list[str], package: str) -> list[str]:
    return [m for m in modules if m == package or m.startswith(f"{package}.")]


def test_policy_validate_imports_only_its_own_command_module() -> None:
    code, modules = _run_in_fresh_interpreter("policy", "validate", str(REPO / "include/release_policy.yaml"))
    assert code == 0
    assert _under(modules, "release_gates.cli.checks") == []
    assert _under(modules, "release_gates.reports") == []
    assert _under(modules, "release_gates.cli") == [
        "release_gates.cli",
        "release_gates.cli.commands",
        "release_gates.cli.common",
        "release_gates.cli.parser",
        "release_gates.cli.policy",
    ]


def test_check_of_one_kind_imports_only_that_kinds_command_module() -> None:
    code, modules = _run_in_fresh_interpreter("check", "lineage")  # no inputs: a usage error
    assert code == 2
    assert _under(modules, "release_gates.cli.checks") == [
        "release_gates.cli.checks",
        "release_gates.cli.checks.lineage",
    ]


@pytest.mark.parametrize("kind", CHECK_KINDS, ids=lambda kind: kind.cli_name)
def test_every_check_kind_names_its_command(kind: CheckKind) -> None:
    assert kind.cli_command.startswith("release_gates.cli.checks.")
    assert load_dotted(kind.cli_command).name == kind.cli_name


def _imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an ``import`` or ``from … import`` names, at any depth (functions included)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            yield from ((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)


def _is_in(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def test_no_module_outside_the_cli_package_imports_it() -> None:
    cli_dir = PACKAGE / "cli"
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if cli_dir not in path.parents
        for line, module in _imported_modules(path)
        if _is_in(module, "release_gates.cli")
    ]
    assert offenders == []


def test_check_engines_import_neither_the_cli_nor_airflow() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
        for path in sorted((PACKAGE / "checks").rglob("*.py"))
        for line, module in _imported_modules(path)
        if _is_in(module, "release_gates.cli") or _is_in(module, "airflow")
    ]
    assert offenders == []
