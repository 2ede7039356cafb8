"""Value-at-Risk backtests: exceedances, Kupiec POF and Christoffersen tests.

Log-likelihoods use the convention ``0 * log(0) = 0`` (``scipy.special.xlogy``), so
series with no exceedance, only exceedances or no consecutive exceedances give finite
statistics rather than NaN.
"""

import warnings
from typing import NamedTuple

import numpy as np
from scipy.special import xlogy
from scipy.stats import chi2

from ..utils._validation import (
    check_confidence_level,
    check_forecast,
    check_option,
)
from ..utils._warnings import caller_stacklevel
from ._arrays import check_flags, check_same_index, check_series


class BacktestResult(NamedTuple):
    """Likelihood-ratio statistic and its asymptotic chi-squared p-value.

    A named tuple, returned by :func:`kupiec_pof_test`,
    :func:`christoffersen_independence_test` and
    :func:`christoffersen_conditional_coverage_test`; it unpacks as
    ``statistic, p_value``.

    Parameters
    ----------
    statistic : float
        The likelihood-ratio statistic, >= 0 (also the attribute ``statistic``).
    p_value : float
        ``P(chi2 >= statistic)`` under the test's chi-squared distribution; a small value
        rejects the null hypothesis (also the attribute ``p_value``).

    Examples
    --------
    >>> from scipy.stats import chi2
    >>> from skqegm.metrics import kupiec_pof_test
    >>> result = kupiec_pof_test([0] * 96 + [1] * 4, level=0.99)
    >>> round(result.statistic, 3), round(result.p_value, 3)
    (5.182, 0.023)
    >>> statistic, p_value = result
    >>> bool(p_value == chi2.sf(statistic, 1))
    True
    """

    statistic: float
    p_value: float


def _check_exceedances(exceedances, min_length=1):
    return check_flags(exceedances, "exceedances", "1 = VaR exceeded",
                       min_length=min_length).astype(int)


def _bernoulli_loglik(n_ones, n_zeros, rate):
    return xlogy(n_ones, rate) + xlogy(n_zeros, 1.0 - rate)


def _result(statistic, dof):
    # Rounding can leave a likelihood ratio a hair below zero.
    statistic = float(statistic) if statistic > 0 else 0.0
    return BacktestResult(statistic, float(chi2.sf(statistic, dof)))


def _rate(numerator, denominator):
    return numerator / denominator if denominator > 0 else 0.0


def var_exceedances(y, var, side="lower"):
    """Flag the observations that breach a Value-at-Risk.

    Convention: VaR is a *loss* quoted as a positive number for ``side="lower"`` (a 99%
    one-day VaR of 2% is ``var=0.02``), and an exceedance is ``y < -var``. For
    ``side="upper"`` (the risk of a short position) ``var`` is the upper threshold itself
    and an exceedance is ``y > var``.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
        Realised returns, finite.
    var : float or array-like of shape (n_samples,) or (n_samples, 1)
        VaR per observation, or a number for a constant VaR, finite. A one-element
        array beside a longer ``y`` is refused (a number is the constant VaR), as in
        every metric that takes forecasts.
    side : {"lower", "upper"}, default="lower"
        Which tail the VaR guards.

    Returns
    -------
    exceedances : ndarray of shape (n_samples,), dtype int
        1 where the VaR was breached, else 0.

    Raises
    ------
    ValueError
        If ``y`` is empty or not 1-D, ``var`` is neither a number nor of ``y``'s length,
        either holds NaN, infinity or non-real values, or ``side`` is unknown.

    Warns
    -----
    UserWarning
        If every ``var`` is negative, which usually means a return quantile was passed
        instead of a loss (pass ``-quantile``).

    Examples
    --------
    >>> from skqegm.metrics import var_exceedances
    >>> var_exceedances([0.01, -0.03, -0.01, 0.04], var=0.02)
    array([0, 1, 0, 0])
    >>> var_exceedances([0.01, -0.03, -0.01, 0.04], var=0.02, side="upper")
    array([0, 0, 0, 1])
    """
    check_option(side, "side", ("lower", "upper"))
    check_same_index(y=y, var=var)
    y = check_series(y, "y")
    var = check_forecast(var, "var", y.shape[0])
    if np.all(var < 0):
        rule = "y < -var" if side == "lower" else "y > var"
        warnings.warn(f"var is negative everywhere: VaR is a positive loss (side={side!r}: "
                      f"exceedance when {rule}). Did you pass a return quantile?",
                      UserWarning, stacklevel=caller_stacklevel())
    breached = y < -var if side == "lower" else y > var
    return breached.astype(int)


