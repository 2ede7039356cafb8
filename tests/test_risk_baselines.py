"""GARCHRiskEstimator and HistoricalSimulation: forecasts checked against arch's own
filter, scipy's laws, Hansen's skewed-t density integrated numerically, and the
historical_simulation function."""

import math
import pickle
import sys
import warnings

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.base import clone

from skqegm.baselines import (
    EWMARiskEstimator,
    GARCHRiskEstimator,
    HistoricalSimulation,
    StudentTSampler,
    historical_simulation,
)
from skqegm.baselines.garch import standardized_tail
from skqegm.datasets import load_sp500_returns
from skqegm.preprocessing import make_lagged_features, make_tail_pipeline

arch = pytest.importorskip("arch")
from arch import arch_model  # noqa: E402
from arch.univariate import SkewStudent  # noqa: E402

N_TRAIN = 1000


@pytest.fixture(scope="module")
def sp500():
    return make_lagged_features(load_sp500_returns()[-1600:])


def _hansen_pdf(z, eta, lam):
    """Hansen's (1994) skewed-t density, eq. (10)-(11), written out independently."""
    c = math.gamma((eta + 1) / 2) / (math.sqrt(math.pi * (eta - 2)) * math.gamma(eta / 2))
    a = 4 * lam * c * (eta - 2) / (eta - 1)
    b = math.sqrt(1 + 3 * lam**2 - a**2)
    skew = 1 - lam if z < -a / b else 1 + lam
    return b * c * (1 + ((b * z + a) / skew) ** 2 / (eta - 2)) ** (-(eta + 1) / 2)


def _arch_reference(estimator, y, n_train):
    """One-step forecasts (mean, sigma) of arch's own filter with the fitted parameters."""
    scale = 1 / np.std(y[:n_train])
    params = dict(estimator.params_)
    if "mu" in params:
        params["mu"] *= scale
    params["omega"] *= scale**2
    model = arch_model(y * scale, mean={"constant": "Constant", "zero": "Zero"}[estimator.mean],
                       p=estimator.p, o=estimator.o, q=estimator.q, dist=estimator.dist,
                       rescale=False)
    fixed = model.fix(list(params.values()), last_obs=n_train)
    # Row t of the forecast, made at day t, is for day t + 1.
    forecast = fixed.forecast(start=n_train - 1, horizon=1, reindex=False)
    mean = forecast.mean.to_numpy()[:-1, 0] / scale
    sigma = np.sqrt(forecast.variance.to_numpy()[:-1, 0]) / scale
    return mean, sigma, fixed.std_resid[:n_train]


def _conditional_evt_reference(std_resid, alpha, tail_fraction):
    """McNeil and Frey's tail quantile and tail mean of the residuals, from scipy's
    generalized Pareto law: the k largest losses exceed the (k+1)-th, with probability k/n."""
    losses = np.sort(-std_resid)[::-1]
    k = int(tail_fraction * len(losses))
    threshold = losses[k]
    shape, _, scale = stats.genpareto.fit(losses[:k] - threshold, floc=0)
    excess = stats.genpareto.isf(alpha / (k / len(losses)), shape, scale=scale)
    mean_excess = stats.genpareto.expect(lambda x: x, args=(shape,), scale=scale, lb=excess,
                                         conditional=True)
    return -(threshold + excess), -(threshold + mean_excess)


@pytest.mark.parametrize("kwargs", [dict(p=2, o=2, q=2, dist="normal"), dict(q=3)])
def test_longer_lags_follow_archs_variance_recursion(sp500, kwargs):
    # Several betas: the compiled recursion starts from the last q training variances.
    X, y = sp500
    model = GARCHRiskEstimator(**kwargs).fit(X[:N_TRAIN], y[:N_TRAIN])
    _, sigma, _ = _arch_reference(model, y, N_TRAIN)
    np.testing.assert_allclose(model.predict_volatility(X[N_TRAIN:]), sigma, rtol=1e-10)


