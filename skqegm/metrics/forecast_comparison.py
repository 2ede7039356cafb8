"""Comparing two forecasts' losses: the Diebold-Mariano test with HLN's correction."""

from typing import NamedTuple

import numpy as np
from scipy import stats

from ..utils._scaling import power_of_two_scale
from ..utils._validation import check_int, check_option
from ._arrays import check_same_index, check_series

__all__ = ["DieboldMarianoResult", "diebold_mariano_test"]

ALTERNATIVES = ("two-sided", "less", "greater")
KERNELS = ("truncated", "bartlett")


class DieboldMarianoResult(NamedTuple):
    """The statistic of :func:`diebold_mariano_test` and its p-value.

    A named tuple that unpacks as ``statistic, p_value``, like
    :class:`BacktestResult`.

    Parameters
    ----------
    statistic : float
        The (corrected) Diebold-Mariano statistic; negative when the first forecast has
        the smaller mean loss (also the attribute ``statistic``).
    p_value : float
        The p-value under the chosen alternative.

    Examples
    --------
    >>> from skqegm.metrics import DieboldMarianoResult
    >>> statistic, p_value = DieboldMarianoResult(-2.5, 0.013)
    >>> statistic
    -2.5
    """

    statistic: float
    p_value: float


def _check_losses(loss_a, loss_b):
    check_same_index(loss_a=loss_a, loss_b=loss_b)
    a = check_series(loss_a, "loss_a")
    b = check_series(loss_b, "loss_b")
    if a.shape != b.shape:
        raise ValueError(f"loss_a and loss_b must be 1-D arrays of the same length (one loss "
                         f"per forecast date); got shapes {a.shape} and {b.shape}.")
    return a, b


def long_run_variance(d, lag, kernel):
    """``gamma_0 + 2 sum_{k=1}^{lag} w_k gamma_k`` of ``d``, autocovariances over ``T``.

    Parameters
    ----------
    d : ndarray of shape (T,)
    lag : int
        Highest autocovariance, ``0 <= lag < T``.
    kernel : {"truncated", "bartlett"}
        ``w_k = 1`` (Diebold and Mariano 1995) or ``w_k = 1 - k / (lag + 1)`` (Newey and
        West 1987).

    Returns
    -------
    variance : float
        The long-run variance of ``d``; ``T`` times the variance of its mean.
    """
    centred = d - d.mean()
    n = centred.shape[0]
    variance = centred @ centred / n
    for k in range(1, lag + 1):
        weight = 1.0 if kernel == "truncated" else 1.0 - k / (lag + 1)
        variance += 2.0 * weight * (centred[k:] @ centred[:-k]) / n
    return float(variance)


