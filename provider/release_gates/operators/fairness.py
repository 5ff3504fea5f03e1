"""Operators for the ethics gate: subgroup fairness and error ceilings under stress."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
        from release_gates.checks.fairness import count_outcomes, evaluate_subgroup_fairness
        from release_gates.datasets import fingerprint, load_frame

        dataset = self.resolve_dataset(policy, spec.data)
        if dataset.label is None or dataset.prediction is None:
            raise ValueError(f"dataset {spec.data!r} declares no label/prediction column")
        base_dir = policy.base_dir if policy else None
        columns = [*spec.sensitive_features, dataset.label, dataset.prediction]
        frame = load_frame(spec.data, dataset, columns=columns, base_dir=base_dir)
        self.log.info(
            "Counting outcomes over %d rows of %s by %s", len(frame), spec.data, spec.sensitive_features
        )
        counts = count_outcomes(
            frame,
            label=dataset.label,
            prediction=dataset.prediction,
            sensitive=spec.sensitive_features,
            positive=dataset.positive_label,
            negative=dataset.negative_label,
        )
        inputs = {spec.data: {**fingerprint(spec.data, dataset, base_dir=base_dir), "rows": counts.rows}}
        return evaluate_subgroup_fairness(counts, spec, check_id=self.check_id, inputs=inputs)


class StressSafetyCheckOperator(BaseCheckOperator):
    """Error ceilings per sensitive subgroup under stress scenarios (``kind: stress_safety``)."""

    check_kind = "stress_safety"

    def run_check(
        self, spec: StressSafetyCheck, policy: ReleasePolicy | None, context: Context
    ) -> CheckResult:
        from release_gates.checks.stress_safety import evaluate_stress_safety, load_model
        from release_gates.datasets import fingerprint, load_frame

        dataset = self.resolve_dataset(policy, spec.data)
        if dataset.label is None:
            raise ValueError(f"dataset {spec.data!r} declares no label column")
        base_dir = policy.base_dir if policy else None
        predict, model_info = load_model(spec.model, base_dir=base_dir)
        frame = load_frame(spec.data, dataset, base_dir=base_dir)
        exclude = tuple(c for c in (dataset.prediction, dataset.score) if c)
        inputs: dict[str, Any] = {
            spec.data: {**fingerprint(spec.data, dataset, base_dir=base_dir), "rows": len(frame)},
            "model": model_info,
        }
        return evaluate_stress_safety(
            frame,
            predict,
            spec,
            label=dataset.label,
            positive=dataset.positive_label,
            negative=dataset.negative_label,
            exclude=exclude,
            check_id=self.check_id,
            inputs=inputs,
        )