@pytest.mark.parametrize("level", [0.975, 0.99])
@pytest.mark.parametrize("kwargs", [
    dict(),                                     # GARCH(1,1)-t
    dict(o=1, dist="skewt"),                    # GJR-GARCH(1,1,1), skewed t
    dict(dist="normal", mean="zero", p=2),
    dict(method="fhs"),                         # filtered historical simulation
    dict(o=1, dist="skewt", method="evt"),      # conditional EVT on the GJR filter
])
def test_forecasts_match_archs_filter_and_the_innovation_law(sp500, kwargs, level):
    X, y = sp500
    model = GARCHRiskEstimator(**kwargs).fit(X[:N_TRAIN], y[:N_TRAIN])
    assert model.converged_
    mean, sigma, std_resid = _arch_reference(model, y, N_TRAIN)
    np.testing.assert_allclose(model.predict_volatility(X[N_TRAIN:]), sigma, rtol=1e-10)
    alpha = 1 - level
    params = model.params_
    if model.method == "fhs":
        q = np.quantile(std_resid, alpha)
        e = std_resid[std_resid <= q].mean()
    elif model.method == "evt":
        q, e = _conditional_evt_reference(std_resid, alpha, model.tail_fraction)
    elif model.dist == "t":
        nu = params["nu"]
        s = math.sqrt((nu - 2) / nu)
        t = stats.t.ppf(alpha, nu)
        q = s * t
        e = integrate.quad(lambda x: x * stats.t.pdf(x, nu), -np.inf, t)[0] * s / alpha
    elif model.dist == "skewt":
        eta, lam = params["eta"], params["lambda"]
        q = SkewStudent().ppf(alpha, [eta, lam])
        e = integrate.quad(lambda z: z * _hansen_pdf(z, eta, lam), -np.inf, q)[0] / alpha
    else:
        q = stats.norm.ppf(alpha)
        e = integrate.quad(lambda x: x * stats.norm.pdf(x), -np.inf, q)[0] / alpha
    np.testing.assert_allclose(model.predict_var(X[N_TRAIN:], level), -(mean + sigma * q),
                               rtol=1e-9)
    np.testing.assert_allclose(model.predict_es(X[N_TRAIN:], level), -(mean + sigma * e),
                               rtol=1e-7)


@pytest.mark.parametrize("eta, lam, alpha", [
    (5.0, -0.3, 0.01), (8.0, 0.2, 0.025), (4.5, 0.97, 0.025), (30.0, -0.9, 0.2),
])
def test_skewed_t_tail_against_numerical_integration(eta, lam, alpha):
    """Both branches (lam = 0.97: the 2.5% quantile lies right of the mode's kink)."""
    q, e = standardized_tail("skewt", (eta, lam), alpha)
    assert q == pytest.approx(float(SkewStudent().ppf(alpha, [eta, lam])), rel=1e-9)
    mass = integrate.quad(lambda z: _hansen_pdf(z, eta, lam), -np.inf, q)[0]
    assert mass == pytest.approx(alpha, rel=1e-7)
    mean = integrate.quad(lambda z: z * _hansen_pdf(z, eta, lam), -np.inf, q,
                          limit=200)[0] / alpha
    assert e == pytest.approx(mean, rel=1e-6)
    total = integrate.quad(lambda z: z * z * _hansen_pdf(z, eta, lam), -np.inf, np.inf)[0]
    assert total == pytest.approx(1.0, rel=1e-6)  # unit variance, as GARCH assumes


def test_the_gjr_term_raises_the_risk_after_a_loss(sp500):
    X, y = sp500
    model = GARCHRiskEstimator(o=1, dist="skewt").fit(X[:N_TRAIN], y[:N_TRAIN])
    assert model.params_["gamma[1]"] > 0
    shock = np.array([[-0.02] + [0.0] * 4, [0.02] + [0.0] * 4])
    after_loss, after_gain = (model.predict_var(row[None, :], 0.99)[0] for row in shock)
    assert after_loss > after_gain


