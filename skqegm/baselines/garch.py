"""GARCHRiskEstimator: VaR and ES of GARCH-family volatility models (the ``arch`` package).

The standardised tails are exact: for the normal and Student-t laws the classical closed
forms, for Hansen's (1994) skewed t (``arch``'s ``SkewStudent``) the same closed forms on
each of its two branches, which are rescaled unit-variance t densities.
"""

import math
import threading
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import stats
from scipy.signal import lfilter, lfiltic
from scipy.special import gammaln
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import StrOptions
from threadpoolctl import threadpool_limits

from ..utils._fit_params import fit_param, record_fit_params
from ..utils._scaling import power_of_two_scale
from ..utils._state import kept_on_failure
from ..utils._validation import IntervalNotBool
from ..utils._warnings import caller_stacklevel
from ._residual_evt import draw_residuals, fit_loss_tail, loss_tail_figures
from ._returns import (
    LocationScaleRiskMixin,
    check_fit_data,
    check_forecast_finite,
    lagged_returns,
    residual_tail,
)

_ONE_FIT_AT_A_TIME = threading.Lock()

__all__ = ["GARCHRiskEstimator"]

#: Fewest training returns accepted, and fewest below which ``fit`` warns: a GARCH fit on
#: a few dozen returns runs, but its persistence and tail shape are barely identified.
MIN_ROWS, FEW_ROWS = 10, 250

_ARCH_DISTS = {"normal": "normal", "t": "t", "skewt": "skewt"}
_ARCH_MEANS = {"constant": "Constant", "zero": "Zero"}


def _import_arch_model():
    try:
        from arch import arch_model
    except ImportError as exc:
        raise ImportError("GARCHRiskEstimator needs the arch package: pip install "
                          "'skqegm[garch]'  (or: pip install arch)") from exc
    return arch_model


def _unit_t_partial_mean(x, df):
    """``E[u 1{u <= x}]`` of the unit-variance t ``u = sqrt((df - 2) / df) T``."""
    s = math.sqrt((df - 2) / df)
    t = x / s
    return -s * (df + t * t) / (df - 1) * stats.t.pdf(t, df)


def _unit_t_ppf(p, df):
    return math.sqrt((df - 2) / df) * stats.t.ppf(p, df)


def _unit_t_cdf(x, df):
    return stats.t.cdf(x / math.sqrt((df - 2) / df), df)


def _skewt_tail(alpha, eta, lam):
    """Quantile and tail mean ``E[z | z <= q]`` of Hansen's skewed t at probability alpha.

    Left of ``-a / b`` the density is ``(1 - lam)`` times that of ``((1 - lam) u - a) / b``
    with ``u`` a unit-variance t; right of it ``(1 + lam)`` times that of
    ``((1 + lam) u - a) / b``. The left branch holds probability ``(1 - lam) / 2``.
    """
    c = math.exp(gammaln((eta + 1) / 2) - gammaln(eta / 2)) / math.sqrt(math.pi * (eta - 2))
    a = 4 * lam * c * (eta - 2) / (eta - 1)
    b = math.sqrt(1 + 3 * lam * lam - a * a)
    left = (1 - lam) / 2
    if alpha <= left:
        u = _unit_t_ppf(alpha / (1 - lam), eta)
        quantile = ((1 - lam) * u - a) / b
        partial = ((1 - lam) ** 2 * _unit_t_partial_mean(u, eta) - a * alpha) / b
    else:
        u = _unit_t_ppf(0.5 + (alpha - left) / (1 + lam), eta)
        quantile = ((1 + lam) * u - a) / b
        partial = ((1 - lam) ** 2 * _unit_t_partial_mean(0.0, eta) - a * left) / b
        partial += (1 + lam) * ((1 + lam) * (_unit_t_partial_mean(u, eta)
                                              - _unit_t_partial_mean(0.0, eta))
                                - a * (_unit_t_cdf(u, eta) - 0.5)) / b
    return quantile, partial / alpha


