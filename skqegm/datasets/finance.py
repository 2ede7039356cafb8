"""Real financial data that works offline: S&P 500 prices shipped with the package."""

import gzip
from importlib import resources

import numpy as np

from ..utils._validation import check_option

_SP500_FILE = "sp500_adj_close.csv.gz"


def _read_sp500():
    """Dates (``datetime64[D]``) and adjusted closing prices from the shipped file."""
    with resources.files("skqegm.datasets").joinpath("data", _SP500_FILE).open("rb") as raw:
        with gzip.open(raw, "rt") as text:
            rows = np.loadtxt(text, delimiter=",", skiprows=1, dtype=str)
    return rows[:, 0].astype("datetime64[D]"), rows[:, 1].astype(np.float64)


def load_sp500_returns(as_frame=False):
    """Daily S&P 500 log returns, 1999-01-05 to 2018-12-31 (5,030 trading days).

    The prices are the adjusted closing prices (the "Adj Close" column) of the S&P 500
    file that the ``arch`` package ships (``arch.data.sp500``, from Yahoo Finance), stored
    inside skqegm, so nothing is downloaded and no extra package is needed. Returns are
    fractions (``log(p_t / p_{t-1})``, about 0.012 standard deviation), not percentages;
    the paper's crash label is the lower tail (e.g. ``make_tail_labels(r, k=2.5)``).

    Parameters
    ----------
    as_frame : bool, default=False
        If True, return a pandas Series indexed by date (``DatetimeIndex``) instead of a
        numpy array (needs pandas).

    Returns
    -------
    returns : ndarray of shape (5030,) or pandas.Series
        Daily log returns in time order; the Series is named ``"sp500_log_return"``.

    See Also
    --------
    load_sp500_dates : the trading date of each return.

    Examples
    --------
    >>> from skqegm.datasets import load_sp500_returns
    >>> r = load_sp500_returns()
    >>> r.shape
    (5030,)
    >>> s = load_sp500_returns(as_frame=True)
    >>> str(s.index[0].date()), str(s.index[-1].date())
    ('1999-01-05', '2018-12-31')
    """
    check_option(as_frame, "as_frame", (False, True))  # as the other loaders: "no" is True
    dates, prices = _read_sp500()
    returns = np.diff(np.log(prices))
    if not as_frame:
        return returns
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("as_frame=True needs pandas: pip install skqegm[data]  "
                          "(or: pip install pandas)") from exc
    return pd.Series(returns, index=pd.DatetimeIndex(dates[1:], name="Date"),
                     name="sp500_log_return")


def load_sp500_dates():
    """The trading date of each return of :func:`load_sp500_returns`.

    Returns
    -------
    dates : ndarray of shape (5030,), dtype datetime64[D]

    Examples
    --------
    >>> from skqegm.datasets import load_sp500_dates
    >>> load_sp500_dates()[[0, -1]]
    array(['1999-01-05', '2018-12-31'], dtype='datetime64[D]')
    """
    return _read_sp500()[0][1:]
