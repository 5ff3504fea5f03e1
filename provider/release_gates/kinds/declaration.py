"""How a check kind is declared (see :mod:`release_gates.kinds` for the registry).

A kind bundles its policy spec model, its engine, its input resolver, its operator, its
``release-gates check`` command, its report panel and (through the operator's module) its
provider-info entry. The policy's ``CheckSpec`` union, the DAG factory's operator lookup, the CLI's
command table and ``get_provider_info`` all read :data:`CHECK_KINDS`; a test walks it and proves
every part exists.

Parts above the policy layer are named as ``"module:attribute"`` strings and imported only when
used, so reading the registry (at DAG parse, at provider discovery) imports no operator, engine
or CLI code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


def load_dotted(path: str) -> Any:
    """``"package.module:attribute"`` → the attribute (imports the module)."""
    module, _, attribute = path.partition(":")
    if not attribute:
        raise ValueError(f"{path!r} is not of the form 'module:attribute'")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class CheckKind:
    """One kind of check, declared once (see the module docstring)."""

    #: The policy's ``kind:`` value, e.g. ``"stress_safety"``.
    name: str
    #: The pydantic model of the kind's policy spec.
    spec: type[Any]
    #: The pure engine: inputs + spec → ``CheckResult`` (``checks/``; no Airflow).
    engine: str
    #: The input resolver shared by the operator, the CLI and monitoring (``inputs/``).
    resolver: str
    #: The Airflow operator class (``operators/``).
    operator: str
    #: The ``release-gates check <cli_name>`` command (``cli/checks/``).
    cli_command: str
    #: Report panels built from the kind's results (``reports/``), or None when it has none.
    report_panel: str | None = None

    @property
    def cli_name(self) -> str:
        return self.name.replace("_", "-")

    @property
    def operator_module(self) -> str:
        return self.operator.partition(":")[0]
