"""EWMARiskEstimator: RiskMetrics' EWMA volatility checked against a plain loop and
arch's own EWMA recursion, its tails against scipy and numpy, its calibration on a path
of the model itself; FilteredRiskEstimator with it and without arch."""

import sys

import numpy as np
import pytest
from scipy import stats
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skqegm import FilteredRiskEstimator, TailRiskEstimator
from skqegm.baselines import EWMARiskEstimator
from skqegm.baselines.ewma import ewma_variance
from skqegm.datasets import load_sp500_returns
from skqegm.metrics import kupiec_pof_test, var_exceedances
from skqegm.preprocessing import make_lagged_features

N_TRAIN = 1000


@pytest.fixture(scope="module")
def sp500():
    return make_lagged_features(load_sp500_returns()[-1600:])


def _loop_variance(y, decay, start):
    """sigma_t^2 of every row and the one after the last, by the textbook recursion."""
    variance = [start]
    for r in y:
        variance.append(decay * variance[-1] + (1 - decay) * r * r)
    return np.array(variance)


def _igarch_path(n, seed, decay=0.94, start=1e-4):
    """y_t = sigma_t z_t, z normal, sigma_t^2 = decay sigma_{t-1}^2 + (1 - decay) y_{t-1}^2:
    the model EWMA assumes. Returns y and the true sigma of each day."""
    z = np.random.default_rng(seed).standard_normal(n)
    y, sigma = np.empty(n), np.empty(n)
    variance = start
    for t in range(n):
        sigma[t] = np.sqrt(variance)
        y[t] = sigma[t] * z[t]
        variance = decay * variance + (1 - decay) * y[t] ** 2
    return y, sigma


@pytest.mark.parametrize("decay", [0.94, 0.97, 0.5])
def test_recursion_matches_a_plain_loop(sp500, decay):
    _, y = sp500
    start = float(np.mean(y[:N_TRAIN] ** 2))
    loop = _loop_variance(y, decay, start)
    np.testing.assert_allclose(ewma_variance(y * y, decay, start), loop[1:], rtol=1e-12)
    lagged = np.r_[0.0, y[:N_TRAIN - 1]][:, None]  # the previous return, as X holds it
    model = EWMARiskEstimator(decay=decay).fit(lagged, y[:N_TRAIN])
    np.testing.assert_allclose(model.conditional_volatility_, np.sqrt(loop[:N_TRAIN]),
                               rtol=1e-12)
    np.testing.assert_allclose(model.std_resid_, y[:N_TRAIN] / np.sqrt(loop[:N_TRAIN]),
                               rtol=1e-12)


def test_recursion_matches_archs_ewma(sp500):
    pytest.importorskip("arch")
    from arch.univariate import EWMAVariance

    X, y = sp500
    model = EWMARiskEstimator().fit(X[:N_TRAIN], y[:N_TRAIN])
    backcast = float(np.mean(y[:N_TRAIN] ** 2))  # the start documented by the class
    sigma2 = np.empty_like(y)
    bounds = np.tile([0.0, np.inf], (y.shape[0], 1))
    EWMAVariance(lam=0.94).compute_variance(np.empty(0), y, sigma2, backcast, bounds)
    np.testing.assert_allclose(model.conditional_volatility_, np.sqrt(sigma2[:N_TRAIN]),
                               rtol=1e-10)
    np.testing.assert_allclose(model.predict_volatility(X[N_TRAIN:]),
                               np.sqrt(sigma2[N_TRAIN:]), rtol=1e-10)


def test_predictions_continue_the_series_without_look_ahead(sp500):
    X, y = sp500
    model = EWMARiskEstimator().fit(X[:N_TRAIN], y[:N_TRAIN])
    whole = np.sqrt(_loop_variance(y, 0.94, float(np.mean(y[:N_TRAIN] ** 2)))[:-1])
    np.testing.assert_allclose(model.predict_volatility(X[N_TRAIN:]), whole[N_TRAIN:],
                               rtol=1e-12)
    rows = X[N_TRAIN:N_TRAIN + 50]
    base = model.predict_var(rows, 0.99)
    # Two blocks give the forecasts of one block.
    np.testing.assert_array_equal(model.predict_var(rows[:30], 0.99), base[:30])
    # The returns of the forecast days (here, the lag of the days after) and the other
    # columns do not move a row's forecast; only its lagged return and those before.
    changed = rows.copy()
    changed[30:, 0] *= 5
    changed[:, 1:] = 0
    moved = model.predict_var(changed, 0.99)
    np.testing.assert_array_equal(moved[:30], base[:30])
    assert np.all(moved[30:] != base[30:])
    # Refitting with other y on the predicted rows changes nothing either.
    y_other = y.copy()
    y_other[N_TRAIN:] = 0.5
    refit = EWMARiskEstimator().fit(X[:N_TRAIN], y_other[:N_TRAIN])
    np.testing.assert_array_equal(refit.predict_var(rows, 0.99), base)


