"""Rare-event labelling: sigma thresholds (eq. 8) and empirical quantiles (eq. 9)."""

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from skqegm.utils._validation import check_option, check_real

SIDES = ("lower", "upper", "both")


class _TailLabelerMixin:
    """Shared ``transform`` of the labelers: 1 where a value is strictly beyond a threshold."""

    def _fitted_attribute(self):
        return "lower_" if self.side == "both" else "threshold_"

    def transform(self, X):
        """Flag the rare values of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the columns seen in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_samples, n_features), dtype int
            1 where the value is strictly beyond the column's threshold (rare), else 0.
        """
        check_is_fitted(self, self._fitted_attribute())
        X = validate_data(self, X, reset=False)
        if self.side == "lower":
            rare = X < self.threshold_
        elif self.side == "upper":
            rare = X > self.threshold_
        else:
            rare = (X < self.lower_) | (X > self.upper_)
        return rare.astype(int)

    def _set_thresholds(self, lower, upper):
        # Strict inequalities in ``transform`` keep ties (e.g. a constant column) out of
        # the rare class, so the training rare rate never exceeds the nominal one.
        if self.side == "lower":
            self.threshold_ = lower
        elif self.side == "upper":
            self.threshold_ = upper
        else:
            self.lower_, self.upper_ = lower, upper

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
        Column standard deviations (``ddof=0``, as in ``StandardScaler``).
    threshold_ : ndarray of shape (n_features,)
        ``mean_ - k scale_`` (side "lower") or ``mean_ + k scale_`` (side "upper");
        not set for side "both".
    lower_, upper_ : ndarray of shape (n_features,)
        Both thresholds; only set for side "both".
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

    def __init__(self, k=2.5, side="lower"):
        self.k = k
        self.side = side

    def fit(self, X, y=None):
        """Learn the per-column mean, standard deviation and thresholds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : SigmaThresholdLabeler
            The fitted labeler.
        """
        k = check_real(self.k, "k", low=0, low_open=True)
        check_option(self.side, "side", SIDES)
        X = validate_data(self, X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self._set_thresholds(self.mean_ - k * self.scale_, self.mean_ + k * self.scale_)
        return self


class QuantileTailLabeler(_TailLabelerMixin, OneToOneFeatureMixin, TransformerMixin,
                          BaseEstimator):
    """Label values beyond an empirical quantile as rare (equation 9).

    The climate rule of the paper: with ``side="upper"`` and ``q=0.01`` a value is rare
    when it lies above the column's 99th percentile of the training data.

    Parameters
    ----------
    q : float, default=0.01
        Tail probability per side: in (0, 1) for one side, in (0, 0.5) for "both".
    side : {"lower", "upper", "both"}, default="upper"
        Which tail is rare: above the ``1 - q`` quantile, below the ``q`` quantile, or
        either.

    Attributes
    ----------
    threshold_ : ndarray of shape (n_features,)
        The ``q`` quantile (side "lower") or the ``1 - q`` quantile (side "upper") of each
        column (``numpy.quantile``, linear interpolation); not set for side "both".
    lower_, upper_ : ndarray of shape (n_features,)
        The ``q`` and ``1 - q`` quantiles; only set for side "both".
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
    >>> labeler = QuantileTailLabeler(q=0.05).fit(X)
    >>> labeler.threshold_
    array([94.05])
    >>> int(labeler.transform(X).sum())
    5
    """

    def __init__(self, q=0.01, side="upper"):
        self.q = q
        self.side = side

    def fit(self, X, y=None):
        """Learn the per-column quantile thresholds.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : None
            Ignored.

        Returns
        -------
        self : QuantileTailLabeler
            The fitted labeler.
        """
        check_option(self.side, "side", SIDES)
        high = 0.5 if self.side == "both" else 1.0
        q = check_real(self.q, "q", low=0, high=high, low_open=True, high_open=True)
        X = validate_data(self, X, dtype=np.float64)
        self._set_thresholds(np.quantile(X, q, axis=0), np.quantile(X, 1 - q, axis=0))
        return self


def make_tail_labels(y, method="sigma", k=2.5, q=0.01, side="lower"):
    """Label the rare values of a 1-D array with the sigma or quantile rule.

    Thresholds are learned on ``y`` itself; to label a test set with training
    thresholds, fit a :class:`SigmaThresholdLabeler` or :class:`QuantileTailLabeler`.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Values to label (e.g. daily returns).
    method : {"sigma", "quantile"}, default="sigma"
        ``"sigma"``: beyond ``mean -+ k std`` (eq. 8); ``"quantile"``: beyond the ``q``
        quantile(s) (eq. 9).
    k : float, default=2.5
        Number of standard deviations (method "sigma").
    q : float, default=0.01
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
    >>> make_tail_labels(list(range(10)), method="quantile", q=0.2, side="upper")
    array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
    """
    check_option(method, "method", ("sigma", "quantile"))
    y = check_array(y, ensure_2d=False, allow_nd=True, dtype=np.float64, input_name="y")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got an array of shape {y.shape}.")
    if method == "sigma":
        labeler = SigmaThresholdLabeler(k=k, side=side)
    else:
        labeler = QuantileTailLabeler(q=q, side=side)
    return labeler.fit_transform(y.reshape(-1, 1)).ravel()
