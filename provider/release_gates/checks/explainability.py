"""Explainability: which inputs drive the pinned candidate's decisions, overall and per subgroup — and
is one of them a sensitive attribute, a proxy of one, or a ranking that stress reshuffles?

Importance is scikit-learn's :func:`~sklearn.inspection.permutation_importance` (seeded, ``n_repeats``
permutations per input) with accuracy as the score: with ``importance_target: prediction`` (the
default) against the candidate's own decisions on the unpermuted rows, so an input's importance is
the share of decisions that change when it is shuffled — what the model relies on, whether that
makes it right or wrong; with ``label`` against the label (the usual drop in accuracy). Per input:
the mean over the repeats and a 95% t-interval of that mean (mean ± t(0.975, n − 1) · sd / √n, sd
with ddof 1), plus the repeats' min and max.

Per sensitive subgroup the same permutations are scored on the group's rows only (one scorer that
returns the overall and every group's accuracy from the same predictions, so the groups cost no
extra model calls and the overall figures are exactly scikit-learn's). Groups under
``min_group_size`` rows are left out of the result altogether (only their count is kept).

Verdict (worst wins; any exception is the operator's ERROR, never a PASS):

* a sensitive attribute read by the model — as an input, or through an input that only re-encodes it
  (:mod:`release_gates.checks.explainability_inputs`) — FAILS naming it, unless
  ``allow_sensitive_inputs`` waives it with a reason: then WARN, listing the waiver;
* an input among the top-k (positive importance) that predicts a sensitive attribute with ROC AUC ≥
  ``proxy_threshold`` FAILS, naming the input and the attribute;
* per stress scenario (the stress_safety scenarios, applied to the inputs), importance is computed
  again and Kendall's tau (``scipy.stats.kendalltau``, tau-b) compares the two rankings over the
  union of both top-k sets; below ``stability_floor`` FAILS or WARNS (``stability_failure``); a
  model that cannot score the stressed inputs FAILS that scenario; fewer than two ranked inputs make
  it INCONCLUSIVE.

Stability is judged on cheaper rankings than the reported importances: ``stability_repeats``
permutations (default 1) on a seeded sample of at most ``stability_max_rows`` of the evaluated rows
(default 10,000) — with the default noise scenario a second full pass would nearly double the check's
cost for an ordering, not a figure. The baseline ranking the scenarios are compared with is NOT the
reported one: it is computed again on the same sample with the same repeats and seed. Reusing the
full ranking would compare two estimates of unequal precision, so inputs whose importances differ by
less than the cheap run's sampling noise would swap places with no stress at all and lower tau — a
verdict on the estimator, not on the model. On the same rows with the same seed and repeats,
scikit-learn draws the identical permutations for both runs (one seed from ``random_state``, the same
shuffles per input), so the baseline and a scenario differ only by the stress (common random numbers:
the permutation noise cancels in the comparison, which is what makes one repeat enough). That costs
one more pass on the sample: at most ``stability_max_rows`` × (1 + inputs × ``stability_repeats``)
rows scored, once for all scenarios.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.checks.explainability_inputs import SensitiveRead, proxy_auc, sensitive_reads
from release_gates.datasets import describe_error
from release_gates.exceptions import ReleaseGatesError
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from release_gates.kinds.explainability import ExplainabilityCheck

Predict = Callable[["pd.DataFrame"], Any]
INTERVAL = "95% t-interval of the mean over the repeats: mean ± t(0.975, n_repeats - 1) · sd / √n_repeats"
SCORING = "accuracy"
OVERALL = "all"


class ExplainabilityInputError(ReleaseGatesError, ValueError):
    """The check cannot run on these inputs (missing column, no input column): an ERROR result."""


class FittedModel:
    """The candidate as scikit-learn's permutation importance takes it: ``predict`` over a frame.

    ``permutation_importance`` only checks that an estimator has ``fit``; the candidate is already
    fitted and is never refitted here.
    """

    def __init__(self, predict: Predict) -> None:
        self._predict = predict

    def fit(self, X: Any, y: Any = None) -> FittedModel:
        raise NotImplementedError("the candidate is pinned and already fitted; it is not refitted")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        import numpy as np

        predictions: np.ndarray = np.asarray(self._predict(X)).ravel()
        if len(predictions) != len(X):
            raise ExplainabilityInputError(f"the model returned {len(predictions)} outputs for {len(X)} rows")
        return predictions


def accuracy_scorer(groups: dict[str, np.ndarray]) -> Callable[[Any, Any, Any], dict[str, float]]:
    """A scorer returning the overall accuracy (scikit-learn's ``accuracy_score``, as its "accuracy"
    scorer computes it) and each group's, all from one call of the model."""
    import numpy as np
    from sklearn.metrics import accuracy_score

    def score(estimator: Any, X: Any, y: Any) -> dict[str, float]:
        predicted = estimator.predict(X)
        scores = {OVERALL: float(accuracy_score(y, predicted))}
        if groups:
            correct = np.asarray(predicted) == np.asarray(y)
            for key, mask in groups.items():
                scores[key] = float(correct[mask].mean())
        return scores

    return score


