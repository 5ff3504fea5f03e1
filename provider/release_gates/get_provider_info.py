"""Provider registry read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from release_gates import __version__

# Read by Airflow from here (no hook import needed) and by EvidenceStoreHook.get_ui_field_behaviour.
EVIDENCE_CONN_FIELDS: dict[str, Any] = {
    "hidden-fields": [],
    "relabeling": {"schema": "Database (SQLite: file path)", "host": "Host (empty for SQLite)"},
    "placeholders": {
        "extra": '{"url": "postgresql+psycopg2://user:pass@host:5432/evidence"}',
        "schema": "release_gates_evidence",
    },
}


#: Operator modules besides those of the check kinds: release steps, human steps, monitoring.
RELEASE_OPERATOR_MODULES = (
    "release_gates.operators.base",
    "release_gates.operators.release",
    "release_gates.operators.hitl",
    "release_gates.operators.monitoring",
)


def operator_modules() -> list[str]:
    """Every operator module: the release steps' and, from the check-kind registry, each kind's."""
    from release_gates.kinds import CHECK_KINDS

    modules = list(RELEASE_OPERATOR_MODULES)
    for kind in CHECK_KINDS:
        if kind.operator_module not in modules:
            modules.append(kind.operator_module)
    return modules


def get_provider_info() -> dict[str, Any]:
    return {
        # Must equal the distribution name exactly: Airflow rejects the provider otherwise.
        "package-name": "airflow-provider-release-gates",
        "name": "Release Gates",
        "description": "Policy-driven release gates for ML models: data lineage, drift, subgroup fairness, "
        "image scans, rollback drills, human sign-off and a hash-chained evidence trail.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Release Gates",
                "external-doc-url": "https://airflow.apache.org/docs/apache-airflow-providers/",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Release Gates",
                "python-modules": [
                    "release_gates.hooks.evidence",
                    "release_gates.hooks.trivy",
                    "release_gates.hooks.aws",
                    "release_gates.hooks.mlflow",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": "Release Gates",
                "python-modules": operator_modules(),
            }
        ],
        # The UI plugin is registered through the `airflow.plugins` entry point (pyproject.toml), which
        # Airflow reads whatever its provider discovery mode; listing it here too would load it twice.
        "extra-links": ["release_gates.ui.links.ReleaseReportLink"],
        "connection-types": [
            {
                "connection-type": "release_gates_evidence",
                "hook-class-name": "release_gates.hooks.evidence.EvidenceStoreHook",
                "hook-name": "Release Gates evidence store",
                "ui-field-behaviour": EVIDENCE_CONN_FIELDS,
            },
            {
                "connection-type": "release_gates_trivy",
                "hook-class-name": "release_gates.hooks.trivy.TrivyHook",
                "hook-name": "Trivy (Release Gates)",
            },
        ],
    }
