"""Consistent scoring functions of VaR and expected-shortfall forecasts: FZ0 and pinball.

Sign convention (that of :func:`~skqegm.metrics.var_exceedances` and
:meth:`skqegm.TailRiskEstimator.predict_var`): with ``side="lower"`` (the losses of a
long position) VaR and ES are *positive losses*, so a 97.5% VaR of 0.02 means
``P(y < -0.02) = 2.5%`` and the ES is the mean loss ``-E[y | y <= -VaR]``; with
``side="upper"`` they are levels of ``y`` itself (``P(y > VaR) = 2.5%``, ES the mean of
``y`` beyond it). Internally both sides become the lower tail of returns: the return
quantile is ``v = -VaR`` and the tail mean ``e = -ES`` of ``y`` (``side="lower"``) or of
``-y`` (``side="upper"``).
"""

import numpy as np
from sklearn.metrics import mean_pinball_loss

from ..utils._validation import (
    check_confidence_level,
    check_forecast,
    check_option,
    check_sample_weight,
)
from ._arrays import check_same_index, check_series

__all__ = ["fz0_loss", "var_pinball_loss"]

SIDES = ("lower", "upper")


def check_var_es(y, var, es, side="lower"):
    """``y``, ``var`` and ``es`` as float arrays of one length, ES beyond VaR and > 0.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
        Realised values, finite.
    var, es : float or array-like of shape (n_samples,) or (n_samples, 1)
        VaR and ES forecasts in the package's convention (see the module documentation).
    side : {"lower", "upper"}, default="lower"

    Returns
    -------
    y, var, es : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        On NaN or infinity, a shape mismatch, an ES that is not positive, or an ES that is
        not beyond the VaR (``es < var``).
    """
    check_option(side, "side", SIDES)
    check_same_index(y=y, var=var, es=es)
    y = check_series(y, "y")
    var = check_forecast(var, "var", y.shape[0])
    es = check_forecast(es, "es", y.shape[0])
    if np.any(es <= 0):
        i = int(np.argmax(es <= 0))
        raise ValueError(
            "es must be > 0 everywhere: ES is a positive loss for side='lower' (the mean "
            f"of -y beyond the VaR) and a positive level for side='upper'; got "
            f"{float(es[i])!r} at index {i}. Did you pass a tail mean of returns "
            "(negative) instead of a loss?")
    below = es < var
    if np.any(below):
        i = int(np.argmax(below))
        raise ValueError(f"es must be beyond the VaR (es >= var) on every row: the ES is the "
                         f"mean beyond the VaR; got es={float(es[i])!r} < "
                         f"var={float(var[i])!r} at index {i}.")
    return y, var, es


def _lower_tail(y, var, es, side):
    """The returns, return quantile and tail mean of the lower tail (see module doc)."""
    returns = y if side == "lower" else -y
    return returns, -var, -es


def fz0_loss(y, var, es, level, *, side="lower", sample_weight=None, reduce=True):
    """The FZ0 loss of joint VaR and expected-shortfall forecasts (lower is better).

    The 0-homogeneous member of the Fissler-Ziegel class (Patton, Ziegel and Chen 2019,
    *Journal of Econometrics* 211, eq. 11), the only one whose loss differences do not
    depend on the units of ``y``. With ``alpha = 1 - level``, the return quantile
    ``v = -var`` and tail mean ``e = -es`` (both negative for a loss), it is

    ``L(y, v, e) = -1 / (alpha e) 1{y <= v} (v - y) + v / e + log(-e) - 1``,

    a strictly consistent scoring function of the pair (VaR, ES): its expectation is
    smallest at the true pair. It needs ``e < 0``, i.e. ``es > 0``. Through ``log(-e)``
    its level depends on the units of ``y`` (returns of about 1% give losses near
    ``log(0.03) = -3.5``), its differences between forecasts do not: compare models on
    the same data. For ``side="upper"``
    the same loss is applied to ``-y`` (see the module documentation).

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
        Realised values (returns), finite.
    var : float or array-like of shape (n_samples,) or (n_samples, 1)
        VaR forecasts, as positive losses for ``side="lower"``.
    es : float or array-like of shape (n_samples,) or (n_samples, 1)
        Expected-shortfall forecasts in the same convention: ``es > 0`` and
        ``es >= var``.
    level : float
        Confidence level in (0.5, 1), e.g. 0.975; ``alpha = 1 - level``.
    side : {"lower", "upper"}, default="lower"
        The tail the forecasts guard.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the mean, >= 0 and not all 0; only with ``reduce=True``.
    reduce : bool, default=True
        Return the (weighted) mean loss; ``False`` returns the loss of every observation,
        as :func:`diebold_mariano_test` needs.

    Returns
    -------
    loss : float or ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        If ``y`` is not a non-empty 1-D array, ``var`` / ``es`` neither a number nor of
        ``y``'s length, any of them holds NaN or infinity, ``es <= 0`` or ``es < var``
        somewhere, ``level`` is not in (0.5, 1), or ``sample_weight`` is given with
        ``reduce=False``, is negative somewhere or is 0 everywhere.

    See Also
    --------
    var_pinball_loss : the consistent scoring function of the VaR alone.

    Examples
    --------
    >>> from skqegm.metrics import fz0_loss
    >>> # no exceedance: v / e + log(-e) - 1 with v = -0.02, e = -0.03
    >>> round(fz0_loss([0.01], var=0.02, es=0.03, level=0.975), 4)
    -3.8399
    >>> # an exceedance of 0.03 adds 0.03 / (0.025 * 0.03) = 40
    >>> fz0_loss([0.01, -0.05], var=0.02, es=0.03, level=0.975, reduce=False).round(3)
    array([-3.84, 36.16])
    """
    level = check_confidence_level(level)
    check_same_index(y=y, sample_weight=sample_weight)
    y, var, es = check_var_es(y, var, es, side)
    returns, v, e = _lower_tail(y, var, es, side)
    alpha = 1.0 - level
    shortfall = np.where(returns <= v, v - returns, 0.0)
    losses = -shortfall / (alpha * e) + v / e + np.log(-e) - 1.0
    return _reduce(losses, sample_weight, reduce)


