"""GPDTailSampler: peaks over threshold, a generalized Pareto tail on each side of a body."""

import numpy as np
from scipy.special import logsumexp, ndtr
from scipy.stats import genpareto
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..metrics import neg_tail_kl_scorer
from ..utils._validation import check_int, check_option, check_real

BODIES = ("kde", "empirical")
#: Fewest training points beyond each threshold for a generalized Pareto fit.
MIN_EXCEEDANCES = 5
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _has_density(estimator):
    return estimator.body == "kde"


class GPDTailSampler(DensityMixin, BaseEstimator):
    """Extreme-value model: a body between two thresholds, generalized Pareto tails beyond.

    For each feature (margin) separately, the thresholds are the ``tail_quantile`` and
    ``1 - tail_quantile`` quantiles of the training data. The points beyond each
    threshold (the peaks over threshold) are fitted by a generalized Pareto distribution
    (``scipy.stats.genpareto``, maximum likelihood, location 0 at the threshold), which
    extreme-value theory (Pickands-Balkema-de Haan) makes the limit law of exceedances.
    Each tail keeps its training frequency. Between the thresholds the body is either
    the empirical distribution of the training points there (``body="empirical"``) or a
    Gaussian kernel density of them truncated to the body interval (``body="kde"``).

    Features are modelled independently: :meth:`sample` draws each margin on its own,
    and the joint density is the product of the margins. This is the standard
    peaks-over-threshold baseline for one series; with several features it ignores
    their dependence.

    Parameters
    ----------
    tail_quantile : float, default=0.05
        Probability beyond each threshold, in (0, 0.5). Each tail needs at least
        ``MIN_EXCEEDANCES`` (5) training points strictly beyond its threshold.
    body : {"kde", "empirical"}, default="kde"
        The body between the thresholds. The empirical body has no density, so
        ``score_samples`` exists only with ``body="kde"`` and :meth:`score` is then
        minus the tail KL divergence.
    bandwidth : "scott", "silverman" or float, default="scott"
        Kernel bandwidth of the KDE body per feature: Scott's or Silverman's rule on
        that feature's body points, or a float in units of their standard deviation.

    Attributes
    ----------
    thresholds_ : ndarray of shape (2, n_features)
        Lower (row 0) and upper (row 1) thresholds.
    tail_fractions_ : ndarray of shape (2, n_features)
        Training frequency strictly beyond each threshold.
    gpd_shape_, gpd_scale_ : ndarray of shape (2, n_features)
        The generalized Pareto shape ``xi`` (``c`` in scipy; > 0 a heavy, power-law
        tail, < 0 a bounded one) and scale of each tail's exceedances.
    bandwidths_ : ndarray of shape (n_features,)
        Kernel bandwidths of the KDE body (``body="kde"`` only).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> X = np.random.default_rng(0).standard_t(3, size=(20000, 1))
    >>> gpd = GPDTailSampler(tail_quantile=0.02).fit(X)
    >>> np.round(gpd.gpd_shape_.ravel(), 2)  # about 1/3 for a t_3 tail
    array([0.21, 0.29])
    >>> gpd.sample(3, random_state=0).shape
    (3, 1)
    """

    def __init__(self, tail_quantile=0.05, body="kde", bandwidth="scott"):
        self.tail_quantile = tail_quantile
        self.body = body
        self.bandwidth = bandwidth

    def fit(self, X, y=None):
        """Fit the thresholds, both generalized Pareto tails and the body of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        self : object
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        self._check_params()
        q = self.tail_quantile
        self.thresholds_ = np.quantile(X, [q, 1 - q], axis=0)
        shape = (2, X.shape[1])
        self.tail_fractions_, self.gpd_shape_, self.gpd_scale_ = (np.empty(shape) for _ in "123")
        self._bodies = []
        for j, x in enumerate(X.T):
            low, high = self.thresholds_[:, j]
            for side, excess in enumerate((low - x[x < low], x[x > high] - high)):
                if len(excess) < MIN_EXCEEDANCES:
                    raise ValueError(
                        f"GPDTailSampler needs at least {MIN_EXCEEDANCES} training points "
                        f"strictly beyond each threshold; feature {j} has {len(excess)} "
                        f"{('below', 'above')[side]} its {('lower', 'upper')[side]} "
                        f"threshold with tail_quantile={q}. Pass more rows, a larger "
                        "tail_quantile, or data with fewer ties."
                    )
                self.tail_fractions_[side, j] = len(excess) / len(x)
                c, _, scale = genpareto.fit(excess, floc=0)
                self.gpd_shape_[side, j], self.gpd_scale_[side, j] = c, scale
            self._bodies.append(np.sort(x[(x >= low) & (x <= high)]))
        if self.body == "kde":
            self.bandwidths_ = np.array([self._bandwidth(b) for b in self._bodies])
        return self

    @available_if(_has_density)
    def score_samples(self, X):
        """Log-density at each row of ``X`` (``body="kde"`` only): the sum over features of
        the tail's ``log(fraction * genpareto.pdf(excess))`` beyond a threshold, or of the
        body's ``log(body fraction * truncated KDE)`` between them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``-inf`` beyond the end point of a bounded (``xi < 0``) tail.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return sum(self._margin_logpdf(x, j) for j, x in enumerate(X.T))

    def score(self, X, y=None):
        """Mean log-density of ``X`` with the KDE body; minus the tail KL divergence of
        ``X`` from 10 draws per row (:data:`~skqegm.metrics.neg_tail_kl_scorer`) with the
        empirical body, which has no density.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        if _has_density(self):
            return float(self.score_samples(X).mean())
        check_is_fitted(self)
        return neg_tail_kl_scorer(self, validate_data(self, X, dtype=np.float64, reset=False))

    def sample(self, n_samples=1, random_state=None):
        """Draw each feature independently: a tail with its training frequency (threshold
        plus or minus a generalized Pareto excess), else the body.

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        rng = check_random_state(random_state)
        out = np.empty((n_samples, self.n_features_in_))
        for j in range(self.n_features_in_):
            u = rng.random_sample(n_samples)
            lower = u < self.tail_fractions_[0, j]
            upper = u >= 1 - self.tail_fractions_[1, j]
            body = ~(lower | upper)
            for side, rows, sign in ((0, lower, -1.0), (1, upper, 1.0)):
                excess = genpareto.rvs(self.gpd_shape_[side, j], scale=self.gpd_scale_[side, j],
                                       size=rows.sum(), random_state=rng)
                out[rows, j] = self.thresholds_[side, j] + sign * excess
            out[body, j] = self._sample_body(j, body.sum(), rng)
        return out

    # -- body ---------------------------------------------------------------------------------
    def _bandwidth(self, points):
        std = points.std() if len(points) > 1 else 0.0
        if std == 0:  # one distinct body value: any small kernel keeps it a narrow bump
            std = max(np.ptp(self.thresholds_), 1.0) * 1e-3
        n = len(points)
        if self.bandwidth == "scott":
            return std * n ** (-1 / 5)
        if self.bandwidth == "silverman":
            iqr = np.subtract(*np.quantile(points, [0.75, 0.25])) / 1.34
            return 0.9 * (min(std, iqr) if iqr > 0 else std) * n ** (-1 / 5)
        return self.bandwidth * std

    def _sample_body(self, j, n, rng):
        points = self._bodies[j]
        if self.body == "empirical":
            return rng.choice(points, size=n)
        low, high = self.thresholds_[:, j]
        out = np.empty(0)
        while len(out) < n:  # rejection from the untruncated KDE; acceptance is high
            draws = rng.choice(points, size=2 * (n - len(out)) + 8)
            draws = draws + self.bandwidths_[j] * rng.standard_normal(len(draws))
            out = np.concatenate([out, draws[(draws >= low) & (draws <= high)]])
        return out[:n]

    def _margin_logpdf(self, x, j):
        low, high = self.thresholds_[:, j]
        out = np.empty(len(x))
        for side, rows, excess in ((0, x < low, low - x), (1, x > high, x - high)):
            out[rows] = np.log(self.tail_fractions_[side, j]) + genpareto.logpdf(
                excess[rows], self.gpd_shape_[side, j], scale=self.gpd_scale_[side, j])
        body = (x >= low) & (x <= high)
        points, h = self._bodies[j], self.bandwidths_[j]
        mass_inside = np.mean(ndtr((high - points) / h) - ndtr((low - points) / h))
        log_fraction = np.log(1 - self.tail_fractions_[:, j].sum()) - np.log(mass_inside)
        out[body] = log_fraction + self._kde_logpdf(x[body], points, h)
        return out

    @staticmethod
    def _kde_logpdf(x, points, h):
        out = np.empty(len(x))
        step = max(1, 2**22 // len(points))
        for start in range(0, len(x), step):
            z = (x[start: start + step, None] - points) / h
            out[start: start + step] = logsumexp(-0.5 * z * z, axis=1)
        return out - np.log(len(points) * h) - _LOG_SQRT_2PI

    def _check_params(self):
        check_real(self.tail_quantile, "tail_quantile", low=0, high=0.5, low_open=True,
                   high_open=True)
        check_option(self.body, "body", BODIES)
        if isinstance(self.bandwidth, str):
            check_option(self.bandwidth, "bandwidth", ("scott", "silverman"))
        else:
            check_real(self.bandwidth, "bandwidth", low=0, low_open=True)
