"""Wasserstein from histogram bins: the certified bound holds against scipy on any data and grid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from release_gates.checks.drift_aggregates import (
    REFINE_FACTOR,
    Bin,
    jensenshannon_from_counts,
    to_refine,
    wasserstein_from_bins,
)


def _bins(
    values: np.ndarray, origin: float, width: float, level: int, parents: set[int] | None = None
) -> list[Bin]:
    """What drift_queries.histogram returns, computed the same way in numpy."""
    if parents is not None:
        parent = np.floor((values - origin) / (width * REFINE_FACTOR))
        values = values[np.isin(parent, list(parents))]
    index = np.floor((values - origin) / width)
    return [
        Bin(level, int(k), int((index == k).sum()), float(np.sum(values[index == k] - origin)),
            float(values[index == k].min()), float(values[index == k].max()))
        for k in np.unique(index)
    ]  # fmt: skip


samples = arrays(
    np.float64,
    st.integers(1, 300),
    elements=st.one_of(
        st.floats(-1e3, 1e3, allow_nan=False, allow_subnormal=False),
        st.integers(-5, 5).map(float),  # ties
    ),
)


@settings(max_examples=200, deadline=None)
@given(reference=samples, current=samples, bins=st.integers(1, 64), refine=st.booleans())
def test_the_bound_holds_on_any_samples_and_grids(
    reference: np.ndarray, current: np.ndarray, bins: int, refine: bool
) -> None:
    origin = float(min(reference.min(), current.min()))
    span = float(max(reference.max(), current.max())) - origin
    width = span / bins if span > 0 else 1.0
    ref, cur = _bins(reference, origin, width, 0), _bins(current, origin, width, 0)
    estimate = wasserstein_from_bins(
        ref, cur, origin=origin, reference_rows=len(reference), current_rows=len(current)
    )
    exact = wasserstein_distance(reference, current)
    slack = 1e-9 * (1 + span)
    assert abs(estimate.distance - exact) <= estimate.bound + slack
    if refine and estimate.bin_bounds:
        chosen = {index for _, index in to_refine(estimate, norm=1.0, tolerance=1e-9)}
        fine = width / REFINE_FACTOR
        ref = [b for b in ref if b.index not in chosen] + _bins(reference, origin, fine, 1, chosen)
        cur = [b for b in cur if b.index not in chosen] + _bins(current, origin, fine, 1, chosen)
        finer = wasserstein_from_bins(
            ref, cur, origin=origin, reference_rows=len(reference), current_rows=len(current)
        )
        assert abs(finer.distance - exact) <= finer.bound + slack
        assert finer.bound <= estimate.bound + slack


def test_no_crossing_and_single_values_are_exact() -> None:
    rng = np.random.default_rng(0)
    reference, current = rng.normal(size=5000), rng.normal(3.0, size=5000)  # the CDFs never cross inside
    origin = float(min(reference.min(), current.min()))
    width = (float(max(reference.max(), current.max())) - origin) / 512
    estimate = wasserstein_from_bins(
        _bins(reference, origin, width, 0), _bins(current, origin, width, 0),
        origin=origin, reference_rows=5000, current_rows=5000,
    )  # fmt: skip
    assert estimate.distance == pytest.approx(wasserstein_distance(reference, current), rel=1e-9)
    ints_r, ints_c = rng.integers(0, 50, 3000).astype(float), rng.integers(2, 50, 2000).astype(float)
    estimate = wasserstein_from_bins(
        _bins(ints_r, 0.0, 0.5, 0),
        _bins(ints_c, 0.0, 0.5, 0),
        origin=0.0,
        reference_rows=3000,
        current_rows=2000,
    )
    assert estimate.bound == pytest.approx(0.0, abs=1e-12)
    assert estimate.distance == pytest.approx(wasserstein_distance(ints_r, ints_c), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    reference=st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, 10_000), min_size=1),
    current=st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, 10_000), min_size=1),
)
def test_jensen_shannon_from_counts_is_scipys(reference: dict[str, int], current: dict[str, int]) -> None:
    keys = sorted({*reference, *current})
    p = np.array([reference.get(k, 0) for k in keys]) / sum(reference.values())
    q = np.array([current.get(k, 0) for k in keys]) / sum(current.values())
    assert jensenshannon_from_counts(reference, current) == pytest.approx(
        float(jensenshannon(p, q)), abs=1e-12
    )
