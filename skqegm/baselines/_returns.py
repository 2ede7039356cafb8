"""What the return-series baselines share: the layout of ``X`` and ``y``, and tail figures.

A return-series model (:class:`GARCHRiskEstimator`, :class:`EWMARiskEstimator`,
:class:`HistoricalSimulation`) reads the same ``X, y`` as
:class:`~skqegm.TailRiskEstimator`, e.g. from
:func:`~skqegm.preprocessing.make_lagged_features`: ``y[t]`` is the return of day ``t``
and column ``lag_column`` of ``X`` the return of the day before, ``y[t - 1]``. The
prediction rows continue the series, so the forecast of a row uses that row's lagged
return and those of the rows before it (never its own ``y``).
"""

import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._fit_params import fit_param
from ..utils._memory import check_memory
from ..utils._sampling import draw_random_state
from ..utils._time_order import check_time_order
from ..utils._validation import (
    check_confidence_level,
    check_int,
    check_not_strings,
)
from ..utils._warnings import caller_stacklevel


def check_fit_data(estimator, X, y, min_rows):
    """``X, y`` validated (float64, finite), with ``lag_column`` inside ``X``."""
    check_not_strings(y, "y")
    # The rows are the series in time order: newest first, the "past" of each forecast
    # would be its future.
    caller = f"{type(estimator).__name__}.fit"
    check_time_order(X, "X", caller=caller)
    check_time_order(y, "y", caller=caller)
    X, y = validate_data(estimator, X, y, dtype=np.float64, y_numeric=True)
    if estimator.lag_column >= X.shape[1]:
        raise ValueError(f"lag_column={estimator.lag_column} is not a column of X, which has "
                         f"{X.shape[1]}; it must be the column of the previous day's return "
                         "(lag_1 of make_lagged_features is column 0).")
    if y.shape[0] < min_rows:
        raise ValueError(f"{type(estimator).__name__} needs at least {min_rows} training rows "
                         f"(returns); got n_samples={y.shape[0]}.")
    lagged = _warn_if_not_lagged(estimator, X, y)
    # The prediction rows continue the series if the first one's lagged return is the
    # last training return (lagged_returns checks it); unchecked when the column is no
    # lagged return (warned above).
    estimator._last_return = float(y[-1]) if lagged else None
    return X, y


def _warn_if_not_lagged(estimator, X, y):
    """Warn when column ``lag_column`` of most training rows is not the previous ``y``.

    The forecasts continue the series from that column, so a column in other units (a
    scaler before the model in a pipeline) gives forecasts in mixed units, silently. A
    few mismatches (rows dropped from a series) are allowed: the majority decides.
    Returns whether the column is the previous return.
    """
    lagged, previous = X[1:, estimator.lag_column], y[:-1]
    mismatched = int(np.sum(~np.isclose(lagged, previous, rtol=1e-6, atol=0.0)))
    if mismatched <= len(previous) / 2:
        return True
    warnings.warn(
        f"Column lag_column={estimator.lag_column} of X is not the previous return "
        f"(X[t, {estimator.lag_column}] != y[t - 1] in {mismatched} of {len(previous)} "
        f"rows), yet {type(estimator).__name__} forecasts by continuing the series "
        "from it. Pass X as make_lagged_features builds it, unscaled: a scaler before "
        "this model in a pipeline rescales that column too.",
        UserWarning, stacklevel=caller_stacklevel())
    return False


def lagged_returns(estimator, X):
    """Column ``lag_column`` of the validated prediction rows ``X``: the previous returns.

    Warns if several rows do not continue the training series (the first one's lagged
    return is not the last training return): each model continues the series from the
    end of its training rows (a filter's state, historical simulation's window), so the
    first forecasts of rows elsewhere start from a state that is not theirs. KFold's
    validation rows before its training rows were forecast from the future, silently.
    A single row is left alone: tomorrow's forecast, or a scenario ("had today's return
    been -2%"), which the model answers as asked.
    """
    check_is_fitted(estimator)
    X = validate_data(estimator, X, dtype=np.float64, reset=False)
    column = fit_param(estimator, "lag_column")
    lagged = X[:, column]
    last = getattr(estimator, "_last_return", None)  # None: unchecked, or an old pickle
    if last is not None and lagged.shape[0] > 1 and not np.isclose(lagged[0], last,
                                                                   rtol=1e-6, atol=0.0):
        name = type(estimator).__name__
        warnings.warn(
            f"The prediction rows do not continue the training series of {name}: the "
            f"lagged return of the first (X[0, {column}] = {lagged[0]:.6g}) "
            f"is not the last training return ({last:.6g}). {name} forecasts by "
            "continuing the series from the end of its training rows (the state of its "
            "filter, or its window of past returns), so the first forecasts here start "
            "from the state of other days (for rows before the training rows, as KFold "
            "validates on, from the future), until it is forgotten. Forecast the rows "
            "right after the training rows: walk_forward, or cv=sklearn.model_selection."
            "TimeSeriesSplit(n_splits) in cross-validation and searches (rows predicted "
            "in-sample, the training rows themselves, start from the end as well).",
            UserWarning, stacklevel=caller_stacklevel())
    return lagged


