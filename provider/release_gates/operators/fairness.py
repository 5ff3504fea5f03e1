"""Operators for the ethics gate: subgroup fairness and error ceilings under stress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from release_gates.operators.base import BaseCheckOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.policy import FairnessCheck, ReleasePolicy, StressSafetyCheck
    from release_gates.results import CheckResult


class SubgroupFairnessCheckOperator(BaseCheckOperator):
    """Subgroup fairness with confidence intervals (``kind: fairness``).

    Reads only the sensitive, label and prediction columns of the dataset; a SQL dataset is counted
    in the database with one ``GROUP BY``. Result: FAIL/INCONCLUSIVE are data for the gate; ERROR
    (unreadable data, non-binary labels) raises after it is recorded.
    """

    check_kind = "fairness"

    def run_check(self, spec: FairnessCheck, policy: ReleasePolicy | None, context: Context) -> CheckResult:
        from release_gates.inputs.fairness import run_fairness_check

        self.log.info("Counting outcomes of %s by %s", spec.data, spec.sensitive_features)
        return run_fairness_check(spec, self.dataset_catalog(policy, context), check_id=self.check_id)


class StressSafetyCheckOperator(BaseCheckOperator):
    """Error ceilings per sensitive subgroup under stress scenarios (``kind: stress_safety``)."""

    check_kind = "stress_safety"

    def run_check(
        self, spec: StressSafetyCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.inputs.stress_safety import run_stress_safety_check

        return run_stress_safety_check(spec, self.dataset_catalog(policy, context), check_id=self.check_id)
