"""Data gate operators: dataset lineage (Great Expectations) and drift (Evidently).

Both resolve the datasets of their check (from the policy, with ``{{ … }}`` values rendered, or from
the ``datasets`` argument), hand data to the engine and leave the verdict to the gate downstream. The
datasets are declared as ``inlets`` (:class:`airflow.sdk.Asset`) so the Airflow UI and OpenLineage
show where the release's data came from: pass ``datasets`` (or build the operator with
:meth:`DatasetLineageCheckOperator.from_policy`, which reads an already loaded policy; constructors
never read files).

Relative dataset and suite paths resolve against ``base_dir`` (templated); by default against the
policy file's directory (the policy's convention) or, without a policy, the working directory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from airflow.sdk import Asset

from release_gates.operators.base import BaseCheckOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.policy import DriftCheck, LineageCheck, ReleasePolicy
    from release_gates.results import CheckResult


def dataset_assets(datasets: Mapping[str, Any], names: Iterable[str] | None = None) -> list[Asset]:
    """Airflow assets for the named datasets (all when ``names`` is None); templated URIs are skipped.

    ``datasets`` maps names to :class:`Dataset` models or plain mappings with at least ``uri``.
    """
    assets = []
    for name in dict.fromkeys(names if names is not None else datasets):
        declared = datasets.get(name)
        if declared is None:
            continue
        fields = declared if isinstance(declared, Mapping) else declared.model_dump(exclude_none=True)
        uri = str(fields.get("uri", ""))
        if not uri or "{{" in uri:
            continue
        extra = {k: str(fields[k]) for k in ("owner", "description", "legal_basis") if fields.get(k)}
        assets.append(Asset(uri=uri, extra={"release_gates_dataset": name, **extra}))
    return assets


class _DataCheckOperator(BaseCheckOperator):
    """Shared dataset resolution for the data gate operators."""

    template_fields: Sequence[str] = (*BaseCheckOperator.template_fields, "base_dir")

    def __init__(self, *, base_dir: str | None = None, **kwargs: Any) -> None:
        datasets = kwargs.get("datasets")
        if datasets is not None and "inlets" not in kwargs:
            kwargs["inlets"] = dataset_assets(datasets, _spec_dataset_names(kwargs.get("spec")))
        super().__init__(**kwargs)
        self.base_dir = base_dir

    @classmethod
    def from_policy(cls, policy: ReleasePolicy, *, check_id: str, **kwargs: Any) -> Self:
        """An operator for ``check_id`` of a loaded policy, with the check's datasets as inlets."""
        for _, check, policy_check_id in policy.iter_checks():
            if policy_check_id == check_id:
                names = [name for _, name in check.dataset_refs()]
                kwargs.setdefault("inlets", dataset_assets(policy.datasets, names))
                return cls(check_id=check_id, policy_path=policy.source, **kwargs)
        raise KeyError(f"no check {check_id!r} in {policy.source}")

    def resolved_base_dir(self, policy: ReleasePolicy | None) -> Path | None:
        """``base_dir`` if given; else the policy file's directory (the policy's convention)."""
        if self.base_dir:
            return Path(self.base_dir)
        return policy.base_dir if policy is not None else None


def _spec_dataset_names(spec: Mapping[str, Any] | None) -> list[str] | None:
    if not spec:
        return None
    names = [*spec.get("datasets", []), *spec.get("suites", {})]
    names += [spec[k] for k in ("reference", "current") if isinstance(spec.get(k), str)]
    return names or None


class DatasetLineageCheckOperator(_DataCheckOperator):
    """Lineage of the release's data: documented sources, pinned versions, GX expectations, labels.

    With ``spec``, ``datasets`` (name → ``uri``, ``sha256``, ``owner``, ``description``, ``legal_basis``,
    ``label``, ``label_values`` …) declares the datasets and becomes the task's inlets.

    :param base_dir: directory relative dataset and suite paths resolve against (templated).
    """

    check_kind: ClassVar[str] = "lineage"
    ui_color = "#e6f4ea"

    def run_check(self, spec: LineageCheck, policy: ReleasePolicy | None, context: Context) -> CheckResult:
        from release_gates.inputs.lineage import run_lineage_check

        catalog = self.dataset_catalog(policy, context, base_dir=self.resolved_base_dir(policy))
        return run_lineage_check(spec, catalog, check_id=self.check_id, policy=policy)


class DataDriftCheckOperator(_DataCheckOperator):
    """Data and prediction drift of the current dataset against the reference (Evidently).

    :param base_dir: directory relative dataset paths resolve against (templated).
    :param artifact_dir: where the HTML report is written (templated; default
        ``$AIRFLOW_HOME/release_gates/artifacts/<release_id>``). XCom carries only its URI.
    :param report_rows: rows per side the HTML report is rendered from.
    :param html_report: write Evidently's HTML report (False: the verdict only; on large data the
        check then never imports Evidently unless a column needs a small-sample p-value test).
    """

    check_kind: ClassVar[str] = "drift"
    template_fields: Sequence[str] = (*_DataCheckOperator.template_fields, "artifact_dir")
    ui_color = "#fef7e0"

    def __init__(
        self,
        *,
        artifact_dir: str | None = None,
        report_rows: int = 5000,
        html_report: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if report_rows < 1:
            raise ValueError(f"{self.task_id}: report_rows must be at least 1")
        self.artifact_dir = artifact_dir
        self.report_rows = report_rows
        self.html_report = html_report

    def run_check(self, spec: DriftCheck, policy: ReleasePolicy | None, context: Context) -> CheckResult:
        from release_gates.inputs.drift import run_drift_check

        return run_drift_check(
            spec,
            self.dataset_catalog(policy, context, base_dir=self.resolved_base_dir(policy)),
            check_id=self.check_id,
            artifact_dir=self._artifact_dir() if self.html_report else None,
            report_rows=self.report_rows,
        )

    def _artifact_dir(self) -> Path:
        from release_gates.artifacts import artifact_dir

        return Path(self.artifact_dir) if self.artifact_dir else artifact_dir(self.release_id)
