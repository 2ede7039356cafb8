"""FilteredRiskEstimator: a tail model of returns standardised by a volatility filter."""

import pickle

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skqegm import TailRiskEstimator
from skqegm.baselines import GARCHRiskEstimator
from skqegm.metrics import kupiec_pof_test, var_exceedances
from skqegm.model_selection import walk_forward
from skqegm.models import FilteredRiskEstimator
from skqegm.preprocessing import make_lagged_features

pytest.importorskip("arch")


class ColumnVolatility(BaseEstimator):
    """A filter whose sigma is column 1 of X (known exactly, for the tests)."""

    def fit(self, X, y):
        self.conditional_volatility_ = np.asarray(X)[:, 1].copy()
        return self

    def predict_volatility(self, X):
        return np.asarray(X)[:, 1]


class StandardNormal(BaseEstimator):
    """A model of the standardised returns that records its training data and answers
    for N(0, 1) whatever the features."""

    def fit(self, X, y):
        self.X_, self.y_ = np.array(X), np.array(y)
        return self

    def predict(self, X):
        return np.zeros(len(X))

    def predict_quantiles(self, X, quantiles):
        return np.tile(stats.norm.ppf(np.atleast_1d(quantiles)), (len(X), 1))

    def predict_interval(self, X, coverage=0.9):
        return self.predict_quantiles(X, [(1 - coverage) / 2, (1 + coverage) / 2])

    def predict_var(self, X, level=0.99):
        return np.full(len(X), -stats.norm.ppf(1 - level))

    def predict_es(self, X, level=0.99):
        return np.full(len(X), stats.norm.pdf(stats.norm.ppf(1 - level)) / (1 - level))

    def sample_y(self, X, n_draws=10, random_state=None):
        return np.random.default_rng(random_state).standard_normal((len(X), n_draws))

    def score(self, X, y):
        return float(np.mean(stats.norm.logpdf(y)))


def _known_sigma_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    sigma = np.exp(rng.uniform(-5, -3, n))  # daily volatilities of 0.7% to 5%
    X = np.column_stack([rng.normal(0, 0.01, n), sigma, rng.normal(0, 0.02, n)])
    return X, sigma * rng.standard_normal(n), sigma


@pytest.mark.parametrize("scale_features", [True, False])
def test_the_estimator_sees_standardised_returns_and_answers_are_rescaled(scale_features):
    X, y, sigma = _known_sigma_data()
    model = FilteredRiskEstimator(StandardNormal(), ColumnVolatility(),
                                  scale_features=scale_features).fit(X, y)
    np.testing.assert_allclose(model.estimator_.y_, y / sigma, rtol=1e-15)
    np.testing.assert_allclose(model.estimator_.X_,
                               X / sigma[:, None] if scale_features else X, rtol=1e-15)
    X_new, y_new, s_new = _known_sigma_data(50, seed=1)
    z99, z975 = stats.norm.ppf(0.99), stats.norm.ppf(0.975)
    np.testing.assert_allclose(model.predict_var(X_new, 0.99), s_new * z99, rtol=1e-12)
    np.testing.assert_allclose(model.predict_es(X_new, 0.975),
                               s_new * stats.norm.pdf(z975) / 0.025, rtol=1e-12)
    np.testing.assert_allclose(model.predict_quantiles(X_new, [0.01, 0.5]),
                               np.column_stack([-s_new * z99, 0 * s_new]), atol=1e-15)
    np.testing.assert_allclose(model.predict_interval(X_new, 0.95),
                               np.column_stack([-s_new * z975, s_new * z975]), rtol=1e-12)
    draws = model.sample_y(X_new, n_draws=20000, random_state=0)
    np.testing.assert_allclose(draws.std(axis=1), s_new, rtol=0.03)
    # The change of variables: log p(y) = log p(y / sigma) - log sigma.
    assert model.score(X_new, y_new) == pytest.approx(
        np.mean(stats.norm.logpdf(y_new, scale=s_new)), rel=1e-12)


@pytest.mark.parametrize("scale_features", [[0, 2], np.array([True, False, True]),
                                            ["lag", "other"]])
