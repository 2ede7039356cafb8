"""StudentTSampler: a multivariate Student-t distribution fitted by maximum likelihood."""

import warnings
from numbers import Integral, Real

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular
from scipy.optimize import minimize_scalar
from scipy.special import gammaln
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._memory import check_memory
from ..utils._mixins import LogDensityScoreMixin
from ..utils._sampling import draw_random_state
from ..utils._scaling import center_scale
from ..utils._state import kept_on_failure
from ..utils._validation import IntervalNotBool, check_int
from ..utils._warnings import caller_stacklevel

# Degrees of freedom searched by maximum likelihood: from far heavier tails than any
# market's to practically Gaussian.
DF_BOUNDS = (0.2, 1000.0)
# Share of the rows equal to one row from which a fit with df_ < 1 is taken as collapsed
# onto it (see _warn_if_collapsed).
_ATOM_SHARE = 0.05


def _mahalanobis(X, location, chol):
    return (solve_triangular(chol, (X - location).T, lower=True) ** 2).sum(axis=0)


def _scatter_factor(scatter, reg_covar):
    """The Cholesky factor of a scatter matrix, or a ``ValueError`` naming ``reg_covar``."""
    try:
        return cholesky(scatter, lower=True)
    except LinAlgError:
        raise ValueError(
            "StudentTSampler: the scatter matrix of X is singular (a constant column, "
            "collinear columns or fewer rows than columns), and reg_covar="
            f"{reg_covar!r} adds too little to its diagonal to make it positive definite. "
            "Raise reg_covar (the default is 1e-6)."
        ) from None


def _t_logpdf(delta, df, n_features, log_det, log1p_ratio=None):
    """Log-density of a multivariate t at squared Mahalanobis distances ``delta``
    (or at ``log1p_ratio = log1p(delta / df)``, when ``delta`` would overflow)."""
    if log1p_ratio is None:
        log1p_ratio = np.log1p(delta / df)
    return (gammaln((df + n_features) / 2) - gammaln(df / 2)
            - 0.5 * n_features * np.log(df * np.pi) - 0.5 * log_det
            - 0.5 * (df + n_features) * log1p_ratio)