def test_no_look_ahead_and_continuation(sp500):
    """A row's forecast depends on the lagged returns of it and the rows before only."""
    X, y = sp500
    for model in (GARCHRiskEstimator(), HistoricalSimulation(window=100)):
        model.fit(X[:N_TRAIN], y[:N_TRAIN])
        base = model.predict_var(X[N_TRAIN:N_TRAIN + 50], 0.99)
        changed = X[N_TRAIN:N_TRAIN + 50].copy()
        changed[30:, 0] *= 5
        changed[:, 1:] = 0  # other columns are ignored
        moved = model.predict_var(changed, 0.99)
        np.testing.assert_array_equal(moved[:30], base[:30])
        assert not np.allclose(moved[30:], base[30:])
        # forecasting in two blocks gives the forecasts of one block
        np.testing.assert_array_equal(model.predict_var(X[N_TRAIN:N_TRAIN + 30], 0.99),
                                      base[:30])


def test_historical_simulation_estimator_is_the_function():
    r = np.random.default_rng(0).standard_t(4, size=900) / 100
    X, y = r[:-1, None], r[1:]
    first = 600
    model = HistoricalSimulation(window=250).fit(X[:first - 1], y[:first - 1])
    risk, _ = historical_simulation(r, first=first, levels=(0.975, 0.99), window=250)
    for level in (0.975, 0.99):
        np.testing.assert_allclose(model.predict_var(X[first - 1:], level), risk[level][0])
        np.testing.assert_allclose(model.predict_es(X[first - 1:], level), risk[level][1])
    window = r[first - 250:first]
    assert model.predict_var(X[first - 1:first], 0.99)[0] == pytest.approx(
        -np.quantile(window, 0.01))


def test_historical_simulation_without_levels_is_refused():
    r = np.random.default_rng(0).standard_t(4, size=400) / 100
    for levels in ((), []):  # gave {}: a KeyError later, far from the cause
        with pytest.raises(ValueError, match="levels must hold at least one"):
            historical_simulation(r, first=300, levels=levels)


def test_fit_is_reproducible_and_pickles(sp500):
    X, y = sp500
    model = GARCHRiskEstimator(o=1, dist="skewt").fit(X[:N_TRAIN], y[:N_TRAIN])
    again = clone(model).fit(X[:N_TRAIN], y[:N_TRAIN])
    assert model.params_ == again.params_
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict_es(X[N_TRAIN:], 0.99),
                                  model.predict_es(X[N_TRAIN:], 0.99))


def test_params_are_in_the_units_of_y(sp500):
    X, y = sp500
    small = GARCHRiskEstimator().fit(X[:N_TRAIN], y[:N_TRAIN])
    large = GARCHRiskEstimator().fit(100 * X[:N_TRAIN], 100 * y[:N_TRAIN])
    assert large.params_["omega"] == pytest.approx(1e4 * small.params_["omega"], rel=1e-6)
    assert large.params_["mu"] == pytest.approx(100 * small.params_["mu"], rel=1e-6)
    # Both fits stop at the optimiser's tolerance, which moves the filtered VaR by ~2e-6
    # relative (thread count and BLAS change the last bits of the path).
    np.testing.assert_allclose(large.predict_var(100 * X[N_TRAIN:], 0.99),
                               100 * small.predict_var(X[N_TRAIN:], 0.99), rtol=1e-5)


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_forecasts_do_not_depend_on_the_scale_of_the_returns(sp500, scale):
    # Returns of 1e160 gave NaN forecasts (their squares overflowed); returns of 1e-160
    # were refused as constant (their spread underflowed).
    X, y = sp500
    model = GARCHRiskEstimator().fit(X[:N_TRAIN], y[:N_TRAIN])
    scaled = GARCHRiskEstimator().fit(X[:N_TRAIN] * scale, y[:N_TRAIN] * scale)
    assert scaled.converged_
    # y * scale is y rounded anew: the optimiser stops at a point a hair away
    assert scaled.params_["nu"] == pytest.approx(model.params_["nu"], rel=1e-4)
    for name in ("predict_volatility", "predict_var", "predict_es"):
        np.testing.assert_allclose(getattr(scaled, name)(X[N_TRAIN:] * scale) / scale,
                                   getattr(model, name)(X[N_TRAIN:]), rtol=1e-4)