def test_scale_features_selects_the_columns_divided(scale_features):
    pd = pytest.importorskip("pandas")
    X, y, sigma = _known_sigma_data()
    X = pd.DataFrame(X, columns=["lag", "sigma", "other"])
    model = FilteredRiskEstimator(StandardNormal(), ColumnVolatility(),
                                  scale_features=scale_features).fit(X, y)
    np.testing.assert_array_equal(model.scaled_features_, [True, False, True])
    expected = X.to_numpy() / np.column_stack([sigma, np.ones_like(sigma), sigma])
    np.testing.assert_allclose(model.estimator_.X_, expected, rtol=1e-15)
    np.testing.assert_array_equal(model.estimator_.X_[:, 1], X["sigma"])  # left as it was
    X_new, _, s_new = _known_sigma_data(50, seed=1)
    np.testing.assert_allclose(
        model.predict_var(pd.DataFrame(X_new, columns=X.columns), 0.99),
        s_new * stats.norm.ppf(0.99), rtol=1e-12)


@pytest.mark.parametrize("scale_features, match", [
    ([0, 3], r"scale_features holds column 3, outside \[0, 2\]: X has 3 columns"),
    ([True, False], r"scale_features, a boolean mask, has 2 entries, not n_features=3"),
    (["lag"], r"scale_features names columns, but X has no column names"),
    ([[0, 1]], r"scale_features must be one-dimensional"),
    ([0.5], r"scale_features must be True, False, column indices"),
    # A mask written with a 0 was read as the indices 1 and 0: every column scaled.
    ([True, 0, False], r"scale_features mixes booleans and column indices"),
])
def test_scale_features_is_refused_naming_what_is_allowed(scale_features, match):
    X, y, _ = _known_sigma_data()
    model = FilteredRiskEstimator(StandardNormal(), ColumnVolatility(),
                                  scale_features=scale_features)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_scale_features_names_unknown_columns_are_refused():
    pd = pytest.importorskip("pandas")
    X, y, _ = _known_sigma_data()
    X = pd.DataFrame(X, columns=["lag", "sigma", "other"])
    with pytest.raises(ValueError, match=r"scale_features names \['vix'\], which are not "
                                         r"columns of X \(\['lag', 'sigma', 'other'\]\)"):
        FilteredRiskEstimator(StandardNormal(), ColumnVolatility(),
                              scale_features=["lag", "vix"]).fit(X, y)

def _garch_returns(n, seed, omega=2e-6, alpha=0.08, beta=0.9, nu=5.0):
    """A GARCH(1,1)-t path (unit-variance innovations) and its true sigma."""
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(nu, n) * np.sqrt((nu - 2) / nu)
    y, sigma = np.empty(n), np.empty(n)
    variance = omega / (1 - alpha - beta)
    for t in range(n):
        sigma[t] = np.sqrt(variance)
        y[t] = sigma[t] * shocks[t]
        variance = omega + alpha * y[t] ** 2 + beta * variance
    return y, sigma


def test_forecasts_follow_the_volatility_and_are_calibrated():
    returns, sigma = _garch_returns(3200, seed=3)
    X, y = make_lagged_features(returns)
    sigma = sigma[len(returns) - len(y):]
    n_train = 2200
    model = FilteredRiskEstimator(
        TailRiskEstimator(latent="gaussian", max_epochs=40, hidden_layer_sizes=(16,),
                          random_state=0),
        GARCHRiskEstimator(),
    ).fit(X[:n_train], y[:n_train])
    var = model.predict_var(X[n_train:], 0.975)
    # The level comes from the filter, the shape from the model of the standardised
    # returns: the forecasts track the true volatility, at the true t5 quantile.
    assert np.corrcoef(var, sigma[n_train:])[0, 1] > 0.9
    assert np.median(var / sigma[n_train:]) == pytest.approx(
        -stats.t.ppf(0.025, 5) * np.sqrt(3 / 5), rel=0.15)
    hits = var_exceedances(y[n_train:], var)
    assert kupiec_pof_test(hits, 0.975).p_value > 0.05
    assert np.all(model.predict_es(X[n_train:], 0.975) > var)