def diebold_mariano_test(loss_a, loss_b, h=1, *, lag=None, kernel="truncated",
                         alternative="two-sided", small_sample=True):
    """Diebold and Mariano's (1995) test of equal predictive accuracy.

    The loss differential ``d_t = loss_a[t] - loss_b[t]`` has mean ``dbar``; the
    statistic is ``DM = dbar / sqrt(V / T)``, with ``V`` the long-run variance of ``d``:
    ``gamma_0 + 2 sum_{k=1}^{lag} w_k gamma_k``, autocovariances ``gamma_k`` divided by
    ``T``. An ``h``-step forecast error is at most MA(h - 1), so ``lag = h - 1`` by
    default.

    - ``kernel="truncated"`` (the default): ``w_k = 1``, Diebold and Mariano's own
      estimator, for which Harvey, Leybourne and Newbold (1997) derived their
      correction. With ``h > 1`` it can be negative, and at ``lag = T - 1`` it is 0
      (the autocovariances of a centred series sum to 0); the test then raises and
      suggests the Bartlett kernel.
    - ``kernel="bartlett"``: ``w_k = 1 - k / (lag + 1)``, Newey and West's (1987) HAC
      estimator, never negative.

    With ``small_sample=True`` (the default) the statistic is multiplied by Harvey,
    Leybourne and Newbold's (1997) factor ``sqrt((T + 1 - 2h + h (h - 1) / T) / T)`` and
    compared with Student's t with ``T - 1`` degrees of freedom; ``False`` gives the
    original statistic and its standard normal p-value. For one-step forecasts
    (``h = 1``, ``lag = 0``) ``V`` is the variance of ``d`` over ``T``.

    Parameters
    ----------
    loss_a, loss_b : array-like of shape (T,) or (T, 1)
        The losses of two forecasts of the same dates, in time order (e.g.
        ``fz0_loss(..., reduce=False)``), finite; ``T >= 2``.
    h : int, default=1
        Forecast horizon, >= 1 and < T.
    lag : int or None, default=None
        Highest autocovariance in ``V``, in [0, T); ``None`` is ``h - 1``.
    kernel : {"truncated", "bartlett"}, default="truncated"
    alternative : {"two-sided", "less", "greater"}, default="two-sided"
        The alternative hypothesis on ``E[d] = E[loss_a - loss_b]``: ``"less"`` says
        forecast *a* is more accurate (smaller loss), ``"greater"`` that *b* is.
    small_sample : bool, default=True
        Apply the Harvey-Leybourne-Newbold correction and the ``t(T - 1)`` p-value.

    Returns
    -------
    result : DieboldMarianoResult
        Named tuple ``(statistic, p_value)``.

    Raises
    ------
    ValueError
        If the losses are not 1-D arrays of one length ``T >= 2`` without NaN or
        infinity, the loss differential is constant (its variance is 0: the test is
        undefined), ``V`` is not above 0 beyond its rounding error (the truncated
        kernel with ``lag > 0``, always at ``lag = T - 1``), or ``h``, ``lag``,
        ``kernel`` or ``alternative`` is invalid.

    Notes
    -----
    No ``sample_weight``: the long-run variance and its t (or normal) law are those of
    equally spaced days, which weighted days are not.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.metrics import diebold_mariano_test
    >>> d = np.array([-1.0, 0.5, -2.0, -0.5, 1.0, -1.5])
    >>> # h = 1: DM = mean(d) / sqrt(var(d, ddof=0) / T), times sqrt((T - 1) / T), which
    >>> # is the one-sample t statistic of d, compared with t(T - 1)
    >>> stat, p = diebold_mariano_test(d, np.zeros(6))
    >>> round(stat, 4), round(p, 4)
    (-1.2336, 0.2722)
    >>> round(diebold_mariano_test(d, np.zeros(6), alternative="less").p_value, 4)
    0.1361
    """
    a, b = _check_losses(loss_a, loss_b)
    n = a.shape[0]
    if n < 2:
        raise ValueError(f"diebold_mariano_test needs at least 2 losses each; got {n}.")
    h = check_int(h, "h", min_value=1, max_value=n - 1)
    lag = h - 1 if lag is None else check_int(lag, "lag", min_value=0, max_value=n - 1)
    check_option(kernel, "kernel", KERNELS)
    check_option(alternative, "alternative", ALTERNATIVES)
    if not isinstance(small_sample, (bool, np.bool_)):
        raise ValueError(f"small_sample must be True or False; got {small_sample!r}.")
    # The statistic does not change when the losses are scaled; scaling them, then d, by
    # powers of two (exact) keeps d and its squares finite and above underflow: losses
    # of 1e200 gave a variance of inf (DM = 0, p = 1), losses of 1e-200 a variance of 0.
    scale = power_of_two_scale(np.concatenate([a, b]))
    d = a * scale - b * scale
    d = d * power_of_two_scale(d)
    if np.ptp(d) == 0:
        raise ValueError("the loss differential loss_a - loss_b is constant: its variance is "
                         "0 and the Diebold-Mariano statistic is undefined.")
    variance = long_run_variance(d, lag, kernel)
    # A variance within the rounding error of its 2 lag + 1 sums of n products is 0 to
    # the precision it was computed at: the truncated kernel at lag = T - 1 is exactly 0
    # (the autocovariances of a centred series sum to 0), and its rounding (1e-16 of
    # gamma_0) gave DM = 5.5e8 with p = 7e-35, or a refusal, by the sign of the noise.
    gamma0 = float(np.var(d))
    rounding = (2 * lag + 1) * n * np.finfo(np.float64).eps * gamma0
    if variance <= rounding:
        remedy = ("use kernel='bartlett', which is never negative, or a smaller lag"
                  if kernel == "truncated" else "use a smaller lag")
        raise ValueError(f"the long-run variance of the loss differential is {variance:.3g}, "
                         f"not above 0 beyond rounding ({rounding:.3g}), with "
                         f"kernel={kernel!r} and lag={lag}: the Diebold-Mariano statistic "
                         f"is undefined; {remedy}.")
    statistic = d.mean() / np.sqrt(variance / n)
    if small_sample:
        statistic *= np.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)
        law = stats.t(df=n - 1)
    else:
        law = stats.norm()
    if alternative == "two-sided":
        p_value = 2.0 * law.sf(abs(statistic))
    elif alternative == "less":
        p_value = law.cdf(statistic)
    else:
        p_value = law.sf(statistic)
    return DieboldMarianoResult(float(statistic), float(p_value))
