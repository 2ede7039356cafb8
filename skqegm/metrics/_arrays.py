"""Input checks shared by the metrics.

Every check names the offending argument in its message, so that a metric called deep
inside a grid search still says which input was wrong and what it needs.
"""

import numbers
import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils.validation import check_consistent_length

from ..utils._tails import SIDES
from ..utils._validation import as_1d, check_int, check_option, check_real, check_real_array
from ..utils._warnings import caller_stacklevel

#: Largest standardised coordinate: far beyond any standardised data point (within
#: ``sqrt(n_points)`` of the mean), yet small enough that k-means' squared distances,
#: ``|x|^2 - 2 x.c + |c|^2``, still resolve which centre a far point points to.
COORDINATE_CAP = 1e8
#: Fewest cells the data's tail must fill (per side in 1-D): within a single cell every
#: model's conditional tail is the same point mass, so a model far from the data would
#: score as well as a perfect one.
MIN_CELLS = 2


def check_series(x, name, *, min_length=1, allow_inf=False):
    """``x`` as a 1-D float array of at least ``min_length`` real numbers.

    Parameters
    ----------
    x : array-like of shape (n_samples,) or (n_samples, 1)
        The input; a single column is read as 1-D (see :func:`as_1d`).
    name : str
        The argument's name, used in error messages.
    min_length : int, default=1
        Fewest values accepted.
    allow_inf : bool, default=False
        Whether ``+inf`` and ``-inf`` are valid values.

    Returns
    -------
    values : ndarray of shape (n_samples,), dtype float64

    Raises
    ------
    ValueError
        If ``x`` holds anything but real numbers, NaN (or an infinity not allowed), is
        neither 1-D nor a single column, or has fewer than ``min_length`` values.
    """
    values = as_1d(check_real_array(x, name, allow_inf=allow_inf), name)
    if values.shape[0] < min_length:
        need = "a non-empty 1-D array" if min_length == 1 else (
            f"a 1-D array of at least {min_length} values")
        raise ValueError(f"{name} must be {need}; got shape {values.shape}.")
    return values


def check_same_index(**inputs):
    """Refuse pandas inputs whose indexes differ: the metrics pair values by position.

    A VaR Series sorted otherwise than the returns, or dated a day off, would otherwise be
    scored against other days' values and give a plausible wrong figure. A default index
    (0, 1, ...: a Series made from an array) labels nothing and is not compared, nor is a
    number or a numpy array.

    Parameters
    ----------
    **inputs : dict of str to object
        The paired inputs by argument name, in the order of the signature.

    Raises
    ------
    ValueError
        If two inputs have non-default pandas indexes that differ (other labels, or the
        same labels in another order), naming both.
    """
    labelled = [(name, _labels(x)) for name, x in inputs.items()]
    labelled = [(name, index) for name, index in labelled if index is not None]
    if not labelled:
        return
    first, ours = labelled[0]
    for name, theirs in labelled[1:]:
        if not ours.equals(theirs):
            raise ValueError(
                f"{first} and {name} have different indexes: the metric pairs them by "
                f"position, which would pair each value of {name} with another row of "
                f"{first}. Align them first ({name}.reindex({first}.index), or "
                f"{first}.align({name}, join='inner')), or pass numpy arrays to pair "
                "them by position.")


def _labels(x):
    """The index of a pandas Series or DataFrame, or ``None`` for another input or a
    default index (0, 1, ...)."""
    index = getattr(x, "index", None) if hasattr(x, "iloc") else None
    if index is None:
        return None
    default = (type(index).__name__ == "RangeIndex" and index.start == 0
               and index.step == 1)
    return None if default else index


def check_flags(y, name, meaning, *, min_length=1):
    """``y`` as a 1-D boolean array of 0/1 flags.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
        Flags: 0 and 1, or booleans.
    name : str
        The argument's name, used in error messages.
    meaning : str
        What a 1 means, quoted in the error message (e.g. ``"1 = rare"``).
    min_length : int, default=1
        Fewest flags accepted.

    Returns
    -------
    flags : ndarray of shape (n_samples,), dtype bool

    Raises
    ------
    ValueError
        If ``y`` is not 1-D (or a single column), is shorter than ``min_length`` or holds
        anything but 0 and 1.
    """
    values = check_series(y, name, min_length=min_length)
    unique = np.unique(values)
    if not np.all(np.isin(unique, (0, 1))):
        raise ValueError(f"{name} must contain only 0 and 1 ({meaning}); got values "
                         f"{unique[:10].tolist()}.")
    return values.astype(bool)


#: The values of ``zero_division``, as in :func:`sklearn.metrics.recall_score`.
ZERO_DIVISION = ("warn", 0.0, 1.0, np.nan)


def check_zero_division(zero_division):
    """``zero_division`` as ``"warn"`` or a float among 0.0, 1.0 and NaN.

    Raises
    ------
    ValueError
        For anything else (a boolean too: ``True`` is not a score).
    """
    if isinstance(zero_division, str) and zero_division == "warn":
        return "warn"
    if (isinstance(zero_division, numbers.Real) and not isinstance(zero_division, bool)
            and (zero_division in (0, 1) or np.isnan(zero_division))):
        return float(zero_division)
    raise ValueError(f"zero_division must be one of 'warn', 0.0, 1.0 or np.nan; got "
                     f"{zero_division!r}.")


