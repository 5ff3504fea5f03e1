"""Canary judge: canary against baseline on the same interval, Kayenta style → :class:`CheckResult`.

Per metric (one sample = one CloudWatch period's value on each side):

* **too few samples** — fewer than the metric's ``min_samples`` finite values on either side: the
  metric is INCONCLUSIVE and the step can never PASS (a thin canary is not a healthy one);
* **test** — Mann–Whitney U (``scipy.stats.mannwhitneyu``) at ``confidence``: one-sided in the bad
  direction (``increase``: canary greater; ``decrease``: canary smaller), two-sided for ``either``;
* **effect** — the Hodges–Lehmann shift, the median of all ``canary_i − baseline_j``
  (:func:`hodges_lehmann`), against the tolerance band (``relative``: ``tolerance × |baseline
  median|``; ``absolute``: in metric units). A metric FAILS only when the change is significant
  *and* the shift is beyond the band in the bad direction — a statistically detectable but harmless
  shift passes, as does a large but unproven one.

The step: a failed ``critical`` metric FAILS it; otherwise the score is ``100 × passing weight /
measured weight`` and ``≥ thresholds.pass_score`` is *pass*, ``≥ thresholds.marginal_score`` *marginal*, below
*fail*. Marginal and any unmeasured metric (too few samples, no data) make the step INCONCLUSIVE: a
human decides. Model-metric results (prediction drift, subgroup selection rates) join as metrics of
their own: FAIL of a critical one fails the step, anything not passing keeps it from PASS.

This module imports no Airflow; numpy and scipy load inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from release_gates import __version__
from release_gates.results import CheckResult, Finding, Severity, Status, utcnow

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

    from release_gates.policy.canary import CanaryMetric, CanaryThresholds

KIND = "canary"

#: At most this many pairwise differences are ever held in memory (8 MB of float64).
ENUMERATE_LIMIT = 1 << 20
#: Pairs sampled per narrowing round of the selection (see :func:`hodges_lehmann`).
_SAMPLE = 8192
#: Standard errors of the sample quantile between a pivot and the target rank (a pivot on the wrong
#: side costs a round, never a wrong answer).
_MARGIN_Z = 3.0
#: Pairs sampled in the first round, from the whole matrix (cheaper per pair: no bracket to map).
_FIRST_SAMPLE = 8192
_MAX_ROUNDS = 200
#: Up to this many pairs the differences are simply materialised.
_SMALL = 4096
#: Enumerate the bracket once it holds at most this many differences per value of both sides.
_ENUMERATE_PER_VALUE = 4


# --------------------------------------------------------------------------------------------------
# Hodges–Lehmann: the median of n·m pairwise differences without materialising them
# --------------------------------------------------------------------------------------------------


def _suffix_starts(
    x: NDArray[np.float64], y: NDArray[np.float64], t: float, *, strict: bool = False
) -> NDArray[np.intp]:
    """Per row ``i`` the first ``j`` with ``x[i] − y[j] ≤ t`` (``< t`` when ``strict``). ``y``
    ascends, so row ``i``'s differences descend in ``j`` and those below the bound are a suffix.

    ``searchsorted(y, x − t)`` finds it up to the rounding of ``x − t``; the boundary is then moved
    until it agrees with the differences as computed (``fl(x[i] − y[j])``, monotone in ``j``), so the
    count is exact for the float differences themselves. A move skips a whole run of equal ``y``
    (equal differences), so ties cost one step, not one per tie.
    """
    import numpy as np

    m = y.shape[0]
    side: Any = "right" if strict else "left"
    starts: NDArray[np.intp] = np.searchsorted(y, x - t, side=side)

    def below(d: NDArray[np.float64]) -> NDArray[np.bool_]:
        inside: NDArray[np.bool_] = d < t if strict else d <= t
        return inside

    for _ in range(2 * m + 2):
        # The boundary is right when the difference just left of it is above the bound and the one
        # at it is not; rounding of x − t rarely moves it, and then by one run of equal y.
        prev, here = np.maximum(starts - 1, 0), np.minimum(starts, m - 1)
        left = (starts > 0) & below(x - y[prev])
        right = (starts < m) & ~below(x - y[here])
        if not (left.any() or right.any()):
            break
        starts[left] = np.searchsorted(y, y[prev[left]], side="left")
        starts[right] = np.searchsorted(y, y[here[right]], side="right")
    return starts


def hodges_lehmann(canary: ArrayLike, baseline: ArrayLike) -> float:
    """The Hodges–Lehmann shift: the median of all ``canary_i − baseline_j``, exactly.

    Exactness: the result equals ``numpy.median`` of the materialised pairwise differences (each
    computed as the float ``canary_i − baseline_j``; for an even count the mean of the two middle
    ones) — bit for bit, not an approximation. 10,000 × 10,000 values are 10^8 pairs (800 MB);
    this never holds more than :data:`ENUMERATE_LIMIT` of them: O(n + m) memory, and
    O((n + m) log(n + m)) time per round, two or three rounds at that size.

    How (a sampling selection in the spirit of Monahan's 1984 algorithm and Floyd–Rivest): both
    sides are sorted, so the pairwise differences form an implicit matrix whose rows descend; the
    number of differences ≤ t is one vectorised ``searchsorted`` (:func:`_suffix_starts`). A bracket
    ``(lo, hi]`` known to hold the middle order statistic(s) is narrowed by sampling pairs uniformly
    from inside it and counting at the sample quantiles around the target rank; once it holds few
    enough differences they are enumerated and the answer is read by ``numpy.partition``. Runs of
    equal differences (ties, integer counts) are settled by a strict count at the pivot. No
    library ships this (scipy has no Hodges–Lehmann; statsmodels' and R's implementations
    materialise all pairs), hence the hand-written selection.
    """
    import numpy as np

    x = np.sort(np.asarray(canary, dtype=np.float64).ravel())
    y = np.sort(np.asarray(baseline, dtype=np.float64).ravel())
    if x.shape[0] == 0 or y.shape[0] == 0:
        raise ValueError("Hodges–Lehmann needs at least one value on each side")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("Hodges–Lehmann needs finite values (drop NaN and infinities first)")
    return hodges_lehmann_sorted(x, y)


def hodges_lehmann_sorted(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """:func:`hodges_lehmann` of two ascending, finite float64 arrays (not checked)."""
    import numpy as np

    n, m = x.shape[0], y.shape[0]
    total = n * m
    k_lo, k_hi = (total - 1) // 2, total // 2
    if total <= _ENUMERATE_PER_VALUE * (n + m) or total <= _SMALL:
        picked = np.partition((x[:, None] - y[None, :]).ravel(), (k_lo, k_hi))
        return float((picked[k_lo] + picked[k_hi]) / 2)
    return _select_median(x, y, k_lo, k_hi)


def _select_median(  # noqa: C901, PLR0915 - one selection loop; its cases are explained inline
    x: NDArray[np.float64], y: NDArray[np.float64], k_lo: int, k_hi: int
) -> float:
    """Order statistics ``k_lo`` and ``k_hi`` (``k_hi − k_lo ≤ 1``) of ``x[i] − y[j]``, averaged."""
    import numpy as np

    n, m = x.shape[0], y.shape[0]
    rng = np.random.default_rng(0x5EED)  # a fixed seed: the same inputs take the same path
    # The bracket (lo, hi] as per-row suffix starts: row i's differences in it are j ∈ [hi_j, lo_j).
    lo_j = np.full(n, m, dtype=np.intp)  # lo = −∞: nothing ≤ it
    hi_j = np.zeros(n, dtype=np.intp)  # hi = +∞: everything ≤ it
    c_lo, c_hi = 0, n * m  # counts of differences ≤ lo and ≤ hi: c_lo ≤ k_lo ≤ k_hi < c_hi
    enumerate_at = min(ENUMERATE_LIMIT, _ENUMERATE_PER_VALUE * (n + m))

    def count(starts: NDArray[np.intp]) -> int:
        return int(m * n - starts.sum())

    # The bracket's values, once known: inside a narrow bracket the differences' counts grow almost
    # linearly, so the pivots of the next round can be interpolated instead of sampled (no sample to
    # draw and partition). An interpolated pivot is not a difference itself, so it only ever narrows
    # the bracket; a round in which it does not is followed by sampling again.
    t_lo: float | None = None
    t_hi: float | None = None
    interpolate = 2

    for _ in range(_MAX_ROUNDS):
        width = c_hi - c_lo
        widths = lo_j - hi_j
        if width <= enumerate_at:
            rows = np.repeat(np.arange(n), widths)
            offsets = np.cumsum(widths) - widths
            cols = hi_j[rows] + (np.arange(width) - offsets[rows])
            picked = np.partition(x[rows] - y[cols], (k_lo - c_lo, k_hi - c_lo))
            return float((picked[k_lo - c_lo] + picked[k_hi - c_lo]) / 2)
        if interpolate and t_lo is not None and t_hi is not None and t_lo < t_hi:
            interpolate -= 1
            pad = enumerate_at // 8
            narrowed = False
            for target in (k_lo - pad, k_hi + 1 + pad):
                pivot = t_lo + (t_hi - t_lo) * (min(max(target, c_lo), c_hi) - c_lo) / width
                if not t_lo < pivot < t_hi:
                    continue
                starts = _suffix_starts(x, y, pivot)
                c = count(starts)
                if c_lo < c <= k_lo:
                    lo_j, c_lo, t_lo, narrowed = starts, c, pivot, True
                elif k_hi < c < c_hi:
                    hi_j, c_hi, t_hi, narrowed = starts, c, pivot, True
            if narrowed:
                continue
        # Sample pairs uniformly from the bracket; count at sample quantiles around the target ranks.
        if c_lo == 0 and c_hi == n * m:  # the whole matrix: sampling is two draws of indices
            size = _FIRST_SAMPLE
            rows, cols = rng.integers(0, n, size=size), rng.integers(0, m, size=size)
        else:
            size = _SAMPLE
            cum = np.cumsum(widths)
            positions = np.sort(rng.integers(0, width, size=size))  # sorted: a fast searchsorted
            rows = np.searchsorted(cum, positions, side="right")
            cols = hi_j[rows] + (positions - (cum[rows] - widths[rows]))
        r_lo, r_hi = (k_lo - c_lo) / width, (k_hi - c_lo + 1) / width
        margin = _MARGIN_Z * math.sqrt(0.25 / size) + 2 / size
        ranks = [r for r in (math.floor((r_lo - margin) * size), math.ceil((r_hi + margin) * size))
                 if 0 <= r < size] or [size // 2]  # fmt: skip
        sample = np.partition(x[rows] - y[cols], ranks)
        for pivot in (float(sample[r]) for r in ranks):
            starts = _suffix_starts(x, y, pivot)
            c = count(starts)
            if c <= k_lo:
                if c > c_lo:
                    lo_j, c_lo, t_lo = starts, c, pivot
            elif c > k_hi:
                if c < c_hi:
                    hi_j, c_hi, t_hi = starts, c, pivot
                    continue
                # No progress: hi sits on a run of equal differences. Either the run holds both
                # ranks (the answer), or the bracket can end just below it.
                strict = _suffix_starts(x, y, pivot, strict=True)
                c_strict = count(strict)
                if c_strict <= k_lo:
                    return pivot
                hi_j, c_hi, t_hi = strict, c_strict, pivot
            else:
                # c == k_hi == k_lo + 1: the pivot (an actual difference) is rank k_lo, and rank
                # k_hi is the smallest difference above it: per row, the one just left of the suffix.
                has = starts > 0
                following = float(np.min(x[has] - y[starts[has] - 1]))
                return float((pivot + following) / 2)
    raise RuntimeError("Hodges–Lehmann selection did not converge")  # pragma: no cover - bounded above


# --------------------------------------------------------------------------------------------------
# One metric
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricJudgement:
    """One metric's verdict: pass / high / low / inconclusive, with the numbers behind it."""

    name: str
    outcome: str  # "pass" | "high" | "low" | "inconclusive"
    reason: str
    critical: bool
    weight: float
    direction: str
    canary_samples: int
    baseline_samples: int
    canary_median: float | None = None
    baseline_median: float | None = None
    shift: float | None = None
    allowed_shift: float | None = None
    p_value: float | None = None
    source: str = "cloudwatch"

    @property
    def measured(self) -> bool:
        return self.outcome != "inconclusive"

    @property
    def failed(self) -> bool:
        return self.outcome in ("high", "low")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("canary_median", "baseline_median", "shift", "allowed_shift", "p_value"):
            value = data[key]
            data[key] = None if value is None or not math.isfinite(value) else round(float(value), 12)
        return data


def judge_metric(
    metric: CanaryMetric, canary: ArrayLike, baseline: ArrayLike, *, confidence: float
) -> MetricJudgement:
    """Judge one metric (see the module docstring)."""
    import numpy as np

    mannwhitneyu = _mann_whitney()

    c = np.asarray(canary, dtype=np.float64).ravel()
    b = np.asarray(baseline, dtype=np.float64).ravel()
    # Sorted once: the medians, the Hodges–Lehmann selection and the U test's ranking (a merge of
    # two sorted runs) all use it; U does not depend on the order of the values.
    c, b = np.sort(c[np.isfinite(c)]), np.sort(b[np.isfinite(b)])
    common: dict[str, Any] = {
        "name": metric.name,
        "critical": metric.critical,
        "weight": metric.weight,
        "direction": metric.direction,
        "canary_samples": int(c.size),
        "baseline_samples": int(b.size),
    }
    if c.size < metric.min_samples or b.size < metric.min_samples:
        return MetricJudgement(
            outcome="inconclusive",
            reason=f"too few samples: canary {c.size}, baseline {b.size} (needs {metric.min_samples} each)",
            **common,
        )
    c_med, b_med = _sorted_median(c), _sorted_median(b)
    shift = hodges_lehmann_sorted(c, b)
    allowed = metric.tolerance * abs(b_med) if metric.tolerance_type == "relative" else metric.tolerance
    alternative = {"increase": "greater", "decrease": "less", "either": "two-sided"}[metric.direction]
    p_value = float(mannwhitneyu(c, b, alternative=alternative).pvalue)
    significant = p_value < 1 - confidence
    if metric.direction == "increase":
        outcome = "high" if significant and shift > allowed else "pass"
    elif metric.direction == "decrease":
        outcome = "low" if significant and shift < -allowed else "pass"
    elif significant and abs(shift) > allowed:
        outcome = "high" if shift > 0 else "low"
    else:
        outcome = "pass"
    if outcome == "pass":
        reason = (
            f"shift {shift:+.6g} within ±{allowed:.6g}"
            if abs(shift) <= allowed
            else f"shift {shift:+.6g} not significant (p={p_value:.3g})"
            if not significant
            else f"shift {shift:+.6g} is in the harmless direction"
        )
    else:
        word = "higher" if outcome == "high" else "lower"
        reason = f"canary {word} by {shift:+.6g} (band ±{allowed:.6g}, p={p_value:.3g})"
    return MetricJudgement(
        outcome=outcome,
        reason=reason,
        canary_median=c_med,
        baseline_median=b_med,
        shift=shift,
        allowed_shift=allowed,
        p_value=p_value,
        **common,
    )


# --------------------------------------------------------------------------------------------------
# The step
# --------------------------------------------------------------------------------------------------


def _sorted_median(values: NDArray[np.float64]) -> float:
    size = values.shape[0]
    return float((values[(size - 1) // 2] + values[size // 2]) / 2)


def _model_judgement(result: CheckResult, critical: bool) -> MetricJudgement:
    """A model-metric result (drift, selection rates) as one judged metric of the step."""
    outcome = {Status.PASS: "pass", Status.WARN: "pass", Status.FAIL: "high"}.get(
        result.status, "inconclusive"
    )
    return MetricJudgement(
        name=result.check_id.rsplit(".", 1)[-1],
        outcome=outcome,
        reason=f"{result.status.value}: {result.summary}",
        critical=critical,
        weight=1.0,
        direction="either",
        canary_samples=int(result.metrics.get("canary_rows") or 0),
        baseline_samples=int(result.metrics.get("baseline_rows") or 0),
        source=result.kind,
    )


def judge_canary(
    samples: Mapping[str, tuple[ArrayLike, ArrayLike]],
    metrics: Sequence[CanaryMetric],
    *,
    confidence: float,
    thresholds: CanaryThresholds,
    check_id: str = "canary",
    model_results: Sequence[CheckResult] = (),
    model_critical: bool = True,
    step: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    started_at: datetime | None = None,
) -> CheckResult:
    """Judge one canary step: ``samples`` maps a metric name to ``(canary, baseline)`` values.

    A metric of ``metrics`` without samples is unmeasured (INCONCLUSIVE, never PASS); ``errors``
    names metrics whose data could not be read (the step is then ERROR: it rolls back).
    """
    started = started_at or utcnow()
    errors = dict(errors or {})
    judged: list[MetricJudgement] = []
    for metric in metrics:
        if metric.name in errors:
            continue
        canary, baseline = samples.get(metric.name, ((), ()))
        judged.append(judge_metric(metric, canary, baseline, confidence=confidence))
    judged += [_model_judgement(r, model_critical) for r in model_results]
    measured = [j for j in judged if j.measured]
    weight = sum(j.weight for j in measured)
    score = 100.0 * sum(j.weight for j in measured if not j.failed) / weight if weight else None
    critical_failed = [j.name for j in judged if j.failed and j.critical]
    unmeasured = [j.name for j in judged if not j.measured]
    model_errors = [r.check_id for r in model_results if r.status == Status.ERROR]
    if errors or model_errors:
        status, classification = Status.ERROR, "error"
    elif critical_failed:
        status, classification = Status.FAIL, "fail"
    elif score is None:
        status, classification = Status.INCONCLUSIVE, "inconclusive"
    elif score < thresholds.marginal_score:
        status, classification = Status.FAIL, "fail"
    elif score < thresholds.pass_score:
        status, classification = Status.INCONCLUSIVE, "marginal"
    elif unmeasured:
        status, classification = Status.INCONCLUSIVE, "inconclusive"
    else:
        status, classification = Status.PASS, "pass"
    findings = [_finding(j) for j in judged if j.failed or not j.measured]
    findings += [
        Finding(
            id=f"metric_unreadable:{name}",
            severity=Severity.HIGH,
            title=f"{name}: data not read",
            detail=message,
            location=name,
        )
        for name, message in errors.items()
    ]
    where = f"step {step.get('weight')}%" if step and step.get("weight") is not None else "canary"
    score_text = f"score {score:.1f}" if score is not None else "no metric measured"
    summary = {
        "pass": f"{where}: canary matches baseline ({score_text}, {len(measured)} metric(s))",
        "marginal": f"{where}: marginal ({score_text}; pass at {thresholds.pass_score:g}) — a human decides",
        "inconclusive": f"{where}: inconclusive ({score_text}; unmeasured: {', '.join(unmeasured) or '—'})"
        " — a human decides",
        "fail": f"{where}: canary worse than baseline ({score_text}"
        + (f"; critical: {', '.join(critical_failed)}" if critical_failed else "")
        + ") — roll back",
        "error": f"{where}: could not judge ({', '.join([*errors, *model_errors])}) — roll back",
    }[classification]
    return CheckResult(
        check_id=check_id,
        kind=KIND,
        status=status,
        summary=summary,
        metrics={
            "classification": classification,
            "score": round(score, 3) if score is not None else None,
            "thresholds": {"pass_score": thresholds.pass_score, "marginal_score": thresholds.marginal_score},
            "confidence": confidence,
            "step": dict(step or {}),
            "metrics": [j.to_dict() for j in judged],
            "critical_failed": critical_failed,
            "unmeasured": unmeasured,
        },
        findings=tuple(findings),
        inputs=dict(inputs or {}),
        engine=_engine(),
        started_at=started,
        finished_at=utcnow(),
    )


def _finding(j: MetricJudgement) -> Finding:
    if not j.measured:
        return Finding(
            id=f"metric_unmeasured:{j.name}",
            severity=Severity.MEDIUM,
            title=f"{j.name}: not measured ({j.reason})",
            location=j.name,
            data={"canary_samples": j.canary_samples, "baseline_samples": j.baseline_samples},
        )
    return Finding(
        id=f"metric_{j.outcome}:{j.name}",
        severity=Severity.CRITICAL if j.critical else Severity.HIGH,
        title=f"{j.name}: {j.reason}",
        location=j.name,
        data={k: v for k, v in j.to_dict().items() if k in ("shift", "allowed_shift", "p_value")},
    )


def _mann_whitney() -> Any:
    """``scipy.stats.mannwhitneyu``; scipy comes with the drift and safety extras."""
    try:
        from scipy.stats import mannwhitneyu  # type: ignore[import-untyped]  # (no stubs)
    except ImportError as exc:  # pragma: no cover - the test environment has scipy
        raise ImportError(
            "the canary judge needs scipy (Mann–Whitney U): install it, or the provider's drift extra"
        ) from exc
    return mannwhitneyu


def _engine() -> dict[str, str]:
    import numpy as np
    import scipy  # type: ignore[import-untyped]

    return {"release-gates": __version__, "scipy": scipy.__version__, "numpy": np.__version__}