def test_errors():
    X, y = np.zeros((300, 2)), np.random.default_rng(0).standard_normal(300)
    with pytest.raises(ValueError, match="lag_column=2 is not a column of X, which has 2"):
        GARCHRiskEstimator(lag_column=2).fit(X, y)
    with pytest.raises(ValueError, match="needs at least 10 training rows"):
        GARCHRiskEstimator().fit(X[:9], y[:9])
    with pytest.warns(UserWarning, match="fitted on 100 returns; below 250"):
        GARCHRiskEstimator().fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="y is constant"):
        GARCHRiskEstimator().fit(X, np.ones(300))
    with pytest.raises(ValueError, match="HistoricalSimulation needs at least 250 training"):
        HistoricalSimulation().fit(X[:100], y[:100])
    model = HistoricalSimulation(window=10).fit(X, y)
    with pytest.raises(ValueError, match="level is the VaR confidence level"):
        model.predict_var(X, 0.01)
    with pytest.raises(ValueError, match="X has 1 features"):
        model.predict_var(X[:, :1], 0.99)


@pytest.mark.parametrize("model", [GARCHRiskEstimator(), HistoricalSimulation(window=10),
                                   EWMARiskEstimator()], ids=lambda m: type(m).__name__)
def test_string_returns_are_refused_by_name(model):
    # An object array of numeric strings was parsed silently; a str array failed in numpy.
    X, y = np.zeros((300, 2)), np.random.default_rng(0).standard_normal(300)
    for text in (y.astype(str), y.astype(str).astype(object)):
        with pytest.raises(ValueError, match="y must hold real numbers; got strings"):
            model.fit(X, text)
    with pytest.raises(ValueError, match="returns must hold real numbers; got strings"):
        historical_simulation(y.astype(str), first=250)


@pytest.mark.parametrize("model", [GARCHRiskEstimator(), HistoricalSimulation(window=10),
                                   EWMARiskEstimator()], ids=lambda m: type(m).__name__)
def test_a_lag_column_that_is_not_the_previous_return_warns(sp500, model):
    # A scaler before the model rescaled the column its forecasts continue the series
    # from: GARCH(1,1)-t's 99% VaR came out at 15-35% where it is 1.1%, silently.
    X, y = sp500
    X, y = X[:600], y[:600]
    pipe = make_tail_pipeline(clone(model), kind="finance")
    with pytest.warns(UserWarning, match=r"lag_column=0 of X is not the previous return "
                                         r"\(X\[t, 0\] != y\[t - 1\] in 599 of 599 rows\)"):
        pipe.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clone(model).fit(X, y)
        kept = np.r_[0:200, 210:600]  # ten days dropped from the series: a few mismatches
        clone(model).fit(X[kept], y[kept])


@pytest.mark.parametrize("model", [GARCHRiskEstimator(), HistoricalSimulation(window=100),
                                   EWMARiskEstimator()], ids=lambda m: type(m).__name__)
