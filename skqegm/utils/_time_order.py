"""The time order of pandas data: what functions that read rows as time steps check."""


def is_pandas(obj):
    """Whether ``obj`` is a pandas Series or DataFrame (without importing pandas)."""
    return hasattr(obj, "iloc") and hasattr(obj, "index")


def check_time_order(data, name, *, strict=True, remedy="drop repeated dates"):
    """Refuse a pandas ``data`` whose dates (a datetime or period index) are out of order.

    A series newest first would give returns of the wrong sign, features that look
    ahead, or a "test" part older than the training part, silently. Other data (numpy
    arrays, pandas objects indexed by something other than dates) pass unchecked.

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
        return
    if index.is_monotonic_increasing and (index.is_unique or not strict):
        return
    order = ("newest first" if index.is_monotonic_decreasing
             else "repeated dates" if index.is_monotonic_increasing else "out of order")
    rule = "strictly increasing" if strict else "increasing"
    raise ValueError(f"{name} must be in time order, its dates {rule}; its index is "
                     f"{order}. Sort it first ({name}.sort_index())"
                     + (f" and {remedy}." if strict else "."))
