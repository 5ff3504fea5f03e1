"""The statistics behind a fairness FAIL: one p-value per comparison, the multiple-comparison
correction, and what sample sizes could decide an undecided criterion.

**The favourable end (the engine's rule).** A comparison of group ``a`` with group ``b`` is
*breached at the favourable end* when the criterion fails even at the ends of the two groups' Wilson
intervals (at ``confidence``) most favourable to it: for ``ratio_min`` when ``a.high / b.low`` is still
below the threshold ``t``; for ``difference_max`` when ``a.low − b.high`` is still above it. Until
now that alone made a FAIL — once per comparison, with nothing for the number of comparisons.

**Which p-value, which test.** Each comparison is one directional hypothesis: ``ratio_min`` H0
"``rate_a − t·rate_b ≥ 0``" for every ordered pair (or each group against the reference group);
``difference_max`` H0 "``rate_a − rate_b ≤ t``" for both orders of every pair. Its test is the
MOVER / Newcombe hybrid score interval of that contrast, built from the same two Wilson intervals
(Newcombe 1998, method 10; Zou & Donner 2008): the favourable end of ``rate_a − t·rate_b`` is
``(â − t·b̂) + √((a.high − â)² + t²·(b̂ − b.low)²)``, of ``rate_a − rate_b`` it is
``(â − b̂) − √((â − a.low)² + (b.high − b̂)²)`` — the root of the summed squares where the engine's
rule adds the two half-widths. The p-value is the smallest ``α`` at which the ``(1 − α)`` interval
still excludes H0: the interval widens with ``z``, so there is one ``z*`` (found by bisection) where
its end meets the threshold, and ``p = erfc(z*/√2)``; ``p = 1`` when the point estimates satisfy the
criterion. Because ``√(x² + y²) ≤ x + y``, a breach at the favourable end implies ``p < 1 − confidence``.

**Which correction, which decision.** One check is one family: every comparison of every criterion
in every grouping (marginal and intersectional), the calibration comparisons included. A criterion
FAILs when one of its comparisons is breached at the favourable end *and* has an adjusted p-value
below ``1 − confidence``. ``holm`` (default): Holm's step-down adjustment, which bounds the
probability of any false FAIL in the check (family-wise error) by ``1 − confidence``, whatever the
dependence between comparisons. ``bh``: Benjamini–Hochberg's step-up adjustment, which bounds the
expected share of false FAILs among the FAILs (false discovery rate; valid for independent or
positively dependent comparisons) — more FAILs, a weaker promise. ``none``: the favourable end
alone, exactly the rule before corrections existed. PASS is never corrected: it needs every
comparison to hold at the unfavourable end (an intersection–union test), so more comparisons make a
wrong PASS less likely, not more.

Holm and Benjamini–Hochberg are written out below (a dozen lines, equal to
``statsmodels.stats.multitest.multipletests`` in the tests): statsmodels and scipy are not
dependencies of the provider's core, and the fairness engine must run on a plain install.

Everything is vectorised with numpy over the last axis, so the same functions decide one check and
the thousand simulated data sets of ``tests/unit/test_fairness_correction.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

Correction = Literal["holm", "bh", "none"]
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")

#: Power at which the detectable differences and the needed group sizes are given.
POWER = 0.8
#: Beyond this Wilson z the favourable end is treated as breached for good (p below 1e-300).
_Z_MAX = 38.0
_BISECTIONS = 64


def z_of(confidence: float) -> float:
    """The two-sided normal quantile of a confidence level (the Wilson intervals' ``z``)."""
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def wilson_bounds(
    successes: ArrayLike, n: ArrayLike, z: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval ends, vectorised (``checks.fairness.wilson_interval`` for arrays)."""
    import numpy as np

    k, size, zz = np.asarray(successes, float), np.asarray(n, float), np.asarray(z, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / size
        denom = 1 + zz * zz / size
        centre = (p + zz * zz / (2 * size)) / denom
        half = zz * np.sqrt(p * (1 - p) / size + zz * zz / (4 * size * size)) / denom
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def _ends(arrays: Sequence[NDArray[Any]], z: NDArray[Any]) -> tuple[NDArray[Any], ...]:
    """Point rates and Wilson ends of both groups at ``z``: (â, a.low, a.high, b̂, b.low, b.high)."""
    import numpy as np

    num_a, den_a, num_b, den_b = arrays
    low_a, high_a = wilson_bounds(num_a, den_a, z)
    low_b, high_b = wilson_bounds(num_b, den_b, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        return num_a / den_a, low_a, high_a, num_b / den_b, low_b, high_b


def _mover_breach(
    arrays: Sequence[NDArray[Any]], z: NDArray[Any], rule: str, threshold: float
) -> NDArray[np.bool_]:
    """True where the MOVER interval of the comparison's contrast excludes H0 at ``z``."""
    import numpy as np

    a, low_a, high_a, b, low_b, high_b = _ends(arrays, z)
    if rule == "ratio_min":
        upper = (a - threshold * b) + np.sqrt((high_a - a) ** 2 + (threshold * (b - low_b)) ** 2)
        breached: NDArray[np.bool_] = upper < 0
        return breached
    lower = (a - b) - np.sqrt((a - low_a) ** 2 + (high_b - b) ** 2)
    breached = lower > threshold
    return breached


def interval_breaches(
    num_a: ArrayLike,
    den_a: ArrayLike,
    num_b: ArrayLike,
    den_b: ArrayLike,
    *,
    rule: str,
    threshold: float,
    confidence: float,
) -> NDArray[np.bool_]:
    """The engine's uncorrected rule per comparison: breached at the favourable end of the Wilson
    intervals (``ratio_min``: ``a.high < t·b.low``; ``difference_max``: ``a.low − b.high > t``)."""
    import numpy as np

    arrays = np.broadcast_arrays(*(np.asarray(x, float) for x in (num_a, den_a, num_b, den_b)))
    _, low_a, high_a, _, low_b, high_b = _ends(arrays, np.asarray(z_of(confidence)))
    if rule == "ratio_min":
        # As the engine's _ratio: 0/0 is parity, so a.high = b.low = 0 is no breach.
        breached: NDArray[np.bool_] = high_a < threshold * low_b
        return breached
    breached = (low_a - high_b) > threshold
    return breached


def comparison_p_values(
    num_a: ArrayLike,
    den_a: ArrayLike,
    num_b: ArrayLike,
    den_b: ArrayLike,
    *,
    rule: str,
    threshold: float,
) -> NDArray[np.float64]:
    """p-value of H0 "the criterion holds for a vs b" per comparison (see the module docstring).

    Arrays of any (broadcastable) shape; denominators must be positive.
    """
    import numpy as np

    arrays = tuple(np.broadcast_arrays(*(np.asarray(x, float) for x in (num_a, den_a, num_b, den_b))))
    zero = np.zeros(arrays[0].shape)
    at_point = _mover_breach(arrays, zero, rule, threshold)
    low, high = zero.copy(), np.full(zero.shape, _Z_MAX)
    # Still excluded at _Z_MAX: no level of confidence saves it (p underflows to 0).
    for _ in range(_BISECTIONS):
        mid = (low + high) / 2
        still = _mover_breach(arrays, mid, rule, threshold)
        low = np.where(still, mid, low)
        high = np.where(still, high, mid)
    p = np.vectorize(math.erfc, otypes=[float])(low / math.sqrt(2)) if zero.size else zero
    out: NDArray[np.float64] = np.where(at_point, p, 1.0)
    return out


def adjust_p_values(p_values: ArrayLike, correction: str) -> NDArray[np.float64]:
    """Adjusted p-values along the last axis: Holm (step-down), Benjamini–Hochberg (step-up), none.

    Holm: sorted ascending, ``p̃(i) = max_{j ≤ i} min(1, (m − j + 1) · p(j))``.
    BH: sorted ascending, ``p̃(i) = min_{j ≥ i} min(1, m / j · p(j))``. A comparison is rejected when
    its adjusted p-value is below ``α``; this is the same decision as the methods' step rules.
    """
    import numpy as np

    p = np.asarray(p_values, float)
    if correction == "none" or p.shape[-1] == 0:
        return p.copy()
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    rank = np.arange(1, m + 1)
    if correction == "holm":
        adjusted = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * ranked), axis=-1)
    elif correction == "bh":
        scaled = np.minimum(1.0, m / rank * ranked)
        adjusted = np.flip(np.minimum.accumulate(np.flip(scaled, axis=-1), axis=-1), axis=-1)
    else:
        raise ValueError(f"unknown correction {correction!r} (known: {', '.join(CORRECTIONS)})")
    out = np.empty_like(adjusted)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


