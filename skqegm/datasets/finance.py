"""Real financial data that works offline: S&P 500 returns shipped in the arch wheel."""

import numpy as np


def load_sp500_returns(as_frame=False):
    """Daily S&P 500 log returns, 1999-01-05 to 2018-12-31 (5,030 trading days).

    The prices are the "Adj Close" column of ``arch.data.sp500.load()``, a data file
    inside the ``arch`` wheel, so nothing is downloaded. Returns are fractions
    (``log(p_t / p_{t-1})``, about 0.012 standard deviation), not percentages; the paper's
    crash label is the lower tail (e.g. ``make_tail_labels(r, k=2.5)``).

    Parameters
    ----------
    as_frame : bool, default=False
        If True, return a pandas Series indexed by date (``DatetimeIndex``) instead of a
        numpy array.

    Returns
    -------
    returns : ndarray of shape (5030,) or pandas.Series
        Daily log returns in time order; the Series is named ``"sp500_log_return"``.

    Raises
    ------
    ImportError
        If ``arch`` is not installed (``pip install skqegm[data]``).

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
    try:
        from arch.data import sp500
    except ImportError as exc:
        raise ImportError(
            "load_sp500_returns needs the 'arch' package, whose wheel ships the S&P 500 "
            "data file; install it with: pip install skqegm[data]  (or: pip install arch)"
        ) from exc
    prices = sp500.load()["Adj Close"].astype(np.float64)
    returns = np.log(prices).diff().iloc[1:].rename("sp500_log_return")
    if as_frame:
        return returns
    return returns.to_numpy()
