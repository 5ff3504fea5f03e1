"""Operator of ``kind: explainability``: what drives the pinned candidate's decisions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from release_gates.operators.base import BaseCheckOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from release_gates.kinds.explainability import ExplainabilityCheck
    from release_gates.policy import ReleasePolicy
    from release_gates.results import CheckResult


class ExplainabilityCheckOperator(BaseCheckOperator):
    """Permutation importance of the candidate's inputs, overall and per sensitive subgroup; FAILS on a
    sensitive attribute read (unless waived), a proxy of one among the top-k, or a ranking that stress
    reshuffles (``kind: explainability``). Needs the policy's ``candidate:``; unreadable data or
    model → ERROR, recorded and raised."""

    check_kind = "explainability"

    def run_check(
        self, spec: ExplainabilityCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.inputs.explainability import run_explainability_check

        self.log.info("Permutation importance of the candidate on %s (%d repeats)", spec.data, spec.n_repeats)
        return run_explainability_check(spec, self.dataset_catalog(policy, context), check_id=self.check_id)
