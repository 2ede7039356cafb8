"""Empirical coverage of prediction intervals and its distance to the nominal level."""

import numpy as np

from ._arrays import check_coverage, check_intervals


def interval_coverage(y_true, intervals):
    """Empirical coverage ``C = 1/N sum 1{lower_i <= y_i <= upper_i}`` (closed intervals).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, 1)
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
    y_true, intervals = check_intervals(y_true, intervals)
    inside = (intervals[:, 0] <= y_true) & (y_true <= intervals[:, 1])
    return float(np.mean(inside))


def coverage_error(y_true, intervals, coverage):
    """Calibration error ``|C - coverage|`` of intervals with nominal level ``coverage``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, 1)
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
    coverage = check_coverage(coverage)
    return abs(interval_coverage(y_true, intervals) - coverage)
