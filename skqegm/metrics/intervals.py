"""Empirical coverage of prediction intervals and its distance to the nominal level."""

import numpy as np

from skqegm.metrics._arrays import check_real_array
from skqegm.utils._validation import check_real


def _check_y_true(y_true, name):
    y_true = check_real_array(y_true, name)
    if y_true.ndim != 1 or y_true.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {y_true.shape}.")
    return y_true


def _check_bounds(intervals, n_samples, name):
    # Infinite bounds are legitimate (an unbounded interval); NaN is not.
    intervals = check_real_array(intervals, name, allow_inf=True)
    if intervals.shape != (n_samples, 2):
        transposed = " (transposed?)" if intervals.shape == (2, n_samples) else ""
        raise ValueError(f"{name} must have shape (n_samples, 2) = ({n_samples}, 2); got "
                         f"{intervals.shape}{transposed}.")
    crossed = np.flatnonzero(intervals[:, 0] > intervals[:, 1])
    if crossed.size:
        raise ValueError(
            f"{name} must have lower bounds <= upper bounds (column 0 <= column 1); "
            f"{crossed.size} row(s) do not, the first row {int(crossed[0])} with "
            f"{intervals[crossed[0]].tolist()}."
        )
    return intervals


def _check_intervals(y_true, intervals, names=("y_true", "intervals")):
    y_true = _check_y_true(y_true, names[0])
    return y_true, _check_bounds(intervals, y_true.shape[0], names[1])


def _check_coverage(coverage):
    return check_real(coverage, "coverage", low=0, high=1, low_open=True, high_open=True)


def interval_coverage(y_true, intervals):
    """Empirical coverage ``C = 1/N sum 1{lower_i <= y_i <= upper_i}`` (closed intervals).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Observed values, finite real numbers.
    intervals : array-like of shape (n_samples, 2)
        Lower and upper bounds, lower <= upper; infinite bounds are allowed, NaN is not.

    Returns
    -------
    coverage : float
        Fraction of ``y_true`` inside its interval, in [0, 1].

    Raises
    ------
    ValueError
        If ``y_true`` is empty, not 1-D or not finite real numbers; if ``intervals`` does
        not have shape ``(n_samples, 2)``, holds NaN or non-real values, or has a lower
        bound above its upper bound.

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
        Observed values, finite real numbers.
    intervals : array-like of shape (n_samples, 2)
        Lower and upper bounds, lower <= upper.
    coverage : float
        Nominal coverage of the intervals, in (0, 1): e.g. 0.9 for 90% intervals (not the
        miscoverage ``1 - coverage``).

    Returns
    -------
    error : float
        In [0, 1]; 0 for perfectly calibrated intervals. Lower is better.

    Raises
    ------
    ValueError
        If ``coverage`` is not a real number in (0, 1), or the inputs are invalid (see
        :func:`interval_coverage`).

    Examples
    --------
    >>> from skqegm.metrics import coverage_error
    >>> err = coverage_error([0.0, 1.0, 5.0, 2.0], [[-1, 1], [0, 2], [0, 2], [2, 3]], 0.9)
    >>> round(err, 6)
    0.15
    """
    coverage = _check_coverage(coverage)
    return abs(interval_coverage(y_true, intervals) - coverage)