@dataclass(frozen=True)
class Importance:
    """Per input: the mean decrease in score over the repeats, its interval and the repeats' range."""

    names: tuple[str, ...]
    means: np.ndarray
    repeats: np.ndarray  # (inputs, n_repeats)
    baseline: float

    def ranking(self) -> list[str]:
        """Inputs by mean importance, highest first (ties by name)."""
        order = sorted(range(len(self.names)), key=lambda i: (-float(self.means[i]), self.names[i]))
        return [self.names[i] for i in order]

    def top(self, k: int) -> list[str]:
        """The k highest-ranked inputs with a positive mean (an input that changes nothing ranks nowhere)."""
        mean = dict(zip(self.names, self.means, strict=True))
        return [name for name in self.ranking() if mean[name] > 0][:k]

    def table(self) -> list[dict[str, Any]]:
        import numpy as np
        from scipy import stats  # type: ignore[import-untyped]  # (no stubs; numbers in, numbers out)

        n = self.repeats.shape[1]
        half = stats.t.ppf(0.975, n - 1) * np.std(self.repeats, axis=1, ddof=1) / np.sqrt(n)
        index = {name: i for i, name in enumerate(self.names)}
        rows = []
        for rank, name in enumerate(self.ranking(), start=1):
            i = index[name]
            mean = float(self.means[i])
            rows.append(
                {
                    "feature": name,
                    "rank": rank,
                    "mean": mean,
                    "ci_low": float(mean - half[i]),
                    "ci_high": float(mean + half[i]),
                    "min": float(self.repeats[i].min()),
                    "max": float(self.repeats[i].max()),
                }
            )
        return rows


def importances(
    model: FittedModel,
    inputs: pd.DataFrame,
    target: np.ndarray,
    spec: ExplainabilityCheck,
    groups: dict[str, np.ndarray] | None = None,
    *,
    n_repeats: int | None = None,
) -> dict[str, Importance]:
    """scikit-learn's permutation importance of every input, overall (``"all"``) and per group key
    (``n_repeats``: the spec's unless given)."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(
        model,
        inputs,
        target,
        scoring=accuracy_scorer(groups or {}),
        n_repeats=spec.n_repeats if n_repeats is None else n_repeats,
        random_state=spec.seed,
    )
    names = tuple(str(c) for c in inputs.columns)
    baseline = accuracy_scorer(groups or {})(model, inputs, target)
    return {
        key: Importance(names, bunch.importances_mean, bunch.importances, baseline[key])
        for key, bunch in result.items()
    }


def kendall_tau(base: Importance, stressed: Importance, k: int) -> tuple[float | None, list[str]]:
    """Kendall's tau-b of the two importance rankings over the union of both top-k sets (None: < 2)."""
    import math

    from scipy.stats import kendalltau  # type: ignore[import-untyped]

    union = list(dict.fromkeys([*base.top(k), *stressed.top(k)]))
    if len(union) < 2:
        return None, union
    a = dict(zip(base.names, base.means, strict=True))
    b = dict(zip(stressed.names, stressed.means, strict=True))
    tau = float(kendalltau([a[f] for f in union], [b[f] for f in union]).statistic)
    return (None if math.isnan(tau) else round(tau, 6)), union


# --------------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------------


