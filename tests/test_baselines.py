"""The classical baselines: numerics against scipy, the sampler protocol, model selection."""

import io
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.estimator_checks import check_estimator

from skqegm.baselines import (
    DiffusionSampler,
    GANSampler,
    GPDTailSampler,
    StudentTSampler,
    VAESampler,
)
from skqegm.baselines.gpd import EMPTY_TAIL_OBSERVATIONS, MIN_EXCEEDANCES
from skqegm.baselines.student_t import DF_BOUNDS
from skqegm.datasets import make_tail_mixture
from skqegm.exceptions import MemoryLimitError
from skqegm.extremes import return_level
from skqegm.metrics import SCORERS
from skqegm.nn import Callback
from skqegm.utils.estimator_checks import check_sampler, parametrize_with_sampler_checks

SMALL = dict(hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
SAMPLERS = [
    GANSampler(**SMALL),
    VAESampler(**SMALL),
    DiffusionSampler(n_steps=10, **SMALL),
    StudentTSampler(),
    GPDTailSampler(tail_fraction=0.1),
    GPDTailSampler(tail_fraction=0.1, body="empirical"),
]


@parametrize_with_sampler_checks(SAMPLERS)
def test_sampler_protocol(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", SAMPLERS[:5], ids=lambda m: type(m).__name__)
def test_sample_without_a_seed_uses_the_estimators_random_state(estimator):
    # The package's one rule (doc/user_guide/backends.rst); the deep baselines drew
    # afresh at each sample() whatever their random_state before.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few epochs, few steps: not under test
        model = clone(estimator).fit(make_tail_mixture(1000, random_state=0)[0])
    if "random_state" in model.get_params():  # the deep baselines, seeded with 0
        np.testing.assert_array_equal(model.sample(5), model.sample(5))
        np.testing.assert_array_equal(model.sample(5), model.sample(5, random_state=0))
        assert not np.allclose(model.sample(5), model.sample(5, random_state=1))
        model.set_params(random_state=None)
    # an estimator seeded with None, or without a random_state: afresh at each call
    assert not np.allclose(model.sample(5), model.sample(5))
    np.testing.assert_array_equal(model.sample(5, random_state=1),
                                  model.sample(5, random_state=1))


def _numerical_cdf(log_density, grid):
    pdf = np.exp(log_density(grid.reshape(-1, 1)))
    cdf = np.concatenate([[0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(grid))])
    return lambda x: np.interp(x, grid, cdf / cdf[-1])


# --- Student-t -----------------------------------------------------------------------------
def test_student_t_1d_matches_scipy_maximum_likelihood():
    x = stats.t.rvs(3.5, loc=0.3, scale=2.0, size=3000, random_state=1)
    model = StudentTSampler().fit(x.reshape(-1, 1))
    df, loc, scale = stats.t.fit(x)
    ours = stats.t.logpdf(x, model.df_, model.location_[0], np.sqrt(model.scatter_[0, 0])).sum()
    assert ours >= stats.t.logpdf(x, df, loc, scale).sum() - 1e-4
    assert model.df_ == pytest.approx(df, rel=0.01)
    assert model.location_[0] == pytest.approx(loc, abs=0.01)
    assert np.sqrt(model.scatter_[0, 0]) == pytest.approx(scale, rel=0.01)
    assert model.converged_


@pytest.mark.parametrize("df", [0.5, 0.8, 1.0])
def test_student_t_very_heavy_tails_reach_scipys_maximum_likelihood(df):
    # The ridge reg_covar was added to the scatter of the data divided by their standard
    # deviation, which the tail inflates: at df=0.8 the fit stopped at df_=1.23 and 4x
    # the scale, 963 log-likelihood units below scipy's maximum (15,743 at df=0.5).
    x = stats.t.rvs(df, loc=2.0, scale=0.5, size=3000, random_state=0)
    model = StudentTSampler().fit(x.reshape(-1, 1))
    reference = stats.t.fit(x)
    ours = stats.t.logpdf(x, model.df_, model.location_[0], np.sqrt(model.scatter_[0, 0]))
    assert ours.sum() >= stats.t.logpdf(x, *reference).sum() - 1e-3
    assert model.df_ == pytest.approx(reference[0], rel=1e-3)
    assert np.sqrt(model.scatter_[0, 0]) == pytest.approx(reference[2], rel=1e-3)


def test_student_t_warns_when_it_collapses_onto_a_repeated_value():
    # 35% of 2,000 normal draws set to 0: df_ 0.2 and a scale of 9e-4, whose draws' 99%
    # quantile of |x| was 2.6e6 (the data's 2.6), without a word. At 60% the deviation
    # is 0 and the ridge holds df_ at 0.22, above its bound.
    x = np.random.default_rng(0).normal(size=500)
    x[:300] = 0.0
    with pytest.warns(UserWarning, match=r"60% of the rows of X equal \[0.0\].* no atom") \
            as record:
        model = StudentTSampler().fit(x.reshape(-1, 1))
    assert model.df_ < 0.5 and record[0].filename == __file__  # at the caller of fit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = np.random.default_rng(0).normal(size=500)
        x[:75] = 0.0
        StudentTSampler().fit(x.reshape(-1, 1))  # 15% zeros: df_ 7.1
        # heavy tails without an atom: df_ 0.49
        StudentTSampler().fit(stats.t.rvs(0.5, size=500, random_state=0).reshape(-1, 1))


def test_student_t_multivariate_density_and_optimality():
    rng = np.random.default_rng(0)
    shape = np.array([[1.0, 0.6], [0.6, 2.0]])
    X = stats.multivariate_t(loc=[1, -1], shape=shape, df=5).rvs(4000, random_state=rng)
    model = StudentTSampler().fit(X)
    reference = stats.multivariate_t(model.location_, model.scatter_, df=model.df_)
    np.testing.assert_allclose(model.score_samples(X[:50]), reference.logpdf(X[:50]), rtol=1e-10)
    assert model.score(X) == pytest.approx(reference.logpdf(X).mean(), rel=1e-12)
    best = reference.logpdf(X).sum()
    for df, loc, scatter in [(model.df_ * 1.05, model.location_, model.scatter_),
                             (model.df_ / 1.05, model.location_, model.scatter_),
                             (model.df_, model.location_ + 0.02, model.scatter_),
                             (model.df_, model.location_, model.scatter_ * 1.03)]:
        assert stats.multivariate_t(loc, scatter, df=df).logpdf(X).sum() < best
    np.testing.assert_allclose(model.scatter_, shape, rtol=0.1)
    assert model.df_ == pytest.approx(5, rel=0.25)


def test_student_t_samples_follow_the_fitted_law():
    x = stats.t.rvs(4, size=2000, random_state=2).reshape(-1, 1)
    model = StudentTSampler().fit(x)
    draws = model.sample(5000, random_state=0).ravel()
    cdf = stats.t(model.df_, model.location_[0], np.sqrt(model.scatter_[0, 0])).cdf
    assert stats.kstest(draws, cdf).pvalue > 0.01


def test_student_t_gaussian_data_reach_the_upper_df_bound_region():
    x = np.random.default_rng(3).normal(size=(5000, 1))
    assert StudentTSampler().fit(x).df_ > 30
    assert DF_BOUNDS[1] >= 1000


def test_student_t_log_density_far_out_stays_finite():
    # The squared distance of a row 1e160 out overflowed: -inf where the heavy tail's
    # log-density is about -1835 (scipy.stats.t overflows the same way).
    x = stats.t.rvs(4, size=2000, random_state=2).reshape(-1, 1)
    model = StudentTSampler().fit(x)
    df, loc, scale = model.df_, model.location_[0], np.sqrt(model.scatter_[0, 0])
    far = np.array([[1e3], [1e100], [1e160], [-1e300]])
    z = np.abs(far[:, 0] - loc) / scale
    # log1p(z**2 / df) = log(z**2 / df) + log1p(df / z**2), without squaring z
    log1p_ratio = 2 * np.log(z) - np.log(df) + np.log1p(df / z / z)
    by_hand = stats.t(df).logpdf(0) - np.log(scale) - (df + 1) / 2 * log1p_ratio
    np.testing.assert_allclose(model.score_samples(far), by_hand, rtol=1e-12)
    np.testing.assert_allclose(model.score_samples(x[:20]),
                               stats.t(df, loc, scale).logpdf(x[:20, 0]), rtol=1e-12)


@pytest.mark.parametrize("X", [np.ones((10, 1)), np.c_[np.arange(10.0), 2 * np.arange(10.0)]],
                         ids=["constant", "collinear"])
def test_student_t_singular_scatter_without_ridge_names_reg_covar(X):
    # scipy's LinAlgError "1-th leading minor of the array is not positive definite".
    with pytest.raises(ValueError, match="scatter matrix of X is singular.*Raise reg_covar"):
        StudentTSampler(reg_covar=0).fit(X)
    assert np.all(np.isfinite(StudentTSampler().fit(X).sample(3, random_state=0)))


# --- GPD tails -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def heavy():
    return stats.t.rvs(3, size=20000, random_state=4).reshape(-1, 1)


def test_gpd_tails_are_scipy_fits_of_the_exceedances(heavy):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # enough exceedances: no fallback
        model = GPDTailSampler(tail_fraction=0.05).fit(heavy)
    x = heavy.ravel()
    low, high = np.quantile(x, [0.05, 0.95])
    np.testing.assert_allclose(model.tail_threshold_.ravel(), [low, high])
    for side, excess in enumerate((low - x[x < low], x[x > high] - high)):
        c, _, scale = stats.genpareto.fit(excess, floc=0)
        assert model.gpd_shape_[side, 0] == pytest.approx(c)
        assert model.gpd_scale_[side, 0] == pytest.approx(scale)
        assert model.tail_fractions_[side, 0] == pytest.approx(len(excess) / len(x))
        assert model.n_exceedances_[side, 0] == len(excess)
    # A t_3 tail has shape 1/3 in the limit; 5% thresholds are not that far out yet.
    assert np.all((model.gpd_shape_ > 0.1) & (model.gpd_shape_ < 0.6))


def test_gpd_thresholds_are_the_training_quantiles():
    X = np.random.default_rng(8).standard_t(4, size=(3000, 3))
    model = GPDTailSampler(tail_fraction=0.1).fit(X)
    assert model.tail_threshold_.shape == (2, 3)
    np.testing.assert_array_equal(model.tail_threshold_, np.quantile(X, [0.1, 0.9], axis=0))
    np.testing.assert_array_equal(model.n_exceedances_, [(X < model.tail_threshold_[0]).sum(0),
                                                         (X > model.tail_threshold_[1]).sum(0)])


def test_gpd_renamed_parameter_and_attribute(heavy):
    assert GPDTailSampler(tail_fraction=0.02).get_params()["tail_fraction"] == 0.02
    with pytest.raises(TypeError, match="tail_quantile"):
        GPDTailSampler(tail_quantile=0.05)
    model = GPDTailSampler().fit(heavy)
    assert not hasattr(model, "thresholds_")
    np.testing.assert_array_equal(model.tail_threshold_[:, 0], np.quantile(heavy, [0.05, 0.95]))


def _total_probability(model):
    low, high = model.tail_threshold_.ravel()

    def pdf(v):
        return float(np.exp(model.score_samples(np.array([[v]]))[0]))

    pieces = [(-np.inf, low), (low, high), (high, np.inf)]
    return sum(quad(pdf, a, b, limit=200)[0] for a, b in pieces)


def test_gpd_density_integrates_to_one_and_matches_the_samples(heavy):
    model = GPDTailSampler(tail_fraction=0.05).fit(heavy)
    low = model.tail_threshold_[0, 0]
    assert _total_probability(model) == pytest.approx(1.0, abs=2e-3)
    draws = model.sample(4000, random_state=0).ravel()
    assert np.mean(draws < low) == pytest.approx(model.tail_fractions_[0, 0], abs=0.01)
    cdf = _numerical_cdf(model.score_samples, np.linspace(-60, 60, 400001))
    # Over 20 sampling seeds the p-values spread uniformly (0.007 to 0.98); a sampler
    # that disagreed with the density would give p ~ 0 at this size.
    assert stats.kstest(draws, cdf).pvalue > 1e-3


def test_gpd_upper_exceedances_follow_the_fitted_pareto(heavy):
    model = GPDTailSampler(body="empirical").fit(heavy)
    draws = model.sample(20000, random_state=1).ravel()
    high = model.tail_threshold_[1, 0]
    excess = draws[draws > high] - high
    fitted = stats.genpareto(model.gpd_shape_[1, 0], scale=model.gpd_scale_[1, 0])
    assert stats.kstest(excess, fitted.cdf).pvalue > 0.01
    # The empirical body only repeats training points.
    body = draws[(draws >= model.tail_threshold_[0, 0]) & (draws <= high)]
    assert np.isin(body, heavy.ravel()).all()


def test_gpd_empirical_body_has_neither_score_samples_nor_score(heavy):
    assert not hasattr(GPDTailSampler(body="empirical"), "score")
    model = GPDTailSampler(body="empirical").fit(heavy)
    assert not hasattr(model, "score_samples") and not hasattr(model, "score")
    with pytest.raises(AttributeError, match="score"):
        model.score(heavy)  # not DensityMixin.score, which would return None
    assert hasattr(GPDTailSampler(), "score_samples") and hasattr(GPDTailSampler(), "score")
    # Model selection takes an explicit scorer: the tail KL of draws needs no density.
    assert -0.5 < SCORERS["neg_tail_kl"](model, heavy[:2000]) <= 0
    search = GridSearchCV(GPDTailSampler(body="empirical"), {"tail_fraction": [0.05, 0.1]},
                          scoring=SCORERS["neg_tail_kl"], cv=2).fit(heavy[:4000])
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_gpd_score_is_the_mean_log_density(heavy):
    model = GPDTailSampler().fit(heavy)
    assert model.score(heavy[:2000]) == model.score_samples(heavy[:2000]).mean()


def test_gpd_bounded_tail_gives_minus_infinity_beyond_its_end_point():
    x = np.random.default_rng(5).uniform(size=(5000, 1))
    model = GPDTailSampler().fit(x)
    assert np.all(model.gpd_shape_ < 0)  # uniform tails are bounded
    end = model.tail_threshold_[1, 0] - model.gpd_scale_[1, 0] / model.gpd_shape_[1, 0]
    assert model.score_samples(np.array([[end + 0.1]]))[0] == -np.inf
    assert np.all(model.sample(2000, random_state=0) <= end + 1e-9)


@pytest.mark.parametrize("bandwidth", [1e16, 1e300])
def test_gpd_kde_body_wider_than_the_body_tends_to_the_uniform(bandwidth):
    # The kernels' masses cancelled to 0: log-density +inf, and sample raised
    # "probabilities contain NaN" (or put half the draws on the thresholds at 1e16).
    X = np.random.default_rng(0).standard_t(3, size=(500, 1))
    gpd = GPDTailSampler(bandwidth=bandwidth).fit(X)
    low, high = gpd.tail_threshold_[:, 0]
    uniform = np.log((1 - gpd.tail_fractions_[:, 0].sum()) / (high - low))
    np.testing.assert_allclose(gpd.score_samples([[low], [0.0], [high]]), uniform, rtol=1e-12)
    draws = gpd.sample(4000, random_state=0).ravel()
    body = draws[(draws >= low) & (draws <= high)]
    assert not np.any((body == low) | (body == high))
    assert stats.kstest(body, stats.uniform(low, high - low).cdf).pvalue > 0.01


def test_gpd_margins_are_independent():
    rng = np.random.default_rng(6)
    X = rng.standard_t(4, size=(5000, 2)) * [1.0, 3.0]
    model = GPDTailSampler().fit(X)
    one = GPDTailSampler().fit(X[:, [1]])
    np.testing.assert_allclose(model.gpd_shape_[:, 1], one.gpd_shape_[:, 0])
    np.testing.assert_allclose(model.score_samples(X[:20]),
                               GPDTailSampler().fit(X[:, [0]]).score_samples(X[:20, [0]])
                               + one.score_samples(X[:20, [1]]))


_RANGE = r"must be a float in the range \(0.0, 0.5\)"


@pytest.mark.parametrize("params, match", [
    (dict(tail_fraction=0.5), "The 'tail_fraction' parameter of GPDTailSampler " + _RANGE),
    (dict(tail_fraction=0.0), "The 'tail_fraction' parameter of GPDTailSampler " + _RANGE),
    (dict(body="histogram"), "The 'body' parameter of GPDTailSampler must be a str among"),
    (dict(bandwidth="auto"), (r"The 'bandwidth' parameter of GPDTailSampler must be a str "
                              r"among .* or a float in the range \(0.0, inf\)")),
    (dict(bandwidth=-1.0), "The 'bandwidth' parameter of GPDTailSampler"),
])
def test_gpd_bad_parameters(params, match):
    with pytest.raises(InvalidParameterError, match=match):
        GPDTailSampler(**params).fit(np.random.default_rng(0).normal(size=(500, 1)))


# --- GPD on small data: the exponential fallback --------------------------------------------
def test_gpd_warns_of_shapes_below_minus_one():
    # Below -1 the likelihood has no maximum: 5 exceedances of Laplace (exponential) tails
    # were fitted as tails bounded at about their largest value (-1.62, -2.07), silently.
    X = np.random.default_rng(1).laplace(size=(200, 1))
    with pytest.warns(UserWarning, match=r"feature 0 lower tail: shape -1.62 from 5 "
                                         r"exceedances, feature 0 upper tail: shape -2.07 "
                                         r"from 5 exceedances. Below -1 the generalized "
                                         r"Pareto likelihood has no maximum"):
        model = GPDTailSampler(tail_fraction=0.025, body="empirical").fit(X)
    end = model.tail_threshold_[1, 0] - model.gpd_scale_[1, 0] / model.gpd_shape_[1, 0]
    assert end < X.max() + 0.5  # the fitted upper tail ends near the largest value
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GPDTailSampler(tail_fraction=0.05).fit(np.random.default_rng(1).laplace(size=(4000, 1)))


def test_gpd_warns_of_rounded_exceedances():
    # Exceedances on a grid of 10% of the tail's scale: the continuous fit gave 100-year
    # levels 12% low (95% intervals covering 72%), silently.
    x = stats.t.rvs(4, size=(10000, 1), random_state=0)
    with pytest.warns(UserWarning, match=r"the exceedances lie on a grid \(feature 0 lower "
                                         r"tail: step 0.1, 9% of its scale; feature 0 upper "
                                         r"tail: step 0.1, 10% of its scale\)"):
        GPDTailSampler(tail_fraction=0.02, body="empirical").fit(np.round(x, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # unrounded, or rounded to 1% of the scale
        GPDTailSampler(tail_fraction=0.02, body="empirical").fit(x)
        GPDTailSampler(tail_fraction=0.02, body="empirical").fit(np.round(x, 2))


@pytest.mark.parametrize("X, tail_fraction", [
    (np.random.default_rng(0).normal(size=(60, 1)), 0.05),  # few exceedances
    (np.random.default_rng(1).laplace(size=(200, 1)), 0.025),  # shapes below -1
    (np.round(stats.t.rvs(4, size=(10000, 1), random_state=0), 1), 0.02),  # rounded
])
def test_gpd_fit_warnings_point_at_the_callers_line(X, tail_fraction):
    # stacklevel=4 pointed at scikit-learn's _fit_context (fit has a second decorator);
    # through a pipeline, at scikit-learn's pipeline.py.
    model = GPDTailSampler(tail_fraction=tail_fraction, body="empirical")
    for estimator in (model, make_pipeline(FunctionTransformer(), model)):
        with pytest.warns(UserWarning) as record:
            estimator.fit(X)
        assert record and {w.filename for w in record} == {__file__}


def test_gpd_fits_huge_data_as_scaled_data():
    # scipy's fit overflowed on excesses beyond 1e154; the tail is scale-equivariant.
    x = stats.t.rvs(3, size=2000, random_state=4).reshape(-1, 1)
    small, huge = GPDTailSampler().fit(x), GPDTailSampler().fit(x * 1e155)
    np.testing.assert_allclose(huge.gpd_shape_, small.gpd_shape_, atol=1e-3)  # optimiser tol
    np.testing.assert_allclose(huge.gpd_scale_ / 1e155, small.gpd_scale_, rtol=1e-2)
    assert np.all(np.isfinite(huge.sample(10_000, random_state=0)))


@pytest.mark.parametrize("unit", [1e-12, 1e-50, 1e16, 1e50])
def test_gpd_fit_is_scale_equivariant_at_any_magnitude(unit):
    # scipy's genpareto.fit starts from values that fail on excesses below about 1e-11 or
    # above about 1e15 (measured on scipy 1.17: shape 1.3 instead of 0.3 at 1e-12, 80 at
    # 1e50), long before its overflow beyond 1e154; the fit must not depend on the units.
    x = stats.t.rvs(3, size=2000, random_state=4).reshape(-1, 1)
    small, scaled = GPDTailSampler().fit(x), GPDTailSampler().fit(x * unit)
    np.testing.assert_allclose(scaled.gpd_shape_, small.gpd_shape_, atol=1e-3)  # optimiser tol
    np.testing.assert_allclose(scaled.gpd_scale_ / unit, small.gpd_scale_, rtol=1e-2)
    level = return_level(small, 10.0, confidence_level=None).level
    assert return_level(scaled, 10.0, confidence_level=None).level / unit == pytest.approx(
        level, rel=1e-2)


@pytest.mark.parametrize("n_rows, n_exceedances", [(100, MIN_EXCEEDANCES), (81, 4)])
def test_gpd_fallback_only_below_min_exceedances(n_rows, n_exceedances):
    # With 5% tails, 100 rows leave 5 points beyond each threshold and 81 rows leave 4.
    x = np.random.default_rng(9).standard_t(3, size=(n_rows, 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = GPDTailSampler(tail_fraction=0.05).fit(x)
    ours = [w for w in caught if "a generalized Pareto fit needs" in str(w.message)]
    assert len(ours) == (n_exceedances < MIN_EXCEEDANCES)
    assert model.n_exceedances_.ravel().tolist() == [n_exceedances] * 2
    v, (low, high) = x.ravel(), model.tail_threshold_[:, 0]
    for side, excess in enumerate((low - v[v < low], v[v > high] - high)):
        if n_exceedances >= MIN_EXCEEDANCES:
            c, _, scale = stats.genpareto.fit(excess, floc=0)
        else:
            c, scale = 0.0, excess.mean()
        assert (model.gpd_shape_[side, 0], model.gpd_scale_[side, 0]) == (c, scale)
        assert model.tail_fractions_[side, 0] == n_exceedances / n_rows


def test_gpd_few_exceedances_warn_with_the_counts_and_fit_exponential_tails():
    x = np.random.default_rng(0).normal(size=(60, 1))
    match = (r"needs 5 training values strictly beyond a threshold \(exceedances\); with "
             r"tail_fraction=0\.05 and 60 rows, feature 0 lower tail has 3, feature 0 upper "
             r"tail has 3\. Those tails are exponential")
    with pytest.warns(UserWarning, match=match):
        model = GPDTailSampler(tail_fraction=0.05).fit(x)
    np.testing.assert_array_equal(model.gpd_shape_, 0.0)
    np.testing.assert_allclose(model.tail_fractions_, 3 / 60)
    far = np.array([[-50.0], [-3.0], [0.0], [3.0], [50.0]])
    assert np.all(np.isfinite(model.score_samples(far)))
    assert _total_probability(model) == pytest.approx(1.0, abs=2e-3)
    draws = model.sample(20000, random_state=0)
    assert draws.shape == (20000, 1) and np.all(np.isfinite(draws))
    assert np.mean(draws < model.tail_threshold_[0, 0]) == pytest.approx(0.05, abs=0.005)


def test_gpd_tail_without_exceedances_keeps_half_an_observation():
    # 40 rows on three values: the 5% quantiles are the extremes, nothing lies beyond.
    x = np.repeat([0.0, 1.0, 2.0], [10, 20, 10]).reshape(-1, 1)
    with pytest.warns(UserWarning, match="feature 0 lower tail has 0, feature 0 upper tail "
                                         "has 0"):
        model = GPDTailSampler().fit(x)
    np.testing.assert_array_equal(model.tail_threshold_.ravel(), [0.0, 2.0])
    np.testing.assert_array_equal(model.tail_fractions_, EMPTY_TAIL_OBSERVATIONS / 40)
    np.testing.assert_array_equal(model.gpd_shape_, 0.0)
    np.testing.assert_array_equal(model.gpd_scale_, x.std())
    assert np.all(np.isfinite(model.score_samples(np.array([[-20.0], [-1e-3], [2.5]]))))
    assert _total_probability(model) == pytest.approx(1.0, abs=2e-3)
    draws = model.sample(40000, random_state=0).ravel()
    assert np.mean(draws > 2.0) == pytest.approx(0.5 / 40, abs=0.002)


@pytest.mark.parametrize("body", ["kde", "empirical"])
@pytest.mark.parametrize("x, tail_fraction", [
    (np.full(30, 3.0), 0.05),  # constant: both thresholds 3, the body one value
    (np.array([-1.0, 0.0, 1.0]), 0.25),  # thresholds -0.5 and 0.5, the body one point
], ids=["constant", "one-body-point"])
def test_gpd_body_with_one_distinct_value(x, tail_fraction, body):
    X = np.column_stack([x, np.linspace(-1, 1, len(x))])
    with pytest.warns(UserWarning, match="feature 0 lower tail has"):
        model = GPDTailSampler(tail_fraction=tail_fraction, body=body).fit(X)
    draws = model.sample(2000, random_state=0)
    assert np.all(np.isfinite(draws))
    low, high = model.tail_threshold_[:, 0]
    in_body = (draws[:, 0] >= low) & (draws[:, 0] <= high)
    assert np.mean(in_body) > 0.3
    if body == "empirical":
        assert np.all(draws[in_body, 0] == np.median(x))
    else:
        assert np.all(np.isfinite(model.score_samples(np.vstack([X, [[low - 1, 0], [high, 0]]]))))


def test_gpd_empty_body_is_a_clear_error():
    with pytest.raises(ValueError, match="no training value of feature 0 lies between its "
                                         r"thresholds \(tail_fraction=0.05, 2 rows\)"):
        GPDTailSampler().fit(np.array([[0.0], [1.0]]))


@pytest.mark.parametrize("model", [GPDTailSampler(), GPDTailSampler(body="empirical")],
                         ids=["kde", "empirical"])
def test_gpd_defaults_pass_the_sklearn_and_sampler_checks(model):
    # sklearn's checks fit on 10 to 30 rows: the defaults must work there.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_estimator(model)
    check_sampler(model)


# --- deep baselines ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(7)
    return 1.0 + 2.0 * rng.normal(size=(3000, 1)), 1.0 + 2.0 * rng.normal(size=(3000, 1))


def test_vae_density_is_normalised_and_its_score_the_mean(gaussian):
    X, X_test = gaussian
    vae = VAESampler(hidden_layer_sizes=(16,), max_epochs=20, random_state=0).fit(X)
    total = quad(lambda v: np.exp(vae.score_samples(np.array([[v]]))[0]), -30, 30,
                 limit=200)[0]
    assert total == pytest.approx(1.0, abs=1e-3)
    assert vae.score(X_test) == pytest.approx(vae.score_samples(X_test).mean())
    true_loglik = stats.norm(1, 2).logpdf(X_test).mean()
    assert vae.score(X_test) > true_loglik - 0.05
    draws = vae.sample(3000, random_state=0).ravel()
    cdf = _numerical_cdf(vae.score_samples, np.linspace(-15, 17, 20001))
    assert stats.kstest(draws, cdf).pvalue > 0.01


@pytest.mark.parametrize("model", [
    DiffusionSampler(n_steps=50, hidden_layer_sizes=(32, 32), max_epochs=200, random_state=0),
    GANSampler(hidden_layer_sizes=(32, 32), max_epochs=30, learning_rate=1e-3, random_state=0),
], ids=["diffusion", "gan"])
def test_deep_samplers_learn_a_gaussian(model, gaussian):
    X, _ = gaussian
    draws = model.fit(X).sample(5000, random_state=0).ravel()
    # One GAN fit's mean varies from seed to seed by about 0.18 (measured over 24 seeds,
    # mean 0.93 before and 0.88 after the fit loop moved to skqegm.nn, SE 0.04 each), so
    # a single seed is held to 0.5; the diffusion model is held to 0.25.
    assert draws.mean() == pytest.approx(1.0, abs=0.5 if isinstance(model, GANSampler) else 0.25)
    assert draws.std() == pytest.approx(2.0, rel=0.15)
    assert not hasattr(model, "score_samples")
    assert model.score(X[:1000]) == pytest.approx(SCORERS["neg_tail_kl"](model, X[:1000]))


def test_diffusion_with_few_steps_warns_that_its_draws_are_too_narrow():
    # Measured (normal and Student-t(4) data, 2 seeds each): the 1%-99% range of the
    # draws was 0.72-0.76 of the data's at 1-5 steps, 0.73-0.84 at 10; fit said nothing.
    X, _ = make_tail_mixture(300, random_state=0)
    small = dict(hidden_layer_sizes=(8,), max_epochs=1, random_state=0)
    with pytest.warns(UserWarning, match=r"n_steps=5 draws too narrow .* n_steps >= 20"):
        DiffusionSampler(n_steps=5, **small).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        DiffusionSampler(n_steps=20, **small).fit(X)
    assert not [w for w in caught if "too narrow" in str(w.message)]


@pytest.mark.parametrize("model, change", [
    (DiffusionSampler(n_steps=20), dict(n_steps=3)),  # the schedule of 3 steps, silently
    (VAESampler(), dict(latent_dim=7)),               # torch: mat1 and mat2 shapes
    (GANSampler(), dict(latent_dim=7)),
], ids=["diffusion", "vae", "gan"])
def test_deep_samplers_draw_from_the_fitted_network_after_set_params(model, change):
    X, _ = make_tail_mixture(300, random_state=0)
    model.set_params(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X)
    draws = model.sample(50, random_state=0)
    model.set_params(**change)
    np.testing.assert_array_equal(model.sample(50, random_state=0), draws)


def test_gan_records_the_wasserstein_estimate_and_prints_progress(capsys):
    X, _ = make_tail_mixture(500, random_state=0)
    gan = GANSampler(hidden_layer_sizes=(8,), max_epochs=3, random_state=0, verbose=1).fit(X)
    assert len(gan.loss_curve_) == gan.n_iter_ == 3 and gan.validation_scores_ is None
    out = capsys.readouterr().out
    assert out.count("Epoch ") == 3
    assert "Epoch 1/3: loss = " in out and "Epoch 3/3: loss = " in out


def test_early_stopping_keeps_the_best_epoch_and_warns_when_cut_short():
    X, _ = make_tail_mixture(1000, random_state=0)
    with pytest.warns(ConvergenceWarning, match="VAESampler reached max_epochs=2"):
        VAESampler(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X)
    ddpm = DiffusionSampler(n_steps=10, hidden_layer_sizes=(8,), max_epochs=300,
                            learning_rate=1e-2, random_state=0).fit(X)
    assert ddpm.n_iter_ < 300
    assert len(ddpm.validation_scores_) == ddpm.n_iter_ == len(ddpm.loss_curve_)


def test_n_iter_no_change_and_tol_control_early_stopping():
    X, _ = make_tail_mixture(500, random_state=0)
    # No epoch can beat the first by 1e9: training stops after n_iter_no_change more.
    vae = VAESampler(hidden_layer_sizes=(8,), max_epochs=50, n_iter_no_change=2, tol=1e9,
                     random_state=0).fit(X)
    assert vae.n_iter_ == 3 == len(vae.validation_scores_)


class _StopAfter(Callback):
    def __init__(self, n_epochs):
        self.n_epochs = n_epochs

    def on_epoch_end(self, estimator, epoch):
        return epoch >= self.n_epochs


def test_deep_baselines_take_callbacks_and_the_gan_has_no_early_stopping():
    X, _ = make_tail_mixture(500, random_state=0)
    gan = GANSampler(hidden_layer_sizes=(8,), max_epochs=10, callbacks=[_StopAfter(2)],
                     random_state=0).fit(X)
    assert gan.n_iter_ == 2 == len(gan.loss_curve_)
    early = {"early_stopping", "validation_fraction", "n_iter_no_change", "tol"}
    assert not early & set(GANSampler().get_params())
    with pytest.raises(TypeError, match="early_stopping"):
        GANSampler(early_stopping=True)
    for model in (VAESampler(), DiffusionSampler()):
        assert early | {"callbacks"} <= set(model.get_params())


def _sklearn_message(name, owner, rule):
    return f"The '{name}' parameter of {owner} must be {rule}"


@pytest.mark.parametrize("model, match", [
    (GANSampler(n_critic=0),
     _sklearn_message("n_critic", "GANSampler", r"an int in the range \[1, inf\)")),
    (GANSampler(gradient_penalty=-1.0),
     _sklearn_message("gradient_penalty", "GANSampler", r"a float in the range \[0.0, inf\)")),
    (GANSampler(latent_dim=0),
     _sklearn_message("latent_dim", "GANSampler", r"an int in the range \[1, inf\)")),
    (VAESampler(n_density_draws=0),
     _sklearn_message("n_density_draws", "VAESampler", r"an int in the range \[1, inf\)")),
    (VAESampler(validation_fraction=1.0),
     _sklearn_message("validation_fraction", "VAESampler", r"a float in the range \(0.0, 1.0\)")),
    (VAESampler(n_iter_no_change=0),
     _sklearn_message("n_iter_no_change", "VAESampler", r"an int in the range \[1, inf\)")),
    (VAESampler(tol=-1.0),
     _sklearn_message("tol", "VAESampler", r"a float in the range \[0.0, inf\)")),
    (DiffusionSampler(n_steps=0),
     _sklearn_message("n_steps", "DiffusionSampler", r"an int in the range \[1, inf\)")),
    (DiffusionSampler(learning_rate=0.0),
     _sklearn_message("learning_rate", "DiffusionSampler",
                      r"a float in the range \(0.0, 1000.0\]")),
    (DiffusionSampler(early_stopping="yes"),
     _sklearn_message("early_stopping", "DiffusionSampler", "an instance of 'bool'")),
    (DiffusionSampler(callbacks=_StopAfter(1)),
     _sklearn_message("callbacks", "DiffusionSampler", "an instance of 'list' or None")),
    (StudentTSampler(max_iter=0),
     _sklearn_message("max_iter", "StudentTSampler", r"an int in the range \[1, inf\)")),
    (StudentTSampler(tol=-1.0),
     _sklearn_message("tol", "StudentTSampler", r"a float in the range \[0.0, inf\)")),
    (StudentTSampler(reg_covar=-1.0),
     _sklearn_message("reg_covar", "StudentTSampler", r"a float in the range \[0.0, inf\)")),
])
def test_bad_parameters_name_the_parameter(model, match):
    with pytest.raises(InvalidParameterError, match=match):
        model.fit(np.random.default_rng(0).normal(size=(200, 1)))


@pytest.mark.parametrize("model, error, match", [
    (VAESampler(hidden_layer_sizes=(16, 0)), ValueError,
     "hidden_layer_sizes must be an int >= 1 or a sequence of them"),
    (DiffusionSampler(callbacks=["EpochLogger"]), TypeError,
     "callbacks must be a list of skqegm.nn.Callback instances"),
    # its noise schedule holds every step: n_steps=10**9 was killed for memory mid-fit
    (DiffusionSampler(n_steps=10**13), MemoryLimitError,
     r"n_steps=10000000000000 needs an estimated .* use fewer n_steps"),
    # the density's draws hold latent_dim values each: the advice named n_density_draws only
    (VAESampler(latent_dim=10**12), MemoryLimitError,
     r"n_density_draws=4096 needs .* or a smaller latent_dim \(1000000000000\)"),
])
def test_bad_parameters_beyond_sklearn_validation(model, error, match):
    with pytest.raises(error, match=match):
        model.fit(np.random.default_rng(0).normal(size=(200, 1)))


def test_nan_input_is_rejected_before_training():
    X = np.random.default_rng(0).normal(size=(100, 1))
    X[3] = np.nan
    for model in SAMPLERS:
        with pytest.raises(ValueError, match="NaN"):
            model.fit(X)


# --- model selection -----------------------------------------------------------------------
@pytest.mark.parametrize("model, grid", [
    (GANSampler(hidden_layer_sizes=(8,), max_epochs=2, random_state=0),
     {"learning_rate": [1e-4, 1e-3]}),
    (DiffusionSampler(n_steps=10, hidden_layer_sizes=(8,), max_epochs=2, random_state=0),
     {"n_steps": [5, 10]}),
    (VAESampler(hidden_layer_sizes=(8,), max_epochs=2, random_state=0),
     {"latent_dim": [1, 2]}),
    (StudentTSampler(), {"reg_covar": [1e-6, 1e-3]}),
    (GPDTailSampler(), {"tail_fraction": [0.05, 0.1]}),
], ids=["gan", "diffusion", "vae", "student_t", "gpd"])
def test_grid_search_with_the_tail_scorers(model, grid):
    X, _ = make_tail_mixture(1200, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(model, grid, scoring=SCORERS, refit="neg_tail_kl", cv=2).fit(X)
    for name in SCORERS:
        scores = search.cv_results_[f"mean_test_{name}"]
        assert np.all(np.isfinite(scores)), name
    assert search.best_params_ in search.cv_results_["params"]
    assert search.best_estimator_.sample(5, random_state=0).shape == (5, 1)


def test_fitted_deep_sampler_pickles_through_joblib():
    import joblib

    X, _ = make_tail_mixture(500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae = VAESampler(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X)
    buffer = io.BytesIO()
    joblib.dump(vae, buffer)
    buffer.seek(0)
    restored = joblib.load(buffer)
    np.testing.assert_array_equal(restored.score_samples(X[:10]), vae.score_samples(X[:10]))
