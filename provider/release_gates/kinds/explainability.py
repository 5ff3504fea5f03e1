"""``kind: explainability`` — what drives the pinned candidate's decisions, and whether it is a sensitive
attribute, a proxy of one, or unstable under stress."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from release_gates.kinds.declaration import CheckKind
from release_gates.kinds.fields import CheckSpecBase, PolicyModel
from release_gates.kinds.stress_safety import StressScenario


def _auc_threshold(value: float) -> float:
    # max(AUC, 1 - AUC) is at least 0.5 for any feature: a threshold at or below it flags everything.
    if not 0.5 < value <= 1:
        raise ValueError("must be above 0.5 and at most 1 (the AUC is taken as max(AUC, 1 - AUC))")
    return value


def _tau(value: float) -> float:
    if not -1 <= value <= 1:
        raise ValueError("must be between -1 and 1 (Kendall's tau)")
    return value


ProxyAuc = Annotated[float, AfterValidator(_auc_threshold)]
KendallTau = Annotated[float, AfterValidator(_tau)]


def _default_scenarios() -> list[StressScenario]:
    return [StressScenario(name="noise", kind="gaussian_noise", relative_std=0.1)]


class SensitiveInputWaiver(PolicyModel):
    """A sensitive attribute the model is allowed to read, and why (the check then WARNs, never PASSes)."""

    feature: str = Field(min_length=1, description="The sensitive feature (one of sensitive_features).")
    reason: str = Field(
        min_length=1,
        description="Why the model may read it (e.g. a legal requirement), quoted in the result.",
    )


class ExplainabilityCheck(CheckSpecBase):
    kind: Literal["explainability"] = Field(
        description="explainability: permutation importance of the candidate's inputs, overall and per "
        "subgroup; sensitive inputs, proxies in the top-k and ranking stability under stress."
    )
    data: str = Field(
        description="Evaluation dataset: the candidate's input columns and the sensitive features.",
        examples=["eval"],
    )
    label: str | None = Field(
        default=None,
        description="Label column (default: the dataset's label); never a model input; scored against "
        "with importance_target: label.",
    )
    sensitive_features: list[str] = Field(
        description="Columns that define the subgroups and that no input may stand in for.",
        examples=[["race"]],
        min_length=1,
    )
    importance_target: Literal["prediction", "label"] = Field(
        default="prediction",
        description="prediction: importance = share of the candidate's own decisions that change when a "
        "feature is permuted (what drives its decisions, right or wrong); label: drop in accuracy "
        "against the label.",
    )
    n_repeats: Annotated[int, Field(ge=2)] = Field(
        default=5, description="Permutations per feature (the interval needs at least 2)."
    )
    seed: int = Field(default=0, description="Seed of the permutations, the row sample and the scenarios.")
    top_k: Annotated[int, Field(ge=2)] = Field(
        default=5,
        description="The k most important inputs (positive importance only) that proxies are looked for "
        "in and whose ranking must stay stable.",
    )
    proxy_threshold: ProxyAuc = Field(
        default=0.75,
        description="An input whose values alone predict a sensitive attribute with ROC AUC (as "
        "max(AUC, 1 - AUC)) at or above this is a proxy of it.",
    )
    stability_floor: KendallTau = Field(
        default=0.6,
        description="Lowest allowed Kendall's tau between the top-k ranking under each scenario and the "
        "baseline ranking.",
    )
    stability_failure: Literal["fail", "warn"] = Field(
        default="fail", description="What a ranking below the stability floor does: fail or warn."
    )
    scenarios: list[StressScenario] = Field(
        default_factory=_default_scenarios,
        description="Stress scenarios the ranking must survive (as in stress_safety; default: gaussian "
        "noise of 0.1 std on every numeric input). An empty list judges no stability.",
    )
    stability_repeats: Annotated[int, Field(ge=1)] = Field(
        default=1,
        description="Permutations per feature for the stability rankings only (the baseline ranking "
        "they are compared with is recomputed the same way, on the same rows and permutations); the "
        "reported importances keep n_repeats.",
    )
    stability_max_rows: Annotated[int, Field(ge=100)] = Field(
        default=10_000,
        description="Rows the stability rankings are computed on at most: a seeded random sample of the "
        "evaluated rows, shared by the baseline and every scenario (the reported importances use all "
        "the evaluated rows).",
    )
    max_rows: Annotated[int, Field(ge=100)] = Field(
        default=50_000,
        description="Rows used at most: a seeded random sample of larger datasets (permutation "
        "importance scores every row n_repeats times per input).",
    )
    min_group_size: Annotated[int, Field(ge=1)] = Field(
        default=30, description="Subgroups with fewer rows get no importances and are not shown."
    )
    allow_sensitive_inputs: list[SensitiveInputWaiver] = Field(
        default_factory=list,
        description="Sensitive features the model may read, each with its reason (a read one WARNs "
        "listing the waiver instead of FAILing).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ExplainabilityCheck:
        repeated = sorted({f for f in self.sensitive_features if self.sensitive_features.count(f) > 1})
        if repeated:
            raise ValueError(f"sensitive_features lists {', '.join(map(repr, repeated))} more than once")
        unknown = [w.feature for w in self.allow_sensitive_inputs if w.feature not in self.sensitive_features]
        if unknown:
            raise ValueError(
                f"allow_sensitive_inputs names {', '.join(map(repr, unknown))}, not among sensitive_features"
            )
        names = [s.name for s in self.scenarios]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"scenario name(s) {', '.join(map(repr, twice))} used more than once")
        if self.label is not None and self.label in self.sensitive_features:
            raise ValueError(f"the label {self.label!r} cannot also be a sensitive feature")
        return self

    def dataset_refs(self) -> list[tuple[str, str]]:
        return [("data", self.data)]

    def required_columns(self) -> list[str]:
        return ["label"] if self.label is None and self.importance_target == "label" else []

    def waiver_for(self, feature: str) -> SensitiveInputWaiver | None:
        return next((w for w in self.allow_sensitive_inputs if w.feature == feature), None)


KIND = CheckKind(
    name="explainability",
    spec=ExplainabilityCheck,
    engine="release_gates.checks.explainability:evaluate_explainability",
    resolver="release_gates.inputs.explainability:resolve_explainability_inputs",
    operator="release_gates.operators.explainability:ExplainabilityCheckOperator",
    cli_command="release_gates.cli.checks.explainability:COMMAND",
    report_panel="release_gates.reports.explainability:explainability_panels",
)
