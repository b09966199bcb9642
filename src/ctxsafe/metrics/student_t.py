"""Student's t quantile in plain Python, for the t-intervals every results table prints.

Why not scipy: importing `scipy.special` takes about 0.2 s (it pulls in numpy's testing and f2py modules),
a tenth of a 1,000-call run against a fast server, for one number per table (issue 12). The quantile is
found by safeguarded Newton steps on the upper tail, computed from the regularised incomplete beta
function by its continued fraction (DLMF 8.17.22); `tests/test_student_t.py` checks it against scipy.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

_TINY = 1e-300
_EPS = 1e-15
_MAX_TERMS = 100_000
_LARGE_DF = 1000.0
"""From here on the Cornish-Fisher series alone is exact to double precision (its next term is O(1/df^5)),
while lgamma's cancellation at large df would cost the incomplete beta digits."""


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b) (modified Lentz); converges fast for x < (a + 1) / (a + b + 2)."""
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + num / c
            c = c if abs(c) > _TINY else _TINY
            step = c * d
            h *= step
        if abs(step - 1.0) < _EPS:
            return h
    raise ArithmeticError(f"incomplete beta fraction did not converge (a={a}, b={b}, x={x})")


def _incomplete_beta(a: float, b: float, x: float, one_minus_x: float) -> float:
    """Regularised I_x(a, b); `one_minus_x` is passed in exactly, so x near 1 loses no digits."""
    if x <= 0.0:
        return 0.0
    if one_minus_x <= 0.0:
        return 1.0
    log_x = math.log1p(-one_minus_x) if one_minus_x < 0.5 else math.log(x)
    log_rest = math.log1p(-x) if x < 0.5 else math.log(one_minus_x)
    log_front = a * log_x + b * log_rest + math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, one_minus_x) / b


def _upper_tail(t: float, df: float) -> float:
    """P(T > t) for t >= 0."""
    t2 = t * t
    return 0.5 * _incomplete_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2))


def _density(t: float, df: float) -> float:
    log_norm = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    return math.exp(log_norm - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def _cornish_fisher(z: float, df: float) -> float:
    """The normal quantile corrected to order 1/df^4: a start within a few percent for df >= 3."""
    z2 = z * z
    g1 = z * (z2 + 1.0) / 4.0
    g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0
    g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0
    g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


@lru_cache(maxsize=4096)
def t_quantile(df: float, q: float) -> float:
    """The q-quantile of Student's t with `df` > 0 degrees of freedom (nan outside 0 < q < 1 or df <= 0);
    cached, since a report asks for the same few (df, q) pairs many times."""
    if not (0.0 < q < 1.0) or not df > 0.0:
        return math.nan
    if q < 0.5:
        return -t_quantile(df, 1.0 - q)
    if q == 0.5:
        return 0.0
    if df == 1.0:
        return 1.0 / math.tan(math.pi * (1.0 - q))  # the Cauchy quantile, written so q near 1 keeps its digits
    if df == 2.0:
        return (2.0 * q - 1.0) / math.sqrt(2.0 * q * (1.0 - q))
    z = NormalDist().inv_cdf(q)
    if df >= _LARGE_DF:
        return _cornish_fisher(z, df)
    p = 1.0 - q  # solve P(T > t) = p: the upper tail keeps its digits where q is near 1
    lo, hi = 0.0, math.inf
    t = max(_cornish_fisher(z, df), 1e-300)
    for _ in range(200):
        excess = _upper_tail(t, df) - p  # > 0: t is too small
        if excess == 0.0:
            return t
        if excess > 0.0:
            lo = t
        else:
            hi = t
        step = excess / _density(t, df)
        nxt = t + step
        if not lo < nxt < hi:  # Newton left the bracket: bisect (or grow the bracket)
            nxt = 2.0 * lo + 1.0 if math.isinf(hi) else (lo + hi) / 2.0
        if abs(nxt - t) <= 4.0 * _EPS * t:
            return nxt
        t = nxt
    return t
