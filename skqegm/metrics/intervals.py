"""Empirical coverage of prediction intervals and its distance to the nominal level."""

import numpy as np
from sklearn.utils.validation import check_array

from skqegm.utils._validation import check_real


def _check_intervals(y_true, intervals):
    y_true = check_array(y_true, ensure_2d=False, allow_nd=True, ensure_min_samples=0,
                         dtype=np.float64, input_name="y_true")
    if y_true.ndim != 1 or y_true.shape[0] == 0:
        raise ValueError(f"y_true must be a non-empty 1-D array; got shape {y_true.shape}.")
    # Infinite bounds are legitimate (an unbounded interval); NaN is not.
    intervals = check_array(intervals, allow_nd=True, ensure_min_samples=0, dtype=np.float64,
                            ensure_all_finite=False, input_name="intervals")
    if intervals.shape != (y_true.shape[0], 2):
        raise ValueError(f"intervals must have shape (n_samples, 2) = ({y_true.shape[0]}, 2); "
                         f"got {intervals.shape}.")
    if np.any(np.isnan(intervals)):
        raise ValueError("intervals contains NaN.")
    if np.any(intervals[:, 0] > intervals[:, 1]):
        raise ValueError("intervals must have lower bounds <= upper bounds (column 0 <= "
                         "column 1).")
    return y_true, intervals


def interval_coverage(y_true, intervals):
    """Empirical coverage ``C = 1/N sum 1{lower_i <= y_i <= upper_i}`` (closed intervals).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed values, finite.
    intervals : array-like of shape (n_samples, 2)
        Lower and upper bounds; infinite bounds are allowed, NaN is not.

    Returns
    -------
    coverage : float
        Fraction of ``y_true`` inside its interval, in [0, 1].

    Examples
    --------
    >>> from skqegm.metrics import interval_coverage
    >>> interval_coverage([0.0, 1.0, 5.0, 2.0], [[-1, 1], [0, 2], [0, 2], [2, 3]])
    0.75
    """
    y_true, intervals = _check_intervals(y_true, intervals)
    inside = (intervals[:, 0] <= y_true) & (y_true <= intervals[:, 1])
    return float(np.mean(inside))


def coverage_error(y_true, intervals, coverage):
    """Calibration error ``|C - coverage|`` of intervals with nominal level ``coverage``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed values, finite.
    intervals : array-like of shape (n_samples, 2)
        Lower and upper bounds.
    coverage : float
        Nominal coverage of the intervals, in (0, 1).

    Returns
    -------
    error : float
        In [0, 1]; 0 for perfectly calibrated intervals. Lower is better.

    Examples
    --------
    >>> from skqegm.metrics import coverage_error
    >>> err = coverage_error([0.0, 1.0, 5.0, 2.0], [[-1, 1], [0, 2], [0, 2], [2, 3]], 0.9)
    >>> round(err, 6)
    0.15
    """
    coverage = check_real(coverage, "coverage", low=0, high=1, low_open=True, high_open=True)
    return abs(interval_coverage(y_true, intervals) - coverage)