def standardized_tail(dist, shape, alpha):
    """Quantile and tail mean ``E[z | z <= q]`` of a unit-variance innovation law.

    Parameters
    ----------
    dist : {"normal", "t", "skewt"}
    shape : tuple of float
        ``()``, ``(nu,)`` or ``(eta, lambda)``, as ``arch`` names them.
    alpha : float
        Tail probability in (0, 0.5).

    Returns
    -------
    quantile, tail_mean : float
    """
    if dist == "normal":
        q = stats.norm.ppf(alpha)
        return float(q), float(-stats.norm.pdf(q) / alpha)
    if dist == "t":
        (nu,) = shape
        q = _unit_t_ppf(alpha, nu)
        return float(q), float(_unit_t_partial_mean(q, nu) / alpha)
    return tuple(float(v) for v in _skewt_tail(alpha, *shape))


def _variance_recursion(shocks, first, variances, omega, alpha, gamma, beta):
    """``sigma_t^2`` of a GJR-GARCH(p, o, q) for each of ``shocks[first:]``.

    ``sigma_t^2 = omega + sum_i alpha_i e_{t-i}^2 + sum_j gamma_j e_{t-j}^2 [e_{t-j} < 0]
    + sum_k beta_k sigma_{t-k}^2``, where ``shocks[first + r]`` is the shock before row
    ``r`` and ``variances`` the ``q`` variances before the first row, oldest first. Given
    the shocks the recursion is linear in the variances, so ``scipy.signal.lfilter`` runs
    it in compiled code: 17x faster than a loop in Python on 600,000 rows, equal to it
    within one unit in the last place.
    """
    n_rows = shocks.shape[0] - first
    squared = shocks * shocks
    drive = np.full(n_rows, omega)
    for i, a in enumerate(alpha):
        drive += a * squared[first - i: first - i + n_rows]
    negative = squared * (shocks < 0)
    for i, g in enumerate(gamma):
        drive += g * negative[first - i: first - i + n_rows]
    if not beta:
        return drive
    denominator = np.r_[1.0, -np.asarray(beta, dtype=np.float64)]
    state = lfiltic([1.0], denominator, y=np.asarray(variances, dtype=np.float64)[::-1])
    return lfilter([1.0], denominator, drive, zi=state)[0]


