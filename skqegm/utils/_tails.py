"""The package's rare-event rules in one place: thresholds from data, flags beyond them, and
the generalized Pareto fit of what lies beyond.

Thresholds always have the layout of ``tail_threshold_``: an array of shape
``(2, n_columns)``, row 0 the lower and row 1 the upper threshold of each column. A value
is rare when it lies strictly beyond the threshold of its side, so ties at a threshold
(a constant column, say) never count as rare.
"""

import numpy as np
from scipy.stats import genpareto

from ._scaling import mean_std

RULES = ("quantile", "sigma")
SIDES = ("lower", "upper", "both")


def tail_thresholds(values, rule="quantile", *, tail_fraction=0.05, k=2.5):
    """Lower and upper thresholds of each column of ``values`` (n_rows, n_columns).

    ``"quantile"``: the ``tail_fraction`` and ``1 - tail_fraction`` quantiles (eq. 9);
    ``"sigma"``: the mean minus and plus ``k`` standard deviations (``ddof=0``, eq. 8).
    """
    values = np.asarray(values, dtype=np.float64)
    if rule == "quantile":
        return np.quantile(values, [tail_fraction, 1 - tail_fraction], axis=0)
    mean, std = mean_std(values)
    return np.stack([mean - k * std, mean + k * std])


def flag_beyond(values, thresholds, side):
    """Boolean flags of ``values`` strictly beyond ``thresholds`` (2, n_columns) on ``side``."""
    if side == "lower":
        return values < thresholds[0]
    if side == "upper":
        return values > thresholds[1]
    return (values < thresholds[0]) | (values > thresholds[1])


def fit_gpd(excess):
    """Maximum-likelihood ``(shape, scale)`` of a generalized Pareto law (location 0) fitted
    to the non-negative exceedances ``excess`` over a threshold (``scipy.stats.genpareto``)."""
    # scipy's starting values fail on excesses below about 1e-11 or above about 1e15
    # (measured on scipy 1.17: shape 1.3 for 0.3 at 1e-12, 80 at 1e50) and overflow beyond
    # 1e154: excesses far from 1 are fitted in units of the largest (the fit is
    # scale-equivariant); those near 1 as they are, so that the fit is scipy's own.
    largest = excess.max()
    unit = largest if not 1e-6 < largest < 1e6 else 1.0
    shape, _, scale = genpareto.fit(excess / unit, floc=0)
    return float(shape), float(scale * unit)


def forecaster(estimator):
    """The estimator whose ``side`` a model's VaR and ES forecasts follow.

    A pipeline's last step; inside a wrapper without a ``side`` of its own (such as
    :class:`~skqegm.FilteredRiskEstimator`, or a fitted ``GridSearchCV``), the model it
    wraps: the fitted ``best_estimator_`` of a search (whose grid may set ``side``), else
    the fitted ``estimator_``, else its ``estimator`` parameter.
    """
    from sklearn.pipeline import Pipeline

    while True:
        if isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
            continue
        params = estimator.get_params(deep=False) if hasattr(estimator, "get_params") else {}
        if "side" in params:
            return estimator
        inner = getattr(estimator, "best_estimator_", None)
        inner = getattr(estimator, "estimator_", None) if inner is None else inner
        inner = params.get("estimator") if inner is None else inner
        if not hasattr(inner, "get_params"):
            return estimator
        estimator = inner


def forecast_side(estimator):
    """``"lower"`` or ``"upper"``: the tail of ``estimator``'s forecasts (see
    :func:`forecaster`), or None when it has no ``side``."""
    side = getattr(forecaster(estimator), "side", None)
    return side if isinstance(side, str) and side in ("lower", "upper") else None
