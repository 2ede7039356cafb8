"""Real climate data that works offline: daily rainfall in south-west England, 1914-1962."""

import gzip
from importlib import resources

import numpy as np

from ..utils._validation import check_option, check_real

_RAIN_FILE = "sw_england_daily_rainfall.csv.gz"
_RAIN_NAME = "rain_mm"


def _read_rainfall():
    with resources.files("skqegm.datasets").joinpath("data", _RAIN_FILE).open("rb") as raw:
        with gzip.open(raw, "rt") as text:
            return np.loadtxt(text, skiprows=1, dtype=np.float64)


def _rare_flags(rain, tail_fraction, threshold):
    if threshold is None:
        threshold = np.quantile(rain, 1.0 - tail_fraction)
    return (rain > threshold).astype(np.int64)


def _pandas():
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("as_frame=True needs pandas: pip install skqegm[data]  "
                          "(or: pip install pandas)") from exc
    return pd


def load_daily_rainfall(*, return_X_y=False, tail_fraction=0.01, threshold=None,
                        as_frame=False):
    """Daily rainfall (mm) at a location in south-west England, 1914-1962 (17,531 days).

    The paper's climate domain (eq. 9): rare events are the wettest days, above the upper
    1% quantile. The series is a classic of extreme-value statistics: most days are dry or
    light (47% are exactly 0 mm), a few exceed 30 mm and the wettest is 86.6 mm. It is
    the ``rain`` data set of the R package ismev (Coles and Tawn, 1996; analysed with a
    generalized Pareto model in chapter 4 of Coles, 2001), stored inside skqegm, so
    nothing is downloaded. The source gives no dates: the days are in time order, about
    365 observations a year.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(X, y)``: the rainfall as one feature column and the rare flag.
    tail_fraction : float, default=0.01
        Share of the upper tail called rare, in (0, 1): a day is rare when its rain is
        strictly above the empirical ``1 - tail_fraction`` quantile of the whole series
        (eq. 9). It is computed on all 17,531 days (48 years of 365.25 days; the source
        gives 1914 to 1962, 49 calendar years), so it looks ahead: for a chronological
        train / test split, label with a :class:`~skqegm.preprocessing.QuantileTailLabeler`
        fitted on the training part instead. Only used with ``return_X_y=True``.
    threshold : float or None, default=None
        A fixed threshold in mm: a day is rare when its rain is strictly above it. When
        given it wins over ``tail_fraction``. Only used with ``return_X_y=True``.
    as_frame : bool, default=False
        If True, return pandas objects (needs pandas) indexed by the day number
        ``0, ..., 17530`` (index named ``"day"``).

    Returns
    -------
    rain : ndarray of shape (17531,) or pandas.Series
        The daily rainfall in mm, in time order (when ``return_X_y=False``); the Series
        is named ``"rain_mm"``.
    (X, y) : tuple of ndarray of shape (17531, 1) and (17531,), or DataFrame and Series
        When ``return_X_y=True``: the rainfall as a column (named ``"rain_mm"`` in the
        DataFrame) and the 0/1 int flag of the rare days (a Series named ``"rare"``).

    References
    ----------
    Coles, S. G. and Tawn, J. A. (1996). Modelling extremes of the areal rainfall process.
    Journal of the Royal Statistical Society B, 58, 329-347.

    Coles, S. (2001). An Introduction to Statistical Modeling of Extreme Values.
    Springer, chapter 4; data: the ``rain`` data set of the R package ismev (CRAN).

    Examples
    --------
    >>> from skqegm.datasets import load_daily_rainfall
    >>> rain = load_daily_rainfall()
    >>> rain.shape, float(rain.max())
    ((17531,), 86.6)
    >>> X, y = load_daily_rainfall(return_X_y=True)
    >>> X.shape, int(y.sum())  # ties at the 99% quantile (29.2 mm) leave 0.94% rare
    ((17531, 1), 165)
    >>> _, y = load_daily_rainfall(return_X_y=True, threshold=50.0)
    >>> int(y.sum())
    17
    """
    check_option(return_X_y, "return_X_y", (False, True))
    check_option(as_frame, "as_frame", (False, True))
    tail_fraction = check_real(tail_fraction, "tail_fraction", low=0.0, high=1.0,
                               low_open=True, high_open=True)
    if threshold is not None:
        threshold = check_real(threshold, "threshold")
    rain = _read_rainfall()
    y = _rare_flags(rain, tail_fraction, threshold) if return_X_y else None
    if as_frame:
        pd = _pandas()
        index = pd.RangeIndex(rain.shape[0], name="day")
        if not return_X_y:
            return pd.Series(rain, index=index, name=_RAIN_NAME)
        return (pd.DataFrame({_RAIN_NAME: rain}, index=index),
                pd.Series(y, index=index, name="rare"))
    return (rain.reshape(-1, 1), y) if return_X_y else rain
