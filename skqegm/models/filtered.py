"""FilteredRiskEstimator: a tail model of volatility-standardised returns.

Filtered historical simulation (Barone-Adesi et al., 1999) divides the returns by a
GARCH volatility and takes the tail of what is left; here a conditional model (by default
:class:`~skqegm.TailRiskEstimator`) learns that standardised distribution instead. The
volatility level then comes from the filter, which extrapolates it by its recursion,
and the model only sees scale-free numbers, so a crisis outside the training years does
not put its features outside their training range.
"""

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from ..baselines.garch import GARCHRiskEstimator
from ..utils._state import kept_on_failure
from ..utils._validation import check_not_strings
from .tail_risk import TailRiskEstimator

__all__ = ["FilteredRiskEstimator"]


class FilteredRiskEstimator(RegressorMixin, BaseEstimator):
    """A conditional tail model of returns divided by a volatility filter's forecast.

    ``fit`` fits ``volatility`` (a GARCH-family filter) on ``(X, y)``, divides each
    training return by the filter's conditional volatility ``sigma_t`` (known the day
    before) and fits ``estimator`` on the standardised returns ``y_t / sigma_t`` with the
    features ``X_t / sigma_t`` (``scale_features=True``) or ``X_t``. A prediction scales
    the estimator's answer for ``X / sigma`` back by the ``sigma`` forecast for each row:
    every quantile, the VaR, the ES and every draw of ``y`` is ``sigma`` times that of the
    standardised return (all are positively homogeneous).

    ``X`` and ``y`` are those of :class:`~skqegm.baselines.GARCHRiskEstimator` (see
    :func:`~skqegm.preprocessing.make_lagged_features`): ``y`` the returns in time order,
    one column of ``X`` the previous day's return. The rows given to the predict methods
    continue the training series (the filter runs through their lagged returns), so a
    row's forecast never uses its own return. ``scale_features=True`` assumes every
    column of ``X`` is in the units of ``y`` (lagged returns, realised volatilities), as
    those of ``make_lagged_features`` are.

    Parameters
    ----------
    estimator : estimator or None, default=None
        The model of the standardised returns, with ``fit``, ``predict``,
        ``predict_quantiles``, ``predict_var``, ``predict_es``, ``sample_y`` and
        ``score`` (a :class:`~skqegm.TailRiskEstimator`); cloned at fit. ``None`` uses
        ``TailRiskEstimator()``.
    volatility : estimator or None, default=None
        The volatility filter, with ``fit(X, y)``, a ``conditional_volatility_`` of the
        training rows after fitting and ``predict_volatility(X)``; cloned at fit.
        ``None`` uses ``GARCHRiskEstimator(o=1, dist="skewt")`` (GJR-GARCH(1,1,1) with
        Hansen's skewed t, which needs the optional ``arch`` package:
        ``pip install 'skqegm[garch]'``). Without ``arch``, pass
        :class:`~skqegm.baselines.EWMARiskEstimator` (RiskMetrics' EWMA volatility,
        ``decay=0.94``), which needs no optional package.
    scale_features : bool or array-like, default=True
        The features divided by ``sigma`` too, so that the estimator sees them scale-free
        (lagged returns in units of the day's volatility, volatility ratios): ``True``
        all of them, ``False`` none, or the columns in the units of ``y`` among others
        (a VIX level, a calendar dummy) as column indices, as names of the columns of a
        DataFrame ``X``, or as a boolean mask of length ``n_features`` (a list mixing
        booleans and indices is refused).

    Attributes
    ----------
    estimator_ : estimator
        The fitted model of the standardised returns.
    volatility_ : estimator
        The fitted volatility filter.
    scaled_features_ : ndarray of shape (n_features,), dtype bool
        Which columns of ``X`` are divided by ``sigma``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.

    See Also
    --------
    TailRiskEstimator : the same model fitted on the returns themselves.
    skqegm.baselines.GARCHRiskEstimator : the filter, with a parametric or FHS tail.
    skqegm.baselines.EWMARiskEstimator : RiskMetrics' EWMA filter, without ``arch``.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GARCHRiskEstimator
    >>> from skqegm.datasets import load_sp500_returns
    >>> from skqegm.models import FilteredRiskEstimator, TailRiskEstimator
    >>> from skqegm.preprocessing import make_lagged_features
    >>> X, y = make_lagged_features(load_sp500_returns()[-1500:])
    >>> model = FilteredRiskEstimator(
    ...     TailRiskEstimator(latent="gaussian", max_epochs=5, random_state=0),
    ...     GARCHRiskEstimator(),
    ... ).fit(X[:1000], y[:1000])
    >>> var, es = model.predict_var(X[1000:], 0.99), model.predict_es(X[1000:], 0.99)
    >>> var.shape, bool(np.all(es > var)), bool(np.all(var > 0))
    ((478,), True, True)
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_quantiles", "predict_var", "predict_es",
                                  "sample_y"]), None],
        "volatility": [HasMethods(["fit", "predict_volatility"]), None],
        "scale_features": ["boolean", "array-like"],
    }

    def __init__(self, estimator=None, volatility=None, scale_features=True):
        self.estimator = estimator
        self.volatility = volatility
        self.scale_features = scale_features

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        # score is the conditional log-likelihood (as the estimator's), not R^2.
        tags.regressor_tags.poor_score = True
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    @kept_on_failure  # the new filter beside the old model predicted silently
    def fit(self, X, y):
        """Fit the filter on the returns, then the estimator on the standardised returns.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The features; one column is the previous day's return (for the filter).
        y : array-like of shape (n_samples,)
            The returns, in time order.

        Returns
        -------
        self : FilteredRiskEstimator
        """
        check_not_strings(y, "y")
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        self.scaled_features_ = self._scaled_columns(X.shape[1])
        volatility = (GARCHRiskEstimator(o=1, dist="skewt") if self.volatility is None
                      else self.volatility)
        try:
            self.volatility_ = clone(volatility).fit(X, y)
        except ImportError as exc:
            if self.volatility is not None:
                raise
            # The default filter needs arch: name the filter that does not.
            raise ImportError(
                f"{exc}. FilteredRiskEstimator's default filter is GJR-GARCH (arch); "
                "without arch, pass volatility=EWMARiskEstimator() (from "
                "skqegm.baselines: RiskMetrics' EWMA, no optional package).") from exc
        sigma = np.asarray(getattr(self.volatility_, "conditional_volatility_", None),
                           dtype=np.float64)
        if sigma.shape != y.shape:
            raise ValueError(
                f"volatility={volatility!r} gave no conditional_volatility_ of the "
                f"{y.shape[0]} training rows after fit (got shape {sigma.shape}); the "
                "filter must expose the training rows' sigma_t.")
        self._check_sigma(sigma, "the training rows")
        estimator = TailRiskEstimator() if self.estimator is None else self.estimator
        self.estimator_ = clone(estimator).fit(self._scaled(X, sigma), y / sigma)
        return self

    def _check_sigma(self, sigma, rows):
        if not np.all(np.isfinite(sigma) & (sigma > 0)):
            raise ValueError(f"The volatility filter gave a sigma that is not positive and "
                             f"finite for {rows}; the returns cannot be standardised.")

    def _scaled_columns(self, n_features):
        """``scale_features`` as a boolean mask over the ``n_features`` columns."""
        if isinstance(self.scale_features, (bool, np.bool_)):
            return np.full(n_features, bool(self.scale_features))
        columns = np.asarray(self.scale_features)
        allowed = ("True, False, column indices, names of X's columns, or a boolean mask "
                   f"of length n_features={n_features}")
        if columns.ndim != 1:
            raise ValueError(f"scale_features must be one-dimensional: {allowed}; got "
                             f"shape {columns.shape}.")
        flags = {isinstance(c, (bool, np.bool_)) for c in
                 np.asarray(self.scale_features, dtype=object).ravel()}
        if len(flags) > 1:  # numpy reads [True, 0, False] as the indices 1, 0, 0
            raise ValueError(f"scale_features mixes booleans and column indices: {allowed}; "
                             f"got {self.scale_features!r}.")
        if columns.dtype.kind == "b":
            if columns.shape[0] != n_features:
                raise ValueError(f"scale_features, a boolean mask, has {columns.shape[0]} "
                                 f"entries, not n_features={n_features}.")
            return columns.copy()
        mask = np.zeros(n_features, dtype=bool)
        if columns.size == 0:
            return mask
        if columns.dtype.kind in "iu":
            outside = columns[(columns < 0) | (columns >= n_features)]
            if outside.size:
                raise ValueError(f"scale_features holds column {outside[0]}, outside "
                                 f"[0, {n_features - 1}]: X has {n_features} columns.")
            mask[columns] = True
            return mask
        if columns.dtype.kind in "UO" and all(isinstance(c, str) for c in columns):
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                raise ValueError("scale_features names columns, but X has no column names "
                                 "(pass a DataFrame, or column indices).")
            unknown = sorted(str(c) for c in set(columns) - set(names))
            if unknown:
                raise ValueError(f"scale_features names {unknown}, which are not columns "
                                 f"of X ({list(names)}).")
            return np.isin(names, columns)
        raise ValueError(f"scale_features must be {allowed}; got {self.scale_features!r}.")

    def _scaled(self, X, sigma):
        if not self.scaled_features_.any():
            return X
        return np.where(self.scaled_features_, X / sigma[:, None], X)

    def _standardized(self, X):
        """``(X for the estimator, sigma)`` of prediction rows."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        sigma = np.asarray(self.volatility_.predict_volatility(X), dtype=np.float64)
        self._check_sigma(sigma, "the prediction rows")
        return self._scaled(X, sigma), sigma

    def predict(self, X):
        """The conditional median of ``y``, shape ``(n_samples,)``."""
        Z, sigma = self._standardized(X)
        return sigma * self.estimator_.predict(Z)

    def predict_quantiles(self, X, quantiles):
        """Conditional quantiles of ``y``, shape ``(n_samples, n_quantiles)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        quantiles : float or sequence of float
            Probabilities, each in (0, 1).
        """
        Z, sigma = self._standardized(X)
        return sigma[:, None] * self.estimator_.predict_quantiles(Z, quantiles)

    def predict_interval(self, X, coverage=None):
        """Central prediction interval ``(n_samples, 2)``; ``None`` uses the estimator's
        ``coverage``."""
        Z, sigma = self._standardized(X)
        return sigma[:, None] * self.estimator_.predict_interval(Z, coverage)

    def predict_var(self, X, level=0.99):
        """Value-at-risk at ``level`` in the units of ``y``, shape ``(n_samples,)``."""
        Z, sigma = self._standardized(X)
        return sigma * self.estimator_.predict_var(Z, level)

    def predict_es(self, X, level=0.99):
        """Expected shortfall at ``level`` in the units of ``y``, shape ``(n_samples,)``."""
        Z, sigma = self._standardized(X)
        return sigma * self.estimator_.predict_es(Z, level)

    def sample_y(self, X, n_draws=None, random_state=None):
        """Draws of ``y`` given each row, shape ``(n_samples, n_draws)``; the arguments
        are the estimator's (``random_state=None`` uses the ``random_state`` of
        ``estimator``)."""
        Z, sigma = self._standardized(X)
        return sigma[:, None] * self.estimator_.sample_y(Z, n_draws=n_draws,
                                                         random_state=random_state)

    def score(self, X, y):
        """Mean conditional log-likelihood of ``y`` (greater is better).

        The estimator's mean log-likelihood of ``y / sigma`` minus the mean of
        ``log sigma`` (the change of variables).
        """
        Z, sigma = self._standardized(X)
        # Validated before dividing: a column vector or a y of another length would
        # broadcast against sigma (an (n, n) array, or numpy's error).
        check_not_strings(y, "y")
        y = column_or_1d(check_array(y, ensure_2d=False, dtype=np.float64, input_name="y"))
        check_consistent_length(Z, y)
        return self.estimator_.score(Z, y / sigma) - float(np.mean(np.log(sigma)))
