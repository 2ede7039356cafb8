"""TailRiskEstimator: conditional quality, exact mixture numerics, sklearn fit, errors."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad
from scipy.optimize import brentq
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skqegm import TailRiskEstimator
from skqegm.exceptions import ExtrapolationWarning, MemoryLimitError
from skqegm.metrics import SCORERS, interval_coverage
from skqegm.models._mixture1d import mixture_quantiles, mixture_tail_mean
from skqegm.models.tail_risk import MIN_RARE_EVENTS
from skqegm.pipeline import Pipeline

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def heteroscedastic(n, seed):
    """y = sigma(x) * Student-t(4), sigma growing with the first feature."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(n, 2))
    sigma = np.exp(0.5 * X[:, 0])
    return X, sigma * rng.standard_t(4, size=n), sigma


X_H, Y_H, _ = heteroscedastic(1500, 0)


def small(latent="quantum", **params):
    return TailRiskEstimator(**{"latent": latent, "max_epochs": 3, "hidden_layer_sizes": (16,),
                                "random_state": 0, **params})


@pytest.fixture(scope="module", params=["quantum", "gaussian"])
def fitted(request):
    """A model of the heteroscedastic data, trained to convergence (a few seconds)."""
    X, y, _ = heteroscedastic(4000, 1)
    return TailRiskEstimator(latent=request.param, random_state=0).fit(X, y)


# -- quality ----------------------------------------------------------------------------------
# The bar is the quantum model's; the twin is a control (at 4,000 rows it collapsed to a
# Gaussian conditional: 0.85 coverage at a nominal 0.80).
@pytest.mark.parametrize("fitted", ["quantum"], indirect=True)
def test_intervals_follow_the_conditional_scale(fitted):
    X, y, sigma = heteroscedastic(4000, 2)
    widths = np.diff(fitted.predict_interval(X, 0.9), axis=1).ravel()
    assert np.corrcoef(widths, sigma)[0, 1] > 0.9
    for coverage in (0.8, 0.9, 0.95):
        empirical = interval_coverage(y, fitted.predict_interval(X, coverage))
        assert abs(empirical - coverage) < 0.04, coverage


@pytest.mark.parametrize("fitted", ["quantum"], indirect=True)
def test_var_exceedances_match_the_level(fitted):
    X, y, _ = heteroscedastic(4000, 3)
    for level in (0.95, 0.99):
        rate = np.mean(y < -fitted.predict_var(X, level))
        assert abs(rate - (1 - level)) < 0.5 * (1 - level) + 0.003, level


def test_rare_flags_single_out_the_volatile_rows(fitted):
    X, y, sigma = heteroscedastic(4000, 4)
    flags = fitted.predict_rare(X)
    assert sigma[flags == 1].mean() > 1.5 * sigma[flags == 0].mean()
    rare = y < fitted.tail_threshold_[0, 0]
    np.testing.assert_array_equal(fitted.rare_events(y), rare)
    assert rare[flags == 1].mean() > 2 * rare[flags == 0].mean()


@pytest.mark.parametrize("fitted", ["quantum"], indirect=True)
def test_predict_is_the_conditional_median(fitted):
    X, y, _ = heteroscedastic(4000, 5)
    median = fitted.predict(X)
    np.testing.assert_allclose(median, fitted.predict_quantiles(X, 0.5)[:, 0])
    assert abs(np.mean(y < median) - 0.5) < 0.03  # half the outcomes below it
    assert np.mean(np.abs(median)) < 0.3  # y is centred: t_4 noise scaled by sigma(x)


# -- exact mixture numerics -------------------------------------------------------------------
def mixture_of_row(model, x):
    log_weights, mean, scale = model._predictive_mixture(x[None, :])
    return np.exp(log_weights), mean[0], scale[0]


def test_quantiles_invert_the_cdf_found_by_brentq(fitted):
    quantiles = [0.001, 0.025, 0.5, 0.9, 0.999]
    predicted = fitted.predict_quantiles(X_H[:5], quantiles)
    for i in range(5):
        w, m, s = mixture_of_row(fitted, X_H[i])
        for j, q in enumerate(quantiles):
            root = brentq(lambda t: w @ stats.norm.cdf(t, m, s) - q, -100, 100, xtol=1e-13)
            assert predicted[i, j] == pytest.approx(root, abs=1e-9)


