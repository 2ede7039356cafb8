"""EWMARiskEstimator: RiskMetrics' exponentially weighted volatility, without ``arch``.

J.P. Morgan/Reuters (1996), *RiskMetrics Technical Document*, 4th ed.: the variance is
an exponentially weighted moving average of past squared returns, ``lambda = 0.94`` for
daily data, with normal innovations. Hull and White (1998), "Incorporating volatility
updating into the historical simulation method for value-at-risk", Journal of Risk 1:
the empirical tail of the returns divided by that volatility (filtered historical
simulation).
"""

from numbers import Integral, Real

import numpy as np
from scipy.signal import lfilter
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import StrOptions

from ..utils._fit_params import fit_param, record_fit_params
from ..utils._scaling import power_of_two_scale
from ..utils._state import kept_on_failure
from ..utils._validation import IntervalNotBool
from ._returns import (
    LocationScaleRiskMixin,
    check_fit_data,
    check_forecast_finite,
    lagged_returns,
    residual_tail,
)
from .garch import standardized_tail

__all__ = ["EWMARiskEstimator"]

#: Fewest training returns accepted: the recursion starts from their mean square, which
#: on a handful of returns is noise.
MIN_ROWS = 10


def ewma_variance(squared, decay, start):
    """``s_t = decay s_{t-1} + (1 - decay) squared_{t-1}`` for ``t = 1..n``, ``s_0 = start``.

    Returns ``s_1 .. s_n``: the variance after each of the ``n`` squared returns. The
    recursion is a first-order linear filter, so ``scipy.signal.lfilter`` runs it in
    compiled code (two products and one sum per step, as a loop; 14x faster than one on a
    million returns, equal to it within 3e-15 relative).
    """
    out, _ = lfilter([1.0 - decay], [1.0, -decay], squared, zi=[decay * start])
    return out


