"""Input checks shared by the preprocessing functions and transformers."""

import numpy as np


def _date_kind(dtype):
    kind = getattr(dtype, "kind", None)
    return {"M": "dates", "m": "durations"}.get(kind)


def check_not_dates(x, name):
    """Refuse dates and durations where real numbers are due.

    numpy and scikit-learn cast ``datetime64`` to float as counts of its unit since 1970
    (and ``timedelta64`` as counts of its unit), silently: ``log_returns`` of a date
    column returned "returns" of 5.1e-5 a day, and a labeler fitted on it a threshold of
    1.7e15; a frame mixing dates and numbers failed deep in numpy. A DataFrame is refused
    when any of its columns holds dates, named.

    Parameters
    ----------
    x : array-like, Series or DataFrame
        The input.
    name : str
        The argument's name, used in the error message.

    Raises
    ------
    ValueError
        If ``x`` (or a column of it) holds dates or durations.
    """
    if not hasattr(x, "dtype") and hasattr(x, "dtypes"):  # a DataFrame: one dtype a column
        for column, dtype in x.dtypes.items():
            what = _date_kind(dtype)
            if what:
                raise ValueError(
                    f"{name} must hold real numbers; its column {column!r} holds {what} "
                    f"(dtype {dtype}), which numpy reads as counts of their time unit. Drop "
                    f"it, or make it the index (.set_index({column!r})).")
        return
    dtype = getattr(x, "dtype", None)
    if dtype is None and isinstance(x, (list, tuple)):
        try:
            dtype = np.asarray(x).dtype
        except ValueError:  # ragged: the caller's validation says so
            return
    what = _date_kind(dtype)
    if what:
        raise ValueError(f"{name} must hold real numbers; got {what} (dtype {dtype}), which "
                         "numpy reads as counts of their time unit.")
