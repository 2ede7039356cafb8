"""Empirical coverage of prediction intervals and its distance to the nominal level."""

import numpy as np

from ..utils._validation import check_sample_weight
from ._arrays import check_coverage, check_intervals, check_same_index


def interval_coverage(y_true, intervals, *, sample_weight=None):
    """Empirical coverage ``C = 1/N sum 1{lower_i <= y_i <= upper_i}`` (closed intervals).

    With ``sample_weight``, the weighted share ``sum(w_i 1{...}) / sum(w_i)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, 1)
        Observed values, finite real numbers.
    intervals : array-like of shape (n_samples, 2)
        Lower and upper bounds, lower <= upper; infinite bounds are allowed, NaN is not.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the rows, >= 0 and not all 0: each row counts ``sample_weight[i]``
        times.

    Returns
    -------
    coverage : float
        Fraction of ``y_true`` inside its interval, in [0, 1].

    Raises
    ------
    ValueError
        If ``y_true`` is empty, not 1-D or not finite real numbers; if ``intervals`` does
        not have shape ``(n_samples, 2)``, holds NaN or non-real values, or has a lower
        bound above its upper bound; if ``sample_weight`` is negative, all 0, not finite
        or of another length.

    Examples
    --------
    >>> from skqegm.metrics import interval_coverage
    >>> interval_coverage([0.0, 1.0, 5.0, 2.0], [[-1, 1], [0, 2], [0, 2], [2, 3]])
    0.75
    >>> interval_coverage([0.0, 1.0, 5.0, 2.0], [[-1, 1], [0, 2], [0, 2], [2, 3]],
    ...                   sample_weight=[1, 1, 2, 0])
    0.5
    """
    check_same_index(y_true=y_true, sample_weight=sample_weight)
    y_true, intervals = check_intervals(y_true, intervals)
    weights = check_sample_weight(sample_weight, y_true.shape[0], against="y_true")
    inside = (intervals[:, 0] <= y_true) & (y_true <= intervals[:, 1])
    return float(np.average(inside, weights=weights))


def coverage_error(y_true, intervals, coverage, *, sample_weight=None):
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
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the rows for the empirical coverage (see :func:`interval_coverage`).

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
    return abs(interval_coverage(y_true, intervals, sample_weight=sample_weight) - coverage)