class EWMARiskEstimator(LocationScaleRiskMixin, BaseEstimator):
    """One-day VaR and ES with RiskMetrics' EWMA volatility; needs no optional package.

    The returns follow ``y_t = sigma_t z_t`` (zero mean) with the exponentially weighted
    variance ``sigma_t^2 = decay sigma_{t-1}^2 + (1 - decay) y_{t-1}^2`` (RiskMetrics
    1996: ``decay = 0.94`` for daily returns). Nothing is estimated by optimisation:
    ``decay`` is a parameter, and the recursion starts on the first training row from
    the mean of the squared training returns (the sample's second moment, deterministic
    and in the units of ``y``; its weight decays as ``decay^t``, below 0.2% after 100
    rows at 0.94). The forecast of a day is ``VaR = -sigma q`` and ``ES = -sigma e``,
    with ``q`` the ``1 - level`` quantile and ``e = E[z | z <= q]`` the tail mean of the
    innovations:

    - ``method="normal"``: RiskMetrics' normal law, ``VaR = sigma z_alpha`` and
      ``ES = sigma phi(z_alpha) / alpha`` with ``alpha = 1 - level``;
    - ``method="fhs"``: filtered historical simulation (Hull and White 1998), the
      empirical quantile and tail mean of the standardised training returns
      ``y_t / sigma_t`` (as :class:`HistoricalSimulation` computes them).

    ``X`` and ``y`` are those of :class:`GARCHRiskEstimator` (see
    :func:`~skqegm.preprocessing.make_lagged_features`): ``y`` the returns in time order,
    column ``lag_column`` of ``X`` the previous day's return; other columns are ignored.
    The rows given to :meth:`predict_var` continue the series after the training rows:
    the variance is filtered through their lagged returns from the state the fit ended
    in, so each row gets its one-day-ahead forecast (no look-ahead: a row's own return
    is never used). It is the volatility filter of
    :class:`~skqegm.FilteredRiskEstimator` for users without ``arch``.

    Parameters
    ----------
    decay : float, default=0.94
        The weight ``lambda`` of the previous variance, in the open interval (0, 1);
        RiskMetrics uses 0.94 for daily and 0.97 for monthly data.
    method : {"normal", "fhs"}, default="normal"
        Innovation tail of the forecasts (see above).
    lag_column : int, default=0
        Column of ``X`` that holds the previous day's return, >= 0.

    Attributes
    ----------
    conditional_volatility_ : ndarray of shape (n_samples,)
        ``sigma_t`` of the training rows, each known the day before, in the units of
        ``y``.
    std_resid_ : ndarray of shape (n_samples,)
        The standardised returns ``y_t / sigma_t`` (FHS draws its tail from them).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features,)
        Defined when ``X`` has string column names.

    See Also
    --------
    GARCHRiskEstimator : GARCH-family volatility estimated by maximum likelihood (needs
        ``arch``); EWMA is its IGARCH(1,1) limit with ``omega = 0``.
    HistoricalSimulation : the unfiltered empirical VaR and ES of a rolling window.
    skqegm.FilteredRiskEstimator : a conditional tail model of the returns divided by
        this filter's ``sigma``.

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.baselines import EWMARiskEstimator
    >>> from skqegm.datasets import load_sp500_returns
    >>> from skqegm.preprocessing import make_lagged_features
    >>> X, y = make_lagged_features(load_sp500_returns()[-1500:])
    >>> ewma = EWMARiskEstimator().fit(X[:1000], y[:1000])
    >>> var, es = ewma.predict_var(X[1000:], 0.99), ewma.predict_es(X[1000:], 0.99)
    >>> var.shape, bool(np.all(es > var))
    ((478,), True)
    >>> fhs = EWMARiskEstimator(method="fhs").fit(X[:1000], y[:1000])
    >>> fhs.std_resid_.shape, fhs.sample_y(X[1000:1003], n_draws=5, random_state=0).shape
    ((1000,), (3, 5))
    """

    _parameter_constraints: dict = {
        "decay": [IntervalNotBool(Real, 0, 1, closed="neither")],
        "method": [StrOptions({"normal", "fhs"})],
        "lag_column": [IntervalNotBool(Integral, 0, None, closed="left")],
    }
    _mu = 0.0  # RiskMetrics' returns have zero mean: the location of the forecasts

    def __init__(self, decay=0.94, method="normal", lag_column=0):
        self.decay = decay
        self.method = method
        self.lag_column = lag_column

    @_fit_context(prefer_skip_nested_validation=True)
    @kept_on_failure
    def fit(self, X, y):
        """Filter the training returns ``y`` (nothing is optimised).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Column ``lag_column`` holds the previous return of each row (used by the
            predictions only).
        y : array-like of shape (n_samples,)
            The returns, in time order, finite, not all zero; at least 10.

        Returns
        -------
        self : EWMARiskEstimator
        """
        record_fit_params(self)  # what the predictions read, whatever set_params changes
        _, y = check_fit_data(self, X, y, min_rows=MIN_ROWS)
        # The recursion runs on y scaled by a power of two (exact: the same sigma, bit for
        # bit), so that the squares neither overflow nor underflow: returns of 1e160 or
        # 1e-160 were refused as a run of zeros, or as zeros.
        self._scale = power_of_two_scale(y)
        scaled = y * self._scale
        squared = scaled * scaled
        start = float(np.mean(squared))
        if start == 0:
            raise ValueError("y is all zeros: the EWMA volatility needs returns that vary.")
        # sigma_t^2 of training row t uses the returns before it only.
        variance = np.concatenate([[start], ewma_variance(squared[:-1], self.decay, start)])
        if not np.all(variance > 0):
            raise ValueError("The EWMA variance underflowed to zero on a long run of zero "
                             f"returns (decay={self.decay}); the returns cannot be "
                             "standardised.")
        self.conditional_volatility_ = np.sqrt(variance) / self._scale
        self.std_resid_ = y / self.conditional_volatility_
        # The state before the last training return, which the first prediction row's
        # lagged return supplies (it is y[-1] when the rows continue the series), as in
        # GARCHRiskEstimator; in the scaled units.
        self._last_variance = float(variance[-1])
        return self

    def predict_volatility(self, X):
        """One-day-ahead volatility ``sigma`` of each row.

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
        lagged = lagged_returns(self, X) * self._scale
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below
            sigma = np.sqrt(ewma_variance(lagged * lagged, fit_param(self, "decay"),
                                          self._last_variance)) / self._scale
        return check_forecast_finite(self, X, sigma, "predict_volatility")

    def _standardized_tail(self, level):
        if fit_param(self, "method") == "fhs":
            return residual_tail(self.std_resid_, level)
        return standardized_tail("normal", (), 1.0 - level)

    def _innovations(self, size, rng):
        """Normal innovations, or for FHS the standardised returns drawn with replacement."""
        if fit_param(self, "method") == "fhs":
            return rng.choice(self.std_resid_, size=size)
        return rng.standard_normal(size)
