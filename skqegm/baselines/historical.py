"""Historical simulation: VaR and expected shortfall from a rolling window of past returns."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils.validation import check_array, column_or_1d

from ..utils._fit_params import fit_param, record_fit_params
from ..utils._memory import check_memory
from ..utils._sampling import draw_random_state
from ..utils._state import kept_on_failure
from ..utils._validation import (
    IntervalNotBool,
    check_confidence_level,
    check_int,
    check_not_strings,
)
from ._returns import check_fit_data, empirical_tail, lagged_returns


def historical_simulation(returns, first, levels=(0.975, 0.99), window=250):
    """Historical simulation: VaR, ES and the 90% interval from the previous ``window`` days.

    Each day ``t`` from ``first`` on is forecast from the empirical quantiles of
    ``returns[t - window:t]`` alone: its VaR at ``level`` is minus the ``1 - level``
    quantile of the window (linear interpolation), its ES minus the mean of the window's
    ``floor((1 - level)(window - 1)) + 1`` smallest returns (those at or below that
    quantile; returns tied with it count only as far as that number), and its 90%
    interval the window's 5% and 95% quantiles.

    Parameters
    ----------
    returns : array-like of shape (n_days,)
        The return series, in time order, finite.
    first : int
        The first day forecast, from ``window`` to ``n_days - 1``.
    levels : tuple of float, default=(0.975, 0.99)
        VaR confidence levels, each in (0.5, 1); at least one.
    window : int, default=250
        Number of past returns each forecast uses.

    Returns
    -------
    risk : dict
        ``{level: (var, es)}``, each an ndarray of shape ``(n_days - first,)``, as positive
        losses.
    interval : ndarray of shape (n_days - first, 2)
        Lower and upper bounds of the 90% interval of each day.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import historical_simulation
    >>> r = np.random.default_rng(0).standard_t(4, size=300) / 100
    >>> risk, interval = historical_simulation(r, first=250, levels=(0.99,), window=100)
    >>> var, es = risk[0.99]
    >>> var.shape, interval.shape
    ((50,), (50, 2))
    >>> bool(np.isclose(var[0], -np.quantile(r[150:250], 0.01))), bool(np.all(es >= var))
    (True, True)
    """
    check_not_strings(returns, "returns")
    returns = column_or_1d(check_array(returns, ensure_2d=False, dtype=np.float64,
                                       input_name="returns"))
    window = check_int(window, "window", min_value=2)
    first = check_int(first, "first", min_value=window, max_value=len(returns) - 1)
    levels = [check_confidence_level(level, "levels") for level in np.atleast_1d(levels)]
    if not levels:
        raise ValueError("levels must hold at least one VaR confidence level, such as "
                         "(0.99,); got none.")
    windows = np.lib.stride_tricks.sliding_window_view(returns[:-1], window)[first - window:]
    out = {level: empirical_tail(windows, level, axis=1) for level in levels}
    interval = np.quantile(windows, [0.05, 0.95], axis=1).T
    return out, interval


class HistoricalSimulation(BaseEstimator):
    """Historical simulation as an estimator: VaR and ES of the previous ``window`` days.

    The estimator form of :func:`historical_simulation`, with the ``predict_var`` /
    ``predict_es`` API of :class:`~skqegm.TailRiskEstimator`, for
    :func:`~skqegm.model_selection.walk_forward` and the scorers. The forecast of a day
    is the empirical distribution of the ``window`` returns before it: its VaR minus the
    ``1 - level`` quantile (linear interpolation), its ES minus the mean of the
    ``floor((1 - level)(window - 1)) + 1`` smallest returns (those at or below that
    quantile; returns tied with it count only as far as that number, so that a run of
    zero returns at the quantile does not dilute the tail). Neither reaches beyond the
    window's worst return: with at most ``1 / (1 - level)`` returns in the window
    (100 at 99%) the VaR lies between its two worst returns and the ES is the worst.

    ``X`` and ``y`` are those of :class:`~skqegm.TailRiskEstimator` (see
    :func:`~skqegm.preprocessing.make_lagged_features`): ``y`` the returns in time order,
    column ``lag_column`` of ``X`` the previous day's return. The rows given to
    :meth:`predict_var` continue the series after the training rows: the window of a row
    holds the last training returns before the last one, then the lagged returns of the
    prediction rows up to and including its own (which is the last training return for
    the first row, when the rows continue the series). A row's own return is never used.

    Parameters
    ----------
    window : int, default=250
        Number of past returns each forecast uses, >= 2; ``fit`` needs at least as many
        rows.
    lag_column : int, default=0
        Column of ``X`` that holds the previous day's return, >= 0.

    Attributes
    ----------
    history_ : ndarray of shape (window - 1,)
        The training returns before the last one that the first prediction row's window
        starts with.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import HistoricalSimulation, historical_simulation
    >>> r = np.random.default_rng(0).standard_t(4, size=400) / 100
    >>> X, y = r[:-1, None], r[1:]              # column 0: the previous return
    >>> model = HistoricalSimulation(window=100).fit(X[:299], y[:299])
    >>> var = model.predict_var(X[299:], 0.99)
    >>> risk, _ = historical_simulation(r, first=300, levels=(0.99,), window=100)
    >>> bool(np.allclose(var, risk[0.99][0]))
    True
    """

    _parameter_constraints: dict = {
        "window": [IntervalNotBool(Integral, 2, None, closed="left")],
        "lag_column": [IntervalNotBool(Integral, 0, None, closed="left")],
    }

    def __init__(self, window=250, lag_column=0):
        self.window = window
        self.lag_column = lag_column

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    @kept_on_failure
    def fit(self, X, y):
        """Keep the last training returns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Column ``lag_column`` holds the previous return of each row.
        y : array-like of shape (n_samples,)
            The returns, in time order, finite; at least ``window`` of them.

        Returns
        -------
        self : HistoricalSimulation
        """
        record_fit_params(self)  # what the predictions read, whatever set_params changes
        _, y = check_fit_data(self, X, y, min_rows=self.window)
        self.history_ = y[y.shape[0] - self.window:-1].copy()
        return self

    def _windows(self, X):
        series = np.concatenate([self.history_, lagged_returns(self, X)])
        return np.lib.stride_tricks.sliding_window_view(series, fit_param(self, "window"))

    def predict_var(self, X, level=0.99):
        """Value-at-risk at ``level``, a positive loss.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows continuing the training series.
        level : float, default=0.99
            Confidence level in (0.5, 1).

        Returns
        -------
        var : ndarray of shape (n_samples,)
        """
        level = check_confidence_level(level)
        return empirical_tail(self._windows(X), level, axis=1)[0]

    def predict_es(self, X, level=0.99):
        """Expected shortfall at ``level``, a positive loss.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows continuing the training series.
        level : float, default=0.99
            Confidence level in (0.5, 1).

        Returns
        -------
        es : ndarray of shape (n_samples,)
        """
        level = check_confidence_level(level)
        return empirical_tail(self._windows(X), level, axis=1)[1]

    def sample_y(self, X, n_draws=1000, random_state=None):
        """Draws of each row's return: its window's returns, drawn with replacement.

        The predictive distribution whose VaR and ES :meth:`predict_var` and
        :meth:`predict_es` give (up to the interpolation of the quantile), e.g. for
        :func:`~skqegm.metrics.acerbi_szekely_test`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows continuing the training series.
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
        windows = self._windows(X)
        check_memory(2 * 8.0 * windows.shape[0] * n_draws,
                     f"sample_y of {windows.shape[0]} rows with n_draws={n_draws}",
                     "draw fewer per call.")
        rng = draw_random_state(self, random_state)
        picks = rng.randint(windows.shape[1], size=(windows.shape[0], n_draws))
        return np.take_along_axis(windows, picks, axis=1)
