"""Operator for ``kind: data_minimization``: the candidate's declared inputs against their stated purposes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from release_gates.operators.base import BaseCheckOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.kinds.data_minimization import DataMinimizationCheck
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult


class DataMinimizationCheckOperator(BaseCheckOperator):
    """Every input the release's candidate declares has a stated purpose and none is sensitive.

    The candidate is the policy's ``candidate:`` rendered for this run (sha256 checked before it is
    loaded); the audited datasets are read in full, their unused columns listed (WARN). A model that
    declares no input names is INCONCLUSIVE; one that cannot be loaded is ERROR.
    """

    check_kind = "data_minimization"

    def run_check(
        self, spec: DataMinimizationCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.inputs.data_minimization import run_data_minimization_check

        catalog = self.dataset_catalog(policy, context)
        return run_data_minimization_check(spec, catalog, check_id=self.check_id, policy=policy)