def _reduce(losses, sample_weight, reduce):
    if not isinstance(reduce, (bool, np.bool_)):
        raise ValueError(f"reduce must be True or False; got {reduce!r}.")
    if not reduce:
        if sample_weight is not None:
            raise ValueError("sample_weight weights the mean loss; it cannot be used with "
                             "reduce=False, which returns the loss of every observation.")
        return losses
    weights = check_sample_weight(sample_weight, losses.shape[0])
    return float(np.average(losses, weights=weights))


def var_pinball_loss(y, var, level, *, side="lower", sample_weight=None, reduce=True):
    """The quantile (pinball) loss of VaR forecasts, in the package's sign convention.

    :func:`sklearn.metrics.mean_pinball_loss` of the quantile that the VaR stands for:
    ``-var`` at ``alpha = 1 - level`` for ``side="lower"``, ``var`` at ``alpha = level``
    for ``side="upper"``. It is strictly consistent for the VaR alone (lower is better).

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
        Realised values, finite.
    var : float or array-like of shape (n_samples,) or (n_samples, 1)
        VaR forecasts, positive losses for ``side="lower"``.
    level : float
        Confidence level in (0.5, 1).
    side : {"lower", "upper"}, default="lower"
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the mean, >= 0 and not all 0; only with ``reduce=True``.
    reduce : bool, default=True
        Return the (weighted) mean; ``False`` returns the loss of every observation.

    Returns
    -------
    loss : float or ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        If an input holds NaN or infinity, the shapes differ, ``level`` is not in
        (0.5, 1) or ``sample_weight`` is given with ``reduce=False``, is negative
        somewhere or is 0 everywhere.

    Examples
    --------
    >>> from skqegm.metrics import var_pinball_loss
    >>> # y = -0.03 breaches a VaR of 0.02: level * (quantile - y) = 0.99 * 0.01
    >>> round(var_pinball_loss([-0.03], var=0.02, level=0.99), 6)
    0.0099
    >>> # no breach: (1 - level) * (y - quantile) = 0.01 * 0.03
    >>> round(var_pinball_loss([0.01], var=0.02, level=0.99), 6)
    0.0003
    """
    level = check_confidence_level(level)
    check_option(side, "side", SIDES)
    check_same_index(y=y, var=var, sample_weight=sample_weight)
    y = check_series(y, "y")
    var = check_forecast(var, "var", y.shape[0])
    quantile, alpha = (-var, 1.0 - level) if side == "lower" else (var, level)
    if not reduce and isinstance(reduce, (bool, np.bool_)):
        if sample_weight is not None:
            return _reduce(y, sample_weight, reduce)  # raises
        # One observation per output: sklearn's raw_values are then the per-row losses.
        return mean_pinball_loss(y[None, :], quantile[None, :], alpha=alpha,
                                 multioutput="raw_values")
    _reduce(y, None, reduce)  # checks reduce
    weights = check_sample_weight(sample_weight, y.shape[0])
    return float(mean_pinball_loss(y, quantile, alpha=alpha, sample_weight=weights))