class GARCHRiskEstimator(LocationScaleRiskMixin, BaseEstimator):
    """One-day VaR and ES of a GARCH-family model of returns, fitted with ``arch``.

    The returns follow ``y_t = mu + eps_t``, ``eps_t = sigma_t z_t``, with the GJR-GARCH
    variance ``sigma_t^2 = omega + sum_i alpha_i eps_{t-i}^2 + sum_j gamma_j
    eps_{t-j}^2 1{eps_{t-j} < 0} + sum_k beta_k sigma_{t-k}^2`` (``o=0``: plain GARCH)
    and unit-variance innovations ``z_t``, estimated by maximum likelihood with
    ``arch.arch_model`` (deterministic: no ``random_state``). The forecast of a day is
    ``VaR = -(mu + sigma q)`` and ``ES = -(mu + sigma e)``, with ``q`` the
    ``1 - level`` quantile and ``e = E[z | z <= q]`` the tail mean of the innovations:

    - ``method="parametric"``: of the fitted law (closed forms, also for the skewed t);
    - ``method="fhs"``: filtered historical simulation (Barone-Adesi et al. 1999), the
      empirical quantile and tail mean of the standardised residuals
      ``eps_t / sigma_t`` of the fit (as :class:`HistoricalSimulation` computes them);
    - ``method="evt"``: conditional EVT (McNeil and Frey 2000), the standardised residuals
      with a generalized Pareto law fitted by maximum likelihood to the excesses of their
      ``tail_fraction`` largest losses over the next largest (the threshold); beyond the
      threshold the quantile and tail mean are the Pareto law's closed forms, so the tail
      reaches past the largest residual loss where FHS's stops at it.

    Common models: ``GARCHRiskEstimator()`` is GARCH(1,1)-t;
    ``GARCHRiskEstimator(o=1, dist="skewt")`` GJR-GARCH(1,1,1) with Hansen's skewed t;
    ``GARCHRiskEstimator(method="fhs")`` FHS on the GARCH(1,1)-t filter;
    ``GARCHRiskEstimator(o=1, dist="skewt", method="evt")`` conditional EVT on the
    GJR-GARCH filter.

    ``X`` and ``y`` are those of :class:`~skqegm.TailRiskEstimator` (see
    :func:`~skqegm.preprocessing.make_lagged_features`): ``y`` the returns in time order,
    column ``lag_column`` of ``X`` the previous day's return; other columns are ignored.
    The rows given to :meth:`predict_var` continue the series after the training rows:
    the variance is filtered through their lagged returns, from the state the fit ended
    in, so each row gets its one-day-ahead forecast with the parameters fixed at fit
    time (no look-ahead: a row's own return is never used). Rows that do not continue
    the training series (the training rows themselves, say) are filtered the same way,
    from that state.

    The returns are rescaled to unit standard deviation for the optimiser (``arch``
    prefers returns of order 1); the forecasts are in the units of ``y``.

    Needs the optional ``arch`` package: ``pip install 'skqegm[garch]'``.

    Parameters
    ----------
    p : int, default=1
        Lags of the squared shock, >= 1.
    o : int, default=0
        Lags of the asymmetric (GJR) term, >= 0.
    q : int, default=1
        Lags of the variance, >= 0.
    dist : {"t", "skewt", "normal"}, default="t"
        Innovation law: standardised Student-t, Hansen's skewed t, normal.
    mean : {"constant", "zero"}, default="constant"
        Mean model of the returns.
    method : {"parametric", "fhs", "evt"}, default="parametric"
        Innovation tail of the forecasts (see above).
    tail_fraction : float, default=0.1
        With ``method="evt"``, the fraction of the standardised residuals whose losses
        are fitted as exceedances, in (0, 0.5) (McNeil and Frey's ``k / n``, 0.1 in their
        study); the fit needs at least 5 of them, not all tied with the threshold (the
        next largest loss: their excesses would all be 0). Ignored by the other methods.
    lag_column : int, default=0
        Column of ``X`` that holds the previous day's return, >= 0.

    Attributes
    ----------
    params_ : dict
        The estimates by ``arch``'s names (``mu``, ``omega``, ``alpha[1]``, ``gamma[1]``,
        ``beta[1]``, ``nu``, ``eta``, ``lambda``), ``mu`` and ``omega`` in the units of
        ``y``.
    conditional_volatility_ : ndarray of shape (n_samples,)
        ``sigma_t`` of the training rows, in the units of ``y``.
    std_resid_ : ndarray of shape (n_samples,)
        The standardised residuals ``eps_t / sigma_t`` (FHS draws its tail from them).
    tail_threshold_ : float
        With ``method="evt"`` only: the standardised residual below which the tail is
        generalized Pareto (minus the loss threshold).
    gpd_shape_, gpd_scale_ : float
        With ``method="evt"`` only: the shape ``xi`` and the scale, in standardised
        units, of the generalized Pareto law of the losses beyond the threshold; the
        expected shortfall is infinite when ``xi >= 1`` (``fit`` warns).
    loglikelihood_ : float
        The maximised log-likelihood, of the rescaled returns.
    converged_ : bool
        Whether ``arch``'s optimiser reported convergence.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.

    See Also
    --------
    EWMARiskEstimator : RiskMetrics' EWMA volatility (no estimation, no ``arch``).
    HistoricalSimulation : the unfiltered empirical VaR and ES of a rolling window.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import GARCHRiskEstimator
    >>> from skqegm.datasets import load_sp500_returns
    >>> from skqegm.preprocessing import make_lagged_features
    >>> X, y = make_lagged_features(load_sp500_returns()[-1500:])
    >>> garch = GARCHRiskEstimator().fit(X[:1000], y[:1000])
    >>> var, es = garch.predict_var(X[1000:], 0.99), garch.predict_es(X[1000:], 0.99)
    >>> var.shape, bool(np.all(es > var))
    ((478,), True)
    >>> gjr = GARCHRiskEstimator(o=1, dist="skewt").fit(X[:1000], y[:1000])
    >>> sorted(gjr.params_)
    ['alpha[1]', 'beta[1]', 'eta', 'gamma[1]', 'lambda', 'mu', 'omega']
    >>> gjr.sample_y(X[1000:1003], n_draws=5, random_state=0).shape
    (3, 5)
    """

    _parameter_constraints: dict = {
        "p": [IntervalNotBool(Integral, 1, None, closed="left")],
        "o": [IntervalNotBool(Integral, 0, None, closed="left")],
        "q": [IntervalNotBool(Integral, 0, None, closed="left")],
        "dist": [StrOptions(set(_ARCH_DISTS))],
        "mean": [StrOptions(set(_ARCH_MEANS))],
        "method": [StrOptions({"parametric", "fhs", "evt"})],
        "tail_fraction": [IntervalNotBool(Real, 0, 0.5, closed="neither")],
        "lag_column": [IntervalNotBool(Integral, 0, None, closed="left")],
    }

    def __init__(self, p=1, o=0, q=1, dist="t", mean="constant", method="parametric",
                 tail_fraction=0.1, lag_column=0):
        self.p = p
        self.o = o
        self.q = q
        self.dist = dist
        self.mean = mean
        self.method = method
        self.tail_fraction = tail_fraction
        self.lag_column = lag_column

    @_fit_context(prefer_skip_nested_validation=True)
    @kept_on_failure
    def fit(self, X, y):
        """Estimate the model on the returns ``y`` by maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Column ``lag_column`` holds the previous return of each row (used by the
            predictions only).
        y : array-like of shape (n_samples,)
            The returns, in time order, finite, not all equal; at least 10, and ``fit``
            warns below 250.

        Returns
        -------
        self : GARCHRiskEstimator
        """
        arch_model = _import_arch_model()
        record_fit_params(self)  # what the predictions read, whatever set_params changes
        X, y = check_fit_data(self, X, y, min_rows=MIN_ROWS)
        if y.shape[0] < FEW_ROWS:
            warnings.warn(f"GARCHRiskEstimator is fitted on {y.shape[0]} returns; below "
                          f"{FEW_ROWS} its estimates are unreliable.", UserWarning,
                          stacklevel=caller_stacklevel())
        # The spread of y scaled by a power of two (exact), so that the squares neither
        # overflow nor underflow: returns of 1e160 gave NaN forecasts, returns of 1e-160
        # were refused as constant.
        unit = power_of_two_scale(y)
        spread = float(np.std(y * unit)) / unit
        if spread == 0:
            raise ValueError("y is constant: a GARCH model needs returns that vary.")
        self._scale = 1.0 / spread
        model = arch_model(y * self._scale, mean=_ARCH_MEANS[self.mean], vol="GARCH",
                           p=self.p, o=self.o, q=self.q, dist=_ARCH_DISTS[self.dist],
                           rescale=False)
        # arch resets the warning filters inside fit, so record its warnings: its
        # convergence warning is replaced by sklearn's, naming this estimator; any other
        # is passed on.
        # One BLAS thread: the optimiser's path (and so its last digits) must not depend
        # on the thread count, which differs between a user's process and joblib's workers.
        # The limit is process-wide, so fits in threads take turns (a fit takes ~50 ms).
        with _ONE_FIT_AT_A_TIME, threadpool_limits(1), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = model.fit(disp="off")
        for warning in caught:
            if warning.category.__name__ != "ConvergenceWarning":
                warnings.warn(warning.message, warning.category, stacklevel=caller_stacklevel())
        self.converged_ = result.convergence_flag == 0
        if not self.converged_:
            warnings.warn(f"GARCHRiskEstimator: arch's optimiser did not converge "
                          f"(flag {result.convergence_flag}); the estimates may be off.",
                          ConvergenceWarning, stacklevel=caller_stacklevel())
        self._set_params(dict(result.params))
        self.loglikelihood_ = float(result.loglikelihood)
        volatility = np.asarray(result.conditional_volatility, dtype=np.float64)
        self.conditional_volatility_ = volatility / self._scale
        self.std_resid_ = np.asarray(result.std_resid, dtype=np.float64)
        if self.method == "evt":
            self._fit_residual_tail()
        # The state before the last training return, which the first prediction row's
        # lagged return supplies (it is y[-1] when the rows continue the series).
        resid = (y - self._mu)[:-1]
        n_shocks = max(self.p, self.o)
        self._shocks = resid[resid.shape[0] - n_shocks:] if n_shocks else resid[:0]
        # The recursion runs in arch's units (returns of unit variance), from the last q
        # training variances; its sigma is divided by the scale after.
        self._variances = volatility[y.shape[0] - self.q:] ** 2
        return self

    def _fit_residual_tail(self):
        self._loss_tail = fit_loss_tail(self.std_resid_, self.tail_fraction)
        self.tail_threshold_ = -self._loss_tail.threshold
        self.gpd_shape_, self.gpd_scale_ = self._loss_tail.shape, self._loss_tail.scale
        if self.gpd_shape_ >= 1:
            warnings.warn(f"GARCHRiskEstimator: the generalized Pareto shape of the residual "
                          f"losses is {self.gpd_shape_:.3g} >= 1, so the tail has no mean and "
                          "predict_es returns inf.", UserWarning,
                          stacklevel=caller_stacklevel())

    def _set_params(self, params):
        scale = self._scale
        self._mu = params.get("mu", 0.0) / scale
        self._omega = params["omega"]  # in arch's units, as the recursion runs
        self._alpha = [params[f"alpha[{i}]"] for i in range(1, self.p + 1)]
        self._gamma = [params[f"gamma[{i}]"] for i in range(1, self.o + 1)]
        self._beta = [params[f"beta[{i}]"] for i in range(1, self.q + 1)]
        self._shape = tuple(params[name] for name in ("nu", "eta", "lambda") if name in params)
        self.params_ = {name: float(value) for name, value in params.items()}
        if "mu" in params:
            self.params_["mu"] = float(self._mu)
        # In the units of y, omega is inf (or 0) for returns beyond about 1e154 (below
        # 1e-154); the forecasts run in arch's units and do not use it.
        with np.errstate(over="ignore", under="ignore"):
            self.params_["omega"] = float(self._omega / scale / scale)

    def predict_volatility(self, X):
        """One-day-ahead conditional volatility ``sigma`` of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows continuing the training series; column ``lag_column`` is the previous
            return.

        Returns
        -------
        sigma : ndarray of shape (n_samples,)
            In the units of ``y``. Rows so far beyond the training scale (a lag column
            in other units) that float64 cannot hold their forecast raise a
            ``ValueError`` naming the rows' scale and the training volatility, as do
            :meth:`predict_var`, :meth:`predict_es` and :meth:`sample_y` (never a
            silent inf or NaN).
        """
        shocks = np.concatenate([self._shocks, lagged_returns(self, X) - self._mu])
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below
            variance = _variance_recursion(shocks * self._scale, len(self._shocks),
                                           self._variances, self._omega, self._alpha,
                                           self._gamma, self._beta)
            sigma = np.sqrt(variance) / self._scale
        return check_forecast_finite(self, X, sigma, "predict_volatility")

    def _innovations(self, size, rng):
        """Unit-variance innovations of the forecasts: the fitted law, for FHS the
        standardised residuals drawn with replacement, for EVT their law with a Pareto tail."""
        method, dist = fit_param(self, "method"), fit_param(self, "dist")
        if method == "fhs":
            return rng.choice(self.std_resid_, size=size)
        if method == "evt":
            return draw_residuals(self._loss_tail, size, rng)
        if dist == "normal":
            return rng.standard_normal(size)
        if dist == "t":
            (nu,) = self._shape
            return math.sqrt((nu - 2) / nu) * rng.standard_t(nu, size=size)
        from arch.univariate import SkewStudent

        # Inverse transform; uniforms in (0, 1) exclusive so that the ppf stays finite.
        uniforms = np.clip(rng.uniform(size=size), 1e-300, 1 - 1e-16)
        return SkewStudent().ppf(uniforms.ravel(), list(self._shape)).reshape(size)

    def _standardized_tail(self, level):
        alpha, method = 1.0 - level, fit_param(self, "method")
        if method == "fhs":
            return residual_tail(self.std_resid_, level)
        if method == "evt":
            return loss_tail_figures(self._loss_tail, alpha)
        return standardized_tail(fit_param(self, "dist"), self._shape, alpha)