def fail_decisions(
    p_values: ArrayLike, breached: ArrayLike, *, alpha: float, correction: str
) -> NDArray[np.bool_]:
    """Which comparisons FAIL (the last axis is one family): breached at the favourable end, and —
    unless ``correction`` is ``none`` — an adjusted p-value below ``alpha`` (= 1 − confidence)."""
    import numpy as np

    failed = np.asarray(breached, bool)
    if correction != "none":
        failed = failed & (adjust_p_values(p_values, correction) < alpha)
    out: NDArray[np.bool_] = failed
    return out


# --------------------------------------------------------------------------------------------------
# What the sample sizes can decide (for INCONCLUSIVE criteria)
# --------------------------------------------------------------------------------------------------


def decision_z(confidence: float, correction: str, comparisons: int) -> tuple[float, float]:
    """``(z to PASS, z to FAIL)``: PASS at the configured confidence; FAIL at the level the correction
    asks of the strictest comparison (Holm's and BH's first step: ``α / m``)."""
    alpha = 1 - confidence
    fail_alpha = alpha if correction == "none" else alpha / max(1, comparisons)
    return z_of(confidence), z_of(1 - fail_alpha)


def rate_power(
    *,
    rate_a: float,
    share_a: float,
    rate_b: float,
    share_b: float,
    rows_a: int,
    rows_b: int,
    rule: str,
    threshold: float,
    z_pass: float,
    z_fail: float,
) -> dict[str, Any]:
    """What two groups of these sizes can decide about a rate criterion, at 80% power.

    ``share`` is the fraction of a group's rows in the rate's denominator (1 for selection rate, the
    positives' share for TPR). With the contrast ``D = t·rate_b − rate_a`` (ratio) or
    ``|rate_a − rate_b| − t`` (difference), ``s = √(se_a² + t²·se_b²)`` and the normal approximation
    of the Wilson ends: PASS needs ``−D > z_pass·(se_a + t·se_b)``; FAIL needs ``D > z_pass·(se_a +
    t·se_b)`` (the favourable end) and ``D > z_fail·s`` (the corrected test). A true margin that
    clears the larger threshold by ``z_power·s`` is decided with 80% power. Rows needed: both groups
    at the size where the observed margin is that large.
    """
    t = threshold if rule == "ratio_min" else 1.0
    sd_a = math.sqrt(rate_a * (1 - rate_a) / share_a) if share_a > 0 else math.inf
    sd_b = math.sqrt(rate_b * (1 - rate_b) / share_b) if share_b > 0 else math.inf
    z_power = NormalDist().inv_cdf(POWER)

    def margin(failing: bool, se_a: float, se_b: float) -> float:
        spread = math.sqrt(se_a**2 + (t * se_b) ** 2)
        needed = z_pass * (se_a + t * se_b)
        if failing:
            needed = max(needed, z_fail * spread)
        return needed + z_power * spread

    now_fail = margin(True, sd_a / math.sqrt(rows_a), sd_b / math.sqrt(rows_b))
    now_pass = margin(False, sd_a / math.sqrt(rows_a), sd_b / math.sqrt(rows_b))
    if rule == "ratio_min":
        observed = threshold * rate_b - rate_a
        base = rate_b or math.nan
        detectable = {
            "fail_at_or_below": threshold - now_fail / base,
            "pass_at_or_above": threshold + now_pass / base,
        }
    else:
        observed = abs(rate_a - rate_b) - threshold
        detectable = {"fail_at_or_above": threshold + now_fail, "pass_at_or_below": threshold - now_pass}
    per_row = margin(observed > 0, sd_a, sd_b)  # the margin with one row in each group
    needed = None
    if observed != 0 and math.isfinite(per_row):
        needed = math.ceil((per_row / abs(observed)) ** 2)
    return {
        "power": POWER,
        "rows": [rows_a, rows_b],
        "detectable": {k: _finite(v) for k, v in detectable.items()},
        "observed_margin": round(abs(observed), 6),
        "needed_group_size": needed,
    }


def gap_power(
    *, gap: float, sd: float, rows: int, threshold: float, z_pass: float, z_fail: float
) -> dict[str, Any]:
    """The same for a calibration gap whose bootstrap standard deviation is ``sd`` at ``rows`` rows."""
    z_power = NormalDist().inv_cdf(POWER)
    observed = gap - threshold
    z = z_fail if observed > 0 else z_pass
    needed = None
    if observed != 0 and math.isfinite(sd):
        needed = math.ceil(rows * ((z + z_power) * sd / abs(observed)) ** 2)
    return {
        "power": POWER,
        "rows": [rows],
        "detectable": {
            "fail_at_or_above": _finite(threshold + (z_fail + z_power) * sd),
            "pass_at_or_below": _finite(threshold - (z_pass + z_power) * sd),
        },
        "observed_margin": round(abs(observed), 6),
        "needed_group_size": needed,
    }


def _finite(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None
