"""Financial features: log returns and look-ahead-free lagged predictors."""

import numpy as np
from sklearn.utils.validation import check_array

from ..utils._memory import chunk_rows
from ..utils._scaling import power_of_two_scale
from ..utils._time_order import check_time_order, is_pandas
from ..utils._validation import as_1d, check_int, check_not_booleans, check_not_strings


def log_returns(prices):
    """Log returns ``log(p_t / p_{t-1})`` of a price series, first row dropped.

    Parameters
    ----------
    prices : array-like of shape (n_samples,) or (n_samples, n_series), Series or DataFrame
        Strictly positive, finite prices in time order (at least two rows; booleans are
        refused); a pandas index of dates (or of ISO date strings) must be strictly
        increasing, without a missing date (NaT). A panel (a MultiIndex of entity and
        date) is refused: apply the function per entity, e.g.
        ``prices.groupby(level=0, group_keys=False).apply(log_returns)``.

    Returns
    -------
    returns : ndarray, Series or DataFrame with ``n_samples - 1`` rows
        The same kind as ``prices``: a numpy array keeps its number of dimensions; a
        pandas object keeps its columns / name and the index from the second row on.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.preprocessing import log_returns
    >>> log_returns(np.array([100.0, 110.0, 99.0])).round(4)
    array([ 0.0953, -0.1054])
    """
    _check_numbers(prices, "prices")
    check_time_order(prices, "prices", caller="log_returns")
    values = check_array(prices, ensure_2d=False, allow_nd=True, dtype=np.float64,
                         input_name="prices")
    if values.ndim not in (1, 2):
        raise ValueError(f"prices must be 1-D or 2-D; got an array of shape {values.shape}.")
    if values.shape[0] < 2:
        raise ValueError(f"prices needs at least 2 rows to form a return; got {values.shape[0]}.")
    if np.any(values <= 0):
        raise ValueError("prices must be strictly positive to take logarithms.")
    returns = np.diff(np.log(values), axis=0)
    if not is_pandas(prices):
        return returns
    import pandas as pd

    index = prices.index[1:]
    if returns.ndim == 1:
        return pd.Series(returns, index=index, name=prices.name)
    return pd.DataFrame(returns, index=index, columns=prices.columns)


def _check_numbers(values, name):
    # check_array reads True as 1.0: a flag column passed by mistake gave log returns of 0
    # and lagged "returns" of 0 and 1, silently.
    check_not_booleans(values, name)
    # and reads numeric strings silently, as the rest of skqegm does not, and dates as
    # counts of their unit (a date column gave "returns" of 5.1e-5 a day)
    check_not_strings(values, name)


def _check_windows(values, name, min_value):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence of integers; got {values!r}.")
    values = tuple(values)
    for value in values:
        check_int(value, f"each of {name}", min_value=min_value)
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value; got {values!r}.")
    return tuple(int(v) for v in values)


def _lagged_matrix(r, lags, vol_windows, start):
    n = r.shape[0]
    columns = [r[start - lag:n - lag] for lag in lags]
    # The standard deviations are taken of r scaled by a power of two (exact), so that
    # the squares neither overflow (returns of 1e155 gave inf) nor underflow (1e-170, 0).
    scale = power_of_two_scale(r)
    for window in vol_windows:
        # windows[i] covers r[i], ..., r[i + window - 1]; row t needs r[t - window .. t - 1],
        # i.e. the window starting at t - window.
        windows = np.lib.stride_tricks.sliding_window_view(r * scale, window)
        columns.append(_rolling_std(windows[start - window:n - window]) / scale)
    return np.column_stack(columns)


def _rolling_std(windows):
    """Row standard deviations (``ddof=1``) of a sliding window view, in pieces.

    ``std`` copies the rows it reduces (twice: deviations and their squares), so a whole
    view of n rows of a w-row window costs 16 n w bytes: pieces that fit scikit-learn's
    ``working_memory`` keep it bounded. Each row is reduced alone: the same values.
    """
    step = chunk_rows(windows.shape[0], 16 * windows.shape[1])
    out = np.empty(windows.shape[0])
    for begin in range(0, windows.shape[0], step):
        out[begin:begin + step] = windows[begin:begin + step].std(axis=1, ddof=1)
    return out


def make_lagged_features(returns, lags=(1, 2, 5), vol_windows=(5, 22)):
    """Lagged returns and rolling volatilities to predict the next return.

    Row ``t`` of ``X`` holds ``r[t - l]`` for every lag ``l`` and the sample standard
    deviation (``ddof=1``) of ``r[t - w], ..., r[t - 1]`` for every window ``w``; the
    target is ``y[t] = r[t]``. Every feature uses data up to ``t - 1`` only (no
    look-ahead). The first ``max(lags + vol_windows)`` returns, whose features are not
    all defined, only serve as history.

    Parameters
    ----------
    returns : array-like of shape (n_samples,) or (n_samples, 1), Series or DataFrame
        Returns in time order, finite (booleans are refused); a pandas index of dates
        (or of ISO date strings) must be strictly increasing, without a missing date
        (NaT); a panel (a MultiIndex of entity and date) is refused: apply the function
        to each entity's rows. A single column counts as 1-D (a one-column frame as its
        Series).
    lags : sequence of int, default=(1, 2, 5)
        Distinct lags, each >= 1.
    vol_windows : sequence of int, default=(5, 22)
        Distinct rolling-volatility windows, each >= 2.

    Returns
    -------
    X : ndarray of shape (n_rows, len(lags) + len(vol_windows)) or DataFrame
        Columns ``lag_<l>`` then ``vol_<w>``; a DataFrame with the matching part of the
        index when ``returns`` is a Series.
    y : ndarray of shape (n_rows,) or Series
        The return to predict, aligned with ``X``; ``n_rows = n_samples - max(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.preprocessing import make_lagged_features
    >>> r = np.arange(8.0)
    >>> X, y = make_lagged_features(r, lags=(1, 2), vol_windows=(3,))
    >>> X
    array([[2., 1., 1.],
           [3., 2., 1.],
           [4., 3., 1.],
           [5., 4., 1.],
           [6., 5., 1.]])
    >>> y
    array([3., 4., 5., 6., 7.])
    """
    lags = _check_windows(lags, "lags", 1)
    vol_windows = _check_windows(vol_windows, "vol_windows", 2)
    if not lags and not vol_windows:
        raise ValueError("lags and vol_windows cannot both be empty: X would have no column.")
    if is_pandas(returns) and returns.ndim == 2 and returns.shape[1] == 1:
        returns = returns.iloc[:, 0]  # a one-column frame (log_returns of one) is its column
    _check_numbers(returns, "returns")
    check_time_order(returns, "returns", caller="make_lagged_features")
    r = as_1d(check_array(returns, ensure_2d=False, allow_nd=True, dtype=np.float64,
                          input_name="returns"), "returns")
    start = max(lags + vol_windows)
    if r.shape[0] <= start:
        raise ValueError(
            f"returns has {r.shape[0]} rows; lags and vol_windows need more than {start}."
        )
    X = _lagged_matrix(r, lags, vol_windows, start)
    y = r[start:]
    if not is_pandas(returns):
        return X, y
    import pandas as pd

    names = [f"lag_{lag}" for lag in lags] + [f"vol_{w}" for w in vol_windows]
    index = returns.index[start:]
    return pd.DataFrame(X, index=index, columns=names), pd.Series(y, index=index,
                                                                  name=returns.name)

