"""GPDTailSampler: peaks over threshold, a generalized Pareto tail on each side of a body."""

import warnings
from numbers import Real

import numpy as np
from scipy.special import erf, logsumexp
from scipy.stats import genpareto, truncnorm
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils._fit_params import record_fit_params
from ..utils._memory import check_memory
from ..utils._sampling import draw_random_state
from ..utils._scaling import mean_std
from ..utils._state import kept_on_failure
from ..utils._tails import fit_gpd, flag_beyond, tail_thresholds
from ..utils._validation import IntervalNotBool, check_int
from ..utils._warnings import caller_stacklevel

BODIES = ("kde", "empirical")
#: Fewest training points beyond a threshold for a generalized Pareto fit; a tail with
#: fewer is exponential (see the Notes of :class:`GPDTailSampler`).
MIN_EXCEEDANCES = 5
#: Coarsest grid of the exceedances, relative to the fitted scale, that fits without a
#: warning of rounded data.
ROUNDING_TOLERANCE = 0.02
#: Probability, in observations, of a tail with no training point beyond its threshold.
EMPTY_TAIL_OBSERVATIONS = 0.5
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)
#: At or below this shape the maximum-likelihood estimator of the generalized Pareto law is
#: not asymptotically normal (Smith, 1985): no standard errors there.
MIN_REGULAR_SHAPE = -0.5
_SIDES = ("lower", "upper")


def _has_density(estimator):
    return estimator.body == "kde"


# A fitted tail may draw beyond float64's largest value with at most this probability.
_MAX_OVERFLOW_PROBABILITY = 1e-12


