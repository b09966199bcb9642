"""The plain-Python Student's t quantile against scipy's (Boost's) quantile and CDF."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import t as student

from ctxsafe.metrics.stats import mean_ci
from ctxsafe.metrics.student_t import t_quantile

DFS = (1, 1.5, 2, 2.5, 3, 4, 5, 7, 10, 15, 29, 30, 99, 100, 999, 1000, 1001, 12_345, 1e5, 1e6, 1e8)
QS = (0.51, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 0.9999, 1 - 1e-8, 0.025, 1e-6)


@pytest.mark.parametrize("df", DFS)
@pytest.mark.parametrize("q", QS)
def test_matches_scipy_quantile(df: float, q: float) -> None:
    assert t_quantile(df, q) == pytest.approx(float(student.ppf(q, df)), rel=1e-9)


@settings(max_examples=300, deadline=None)
@given(df=st.floats(min_value=1.0, max_value=1e7), q=st.floats(min_value=1e-9, max_value=1 - 1e-9))
def test_cdf_of_the_quantile_is_q(df: float, q: float) -> None:
    """Round trip through scipy's CDF: holds everywhere, also near q = 0.5 where quantiles are ill-conditioned."""
    t = t_quantile(df, q)
    assert math.isfinite(t)
    assert float(student.cdf(t, df)) == pytest.approx(q, rel=1e-9, abs=1e-13)
    assert t_quantile(df, 1 - q) == pytest.approx(-t, rel=1e-9, abs=1e-12)


def test_centre_and_closed_forms() -> None:
    assert t_quantile(7, 0.5) == 0.0
    assert t_quantile(1, 0.975) == pytest.approx(12.706204736174698, rel=1e-13)  # tan(0.475 pi)
    assert t_quantile(2, 0.975) == pytest.approx(4.302652729749464, rel=1e-13)  # 0.95 / sqrt(0.04875)
    # near the centre t ~ (q - 1/2) / density(0); for df = 4 the density at 0 is 3/8
    assert t_quantile(4, 0.5 + 1e-7) == pytest.approx(1e-7 / 0.375, rel=1e-6)


@pytest.mark.parametrize(("df", "q"), [(0, 0.9), (-1, 0.9), (5, 0.0), (5, 1.0), (5, -0.1), (5, math.nan)])
def test_outside_the_domain_is_nan(df: float, q: float) -> None:
    assert math.isnan(t_quantile(df, q))


def test_mean_ci_uses_it() -> None:
    """A t-interval over 3 values: mean 2, sd 1, half-width t(2, 0.975) / sqrt(3)."""
    mean, lo, hi = mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729749464 / math.sqrt(3)
    assert (mean, lo, hi) == pytest.approx((2.0, 2.0 - half, 2.0 + half), rel=1e-12)
