"""Rare-event labelling: sigma thresholds (eq. 8) and empirical quantiles (eq. 9)."""

from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..utils._scaling import mean_std, power_of_two_scale
from ..utils._tails import SIDES, flag_beyond, tail_thresholds
from ..utils._validation import (
    IntervalNotBool,
    as_1d,
    check_not_booleans,
    check_not_dates,
    check_option,
)


def _check_not_booleans(X, who, name="X"):
    # scikit-learn reads True as 1.0: a flag column got thresholds and "rare" values
    # as if its flags were measurements, silently (the metrics and plots refuse them too).
    probe = X
    if isinstance(X, (list, tuple)):  # nested lists: their flags show once in an array
        try:
            probe = np.asarray(X)
        except ValueError:
            return  # ragged: validate_data says so
    check_not_booleans(probe, f"{who}: {name}")
    check_not_dates(probe, f"{who}: {name}")  # numpy reads dates as numbers


class _TailLabelerMixin(TransformerMixin):
    """Shared ``transform`` of the labelers: 1 where a value is strictly beyond a threshold.

    A ``TransformerMixin`` itself: scikit-learn wraps ``transform`` for ``set_output``
    only in the class that defines it, so a plain mixin's ``transform`` returned arrays.
    """

    def transform(self, X):
        """Flag the rare values of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the columns seen in ``fit`` (booleans are refused).

        Returns
        -------
        labels : ndarray of shape (n_samples, n_features), dtype int
            1 where the value is strictly beyond the column's threshold on ``side``
            (rare), else 0.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.preprocessing import SigmaThresholdLabeler
        >>> labeler = SigmaThresholdLabeler(k=1.0).fit(np.array([[0.0], [2.0]]))
        >>> labeler.transform(np.array([[-0.5], [0.5], [100.0]])).ravel()
        array([1, 0, 0])
        """
        check_is_fitted(self, "tail_threshold_")
        _check_not_booleans(X, type(self).__name__)
        X = validate_data(self, X, reset=False)
        # Strict inequalities keep ties (e.g. a constant column) out of the rare class,
        # so the training rare rate never exceeds the nominal one.
        return flag_beyond(X, self.tail_threshold_, self.side).astype(int)

    def _set_thresholds(self, thresholds):
        """Store ``thresholds`` (2, n_features) and the row(s) that ``side`` uses."""
        self.tail_threshold_ = thresholds
        if self.side == "both":
            self.lower_, self.upper_ = thresholds
        else:
            self.threshold_ = thresholds[0 if self.side == "lower" else 1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The output is a 0/1 int indicator whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags


class SigmaThresholdLabeler(_TailLabelerMixin, OneToOneFeatureMixin, TransformerMixin,
                            BaseEstimator):
    """Label values more than ``k`` standard deviations from the mean as rare (equation 8).

    The finance rule of the paper: with ``side="lower"`` a return ``r`` is a crash when
    ``r < mean - k * std``. Mean and standard deviation are learned per column on the
    data given to ``fit`` (fit on the training split only, so that no test information
    leaks into the threshold).

    Parameters
    ----------
    k : float, default=2.5
        Number of standard deviations; must be > 0.
    side : {"lower", "upper", "both"}, default="lower"
        Which tail is rare: below ``mean - k std``, above ``mean + k std``, or either.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Column means.
    scale_ : ndarray of shape (n_features,)
        Column standard deviations (``ddof=0``, as in ``StandardScaler``); 0 for a
        constant column, where ``StandardScaler`` sets 1 (its thresholds are then the
        column's value, and no value is rare).
    tail_threshold_ : ndarray of shape (2, n_features)
        Lower (row 0, ``mean_ - k scale_``) and upper (row 1, ``mean_ + k scale_``)
        thresholds; ``transform`` uses the row(s) of ``side``.
    threshold_ : ndarray of shape (n_features,)
        The row of ``tail_threshold_`` on ``side`` (side "lower" or "upper"); not set
        for side "both".
    lower_, upper_ : ndarray of shape (n_features,)
        Both rows of ``tail_threshold_``; only set for side "both".
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Column names seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    QuantileTailLabeler : thresholds at empirical quantiles.
    make_tail_labels : the same rules for a single 1-D array.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.preprocessing import SigmaThresholdLabeler
    >>> X = np.array([[0.0], [1.0], [-1.0], [0.5], [-0.5], [-6.0]])
    >>> labeler = SigmaThresholdLabeler(k=1.5).fit(X)
    >>> labeler.transform(X).ravel()
    array([0, 0, 0, 0, 0, 1])
    >>> labeler.threshold_.round(3)
    array([-4.491])
    """

    _parameter_constraints: dict = {
        "k": [IntervalNotBool(Real, 0, None, closed="neither")],
        "side": [StrOptions(set(SIDES))],
    }

    def __init__(self, k=2.5, side="lower"):
        self.k = k
        self.side = side

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the per-column mean, standard deviation and thresholds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: real numbers (booleans are refused).
        y : None
            Ignored.

        Returns
        -------
        self : SigmaThresholdLabeler
            The fitted labeler.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.preprocessing import SigmaThresholdLabeler
        >>> labeler = SigmaThresholdLabeler(k=1.0, side="both").fit(np.array([[0.0], [2.0]]))
        >>> labeler.tail_threshold_
        array([[0.],
               [2.]])
        """
        _check_not_booleans(X, type(self).__name__)
        X = validate_data(self, X, dtype=np.float64)
        self.mean_, self.scale_ = mean_std(X)
        self._set_thresholds(tail_thresholds(X, "sigma", k=self.k))
        return self


class QuantileTailLabeler(_TailLabelerMixin, OneToOneFeatureMixin, TransformerMixin,
                          BaseEstimator):
    """Label values beyond an empirical quantile as rare (equation 9).

    The climate rule of the paper: with ``side="upper"`` and ``tail_fraction=0.01`` a
    value is rare when it lies above the column's 99th percentile of the training data.

    Parameters
    ----------
    tail_fraction : float, default=0.01
        Tail probability per side: in (0, 1) for one side, in (0, 0.5) for "both".
    side : {"lower", "upper", "both"}, default="upper"
        Which tail is rare: above the ``1 - tail_fraction`` quantile, below the
        ``tail_fraction`` quantile, or either.

    Attributes
    ----------
    tail_threshold_ : ndarray of shape (2, n_features)
        The ``tail_fraction`` (row 0, lower) and ``1 - tail_fraction`` (row 1, upper)
        quantiles of each column (``numpy.quantile``, linear interpolation);
        ``transform`` uses the row(s) of ``side``.
    threshold_ : ndarray of shape (n_features,)
        The row of ``tail_threshold_`` on ``side`` (side "lower" or "upper"); not set
        for side "both".
    lower_, upper_ : ndarray of shape (n_features,)
        Both rows of ``tail_threshold_``; only set for side "both".
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Column names seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    SigmaThresholdLabeler : thresholds at mean +- k standard deviations.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.preprocessing import QuantileTailLabeler
    >>> X = np.arange(100.0).reshape(-1, 1)
    >>> labeler = QuantileTailLabeler(tail_fraction=0.05).fit(X)
    >>> labeler.threshold_
    array([94.05])
    >>> int(labeler.transform(X).sum())
    5
    """

    # The upper bound of tail_fraction depends on side; fit checks it.
    _parameter_constraints: dict = {
        "tail_fraction": [IntervalNotBool(Real, 0, 1, closed="neither")],
        "side": [StrOptions(set(SIDES))],
    }

    def __init__(self, tail_fraction=0.01, side="upper"):
        self.tail_fraction = tail_fraction
        self.side = side

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the per-column quantile thresholds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: real numbers (booleans are refused).
        y : None
            Ignored.

        Returns
        -------
        self : QuantileTailLabeler
            The fitted labeler.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.preprocessing import QuantileTailLabeler
        >>> X = np.arange(11.0).reshape(-1, 1)
        >>> QuantileTailLabeler(tail_fraction=0.1, side="both").fit(X).tail_threshold_
        array([[1.],
               [9.]])
        """
        if self.side == "both" and self.tail_fraction >= 0.5:
            # Two tails of tail_fraction each must leave some data between them.
            raise ValueError(
                "QuantileTailLabeler: with side='both', tail_fraction must be in (0, 0.5) "
                f"(each side takes tail_fraction); got tail_fraction={self.tail_fraction!r}."
            )
        _check_not_booleans(X, type(self).__name__)
        X = validate_data(self, X, dtype=np.float64)
        # numpy interpolates between neighbours a and b with b - a, which overflows when
        # they are more than the largest float apart (-1.5e308 and 1e308): the lower
        # threshold became inf and every value was rare. Such columns are scaled by a
        # power of two first, which is exact and commutes with the interpolation.
        with np.errstate(over="ignore"):
            overflows = ~np.isfinite(np.ptp(X, axis=0))
        scale = np.where(overflows, power_of_two_scale(X, axis=0), 1.0)
        thresholds = tail_thresholds(X * scale, tail_fraction=self.tail_fraction) / scale
        self._set_thresholds(thresholds)
        return self


def make_tail_labels(y, method="sigma", k=2.5, tail_fraction=0.01, side="lower"):
    """Label the rare values of a 1-D array with the sigma or quantile rule.

    Thresholds are learned on ``y`` itself; to label a test set with training
    thresholds, fit a :class:`SigmaThresholdLabeler` or :class:`QuantileTailLabeler`.

    The defaults are the paper's finance rule (eq. 8: a crash is a return below the mean
    minus 2.5 standard deviations), which labels 75 of the 5,030 daily S&P 500 returns
    of :func:`~skqegm.datasets.load_sp500_returns` (1.5%). :class:`~skqegm.TailRiskEstimator`
    has its own rare events, by default below the 2.5% quantile of its training
    targets (126 of those days, the 75 among them): to score its ``predict_rare``,
    label with its rule, ``make_tail_labels(y, method="quantile", tail_fraction=0.025)``
    on its training targets, or with its fitted threshold, ``model.rare_events(y)``.
    ``side`` defaults to ``"lower"`` for both methods, where
    :class:`QuantileTailLabeler` defaults to ``"upper"`` (the climate rule, eq. 9). The
    defaults stay as they are: a new default would relabel existing calls silently
    (scikit-learn changes one only after a deprecation cycle).

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, 1)
        Values to label (e.g. daily returns; booleans are refused); a single column
        counts as 1-D.
    method : {"sigma", "quantile"}, default="sigma"
        ``"sigma"``: beyond ``mean -+ k std`` (eq. 8); ``"quantile"``: beyond the
        ``tail_fraction`` quantile(s) (eq. 9).
    k : float, default=2.5
        Number of standard deviations (method "sigma").
    tail_fraction : float, default=0.01
        Tail probability per side (method "quantile").
    side : {"lower", "upper", "both"}, default="lower"
        Which tail is rare.

    Returns
    -------
    labels : ndarray of shape (n_samples,), dtype int
        1 for rare values, 0 otherwise.

    Examples
    --------
    >>> from skqegm.preprocessing import make_tail_labels
    >>> make_tail_labels([0.0, 1.0, -1.0, 0.5, -0.5, -6.0], k=1.5)
    array([0, 0, 0, 0, 0, 1])
    >>> make_tail_labels(list(range(10)), method="quantile", tail_fraction=0.2, side="upper")
    array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    >>> from skqegm.datasets import load_sp500_returns
    >>> r = load_sp500_returns()
    >>> crashes = make_tail_labels(r)  # eq. 8, 2.5 standard deviations
    >>> events = make_tail_labels(r, method="quantile", tail_fraction=0.025)  # the model's
    >>> int(crashes.sum()), int(events.sum()), int((crashes & events).sum())
    (75, 126, 75)
    """
    check_option(method, "method", ("sigma", "quantile"))
    _check_not_booleans(y, "make_tail_labels", "y")
    y = as_1d(check_array(y, ensure_2d=False, allow_nd=True, dtype=np.float64,
                          input_name="y"), "y")
    if method == "sigma":
        labeler = SigmaThresholdLabeler(k=k, side=side)
    else:
        labeler = QuantileTailLabeler(tail_fraction=tail_fraction, side=side)
    return labeler.fit_transform(y.reshape(-1, 1)).ravel()