def evaluate_explainability(
    frame: pd.DataFrame,
    predict: Predict,
    spec: ExplainabilityCheck,
    *,
    label: str | None = None,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    check_id: str = "explainability",
    inputs: dict[str, Any] | None = None,
) -> CheckResult:
    """Importance, sensitive inputs, proxies and stability of ``predict`` on ``frame`` (module doc).

    ``features``: the inputs the model declares (None: it receives every column but the label,
    ``exclude`` — prediction and score outputs — and is judged on what it reads).
    """
    from importlib.metadata import version

    started = utcnow()
    engine = {
        "release-gates": __version__,
        "scikit-learn": version("scikit-learn"),
        "scipy": version("scipy"),
    }
    rows, total = _rows(frame, spec, label, features)
    if rows.empty:
        return CheckResult(
            check_id=check_id,
            kind="explainability",
            status=Status.INCONCLUSIVE,
            summary="no rows to explain the model on",
            inputs=inputs or {},
            engine=engine,
            started_at=started,
            finished_at=utcnow(),
        )
    skip = {c for c in (label, *exclude) if c}
    columns = list(features) if features is not None else [c for c in rows.columns if c not in skip]
    if not columns:
        raise ExplainabilityInputError(f"dataset {spec.data!r} has no input column besides the label")
    X = rows[columns]
    model = FittedModel(predict)
    decisions = model.predict(X)
    labels = rows[label].to_numpy() if spec.importance_target == "label" else None
    target = decisions if labels is None else labels
    groups, group_facts, suppressed = _groups(rows, spec)
    measured = importances(model, X, target, spec, groups)
    base = measured[OVERALL]
    top = base.top(spec.top_k)
    sensitive = rows[spec.sensitive_features]
    reads = sensitive_reads(
        X, sensitive, declared=features is not None, predict=model.predict, baseline=decisions, seed=spec.seed
    )
    judged = Verdicts()
    judged.reads(reads, spec)
    proxies = _proxies(X, sensitive, reads, spec)
    judged.proxies(proxies, top, base, spec)
    stability, ranked_on = _stability(model, X, target, labels=labels, spec=spec, judged=judged)
    status = Status.worst([Status.PASS, *judged.statuses])
    metrics = {
        "rows": len(rows),
        "rows_total": total,
        "sampled": len(rows) < total,
        "seed": spec.seed,
        "n_repeats": spec.n_repeats,
        "target": spec.importance_target,
        "scoring": SCORING,
        "interval": INTERVAL,
        "baseline_score": base.baseline,
        "features": base.table(),
        "top_k": top,
        "groups": [_group_row(facts, measured[key], spec) for key, facts in group_facts.items()],
        "min_group_size": spec.min_group_size,
        "suppressed_groups": suppressed,
        "sensitive_inputs": judged.read_rows,
        "proxy_threshold": spec.proxy_threshold,
        "proxies": proxies,
        "stability_floor": spec.stability_floor,
        "stability_failure": spec.stability_failure,
        "stability_baseline": ranked_on,
        "stability": stability,
        "rule": "FAIL: a sensitive attribute read (unless waived: WARN), or a proxy (AUC ≥ threshold) in "
        "the top-k; stability below the floor: " + spec.stability_failure.upper(),
    }
    return CheckResult(
        check_id=check_id,
        kind="explainability",
        status=status,
        summary=judged.summary(status, top, spec),
        metrics=metrics,
        findings=judged.findings,
        inputs=inputs or {},
        engine=engine,
        started_at=started,
        finished_at=utcnow(),
    )


def _rows(
    frame: pd.DataFrame, spec: ExplainabilityCheck, label: str | None, features: Sequence[str] | None
) -> tuple[pd.DataFrame, int]:
    """The rows judged: those with a label when importance is against it, at most ``max_rows`` (seeded)."""
    needed = [*spec.sensitive_features, *(features or ())]
    if spec.importance_target == "label":
        if label is None:
            raise ExplainabilityInputError(
                f"importance_target: label, but dataset {spec.data!r} declares no label column"
            )
        needed.append(label)
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise ExplainabilityInputError(
            f"dataset {spec.data!r} lacks column(s) {', '.join(map(repr, missing))}"
        )
    rows = frame[frame[label].notna()] if spec.importance_target == "label" and label else frame
    total = len(rows)
    if total > spec.max_rows:
        rows = rows.sample(n=spec.max_rows, random_state=spec.seed)
    return rows, total


def _group_row(facts: dict[str, Any], measured: Importance, spec: ExplainabilityCheck) -> dict[str, Any]:
    return {
        **facts,
        "baseline_score": measured.baseline,
        "top_k": measured.top(spec.top_k),
        "features": measured.table(),
    }


def _groups(
    rows: pd.DataFrame, spec: ExplainabilityCheck
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]], dict[str, int]]:
    """Row masks of the subgroups with at least ``min_group_size`` rows; how many were left out."""
    masks: dict[str, np.ndarray] = {}
    facts: dict[str, dict[str, Any]] = {}
    suppressed: dict[str, int] = {}
    for i, attribute in enumerate(spec.sensitive_features):
        values = rows[attribute]
        suppressed[attribute] = 0
        for j, (level, n) in enumerate(sorted(values.value_counts().items(), key=lambda kv: str(kv[0]))):
            if n == 0:  # an unused category of a categorical column: no group at all
                continue
            if n < spec.min_group_size:
                suppressed[attribute] += 1
                continue
            key = f"g{i}.{j}"
            masks[key] = (values == level).to_numpy()
            facts[key] = {"attribute": attribute, "group": str(level), "n": int(n)}
    return masks, facts, suppressed


