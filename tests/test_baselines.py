"""The classical baselines: numerics against scipy, the sampler protocol, model selection."""

import io
import warnings

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skqegm.baselines import (
    DiffusionSampler,
    GANSampler,
    GPDTailSampler,
    StudentTSampler,
    VAESampler,
)
from skqegm.baselines.student_t import DF_BOUNDS
from skqegm.datasets import make_tail_mixture
from skqegm.metrics import SCORERS
from skqegm.utils.estimator_checks import parametrize_with_sampler_checks

SMALL = dict(hidden_layer_sizes=(16,), max_epochs=3, random_state=0)
SAMPLERS = [
    GANSampler(**SMALL),
    VAESampler(**SMALL),
    DiffusionSampler(n_steps=10, **SMALL),
    StudentTSampler(),
    GPDTailSampler(tail_quantile=0.1),
    GPDTailSampler(tail_quantile=0.1, body="empirical"),
]


@parametrize_with_sampler_checks(SAMPLERS)
def test_sampler_protocol(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


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


# --- GPD tails -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def heavy():
    return stats.t.rvs(3, size=20000, random_state=4).reshape(-1, 1)


def test_gpd_tails_are_scipy_fits_of_the_exceedances(heavy):
    model = GPDTailSampler(tail_quantile=0.05).fit(heavy)
    x = heavy.ravel()
    low, high = np.quantile(x, [0.05, 0.95])
    np.testing.assert_allclose(model.thresholds_.ravel(), [low, high])
    for side, excess in enumerate((low - x[x < low], x[x > high] - high)):
        c, _, scale = stats.genpareto.fit(excess, floc=0)
        assert model.gpd_shape_[side, 0] == pytest.approx(c)
        assert model.gpd_scale_[side, 0] == pytest.approx(scale)
        assert model.tail_fractions_[side, 0] == pytest.approx(len(excess) / len(x))
    # A t_3 tail has shape 1/3 in the limit; 5% thresholds are not that far out yet.
    assert np.all((model.gpd_shape_ > 0.1) & (model.gpd_shape_ < 0.6))


def test_gpd_density_integrates_to_one_and_matches_the_samples(heavy):
    model = GPDTailSampler(tail_quantile=0.05).fit(heavy)
    low, high = model.thresholds_.ravel()

    def pdf(v):
        return float(np.exp(model.score_samples(np.array([[v]]))[0]))

    pieces = [(-np.inf, low), (low, high), (high, np.inf)]
    total = sum(quad(pdf, a, b, limit=200)[0] for a, b in pieces)
    assert total == pytest.approx(1.0, abs=2e-3)
    draws = model.sample(4000, random_state=0).ravel()
    assert np.mean(draws < low) == pytest.approx(model.tail_fractions_[0, 0], abs=0.01)
    cdf = _numerical_cdf(model.score_samples, np.linspace(-60, 60, 400001))
    # Over 20 sampling seeds the p-values spread uniformly (0.007 to 0.98); a sampler
    # that disagreed with the density would give p ~ 0 at this size.
    assert stats.kstest(draws, cdf).pvalue > 1e-3


def test_gpd_upper_exceedances_follow_the_fitted_pareto(heavy):
    model = GPDTailSampler(body="empirical").fit(heavy)
    draws = model.sample(20000, random_state=1).ravel()
    high = model.thresholds_[1, 0]
    excess = draws[draws > high] - high
    fitted = stats.genpareto(model.gpd_shape_[1, 0], scale=model.gpd_scale_[1, 0])
    assert stats.kstest(excess, fitted.cdf).pvalue > 0.01
    # The empirical body only repeats training points.
    body = draws[(draws >= model.thresholds_[0, 0]) & (draws <= high)]
    assert np.isin(body, heavy.ravel()).all()


def test_gpd_empirical_body_has_no_density_and_scores_by_tail_kl(heavy):
    model = GPDTailSampler(body="empirical").fit(heavy)
    assert not hasattr(model, "score_samples")
    assert hasattr(GPDTailSampler(), "score_samples")
    assert model.score(heavy[:2000]) == pytest.approx(SCORERS["neg_tail_kl"](model, heavy[:2000]))
    assert -0.5 < model.score(heavy[:2000]) <= 0


def test_gpd_bounded_tail_gives_minus_infinity_beyond_its_end_point():
    x = np.random.default_rng(5).uniform(size=(5000, 1))
    model = GPDTailSampler().fit(x)
    assert np.all(model.gpd_shape_ < 0)  # uniform tails are bounded
    end = model.thresholds_[1, 0] - model.gpd_scale_[1, 0] / model.gpd_shape_[1, 0]
    assert model.score_samples(np.array([[end + 0.1]]))[0] == -np.inf
    assert np.all(model.sample(2000, random_state=0) <= end + 1e-9)


def test_gpd_margins_are_independent():
    rng = np.random.default_rng(6)
    X = rng.standard_t(4, size=(5000, 2)) * [1.0, 3.0]
    model = GPDTailSampler().fit(X)
    one = GPDTailSampler().fit(X[:, [1]])
    np.testing.assert_allclose(model.gpd_shape_[:, 1], one.gpd_shape_[:, 0])
    np.testing.assert_allclose(model.score_samples(X[:20]),
                               GPDTailSampler().fit(X[:, [0]]).score_samples(X[:20, [0]])
                               + one.score_samples(X[:20, [1]]))


@pytest.mark.parametrize("params, match", [
    (dict(tail_quantile=0.5), "tail_quantile"),
    (dict(tail_quantile=0.0), "tail_quantile"),
    (dict(body="histogram"), "body must be one of 'kde', 'empirical'"),
    (dict(bandwidth="auto"), "bandwidth must be one of 'scott', 'silverman'"),
    (dict(bandwidth=-1.0), "bandwidth"),
])
def test_gpd_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        GPDTailSampler(**params).fit(np.random.default_rng(0).normal(size=(500, 1)))


def test_gpd_too_few_exceedances_is_a_clear_error():
    x = np.random.default_rng(0).normal(size=(60, 1))
    with pytest.raises(ValueError, match="needs at least 5 training points strictly beyond "
                                         "each threshold; feature 0 has 3 below"):
        GPDTailSampler(tail_quantile=0.05).fit(x)


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
    assert draws.mean() == pytest.approx(1.0, abs=0.25)
    assert draws.std() == pytest.approx(2.0, rel=0.15)
    assert not hasattr(model, "score_samples")
    assert model.score(X[:1000]) == pytest.approx(SCORERS["neg_tail_kl"](model, X[:1000]))


def test_gan_records_the_wasserstein_estimate_and_prints_progress(capsys):
    X, _ = make_tail_mixture(500, random_state=0)
    gan = GANSampler(hidden_layer_sizes=(8,), max_epochs=3, random_state=0, verbose=1).fit(X)
    assert len(gan.loss_curve_) == gan.n_iter_ == 3 and gan.validation_scores_ is None
    assert capsys.readouterr().out.count("Wasserstein estimate") == 3


def test_early_stopping_keeps_the_best_epoch_and_warns_when_cut_short():
    X, _ = make_tail_mixture(1000, random_state=0)
    with pytest.warns(ConvergenceWarning, match="VAESampler reached max_epochs=2"):
        VAESampler(hidden_layer_sizes=(8,), max_epochs=2, random_state=0).fit(X)
    ddpm = DiffusionSampler(n_steps=10, hidden_layer_sizes=(8,), max_epochs=300,
                            learning_rate=1e-2, random_state=0).fit(X)
    assert ddpm.n_iter_ < 300
    assert len(ddpm.validation_scores_) == ddpm.n_iter_ == len(ddpm.loss_curve_)


@pytest.mark.parametrize("model, match", [
    (GANSampler(n_critic=0), "n_critic must be >= 1"),
    (GANSampler(gradient_penalty=-1.0), "gradient_penalty"),
    (GANSampler(latent_dim=0), "latent_dim must be >= 1"),
    (VAESampler(hidden_layer_sizes=()), "hidden_layer_sizes must be a non-empty tuple"),
    (VAESampler(n_density_draws=0), "n_density_draws must be >= 1"),
    (VAESampler(validation_fraction=1.0), "validation_fraction"),
    (DiffusionSampler(n_steps=0), "n_steps must be >= 1"),
    (DiffusionSampler(learning_rate=0.0), "learning_rate"),
    (DiffusionSampler(early_stopping="yes"), "early_stopping must be one of True, False"),
    (StudentTSampler(max_iter=0), "max_iter must be >= 1"),
    (StudentTSampler(reg_covar=-1.0), "reg_covar"),
])
def test_bad_parameters_name_the_parameter(model, match):
    with pytest.raises(ValueError, match=match):
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
    (GPDTailSampler(), {"tail_quantile": [0.05, 0.1]}),
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
