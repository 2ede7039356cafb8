"""What the return-series baselines share: the layout of ``X`` and ``y``, and tail figures.

A return-series model (:class:`GARCHRiskEstimator`, :class:`HistoricalSimulation`) reads
the same ``X, y`` as :class:`~skqegm.TailRiskEstimator`, e.g. from
:func:`~skqegm.preprocessing.make_lagged_features`: ``y[t]`` is the return of day ``t``
and column ``lag_column`` of ``X`` the return of the day before, ``y[t - 1]``. The
prediction rows continue the series, so the forecast of a row uses that row's lagged
return and those of the rows before it (never its own ``y``).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data


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
