"""What the return-series baselines share: the layout of ``X`` and ``y``, and tail figures.

A return-series model (:class:`GARCHRiskEstimator`, :class:`EWMARiskEstimator`,
:class:`HistoricalSimulation`) reads
the same ``X, y`` as :class:`~skqegm.TailRiskEstimator`, e.g. from
:func:`~skqegm.preprocessing.make_lagged_features`: ``y[t]`` is the return of day ``t``
and column ``lag_column`` of ``X`` the return of the day before, ``y[t - 1]``. The
prediction rows continue the series, so the forecast of a row uses that row's lagged
return and those of the rows before it (never its own ``y``).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._memory import check_memory
from ..utils._validation import check_int, check_random_state


def check_fit_data(estimator, X, y, min_rows):
    """``X, y`` validated (float64, finite), with ``lag_column`` inside ``X``."""
    X, y = validate_data(estimator, X, y, dtype=np.float64, y_numeric=True)
    if estimator.lag_column >= X.shape[1]:
        raise ValueError(f"lag_column={estimator.lag_column} is not a column of X, which has "
                         f"{X.shape[1]}; it must be the column of the previous day's return "
                         "(lag_1 of make_lagged_features is column 0).")
    if y.shape[0] < min_rows:
        raise ValueError(f"{type(estimator).__name__} needs at least {min_rows} training rows "
                         f"(returns); got n_samples={y.shape[0]}.")
    return X, y


def lagged_returns(estimator, X):
    """Column ``lag_column`` of the validated prediction rows ``X``: the previous returns."""
    check_is_fitted(estimator)
    X = validate_data(estimator, X, dtype=np.float64, reset=False)
    return X[:, estimator.lag_column]


def empirical_tail(values, level, axis=-1):
    """VaR and ES (positive losses) of the empirical distribution of ``values``.

    The VaR is minus the ``1 - level`` quantile (linear interpolation, numpy's default),
    the ES minus the mean of the values at or below it, along ``axis``.
    """
    quantile = np.quantile(values, 1 - level, axis=axis, keepdims=True)
    tail = np.where(values <= quantile, values, np.nan)
    return -np.squeeze(quantile, axis=axis), -np.nanmean(tail, axis=axis)


def residual_tail(std_resid, level):
    """Quantile and tail mean ``E[z | z <= q]`` of the standardised residuals at
    probability ``1 - level``: the innovation tail of filtered historical simulation."""
    var, es = empirical_tail(std_resid, level)
    return -float(var), -float(es)


def draw_location_scale(mu, sigma, n_draws, innovations, random_state):
    """Draws ``mu + sigma z`` of each row, ``z`` from ``innovations(size, rng)``.

    The memory of the draws is estimated first and refused with the estimate when it is
    too large; ``n_draws`` is validated (>= 1).
    """
    n_draws = check_int(n_draws, "n_draws", min_value=1)
    check_memory(3 * 8.0 * sigma.shape[0] * n_draws,
                 f"sample_y of {sigma.shape[0]} rows with n_draws={n_draws}",
                 "draw fewer per call.")
    rng = check_random_state(random_state)
    return mu + sigma[:, None] * innovations((sigma.shape[0], n_draws), rng)