def test_proba_is_the_tail_mass_at_the_threshold(fitted):
    proba = fitted.predict_tail_proba(X_H[:5])
    assert proba.shape == (5,)
    for i in range(5):
        w, m, s = mixture_of_row(fitted, X_H[i])
        threshold = fitted.tail_threshold_[0, 0]
        assert proba[i] == pytest.approx(w @ stats.norm.cdf(threshold, m, s))


def test_tail_probability_of_a_row_wholly_beyond_the_threshold_is_at_most_one():
    # The weights sum to 1 up to rounding: such a row's probability was 1 + 2.2e-16, which
    # scikit-learn's brier_score_loss refuses ("y_prob contains values greater than 1").
    from sklearn.metrics import brier_score_loss

    from skqegm.models._mixture1d import mixture_cdf

    mixture = small("gaussian").fit(X_H, Y_H)._predictive_mixture(X_H[:50])
    for far, upper in ((1e6, False), (-1e6, True)):
        proba = mixture_cdf(np.full((50, 1), far), *mixture, upper=upper)[:, 0]
        np.testing.assert_array_equal(proba, 1.0)
        assert brier_score_loss(np.ones(50), proba) == 0.0


def test_es_is_the_mean_beyond_the_var_by_quadrature(fitted):
    var, es = fitted.predict_var(X_H[:3], 0.975), fitted.predict_es(X_H[:3], 0.975)
    for i in range(3):
        w, m, s = mixture_of_row(fitted, X_H[i])
        partial = quad(lambda t: t * (w @ stats.norm.pdf(t, m, s)), -np.inf, -var[i])[0]
        assert es[i] == pytest.approx(-partial / 0.025, rel=1e-6)
        assert es[i] > var[i]


def test_score_is_the_mean_log_density_which_integrates_to_one(fitted):
    y = Y_H[:4]
    expected = np.mean([np.log(w @ stats.norm.pdf(t, m, s))
                        for t, (w, m, s) in zip(y, (mixture_of_row(fitted, x) for x in X_H[:4]))])
    assert fitted.score(X_H[:4], y) == pytest.approx(expected, rel=1e-10)
    w, m, s = mixture_of_row(fitted, X_H[0])
    assert quad(lambda t: w @ stats.norm.pdf(t, m, s), -np.inf, np.inf)[0] == pytest.approx(1.0)


def test_draws_follow_the_predicted_quantiles(fitted):
    draws = fitted.sample_y(X_H[:2], n_draws=20000, random_state=0)
    assert draws.shape == (2, 20000)
    for i in range(2):
        w, m, s = mixture_of_row(fitted, X_H[i])
        assert stats.kstest(draws[i], lambda t: stats.norm.cdf(t[:, None], m, s) @ w).pvalue > 1e-3
    np.testing.assert_array_equal(draws, fitted.sample_y(X_H[:2], 20000, random_state=0))


def test_mixture_helpers_on_one_gaussian():
    mean, scale = np.array([[1.0], [-2.0]]), np.array([[2.0], [0.5]])
    q = mixture_quantiles([0.01, 0.5, 0.975], np.zeros(1), mean, scale)
    np.testing.assert_allclose(q, stats.norm.ppf([0.01, 0.5, 0.975], mean, scale), atol=1e-10)
    t = np.array([0.0, -3.0])
    expected = [stats.norm(m, s).expect(lambda v: v, ub=u)  # E[Y 1{Y <= u}]
                for m, s, u in zip(mean[:, 0], scale[:, 0], t)]
    np.testing.assert_allclose(mixture_tail_mean(t, np.zeros(1), mean, scale), expected,
                               rtol=1e-6)


