"""The time order of pandas data: what functions that read rows as time steps check."""

import datetime
import re

import numpy as np

# An ISO 8601 date, as pandas.read_csv leaves it in an index without parse_dates.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]|$)", re.ASCII)


def is_pandas(obj):
    """Whether ``obj`` is a pandas Series or DataFrame (without importing pandas)."""
    return hasattr(obj, "iloc") and hasattr(obj, "index")


def check_time_order(data, name, *, strict=True, remedy="drop repeated dates", caller=None):
    """Refuse a pandas ``data`` whose dates (a datetime or period index) are out of order.

    A series newest first would give returns of the wrong sign, features that look
    ahead, or a "test" part older than the training part, silently. An index of ISO 8601
    date strings (``pandas.read_csv(index_col=0)`` without ``parse_dates``) or of date
    objects (``series.index.date``) counts as dates; a missing date (NaT) is refused.
    Other data (numpy arrays, pandas objects indexed by something other than dates) pass
    unchecked.

    A :class:`pandas.MultiIndex` is a panel (entity x date): with ``strict`` (the rows
    are one series) it is refused unless its other levels hold one entity, as returns or
    lags would run across entities; otherwise its first level of dates is checked.

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
    caller : str, optional
        The function reading the rows, named in the message about a panel.
    """
    if not is_pandas(data):
        return
    import pandas as pd

    index, sort = data.index, f"{name}.sort_index()"
    if isinstance(index, pd.MultiIndex):
        index, level = _dates_of_panel(index, name, strict, caller)
        sort = f"{name}.sort_index(level={level!r}, sort_remaining=False)"
    else:
        index = _dates(index)
    if index is None:
        return
    if index.hasnans:
        rows = np.flatnonzero(index.isna())
        raise ValueError(f"{name}'s index holds a missing date (NaT) in {len(rows)} row(s), "
                         f"the first at position {rows[0]}: its time order is unknown. Drop "
                         "those rows or give them their dates.")
    if index.is_monotonic_increasing and (index.is_unique or not strict):
        return
    order = ("newest first" if index.is_monotonic_decreasing
             else "repeated dates" if index.is_monotonic_increasing else "out of order")
    rule = "strictly increasing" if strict else "increasing"
    raise ValueError(f"{name} must be in time order, its dates {rule}; its index is "
                     f"{order}. Sort it first ({sort})"
                     + (f" and {remedy}." if strict else "."))


def _dates_of_panel(index, name, strict, caller):
    """The dates of the first level of dates of a MultiIndex and its name or position
    (``None, None`` if none); refused (``strict``) when the other levels hold more than
    one entity: the rows are then several series."""
    import pandas as pd

    levels = [index.get_level_values(i) for i in range(index.nlevels)]
    dates = [_dates(level) for level in levels]
    others = [level for level, found in zip(levels, dates) if found is None]
    entities = (0 if not others else others[0].nunique() if len(others) == 1
                else pd.MultiIndex.from_arrays(others).nunique())
    if strict and entities > 1:
        raise ValueError(
            f"{name} has a MultiIndex ({list(index.names)}), a panel of several series: "
            f"{caller or 'this function'} reads its rows as one series, so its returns, lags "
            f"or forecasts would run across entities (an entity's first row following the "
            f"previous one's last). Apply it to each entity, e.g. "
            f"{name}.groupby(level=0, group_keys=False).apply(...), or pass one entity's "
            f"rows ({name}.xs(key, level=0)).")
    position = next((i for i, found in enumerate(dates) if found is not None), None)
    if position is None:
        return None, None
    level = index.names[position]
    return dates[position], position if level is None else level


def _dates(index):
    """``index`` if it is a datetime or period index, else :func:`_dates_of_objects`."""
    import pandas as pd

    if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)):
        return index
    return _dates_of_objects(index)


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