def undefined_score(zero_division, message):
    """The score returned where a ratio divides by zero, under ``zero_division``.

    ``"warn"`` gives 0.0 with an ``UndefinedMetricWarning``, as scikit-learn's
    ``recall_score`` does; ``0.0`` and ``1.0`` are returned silently. NaN (skqegm's
    default) is returned *with* the warning, unlike scikit-learn's silent
    ``zero_division=np.nan``: a NaN score makes ``GridSearchCV`` rank the candidate
    last, and the warning says why.

    Parameters
    ----------
    zero_division : {"warn", 0.0, 1.0, nan}
        Already checked by :func:`check_zero_division`.
    message : str
        Why the score is undefined; the warning adds the value returned.

    Returns
    -------
    score : float
    """
    if zero_division == "warn" or np.isnan(zero_division):
        value = 0.0 if zero_division == "warn" else float("nan")
        warnings.warn(f"{message} Returning {value} (zero_division={zero_division!r}); set "
                      "zero_division=0.0 or 1.0 to choose the value without this warning.",
                      UndefinedMetricWarning, stacklevel=caller_stacklevel())
        return value
    return float(zero_division)


def check_held_out_y(y, X, scorer, what):
    """The held-out ``y`` a supervised scorer needs, as a 1-D float array of ``X``'s length.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1), or None
    X : array-like of shape (n_samples, n_features)
        The held-out rows.
    scorer : str
        The scorer's name, for the error message.
    what : str
        What the scorer scores against ``y``, for the error message.

    Raises
    ------
    ValueError
        If ``y`` is None (a supervised scorer needs it: scikit-learn's scorers raise a
        ``ValueError`` subclass for ``y=None`` too), is not a series of finite numbers or
        has another length than ``X``.
    """
    if y is None:
        raise ValueError(f"{scorer} needs the held-out y to score {what}; got y=None.")
    y = check_series(y, "y")  # a one-column frame, which the estimators take, too
    # Checked here, or the model's output for X would be blamed for the mismatch.
    check_consistent_length(X, y)
    return y


def bounded_rows(points):
    """Shrink each row of ``points`` that exceeds :data:`COORDINATE_CAP`, keeping its direction.

    Far-away points (model draws 1e8 standard deviations out, or beyond the float range)
    keep the direction that decides their nearest centre, while squared distances stay
    finite and precise.

    Parameters
    ----------
    points : ndarray of shape (n_rows, n_columns)
        Coordinates, possibly infinite (never NaN).

    Returns
    -------
    bounded : ndarray of shape (n_rows, n_columns)
    """
    finite = np.clip(points, -np.finfo(np.float64).max, np.finfo(np.float64).max)
    peak = np.max(np.abs(finite), axis=1, keepdims=True) if finite.size else finite
    with np.errstate(divide="ignore"):
        shrink = np.minimum(1.0, COORDINATE_CAP / peak)
    return finite * shrink


def _check_bounds(intervals, n_samples, name):
    # Infinite bounds are legitimate (an unbounded interval); NaN is not.
    intervals = check_real_array(intervals, name, allow_inf=True)
    if intervals.shape != (n_samples, 2):
        if intervals.shape == (2, n_samples):
            hint = " (transposed?)"
        elif intervals.ndim == 3 and intervals.shape[:2] == (n_samples, 2):
            hint = (" (MAPIE's intervals, of shape (n_samples, 2, n_confidence_levels)? "
                    "Pass those of one level, y_pis[:, :, 0])")
        else:
            hint = ""
        raise ValueError(f"{name} must have shape (n_samples, 2) = ({n_samples}, 2); got "
                         f"{intervals.shape}{hint}.")
    crossed = np.flatnonzero(intervals[:, 0] > intervals[:, 1])
    if crossed.size:
        raise ValueError(
            f"{name} must have lower bounds <= upper bounds (column 0 <= column 1); "
            f"{crossed.size} row(s) do not, the first row {int(crossed[0])} with "
            f"{intervals[crossed[0]].tolist()}."
        )
    return intervals


def check_intervals(y_true, intervals, names=("y_true", "intervals")):
    check_same_index(**dict(zip(names, (y_true, intervals))))
    y_true = check_series(y_true, names[0])
    return y_true, _check_bounds(intervals, y_true.shape[0], names[1])


def check_coverage(coverage):
    return check_real(coverage, "coverage", low=0, high=1, low_open=True, high_open=True)


def check_tail_kl_params(tail_fraction, side, bins, smoothing, multivariate):
    check_option(side, "side", SIDES)
    if multivariate and side != "both":
        raise ValueError(
            "side applies to 1-D data without a rarity function; with several features or "
            f"a rarity callable the tail region is the most rare points, so side must be "
            f"'both' (the default); got {side!r}."
        )
    high = 0.5 if side == "both" and not multivariate else 1.0
    check_real(tail_fraction, "tail_fraction", low=0, high=high, low_open=True,
               high_open=True)
    if check_int(bins, "bins") < MIN_CELLS:
        raise ValueError(f"bins must be >= {MIN_CELLS}: in a single cell every model's tail "
                         f"is the same point mass and scores 0; got {bins!r}.")
    # smoothing is a probability added to each cell; beyond 1 it swamps the data.
    check_real(smoothing, "smoothing", low=0, high=1)