def check_forecast_finite(estimator, X, values, what):
    """``values``, or a ``ValueError`` when a forecast from finite inputs overflowed,
    naming the lagged returns' size against the training returns' volatility.

    Rows far beyond the training scale (a lag column in other units, ~1e160 times the
    returns) overflow the filters' squares: such rows are a mistake of units, refused
    rather than answered with inf or NaN.
    """
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    lagged = np.abs(lagged_returns(estimator, X))
    trained = float(np.max(estimator.conditional_volatility_))
    raise ValueError(
        f"{type(estimator).__name__}.{what}: {int(np.sum(bad))} of {np.size(values)} "
        "forecasts cannot be computed in float64 (they overflow). The lagged returns (column "
        f"lag_column={fit_param(estimator, 'lag_column')} of X) reach "
        f"{np.max(lagged):.3g}, against "
        f"a largest training volatility of {trained:.3g} (conditional_volatility_): "
        "pass X in the units of the training returns, as make_lagged_features builds it."
    )


def empirical_tail(values, level, axis=-1):
    """VaR and ES (positive losses) of the empirical distribution of ``values``.

    The VaR is minus the ``1 - level`` quantile (linear interpolation, numpy's default),
    the ES minus the mean of the ``m = floor((1 - level)(n - 1)) + 1`` smallest of the
    ``n`` values along ``axis``: those at or below the quantile when none ties with it.
    Counting them rather than comparing them with the quantile keeps ties at it out of
    the tail: 5 losses of 1% among 250 returns, the rest 0, have a 97.5% quantile of 0,
    and the mean of all the values at or below it, 0.02%, was the ES, where the 7
    smallest give 0.71% (the worst 2.5% of the law, 0.8%).
    """
    values = np.moveaxis(values, axis, -1)
    quantile = np.quantile(values, 1 - level, axis=-1)
    n_tail = int(np.floor((values.shape[-1] - 1) * (1 - level))) + 1
    tail = np.partition(values, n_tail - 1, axis=-1)[..., :n_tail]
    return 0.0 - quantile, 0.0 - tail.mean(axis=-1)  # 0.0, never -0.0, for a zero quantile


def residual_tail(std_resid, level):
    """Quantile and tail mean ``E[z | z <= q]`` of the standardised residuals at
    probability ``1 - level``: the innovation tail of filtered historical simulation."""
    var, es = empirical_tail(std_resid, level)
    return -float(var), -float(es)


class LocationScaleRiskMixin:
    """VaR, ES and draws of a location-scale forecast ``y = mu + sigma z`` of each row.

    The volatility models of the baselines share everything but their filter and their
    innovation law. A subclass provides ``predict_volatility(X)`` (``sigma`` of each
    row), ``_mu`` (the location), ``_standardized_tail(level)`` (the quantile ``q`` and
    tail mean ``e = E[z | z <= q]`` of ``z`` at probability ``1 - level``) and
    ``_innovations(size, rng)`` (draws of ``z``).
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    def predict_var(self, X, level=0.99):
        """Value-at-risk at ``level``, a positive loss: ``-(mu + sigma q)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows continuing the training series (see the class documentation).
        level : float, default=0.99
            Confidence level in (0.5, 1).

        Returns
        -------
        var : ndarray of shape (n_samples,)
        """
        level = check_confidence_level(level)
        quantile, _ = self._standardized_tail(level)
        with np.errstate(over="ignore", invalid="ignore"):
            var = -(self._mu + self.predict_volatility(X) * quantile)
        return check_forecast_finite(self, X, var, "predict_var")

    def predict_es(self, X, level=0.99):
        """Expected shortfall at ``level``, a positive loss: ``-(mu + sigma e)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows continuing the training series (see the class documentation).
        level : float, default=0.99
            Confidence level in (0.5, 1).

        Returns
        -------
        es : ndarray of shape (n_samples,)
        """
        level = check_confidence_level(level)
        _, tail_mean = self._standardized_tail(level)
        with np.errstate(over="ignore", invalid="ignore"):
            es = -(self._mu + self.predict_volatility(X) * tail_mean)
        if not np.isfinite(tail_mean):  # a tail without a mean: inf, warned at fit
            return es
        return check_forecast_finite(self, X, es, "predict_es")

    def sample_y(self, X, n_draws=1000, random_state=None):
        """Draws of each row's one-day-ahead return, ``mu + sigma z``.

        ``z`` is drawn from the innovation law whose tail :meth:`predict_var` and
        :meth:`predict_es` read (see the class documentation): the predictive
        distribution, e.g. for :func:`~skqegm.metrics.acerbi_szekely_test`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows continuing the training series (see the class documentation).
        n_draws : int, default=1000
            Draws per row, >= 1.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an int gives the same samples every time. None uses the
            estimator's ``random_state``, and this estimator has none: each call
            draws afresh.

        Returns
        -------
        draws : ndarray of shape (n_samples, n_draws)
        """
        n_draws = check_int(n_draws, "n_draws", min_value=1)
        sigma = self.predict_volatility(X)
        check_memory(3 * 8.0 * sigma.shape[0] * n_draws,
                     f"sample_y of {sigma.shape[0]} rows with n_draws={n_draws}",
                     "draw fewer per call.")
        rng = draw_random_state(self, random_state)
        with np.errstate(over="ignore", invalid="ignore"):
            draws = self._mu + sigma[:, None] * self._innovations((sigma.shape[0], n_draws), rng)
        return check_forecast_finite(self, X, draws, "sample_y")
