"""The package's shape: no import cycles, and every check kind complete and derived from one registry."""

from __future__ import annotations

import ast
import importlib
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest

import release_gates
from release_gates.kinds import CHECK_KINDS, KIND_NAMES, CheckSpec, load_dotted

PACKAGE_DIR = Path(release_gates.__file__).parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if "migrations" in parts:  # Alembic scripts, loaded by Alembic by path, never imported
            continue
        modules[".".join(parts)] = path
    return modules


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that executes: module level and inside functions, but not ``if TYPE_CHECKING:``
    blocks (type checkers read those; the interpreter never runs them, so they cannot cycle)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node


def import_graph() -> dict[str, set[str]]:
    """Module → the ``release_gates`` modules it imports, from the AST (function-level imports too).

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``. Importing
    a submodule from outside its package also runs the package's ``__init__``, so it counts as an
    edge to each enclosing package the importer is not itself inside.
    """
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _runtime_imports(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                assert node.level == 0, f"{name}: relative import"
                base = node.module or ""
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for imported in targets:
                if not imported.startswith("release_gates"):
                    continue
                target = imported
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                parts = target.split(".")
                for depth in range(2, len(parts)):
                    package = ".".join(parts[:depth])
                    if not (name == package or name.startswith(package + ".")):
                        graph[name].add(package)
                if target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles_among_release_gates_modules() -> None:
    graph = import_graph()
    assert len(graph) > 60, "the walk found too few modules to be the package"
    assert _cycles(graph) == []


def test_the_cycle_detector_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_engines_import_neither_airflow_nor_the_cli() -> None:
    offenders = []
    for name, path in _modules().items():
        if not name.startswith("release_gates.checks"):
            continue
        for node in _runtime_imports(ast.parse(path.read_text())):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            offenders += [
                f"{name} imports {t}"
                for t in targets
                if t.split(".")[0] == "airflow" or t.startswith("release_gates.cli")
            ]
    assert offenders == []


def test_only_the_cli_imports_the_cli() -> None:
    graph = import_graph()
    importers = sorted(
        name
        for name, targets in graph.items()
        if not name.startswith("release_gates.cli")
        and any(t.startswith("release_gates.cli") for t in targets)
    )
    assert importers == []


def test_no_module_is_over_700_lines() -> None:
    long = {name: n for name, path in _modules().items() if (n := len(path.read_text().splitlines())) > 700}
    assert long == {}


# -- the check-kind registry ---------------------------------------------------------------------------


def _union_members() -> set[type]:
    union = typing.get_args(CheckSpec)[0]
    return set(typing.get_args(union))


def test_every_kind_is_in_the_policy_union_and_nothing_else_is() -> None:
    assert {kind.spec for kind in CHECK_KINDS} == _union_members()
    assert len(set(KIND_NAMES)) == len(KIND_NAMES)
    for kind in CHECK_KINDS:
        assert typing.get_args(kind.spec.model_fields["kind"].annotation) == (kind.name,)


@pytest.mark.parametrize("kind", CHECK_KINDS, ids=lambda k: k.name)
def test_every_part_of_a_kind_exists(kind: typing.Any) -> None:
    engine = load_dotted(kind.engine)
    resolver = load_dotted(kind.resolver)
    operator = load_dotted(kind.operator)
    command = load_dotted(kind.cli_command)
    assert callable(engine) and callable(resolver)
    assert operator.check_kind == kind.name
    assert command.name == kind.cli_name
    if kind.report_panel is not None:
        assert callable(load_dotted(kind.report_panel))
    assert kind.engine.startswith("release_gates.checks.")
    assert kind.resolver.startswith(f"release_gates.inputs.{kind.name}:")


def test_provider_info_lists_every_kinds_operator_module() -> None:
    from release_gates.get_provider_info import get_provider_info

    (entry,) = get_provider_info()["operators"]
    for kind in CHECK_KINDS:
        assert kind.operator_module in entry["python-modules"]
        importlib.import_module(kind.operator_module)


def test_dag_factory_and_cli_are_derived_from_the_registry() -> None:
    from release_gates.cli.parser import build_parser
    from release_gates.dag_factory import _operator_class

    for kind in CHECK_KINDS:
        assert _operator_class(kind.name) is load_dotted(kind.operator)
    parser = build_parser()
    check = next(
        action.choices["check"]
        for action in parser._subparsers._group_actions  # type: ignore[union-attr]
        if "check" in getattr(action, "choices", {})
    )
    kinds_action = check._subparsers._group_actions[0]  # type: ignore[union-attr]
    assert set(kinds_action.choices) == {kind.cli_name for kind in CHECK_KINDS}


def test_load_dotted_names_a_bad_path() -> None:
    with pytest.raises(ValueError, match="module:attribute"):
        load_dotted("release_gates.kinds")


def test_no_two_test_modules_share_a_file_name() -> None:
    """pytest imports test modules by file name (no packages under tests/): two of the same name stop
    the whole run at collection on a clean checkout."""
    tests = Path(__file__).resolve().parents[1]
    names: dict[str, list[str]] = {}
    for path in tests.rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(tests)))
    assert {name: where for name, where in names.items() if len(where) > 1} == {}