def test_defaults_and_walk_forward():
    X, y = make_lagged_features(_garch_returns(700, seed=1)[0])
    model = FilteredRiskEstimator(TailRiskEstimator(latent="gaussian", max_epochs=3,
                                                    hidden_layer_sizes=(8,), random_state=0))
    fitted = clone(model).fit(X[:500], y[:500])
    assert isinstance(fitted.volatility_, GARCHRiskEstimator)
    assert (fitted.volatility_.o, fitted.volatility_.dist) == (1, "skewt")
    result = walk_forward(model, X, y, start=500, refit_every=100, levels=(0.99,))
    assert result.var_at(0.99).shape == (len(y) - 500,)
    assert np.all(result.es_at(0.99) > result.var_at(0.99))
    # pickle round-trip: the same forecasts
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_var(X[500:]), fitted.predict_var(X[500:]))


def test_errors():
    X, y, _ = _known_sigma_data(100)
    with pytest.raises(NotFittedError):
        FilteredRiskEstimator(StandardNormal(), ColumnVolatility()).predict_var(X)
    with pytest.raises(InvalidParameterError, match="'estimator' parameter"):
        FilteredRiskEstimator(estimator="tail").fit(X, y)
    with pytest.raises(InvalidParameterError, match="'volatility' parameter"):
        FilteredRiskEstimator(volatility=StandardNormal()).fit(X, y)

    class NoSigma(ColumnVolatility):
        def fit(self, X, y):
            return self

    with pytest.raises(ValueError, match="conditional_volatility_"):
        FilteredRiskEstimator(StandardNormal(), NoSigma()).fit(X, y)
    X_bad = X.copy()
    X_bad[3, 1] = 0.0
    with pytest.raises(ValueError, match="not positive and finite for the training rows"):
        FilteredRiskEstimator(StandardNormal(), ColumnVolatility()).fit(X_bad, y)
    model = FilteredRiskEstimator(StandardNormal(), ColumnVolatility()).fit(X, y)
    with pytest.raises(ValueError, match="prediction rows"):
        model.predict_var(X_bad)


def test_score_validates_y_before_dividing_by_sigma():
    # A column vector y once broadcast against sigma into an (n, n) array, which a model's
    # score averaged silently; a y of another length failed inside numpy.
    X, y, sigma = _known_sigma_data(50)
    model = FilteredRiskEstimator(StandardNormal(), ColumnVolatility()).fit(X, y)
    expected = float(np.mean(stats.norm.logpdf(y / sigma) - np.log(sigma)))
    assert model.score(X, y) == pytest.approx(expected)
    assert model.score(X, y[:, None]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.score(X, y[1:])
    with pytest.raises(ValueError, match="y should be a 1d array"):
        model.score(X, np.column_stack([y, y]))
    for text in (y.astype(str), y.astype(str).astype(object)):  # numeric strings were parsed
        with pytest.raises(ValueError, match="y must hold real numbers; got strings"):
            model.score(X, text)
        with pytest.raises(ValueError, match="y must hold real numbers; got strings"):
            FilteredRiskEstimator(StandardNormal(), ColumnVolatility()).fit(X, text)


def test_a_refit_that_fails_leaves_the_last_model_whole():
    # The filter was refitted on the new rows before the model's fit failed: the new
    # filter's sigma then scaled the old model's answers, silently.
    class Refuses(StandardNormal):
        def fit(self, X, y):
            raise ValueError("refused")

    X, y, _ = _known_sigma_data(100)
    model = FilteredRiskEstimator(StandardNormal(), ColumnVolatility()).fit(X, y)
    filter_, expected = model.volatility_, model.predict_var(X)
    with pytest.raises(ValueError, match="refused"):
        model.set_params(estimator=Refuses()).fit(X[:50] * 2, y[:50])
    assert model.volatility_ is filter_
    np.testing.assert_array_equal(model.predict_var(X), expected)
    first = FilteredRiskEstimator(Refuses(), ColumnVolatility())
    with pytest.raises(ValueError, match="refused"):
        first.fit(X, y)
    with pytest.raises(NotFittedError):  # no filter fitted alone
        first.predict_var(X)
    model.set_params(estimator=StandardNormal()).fit(X, y).predict_var(X)