def _proxies(
    X: pd.DataFrame,
    sensitive: pd.DataFrame,
    reads: list[SensitiveRead],
    spec: ExplainabilityCheck,
) -> list[dict[str, Any]]:
    """AUC of every input that is neither a sensitive attribute nor a re-encoding of one, per attribute."""
    carriers = {r.input for r in reads} | set(spec.sensitive_features)
    table = []
    for column in X.columns:
        if column in carriers:
            continue
        for attribute in spec.sensitive_features:
            auc = proxy_auc(
                X[column], sensitive[attribute], min_group_size=spec.min_group_size, seed=spec.seed
            )
            table.append(
                {
                    "feature": str(column),
                    "attribute": attribute,
                    "auc": auc,
                    "proxy": auc is not None and auc >= spec.proxy_threshold,
                }
            )
    return table


def _stability(
    model: FittedModel,
    X: pd.DataFrame,
    target: np.ndarray,
    *,
    labels: np.ndarray | None,
    spec: ExplainabilityCheck,
    judged: Verdicts,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Every scenario's row, and what their rankings were computed on (None: no scenario).

    The sample is drawn here rather than through ``permutation_importance(max_samples=...)``: that
    scores its baseline on all rows and each repeat on a different subset, and the stressed rows would
    still all need the model's decisions; one fixed sample keeps the baseline and every scenario on
    the same rows with the same permutations (module doc).
    """
    import numpy as np

    if not spec.scenarios:
        return [], None
    positions = np.arange(len(X))
    if len(X) > spec.stability_max_rows:
        chosen = np.random.default_rng(spec.seed).choice(len(X), size=spec.stability_max_rows, replace=False)
        positions = np.sort(chosen)
    sample = X.iloc[positions]
    labels = None if labels is None else labels[positions]
    base = importances(model, sample, target[positions], spec, n_repeats=spec.stability_repeats)[OVERALL]
    rows = [
        _scenario(model, sample, base, labels=labels, spec=spec, index=i, judged=judged)
        for i in range(len(spec.scenarios))
    ]
    ranked_on = {
        "rows": len(sample),
        "sampled": len(sample) < len(X),
        "repeats": spec.stability_repeats,
        "top_k": base.top(spec.top_k),
    }
    return rows, ranked_on


def _scenario(
    model: FittedModel,
    X: pd.DataFrame,
    base: Importance,
    *,
    labels: np.ndarray | None,
    spec: ExplainabilityCheck,
    index: int,
    judged: Verdicts,
) -> dict[str, Any]:
    """Importance under one stress scenario and its Kendall's tau against the baseline ranking of the
    same rows (``X``: the stability sample) with the same repeats."""
    from release_gates.checks.stress_safety import apply_scenario

    scenario = spec.scenarios[index]
    row: dict[str, Any] = {"scenario": scenario.name, "kind": scenario.kind}
    if scenario.kind == "baseline":
        stressed = base
    else:
        perturbed = apply_scenario(X, scenario, seed=spec.seed + index)
        try:
            target = model.predict(perturbed) if labels is None else labels
            stressed = importances(model, perturbed, target, spec, n_repeats=spec.stability_repeats)[OVERALL]
        except Exception as exc:  # the model failing on stressed inputs is a finding, not a crash
            judged.crashed(scenario.name, describe_error(exc))
            return {**row, "tau": None, "status": Status.FAIL.value, "error": type(exc).__name__}
    tau, compared = kendall_tau(base, stressed, spec.top_k)
    status = judged.stability(scenario.name, tau, spec)
    return {
        **row,
        "tau": tau,
        "compared": compared,
        "top_k": stressed.top(spec.top_k),
        "status": status.value,
    }


class Verdicts:
    """The findings and statuses of the three rules, in the order they are judged."""

    def __init__(self) -> None:
        self.statuses: list[Status] = []
        self.findings: list[Finding] = []
        self.read_rows: list[dict[str, Any]] = []
        self.reasons: list[str] = []

    def _add(self, status: Status, finding: Finding, reason: str) -> None:
        self.statuses.append(status)
        self.findings.append(finding)
        if status is not Status.PASS:
            self.reasons.append(reason)

    def reads(self, reads: list[SensitiveRead], spec: ExplainabilityCheck) -> None:
        for attribute in spec.sensitive_features:
            mine = [r for r in reads if r.attribute == attribute]
            if not mine:
                continue
            waiver = spec.waiver_for(attribute)
            through = "through " + ", ".join(f"input {r.input!r} ({r.how})" for r in mine)
            self.read_rows.append(
                {
                    "attribute": attribute,
                    "inputs": [{"input": r.input, "how": r.how} for r in mine],
                    "waived": waiver is not None,
                    "reason": waiver.reason if waiver else None,
                }
            )
            if waiver is not None:
                reason = f"reads sensitive attribute {attribute!r} under waiver: {waiver.reason}"
                finding = Finding(
                    id=f"explainability.sensitive_input.{attribute}",
                    severity=Severity.LOW,
                    title=f"the model reads sensitive attribute {attribute!r} (waived)",
                    detail=f"Read {through}. Waiver: {waiver.reason}",
                    location=attribute,
                )
                self._add(Status.WARN, finding, reason)
                continue
            finding = Finding(
                id=f"explainability.sensitive_input.{attribute}",
                severity=spec.severity,
                title=f"the model reads sensitive attribute {attribute!r}",
                detail=f"Read {through}. Remove it, or waive it in allow_sensitive_inputs with a reason.",
                location=attribute,
            )
            self._add(Status.FAIL, finding, f"reads sensitive attribute {attribute!r} {through}")

    def proxies(
        self, proxies: list[dict[str, Any]], top: list[str], base: Importance, spec: ExplainabilityCheck
    ) -> None:
        ranks = {name: rank for rank, name in enumerate(base.ranking(), start=1)}
        for row in proxies:
            row["rank"] = ranks[row["feature"]]
            row["in_top_k"] = row["feature"] in top
            if not (row["proxy"] and row["in_top_k"]):
                continue
            feature, attribute = row["feature"], row["attribute"]
            what = (
                f"{feature!r} is a proxy of {attribute!r} (AUC {row['auc']:.3f} ≥ {spec.proxy_threshold:g}) "
                f"and ranks #{row['rank']} in importance"
            )
            finding = Finding(
                id=f"explainability.proxy.{feature}.{attribute}",
                severity=spec.severity,
                title=f"proxy of {attribute!r} among the top-{spec.top_k} inputs: {feature!r}",
                detail=what,
                location=f"{feature} / {attribute}",
                data={"auc": row["auc"], "rank": row["rank"]},
            )
            self._add(Status.FAIL, finding, what)

    def crashed(self, scenario: str, error: str) -> None:
        finding = Finding(
            id=f"explainability.stability.{scenario}.crash",
            severity=Severity.CRITICAL,
            title=f"the model failed to score under scenario {scenario!r}",
            detail=error,
            location=scenario,
        )
        self._add(Status.FAIL, finding, f"the model failed to score under {scenario!r}")

    def stability(self, scenario: str, tau: float | None, spec: ExplainabilityCheck) -> Status:
        if tau is None:
            finding = Finding(
                id=f"explainability.stability.{scenario}",
                severity=Severity.LOW,
                title=f"ranking stability under {scenario!r} is undecidable: fewer than two ranked inputs",
                location=scenario,
            )
            self._add(Status.INCONCLUSIVE, finding, f"stability under {scenario!r} undecidable")
            return Status.INCONCLUSIVE
        if tau >= spec.stability_floor:
            self.statuses.append(Status.PASS)
            return Status.PASS
        status = Status.FAIL if spec.stability_failure == "fail" else Status.WARN
        what = (
            f"top-{spec.top_k} ranking under {scenario!r}: Kendall's tau {tau:.3f} < floor "
            f"{spec.stability_floor:g}"
        )
        finding = Finding(
            id=f"explainability.stability.{scenario}",
            severity=spec.severity if status is Status.FAIL else Severity.LOW,
            title=what,
            location=scenario,
            data={"tau": tau},
        )
        self._add(status, finding, what)
        return status

    def summary(self, status: Status, top: list[str], spec: ExplainabilityCheck) -> str:
        if self.reasons:
            return "; ".join(self.reasons)
        shown = ", ".join(top) if top else "none (no input changes a decision)"
        scenarios = len(spec.scenarios)
        return f"top-{spec.top_k} inputs: {shown}; no sensitive input, no proxy among them" + (
            f", ranking stable under {scenarios} scenario(s)" if scenarios else ""
        )