class GPDTailSampler(DensityMixin, BaseEstimator):
    """Extreme-value model: a body between two thresholds, generalized Pareto tails beyond.

    For each feature (margin) separately, the thresholds are the ``tail_fraction`` and
    ``1 - tail_fraction`` quantiles of the training data. The points beyond each
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

    Only the KDE body has a density, so ``score_samples`` and ``score`` (the mean
    log-density) exist only with ``body="kde"``: with ``body="empirical"``,
    ``hasattr(model, "score")`` is False, and model selection needs an explicit
    scorer, such as :data:`~skqegm.metrics.neg_tail_kl_scorer`.

    Parameters
    ----------
    tail_fraction : float, default=0.05
        Probability beyond each threshold, in (0, 0.5). A tail with fewer than
        ``MIN_EXCEEDANCES`` (5) training points strictly beyond its threshold is
        exponential (see Notes).
    body : {"kde", "empirical"}, default="kde"
        The body between the thresholds. The empirical body has no density, so
        ``score_samples`` and ``score`` exist only with ``body="kde"``.
    bandwidth : "scott", "silverman" or float, default="scott"
        Kernel bandwidth of the KDE body per feature: Scott's or Silverman's rule on
        that feature's body points, or a float (> 0) in units of their standard
        deviation.

    Attributes
    ----------
    tail_threshold_ : ndarray of shape (2, n_features)
        Lower (row 0) and upper (row 1) thresholds: the ``tail_fraction`` and
        ``1 - tail_fraction`` quantiles of each feature (``numpy.quantile``).
    n_exceedances_ : ndarray of shape (2, n_features), dtype int
        Training points strictly beyond each threshold.
    tail_fractions_ : ndarray of shape (2, n_features)
        Probability of each tail: its training frequency (``n_exceedances_`` over the
        number of rows), or half an observation's worth for a tail without exceedances.
    gpd_shape_, gpd_scale_ : ndarray of shape (2, n_features)
        The generalized Pareto shape ``xi`` (``c`` in scipy; > 0 a heavy, power-law
        tail, < 0 a bounded one, 0 exponential) and scale of each tail's exceedances.
    gpd_shape_se_, gpd_scale_se_ : ndarray of shape (2, n_features)
        Standard errors of ``gpd_shape_`` and ``gpd_scale_``: the square roots of the
        diagonal of their block of ``tail_cov_`` (finite also where the scale's variance
        there overflows to ``inf``, for data beyond about 1e154, or is NaN, below about
        1e-154). NaN where the shape is not estimated (a tail with fewer than 5
        exceedances; its exponential scale keeps
        the standard error ``scale / sqrt(n_exceedances)``, NaN without any) and where the
        fitted shape is at or below -0.5, where the maximum-likelihood estimator is not
        asymptotically normal (Smith, 1985).
    tail_cov_ : ndarray of shape (2, n_features, 3, 3)
        Asymptotic covariance of ``(tail_fractions_, gpd_shape_, gpd_scale_)`` of each
        tail, in that order, as in section 4.4.1 of Coles (2001): the tail fraction is a
        binomial proportion, of variance ``fraction * (1 - fraction) / n_samples``,
        independent of the generalized Pareto fit; the ``(shape, scale)`` block is the
        inverse of the observed information (the analytic Hessian of the generalized
        Pareto negative log-likelihood at the fit). The thresholds are held fixed (the
        analysis is conditional on them), so they have no standard error.
        :func:`skqegm.extremes.return_level` uses it for delta-method intervals (and,
        for an exponential tail of 1 to 4 exceedances, takes the exceedance and row
        counts of its profile-likelihood interval from the fraction's variance).
    bandwidths_ : ndarray of shape (n_features,)
        Kernel bandwidths of the KDE body (``body="kde"`` only).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.

    Notes
    -----
    A generalized Pareto fit needs a few exceedances; a tail with fewer than
    ``MIN_EXCEEDANCES`` (5) training points strictly beyond its threshold (few rows, a
    small ``tail_fraction`` or many ties) is fitted with a :class:`UserWarning` that
    names the feature, the side and the counts, and is exponential (shape 0, the
    generalized Pareto law with one parameter fewer):

    - with 1 to 4 exceedances, its scale is their mean excess over the threshold (the
      exponential maximum-likelihood fit) and its probability their frequency;
    - with none, its scale is the feature's standard deviation (1 for a constant
      feature) and its probability ``EMPTY_TAIL_OBSERVATIONS / n_samples`` (half an
      observation), taken from the body, so that the density stays positive and
      ``score_samples`` finite beyond the threshold.

    With 5 or more exceedances the tail is always the maximum-likelihood generalized
    Pareto fit (scipy's).

    Below a shape of -1 the likelihood has no maximum (it grows
    without bound as the end point nears the largest exceedance) and the fit is a tail
    bounded at about the largest value: ``fit`` warns of such tails. Few exceedances of
    an exponential tail often give one (in 66% of fits of 5 exceedances, 34% of 10, 6% of
    20, measured), and their return levels then stop at the largest value. The usual
    remedy, the maximum likelihood over shapes of at least -1, does not help: a shape of
    -1 also ends the tail at the largest exceedance (on 300 samples of 5, 8 and 10
    exponential exceedances, its levels of 100 times the tail's rarity were 0.38-0.44 of
    the true excess, as the fits below -1, and below it in 97-100% of those samples;
    the exponential fit's 0.89-0.99).

    Exceedances on a grid coarser than ``ROUNDING_TOLERANCE`` (2%) of the fitted scale
    (rounded data) give a biased fit, towards lighter tails: ``fit`` warns of them.

    When both thresholds of a feature coincide (more than ``1 - 2 tail_fraction`` of its
    training values are equal), its body interval is
    that one value: :meth:`sample` returns it and ``score_samples`` gives it the
    density of the untruncated kernel bump there, a finite stand-in for a point mass.
    ``fit`` raises a ``ValueError`` when no training value of a feature lies between its
    thresholds (2 rows, say), since the body then has no data.

    References
    ----------
    Coles, S. (2001). An Introduction to Statistical Modeling of Extreme Values.
    Springer, chapter 4.

    Smith, R. L. (1985). Maximum likelihood estimation in a class of nonregular cases.
    Biometrika, 72, 67-90.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GPDTailSampler
    >>> X = np.random.default_rng(0).standard_t(3, size=(20000, 1))
    >>> gpd = GPDTailSampler(tail_fraction=0.02).fit(X)
    >>> np.round(gpd.gpd_shape_.ravel(), 2)  # about 1/3 for a t_3 tail
    array([0.21, 0.29])
    >>> np.round(gpd.gpd_shape_se_.ravel(), 2)  # from the observed information
    array([0.06, 0.07])
    >>> gpd.sample(3, random_state=0).shape
    (3, 1)
    >>> hasattr(GPDTailSampler(body="empirical"), "score")
    False
    """

    _parameter_constraints: dict = {
        "tail_fraction": [IntervalNotBool(Real, 0, 0.5, closed="neither")],
        "body": [StrOptions(set(BODIES))],
        "bandwidth": [StrOptions({"scott", "silverman"}),
                      IntervalNotBool(Real, 0, None, closed="neither")],
    }

    def __init__(self, tail_fraction=0.05, body="kde", bandwidth="scott"):
        self.tail_fraction = tail_fraction
        self.body = body
        self.bandwidth = bandwidth

    @_fit_context(prefer_skip_nested_validation=True)
    @kept_on_failure
    def fit(self, X, y=None):
        """Fit the thresholds, both generalized Pareto tails and the body of each feature.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, finite.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted sampler.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.baselines import GPDTailSampler
        >>> X = np.random.default_rng(0).normal(size=(1000, 2))
        >>> GPDTailSampler().fit(X).tail_threshold_.shape
        (2, 2)
        """
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        # return_level places the threshold between the data by the fit's tail_fraction.
        record_fit_params(self)
        self.tail_threshold_ = tail_thresholds(X, tail_fraction=self.tail_fraction)
        inside = ~flag_beyond(X, self.tail_threshold_, "both")
        self._check_bodies(inside)
        self._bodies = [np.sort(x[rows]) for x, rows in zip(X.T, inside.T, strict=True)]
        self._fit_tails(X)
        self._check_tails_stay_finite()
        self._warn_few_exceedances(len(X))
        self._warn_unbounded_likelihood()
        self._warn_rounded_excesses(X)
        if self.body == "kde":
            self.bandwidths_ = np.array([self._bandwidth(points, j)
                                         for j, points in enumerate(self._bodies)])
        return self

    @available_if(_has_density)
    def score_samples(self, X):
        """Log-density at each row of ``X`` (``body="kde"`` only).

        The sum over features of the tail's ``log(fraction * genpareto.pdf(excess))``
        beyond a threshold, or of the body's ``log(body fraction * truncated KDE)``
        between them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to score.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``-inf`` beyond the end point of a bounded (``xi < 0``) tail.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.baselines import GPDTailSampler
        >>> X = np.random.default_rng(0).normal(size=(1000, 1))
        >>> GPDTailSampler().fit(X).score_samples(X[:3]).shape
        (3,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return sum(self._margin_logpdf(x, j) for j, x in enumerate(X.T))

    @available_if(_has_density)
    def score(self, X, y=None):
        """Mean log-density of the rows of ``X`` (``body="kde"`` only).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Points to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
            The mean of :meth:`score_samples`.

        Examples
        --------
        >>> import numpy as np
        >>> from skqegm.baselines import GPDTailSampler
        >>> X = np.random.default_rng(0).normal(size=(1000, 1))
        >>> model = GPDTailSampler().fit(X)
        >>> bool(model.score(X) == model.score_samples(X).mean())
        True
        """
        return float(self.score_samples(X).mean())

    def sample(self, n_samples=1, random_state=None):
        """Draw each feature independently: a tail with its probability (threshold plus or
        minus a generalized Pareto excess), else the body.

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
        >>> from skqegm.baselines import GPDTailSampler
        >>> X = np.random.default_rng(0).normal(size=(1000, 2))
        >>> GPDTailSampler().fit(X).sample(4, random_state=0).shape
        (4, 2)
        """
        check_is_fitted(self)
        n_samples = check_int(n_samples, "n_samples", min_value=1)
        # the draws, and a column's uniforms, flags and body draws
        check_memory(8.0 * n_samples * (self.n_features_in_ + 6),
                     f"sample(n_samples={n_samples})", "draw fewer samples per call.")
        rng = draw_random_state(self, random_state)
        out = np.empty((n_samples, self.n_features_in_))
        for j in range(self.n_features_in_):
            u = rng.random_sample(n_samples)
            lower = u < self.tail_fractions_[0, j]
            upper = u >= 1 - self.tail_fractions_[1, j]
            body = ~(lower | upper)
            for side, rows, sign in ((0, lower, -1.0), (1, upper, 1.0)):
                excess = genpareto.rvs(self.gpd_shape_[side, j], scale=self.gpd_scale_[side, j],
                                       size=rows.sum(), random_state=rng)
                out[rows, j] = self.tail_threshold_[side, j] + sign * excess
            out[body, j] = self._sample_body(j, body.sum(), rng)
        return out

    # -- fit ----------------------------------------------------------------------------------
    def _check_bodies(self, inside):
        # An empty body has no data for the KDE or the empirical draws, and its
        # probability would be 0: say so rather than fit a model with a hole.
        empty = np.flatnonzero(~inside.any(axis=0))
        if len(empty):
            raise ValueError(
                f"GPDTailSampler: no training value of feature {empty[0]} lies between its "
                f"thresholds (tail_fraction={self.tail_fraction}, {len(inside)} rows), so "
                "the body has no data. Pass more rows or a smaller tail_fraction."
            )

    def _fit_tails(self, X):
        """Count the exceedances beyond each threshold and fit each tail to them."""
        beyond = [flag_beyond(X, self.tail_threshold_, side) for side in _SIDES]
        self.n_exceedances_ = np.stack([flags.sum(axis=0) for flags in beyond])
        shape = (2, X.shape[1])
        self.tail_fractions_, self.gpd_shape_, self.gpd_scale_ = (np.empty(shape) for _ in "123")
        self.tail_cov_ = np.empty(shape + (3, 3))
        self.gpd_shape_se_, self.gpd_scale_se_ = np.empty(shape), np.empty(shape)
        for j, x in enumerate(X.T):
            low, high = self.tail_threshold_[:, j]
            excesses = (low - x[beyond[0][:, j]], x[beyond[1][:, j]] - high)
            for side, excess in enumerate(excesses):
                fraction, xi, scale = _fit_tail(excess, x)
                (self.tail_fractions_[side, j], self.gpd_shape_[side, j],
                 self.gpd_scale_[side, j]) = fraction, xi, scale
                relative = _gpd_covariance(excess, xi, scale)
                self.tail_cov_[side, j] = _tail_covariance(excess, len(x), fraction, scale,
                                                           relative)
                # From the relative covariance: the scale's variance overflows float64 for
                # data beyond about 1e154, its standard error does not.
                self.gpd_shape_se_[side, j], self.gpd_scale_se_[side, j] = (
                    np.sqrt(np.diag(relative)) * (1.0, scale))

    def _check_tails_stay_finite(self):
        """Refuse tails whose draws overflow float64 with a probability that a sample can
        meet: a heavy tail fitted to huge values (the excess beyond the largest float is
        the tail's survival function there)."""
        for side, j in np.ndindex(*self.gpd_shape_.shape):
            room = np.finfo(np.float64).max - abs(self.tail_threshold_[side, j])
            with np.errstate(over="ignore"):
                p_overflow = self.tail_fractions_[side, j] * genpareto.sf(
                    room, self.gpd_shape_[side, j], scale=self.gpd_scale_[side, j])
            if p_overflow > _MAX_OVERFLOW_PROBABILITY:
                raise ValueError(
                    f"GPDTailSampler: the {_SIDES[side]} tail of feature {j} (shape "
                    f"{self.gpd_shape_[side, j]:.3g}, scale {self.gpd_scale_[side, j]:.3g}) "
                    f"draws beyond the largest float with probability {p_overflow:.2g}: "
                    "the data's values are too large for this tail. Rescale X (for example, "
                    "divide it by its largest magnitude) before fitting."
                )

    def _warn_few_exceedances(self, n_rows):
        few = np.argwhere(self.n_exceedances_.T < MIN_EXCEEDANCES)
        if not len(few):
            return
        counts = ", ".join(f"feature {j} {_SIDES[side]} tail has {self.n_exceedances_[side, j]}"
                           for j, side in few)
        warnings.warn(
            f"GPDTailSampler: a generalized Pareto fit needs {MIN_EXCEEDANCES} training "
            "values strictly beyond a threshold (exceedances); with "
            f"tail_fraction={self.tail_fraction} and {n_rows} rows, {counts}. Those tails are "
            "exponential (shape 0) with scale the mean excess, or, with no exceedance, "
            "the feature's standard deviation and half an observation's probability. "
            "Pass more rows or a larger tail_fraction for a fitted shape.",
            UserWarning, stacklevel=caller_stacklevel(),
        )

    def _warn_unbounded_likelihood(self):
        """Warn of fitted shapes below -1, where the generalized Pareto likelihood has no
        maximum (it grows without bound as the end point nears the largest exceedance)."""
        below = np.argwhere((self.gpd_shape_.T < -1) & (self.n_exceedances_.T >= MIN_EXCEEDANCES))
        if not len(below):
            return
        tails = ", ".join(f"feature {j} {_SIDES[side]} tail: shape {self.gpd_shape_[side, j]:.3g} "
                          f"from {self.n_exceedances_[side, j]} exceedances"
                          for j, side in below)
        warnings.warn(
            f"GPDTailSampler: {tails}. Below -1 the generalized Pareto likelihood has no "
            "maximum (it grows without bound as the tail's end point nears the largest "
            "exceedance), so the fit is a bounded tail ending about there, whatever lies "
            "beyond. Right for data bounded there (a uniform tail has shape -1), but few "
            "exceedances of an exponential tail give such fits too (measured: 66% of fits of "
            "5, 47% of 8, 34% of 10, 12% of 15, 6% of 20), and their return levels stop at "
            "the largest value. Pass more rows or a larger tail_fraction.",
            UserWarning, stacklevel=caller_stacklevel(),
        )

    def _warn_rounded_excesses(self, X):
        """Warn of generalized Pareto tails fitted to excesses on a grid coarser than
        ``ROUNDING_TOLERANCE`` (2%) of the fitted scale (rounded data): the continuous fit
        of them is biased."""
        coarse = []
        for side, j in np.argwhere(self.n_exceedances_ >= MIN_EXCEEDANCES):
            x, (low, high) = X[:, j], self.tail_threshold_[:, j]
            excess = np.sort(low - x[x < low] if side == 0 else x[x > high] - high)
            step = _grid_step(excess)
            if step is not None and step > ROUNDING_TOLERANCE * self.gpd_scale_[side, j]:
                coarse.append(f"feature {j} {_SIDES[side]} tail: step {step:.3g}, "
                              f"{step / self.gpd_scale_[side, j]:.0%} of its scale")
        if coarse:
            warnings.warn(
                f"GPDTailSampler: the exceedances lie on a grid ({'; '.join(coarse)}): the "
                "data are rounded, and a continuous generalized Pareto fit of rounded "
                "excesses is biased towards lighter tails (measured on Student-t(4) data, 60 "
                "samples of 10,000 rows: 100-year levels 4% low and 95% intervals covering "
                "93% unrounded, 6% and 90% rounded to 2% of the tail's scale, 10% and 82% to "
                "5%, 12% and 72% to 10%, 22% and 38% to 37%). Use data rounded less.",
                UserWarning, stacklevel=caller_stacklevel(),
            )

    # -- body ---------------------------------------------------------------------------------
    def _bandwidth(self, points, j):
        std = mean_std(points)[1] if len(points) > 1 else 0.0
        if std == 0:  # one distinct body value: any small kernel keeps it a narrow bump
            low, high = self.tail_threshold_[:, j]
            std = max(high - low, 1.0) * 1e-3
        n = len(points)
        if self.bandwidth == "scott":
            return std * n ** (-1 / 5)
        if self.bandwidth == "silverman":
            iqr = np.subtract(*np.quantile(points, [0.75, 0.25])) / 1.34
            return 0.9 * (min(std, iqr) if iqr > 0 else std) * n ** (-1 / 5)
        return self.bandwidth * std

    def _sample_body(self, j, n, rng):
        points = self._bodies[j]
        low, high = self.tail_threshold_[:, j]
        if self.body == "empirical" or low == high:  # a zero-width body is its one value
            return rng.choice(points, size=n)
        # The KDE truncated to the body is a mixture of truncated kernels, each weighted by
        # its mass inside: draw a kernel by that weight, then from it. Exact, and with no
        # rejection loop that a wide kernel could keep running.
        h = self.bandwidths_[j]
        a, b = (low - points) / h, (high - points) / h
        mass = _kernel_mass(low, high, points, h)  # each point lies inside: each is > 0
        kernels = rng.choice(len(points), size=n, p=mass / mass.sum())
        a, b = a[kernels], b[kernels]
        # A kernel so wide that exp(-x**2 / 2) rounds to 1 across the body is uniform on
        # it, exactly in float64; scipy's inversion there cancelled (half the draws fell
        # on the thresholds at bandwidth=1e16).
        flat = np.maximum(a * a, b * b) < 2 * np.finfo(np.float64).eps
        draws = np.empty(n)
        if not flat.all():
            draws[~flat] = truncnorm.rvs(a[~flat], b[~flat], loc=points[kernels][~flat],
                                         scale=h, random_state=rng)
        if flat.any():
            draws[flat] = rng.uniform(low, high, size=int(flat.sum()))
        return np.clip(draws, low, high)  # inversion may round a hair outside

    def _margin_logpdf(self, x, j):
        thresholds = self.tail_threshold_[:, j]
        low, high = thresholds
        out = np.empty(len(x))
        for side, excess in ((0, low - x), (1, x - high)):
            rows = flag_beyond(x, thresholds, _SIDES[side])
            out[rows] = np.log(self.tail_fractions_[side, j]) + genpareto.logpdf(
                excess[rows], self.gpd_shape_[side, j], scale=self.gpd_scale_[side, j])
        body = ~flag_beyond(x, thresholds, "both")
        points, h = self._bodies[j], self.bandwidths_[j]
        mass_inside = 1.0  # a zero-width body would truncate every kernel to nothing
        if high > low:
            mass_inside = np.mean(_kernel_mass(low, high, points, h))
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


def _grid_step(excess):
    """The step of the grid that the sorted ``excess`` lie on (differences all whole
    multiples of the smallest one), or None."""
    gaps = np.diff(np.unique(excess))
    if not len(gaps):
        return None
    step = gaps.min()
    multiples = (excess - excess[0]) / step
    on_grid = np.abs(multiples - np.round(multiples)) <= 1e-6 * max(1.0, multiples.max())
    return float(step) if np.all(on_grid) else None


def _kernel_mass(low, high, points, h):
    """Mass of each kernel ``N(point, h^2)`` between ``low`` and ``high``, for points inside.

    A difference of error functions, each of one sign: with every point in ``[low, high]``
    the two terms add up. ``ndtr(b) - ndtr(a)`` cancelled to 0 for kernels much wider than
    the body (``bandwidth=1e17``: an infinite log-density, NaN kernel weights).
    """
    return 0.5 * (erf((high - points) / (h * np.sqrt(2))) - erf((low - points) / (h * np.sqrt(2))))


def _fit_tail(excess, x):
    """``(probability, shape, scale)`` of one tail from its exceedances ``excess`` over the
    threshold and the feature's training values ``x`` (see the Notes of GPDTailSampler)."""
    if len(excess) >= MIN_EXCEEDANCES:
        return len(excess) / len(x), *fit_gpd(excess)
    if len(excess):  # exponential maximum likelihood: the scale is the mean excess
        return len(excess) / len(x), 0.0, excess.mean()
    std = mean_std(x)[1]
    return EMPTY_TAIL_OBSERVATIONS / len(x), 0.0, std if std > 0 else 1.0


def _tail_covariance(excess, n_rows, fraction, scale, relative):
    """Asymptotic covariance of ``(fraction, shape, scale)`` of one tail (``tail_cov_``),
    from the ``relative`` covariance of ``(shape, scale / fitted scale)``."""
    cov = np.zeros((3, 3))
    # A tail without exceedances has a stand-in fraction and scale, not estimates.
    cov[0, 0] = fraction * (1 - fraction) / n_rows if len(excess) else np.nan
    units = np.array([1.0, scale])  # back from the relative scale
    with np.errstate(over="ignore", under="ignore"):  # beyond float64's range: inf or 0
        block = relative * np.outer(units, units)
    # Below float64's normal range (a scale under about 1e-154) a variance keeps few digits
    # or none: 0 gave delta-method intervals of zero width. NaN: no standard error here.
    block[(np.abs(block) < np.finfo(np.float64).tiny) & (relative != 0)] = np.nan
    cov[1:, 1:] = block
    return cov


def _gpd_covariance(excess, shape, scale):
    """Inverse observed information of ``(shape, s)``, ``s`` the scale relative to the
    fitted ``scale``; NaN where it is not defined."""
    k = len(excess)
    if k < MIN_EXCEEDANCES:  # exponential: the shape is fixed, the scale the mean excess
        return np.array([[np.nan, np.nan], [np.nan, 1.0 / k if k else np.nan]])
    if not shape > MIN_REGULAR_SHAPE:
        return np.full((2, 2), np.nan)
    info = _gpd_information(excess / scale, shape)
    try:  # positive definite at a maximum; anything else has no standard errors
        np.linalg.cholesky(info)
    except np.linalg.LinAlgError:
        return np.full((2, 2), np.nan)
    return np.linalg.inv(info)


def _gpd_information(t, shape):
    """Observed information of the generalized Pareto law in ``(shape, s)``, ``s`` the scale
    relative to the fitted one, from the standardized excesses ``t = excess / scale``: the
    analytic Hessian of the negative log-likelihood, ``n log(scale) + (1 + 1/shape)
    sum(log(1 + shape t))``, at ``s = 1``. Non-finite entries (excesses beyond a bounded
    tail's end) make it refused by the caller's Cholesky check."""
    with np.errstate(all="ignore"):
        z = 1.0 + shape * t
        w = t / z
        h_shape = 2.0 * np.sum(_log1p_cubic_remainder(t, shape)) - np.sum(w * w)
        h_cross = (1.0 + shape) * np.sum(w * w) - np.sum(w)
        h_scale = (1.0 + shape) * np.sum(w + w / z) - len(t)
    info = np.array([[h_shape, h_cross], [h_cross, h_scale]])
    return info if np.all(np.isfinite(info)) else np.full((2, 2), np.nan)


# Taylor coefficients of (log1p(u) - u/(1+u) - (u/(1+u))**2 / 2) / u**3 at u = 0.
_REMAINDER_SERIES = [(-1) ** (k + 1) * (k - 1) * (k - 2) / (2 * k) for k in range(3, 12)]


def _log1p_cubic_remainder(t, shape):
    """``(log1p(u) - u/(1+u) - (u/(1+u))**2 / 2) / shape**3`` with ``u = shape * t``: the
    shape's second derivative of the log-likelihood cancels to this, and the series keeps
    it exact for small ``|u|`` (an exponential tail, shape near 0) where the terms cancel."""
    u = shape * t
    small = np.abs(u) < 1e-2
    out = np.empty_like(t)
    us = u[small]
    out[small] = t[small] ** 3 * sum(c * us**i for i, c in enumerate(_REMAINDER_SERIES))
    v = u[~small]
    a = v / (1.0 + v)
    out[~small] = (np.log1p(v) - a - 0.5 * a * a) / shape**3
    return out