def _log1p_mahalanobis_ratio(X, location, chol, df):
    """``log1p(delta / df)`` from the whitened rows, without squaring their size: a row
    1e160 from the location overflowed ``delta`` to inf, a log-density of -inf where the
    heavy tail's is about -(df + d) * 368."""
    whitened = solve_triangular(chol, (X - location).T, lower=True)
    peak = np.abs(whitened).max(axis=0)
    safe = np.where(peak > 0, peak, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # at the location: log 0 = -inf
        log_delta = 2 * np.log(safe) + np.log(((whitened / safe) ** 2).sum(axis=0))
    # Beyond even the whitening's float range the log-density is -inf, as it was.
    log_delta = np.where(np.isinf(peak), np.inf, log_delta)
    return np.logaddexp(0.0, log_delta - np.log(df))


def _robust_scale(X, std):
    """Each column's spread by its median absolute deviation (scaled to equal the standard
    deviation of a normal law); the standard deviation where the deviation is 0.

    The ridge ``reg_covar`` is added to the scatter of the data divided by this scale. By
    the standard deviation, which a heavy tail inflates, the ridge swamped the body's
    scatter: on 3,000 draws of a t with 0.8 degrees of freedom the fit stopped at
    ``df_ = 1.2`` and 4x the scale, 963 log-likelihood units below scipy's maximum. The
    floor at ``1e-6 std`` bounds the standardised values (``sqrt(n) 1e6``), so their
    squares cannot overflow.
    """
    mad = 1.4826 * np.median(np.abs(X - np.median(X, axis=0)), axis=0)
    return np.where(mad > 0, np.maximum(mad, 1e-6 * std), std)


def _best_df(delta, n_features, log_det):
    """The degrees of freedom maximising the likelihood at fixed location and scatter."""
    result = minimize_scalar(
        lambda log_df: -_t_logpdf(delta, np.exp(log_df), n_features, log_det).sum(),
        bounds=np.log(DF_BOUNDS), method="bounded", options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def _warn_if_collapsed(X, df):
    """Warn when the fit collapsed onto a repeated row: a Student-t has no atom, and on
    data with one the likelihood peaks at a tiny scatter around it with ``df_`` far
    below 1 (measured on 200 and 2,000 normal or t(3) draws with 5-90% of them set to one
    value: ``df_`` 0.20-0.49 and a scale of 2e-6 to 1e-3 from 35-40% on, whose draws'
    99% quantile of ``|x|`` reached 2.6e6 where the data's is 2.6; ``df_`` 1.3 or more
    below that). Continuous data with so heavy a tail repeat no row."""
    if df >= 1:
        return
    rows, counts = np.unique(X, axis=0, return_counts=True)
    share = counts.max() / X.shape[0]
    if share < _ATOM_SHARE:
        return
    warnings.warn(
        f"StudentTSampler: df_={df:.3g}, a law without a mean, fitted to data with a "
        f"repeated value: {share:.0%} of the rows of X equal "
        f"{rows[np.argmax(counts)].tolist()}. A Student-t has no atom; its fit collapses "
        "onto it, with a tiny scatter, and its draws reach far beyond the data. Model "
        "the atom apart from the continuous part (or drop it) before fitting.",
        UserWarning, stacklevel=caller_stacklevel())


class StudentTSampler(LogDensityScoreMixin, BaseEstimator):
    """Multivariate Student-t distribution ``t_nu(location, scatter)`` fitted by maximum
    likelihood.

    The fit is the ECME algorithm (Liu and Rubin 1995): EM steps for the location and the
    scatter matrix given the degrees of freedom, each followed by a one-dimensional
    maximisation of the exact likelihood over the degrees of freedom (bounded to
    ``DF_BOUNDS``); every step increases the likelihood. With one feature it is the
    three-parameter Student-t of ``scipy.stats.t.fit``. The fit is deterministic.

    A Student-t has no atom: on data with a value repeated in a large share of the rows
    (a third of returns equal to 0, say) the likelihood peaks at a tiny scatter around
    that value with ``df_`` far below 1, and ``fit`` warns, naming the value.

    Parameters
    ----------
    max_iter : int, default=500
        ECME iterations at most, >= 1.
    tol : float, default=1e-9
        Stop when the mean log-likelihood improves by less than ``tol`` (>= 0).
    reg_covar : float, default=1e-6
        Added (>= 0) to the diagonal of the scatter of the standardised data (each
        column divided by its median absolute deviation, which a heavy tail does not
        inflate), so that it stays positive definite (as in ``GaussianMixture``).

    Attributes
    ----------
    location_ : ndarray of shape (n_features,)
        The location (the mean when ``df_ > 1``).
    scatter_ : ndarray of shape (n_features, n_features)
        The shape matrix (the covariance is ``scatter_ * df_ / (df_ - 2)`` when
        ``df_ > 2``).
    df_ : float
        Degrees of freedom.
    n_iter_ : int
        ECME iterations run.
    converged_ : bool
        Whether the log-likelihood stopped improving by ``tol`` within ``max_iter``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import StudentTSampler
    >>> X = np.random.default_rng(0).standard_t(4, size=(5000, 1))
    >>> t = StudentTSampler().fit(X)
    >>> round(t.df_, 1)
    3.9
    >>> t.sample(3, random_state=0).shape
    (3, 1)
    """

    _parameter_constraints: dict = {
        "max_iter": [IntervalNotBool(Integral, 1, None, closed="left")],
        "tol": [IntervalNotBool(Real, 0, None, closed="left")],
        "reg_covar": [IntervalNotBool(Real, 0, None, closed="left")],
    }

    def __init__(self, max_iter=500, tol=1e-9, reg_covar=1e-6):
        self.max_iter = max_iter
        self.tol = tol
        self.reg_covar = reg_covar

    @_fit_context(prefer_skip_nested_validation=True)
    @kept_on_failure
    def fit(self, X, y=None):
        """Fit location, scatter and degrees of freedom by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite, at least 2 rows.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted sampler.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.baselines import StudentTSampler
        >>> X = np.random.default_rng(0).standard_t(4, size=(2000, 2))
        >>> StudentTSampler().fit(X).scatter_.shape
        (2, 2)
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        center, std = center_scale(X, "X", getattr(self, "feature_names_in_", None),
                                   variance=True)
        scale = _robust_scale(X, std)
        Y = (X - center) / scale
        n, d = Y.shape
        ridge = self.reg_covar * np.eye(d)
        location, scatter, df = Y.mean(axis=0), np.cov(Y.T, bias=True).reshape(d, d) + ridge, 10.0
        previous, self.converged_ = -np.inf, False
        for n_iter in range(1, self.max_iter + 1):  # noqa: B007 (n_iter_ after the loop)
            chol = _scatter_factor(scatter, self.reg_covar)
            weights = (df + d) / (df + _mahalanobis(Y, location, chol))
            location = weights @ Y / weights.sum()
            centred = Y - location
            scatter = (weights[:, None] * centred).T @ centred / n + ridge
            chol = _scatter_factor(scatter, self.reg_covar)
            delta, log_det = _mahalanobis(Y, location, chol), 2 * np.log(np.diag(chol)).sum()
            df = _best_df(delta, d, log_det)
            loglik = _t_logpdf(delta, df, d, log_det).mean()
            if loglik - previous < self.tol:
                self.converged_ = True
                break
            previous = loglik
        self.n_iter_ = n_iter
        if not self.converged_:
            warnings.warn(f"StudentTSampler did not converge in max_iter={self.max_iter} "
                          "iterations; raise max_iter or tol.", ConvergenceWarning,
                          stacklevel=caller_stacklevel())
        self.location_ = center + scale * location
        self.scatter_ = scatter * np.outer(scale, scale)
        self.df_ = df
        self._chol = _scatter_factor(self.scatter_, self.reg_covar)
        _warn_if_collapsed(X, df)
        return self

    def score_samples(self, X):
        """Log-density of the fitted Student-t at each row of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            The log-density of each row.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.baselines import StudentTSampler
        >>> X = np.random.default_rng(0).standard_t(4, size=(2000, 1))
        >>> StudentTSampler().fit(X).score_samples(X[:3]).shape
        (3,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        log_det = 2 * np.log(np.diag(self._chol)).sum()
        log1p_ratio = _log1p_mahalanobis_ratio(X, self.location_, self._chol, self.df_)
        return _t_logpdf(None, self.df_, self.n_features_in_, log_det, log1p_ratio)

    def sample(self, n_samples=1, random_state=None):
        """Draw ``location + L g / sqrt(w / df)`` with ``g ~ N(0, I)``, ``w ~ chi2(df)``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples, >= 1.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; an int gives the same samples every time. None uses the
            estimator's ``random_state``, and this estimator has none: each call
            draws afresh.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The draws.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.baselines import StudentTSampler
        >>> X = np.random.default_rng(0).standard_t(4, size=(2000, 2))
        >>> StudentTSampler().fit(X).sample(5, random_state=0).shape
        (5, 2)
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        # the normals, their product with the scatter's factor, and the draws
        check_memory(3 * 8.0 * n_samples * self.n_features_in_,
                     f"sample(n_samples={n_samples})", "draw fewer samples per call.")
        rng = draw_random_state(self, random_state)
        gaussian = rng.standard_normal((n_samples, self.n_features_in_)) @ self._chol.T
        mixing = np.sqrt(rng.chisquare(self.df_, size=(n_samples, 1)) / self.df_)
        return self.location_ + gaussian / mixing
