"""The time order of pandas data: what functions that read rows as time steps check."""

import datetime
import re

import numpy as np

# An ISO 8601 date, as pandas.read_csv leaves it in an index without parse_dates.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]|$)", re.ASCII)


def is_pandas(obj):
    """Whether ``obj`` is a pandas Series or DataFrame (without importing pandas)."""
    return hasattr(obj, "iloc") and hasattr(obj, "index")


def check_time_order(data, name, *, strict=True, remedy="drop repeated dates"):
    """Refuse a pandas ``data`` whose dates (a datetime or period index) are out of order.

    A series newest first would give returns of the wrong sign, features that look
    ahead, or a "test" part older than the training part, silently. An index of ISO 8601
    date strings (``pandas.read_csv(index_col=0)`` without ``parse_dates``) or of date
    objects (``series.index.date``) counts as dates. Other data (numpy arrays, pandas
    objects indexed by something other than dates) pass unchecked.

    Parameters
    ----------
    data : object
        The argument to check.
    name : str
        Its name, used in the message.
    strict : bool, default=True
        Whether repeated dates are refused too (``False``: non-decreasing dates pass).
    remedy : str, default="drop repeated dates"
        What the message advises for repeated dates.
    """
    if not is_pandas(data):
        return
    import pandas as pd

    index = data.index
    if not isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)):
        index = _dates_of_objects(index)
        if index is None:
            return
    if index.is_monotonic_increasing and (index.is_unique or not strict):
        return
    order = ("newest first" if index.is_monotonic_decreasing
             else "repeated dates" if index.is_monotonic_increasing else "out of order")
    rule = "strictly increasing" if strict else "increasing"
    raise ValueError(f"{name} must be in time order, its dates {rule}; its index is "
                     f"{order}. Sort it first ({name}.sort_index())"
                     + (f" and {remedy}." if strict else "."))


def _is_date(value):
    # datetime.date covers datetime.datetime and pandas.Timestamp, its subclasses.
    return isinstance(value, (datetime.date, np.datetime64))


def _dates_of_objects(index):
    """The dates (UTC) of an index of ISO 8601 date strings, or of date objects
    (``series.index.date`` holds ``datetime.date``), else ``None``."""
    import pandas as pd

    if index.dtype.kind != "O" and not isinstance(index.dtype, pd.StringDtype):
        return None
    values = index.to_numpy(dtype=object)
    if len(values) == 0 or not (all(isinstance(v, str) and _ISO_DATE.match(v) for v in values)
                                or all(_is_date(v) for v in values)):
        return None
    # utc=True: offsets may differ between rows (a daylight-saving change).
    dates = pd.to_datetime(values, format="ISO8601", errors="coerce", utc=True)
    return None if dates.isna().any() else pd.DatetimeIndex(dates)