@pytest.mark.parametrize("level", [0.975, 0.99])
def test_normal_tail_is_the_closed_form(sp500, level):
    X, y = sp500
    model = EWMARiskEstimator().fit(X[:N_TRAIN], y[:N_TRAIN])
    sigma = model.predict_volatility(X[N_TRAIN:])
    alpha = 1 - level
    z = stats.norm.ppf(alpha)
    np.testing.assert_allclose(model.predict_var(X[N_TRAIN:], level), -sigma * z, rtol=1e-12)
    np.testing.assert_allclose(model.predict_es(X[N_TRAIN:], level),
                               sigma * stats.norm.pdf(z) / alpha, rtol=1e-12)
    # The normal ES against its definition, integrated numerically.
    es = -stats.norm.expect(lambda x: x, ub=z, conditional=True)
    np.testing.assert_allclose(model.predict_es(X[N_TRAIN:], level), sigma * es, rtol=1e-8)


@pytest.mark.parametrize("level", [0.975, 0.99])
def test_fhs_tail_is_that_of_the_standardised_returns(sp500, level):
    X, y = sp500
    model = EWMARiskEstimator(method="fhs").fit(X[:N_TRAIN], y[:N_TRAIN])
    sigma = model.predict_volatility(X[N_TRAIN:])
    z = model.std_resid_
    q = np.quantile(z, 1 - level)
    e = z[z <= q].mean()
    np.testing.assert_allclose(model.predict_var(X[N_TRAIN:], level), -sigma * q, rtol=1e-12)
    np.testing.assert_allclose(model.predict_es(X[N_TRAIN:], level), -sigma * e, rtol=1e-12)
    # S&P 500 residuals have a fatter left tail than the normal law.
    assert -q > -stats.norm.ppf(1 - level)


@pytest.mark.parametrize("method", ["normal", "fhs"])
def test_sample_y_draws_from_the_law_of_the_forecasts(sp500, method):
    X, y = sp500
    model = EWMARiskEstimator(method=method).fit(X[:N_TRAIN], y[:N_TRAIN])
    rows = X[N_TRAIN:N_TRAIN + 3]
    n, p = 200_000, 0.01
    draws = model.sample_y(rows, n, random_state=0)
    assert draws.shape == (3, n)
    np.testing.assert_array_equal(draws, model.sample_y(rows, n, random_state=0))
    # The empirical p-quantile of n draws lies, but for a 4-sigma binomial deviation,
    # between the law's quantiles at p -+ 4 sqrt(p (1 - p) / n).
    d = 4 * np.sqrt(p * (1 - p) / n)
    if method == "normal":
        low, high = stats.norm.ppf([p - d, p + d])
    else:
        # The draws' law is the discrete one of the residuals: its inverse CDF.
        low, high = np.quantile(model.std_resid_, [p - d, p + d], method="inverted_cdf")
    sigma = model.predict_volatility(rows)
    var = model.predict_var(rows, 1 - p)
    found = -np.quantile(draws, p, axis=1)
    assert np.all(found <= -sigma * low) and np.all(found >= -sigma * high)
    assert np.all(-sigma * low >= var) and np.all(var >= -sigma * high)
    np.testing.assert_allclose(found, var, rtol=0.03)