def kupiec_pof_test(exceedances, level):
    """Kupiec's proportion-of-failures test of unconditional coverage.

    ``LR_POF = -2 [log L(p) - log L(x / n)]`` with ``p = 1 - level``, ``x`` exceedances in
    ``n`` observations and ``L`` the Bernoulli likelihood; asymptotically chi2(1) under
    the null "the exceedance rate is ``p``".

    Parameters
    ----------
    exceedances : array-like of shape (n_samples,) or (n_samples, 1)
        0/1 exceedance flags (see :func:`var_exceedances`).
    level : float
        VaR confidence level in (0.5, 1), e.g. 0.99; the expected exceedance rate is the
        tail probability ``1 - level`` (0.01), which is not accepted in its place.

    Returns
    -------
    result : BacktestResult
        Named tuple ``(statistic, p_value)``; a small p-value rejects correct coverage.

    Raises
    ------
    ValueError
        If ``exceedances`` is not a 1-D array of 1 or more 0/1 flags (booleans are
        accepted), or ``level`` is not in (0.5, 1) (a tail probability
        such as 0.01 is refused, with the confidence level it stands for).

    Notes
    -----
    No ``sample_weight``: the statistic's chi-squared law rests on a binomial count of
    days, which a weighted count is not.

    Examples
    --------
    >>> from skqegm.metrics import kupiec_pof_test
    >>> stat, p = kupiec_pof_test([0] * 95 + [1] * 5, level=0.95)
    >>> stat, p
    (0.0, 1.0)
    >>> stat, p = kupiec_pof_test([0] * 90 + [1] * 10, level=0.99)
    >>> print(f"{stat:.3f} {p:.1e}")
    28.896 7.6e-08
    """
    e = _check_exceedances(exceedances)
    p = 1.0 - check_confidence_level(level)
    n, x = e.shape[0], int(e.sum())
    statistic = -2.0 * (_bernoulli_loglik(x, n - x, p) - _bernoulli_loglik(x, n - x, x / n))
    return _result(statistic, dof=1)


def _transition_counts(e):
    previous, current = e[:-1], e[1:]
    n00 = int(np.sum((previous == 0) & (current == 0)))
    n01 = int(np.sum((previous == 0) & (current == 1)))
    n10 = int(np.sum((previous == 1) & (current == 0)))
    n11 = int(np.sum((previous == 1) & (current == 1)))
    return n00, n01, n10, n11


def christoffersen_independence_test(exceedances):
    """Christoffersen's test that exceedances do not cluster (first-order Markov).

    With ``n_ij`` the number of days in state ``i`` followed by state ``j``,
    ``pi01 = n01 / (n00 + n01)``, ``pi11 = n11 / (n10 + n11)`` and
    ``pi = (n01 + n11) / (n - 1)``, the statistic is
    ``LR_ind = -2 [log L(pi) - log L(pi01, pi11)]``, asymptotically chi2(1). A transition
    probability with no observation (e.g. no exceedance before the last day) is set to 0;
    its terms vanish.

    Parameters
    ----------
    exceedances : array-like of shape (n_samples,) or (n_samples, 1)
        0/1 exceedance flags in time order, at least 2.

    Returns
    -------
    result : BacktestResult
        Named tuple ``(statistic, p_value)``; a small p-value rejects independence.

    Raises
    ------
    ValueError
        If ``exceedances`` is not a 1-D array of 2 or more 0/1 flags (booleans are
        accepted).

    Notes
    -----
    No ``sample_weight``: the test counts transitions between consecutive days, which
    weighted days would not define, nor the statistic's chi-squared law.

    Examples
    --------
    >>> from skqegm.metrics import christoffersen_independence_test
    >>> stat, p = christoffersen_independence_test([0, 0, 1, 1, 0, 0, 0, 1, 0, 0])
    >>> stat, p
    (0.0, 1.0)
    >>> stat, p = christoffersen_independence_test([0] * 95 + [1] * 5)  # one cluster
    >>> print(f"{stat:.3f} {p:.1e}")
    28.503 9.4e-08
    """
    e = _check_exceedances(exceedances, min_length=2)
    n00, n01, n10, n11 = _transition_counts(e)
    pi = (n01 + n11) / (n00 + n01 + n10 + n11)
    pi01, pi11 = _rate(n01, n00 + n01), _rate(n11, n10 + n11)
    markov = _bernoulli_loglik(n01, n00, pi01) + _bernoulli_loglik(n11, n10, pi11)
    independent = _bernoulli_loglik(n01 + n11, n00 + n10, pi)
    return _result(-2.0 * (independent - markov), dof=1)


def christoffersen_conditional_coverage_test(exceedances, level):
    """Christoffersen's conditional coverage test: right rate *and* no clustering.

    ``LR_cc = LR_POF + LR_ind`` (:func:`kupiec_pof_test` plus
    :func:`christoffersen_independence_test`), asymptotically chi2(2).

    Parameters
    ----------
    exceedances : array-like of shape (n_samples,) or (n_samples, 1)
        0/1 exceedance flags in time order, at least 2.
    level : float
        VaR confidence level in (0.5, 1), e.g. 0.99; the expected exceedance rate is
        ``1 - level``.

    Returns
    -------
    result : BacktestResult
        Named tuple ``(statistic, p_value)``.

    Raises
    ------
    ValueError
        If ``exceedances`` is not a 1-D array of 2 or more 0/1 flags (booleans are
        accepted), or ``level`` is not in (0.5, 1).

    Notes
    -----
    No ``sample_weight``: it is the sum of two tests that take none (see
    :func:`kupiec_pof_test` and :func:`christoffersen_independence_test`).

    Examples
    --------
    >>> from skqegm.metrics import christoffersen_conditional_coverage_test
    >>> # The rate is right (1 - level = 0.25) but the exceedances come like clockwork.
    >>> stat, p = christoffersen_conditional_coverage_test([0, 0, 0, 1] * 25, level=0.75)
    >>> print(f"{stat:.3f} {p:.1e}")
    16.411 2.7e-04
    """
    e = _check_exceedances(exceedances, min_length=2)
    pof = kupiec_pof_test(e, level).statistic
    ind = christoffersen_independence_test(e).statistic
    return _result(pof + ind, dof=2)
