"""Rare-event recall and precision, with 1 marking the rare (tail) class."""

import warnings

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning

from ._arrays import check_flags


def _check_pair(y_true, y_pred):
    y_true = check_flags(y_true, "y_true", "1 = rare")
    y_pred = check_flags(y_pred, "y_pred", "1 = rare")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length; got "
                         f"{y_true.shape[0]} and {y_pred.shape[0]}.")
    return y_true, y_pred


def _ratio(numerator, denominator, message):
    if denominator == 0:
        warnings.warn(message, UndefinedMetricWarning, stacklevel=3)
        return float("nan")
    return float(numerator / denominator)


def rare_event_recall(y_true, y_pred):
    """Share of the true rare events that were flagged: ``TP / (TP + FN)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, 1)
        True flags, 0 or 1 (1 = rare / tail event).
    y_pred : array-like of shape (n_samples,) or (n_samples, 1)
        Predicted flags, 0 or 1.

    Returns
    -------
    recall : float
        In [0, 1]; ``nan`` with an ``UndefinedMetricWarning`` when ``y_true`` has no rare
        event (recall is undefined, and 0 or 1 would be a misleading score).

    Raises
    ------
    ValueError
        If either input is empty or not 1-D, holds anything but 0 and 1 (booleans are
        accepted; strings, NaN and other numbers are not), or the lengths differ.

    Examples
    --------
    >>> from skqegm.metrics import rare_event_recall
    >>> rare_event_recall([0, 1, 1, 0, 1], [0, 1, 0, 0, 1])
    0.6666666666666666
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return _ratio(np.sum(y_true & y_pred), np.sum(y_true),
                  "rare_event_recall is undefined: y_true has no rare event (no 1).")


def rare_event_precision(y_true, y_pred):
    """Share of the flagged events that are truly rare: ``TP / (TP + FP)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, 1)
        True flags, 0 or 1 (1 = rare / tail event).
    y_pred : array-like of shape (n_samples,) or (n_samples, 1)
        Predicted flags, 0 or 1.

    Returns
    -------
    precision : float
        In [0, 1]; ``nan`` with an ``UndefinedMetricWarning`` when ``y_pred`` flags
        nothing.

    Raises
    ------
    ValueError
        If either input is empty or not 1-D, holds anything but 0 and 1 (booleans are
        accepted; strings, NaN and other numbers are not), or the lengths differ.

    Examples
    --------
    >>> from skqegm.metrics import rare_event_precision
    >>> rare_event_precision([0, 1, 1, 0, 1], [1, 1, 0, 0, 1])
    0.6666666666666666
    """
    y_true, y_pred = _check_pair(y_true, y_pred)
    return _ratio(np.sum(y_true & y_pred), np.sum(y_pred),
                  "rare_event_precision is undefined: y_pred flags no rare event (no 1).")