def test_rows_that_do_not_continue_the_training_series_warn(sp500, model):
    # KFold validates on rows before (and between) its training rows: the forecasts of
    # a fold started from the state at the end of the training rows, the future (on
    # the S&P 500, 2,500 days, KFold(5): the first VaR of a fold 76-213% off for EWMA
    # and GARCH, half the fold's VaRs over 5% off for HS), silently.
    X, y = sp500
    X, y = X[:800], y[:800]
    train = np.r_[0:200, 400:800]  # KFold(4)'s second split
    fitted = clone(model).fit(X[train], y[train])
    with pytest.warns(UserWarning, match=r"The prediction rows do not continue the "
                                         rf"training series of {type(model).__name__}: the "
                                         r"lagged return of the first \(X\[0, 0\] = "
                                         r".*KFold.*TimeSeriesSplit") as record:
        fold = fitted.predict_var(X[200:400], 0.99)
    assert len(record) == 1
    # the same model, its filter run through the rows before the fold: other forecasts
    with pytest.warns(UserWarning, match="do not continue"):  # from row 0: warned too
        continued = fitted.predict_var(X[:400], 0.99)[200:]
    assert not np.allclose(fold[:5], continued[:5], rtol=1e-3, atol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clone(model).fit(X[:600], y[:600]).predict_es(X[600:700], 0.99)  # continued
        fitted.predict_var(np.array([[-0.02] + [0.0] * (X.shape[1] - 1)]))  # a scenario


@pytest.mark.parametrize("model", [GARCHRiskEstimator(), EWMARiskEstimator()],
                         ids=lambda m: type(m).__name__)
def test_the_warning_of_rows_that_do_not_continue_points_at_the_caller(sp500, model):
    # predict_volatility calls lagged_returns one frame shallower than predict_var:
    # stacklevel=4 pointed beyond the top of the stack ('sys').
    X, y = sp500
    fitted = clone(model).fit(X[:400], y[:400])
    for method in ("predict_volatility", "predict_var", "sample_y"):
        with pytest.warns(UserWarning, match="do not continue") as record:
            getattr(fitted, method)(X[500:520])
        assert [w.filename for w in record] == [__file__], method
    # a lag column that is not the previous return warns of that alone
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        make_tail_pipeline(clone(model), kind="finance").fit(X, y).predict_var(X[:50])
    assert [str(w.message)[:29] for w in record] == ["Column lag_column=0 of X is n"]


@pytest.mark.parametrize("model, refused", [
    (GARCHRiskEstimator(), lambda X, y: (np.c_[X, X[:, :1]], np.ones(len(y)))),  # constant
    (HistoricalSimulation(), lambda X, y: (np.c_[X, X[:, :1]][:100], y[:100])),  # too short
    (StudentTSampler(), lambda X, y: (np.c_[y, y, y * 1e306], None)),           # too large
], ids=lambda v: type(v).__name__ if hasattr(v, "fit") else "")
def test_a_refused_refit_leaves_the_last_model(sp500, model, refused):
    # The refit set n_features_in_ from the new data before it was refused: the last
    # model then refused every prediction ("expecting 6 features").
    X, y = sp500
    rows = y[:, None] if isinstance(model, StudentTSampler) else X
    fitted = model.fit(rows, y)
    answer = getattr(fitted, "predict_var" if hasattr(fitted, "predict_var")
                     else "score_samples")
    before = answer(rows[-5:])
    with pytest.raises(ValueError):
        fitted.fit(*refused(X, y))
    np.testing.assert_array_equal(answer(rows[-5:]), before)
    assert fitted.n_features_in_ == rows.shape[1]


@pytest.mark.parametrize("model", [GARCHRiskEstimator(), HistoricalSimulation(window=10),
                                   EWMARiskEstimator()], ids=lambda m: type(m).__name__)
def test_a_series_newest_first_is_refused(sp500, model):
    # Read as time order, each forecast's "past" was its future, silently.
    pd = pytest.importorskip("pandas")
    X, y = sp500
    dates = pd.bdate_range("2010-01-01", periods=len(y))
    frame, series = pd.DataFrame(X, index=dates), pd.Series(y, index=dates)
    with pytest.raises(ValueError, match=r"X must be in time order, its dates strictly "
                                         r"increasing; its index is newest first"):
        clone(model).fit(frame[::-1], series[::-1])
    with pytest.raises(ValueError, match=r"y must be in time order"):
        clone(model).fit(X[::-1], series[::-1])
    clone(model).fit(frame, series)  # in time order, as make_lagged_features builds it
    # a panel (entity x date) read as one series: entity B's first forecast used A's last
    panel = pd.MultiIndex.from_arrays([np.repeat(["A", "B"], len(y) // 2 + 1)[:len(y)], dates])
    with pytest.raises(ValueError, match=rf"{type(model).__name__}\.fit reads its rows as "
                                         r"one series"):
        clone(model).fit(pd.DataFrame(X, index=panel), pd.Series(y, index=panel))


def test_missing_arch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "arch", None)
    with pytest.raises(ImportError, match=r"pip install 'skqegm\[garch\]'"):
        GARCHRiskEstimator().fit(np.zeros((300, 1)), np.random.default_rng(0).normal(size=300))


@pytest.mark.parametrize("model", [
    GARCHRiskEstimator(), GARCHRiskEstimator(o=1, dist="skewt"),
    GARCHRiskEstimator(dist="normal"), GARCHRiskEstimator(method="fhs"),
    GARCHRiskEstimator(o=1, dist="skewt", method="evt"), HistoricalSimulation(),
], ids=repr)
def test_sample_y_draws_from_the_law_of_the_forecasts(sp500, model):
    X, y = sp500
    model.fit(X[:N_TRAIN], y[:N_TRAIN])
    rows = X[N_TRAIN:N_TRAIN + 3]
    draws = model.sample_y(rows, 100_000, random_state=0)
    assert draws.shape == (3, 100_000)
    np.testing.assert_array_equal(draws, model.sample_y(rows, 100_000, random_state=0))
    # no random_state of their own: sample_y's None draws afresh (backends.rst)
    assert not np.allclose(model.sample_y(rows, 5), model.sample_y(rows, 5))
    var = -np.quantile(draws, 0.025, axis=1)
    es = -np.array([row[row <= -v].mean() for row, v in zip(draws, var)])
    np.testing.assert_allclose(var, model.predict_var(rows, 0.975), rtol=0.03)
    np.testing.assert_allclose(es, model.predict_es(rows, 0.975), rtol=0.04)


@pytest.mark.parametrize("level", [0.8, 0.9, 0.99, 0.999])
def test_evt_figures_are_those_of_its_draws_in_the_body_and_beyond(sp500, level):
    """Below the threshold's probability (0.1) the quantile is a residual and the tail mean
    mixes residuals with the Pareto tail; beyond it, the Pareto law alone."""
    X, y = sp500
    model = GARCHRiskEstimator(method="evt").fit(X[:N_TRAIN], y[:N_TRAIN])
    row = X[N_TRAIN:N_TRAIN + 1]
    draws = model.sample_y(row, 2_000_000, random_state=1)[0]
    var = -np.quantile(draws, 1 - level)
    es = -draws[draws <= -var].mean()
    assert model.predict_var(row, level)[0] == pytest.approx(var, rel=0.01)
    assert model.predict_es(row, level)[0] == pytest.approx(es, rel=0.01)
    if level < 0.9:  # a body quantile is one of the training residuals
        mu, sigma = model.params_["mu"], model.predict_volatility(row)[0]
        z = (-model.predict_var(row, level)[0] - mu) / sigma
        assert np.min(np.abs(model.std_resid_ - z)) < 1e-12


def test_evt_tail_reaches_past_the_largest_residual_loss(sp500):
    X, y = sp500
    fhs = GARCHRiskEstimator(method="fhs").fit(X[:N_TRAIN], y[:N_TRAIN])
    evt = GARCHRiskEstimator(method="evt").fit(X[:N_TRAIN], y[:N_TRAIN])
    row = X[N_TRAIN:N_TRAIN + 1]
    # FHS's 99.99% VaR is (nearly) the largest residual loss; a Pareto tail goes beyond it.
    assert evt.predict_var(row, 0.9999)[0] > fhs.predict_var(row, 0.9999)[0]
    assert evt.tail_threshold_ == pytest.approx(-np.sort(-evt.std_resid_)[::-1][100])
    assert evt.gpd_scale_ > 0 and -0.5 < evt.gpd_shape_ < 1
    assert not hasattr(fhs, "gpd_shape_")


def test_evt_refuses_too_few_tail_residuals_and_warns_of_an_infinite_mean(sp500, monkeypatch):
    X, y = sp500
    with pytest.warns(UserWarning, match="below 250"), pytest.raises(
            ValueError, match=r"tail_fraction=0.1 of the 40 standardised residuals .*: 4, "
                              r"fewer than the 5 its fit needs; .* at least 50 returns"):
        GARCHRiskEstimator(method="evt").fit(X[:40], y[:40])
    with pytest.raises(ValueError, match=r"'tail_fraction' parameter .* range \(0.0, 0.5\)"):
        GARCHRiskEstimator(method="evt", tail_fraction=0.5).fit(X[:300], y[:300])
    from skqegm.baselines import _residual_evt

    monkeypatch.setattr(_residual_evt, "fit_gpd", lambda excess: (1.2, 1.0))
    with pytest.warns(UserWarning, match="shape of the residual losses is 1.2 >= 1"):
        model = GARCHRiskEstimator(method="evt").fit(X[:N_TRAIN], y[:N_TRAIN])
    assert np.all(np.isposinf(model.predict_es(X[N_TRAIN:N_TRAIN + 2], 0.99)))
    assert np.all(np.isfinite(model.predict_var(X[N_TRAIN:N_TRAIN + 2], 0.99)))


def test_evt_refuses_a_tail_tied_with_its_threshold():
    # Returns on a tick grid under an ARCH(1) filter: the top 5% of the residual losses
    # all tie with the next, every excess is 0, and scipy failed deep in its fit ("The
    # data contains non-finite values").
    r = np.round(np.random.RandomState(0).standard_normal(600) * 0.4) / 100
    X, y = make_lagged_features(r, lags=(1,), vol_windows=())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arch's warnings about this odd series
        with pytest.raises(ValueError, match=r"method='evt': the 29 largest standardised-"
                                             r"residual losses all equal the threshold .*"
                                             r"raise tail_fraction \(now 0.05\)"):
            GARCHRiskEstimator(method="evt", p=1, q=0, tail_fraction=0.05).fit(X, y)
        model = GARCHRiskEstimator(method="evt", p=1, q=0, tail_fraction=0.15).fit(X, y)
    assert model.gpd_scale_ > 0  # a tail reaching past the tie is fitted


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("model", [GARCHRiskEstimator(dist="normal"), EWMARiskEstimator()],
                         ids=lambda m: type(m).__name__)
def test_rows_far_beyond_the_training_scale_are_refused(sp500, model):
    # A lag column 1e250 times the training returns (fit warns of such a column) gave
    # inf and NaN forecasts with numpy's overflow warning.
    X, y = sp500
    model = clone(model).fit(X[:N_TRAIN], y[:N_TRAIN])
    rows = X[N_TRAIN:N_TRAIN + 50].copy()
    rows[1:, 0] *= 1e250  # the first row continues the training series, as it should
    for method in ("predict_volatility", "predict_var", "predict_es"):
        # predict_var / predict_es refuse in the volatility they scale.
        with pytest.raises(ValueError, match=r"predict_volatility: 49 of 50 forecasts "
                                             r"cannot be computed.*reach \d\.\d+e\+24\d"):
            getattr(model, method)(rows)
    with pytest.raises(ValueError, match="predict_volatility: .* cannot be computed"):
        model.sample_y(rows, n_draws=3, random_state=0)
    assert np.all(np.isfinite(model.predict_var(X[N_TRAIN:N_TRAIN + 2], 0.99)))


def test_historical_es_counts_ties_at_the_quantile_only_as_far_as_needed():
    # 5 losses of 1% in 250 returns, the rest 0: the 97.5% quantile is 0, and the ES was
    # the mean of every return at or below it, 0.02% (36x below the worst 2.5%'s 0.8%).
    r = np.zeros(300)
    r[[100, 120, 150, 200, 240]] = -0.01  # in every window
    risk, _ = historical_simulation(r, first=251, levels=(0.975, 0.99), window=250)
    n_tail = int(np.floor(0.025 * 249)) + 1  # 7: the returns at or below it without ties
    np.testing.assert_allclose(risk[0.975][1], 0.05 / n_tail)
    np.testing.assert_allclose(risk[0.99][1], 0.01)  # the 3 smallest: all losses
    X, y = r[:-1, None], r[1:]
    model = HistoricalSimulation(window=250).fit(X[:250], y[:250])
    np.testing.assert_allclose(model.predict_es(X[250:], 0.975), risk[0.975][1])
    # Without ties it is the mean of the returns at or below the quantile, as before.
    t = np.random.default_rng(0).standard_t(3, size=260)
    window = t[:250]
    below = window[window <= np.quantile(window, 0.01)]
    risk, _ = historical_simulation(t, first=250, levels=(0.99,), window=250)
    assert risk[0.99][1][0] == pytest.approx(-below.mean(), rel=1e-12)


def test_fit_warnings_point_at_the_callers_line(sp500):
    # They pointed at scikit-learn's _fit_context wrapper (or skqegm's own decorator).
    X, y = sp500
    with pytest.warns(UserWarning) as record:
        GARCHRiskEstimator().fit(X[:100] * 3, y[:100])
    assert len(record) == 2 and {w.filename for w in record} == {__file__}


@pytest.mark.parametrize("model, change", [
    (GARCHRiskEstimator(), dict(dist="normal")),      # the normal quantile on a t fit
    (GARCHRiskEstimator(), dict(dist="skewt")),       # TypeError in _skewt_tail
    (GARCHRiskEstimator(), dict(method="evt")),       # AttributeError: no _loss_tail
    (EWMARiskEstimator(), dict(decay=0.8)),           # the new decay from the old state
    (HistoricalSimulation(), dict(window=100)),       # 728 forecasts for 578 rows
    (HistoricalSimulation(), dict(lag_column=1)),     # the windows of another column
], ids=lambda v: str(v) if isinstance(v, dict) else type(v).__name__)
def test_parameters_set_after_fit_wait_for_the_next_fit(sp500, model, change):
    X, y = sp500
    model.fit(X[:N_TRAIN], y[:N_TRAIN])
    var, draws = model.predict_var(X[N_TRAIN:]), model.sample_y(X[N_TRAIN:], 5, random_state=0)
    model.set_params(**change)
    np.testing.assert_array_equal(model.predict_var(X[N_TRAIN:]), var)
    np.testing.assert_array_equal(model.sample_y(X[N_TRAIN:], 5, random_state=0), draws)
    refit = clone(model).fit(X[:N_TRAIN], y[:N_TRAIN])
    assert not np.array_equal(refit.predict_var(X[N_TRAIN:]), var)


def test_evt_tail_holds_floor_tail_fraction_n_exceedances(sp500):
    # 0.29 * 100 is 28.999999999999996 in float64: int() kept 28 exceedances for 29.
    X, y = sp500
    with pytest.warns(UserWarning, match="fitted on 100 returns"):
        model = GARCHRiskEstimator(method="evt", tail_fraction=0.29).fit(X[:100], y[:100])
    losses = np.sort(-model.std_resid_)[::-1]
    assert -model.tail_threshold_ == losses[29]
    # and a loss quantile of exactly 0 is 0.0, not -0.0
    zeros = np.r_[np.zeros(9), -0.01]
    risk, _ = historical_simulation(np.r_[zeros, zeros], first=10, levels=(0.6,), window=10)
    assert not np.signbit(risk[0.6][0]).any()
