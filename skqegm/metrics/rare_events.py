"""Rare-event recall and precision, with 1 marking the rare (tail) class."""

import numpy as np

from ..utils._validation import check_sample_weight
from ._arrays import check_flags, check_same_index, check_zero_division, undefined_score


def _check_pair(y_true, y_pred, sample_weight, zero_division):
    check_same_index(y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
    y_true = check_flags(y_true, "y_true", "1 = rare")
    y_pred = check_flags(y_pred, "y_pred", "1 = rare")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same length; got "
                         f"{y_true.shape[0]} and {y_pred.shape[0]}.")
    weights = check_sample_weight(sample_weight, y_true.shape[0], against="y_true")
    if weights is None:
        weights = np.ones(y_true.shape[0])
    return y_true, y_pred, weights, check_zero_division(zero_division)


def _ratio(hits, flags, weights, zero_division, metric, none_flagged):
    """``sum(w * hits) / sum(w * flags)``, or the ``zero_division`` score where the
    denominator is 0: no flag, or flags of weight 0 only."""
    denominator = weights @ flags
    if denominator == 0:
        reason = ("(no 1)" if not flags.any()
                  else "of positive weight (each of its 1s has sample_weight 0)")
        return undefined_score(zero_division, f"{metric} is undefined: {none_flagged} "
                               f"{reason}.")
    return float((weights @ hits) / denominator)


def rare_event_recall(y_true, y_pred, *, sample_weight=None, zero_division=np.nan):
    """Share of the true rare events that were flagged: ``TP / (TP + FN)``.

    With ``sample_weight``, ``sum(w TP) / sum(w (TP + FN))``, scikit-learn's weighted
    recall (each row counts ``sample_weight[i]`` times).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, 1)
        True flags, 0 or 1 (1 = rare / tail event).
    y_pred : array-like of shape (n_samples,) or (n_samples, 1)
        Predicted flags, 0 or 1.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the rows, >= 0 and not all 0.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default=np.nan
        The score when ``y_true`` has no rare event (of positive weight): NaN (the
        default) with an ``UndefinedMetricWarning``, so that ``GridSearchCV`` ranks such a
        candidate last and says why; as in scikit-learn's ``recall_score``, ``"warn"``
        returns 0.0 with the warning, 0.0 and 1.0 return that value silently. Unlike
        scikit-learn, whose ``np.nan`` is silent, NaN warns here.

    Returns
    -------
    recall : float
        In [0, 1], or the ``zero_division`` score where recall is undefined.

    Raises
    ------
    ValueError
        If either input is empty or not 1-D, holds anything but 0 and 1 (booleans are
        accepted; strings, NaN and other numbers are not), the lengths differ,
        ``sample_weight`` is invalid (negative, all 0, not finite, another length) or
        ``zero_division`` is not one of its values.

    Warns
    -----
    UndefinedMetricWarning
        Where recall is undefined and ``zero_division`` is NaN or ``"warn"``.

    Examples
    --------
    >>> from skqegm.metrics import rare_event_recall
    >>> rare_event_recall([0, 1, 1, 0, 1], [0, 1, 0, 0, 1])
    0.6666666666666666
    >>> rare_event_recall([0, 1, 1, 0, 1], [0, 1, 0, 0, 1], sample_weight=[1, 1, 2, 1, 1])
    0.5
    >>> rare_event_recall([0, 0, 0], [0, 1, 0], zero_division=1.0)
    1.0
    """
    y_true, y_pred, weights, zero_division = _check_pair(y_true, y_pred, sample_weight,
                                                         zero_division)
    return _ratio(y_true & y_pred, y_true, weights, zero_division, "rare_event_recall",
                  "y_true has no rare event")


def rare_event_precision(y_true, y_pred, *, sample_weight=None, zero_division=np.nan):
    """Share of the flagged events that are truly rare: ``TP / (TP + FP)``.

    With ``sample_weight``, ``sum(w TP) / sum(w (TP + FP))``, scikit-learn's weighted
    precision (each row counts ``sample_weight[i]`` times).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,) or (n_samples, 1)
        True flags, 0 or 1 (1 = rare / tail event).
    y_pred : array-like of shape (n_samples,) or (n_samples, 1)
        Predicted flags, 0 or 1.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the rows, >= 0 and not all 0.
    zero_division : {"warn", 0.0, 1.0, np.nan}, default=np.nan
        The score when ``y_pred`` flags nothing (of positive weight): NaN (the default)
        with an ``UndefinedMetricWarning``; as in scikit-learn's ``precision_score``,
        ``"warn"`` returns 0.0 with the warning, 0.0 and 1.0 return that value silently.
        Unlike scikit-learn, whose ``np.nan`` is silent, NaN warns here.

    Returns
    -------
    precision : float
        In [0, 1], or the ``zero_division`` score where precision is undefined.

    Raises
    ------
    ValueError
        If either input is empty or not 1-D, holds anything but 0 and 1 (booleans are
        accepted; strings, NaN and other numbers are not), the lengths differ,
        ``sample_weight`` is invalid (negative, all 0, not finite, another length) or
        ``zero_division`` is not one of its values.

    Warns
    -----
    UndefinedMetricWarning
        Where precision is undefined and ``zero_division`` is NaN or ``"warn"``.

    Examples
    --------
    >>> from skqegm.metrics import rare_event_precision
    >>> rare_event_precision([0, 1, 1, 0, 1], [1, 1, 0, 0, 1])
    0.6666666666666666
    >>> rare_event_precision([0, 1, 0], [0, 0, 0], zero_division=0.0)
    0.0
    """
    y_true, y_pred, weights, zero_division = _check_pair(y_true, y_pred, sample_weight,
                                                         zero_division)
    return _ratio(y_true & y_pred, y_pred, weights, zero_division, "rare_event_precision",
                  "y_pred flags no rare event")