def test_calibrated_on_a_path_of_the_model():
    y_all, sigma_all = _igarch_path(2622, seed=7)
    X, y = make_lagged_features(y_all)
    sigma = sigma_all[len(y_all) - len(y):]
    n_train = len(y) - 2000
    assert n_train >= 600
    model = EWMARiskEstimator().fit(X[:n_train], y[:n_train])
    # 600 rows wash out the starting value (0.94^600 < 1e-16): the filter is the truth.
    np.testing.assert_allclose(model.predict_volatility(X[n_train:]), sigma[n_train:],
                               rtol=1e-9)
    var = model.predict_var(X[n_train:], 0.99)
    hits = var_exceedances(y[n_train:], var)
    assert kupiec_pof_test(hits, 0.99).p_value > 0.05


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_filtered_risk_estimator_without_arch(monkeypatch, sp500):
    monkeypatch.setitem(sys.modules, "arch", None)
    X, y = sp500
    X, y = X[:700], y[:700]
    model = FilteredRiskEstimator(
        TailRiskEstimator(latent="gaussian", max_epochs=3, hidden_layer_sizes=(8,),
                          random_state=0),
        volatility=EWMARiskEstimator(),
    ).fit(X[:500], y[:500])
    alone = EWMARiskEstimator().fit(X[:500], y[:500])
    np.testing.assert_array_equal(model.volatility_.conditional_volatility_,
                                  alone.conditional_volatility_)
    var, es = model.predict_var(X[500:], 0.99), model.predict_es(X[500:], 0.99)
    assert var.shape == (200,) and np.all(es > var)
    # The level follows the filter's forecast volatility.
    assert np.corrcoef(var, alone.predict_volatility(X[500:]))[0, 1] > 0.5
    with pytest.raises(ImportError, match=r"skqegm\[garch\].*volatility=EWMARiskEstimator\(\)"):
        FilteredRiskEstimator(TailRiskEstimator(latent="gaussian", max_epochs=1)).fit(
            X[:500], y[:500])


def test_errors():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((300, 2)), rng.standard_normal(300)
    with pytest.raises(ValueError, match="lag_column=2 is not a column of X, which has 2"):
        EWMARiskEstimator(lag_column=2).fit(X, y)
    with pytest.raises(ValueError, match="EWMARiskEstimator needs at least 10 training rows"):
        EWMARiskEstimator().fit(X[:9], y[:9])
    y_nan = y.copy()
    y_nan[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        EWMARiskEstimator().fit(X, y_nan)
    with pytest.raises(ValueError, match="y is all zeros"):
        EWMARiskEstimator().fit(X, np.zeros(300))
    with pytest.raises(NotFittedError):
        EWMARiskEstimator().predict_var(X)
    for decay in (0.0, 1.0, 1.5, "0.94"):
        with pytest.raises(InvalidParameterError, match=r"'decay' parameter .* float in "
                           r"the range \(0.0, 1.0\)"):
            EWMARiskEstimator(decay=decay).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'method' parameter"):
        EWMARiskEstimator(method="parametric").fit(X, y)
    model = EWMARiskEstimator().fit(X, y)
    with pytest.raises(ValueError, match="X has 1 features"):
        model.predict_var(X[:, :1])
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict_var(X_nan)
    with pytest.raises(ValueError, match="level"):
        model.predict_var(X, 0.01)
    with pytest.raises(ValueError, match="n_draws"):
        model.sample_y(X, n_draws=0)


def test_forecasts_are_in_the_units_of_y(sp500):
    X, y = sp500
    small = EWMARiskEstimator(method="fhs").fit(X[:N_TRAIN], y[:N_TRAIN])
    large = EWMARiskEstimator(method="fhs").fit(100 * X[:N_TRAIN], 100 * y[:N_TRAIN])
    np.testing.assert_allclose(large.predict_es(100 * X[N_TRAIN:], 0.99),
                               100 * small.predict_es(X[N_TRAIN:], 0.99), rtol=1e-12)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("scale", [1e160, 1e-160, 1e-300])
@pytest.mark.parametrize("method", ["normal", "fhs"])
def test_forecasts_do_not_depend_on_the_scale_of_the_returns(sp500, scale, method):
    # The squared returns overflowed or underflowed: returns of 1e160 were refused as a
    # long run of zero returns, returns of 1e-160 as all zeros.
    X, y = sp500
    model = EWMARiskEstimator(method=method).fit(X[:N_TRAIN], y[:N_TRAIN])
    scaled = EWMARiskEstimator(method=method).fit(X[:N_TRAIN] * scale, y[:N_TRAIN] * scale)
    np.testing.assert_allclose(scaled.conditional_volatility_ / scale,
                               model.conditional_volatility_, rtol=1e-12)
    for name in ("predict_volatility", "predict_var", "predict_es"):
        np.testing.assert_allclose(getattr(scaled, name)(X[N_TRAIN:] * scale) / scale,
                                   getattr(model, name)(X[N_TRAIN:]), rtol=1e-12)
