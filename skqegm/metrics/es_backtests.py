"""Expected-shortfall backtest: Acerbi and Szekely's Z2 with a simulated p-value."""

from typing import NamedTuple

import numpy as np

from ..utils._memory import check_memory
from ..utils._validation import (
    check_confidence_level,
    check_int,
    check_random_state,
    check_real_array,
)
from .scoring_rules import check_var_es

__all__ = ["AcerbiSzekelyResult", "acerbi_szekely_test"]


class AcerbiSzekelyResult(NamedTuple):
    """The Z2 statistic of :func:`acerbi_szekely_test` and its simulated p-value.

    A named tuple that unpacks as ``statistic, p_value``, like
    :class:`BacktestResult`.

    Parameters
    ----------
    statistic : float
        ``Z2``: 0 in expectation under a correct model, negative when the realised tail
        losses are larger than the forecast ES says (also the attribute ``statistic``).
    p_value : float
        The share of simulated ``Z2`` at or below the observed one (one-sided: a small
        value rejects the model for underestimating the tail risk).

    Examples
    --------
    >>> from skqegm.metrics import AcerbiSzekelyResult
    >>> statistic, p_value = AcerbiSzekelyResult(-0.8, 0.01)
    >>> p_value
    0.01
    """

    statistic: float
    p_value: float


def _z2(returns, var, es, alpha):
    """Z2 of every column of ``returns`` (n_days, n_paths); VaR and ES per day."""
    hits = returns < -var[:, None]
    n_days = returns.shape[0]
    return np.sum(np.where(hits, returns, 0.0) / es[:, None], axis=0) / (n_days * alpha) + 1.0


def _simulated_paths(predictive, n_days, n_simulations, rng):
    """``n_simulations`` paths (n_days, n_simulations) drawn from the predictive law."""
    check_memory(2 * 8.0 * n_days * n_simulations,
                 f"acerbi_szekely_test with {n_days} days and n_simulations={n_simulations}",
                 "lower n_simulations.")
    if callable(predictive):
        seed = int(rng.randint(np.iinfo(np.int32).max))
        paths = check_real_array(predictive(n_simulations, seed),
                                 "the output of predictive(n_simulations, random_state)")
        if paths.shape != (n_days, n_simulations):
            raise ValueError(f"predictive(n_simulations, random_state) must return an array "
                             f"of shape (n_days, n_simulations) = ({n_days}, {n_simulations});"
                             f" got {paths.shape}.")
        return paths
    draws = check_real_array(predictive, "predictive")
    if draws.ndim != 2 or draws.shape[0] != n_days or draws.shape[1] < 2:
        raise ValueError(f"predictive must be a callable or an array of draws of shape "
                         f"(n_days, n_draws) = ({n_days}, n_draws >= 2); got {draws.shape}.")
    # Each path takes, for every day, one of that day's draws at random (with replacement).
    columns = rng.randint(draws.shape[1], size=(n_days, n_simulations))
    return np.take_along_axis(draws, columns, axis=1)


def acerbi_szekely_test(y, var, es, level, predictive, *, side="lower", n_simulations=1000,
                        random_state=None):
    """Acerbi and Szekely's (2014) test 2 of expected-shortfall forecasts.

    With ``alpha = 1 - level``, ``T`` days and ``I_t = 1{y_t < -VaR_t}`` (an exceedance,
    as :func:`var_exceedances` counts it), the statistic is

    ``Z2 = sum_t y_t I_t / (T alpha ES_t) + 1``.

    This is the paper's eq. (8) with its own convention, which is the package's: ``y`` a
    return (P&L), VaR and ES positive losses. Under a correct model ``E[Z2] = 0``; a
    model that underestimates the tail (too small an ES, too many or too deep
    exceedances) gives ``Z2 < 0``. The null distribution is simulated, as in the paper,
    from the model's own predictive distributions: ``n_simulations`` paths, each drawing
    every day's return from that day's forecast, are scored with the same VaR and ES,
    and the p-value is ``(1 + #{Z2_sim <= Z2}) / (1 + n_simulations)``, the Monte Carlo
    p-value that never reports 0.

    For ``side="upper"`` (VaR and ES are levels of ``y``; a breach is ``y > VaR``) the
    test is applied to ``-y``, and the draws are negated with it.

    Parameters
    ----------
    y : array-like of shape (n_days,) or (n_days, 1)
        Realised returns, finite, in time order.
    var, es : float or array-like of shape (n_days,) or (n_days, 1)
        The VaR and ES forecast for each day (positive losses for ``side="lower"``), with
        ``es > 0`` and ``es >= var``.
    level : float
        Confidence level in (0.5, 1), e.g. 0.975.
    predictive : array-like of shape (n_days, n_draws) or callable
        The model's predictive distribution of each day, the one that gave ``var`` and
        ``es``: either draws from it (row ``t`` holds ``n_draws >= 2`` draws of day
        ``t``; a simulated path picks one of them per day at random), or a callable
        ``predictive(n_simulations, random_state) -> ndarray (n_days, n_simulations)``
        of fresh draws, ``random_state`` an int, e.g.
        ``lambda n, seed: model.sample_y(X_test, n, random_state=seed)``.
    side : {"lower", "upper"}, default="lower"
    n_simulations : int, default=1000
        Simulated paths, >= 1.
    random_state : int, RandomState instance or None, default=None
        Seeds the simulation.

    Returns
    -------
    result : AcerbiSzekelyResult
        Named tuple ``(statistic, p_value)``.

    Raises
    ------
    ValueError
        On invalid ``y`` / ``var`` / ``es`` (see :func:`fz0_loss`), a ``predictive`` of
        the wrong shape or with NaN or infinity, or an invalid ``level``,
        ``n_simulations`` or ``random_state``.

    Notes
    -----
    No ``sample_weight``: the simulated null law draws every day once from its forecast,
    so weighted days would give a statistic it no longer describes.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> from skqegm.metrics import acerbi_szekely_test
    >>> rng = np.random.default_rng(0)
    >>> y = rng.standard_normal(500)
    >>> var, es = -stats.norm.ppf(0.025), stats.norm.pdf(stats.norm.ppf(0.025)) / 0.025
    >>> draws = rng.standard_normal((500, 1000))
    >>> bool(acerbi_szekely_test(y, var, es, 0.975, draws, random_state=0).p_value > 0.05)
    True
    >>> # a model with a third of the risk: its VaR, ES and draws divided by 1.5
    >>> narrow = acerbi_szekely_test(y, var / 1.5, es / 1.5, 0.975, draws / 1.5,
    ...                              random_state=0)
    >>> bool(narrow.statistic < 0), bool(narrow.p_value < 0.01)
    (True, True)
    """
    level = check_confidence_level(level)
    y, var, es = check_var_es(y, var, es, side)
    n_simulations = check_int(n_simulations, "n_simulations", min_value=1)
    rng = check_random_state(random_state)
    alpha = 1.0 - level
    sign = 1.0 if side == "lower" else -1.0
    statistic = float(_z2(sign * y[:, None], var, es, alpha)[0])
    paths = sign * _simulated_paths(predictive, y.shape[0], n_simulations, rng)
    simulated = _z2(paths, var, es, alpha)
    p_value = (1.0 + np.count_nonzero(simulated <= statistic)) / (1.0 + n_simulations)
    return AcerbiSzekelyResult(statistic, float(p_value))
