"""Statistics for a study's tables: intervals over seeds, and the expected best validation score of a search.

* Seeds: a pair run with a handful of seeds (3-5) gets Student's t-interval of its mean. With so few runs
  the normal approximation is too narrow and a bootstrap over runs cannot reach beyond the values seen; the
  t-interval is exact when run-to-run variation is normal, and the usual choice in the literature.
* Its gain over the baseline gets Welch's t-interval of the difference of two means: the two pairs' runs are
  independent trainings (a shared seed fixes the head's initialisation and the data order, not the encoder
  they start from), and their spreads need not be equal.
* Expected maximum validation score after k trials (Dodge et al. 2019, "Show Your Work"): the mean of the
  best of k trials drawn with replacement from the N trials the search ran, for k = 1..N; it shows whether
  the budget was enough (the curve flattens) and compares pairs at equal budgets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CONFIDENCE = 0.95


def _t_quantile(p: float, df: float) -> float:
    from scipy import stats

    return float(stats.t.ppf(p, df))


def mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and the sample standard deviation (None for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def t_interval(values: Sequence[float], *, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Student's t confidence interval of the mean of ``values`` (None for fewer than two).

    Example: ``t_interval([0.80, 0.82, 0.81])`` is about ``(0.785, 0.835)``.
    """
    n = len(values)
    if n < 2:
        return None
    mean, sd = mean_sd(values)
    half = _t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)  # type: ignore[operator]
    return mean - half, mean + half


def welch_interval(
    a: Sequence[float], b: Sequence[float], *, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Welch's t confidence interval of ``mean(a) - mean(b)`` (None unless both have two values or more)."""
    if len(a) < 2 or len(b) < 2:
        return None
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    va, vb = sa**2 / len(a), sb**2 / len(b)  # type: ignore[operator]
    diff = ma - mb
    if va + vb == 0:
        return diff, diff
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = _t_quantile(0.5 + confidence / 2, df) * math.sqrt(va + vb)
    return diff - half, diff + half


def expected_max(values: Sequence[float]) -> list[tuple[float, float]]:
    """For k = 1..N: the expected best of k of the N ``values`` drawn with replacement, and its standard
    deviation (Dodge et al. 2019, eq. 1 and its variance).

    Example: ``expected_max([0.5, 0.7])`` is ``[(0.6, 0.1), (0.65, ...)]``.
    """
    import numpy as np

    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    upper = np.arange(1, n + 1) / n  # P(a draw is at most the i-th smallest)
    lower = np.arange(0, n) / n
    upper_k, lower_k = np.ones(n), np.ones(n)
    out = []
    for _ in range(n):  # k = 1..n, the powers built up one factor at a time (O(n) per k)
        upper_k *= upper
        lower_k *= lower
        # P(the best of k draws is the i-th smallest) = (i/n)^k - ((i-1)/n)^k
        weights = upper_k - lower_k
        mean = float(weights @ ordered)
        second = float(weights @ (ordered * ordered))
        out.append((mean, math.sqrt(max(second - mean * mean, 0.0))))
    return out