def test_quantiles_across_a_jump_of_the_cdf_are_exact():
    # A narrow component makes the CDF jump at 0.1244: Newton bounced between the ends of
    # the bracket, -0.768 and 4.395, never shrinking it, and returned 4.395 (CDF 0.344)
    # as the 0.3 quantile, silently. Fitted on a zero-inflated target (rainfall-like),
    # 29 of 89,100 predicted quantiles were off so (a 0.75 quantile at CDF 0.827).
    mean = np.array([[0.12435759128754761, 630.5639091951364, 0.0021418678381809795]])
    scale = np.array([[5.426108384097974e-06, 2.791276101924769e-05, 24.34220373838441]])
    weights = np.array([0.04384820612838518, 0.43163589501208943, 0.5245158988595254])
    log_weights = np.log(weights / weights.sum())

    def cdf(v):
        return np.exp(log_weights) @ stats.norm.cdf(v, mean[0], scale[0])

    levels = [0.001, 0.1, 0.3, 0.5, 0.9]
    expected = [brentq(lambda v: cdf(v) - q, -1e4, 1e4, xtol=1e-15) for q in levels]
    np.testing.assert_allclose(mixture_quantiles(levels, log_weights, mean, scale)[0],
                               expected, rtol=1e-9)


def test_quantiles_of_far_apart_narrow_components_are_silent_and_exact():
    # The density underflows between the components: Newton's step overflowed and numpy
    # warned from predict_var; bisection takes that step.
    weights = np.array([2.07e-3, 1e-12, 1e-12, 1e-12, 6.75e-4, 1e-12, 1e-6, 2.574e-3,
                        9.94356e-1, 1e-12, 1e-12, 3.24e-4])
    weights /= weights.sum()
    mean = np.array([[4.894, -110.361, -112.789, -55.552, -67.601, 109.03, 137.554, 86.856,
                      35.787, -42.824, 5.448, 88.471]])
    scale = np.array([[5.976e-2, 1.547e-3, 4.312e-5, 1.121e-4, 2.351e-5, 9.564e-6, 5.754e-5,
                       1.798e-4, 2.466e-2, 1.169e-4, 5.868e-3, 2.008e-2]])
    qs = np.array([1e-6, 0.001, 0.01, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = mixture_quantiles(qs, np.log(weights), mean, scale)[0]
    cdf = [np.sum(weights * stats.norm.cdf(x, mean[0], scale[0])) for x in q]
    np.testing.assert_allclose(cdf, qs, rtol=1e-6)


# -- thresholds and sides ---------------------------------------------------------------------
def test_quantile_and_sigma_thresholds_and_base_rate():
    model = small(tail_fraction=0.05).fit(X_H, Y_H)
    assert model.tail_threshold_.shape == (2, 1)
    np.testing.assert_allclose(model.tail_threshold_[:, 0], np.quantile(Y_H, [0.05, 0.95]))
    assert model.base_rate_ == pytest.approx(np.mean(Y_H < model.tail_threshold_[0, 0]))
    sigma = small(tail_rule="sigma", k=2.0, side="upper").fit(X_H, Y_H)
    assert sigma.tail_threshold_[1, 0] == pytest.approx(Y_H.mean() + 2 * Y_H.std())
    assert sigma.tail_threshold_[0, 0] == pytest.approx(Y_H.mean() - 2 * Y_H.std())
    assert sigma.base_rate_ == pytest.approx(np.mean(Y_H > sigma.tail_threshold_[1, 0]))


def test_upper_side_var_and_es_are_upper_levels():
    upper = small(side="upper").fit(X_H, Y_H)
    quantile = upper.predict_quantiles(X_H[:4], 0.99)[:, 0]
    np.testing.assert_allclose(upper.predict_var(X_H[:4], 0.99), quantile)
    assert np.all(upper.predict_es(X_H[:4], 0.99) > quantile)
    p = upper.predict_tail_proba(X_H[:4])
    lower_mass = upper.predict_quantiles(X_H[:4], 0.5)  # the median is below the threshold
    assert np.all(p < 0.5) and np.all(lower_mass < upper.tail_threshold_[1, 0])
    np.testing.assert_array_equal(upper.rare_events(Y_H), Y_H > upper.tail_threshold_[1, 0])


@pytest.mark.parametrize("side", ["lower", "upper"])
def test_var_and_es_keep_their_precision_at_extreme_levels(side):
    # Quantiles near 1 (the upper VaR) were solved on the CDF near 1, whose resolution is
    # 1e-16: at level 1 - 2**-52 the tail mass was off by half, the ES 50% beyond the VaR.
    from skqegm.models._mixture1d import mixture_cdf, mixture_tail_mean

    model = small(side=side, latent="gaussian").fit(X_H, Y_H)
    log_weights, mean, scale = model._predictive_mixture(X_H[:3])
    upper = side == "upper"
    for level in (1 - 1e-3, 1 - 1e-12, 1 - 1e-14, 1 - 2.0**-52):
        alpha = 1 - level  # exact (the level itself is 1 - 1e-12 rounded)
        var, es = model.predict_var(X_H[:3], level), model.predict_es(X_H[:3], level)
        quantile = var if upper else -var
        mass = mixture_cdf(quantile[:, None], log_weights, mean, scale, upper=upper)[:, 0]
        np.testing.assert_allclose(mass, alpha, rtol=1e-6)
        tail = mixture_tail_mean(quantile, log_weights, mean, scale, upper=upper) / alpha
        np.testing.assert_allclose(es, tail if upper else -tail, rtol=1e-9)
        assert np.all(es > var) and np.all(es < var + 0.1 * np.abs(var) + 1)
        beyond = mixture_cdf(model.predict_quantiles(X_H[:3], level), log_weights, mean,
                             scale, upper=True)[:, 0]
        np.testing.assert_allclose(beyond, alpha, rtol=1e-6)


def test_decision_threshold_sets_the_flags():
    model = small().fit(X_H, Y_H)
    proba = model.predict_tail_proba(X_H)
    np.testing.assert_array_equal(model.predict_rare(X_H), proba > model.base_rate_)
    strict = clone(model).set_params(decision_threshold=0.2).fit(X_H, Y_H)
    np.testing.assert_array_equal(strict.predict_rare(X_H), strict.predict_tail_proba(X_H) > 0.2)


def test_set_params_side_after_fit_flags_against_that_sides_base_rate():
    # predict_rare compared the upper tail's probability with the lower tail's training
    # rate: on a skewed target (lognormal, sigma rule, no training y below the lower
    # threshold) base_rate_ was 0 and every row was flagged.
    y = np.exp(0.8 * np.random.default_rng(0).standard_normal(len(X_H)))
    model = small(tail_rule="sigma", k=2.0).fit(X_H, y)
    assert model.base_rate_ == 0.0
    model.set_params(side="upper")
    upper_rate = np.mean(y > model.tail_threshold_[1, 0])
    np.testing.assert_array_equal(model.predict_rare(X_H),
                                  model.predict_tail_proba(X_H) > upper_rate)
    refitted = clone(model).fit(X_H, y)
    assert refitted.base_rate_ == pytest.approx(upper_rate)
    np.testing.assert_array_equal(model.predict_rare(X_H), refitted.predict_rare(X_H))


def test_side_and_decision_threshold_set_after_fit_are_checked_when_read():
    # Read at prediction time but checked only by fit: side="Upper" gave the lower VaR and
    # P(y <= upper threshold) (0.97) as the tail probability; decision_threshold=2 flagged
    # no row, silently.
    model = small(max_epochs=1).fit(X_H, Y_H)
    model.set_params(side="Upper")
    for predict in (model.predict_var, model.predict_es, model.predict_tail_proba,
                    model.predict_rare, model.rare_events):
        with pytest.raises(ValueError, match="side must be one of 'lower', 'upper'; got 'Upper'"):
            predict(X_H[:3, 0] if predict == model.rare_events else X_H[:3])
    model.set_params(side="lower", decision_threshold=2.0)
    with pytest.raises(ValueError, match=r"decision_threshold must be in \[0, 1\]; got 2.0"):
        model.predict_rare(X_H[:3])


def test_random_state_seeds_the_fit():
    params = dict(max_epochs=2, hidden_layer_sizes=(8,))
    a = TailRiskEstimator(random_state=5, **params).fit(X_H, Y_H).predict_var(X_H[:5])
    b = TailRiskEstimator(random_state=5, **params).fit(X_H, Y_H).predict_var(X_H[:5])
    c = TailRiskEstimator(random_state=6, **params).fit(X_H, Y_H).predict_var(X_H[:5])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sample_y_falls_back_on_the_estimator_random_state():
    # As doc/user_guide/backends.rst says, the rule of every draw method of the package.
    model = small("gaussian", random_state=3).fit(X_H, Y_H)
    np.testing.assert_array_equal(model.sample_y(X_H[:2], n_draws=4),
                                  model.sample_y(X_H[:2], n_draws=4))
    assert not np.allclose(model.sample_y(X_H[:2], n_draws=4),
                           model.sample_y(X_H[:2], n_draws=4, random_state=4))
    model.set_params(random_state=None)
    assert not np.allclose(model.sample_y(X_H[:2], n_draws=4),
                           model.sample_y(X_H[:2], n_draws=4))


def test_default_architecture_and_provenance():
    model = TailRiskEstimator(random_state=0)
    model.set_params(max_epochs=1).fit(X_H, Y_H)
    assert model.quantum_layer_.n_qubits_ == 4 and model.n_iter_ == 1
    assert model.provenance_["random_state"] == 0 and model.provenance_["latent"] == "quantum"
    assert small("gaussian").fit(X_H, Y_H).quantum_layer_ is None


# -- scikit-learn fit -------------------------------------------------------------------------
def test_round_trips_predict_identically(tmp_path):
    model = small().fit(X_H, Y_H)
    expected = model.predict_interval(X_H[:20])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_interval(X_H[:20]),
                                  expected)
    joblib.dump(model, tmp_path / "model.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "model.joblib").predict_interval(X_H[:20]), expected)
    np.testing.assert_array_equal(clone(model).fit(X_H, Y_H).predict_interval(X_H[:20]),
                                  expected)


def test_grid_search_with_the_tail_scorers():
    search = GridSearchCV(small(), {"coverage": [0.8, 0.9]}, scoring=SCORERS,
                          refit="neg_coverage_error", cv=3)
    search.fit(X_H, Y_H)
    for name in SCORERS:
        assert np.all(np.isfinite(search.cv_results_[f"mean_test_{name}"])), name
    assert search.best_estimator_.predict_var(X_H[:3]).shape == (3,)


def test_pipeline_after_preprocessing_is_scored_through_its_last_step():
    X = 1000.0 + 50.0 * X_H
    pipe = Pipeline([("scale", StandardScaler()), ("risk", small())]).fit(X, Y_H)
    assert pipe.predict(X[:7]).shape == (7,) and pipe.predict_tail_proba(X[:7]).shape == (7,)
    np.testing.assert_array_equal(pipe.predict_rare(X[:7]),
                                  pipe[-1].predict_rare(pipe[:-1].transform(X[:7])))
    for name, scorer in SCORERS.items():
        assert np.isfinite(scorer(pipe, X, Y_H)), name
    search = GridSearchCV(pipe, {"risk__coverage": [0.8, 0.9]}, scoring=SCORERS,
                          refit="neg_tail_kl", cv=2).fit(X, Y_H)
    assert search.best_estimator_.score(X[:50], Y_H[:50]) < 0


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        ({"tail_rule": "gpd"}, "'tail_rule' parameter of TailRiskEstimator must be a str "
                               "among"),
        ({"side": "both"}, "'side' parameter of TailRiskEstimator must be a str among"),
        ({"tail_fraction": 0.5}, r"'tail_fraction' parameter .* in the range \(0.0, 0.5\)"),
        ({"k": 0.0}, r"'k' parameter .* in the range \(0.0, inf\)"),
        ({"coverage": 1.0}, r"'coverage' parameter .* in the range \(0.0, 1.0\)"),
        ({"n_draws": 0}, "'n_draws' parameter"),
        ({"n_draws": True}, r"'n_draws' parameter .* \(not a bool\)"),
        ({"max_retries": True}, r"'max_retries' parameter .* \(not a bool\)"),
        ({"decision_threshold": 1.5}, "'decision_threshold' parameter"),
        ({"n_qubits": 0}, "'n_qubits' parameter"),
        ({"shots": 100}, "shots needs a Qiskit backend"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        small(**params).fit(X_H, Y_H)


def test_bad_targets():
    y = Y_H.copy()
    y[7] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        small().fit(X_H, y)
    with pytest.raises(ValueError, match="y is constant"):
        small().fit(X_H, np.full(len(X_H), 2.0))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        small().fit(X_H, Y_H[:-1])


def test_too_few_rare_events_warn_with_the_counts_and_still_predict():
    expected = (f"y has 3 rare events of 150 beyond the lower threshold .* fewer than "
                f"{MIN_RARE_EVENTS}")
    with pytest.warns(UserWarning, match=expected):
        model = small(tail_fraction=0.02).fit(X_H[:150], Y_H[:150])
    assert model.base_rate_ == pytest.approx(3 / 150)
    assert np.all(np.isfinite(model.predict_var(X_H[:20])))
    with pytest.warns(UserWarning, match="y has 0 rare events.* predict_rare has no threshold"):
        model = small(tail_rule="sigma", k=50.0).fit(X_H, Y_H)
    assert model.base_rate_ == 0
    assert np.all(np.isfinite(model.predict_tail_proba(X_H[:20])))
    # A cutoff of 0 flagged every row with any tail probability, silently.
    with pytest.raises(ValueError, match=r"predict_rare needs decision_threshold: the "
                                         r"training y held no rare event beyond the lower"):
        model.predict_rare(X_H[:20])
    proba = model.predict_tail_proba(X_H[:20])
    model.set_params(decision_threshold=float(np.median(proba)))
    np.testing.assert_array_equal(model.predict_rare(X_H[:20]), proba > np.median(proba))


def test_the_rare_event_warning_points_at_the_callers_fit():
    # Through FilteredRiskEstimator it pointed at filtered.py (stacklevel=4).
    from skqegm.baselines import EWMARiskEstimator
    from skqegm.models import FilteredRiskEstimator

    filtered = FilteredRiskEstimator(small(tail_fraction=0.02), EWMARiskEstimator())
    for fit in (small(tail_fraction=0.02).fit, filtered.fit):
        with pytest.warns(UserWarning, match="rare events? of 150") as record:
            fit(X_H[:150], Y_H[:150])
        assert {w.filename for w in record if "rare event" in str(w.message)} == {__file__}


def test_extrapolation_from_a_constant_training_feature_warns():
    X = np.column_stack([X_H[:, 0], np.full(len(X_H), 1000.0)])
    model = small().fit(X, Y_H)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        model.predict_var(X[:3])
        model.predict_var(np.column_stack([X[:3, 0], [1000.4] * 3]))  # within half a unit
    with pytest.warns(ExtrapolationWarning, match=r"3 of 3 rows .* \(feature 1: \[1000, 1000\]"):
        model.predict_var(np.column_stack([X[:3, 0], [1400.0] * 3]))
    with pytest.raises(ValueError, match=r"X\[0, 1\] = 3000 lies more than 1e\+03 training"):
        model.predict_var(np.column_stack([X[:3, 0], [3000.0] * 3]))


def test_bad_prediction_calls():
    with pytest.raises(NotFittedError):
        small().predict_var(X_H)
    model = small().fit(X_H, Y_H)
    # 0.01 is a tail probability passed for a confidence level: it gave a negative VaR.
    for level in (0.0, 0.01, 0.5, 1.0, 1.2, np.nan, "0.99"):
        message = (r"level is the VaR confidence level, in \(0.5, 1" if isinstance(level, float)
                   and np.isfinite(level) else "level must be a finite real number")
        with pytest.raises(ValueError, match=message):
            model.predict_var(X_H[:3], level)
        with pytest.raises(ValueError, match=message):
            model.predict_es(X_H[:3], level)
    with pytest.raises(ValueError, match=r"coverage must be in \(0, 1\)"):
        model.predict_interval(X_H[:3], 0.0)
    with pytest.raises(ValueError, match=r"quantiles must be in \(0, 1\)"):
        model.predict_quantiles(X_H[:3], [0.5, 1.0])
    # numpy parsed the string and made NaN of None ("got nan")
    for quantiles, shown in (([0.5, "0.9"], "'0.9'"), (None, "None"), ([0.1, None], "None")):
        with pytest.raises(ValueError, match=f"quantiles must be a finite real number; got "
                                             f"{shown}"):
            model.predict_quantiles(X_H[:3], quantiles)
    with pytest.raises(ValueError, match="quantiles must be a number or a 1-D sequence"):
        model.predict_quantiles(X_H[:3], [[0.1, 0.9]])
    np.testing.assert_array_equal(model.predict_quantiles(X_H[:3], np.float32(0.25)),
                                  model.predict_quantiles(X_H[:3], [0.25]))
    with pytest.raises(ValueError, match="n_draws must be >= 1"):
        model.sample_y(X_H[:3], 0)
    with pytest.raises(MemoryLimitError, match=r"n_draws=10000000000 needs an estimated"):
        model.sample_y(X_H[:3], 10**10)
    with pytest.raises(ValueError, match=r"random_state must be None, an int in \[0, 2\*\*32"):
        model.sample_y(X_H[:3], 2, random_state=-1)
    with pytest.raises(ValueError, match="2 features"):
        model.predict(X_H[:3, :1])
    with pytest.raises(ValueError, match="2 features"):
        model.predict_rare(X_H[:3, :1])


def test_string_targets_are_refused_by_name():
    y_text = Y_H.astype(str)  # numeric strings were parsed silently; others failed in np.ptp
    for y in (y_text, y_text.astype(object), np.array(["a"] * len(Y_H), dtype=object)):
        with pytest.raises(ValueError, match="y must hold real numbers; got strings"):
            small(max_epochs=1).fit(X_H, y)
    # Scoring read numeric strings as numbers where fit refused them.
    model = small(max_epochs=1).fit(X_H, Y_H)
    for y in (y_text, y_text.astype(object)):
        with pytest.raises(ValueError, match="y must hold real numbers; got strings"):
            model.score(X_H, y)
        with pytest.raises(ValueError, match="y must hold real numbers; got strings"):
            model.rare_events(y)


def test_extrapolation_warns_and_far_extrapolation_is_refused():
    model = small().fit(X_H, Y_H)
    low, high = X_H.min(axis=0), X_H.max(axis=0)
    inside = X_H[:5]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExtrapolationWarning)
        model.predict_var(inside)
    beyond = np.tile(high + 2 * (high - low), (3, 1))
    with pytest.warns(ExtrapolationWarning, match="3 of 3 rows of X lie beyond"):
        assert np.all(np.isfinite(model.predict_var(beyond)))
    with pytest.raises(ValueError, match=r"X\[0, 0\] = 1e\+300 lies more than"):
        model.predict(np.array([[1e300, 0.0]]))


def test_extrapolation_warning_points_at_the_callers_line():
    # It pointed at a line of tail_risk.py (stacklevel=3 whatever the methods between).
    model = small(max_epochs=1).fit(X_H, Y_H)
    beyond = X_H[:2] * 3
    pipeline = Pipeline([("identity", StandardScaler(with_mean=False, with_std=False)),
                         ("model", model)])
    calls = (model.predict, model.predict_var, model.predict_rare, model.sample_y,
             lambda X: model.score(X, Y_H[:2]), lambda X: model.predict_quantiles(X, 0.5),
             pipeline.predict_rare)
    pipeline.fit(X_H, Y_H)
    for call in calls:
        with pytest.warns(ExtrapolationWarning) as record:
            call(beyond)
        assert [w.filename for w in record] == [__file__], call


def test_provenance_records_numpy_integer_seeds():
    model = small(max_epochs=1, random_state=np.int64(0)).fit(X_H[:300], Y_H[:300])
    assert model.provenance_["random_state"] == 0


def test_predictions_in_blocks_of_rows_equal_one_block(monkeypatch):
    """The predict methods hold one block of rows' mixtures; blocks change nothing."""
    import skqegm.models.tail_risk as tail_risk_module

    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, size=(400, 2))
    y = (1 + X[:, 0] ** 2) * rng.standard_t(4, size=400)
    model = TailRiskEstimator(n_qubits=2, n_layers=1, max_epochs=2, hidden_layer_sizes=(8,),
                              tail_fraction=0.1, random_state=0).fit(X, y)
    methods = {
        "predict": lambda m: m.predict(X), "tail": lambda m: m.predict_tail_proba(X),
        "quantiles": lambda m: m.predict_quantiles(X, [0.1, 0.9]),
        "var": lambda m: m.predict_var(X), "es": lambda m: m.predict_es(X),
        "score": lambda m: m.score(X, y)}
    whole = {name: f(model) for name, f in methods.items()}
    monkeypatch.setattr(tail_risk_module, "_PREDICT_BLOCK", 7 * 4)  # 7 rows of 4 components
    for name, f in methods.items():
        np.testing.assert_allclose(f(model), whole[name], rtol=1e-12, atol=1e-12, err_msg=name)


# --- the twin's mixture: draws spread evenly -----------------------------------------------


def test_stratified_prior_draws_follow_the_prior():
    # z + s eta with s = noise_scale sqrt(r), r ~ U(0, 1): N(0, (1 + s^2) I) given s.
    import torch

    from skqegm.models._noise import NoiseSource, stratified_prior_draws

    quiet = NoiseSource(None, 0.0, None, 0)
    z = stratified_prior_draws(4096, 3, quiet, np.random.RandomState(0)).numpy()
    assert z.shape == (4096, 3) and z.dtype == np.float32
    for column in z.T:
        assert stats.kstest(column, "norm").pvalue > 0.5  # Sobol: far closer than chance
    np.testing.assert_array_equal(
        z, stratified_prior_draws(4096, 3, quiet, np.random.RandomState(0)).numpy())
    noisy = stratified_prior_draws(4096, 2, NoiseSource("prng", 2.0, None, 1),
                                   np.random.RandomState(1))
    assert torch.isfinite(noisy).all()
    np.testing.assert_allclose(noisy.double().var(dim=0).numpy(), 1 + 4.0 / 2, rtol=0.1)


def test_twin_predictions_do_not_hang_on_its_fixed_draws():
    # The twin's mixture components are its draws: 256 independent ones moved its 99%
    # quantile by 6% (median over sets of draws), where the quantum latent's moved by
    # under 0.3%, a handicap of the twin alone. Spread evenly (1,024 Sobol draws): < 1%.
    from skqegm.models._base import _mixture_codes
    from skqegm.models._noise import NoiseSource
    from skqegm.models.tail_risk import TWIN_DENSITY_DRAWS

    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(600, 1))
    y = (1 + X[:, 0] ** 2) * rng.standard_t(4, size=600)
    model = TailRiskEstimator(latent="gaussian", max_epochs=15, random_state=0).fit(X, y)
    noise = NoiseSource(model.noise, model.noise_scale, None, 0)
    X_test = np.linspace(-1, 1, 5)[:, None]
    quantiles = []
    for seed in range(4):
        log_weights, codes = _mixture_codes(model.network_, noise, seed, TWIN_DENSITY_DRAWS)
        model._latent_mixture = (log_weights, codes.numpy())
        quantiles.append(model.predict_quantiles(X_test, [0.01, 0.99]))
    quantiles = np.array(quantiles)
    spread = (quantiles.max(axis=0) - quantiles.min(axis=0)) / np.abs(quantiles).mean(axis=0)
    assert spread.max() < 0.02


def test_fit_refuses_sample_weight_naming_the_estimator():
    # Was "BaseTorchEstimator.fit() got an unexpected keyword argument 'sample_weight'".
    X, y = np.zeros((10, 1)), np.zeros(10)
    with pytest.raises(TypeError, match=r"^TailRiskEstimator\.fit\(\) got an unexpected "
                       r"keyword argument 'sample_weight': TailRiskEstimator does not "
                       r"support sample_weight\.$"):
        TailRiskEstimator().fit(X, y, sample_weight=np.ones(10))
    with pytest.raises(TypeError, match=r"^TailRiskEstimator\.fit\(\) got an unexpected "
                       r"keyword argument 'epochs'\.$"):
        TailRiskEstimator().fit(X, y, epochs=3)
