"""Historical simulation: VaR and expected shortfall from a rolling window of past returns."""

import numpy as np
from sklearn.utils.validation import check_array, column_or_1d

from ..utils._validation import check_confidence_level, check_int


def historical_simulation(returns, first, levels=(0.975, 0.99), window=250):
    """Historical simulation: VaR, ES and the 90% interval from the previous ``window`` days.

    Each day ``t`` from ``first`` on is forecast from the empirical quantiles of
    ``returns[t - window:t]`` alone: its VaR at ``level`` is minus the ``1 - level``
    quantile of the window, its ES minus the mean of the window's returns at or below that
    quantile, and its 90% interval the window's 5% and 95% quantiles.

    Parameters
    ----------
    returns : array-like of shape (n_days,)
        The return series, in time order, finite.
    first : int
        The first day forecast, from ``window`` to ``n_days - 1``.
    levels : tuple of float, default=(0.975, 0.99)
        VaR confidence levels, each in (0.5, 1).
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
    returns = column_or_1d(check_array(returns, ensure_2d=False, dtype=np.float64,
                                       input_name="returns"))
    window = check_int(window, "window", min_value=2)
    first = check_int(first, "first", min_value=window, max_value=len(returns) - 1)
    levels = [check_confidence_level(level, "levels") for level in np.atleast_1d(levels)]
    windows = np.lib.stride_tricks.sliding_window_view(returns[:-1], window)[first - window:]
    out = {}
    for level in levels:
        quantile = np.quantile(windows, 1 - level, axis=1)
        tail = np.where(windows <= quantile[:, None], windows, np.nan)
        out[level] = (-quantile, -np.nanmean(tail, axis=1))
    interval = np.quantile(windows, [0.05, 0.95], axis=1).T
    return out, interval
